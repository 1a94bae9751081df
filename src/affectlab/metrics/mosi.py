"""CMU-MOSI/MOSEI sentiment metrics with MMSA's exact definitions, under unambiguous names.

The field reports two different "Acc-2" numbers under one name; here each has its own:

- ``acc2_nonneg`` / ``f1_nonneg``: negative (< 0) vs non-negative (>= 0), all samples;
- ``acc2_nozero`` / ``f1_nozero``: negative (< 0) vs positive (> 0), samples with gold 0 dropped
  (a prediction of exactly 0 then counts as negative, as in MMSA);
- ``acc5`` / ``acc7``: both sides clipped to [-2, 2] / [-3, 3], then rounded with ``np.round``
  (half to even, as MMSA: 2.5 → 2, -0.5 → -0) and compared.

F1 is scikit-learn's ``f1_score(..., average="weighted")`` over the two classes, as MMSA.
MAE and Pearson are the generic ``mae`` and ``pearson`` metrics.

>>> y = [-1.2, 0.0, 0.4, 2.6, -0.2]
>>> p = [-0.8, 0.3, -0.1, 2.2, 0.0]
>>> acc2_nonneg(y, p), acc2_nozero(y, p)   # zero gold counts as non-negative / is dropped
(0.6, 0.75)
>>> acc7(y, p), acc5(y, p)
(0.8, 1.0)
"""

from __future__ import annotations

import numpy as np

from .base import as_float_arrays, register_metric


def _weighted_f1(true: np.ndarray, pred: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(true, pred, average="weighted", zero_division=0))


@register_metric("acc2_nonneg", higher_is_better=True)
def acc2_nonneg(y_true, y_pred) -> float:
    """Binary accuracy, negative (< 0) vs non-negative (>= 0), over all samples (MMSA "Has0_acc_2")."""
    t, p = as_float_arrays(y_true, y_pred)
    return float(np.mean((t >= 0) == (p >= 0))) if t.size else float("nan")


@register_metric("f1_nonneg", higher_is_better=True)
def f1_nonneg(y_true, y_pred) -> float:
    """Weighted F1, negative (< 0) vs non-negative (>= 0), over all samples (MMSA "Has0_F1_score")."""
    t, p = as_float_arrays(y_true, y_pred)
    return _weighted_f1(t >= 0, p >= 0) if t.size else float("nan")


@register_metric("acc2_nozero", higher_is_better=True)
def acc2_nozero(y_true, y_pred) -> float:
    """Binary accuracy, negative vs positive (> 0), samples with gold exactly 0 dropped (MMSA "Non0_acc_2")."""
    t, p = as_float_arrays(y_true, y_pred)
    keep = t != 0
    return float(np.mean((t[keep] > 0) == (p[keep] > 0))) if keep.any() else float("nan")


@register_metric("f1_nozero", higher_is_better=True)
def f1_nozero(y_true, y_pred) -> float:
    """Weighted F1, negative vs positive (> 0), samples with gold exactly 0 dropped (MMSA "Non0_F1_score")."""
    t, p = as_float_arrays(y_true, y_pred)
    keep = t != 0
    return _weighted_f1(t[keep] > 0, p[keep] > 0) if keep.any() else float("nan")


def _multiclass(t: np.ndarray, p: np.ndarray, bound: float) -> float:
    if not t.size:
        return float("nan")
    return float(np.mean(np.round(np.clip(p, -bound, bound)) == np.round(np.clip(t, -bound, bound))))


@register_metric("acc5", higher_is_better=True)
def acc5(y_true, y_pred) -> float:
    """5-class accuracy: both clipped to [-2, 2], rounded half to even (np.round), compared (MMSA "Mult_acc_5")."""
    return _multiclass(*as_float_arrays(y_true, y_pred), 2.0)


@register_metric("acc7", higher_is_better=True)
def acc7(y_true, y_pred) -> float:
    """7-class accuracy: both clipped to [-3, 3], rounded half to even (np.round), compared (MMSA "Mult_acc_7")."""
    return _multiclass(*as_float_arrays(y_true, y_pred), 3.0)


#: per-target metrics added for the ``mosi`` task (beside ccc, pearson, mae, rmse)
MOSI_METRICS = ("acc2_nonneg", "f1_nonneg", "acc2_nozero", "f1_nozero", "acc5", "acc7")
