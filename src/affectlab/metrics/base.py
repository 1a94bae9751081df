"""The metric registry: every metric is a named function that declares its direction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..registry import Registry


@dataclass(frozen=True)
class Metric:
    """A metric ``fn(y_true, y_pred, groups=None) -> float`` and whether higher is better."""

    name: str
    fn: Callable[..., float]
    higher_is_better: bool
    needs_groups: bool = False
    doc: str = ""

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray | None = None) -> float:
        if self.needs_groups:
            return float(self.fn(y_true, y_pred, groups))
        return float(self.fn(y_true, y_pred))


METRICS: Registry[Metric] = Registry("metric")


def register_metric(name: str, *, higher_is_better: bool, needs_groups: bool = False) -> Callable:
    """Decorator registering a metric function under ``name`` (its docstring's first line is its doc)."""

    def add(fn: Callable[..., float]) -> Callable[..., float]:
        doc = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        METRICS.register(name)(Metric(name, fn, higher_is_better, needs_groups, doc))
        return fn

    return add


def as_float_arrays(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both inputs as 1-D float arrays of equal length."""
    t = np.asarray(y_true, dtype=float).ravel()
    p = np.asarray(y_pred, dtype=float).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} values, y_pred {p.size}")
    return t, p
