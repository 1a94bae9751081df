"""The metric registry: every metric is a named function that declares its direction.

A metric may also carry a *batched* form that scores many bootstrap resamples at once. A
resample is given as weights: ``weights[b, i]`` is how often row ``i`` was drawn in resample
``b`` (when groups are resampled, every row of a group carries the group's count, and a group
drawn twice counts as two groups). ``Metric.batch`` uses the batched form when there is one and
otherwise expands each resample into its rows and calls the plain function, so a new metric is
written once and works in the bootstrap without a batched form.

>>> import numpy as np
>>> m = METRICS.get("mae")
>>> w = np.array([[1, 1, 1], [0, 3, 0], [2, 0, 1]])   # three resamples of three rows
>>> m.batch(np.zeros(3), np.array([1.0, 2.0, 4.0]), w).tolist()
[2.3333333333333335, 2.0, 2.0]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..core.registry import Registry

#: ``batched(y_true[n], y_pred[n], weights[B, n], groups[n] | None) -> values[B]``
Batched = Callable[[np.ndarray, np.ndarray, np.ndarray, "np.ndarray | None"], np.ndarray]


@dataclass(frozen=True)
class Metric:
    """A metric ``fn(y_true, y_pred, groups=None) -> float``, its direction and optional batched form."""

    name: str
    fn: Callable[..., float]
    higher_is_better: bool
    needs_groups: bool = False
    doc: str = ""
    batched: Batched | None = None

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray | None = None) -> float:
        if self.needs_groups:
            return float(self.fn(y_true, y_pred, groups))
        return float(self.fn(y_true, y_pred))

    def batch(self, y_true: np.ndarray, y_pred: np.ndarray, weights: np.ndarray,
              groups: np.ndarray | None = None) -> np.ndarray:
        """The metric on every resample given by ``weights`` (B, n) (see the module docstring)."""
        w = np.atleast_2d(np.asarray(weights))
        if self.batched is not None:
            return np.asarray(self.batched(y_true, y_pred, w, groups), dtype=float)
        return batch_by_loop(self, y_true, y_pred, w, groups)


def batch_by_loop(fn: Callable[..., float], y_true, y_pred, weights: np.ndarray,
                  groups: np.ndarray | None = None) -> np.ndarray:
    """``fn(y_true, y_pred, groups)`` on each resample in turn, its rows expanded (the slow path).

    >>> batch_by_loop(lambda t, p, g: float(len(t)), [1, 2], [1, 2], np.array([[2, 1], [0, 1]])).tolist()
    [3.0, 1.0]
    """
    t, p = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    w = np.atleast_2d(np.asarray(weights))
    out = np.empty(len(w))
    for b, row in enumerate(w):
        idx, codes = expand(row, groups)
        out[b] = fn(t[idx], p[idx], codes)
    return out


def expand(weights: np.ndarray, groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Row indices of one weighted resample and its group codes, copies of a group kept apart.

    >>> idx, codes = expand(np.array([2, 2, 0, 1]), np.array([0, 0, 1, 2]))
    >>> idx.tolist(), codes.tolist()   # group 0 drawn twice: two groups of two rows
    ([0, 0, 1, 1, 3], [0, 1, 0, 1, 6])
    """
    w = np.asarray(weights).astype(np.int64)
    idx = np.repeat(np.arange(len(w)), w)
    if groups is None:
        return idx, None
    copy = np.arange(len(idx)) - np.repeat(np.cumsum(w) - w, w)  # which copy of its row (and group)
    codes = np.asarray(groups, dtype=np.int64)[idx] * (int(w.max(initial=0)) + 1) + copy
    return idx, codes


METRICS: Registry[Metric] = Registry("metric")


def register_metric(name: str, *, higher_is_better: bool, needs_groups: bool = False,
                    batched: Batched | None = None) -> Callable:
    """Decorator registering a metric function under ``name`` (its docstring's first line is its doc)."""

    def add(fn: Callable[..., float]) -> Callable[..., float]:
        doc = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        METRICS.register(name)(Metric(name, fn, higher_is_better, needs_groups, doc, batched))
        return fn

    return add


def as_float_arrays(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both inputs as 1-D float arrays of equal length."""
    t = np.asarray(y_true, dtype=float).ravel()
    p = np.asarray(y_pred, dtype=float).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} values, y_pred {p.size}")
    return t, p


# --------------------------------------------------------------------------- weighted helpers
# Building blocks of the batched forms: weighted means over rows, one per resample.

def weighted_mean(weights: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``sum_i w[b, i] x[i] / sum_i w[b, i]`` for every resample (NaN where no row is drawn).

    >>> weighted_mean(np.array([[1, 1], [0, 2], [0, 0]]), np.array([1.0, 3.0])).tolist()
    [2.0, 3.0, nan]
    """
    w = np.asarray(weights, dtype=float)
    total = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, w @ np.asarray(x, dtype=float) / np.where(total > 0, total, 1), np.nan)


def _two_pass_moments(w: np.ndarray, t: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, ...]:
    total = np.where(w.sum(axis=1) > 0, w.sum(axis=1), np.nan)
    mt, mp = (w @ t) / total, (w @ p) / total
    dt, dp = t[None, :] - np.nan_to_num(mt)[:, None], p[None, :] - np.nan_to_num(mp)[:, None]
    return mt, mp, (w * dt * dt).sum(axis=1) / total, (w * dp * dp).sum(axis=1) / total, (w * dt * dp).sum(axis=1) / total


def weighted_moments(weights: np.ndarray, t: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per resample: means, population variances and covariance of ``t`` and ``p``.

    One matrix product of the weights with the centred values and their squares and product;
    resamples whose variance comes out near zero (a constant resample, where the subtraction
    cannot give an exact 0) are recomputed in two passes, so a constant sample has variance
    exactly 0, as ``np.var``.

    >>> mt, mp, vt, vp, cov = weighted_moments(np.array([[1, 1, 1, 1], [0, 2, 0, 0]]), np.arange(4.0), np.arange(4.0) * 2)
    >>> vt.tolist(), cov.tolist(), mp.tolist()
    ([1.25, 0.0], [2.5, 0.0], [3.0, 2.0])
    """
    w = np.asarray(weights, dtype=float)
    t, p = np.asarray(t, dtype=float), np.asarray(p, dtype=float)
    ct, cp = (t.mean(), p.mean()) if t.size else (0.0, 0.0)  # centring keeps the one-pass sums accurate
    dt, dp = t - ct, p - cp
    total = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = (w @ np.column_stack([dt, dp, dt * dt, dp * dp, dt * dp])) / np.where(total > 0, total, np.nan)[:, None]
    at, ap = m[:, 0], m[:, 1]
    vt, vp, cov = m[:, 2] - at * at, m[:, 3] - ap * ap, m[:, 4] - at * ap
    near_zero = (vt <= 1e-9 * m[:, 2]) | (vp <= 1e-9 * m[:, 3])
    out = [ct + at, cp + ap, vt, vp, cov]
    if near_zero.any():
        for arr, exact in zip(out, _two_pass_moments(w[near_zero], t, p)):
            arr[near_zero] = exact
    return tuple(out)
