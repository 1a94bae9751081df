"""Classifiers for category targets on mean-pooled modality features, and the ``majority`` baseline.

- ``majority``: the most frequent training class of a category target (ties: the first class),
  the training mean of a regression target. Handles both kinds.
- ``logistic_<m>``: multinomial logistic regression (scikit-learn ``LogisticRegressionCV``; with a
  single ``Cs`` value, one ``LogisticRegression`` fit, no inner cross-validation). As a task's
  *default* baseline (the config names no ``baselines:``) it runs with ``Cs: [DEFAULT_BASELINE_C]``
  (0.01, fixed: see :data:`DEFAULT_BASELINE_C`); named in ``baselines:`` or as the model, it selects
  C from ``Cs`` by inner group cross-validation.
- ``lda_<m>``: linear discriminant analysis with Ledoit-Wolf shrinkage of the covariance
  (no hyper-parameter to choose).
- ``svm_<m>``: support vector classifier (``kernel: rbf`` default, or ``linear``), one-vs-one. A
  linear SVM is fitted on the Gram matrix (``kernel="precomputed"``), computed once per fit: the
  same model, and fast with thousands of features (EmoDB's 6473 functionals).

``m`` is ``audio``, ``text``, ``vision`` or ``all`` (the three side by side), as for
``ridge_<m>`` (:mod:`affectlab.models.ridge_modality`); features are mean-pooled over valid steps
and standardised (``standardize: global | group | corpus``, see :mod:`affectlab.models.tabular`).
``logistic_<m>`` and ``svm_<m>`` also take a list (``standardize: [group, global]``): each mode's
design is z-scored with the same training statistics and searched with ``C`` (and ``gamma``) on
the same inner splits; the mode whose best setting has the highest mean inner UAR wins (ties: the
earlier in the list), per target, and is reported with ``C`` (``selected``). The outer held-out
rows never take part, so the choice is as honest as the choice of ``C``.

Hyper-parameters (logistic ``Cs``; SVM ``C`` and ``gamma``) are chosen by inner group
cross-validation on the training corpus only, scored by UAR (balanced accuracy):
``inner_folds`` group folds (default 5; ``groups``: one fold per group, i.e. leave-one-group-out;
``corpora``: one fold per training corpus of a cross-corpus run, i.e. leave-one-corpus-out),
plain folds when the corpus has a single group. The pipeline's cross-validation protocols hand
these models the whole training part of each outer fold, so the held-out fold never takes part.
``class_weight: balanced`` weighs classes by inverse frequency.

States are arrays and primitives only (coefficients; an SVM's support vectors, dual
coefficients, intercepts and gamma), predicted with NumPy, so checkpoints load with
``torch.load(..., weights_only=True)``.

>>> import numpy as np, pandas as pd
>>> from affectlab.corpus.base import Corpus, TargetSpec
>>> rng = np.random.default_rng(0); y = np.repeat([0, 1, 2], 20)
>>> x = (rng.normal(size=(60, 4)) + 3 * np.eye(3, 4)[y]).astype("float32")
>>> t = TargetSpec("emotion", kind="category", classes=("anger", "joy", "sadness"))
>>> c = Corpus(pd.DataFrame({"id": range(60), "group": np.tile(list("abcd"), 15), "order": 0.0,
...                          "emotion": np.array(t.classes)[y]}), targets=(t,), features={"audio": x})
>>> est = MODELS.get("svm_audio")(c.targets, C=[1.0], gamma=["scale"])
>>> _ = est.fit(c, None, None)
>>> float((est.predict(c)[:, 0] == y).mean()) > 0.9
True
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Any, ClassVar, Literal, Optional, Union

import numpy as np
from pydantic import Field, PositiveFloat

from ..corpus.base import Corpus
from ..core.errors import AffectlabError
from ..metrics.classification import majority_class
from .base import Estimator, FitContext, FitResult, clip_to_ranges, labelled
from .registry import MODELS
from .baselines import NoParams
from .tabular import PooledModel, PooledParams, corpora_of, groups_of
from .text_features import to_numpy, to_tensor

LOGISTIC_CS = tuple(float(c) for c in np.logspace(-3, 1, 9))
#: the inverse L2 penalty of ``logistic_<m>`` as a task's default baseline (no inner search): on
#: standardised features a fixed, fairly strong penalty (C = 0.01 on eGeMAPS + praat, EmoDB LOSO:
#: UAR 0.60 against 0.63 at C = 0.1 or 1, at a third of the solver's iterations); one fit a fold where
#: the default inner CV fitted 9 C values x 6 (docs/benchmarks.md, "Time to first result")
DEFAULT_BASELINE_C = 0.01
SVM_CS = (0.1, 1.0, 10.0, 100.0)
SVM_GAMMAS: tuple[Literal["scale"] | float, ...] = ("scale", 0.003, 0.001)


class ClassifierParams(PooledParams):
    class_weight: Optional[str] = None  # balanced (checked by the constructor)
    inner_folds: Union[int, str] = 5  # inner group folds (>= 2), or 'groups': one per group


class LogisticParams(ClassifierParams):
    Cs: list[PositiveFloat] = Field(default_factory=lambda: list(LOGISTIC_CS), min_length=1)


class SvmParams(ClassifierParams):
    kernel: Literal["rbf", "linear"] = "rbf"
    C: Union[PositiveFloat, list[PositiveFloat]] = Field(default_factory=lambda: list(SVM_CS))
    gamma: Union[Literal["scale"], PositiveFloat, list[Union[Literal["scale"], PositiveFloat]]] = \
        Field(default_factory=lambda: list(SVM_GAMMAS))


@MODELS.register("majority")
class Majority(Estimator):
    """The most frequent training class (category targets) or the training mean (regression targets)."""

    target_kinds = frozenset({"regression", "category"})
    Params = NoParams

    def __init__(self, targets, params: Any = None, /, **raw: Any) -> None:
        super().__init__(targets, params, **raw)
        self.value = np.zeros(len(self.targets))

    def fit(self, train: Corpus, val: Corpus | None, ctx: FitContext | None) -> FitResult:
        y = labelled(train, len(self.targets))
        self.value = np.array([majority_class(col[~np.isnan(col)]) if t.is_category else float(np.nanmean(col))
                               for t, col in zip(self.targets, y.T)], dtype=np.float64)
        return FitResult(n_params=len(self.value))

    def predict(self, corpus: Corpus) -> np.ndarray:
        return clip_to_ranges(np.tile(self.value, (len(corpus), 1)), self.targets)

    def state(self) -> dict[str, Any]:
        return {"value": to_tensor(self.value)}

    def load_state(self, state: dict[str, Any]) -> None:
        self.value = to_numpy(state["value"])


def inner_splits(groups: np.ndarray, folds: int | str, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Inner cross-validation splits of the training rows: by group (``folds`` or ``'groups'``: one per group).

    A single group falls back to plain folds of samples (then the inner scores are optimistic).

    >>> [len(te) for _, te in inner_splits(np.array(list("aabbcc")), "groups")]
    [2, 2, 2]
    """
    from sklearn.model_selection import GroupKFold, KFold

    n_groups = len(np.unique(groups))
    k = n_groups if folds == "groups" else min(int(folds), n_groups)
    if k >= 2:
        return list(GroupKFold(k).split(groups, groups=groups))
    return list(KFold(min(3 if folds == "groups" else int(folds), len(groups)), shuffle=True, random_state=seed).split(groups))


class PooledClassifier(PooledModel):
    """One classifier per category target on the standardised pooled features (see the module docs)."""

    target_kinds = frozenset({"category"})
    Params = ClassifierParams

    def __init__(self, targets, params: Any = None, /, **raw: Any) -> None:
        super().__init__(targets, params, **raw)
        self.class_weight = self.params.class_weight
        if self.class_weight not in (None, "balanced"):
            raise AffectlabError(f"model {self.name}: class_weight must be balanced or omitted, not {self.class_weight!r}")
        self.inner_folds = self.params.inner_folds
        if self.inner_folds not in ("groups", "corpora") and not (isinstance(self.inner_folds, int) and self.inner_folds >= 2):
            raise AffectlabError(f"model {self.name}: inner_folds must be an integer >= 2, 'groups' or 'corpora', "
                                 f"not {self.inner_folds!r}")
        self.models: list[dict[str, Any]] = []

    def fit(self, train: Corpus, val: Corpus | None, ctx: FitContext | None) -> FitResult:
        self.check_target_kinds(self.name, self.targets)
        designs = self.fit_designs(train)
        y = labelled(train, len(self.targets))
        groups, folds = groups_of(train), self.inner_folds
        if folds == "corpora":  # leave-one-corpus-out selection: the corpora of the training rows are the groups
            corpora = corpora_of(train)
            if corpora is None or len(set(corpora)) < 2:
                raise AffectlabError(f"model {self.name}: inner_folds: corpora needs two or more training corpora "
                                     "(split.kind: cross_corpus with split.train_corpora)")
            groups, folds = corpora, "groups"
        seed = 0 if ctx is None else int(ctx.seed)
        self.models = []
        for j in range(len(self.targets)):
            rows = ~np.isnan(y[:, j])
            labels = y[rows, j].astype(int)
            if len(np.unique(labels)) < 2:
                raise AffectlabError(f"model {self.name}: target {self.targets[j].name!r} has a single class in the training data")
            splits = inner_splits(groups[rows], folds, seed)
            if len(designs) == 1:
                self.models.append(self.fit_one(designs[self.scaler.mode][rows], labels, splits, seed))
            else:
                self.models.append(self.choose_standardize(designs, rows, labels, splits, seed))
        if len(designs) > 1:  # the fitted standardisation is the first target's choice; each model keeps its own
            self.scaler = replace(self.scaler, mode=self.models[0]["standardize"])
        n_params = sum(int(np.size(v)) for m in self.models for v in m.values() if isinstance(v, np.ndarray))
        # what the inner selection chose (the searched settings only: a linear SVM's unused gamma is no choice)
        chosen = [{k: m[k] for k in (*self.searched(), "standardize") if k in m} for m in self.models]
        return FitResult(n_params=n_params, extra={"selected": chosen})

    def choose_standardize(self, designs: dict[str, np.ndarray], rows: np.ndarray, y: np.ndarray, splits: list,
                           seed: int) -> dict[str, Any]:
        """One target's model under the standardisation (of ``standardize``'s list) whose best setting
        scores the highest mean inner UAR, searched with the other settings on the same inner
        splits of the training rows; ties go to the earlier mode in the list."""
        best: dict[str, Any] | None = None
        for mode, Z in designs.items():
            model = self.fit_one(Z[rows], y, splits, seed, score=True)
            if best is None or model["score"] > best["score"]:
                best = model | {"standardize": mode}
        assert best is not None
        del best["score"]
        return best

    def searched(self) -> tuple[str, ...]:
        """The settings this classifier chooses by inner group cross-validation (none by default)."""
        return ()

    def fit_one(self, Z: np.ndarray, y: np.ndarray, splits: list, seed: int, score: bool = False) -> dict[str, Any]:
        """Fit one target: a dict of arrays (``classes`` = the class indices it knows) and primitives;
        ``score``: also the best mean inner UAR of its search under ``score`` (a search of one setting
        still cross-validated)."""
        raise NotImplementedError

    def decide(self, model: dict[str, Any], Z: np.ndarray) -> np.ndarray:
        """Predicted class indices (into the target's classes) for rows ``Z``."""
        raise NotImplementedError

    def predict(self, corpus: Corpus) -> np.ndarray:
        if not self.models:
            raise RuntimeError("predict before fit")
        Z = {self.scaler.mode: self.design(corpus)}
        for m in self.models:  # a target that chose another standardisation than the first's
            mode = str(m.get("standardize", self.scaler.mode))
            if mode not in Z:
                Z[mode] = self.design(corpus, mode)
        return np.stack([self.decide(m, Z[str(m.get("standardize", self.scaler.mode))]) for m in self.models],
                        axis=1).astype(np.float64)

    def state(self) -> dict[str, Any]:
        models = [{k: to_tensor(v) if isinstance(v, np.ndarray) else v for k, v in m.items()} for m in self.models]
        return {"models": models} | self.design_state()

    def load_state(self, state: dict[str, Any]) -> None:
        self.load_design_state(state)
        self.models = [{k: to_numpy(v) if hasattr(v, "detach") else v for k, v in m.items()} for m in state["models"]]


class LinearClassifier(PooledClassifier):
    """A linear decision per class, ``argmax(Z @ coef.T + intercept)``; subclasses fit ``coef``."""

    def decide(self, model: dict[str, Any], Z: np.ndarray) -> np.ndarray:
        scores = Z @ model["coef"].T + model["intercept"]
        if scores.shape[1] == 1:  # binary: scikit-learn keeps one column, positive = the second class
            scores = np.hstack([np.zeros_like(scores), scores])
        return model["classes"][np.argmax(scores, axis=1)]


class LogisticModality(LinearClassifier):
    """Multinomial logistic regression; ``Cs`` (inverse penalties) chosen by inner group CV (UAR),
    or the one value given."""

    Params = LogisticParams
    #: parameters as a task's default baseline: one fixed C, no inner cross-validation (cheap)
    default_baseline_params: ClassVar[dict[str, Any]] = {"Cs": [DEFAULT_BASELINE_C]}

    chooses_standardize = True

    def fit_one(self, Z: np.ndarray, y: np.ndarray, splits: list, seed: int, score: bool = False) -> dict[str, Any]:
        from sklearn.linear_model import LogisticRegressionCV

        Cs = [float(c) for c in self.params.Cs]
        if len(Cs) == 1 and not score:  # nothing to choose: one fit on the training rows
            coef, intercept, classes = fixed_c_logistic(Z, y, Cs[0], self.class_weight)
            return {"coef": coef, "intercept": intercept, "classes": classes, "C": Cs[0]}
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
            warnings.filterwarnings("ignore", message="A single label was found")
            model = LogisticRegressionCV(Cs=Cs, cv=splits, scoring="balanced_accuracy", class_weight=self.class_weight,
                                         max_iter=3000, **logistic_cv_compat()).fit(Z, y)
        out = {"coef": model.coef_, "intercept": model.intercept_, "classes": model.classes_.astype(np.float64),
               "C": float(np.ravel(model.C_)[0])}
        if score:  # the mean over inner folds of the best C (scores_: a dict per class before scikit-learn 1.8)
            scores = np.asarray(next(iter(model.scores_.values())) if isinstance(model.scores_, dict) else model.scores_)
            out["score"] = float(scores.reshape(len(splits), -1).mean(axis=0).max())
        return out

    def searched(self) -> tuple[str, ...]:
        return ("C",) if len(self.params.Cs) > 1 else ()


class LdaModality(LinearClassifier):
    """Linear discriminant analysis, Ledoit-Wolf shrinkage; ``class_weight: balanced`` = equal priors."""

    def fit_one(self, Z: np.ndarray, y: np.ndarray, splits: list, seed: int, score: bool = False) -> dict[str, Any]:
        from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

        k = len(np.unique(y))
        priors = np.full(k, 1.0 / k) if self.class_weight == "balanced" else None
        model = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto", priors=priors).fit(Z, y)
        return {"coef": np.atleast_2d(model.coef_), "intercept": np.atleast_1d(model.intercept_),
                "classes": model.classes_.astype(np.float64)}


class SvmModality(PooledClassifier):
    """Support vector classifier (``kernel`` rbf or linear); ``C`` and ``gamma`` by inner group CV (UAR)."""

    Params = SvmParams
    chooses_standardize = True

    def __init__(self, targets, params: Any = None, /, **raw: Any) -> None:
        super().__init__(targets, params, **raw)
        self.kernel = str(self.params.kernel)

    def fit_one(self, Z: np.ndarray, y: np.ndarray, splits: list, seed: int, score: bool = False) -> dict[str, Any]:
        from sklearn.model_selection import GridSearchCV
        from sklearn.svm import SVC

        grid: dict[str, list] = {"C": [float(c) for c in _as_list(self.params.C)]}
        if self.kernel == "rbf":
            grid["gamma"] = [g if g == "scale" else float(g) for g in _as_list(self.params.gamma)]
        if grid.get("gamma") and "scale" in grid["gamma"]:  # scikit-learn's 'scale', as a number the state can keep
            grid["gamma"] = [1.0 / (Z.shape[1] * max(float(Z.var()), 1e-12)) if g == "scale" else g for g in grid["gamma"]]
        # linear: one Gram matrix for the whole grid (libsvm would recompute the dot products of
        # thousands of features in every inner fit); the same model, many times faster
        linear = self.kernel == "linear"
        svc = SVC(kernel="precomputed" if linear else self.kernel, class_weight=self.class_weight)
        X = Z @ Z.T if linear else Z
        inner = float("nan")
        if score or len(grid["C"]) * len(grid.get("gamma", [0])) > 1:
            with warnings.catch_warnings():  # an inner speaker may lack a class: balanced accuracy warns, rightly scores
                warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
                warnings.filterwarnings("ignore", message="A single label was found")
                search = GridSearchCV(svc, grid, cv=splits, scoring="balanced_accuracy").fit(X, y)
            best, inner = search.best_estimator_, float(search.best_score_)
        else:
            best = svc.set_params(**{k: v[0] for k, v in grid.items()}).fit(X, y)
        support_vectors = Z[best.support_] if linear else best.support_vectors_
        dual, intercept = best.dual_coef_, best.intercept_
        if len(best.classes_) == 2:  # scikit-learn flips the sign of binary models' public coefficients
            dual, intercept = -dual, -intercept
        return {"support_vectors": support_vectors, "dual_coef": dual, "intercept": intercept,
                "n_support": best.n_support_.astype(np.float64), "classes": best.classes_.astype(np.float64),
                "gamma": float(best.gamma) if self.kernel == "rbf" else 0.0, "C": float(best.C), "kernel": self.kernel} \
            | ({"score": inner} if score else {})

    def searched(self) -> tuple[str, ...]:
        return ("C", "gamma") if self.kernel == "rbf" else ("C",)

    def decide(self, model: dict[str, Any], Z: np.ndarray) -> np.ndarray:
        return ovo_predict(Z, model["support_vectors"], model["dual_coef"], model["intercept"],
                           model["n_support"].astype(int), model["classes"], model["kernel"], model["gamma"])


def fixed_c_logistic(Z: np.ndarray, y: np.ndarray, C: float, class_weight: str | None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """L2 logistic regression at one ``C``: (coef, intercept, classes) as ``LogisticRegression``'s.

    With more features than rows (EmoDB: 480 x 6473) it is solved in the rows' span: with
    ``Z Z^T = U diag(s^2) U^T``, every ``w = Z^T U diag(1/s) b`` and ``|w| = |b|``, and the L2
    optimum lies in that span (representer theorem), so the fit on the n x n matrix ``U diag(s)``
    is the same problem, its lbfgs steps 13x cheaper; results agree to the solver's tolerance. One
    BLAS thread: matrices this small gain nothing from threads, and on a busy machine OpenBLAS's
    waiting threads cost ~10x the CPU (1.6 s against 14.9 s a fit on EmoDB, 2 shared cores).

    >>> rng = np.random.default_rng(0); y = np.repeat([0, 1, 2], 10)
    >>> Z = rng.normal(size=(30, 200)) + np.eye(3, 200)[y] * 4
    >>> from sklearn.linear_model import LogisticRegression
    >>> ref = LogisticRegression(C=0.1, max_iter=3000).fit(Z, y)
    >>> coef, b, classes = fixed_c_logistic(Z, y, 0.1, None)
    >>> bool(np.allclose(coef, ref.coef_, atol=1e-3) and np.allclose(b, ref.intercept_, atol=1e-3))
    True
    """
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    with threadpool_limits(limits=1, user_api="blas"):
        model = LogisticRegression(C=C, class_weight=class_weight, max_iter=3000)
        if Z.shape[1] <= Z.shape[0]:
            model.fit(Z, y)
            return model.coef_, model.intercept_, model.classes_.astype(np.float64)
        eig, U = np.linalg.eigh(Z @ Z.T)
        keep = eig > max(float(eig.max()), 0.0) * 1e-12  # the rows' span (centred rows lose a dimension)
        s, U = np.sqrt(eig[keep]), U[:, keep]
        model.fit(U * s, y)
        coef = model.coef_ @ (Z.T @ (U / s)).T  # back to the features: w = Z^T U diag(1/s) b
    return coef, model.intercept_, model.classes_.astype(np.float64)


def logistic_cv_compat() -> dict[str, Any]:
    """Arguments that keep ``LogisticRegressionCV`` an L2 model without warnings on scikit-learn >= 1.8."""
    import inspect

    from sklearn.linear_model import LogisticRegressionCV

    known = inspect.signature(LogisticRegressionCV).parameters
    return {k: v for k, v in (("l1_ratios", (0.0,)), ("use_legacy_attributes", False)) if k in known}


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def ovo_predict(Z: np.ndarray, sv: np.ndarray, dual: np.ndarray, intercept: np.ndarray, n_support: np.ndarray,
                classes: np.ndarray, kernel: str, gamma: float) -> np.ndarray:
    """libsvm's one-vs-one vote from an SVC's arrays (ties: the lower class), as ``SVC.predict`` does.

    For classes i < j the decision is ``sum_{sv in i} dual[j-1, sv] K + sum_{sv in j} dual[i, sv] K
    + intercept[pair]``; positive votes for i.
    """
    if kernel == "rbf":
        sq = (Z ** 2).sum(1)[:, None] - 2 * Z @ sv.T + (sv ** 2).sum(1)[None, :]
        K = np.exp(-gamma * np.maximum(sq, 0.0))
    else:
        K = Z @ sv.T
    start = np.concatenate([[0], np.cumsum(n_support)])
    votes = np.zeros((len(Z), len(classes)), dtype=np.int64)
    pair = 0
    for i in range(len(classes)):
        for j in range(i + 1, len(classes)):
            si, sj = slice(start[i], start[i + 1]), slice(start[j], start[j + 1])
            dec = K[:, si] @ dual[j - 1, si] + K[:, sj] @ dual[i, sj] + intercept[pair]
            votes[:, i] += dec > 0
            votes[:, j] += dec <= 0
            pair += 1
    return classes[np.argmax(votes, axis=1)]


def _register(prefix: str, base: type, name: str, modalities: tuple[str, ...], what: str) -> type:
    cls = type(f"{base.__name__}_{name}", (base,), {"modalities": modalities, "registered_name": f"{prefix}_{name}",
                                                    "__doc__": f"{what} on mean-pooled {' + '.join(modalities)} features.",
                                                    "__module__": __name__})
    return MODELS.register(f"{prefix}_{name}")(cls)


_MODALITIES = {"text": ("text",), "audio": ("audio",), "vision": ("vision",), "tabular": ("tabular",),
               "all": ("text", "audio", "vision")}
for _name, _mods in _MODALITIES.items():
    _register("logistic", LogisticModality, _name, _mods, "Logistic regression")
    _register("lda", LdaModality, _name, _mods, "Shrinkage LDA")
    _register("svm", SvmModality, _name, _mods, "Support vector classifier")

