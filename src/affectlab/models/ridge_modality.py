"""Ridge baselines per modality (``ridge_text``, ``ridge_audio``, ``ridge_vision``) and on all (``ridge_all``).

Each sample's sequence is mean-pooled over its valid time steps (``Corpus.lengths``), features are
standardised on the training rows, and ridge's penalty is chosen by efficient leave-one-out
cross-validation on the training rows only (scikit-learn's ``RidgeCV``): neither the validation
nor the test split plays any part. A sample whose modality is missing (length 0) gets the
training mean (zero after standardisation).

>>> import numpy as np, pandas as pd
>>> from affectlab.corpus.base import Corpus, TargetSpec
>>> rng = np.random.default_rng(0); x = rng.normal(size=(60, 1, 3)).astype("float32")
>>> y = 2 * x[:, 0, 0] - x[:, 0, 2]
>>> c = Corpus(pd.DataFrame({"id": list(map(str, range(60))), "group": "g", "order": 0.0, "sentiment": y}),
...            targets=(TargetSpec("sentiment", -9, 9),), features={"audio": x})
>>> est = MODELS.get("ridge_audio")(c.targets)
>>> _ = est.fit(c, None, None)
>>> float(np.abs(est.predict(c)[:, 0] - y).max()) < 0.05
True
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..corpus.base import Corpus
from ..errors import AffectlabError
from .base import Estimator, FitContext, FitResult, clip_to_ranges
from .registry import MODELS

ALPHAS = tuple(float(a) for a in np.logspace(-2, 5, 15))


def modality_arrays(corpus: Corpus, m: str) -> tuple[np.ndarray, np.ndarray]:
    """``features[m]`` as (N, L, D) float32 and its valid lengths (N,) (full length when unknown)."""
    if m not in corpus.features:
        raise AffectlabError(f"model needs modality {m!r}, which the data does not provide")
    x = np.asarray(corpus.features[m], dtype=np.float32)
    if x.ndim == 2:
        x = x[:, None, :]
    if x.ndim != 3:
        raise AffectlabError(f"feature {m!r} has shape {x.shape}; expected (N, D) or (N, L, D)")
    length = corpus.lengths.get(m)
    length = np.full(len(x), x.shape[1], dtype=np.int64) if length is None else np.minimum(np.asarray(length, dtype=np.int64), x.shape[1])
    return x, length


def pool_mean(x: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Mean over the first ``length`` steps of each sample; NaN rows where the length is 0.

    >>> x = np.arange(12, dtype=float).reshape(2, 3, 2)
    >>> pool_mean(x, np.array([2, 0])).tolist()
    [[1.0, 2.0], [nan, nan]]
    """
    steps = (np.arange(x.shape[1])[None, :] < length[:, None])[..., None]
    total = np.where(steps, x, 0.0).sum(axis=1, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = total / length[:, None]
    out[length == 0] = np.nan
    return out


class RidgeModality(Estimator):
    """Standardise → ridge (penalty by leave-one-out on training rows) on mean-pooled modality features."""

    modalities: ClassVar[tuple[str, ...]] = ()

    def __init__(self, targets, **params: Any) -> None:
        super().__init__(targets, **params)
        unknown = set(params) - {"modalities", "alphas"}
        if unknown:
            raise AffectlabError(f"model {self.name}: unknown parameter(s) {', '.join(sorted(unknown))}")
        self.use = tuple(params.get("modalities", self.modalities))
        self.alphas = tuple(float(a) for a in params.get("alphas", ALPHAS))
        self.needs_features = self.use
        self.fitted: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return type(self).registered_name

    def _design(self, corpus: Corpus) -> np.ndarray:
        blocks = []
        for m in self.use:
            x, length = modality_arrays(corpus, m)
            if self.fitted is not None and x.shape[2] != self.fitted["dims"][m]:
                raise AffectlabError(f"feature {m!r} has {x.shape[2]} dimensions; the model was trained on {self.fitted['dims'][m]}")
            blocks.append(pool_mean(x, length))
        return np.concatenate(blocks, axis=1)

    def fit(self, train: Corpus, val: Corpus | None, ctx: FitContext | None) -> FitResult:
        from sklearn.linear_model import RidgeCV

        self.check_inputs(train)
        X = self._design(train)
        y = train.target_matrix()
        mean = np.nanmean(np.where(np.isfinite(X), X, np.nan), axis=0)
        mean = np.nan_to_num(mean)
        scale = np.nanstd(X, axis=0)
        scale = np.where(np.isfinite(scale) & (scale > 1e-8), scale, 1.0)
        Z = np.nan_to_num((X - mean) / scale)
        coef = np.zeros((y.shape[1], X.shape[1]))
        intercept = np.zeros(y.shape[1])
        alpha = np.zeros(y.shape[1])
        for j in range(y.shape[1]):
            ok = ~np.isnan(y[:, j])
            model = RidgeCV(alphas=self.alphas).fit(Z[ok], y[ok, j])
            coef[j], intercept[j], alpha[j] = model.coef_, model.intercept_, model.alpha_
        dims = {m: int(modality_arrays(train, m)[0].shape[2]) for m in self.use}
        self.fitted = {"mean": mean, "scale": scale, "coef": coef, "intercept": intercept, "alpha": alpha, "dims": dims}
        return FitResult(history=[], best_epoch=0, n_params=int(coef.size + intercept.size),
                         extra={"alpha": alpha.tolist()})

    def predict(self, corpus: Corpus) -> np.ndarray:
        if self.fitted is None:
            raise RuntimeError("predict before fit")
        self.check_inputs(corpus)
        f = self.fitted
        Z = np.nan_to_num((self._design(corpus) - f["mean"]) / f["scale"])
        return clip_to_ranges(Z @ f["coef"].T + f["intercept"], self.targets)

    def state(self) -> dict[str, Any]:
        import torch

        assert self.fitted is not None
        f = self.fitted
        return {k: torch.as_tensor(np.asarray(f[k], dtype=np.float64)) for k in ("mean", "scale", "coef", "intercept", "alpha")} | {
            "dims": dict(f["dims"]), "modalities": list(self.use)}

    def load_state(self, state: dict[str, Any]) -> None:
        self.fitted = {k: np.asarray(state[k], dtype=np.float64) for k in ("mean", "scale", "coef", "intercept", "alpha")}
        self.fitted["dims"] = {str(k): int(v) for k, v in state["dims"].items()}
        self.use = tuple(state["modalities"])
        self.needs_features = self.use


def _register(name: str, modalities: tuple[str, ...]) -> type:
    cls = type(f"Ridge_{name}", (RidgeModality,), {"modalities": modalities, "registered_name": f"ridge_{name}",
                                                    "__doc__": f"Ridge on mean-pooled {' + '.join(modalities)} features.",
                                                    "__module__": __name__})
    return MODELS.register(f"ridge_{name}")(cls)


RidgeText = _register("text", ("text",))
RidgeAudio = _register("audio", ("audio",))
RidgeVision = _register("vision", ("vision",))
RidgeAll = _register("all", ("text", "audio", "vision"))
