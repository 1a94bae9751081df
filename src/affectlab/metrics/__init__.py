"""Pure metric functions, each registered with its direction (``higher_is_better``) and,
for the bootstrap, a batched form that scores many weighted resamples at once.

>>> METRICS.get("mae").higher_is_better
False
>>> METRICS.get("uar").batched is not None
True
"""

from __future__ import annotations

from . import regression as _regression  # noqa: F401  (registers)
from . import mosi as _mosi  # noqa: F401
from . import semeval as _semeval  # noqa: F401
from . import classification as _classification  # noqa: F401  (accuracy, uar, macro_f1, weighted_f1)
from .base import METRICS, Metric, register_metric
from .classification import accuracy, confusion, macro_f1, uar, weighted_f1
from .regression import ccc, mae, pearson, rmse
from .semeval import combine_composite, r_between, r_composite, r_within

__all__ = [
    "METRICS", "Metric", "register_metric", "ccc", "pearson", "mae", "rmse",
    "r_within", "r_between", "r_composite", "combine_composite",
    "accuracy", "uar", "macro_f1", "weighted_f1", "confusion",
]
