"""Pure metric functions, each registered with its direction (``higher_is_better``).

>>> METRICS.get("mae").higher_is_better
False
"""

from __future__ import annotations

from . import regression as _regression  # noqa: F401  (registers)
from . import mosi as _mosi  # noqa: F401
from . import semeval as _semeval  # noqa: F401
from . import classification as _classification  # noqa: F401  (accuracy, uar, macro_f1)
from .base import METRICS, Metric, register_metric
from .regression import ccc, mae, pearson, rmse
from .semeval import combine_composite, r_between, r_composite, r_within

__all__ = [
    "METRICS", "Metric", "register_metric", "ccc", "pearson", "mae", "rmse",
    "r_within", "r_between", "r_composite", "combine_composite",
]
