"""Regression metrics: CCC, Pearson, MAE, RMSE.

>>> ccc([1, 2, 3], [1, 2, 3])
1.0
>>> round(ccc([1, 2, 3], [2, 3, 4]), 4)   # shifted by one: correlation 1, agreement not
0.5714
>>> pearson([1, 2, 3], [5, 5, 5])          # constant predictions carry no information: 0
0.0
"""

from __future__ import annotations

import numpy as np

from .base import as_float_arrays, register_metric


@register_metric("ccc", higher_is_better=True)
def ccc(y_true, y_pred) -> float:
    """Lin's concordance correlation: 2 cov / (var_t + var_p + (mean_t - mean_p)^2), population moments."""
    t, p = as_float_arrays(y_true, y_pred)
    if t.size < 2:
        return float("nan")
    mt, mp = t.mean(), p.mean()
    vt, vp = t.var(), p.var()
    cov = ((t - mt) * (p - mp)).mean()
    denom = vt + vp + (mt - mp) ** 2
    return float(2 * cov / denom) if denom > 0 else 0.0


@register_metric("pearson", higher_is_better=True)
def pearson(y_true, y_pred) -> float:
    """Pearson correlation; 0 when either side is constant (no linear information)."""
    t, p = as_float_arrays(y_true, y_pred)
    if t.size < 2:
        return float("nan")
    st, sp = t.std(), p.std()
    if st < 1e-12 or sp < 1e-12:
        return 0.0
    return float(np.clip(((t - t.mean()) * (p - p.mean())).mean() / (st * sp), -1.0, 1.0))


@register_metric("mae", higher_is_better=False)
def mae(y_true, y_pred) -> float:
    """Mean absolute error."""
    t, p = as_float_arrays(y_true, y_pred)
    return float(np.abs(t - p).mean())


@register_metric("rmse", higher_is_better=False)
def rmse(y_true, y_pred) -> float:
    """Root mean squared error."""
    t, p = as_float_arrays(y_true, y_pred)
    return float(np.sqrt(((t - p) ** 2).mean()))
