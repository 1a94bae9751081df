"""Regression metrics: CCC, Pearson, MAE, RMSE, each with a batched form for the bootstrap.

>>> ccc([1, 2, 3], [1, 2, 3])
1.0
>>> round(ccc([1, 2, 3], [2, 3, 4]), 4)   # shifted by one: correlation 1, agreement not
0.5714
>>> pearson([1, 2, 3], [5, 5, 5])          # constant predictions carry no information: 0
0.0
"""

from __future__ import annotations

import numpy as np

from .base import as_float_arrays, register_metric, weighted_mean, weighted_moments

#: a standard deviation below this counts as constant (correlation then 0)
CONSTANT_SD = 1e-12


def _ccc_from_moments(mt, mp, vt, vp, cov) -> np.ndarray:
    denom = vt + vp + (mt - mp) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, 2 * cov / np.where(denom > 0, denom, 1), 0.0)


def _pearson_from_moments(vt, vp, cov) -> np.ndarray:
    st, sp = np.sqrt(vt), np.sqrt(vp)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.clip(cov / (st * sp), -1.0, 1.0)
    return np.where((st < CONSTANT_SD) | (sp < CONSTANT_SD), 0.0, r)


def _few(weights: np.ndarray, minimum: int = 2) -> np.ndarray:
    return np.asarray(weights).sum(axis=1) < minimum


def ccc_batched(y_true, y_pred, weights, groups=None) -> np.ndarray:
    """:func:`ccc` on every weighted resample (see :mod:`affectlab.metrics.base`)."""
    t, p = as_float_arrays(y_true, y_pred)
    out = _ccc_from_moments(*weighted_moments(weights, t, p))
    return np.where(_few(weights), np.nan, out)


@register_metric("ccc", higher_is_better=True, batched=ccc_batched)
def ccc(y_true, y_pred) -> float:
    """Lin's concordance correlation: 2 cov / (var_t + var_p + (mean_t - mean_p)^2), population moments."""
    t, p = as_float_arrays(y_true, y_pred)
    return float(ccc_batched(t, p, np.ones((1, t.size)))[0])


def pearson_batched(y_true, y_pred, weights, groups=None) -> np.ndarray:
    """:func:`pearson` on every weighted resample."""
    t, p = as_float_arrays(y_true, y_pred)
    _, _, vt, vp, cov = weighted_moments(weights, t, p)
    return np.where(_few(weights), np.nan, _pearson_from_moments(vt, vp, cov))


@register_metric("pearson", higher_is_better=True, batched=pearson_batched)
def pearson(y_true, y_pred) -> float:
    """Pearson correlation; 0 when either side is constant (no linear information)."""
    t, p = as_float_arrays(y_true, y_pred)
    return float(pearson_batched(t, p, np.ones((1, t.size)))[0])


def mae_batched(y_true, y_pred, weights, groups=None) -> np.ndarray:
    """:func:`mae` on every weighted resample."""
    t, p = as_float_arrays(y_true, y_pred)
    return weighted_mean(weights, np.abs(t - p))


@register_metric("mae", higher_is_better=False, batched=mae_batched)
def mae(y_true, y_pred) -> float:
    """Mean absolute error."""
    t, p = as_float_arrays(y_true, y_pred)
    return float(np.abs(t - p).mean()) if t.size else float("nan")


def rmse_batched(y_true, y_pred, weights, groups=None) -> np.ndarray:
    """:func:`rmse` on every weighted resample."""
    t, p = as_float_arrays(y_true, y_pred)
    return np.sqrt(weighted_mean(weights, (t - p) ** 2))


@register_metric("rmse", higher_is_better=False, batched=rmse_batched)
def rmse(y_true, y_pred) -> float:
    """Root mean squared error."""
    t, p = as_float_arrays(y_true, y_pred)
    return float(np.sqrt(((t - p) ** 2).mean())) if t.size else float("nan")
