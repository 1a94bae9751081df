"""Models: the estimator interface, networks, and the registry the CLI reads."""

from .base import Estimator, FitContext, FitResult
from .registry import MODELS

__all__ = ["Estimator", "FitContext", "FitResult", "MODELS"]
