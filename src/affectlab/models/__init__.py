"""Models: the estimator interface, networks, the registry the CLI reads, and the configured spec."""

from .base import Estimator, FitContext, FitResult, Params
from .registry import MODELS
from .params import FUSION_MODELS
from . import baselines as _baselines  # noqa: F401,E402  (registers global_mean, group_mean, ridge_*)
from . import composite as _composite  # noqa: F401,E402  (registers user_level_kernel)
from . import ridge_modality as _ridge_modality  # noqa: F401,E402  (registers ridge_text/_audio/_vision/_all)
from . import classifiers as _classifiers  # noqa: F401,E402  (registers majority, logistic_*, lda_*, svm_*)
from .spec import EstimatorSpec, estimator_spec  # noqa: E402

__all__ = ["Estimator", "EstimatorSpec", "FitContext", "FitResult", "FUSION_MODELS", "MODELS", "Params", "estimator_spec"]
