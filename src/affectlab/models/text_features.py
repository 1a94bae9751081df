"""TF-IDF features whose fitted state is plain lists and arrays (checkpoint-safe), plus small
linear-algebra helpers shared by the closed-form models.

:class:`Tfidf` reproduces scikit-learn's ``TfidfVectorizer`` (smooth idf, optional sublinear tf,
l2 rows) for one or more analyzers (word n-grams, ``char_wb`` n-grams), but keeps its vocabulary
as a list of strings and its idf as an array, so ``torch.load(..., weights_only=True)`` can read
it back. Transforming needs no fitted scikit-learn object: a ``CountVectorizer`` with the stored
vocabulary does the counting.

>>> t = Tfidf(word=(1, 1), char=None, min_df=1).fit(["good day", "bad day", "good good"])
>>> X = t.transform(["good day"])
>>> X.shape[0], round(float((X.multiply(X)).sum()), 6)
(1, 1.0)
>>> Tfidf.from_state(t.state()).transform(["good day"]).toarray().tolist() == X.toarray().tolist()
True
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from ..core.errors import AffectlabError


def _pair(value: Any) -> tuple[int, int] | None:
    if value in (None, False, 0, [], ()):
        return None
    if isinstance(value, int):
        return (1, int(value))
    lo, hi = value
    return (int(lo), int(hi))


#: at most this many analysed terms are kept in memory (shared by all analyzers; ~50 bytes each)
MEMO_TERMS = 4_000_000


class _MemoAnalyzer:
    """One scikit-learn analyzer whose output per text is remembered (up to :data:`MEMO_TERMS`
    terms in all): a run fits and transforms the same texts many times (the model, its refit,
    the TF-IDF baselines, scoring on training and validation rows), and the analysis is the slow
    part. The terms are exactly the analyzer's, so counts and vocabularies do not change."""

    stored_terms = 0  # across all instances

    def __init__(self, analyzer: str, ngram: tuple[int, int], lowercase: bool) -> None:
        from sklearn.feature_extraction.text import CountVectorizer

        self.analyse = CountVectorizer(analyzer=analyzer, ngram_range=ngram, lowercase=lowercase).build_analyzer()
        self.memo: dict[str, list[str]] = {}

    def __call__(self, text: str) -> list[str]:
        terms = self.memo.get(text)
        if terms is None:
            terms = self.analyse(text)
            if _MemoAnalyzer.stored_terms + len(terms) <= MEMO_TERMS:
                self.memo[text] = terms
                _MemoAnalyzer.stored_terms += len(terms)
        return terms


_ANALYZERS: dict[tuple[str, tuple[int, int], bool], _MemoAnalyzer] = {}


def analysed_terms(analyzer: str, ngram: tuple[int, int], lowercase: bool) -> _MemoAnalyzer:
    """The process's remembering analyzer for one (analyzer, n-gram range, lowercase) setting.

    >>> f = analysed_terms("word", (1, 2), True)
    >>> f("Good day"), f("Good day") is f("Good day")
    (['good', 'day', 'good day'], True)
    """
    key = (analyzer, (int(ngram[0]), int(ngram[1])), bool(lowercase))
    if key not in _ANALYZERS:
        _ANALYZERS[key] = _MemoAnalyzer(*key)
    return _ANALYZERS[key]


class Tfidf:
    """Word and/or character n-gram TF-IDF with a checkpoint-safe state.

    ``word`` and ``char`` are n-gram ranges (``(low, high)``, an int ``n`` meaning ``(1, n)``, or
    ``None`` to leave that analyzer out); ``char`` uses scikit-learn's ``char_wb`` analyzer.
    ``max_features`` caps each analyzer's vocabulary (most frequent first); ``min_df`` is a count.
    Each analyzer's block is l2-normalised on its own and the blocks are weighted so that a row of
    the stacked matrix has unit norm.
    """

    def __init__(self, word: Any = (1, 2), char: Any = None, min_df: int = 2, max_features: int | None = 50000,
                 sublinear_tf: bool = True, lowercase: bool = True) -> None:
        self.word = _pair(word)
        self.char = _pair(char)
        if self.word is None and self.char is None:
            raise AffectlabError("tfidf: choose word n-grams, char n-grams or both")
        self.min_df = int(min_df)
        self.max_features = None if max_features in (None, 0) else int(max_features)
        self.sublinear_tf = bool(sublinear_tf)
        self.lowercase = bool(lowercase)
        self.vocab: dict[str, list[str]] = {}
        self.idf: dict[str, np.ndarray] = {}

    # --- analyzers --------------------------------------------------------------------------
    def _analyzers(self) -> list[tuple[str, str, tuple[int, int]]]:
        out = []
        if self.word is not None:
            out.append(("word", "word", self.word))
        if self.char is not None:
            out.append(("char", "char_wb", self.char))
        return out

    def _counter(self, analyzer: str, ngram: tuple[int, int], vocabulary: list[str] | None = None, **kw):
        from sklearn.feature_extraction.text import CountVectorizer

        vocab = None if vocabulary is None else {term: i for i, term in enumerate(vocabulary)}
        return CountVectorizer(analyzer=analysed_terms(analyzer, ngram, self.lowercase), vocabulary=vocab,
                               dtype=np.float64, **kw)

    # --- fit / transform --------------------------------------------------------------------
    def fit(self, texts: Sequence[str]) -> "Tfidf":
        self._fit_counts([str(t) for t in texts])
        return self

    def _fit_counts(self, texts: list[str]) -> dict[str, sparse.csr_matrix]:
        """Fit every analyzer's vocabulary and idf; its term counts of ``texts`` over that vocabulary."""
        n = len(texts)
        if n == 0:
            raise AffectlabError("tfidf: no texts to fit on")
        out = {}
        for key, analyzer, ngram in self._analyzers():
            min_df = self.min_df if n >= self.min_df else 1
            counter = self._counter(analyzer, ngram, min_df=min_df, max_features=self.max_features)
            try:
                counts = counter.fit_transform(texts)
            except ValueError:  # empty vocabulary (e.g. min_df too high for a tiny corpus)
                counter = self._counter(analyzer, ngram, min_df=1, max_features=self.max_features)
                counts = counter.fit_transform(texts)
            terms = counter.get_feature_names_out().tolist()
            df = np.asarray((counts > 0).sum(axis=0)).ravel()
            self.vocab[key] = terms
            self.idf[key] = np.log((1.0 + n) / (1.0 + df)) + 1.0  # scikit-learn's smooth idf
            out[key] = counts.tocsr()
        return out

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        if not self.vocab:
            raise AffectlabError("tfidf: transform called before fit")
        texts = [str(t) for t in texts]
        return self._weigh({key: self._counter(analyzer, ngram, vocabulary=self.vocab[key]).transform(texts).tocsr()
                            for key, analyzer, ngram in self._analyzers()})

    def _weigh(self, counts: dict[str, sparse.csr_matrix]) -> sparse.csr_matrix:
        """TF-IDF rows from term counts: (sublinear) tf times idf, each analyzer's block l2-normalised."""
        blocks = []
        analyzers = self._analyzers()
        scale = 1.0 / np.sqrt(len(analyzers))
        for key, _, _ in analyzers:
            C = counts[key]
            if self.sublinear_tf:  # on a copy: the counts stay as they were
                C = C.copy()
                C.data = np.log(C.data) + 1.0
            X = C @ sparse.diags(self.idf[key])
            norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
            X = sparse.diags(np.where(norms > 0, scale / np.maximum(norms, 1e-300), 0.0)) @ X
            blocks.append(X)
        return sparse.hstack(blocks).tocsr()

    def fit_transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        # the fit's own counts: the texts are counted once
        return self._weigh(self._fit_counts([str(t) for t in texts]))

    @property
    def n_features(self) -> int:
        return sum(len(v) for v in self.vocab.values())

    # --- state ------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "word": list(self.word) if self.word else None,
            "char": list(self.char) if self.char else None,
            "min_df": self.min_df, "max_features": self.max_features,
            "sublinear_tf": self.sublinear_tf, "lowercase": self.lowercase,
            "vocab": {k: list(v) for k, v in self.vocab.items()},
            "idf": {k: to_tensor(np.asarray(v, dtype=np.float64)) for k, v in self.idf.items()},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "Tfidf":
        t = cls(word=state["word"], char=state["char"], min_df=state["min_df"], max_features=state["max_features"],
                sublinear_tf=state["sublinear_tf"], lowercase=state["lowercase"])
        t.vocab = {k: list(v) for k, v in state["vocab"].items()}
        t.idf = {k: to_numpy(v) for k, v in state["idf"].items()}
        return t


def to_tensor(arr: Any):
    """A NumPy array as a CPU tensor (what ``torch.load(..., weights_only=True)`` accepts)."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(np.asarray(arr)).copy())


def to_numpy(value: Any, dtype=np.float64) -> np.ndarray:
    """Back from :func:`to_tensor` (tensors, arrays and lists alike)."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=dtype)


def texts_of(corpus_frame) -> list[str]:
    """The text column as strings (missing values as empty strings)."""
    return corpus_frame["text"].fillna("").astype(str).tolist()


def _as_tensor64(M: Any):
    """``M`` (array or tensor) as a float64 torch tensor, sharing memory where it can."""
    import torch

    if isinstance(M, torch.Tensor):
        return M.to(torch.float64)
    return torch.from_numpy(np.ascontiguousarray(M, dtype=np.float64))


def _regularised(K: Any, alpha: float):
    """``K + alpha I`` as a new float64 tensor."""
    G = _as_tensor64(K).clone()
    G.diagonal().add_(alpha)
    return G


def _cholesky(G):
    """The lower Cholesky factor of ``G``, or None when ``G`` is not numerically positive definite."""
    import torch

    L, info = torch.linalg.cholesky_ex(G)
    return None if int(info) != 0 else L


def solve_psd(K: Any, Y: Any, alpha: float) -> np.ndarray:
    """``(K + alpha I)^-1 Y`` for a symmetric positive semi-definite ``K`` (array or tensor):
    Cholesky, least squares when that fails.

    In torch (float64): NumPy < 2's bundled OpenBLAS does not recognise every CPU and then runs
    its slowest kernels, ~10x slower than torch on these factorisations (docs/scaling.md).

    >>> K = np.array([[2.0, 1.0], [1.0, 2.0]])
    >>> np.allclose(solve_psd(K, np.array([1.0, 0.0]), 1.0), np.linalg.solve(K + np.eye(2), [1.0, 0.0]))
    True
    """
    rhs = _as_tensor64(Y)
    return solve_regularised(_regularised(K, alpha), rhs.reshape(len(rhs), -1)).reshape(rhs.shape).numpy()


def solve_regularised(G, rhs):
    """``G^-1 rhs`` for a regularised (positive definite) float64 tensor ``G``: Cholesky, least
    squares when ``G`` is not numerically positive definite. ``rhs`` is (n, k)."""
    import torch

    L = _cholesky(G)
    return torch.linalg.lstsq(G, rhs).solution if L is None else torch.cholesky_solve(rhs, L)


def inverse_psd(K: Any, alpha: float) -> np.ndarray:
    """``(K + alpha I)^-1`` for a symmetric positive semi-definite ``K`` (array or tensor)."""
    import torch

    G = _regularised(K, alpha)
    L = _cholesky(G)
    return (torch.linalg.pinv(G, hermitian=True) if L is None else torch.cholesky_inverse(L)).numpy()


def leave_group_out_residuals(K: np.ndarray, y: np.ndarray, alpha: float, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dual coefficients of kernel ridge on ``y`` and its exact leave-one-group-out residuals.

    With ``G = K + alpha I`` and ``c = G^-1 y``, the residual of group ``g`` when the model is fitted
    without it is ``(G^-1)_gg^-1 c_g`` (the block form of the leave-one-out identity), so every
    group's held-out residual costs one small solve instead of a refit.
    """
    Ginv = inverse_psd(K, alpha)
    coef = Ginv @ y
    resid = np.zeros_like(coef)
    codes, uniq = pd.factorize(pd.Series(np.asarray(groups).astype(str)))
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniq) + 1))
    for g in range(len(uniq)):
        idx = order[bounds[g]:bounds[g + 1]]
        resid[idx] = np.linalg.solve(Ginv[np.ix_(idx, idx)], coef[idx])
    return coef, resid
