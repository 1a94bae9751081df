"""Ridge baselines per modality (``ridge_text``, ``ridge_audio``, ``ridge_vision``), on all (``ridge_all``)
and on the raw text re-encoded by the configured sentence encoder (``ridge_text_encoder``).

Each sample's sequence is mean-pooled over its valid time steps (``Corpus.lengths``), features are
standardised (``standardize``: ``global`` on the training rows, the default, or ``group``: within
each speaker/group, see :mod:`affectlab.models.tabular`), and ridge's penalty is chosen by efficient leave-one-out
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

from typing import Any

import numpy as np
from pydantic import Field, PositiveFloat

from ..corpus.base import Corpus
from .base import FitContext, FitResult, clip_to_ranges
from .registry import MODELS
from .tabular import PooledModel, PooledParams, modality_arrays, pool_mean  # noqa: F401  (re-exported: other modules import them here)

ALPHAS = tuple(float(a) for a in np.logspace(-2, 5, 15))


class RidgeModalityParams(PooledParams):
    alphas: list[PositiveFloat] = Field(default_factory=lambda: list(ALPHAS), min_length=1)


class RidgeModality(PooledModel):
    """Standardise → ridge (penalty by leave-one-out on training rows) on mean-pooled modality features."""

    Params = RidgeModalityParams

    def __init__(self, targets, params: Any = None, /, **raw: Any) -> None:
        super().__init__(targets, params, **raw)
        self.alphas = tuple(float(a) for a in self.params.alphas)
        self.fitted: dict[str, Any] | None = None

    def fit(self, train: Corpus, val: Corpus | None, ctx: FitContext | None) -> FitResult:
        from sklearn.linear_model import RidgeCV

        Z = self.fit_design(train)
        y = train.target_matrix()
        coef = np.zeros((y.shape[1], Z.shape[1]))
        intercept = np.zeros(y.shape[1])
        alpha = np.zeros(y.shape[1])
        for j in range(y.shape[1]):
            ok = ~np.isnan(y[:, j])
            model = RidgeCV(alphas=self.alphas).fit(Z[ok], y[ok, j])
            coef[j], intercept[j], alpha[j] = model.coef_, model.intercept_, model.alpha_
        self.fitted = {"coef": coef, "intercept": intercept, "alpha": alpha}
        return FitResult(history=[], best_epoch=0, n_params=int(coef.size + intercept.size),
                         extra={"alpha": alpha.tolist()})

    def predict(self, corpus: Corpus) -> np.ndarray:
        if self.fitted is None:
            raise RuntimeError("predict before fit")
        f = self.fitted
        return clip_to_ranges(self.design(corpus) @ f["coef"].T + f["intercept"], self.targets)

    def state(self) -> dict[str, Any]:
        import torch

        assert self.fitted is not None
        return {k: torch.as_tensor(np.asarray(self.fitted[k], dtype=np.float64)) for k in ("coef", "intercept", "alpha")} | self.design_state()

    def load_state(self, state: dict[str, Any]) -> None:
        self.fitted = {k: np.asarray(state[k], dtype=np.float64) for k in ("coef", "intercept", "alpha")}
        self.load_design_state(state)


def _register(name: str, modalities: tuple[str, ...]) -> type:
    cls = type(f"Ridge_{name}", (RidgeModality,), {"modalities": modalities, "registered_name": f"ridge_{name}",
                                                    "__doc__": f"Ridge on mean-pooled {' + '.join(modalities)} features.",
                                                    "__module__": __name__})
    return MODELS.register(f"ridge_{name}")(cls)


RidgeText = _register("text", ("text",))
RidgeAudio = _register("audio", ("audio",))
RidgeVision = _register("vision", ("vision",))
RidgeTabular = _register("tabular", ("tabular",))  # numeric columns of a table (data.options.features)
RidgeAll = _register("all", ("text", "audio", "vision"))
# the raw text (MMSA raw_text, a table's text column) re-encoded by features.text, beside ridge_text on
# the file's own text arrays: a large gap between the two says the file's arrays were fitted upstream
RidgeTextEncoder = _register("text_encoder", ("text_encoder",))
RidgeTextEncoder.__doc__ = ("Ridge on the raw text re-encoded by ``features.text`` (the default sentence encoder), "
                            "whatever the data's own text arrays are.")
