"""Closed-form baselines, always reported beside the model.

- ``global_mean``: the training mean of each target, for every sample.
- ``group_mean``: each group's (user's) training mean; the global mean for groups never seen.
- ``ridge_tfidf``: ridge regression on word (1-2) + char_wb (2-5) n-gram TF-IDF of the raw text.
- ``ridge_embedding``: ridge regression on the sentence embeddings (``features['text']``).
- ``ridge_group_offset``: ``ridge_embedding`` plus a per-group offset, the group's mean
  out-of-fold residual shrunk towards 0 (``sum / (n + shrink)``); unseen groups get no offset.

Ridge penalties are chosen per target on the training data only: ``RidgeCV``'s efficient
leave-one-out over ``alphas``. Fitted models keep only arrays and primitives (coefficients,
intercepts, vocabularies, idf), so checkpoints load with ``weights_only=True``.

>>> import pandas as pd
>>> from affectlab.corpus.base import Corpus, TargetSpec
>>> c = Corpus(pd.DataFrame({"id": list("abcd"), "group": list("xxyy"), "order": [0, 1, 0, 1],
...                          "valence": [1.0, 2.0, -1.0, 0.0]}), targets=(TargetSpec("valence", -2, 2),))
>>> m = GroupMean(c.targets); _ = m.fit(c, None, None)
>>> m.predict(c).ravel().tolist()
[1.5, 1.5, -0.5, -0.5]
"""

from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np
import pandas as pd
from pydantic import Field, NonNegativeInt, PositiveFloat

from ..corpus.base import Corpus
from ..core.errors import AffectlabError
from .base import Estimator, FitContext, FitResult, Params, clip_to_ranges, labelled
from .registry import MODELS
from .text_features import Tfidf, texts_of, to_numpy, to_tensor

DEFAULT_ALPHAS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
#: beyond this, min(n_samples, n_features) makes scikit-learn's leave-one-out (GCV) decompose too
#: large a matrix (ridge_tfidf on 100k texts needed 38 GiB; at 8,000 rows the two eigendecompositions
#: of 8000^2 took 258 CPU seconds and 3.4 GB with NumPy < 2's slow OpenBLAS): see _fit_ridge_large
MAX_GCV_SIDE = 4000
#: dense designs with more rows than this are fitted from chunked sums (:func:`dense_ridge`): the
#: exact path's SVD and centred float64 copies took 14 GB for 1M x 384 embeddings
MAX_DENSE_ROWS = 50_000
#: ``ridge_tfidf`` refuses more training texts than this (``max_train``): its word and character
#: n-gram TF-IDF took ~3 GB per 100,000 texts, and a million texts ran out of 24 GB while counting
TFIDF_MAX_TRAIN = 300_000
#: rows per chunk of :func:`dense_ridge` and of large dense predictions
DENSE_CHUNK = 65_536


def dense_ridge(X: np.ndarray, y: np.ndarray, alphas: np.ndarray, rows: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's ``Ridge(alpha).fit(X[rows], y[rows])`` (intercept not penalised) for a dense
    ``X`` of any length: the normal equations from sums over row chunks, in torch float64, so memory
    is O(p^2 + chunk * p) however many rows (X may be a float32 memory map). ``y`` is (n, t) with a
    penalty per target; returns coef (p, t) and intercept (t,).

    >>> from sklearn.linear_model import Ridge
    >>> rng = np.random.default_rng(0); X = rng.normal(size=(50, 3)); y = rng.normal(size=(50, 1))
    >>> coef, b = dense_ridge(X, y, np.array([2.0]))
    >>> ref = Ridge(alpha=2.0).fit(X, y[:, 0])
    >>> bool(np.allclose(coef[:, 0], ref.coef_) and np.isclose(b[0], ref.intercept_))
    True
    """
    import torch

    rows = np.arange(len(X)) if rows is None else np.asarray(rows)
    p, t = X.shape[1], y.shape[1]
    gram, xsum = torch.zeros((p, p), dtype=torch.float64), torch.zeros(p, dtype=torch.float64)
    cross, ysum = torch.zeros((p, t), dtype=torch.float64), torch.zeros(t, dtype=torch.float64)
    for start in range(0, len(rows), DENSE_CHUNK):
        part = rows[start:start + DENSE_CHUNK]
        xc = torch.from_numpy(np.asarray(X[part], dtype=np.float64))
        yc = torch.from_numpy(np.asarray(y[part], dtype=np.float64))
        gram += xc.T @ xc
        xsum += xc.sum(0)
        cross += xc.T @ yc
        ysum += yc.sum(0)
    n = max(1, len(rows))
    mu, ybar = xsum / n, ysum / n
    centred_gram = gram - n * torch.outer(mu, mu)
    centred_cross = cross - n * torch.outer(mu, ybar)
    coef = torch.empty((p, t), dtype=torch.float64)
    for j in range(t):
        A = centred_gram.clone()
        A.diagonal().add_(float(alphas[j]))
        coef[:, j] = torch.linalg.solve(A, centred_cross[:, j])
    return coef.numpy(), (ybar - mu @ coef).numpy()


def dense_product(X, coef: np.ndarray) -> np.ndarray:
    """``X @ coef`` in float64, chunk by chunk for a large dense ``X`` (no float64 copy of it all)."""
    if not _large_dense(X):
        return np.asarray(X @ coef)
    return np.concatenate([np.asarray(X[s:s + DENSE_CHUNK], dtype=np.float64) @ coef for s in range(0, len(X), DENSE_CHUNK)])


def _large_dense(X) -> bool:
    from scipy import sparse

    return not sparse.issparse(X) and X.shape[0] > MAX_DENSE_ROWS


class NoParams(Params):
    """A model without parameters: any ``model:`` key besides ``name`` is refused."""


#: an n-gram range: ``[low, high]``, ``n`` for ``[1, n]``, or null/0 to leave the analyzer out
NGram = Union[NonNegativeInt, tuple[NonNegativeInt, NonNegativeInt], None]


class RidgeParams(Params):
    alphas: list[PositiveFloat] = Field(default_factory=lambda: list(DEFAULT_ALPHAS), min_length=1)


class RidgeTfidfParams(RidgeParams):
    word: NGram = (1, 2)
    char: NGram = (2, 5)
    min_df: int = Field(2, ge=1)
    max_features: Optional[NonNegativeInt] = 50000
    max_train: Optional[int] = Field(None, ge=1)  # None: TFIDF_MAX_TRAIN


class RidgeGroupOffsetParams(RidgeParams):
    shrink: float = Field(5.0, ge=0)
    folds: int = Field(5, ge=2)


def _col_means(y: np.ndarray) -> np.ndarray:
    return np.array([np.nanmean(y[:, j]) for j in range(y.shape[1])])


@MODELS.register("global_mean")
class GlobalMean(Estimator):
    """Predict each target's training mean for every sample."""

    Params = NoParams

    def __init__(self, targets, params: Any = None, /, **raw: Any) -> None:
        super().__init__(targets, params, **raw)
        self.mean: np.ndarray | None = None

    def fit(self, train: Corpus, val: Corpus | None, ctx: FitContext | None) -> FitResult:
        self.mean = _col_means(labelled(train, len(self.targets)))
        return FitResult(n_params=len(self.mean))

    def predict(self, corpus: Corpus) -> np.ndarray:
        assert self.mean is not None, "predict() before fit()"
        return clip_to_ranges(np.tile(self.mean, (len(corpus), 1)), self.targets)

    def state(self) -> dict[str, Any]:
        return {"mean": to_tensor(np.asarray(self.mean, dtype=np.float64))}

    def load_state(self, state: dict[str, Any]) -> None:
        self.mean = to_numpy(state["mean"])


@MODELS.register("group_mean")
class GroupMean(Estimator):
    """Each group's training mean; groups never seen in training get the global mean."""

    Params = NoParams

    def __init__(self, targets, params: Any = None, /, **raw: Any) -> None:
        super().__init__(targets, params, **raw)
        self.users: list[str] = []
        self.means = np.zeros((0, len(self.targets)))
        self.global_mean = np.zeros(len(self.targets))

    def fit(self, train: Corpus, val: Corpus | None, ctx: FitContext | None) -> FitResult:
        y = labelled(train, len(self.targets))
        self.global_mean = _col_means(y)
        table = pd.DataFrame(y).groupby(train.frame["group"].astype(str).to_numpy(), sort=True).mean()
        # a group with no label for a target falls back to the global mean of that target
        table = table.fillna(pd.Series(self.global_mean, index=table.columns))
        self.users = [str(u) for u in table.index]
        self.means = table.to_numpy(dtype=np.float64)
        return FitResult(n_params=int(self.means.size))

    def predict(self, corpus: Corpus) -> np.ndarray:
        index = {u: i for i, u in enumerate(self.users)}
        rows = np.array([index.get(str(g), -1) for g in corpus.frame["group"]], dtype=np.int64)
        out = np.tile(self.global_mean, (len(corpus), 1))
        known = rows >= 0
        out[known] = self.means[rows[known]]
        return clip_to_ranges(out, self.targets)

    def state(self) -> dict[str, Any]:
        return {"users": list(self.users), "means": to_tensor(self.means), "global_mean": to_tensor(self.global_mean)}

    def load_state(self, state: dict[str, Any]) -> None:
        self.users = [str(u) for u in state["users"]]
        self.means = to_numpy(state["means"]).reshape(len(self.users), len(self.targets))
        self.global_mean = to_numpy(state["global_mean"])


class _LinearRidge(Estimator):
    """Shared machinery: per-target ``RidgeCV`` on a design matrix; subclasses say how to build it."""

    name = "ridge"
    Params = RidgeParams

    def __init__(self, targets, params: Any = None, /, **raw: Any) -> None:
        super().__init__(targets, params, **raw)
        self.alphas = tuple(float(a) for a in self.params.alphas)
        self.coef = np.zeros((0, len(self.targets)))
        self.intercept = np.zeros(len(self.targets))
        self.alpha = np.zeros(len(self.targets))

    def design(self, corpus: Corpus, fit: bool = False):
        raise NotImplementedError

    def _fit_ridge(self, X, y: np.ndarray) -> None:
        from sklearn.linear_model import RidgeCV

        n_features = X.shape[1]
        self.coef = np.zeros((n_features, y.shape[1]))
        self.intercept = np.zeros(y.shape[1])
        self.alpha = np.zeros(y.shape[1])
        if min(X.shape) > MAX_GCV_SIDE or _large_dense(X):
            self._fit_ridge_large(X, y)
            return
        if not np.isnan(y).any():  # one fit, a penalty per target
            model = RidgeCV(alphas=np.array(self.alphas), alpha_per_target=True).fit(X, y)
            self.coef[:] = np.asarray(model.coef_).reshape(y.shape[1], n_features).T
            self.intercept[:] = np.ravel(model.intercept_)
            self.alpha[:] = np.ravel(model.alpha_) if np.ndim(model.alpha_) else model.alpha_
            return
        for j in range(y.shape[1]):
            ok = ~np.isnan(y[:, j])
            model = RidgeCV(alphas=np.array(self.alphas)).fit(X[ok], y[ok, j])
            self.coef[:, j] = np.ravel(model.coef_)
            self.intercept[j] = float(model.intercept_)
            self.alpha[j] = float(model.alpha_)

    def _fit_ridge_large(self, X, y: np.ndarray) -> None:
        """Linear cost for large data: the penalty chosen by leave-one-out on a seeded subsample of
        ``MAX_GCV_SIDE`` rows, then ridge on every row with an iterative solver (memory O(nnz)).

        The penalty is the noise-to-prior variance ratio of the Bayesian reading of ridge, which
        does not grow with n, so the subsample's choice carries over to the full fit.
        """
        from scipy import sparse
        from sklearn.linear_model import Ridge, RidgeCV

        rows = np.sort(np.random.default_rng(0).choice(X.shape[0], min(MAX_GCV_SIDE, X.shape[0]), replace=False))
        solver = "sparse_cg" if sparse.issparse(X) else "auto"
        sample = np.asarray(X[rows], dtype=np.float64) if _large_dense(X) else X[rows]
        if not np.isnan(y[rows]).any():  # one decomposition of the subsample, a penalty per target
            cv = RidgeCV(alphas=np.array(self.alphas), alpha_per_target=True).fit(sample, y[rows])
            alphas = np.broadcast_to(np.ravel(cv.alpha_), (y.shape[1],))
        else:
            alphas = np.array([float(RidgeCV(alphas=np.array(self.alphas)).fit(sample[ok], y[rows[ok], j]).alpha_)
                               for j in range(y.shape[1]) for ok in [~np.isnan(y[rows, j])]])
        for j in range(y.shape[1]):
            ok = ~np.isnan(y[:, j])
            alpha = float(alphas[j])
            if _large_dense(X):
                coef, intercept = dense_ridge(X, y[:, [j]], np.array([alpha]), rows=np.flatnonzero(ok))
                self.coef[:, j], self.intercept[j], self.alpha[j] = coef[:, 0], intercept[0], alpha
                continue
            model = Ridge(alpha=alpha, solver=solver, tol=1e-6).fit(X[ok], y[ok, j])
            self.coef[:, j] = np.ravel(model.coef_)
            self.intercept[j] = float(model.intercept_)
            self.alpha[j] = alpha

    def raw_predict(self, X) -> np.ndarray:
        return dense_product(X, self.coef) + self.intercept

    def fit(self, train: Corpus, val: Corpus | None, ctx: FitContext | None) -> FitResult:
        self.check_inputs(train)
        y = labelled(train, len(self.targets))
        self._fit_ridge(self.design(train, fit=True), y)
        return FitResult(n_params=int(self.coef.size + self.intercept.size),
                         extra={"alpha": {t.name: float(a) for t, a in zip(self.targets, self.alpha)}})

    def predict(self, corpus: Corpus) -> np.ndarray:
        self.check_inputs(corpus)
        return clip_to_ranges(self.raw_predict(self.design(corpus)), self.targets)

    def state(self) -> dict[str, Any]:
        return {"coef": to_tensor(self.coef), "intercept": to_tensor(self.intercept), "alpha": to_tensor(self.alpha)}

    def load_state(self, state: dict[str, Any]) -> None:
        self.coef = to_numpy(state["coef"])
        self.intercept = to_numpy(state["intercept"])
        self.alpha = to_numpy(state["alpha"])


@MODELS.register("ridge_tfidf")
class RidgeTfidf(_LinearRidge):
    """Ridge on TF-IDF of the raw text: word n-grams (``word``, default 1-2) and ``char_wb``
    n-grams (``char``, default 2-5), ``min_df`` 2, ``max_features`` per analyzer 50000."""

    name = "ridge_tfidf"
    needs_raw_text = True
    Params = RidgeTfidfParams

    def __init__(self, targets, params: Any = None, /, **raw: Any) -> None:
        super().__init__(targets, params, **raw)
        p = self.params
        self.tfidf_params = {"word": p.word, "char": p.char, "min_df": p.min_df, "max_features": p.max_features}
        self.max_train = int(p.max_train or TFIDF_MAX_TRAIN)
        self.tfidf: Tfidf | None = None

    def check_size(self, n_train: int) -> None:
        if n_train > self.max_train:
            raise AffectlabError(f"{self.name}: {n_train:,} training texts exceed max_train={self.max_train:,} (its word "
                                 "and character n-gram TF-IDF takes ~3 GB per 100,000 texts; a million ran out of 24 GB)")

    def design(self, corpus: Corpus, fit: bool = False):
        texts = texts_of(corpus.frame)
        if fit:
            self.tfidf = Tfidf(**self.tfidf_params)
            return self.tfidf.fit_transform(texts)
        assert self.tfidf is not None, "design(fit=False) before a fit"
        return self.tfidf.transform(texts)

    def state(self) -> dict[str, Any]:
        assert self.tfidf is not None
        return {**super().state(), "tfidf": self.tfidf.state()}

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self.tfidf = Tfidf.from_state(state["tfidf"])


@MODELS.register("ridge_embedding")
class RidgeEmbedding(_LinearRidge):
    """Ridge on the sentence embeddings (``features['text']``)."""

    name = "ridge_embedding"
    needs_features = ("text",)

    def design(self, corpus: Corpus, fit: bool = False):
        x = np.asarray(corpus.features["text"])
        # beyond MAX_DENSE_ROWS the rows are used chunk by chunk: no float64 copy of them all
        return x if _large_dense(x) else x.astype(np.float64)


@MODELS.register("ridge_group_offset")
class RidgeGroupOffset(RidgeEmbedding):
    """``ridge_embedding`` plus a per-group offset: the group's out-of-fold residuals summed and
    divided by ``n + shrink`` (``shrink`` default 5; ``folds`` group folds, default 5)."""

    name = "ridge_group_offset"
    Params = RidgeGroupOffsetParams

    def __init__(self, targets, params: Any = None, /, **raw: Any) -> None:
        super().__init__(targets, params, **raw)
        self.shrink = float(self.params.shrink)
        self.folds = int(self.params.folds)
        self.users: list[str] = []
        self.offsets = np.zeros((0, len(self.targets)))

    def fit(self, train: Corpus, val: Corpus | None, ctx: FitContext | None) -> FitResult:
        result = super().fit(train, val, ctx)
        X = self.design(train)
        y = labelled(train, len(self.targets))
        groups = train.frame["group"].astype(str).to_numpy()
        resid = y - out_of_fold(X, y, groups, self.alpha, self.folds)
        self.users, self.offsets = shrunken_offsets(resid, groups, self.shrink)
        result.n_params += int(self.offsets.size)
        return result

    def predict(self, corpus: Corpus) -> np.ndarray:
        self.check_inputs(corpus)
        pred = self.raw_predict(self.design(corpus)) + lookup(self.users, self.offsets, corpus.frame["group"])
        return clip_to_ranges(pred, self.targets)

    def state(self) -> dict[str, Any]:
        return {**super().state(), "users": list(self.users), "offsets": to_tensor(self.offsets)}

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self.users = [str(u) for u in state["users"]]
        self.offsets = to_numpy(state["offsets"]).reshape(len(self.users), len(self.targets))


def out_of_fold(X, y: np.ndarray, groups: np.ndarray, alphas: np.ndarray, folds: int) -> np.ndarray:
    """Out-of-fold ridge predictions over group folds (in-sample where there are too few groups)."""
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GroupKFold

    out = np.full(y.shape, np.nan)
    k = min(folds, len(np.unique(groups)))
    splits = list(GroupKFold(k).split(X, groups=groups)) if k >= 2 else [(np.arange(len(y)), np.arange(len(y)))]
    for fit_rows, held in splits:
        for j in range(y.shape[1]):
            ok = fit_rows[~np.isnan(y[fit_rows, j])]
            if len(ok) == 0:
                continue
            if _large_dense(X):
                coef, intercept = dense_ridge(X, y[:, [j]], np.array([alphas[j]]), rows=ok)
                out[held, j] = dense_product(X[held], coef[:, 0]) + intercept[0]
                continue
            out[held, j] = Ridge(alpha=float(alphas[j])).fit(X[ok], y[ok, j]).predict(X[held])
    return out


def shrunken_offsets(resid: np.ndarray, groups: np.ndarray, shrink: float) -> tuple[list[str], np.ndarray]:
    """Per-group ``sum(residual) / (count + shrink)`` (NaN residuals ignored), groups sorted."""
    frame = pd.DataFrame(resid).groupby(np.asarray(groups).astype(str), sort=True)
    sums, counts = frame.sum(min_count=1).fillna(0.0), frame.count()
    return [str(u) for u in sums.index], (sums.to_numpy() / (counts.to_numpy() + shrink + 1e-12))


def lookup(users: list[str], table: np.ndarray, groups: pd.Series) -> np.ndarray:
    """Rows of ``table`` for each sample's group; zeros for groups not in ``users``."""
    index = {u: i for i, u in enumerate(users)}
    rows = np.array([index.get(str(g), -1) for g in groups], dtype=np.int64)
    out = np.zeros((len(rows), table.shape[1]))
    known = rows >= 0
    out[known] = table[rows[known]]
    return out
