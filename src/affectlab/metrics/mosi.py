"""CMU-MOSI/MOSEI sentiment metrics with MMSA's exact definitions, under unambiguous names.

The field reports two different "Acc-2" numbers under one name; here each has its own:

- ``acc2_nonneg`` / ``f1_nonneg``: negative (< 0) vs non-negative (>= 0), all samples;
- ``acc2_nozero`` / ``f1_nozero``: negative (< 0) vs positive (> 0), samples with gold 0 dropped
  (a prediction of exactly 0 then counts as negative, as in MMSA);
- ``acc5`` / ``acc7``: both sides clipped to [-2, 2] / [-3, 3], then rounded with ``np.round``
  (half to even, as MMSA: 2.5 → 2, -0.5 → -0) and compared.

F1 is scikit-learn's ``f1_score(..., average="weighted")`` over the two classes, as MMSA (the
``weighted_f1`` metric of :mod:`affectlab.metrics.classification`).
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

from .base import as_float_arrays, register_metric, weighted_mean
from .classification import weighted_f1, weighted_f1_batched


def _nonneg(t: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return t >= 0, p >= 0, np.ones(t.size, bool)


def _nozero(t: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    keep = t != 0  # gold exactly 0 dropped; a prediction of 0 then counts as negative
    return t > 0, p > 0, keep


def _acc_batched(split):
    def batched(y_true, y_pred, weights, groups=None) -> np.ndarray:
        t, p, keep = split(*as_float_arrays(y_true, y_pred))
        return weighted_mean(np.asarray(weights)[:, keep], t[keep] == p[keep])

    return batched


def _f1_batched(split):
    def batched(y_true, y_pred, weights, groups=None) -> np.ndarray:
        t, p, keep = split(*as_float_arrays(y_true, y_pred))
        return weighted_f1_batched(t[keep], p[keep], np.asarray(weights)[:, keep])

    return batched


def _f1(split, y_true, y_pred) -> float:
    t, p, keep = split(*as_float_arrays(y_true, y_pred))
    return weighted_f1(t[keep], p[keep]) if keep.any() else float("nan")


def _acc(split, y_true, y_pred) -> float:
    t, p, keep = split(*as_float_arrays(y_true, y_pred))
    return float(np.mean(t[keep] == p[keep])) if keep.any() else float("nan")


@register_metric("acc2_nonneg", higher_is_better=True, batched=_acc_batched(_nonneg))
def acc2_nonneg(y_true, y_pred) -> float:
    """Binary accuracy, negative (< 0) vs non-negative (>= 0), over all samples (MMSA "Has0_acc_2")."""
    return _acc(_nonneg, y_true, y_pred)


@register_metric("f1_nonneg", higher_is_better=True, batched=_f1_batched(_nonneg))
def f1_nonneg(y_true, y_pred) -> float:
    """Weighted F1, negative (< 0) vs non-negative (>= 0), over all samples (MMSA "Has0_F1_score")."""
    return _f1(_nonneg, y_true, y_pred)


@register_metric("acc2_nozero", higher_is_better=True, batched=_acc_batched(_nozero))
def acc2_nozero(y_true, y_pred) -> float:
    """Binary accuracy, negative vs positive (> 0), samples with gold exactly 0 dropped (MMSA "Non0_acc_2")."""
    return _acc(_nozero, y_true, y_pred)


@register_metric("f1_nozero", higher_is_better=True, batched=_f1_batched(_nozero))
def f1_nozero(y_true, y_pred) -> float:
    """Weighted F1, negative vs positive (> 0), samples with gold exactly 0 dropped (MMSA "Non0_F1_score")."""
    return _f1(_nozero, y_true, y_pred)


def _rounded(bound: float):
    def split(t: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.round(np.clip(t, -bound, bound)), np.round(np.clip(p, -bound, bound)), np.ones(t.size, bool)

    return split


@register_metric("acc5", higher_is_better=True, batched=_acc_batched(_rounded(2.0)))
def acc5(y_true, y_pred) -> float:
    """5-class accuracy: both clipped to [-2, 2], rounded half to even (np.round), compared (MMSA "Mult_acc_5")."""
    return _acc(_rounded(2.0), y_true, y_pred)


@register_metric("acc7", higher_is_better=True, batched=_acc_batched(_rounded(3.0)))
def acc7(y_true, y_pred) -> float:
    """7-class accuracy: both clipped to [-3, 3], rounded half to even (np.round), compared (MMSA "Mult_acc_7")."""
    return _acc(_rounded(3.0), y_true, y_pred)


#: per-target metrics added for the ``mosi`` task (beside ccc, pearson, mae, rmse)
MOSI_METRICS = ("acc2_nonneg", "f1_nonneg", "acc2_nozero", "f1_nozero", "acc5", "acc7")
