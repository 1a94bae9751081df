"""Models: the estimator interface, networks, and the registry the CLI reads."""

from .base import Estimator, FitContext, FitResult
from .registry import MODELS
from . import baselines as _baselines  # noqa: F401,E402  (registers global_mean, group_mean, ridge_*)
from . import composite as _composite  # noqa: F401,E402  (registers user_level_kernel)
from . import ridge_modality as _ridge_modality  # noqa: F401,E402  (registers ridge_text/_audio/_vision/_all)
from . import classifiers as _classifiers  # noqa: F401,E402  (registers majority, logistic_*, lda_*, svm_*)

for _name in ("late_fusion", "early_lstm", "tensor_fusion", "cross_attention"):  # Lightning-trained: load when named
    MODELS.register_lazy(_name, "affectlab.training.fusion_estimator")

__all__ = ["Estimator", "FitContext", "FitResult", "MODELS"]
