"""Categorical metrics: accuracy, UAR, macro and weighted F1 (scikit-learn), and the confusion matrix.

Labels may be class indices (floats, as scoring passes them: ``TargetSpec.encode``), integers
or strings. Float indices are rounded to whole classes, as ``TargetSpec.decode`` does; when one
side is text and the other numbers, both are compared as text. Conventions are scikit-learn's:
UAR (= balanced accuracy) averages recall over the classes present in ``y_true``; macro F1
averages F1 over the classes in ``y_true`` or ``y_pred``; weighted F1 weights each class's F1 by
its support in ``y_true``; an undefined F1 counts 0.

The batched forms (bootstrap) build one weighted confusion matrix per resample and derive every
metric from it, with the same conventions.

>>> y = ["a", "a", "b", "c"]
>>> p = ["a", "b", "b", "c"]
>>> accuracy(y, p), uar(y, p), round(macro_f1(y, p), 4), round(weighted_f1(y, p), 4)
(0.75, 0.8333333333333334, 0.7778, 0.75)
>>> accuracy([0.0, 1.0, 2.0], [0.0, 1.0, 1.0])   # class indices as floats
0.6666666666666666
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from .base import register_metric


def _as_labels(x) -> np.ndarray:
    a = np.asarray(x).ravel()
    if a.dtype.kind == "f":
        if not np.isfinite(a).all():
            raise ValueError("class labels must be finite (drop rows with a missing label first)")
        a = np.rint(a).astype(np.int64)  # class indices: nearest class, as TargetSpec.decode
    elif a.dtype.kind == "b":
        a = a.astype(np.int64)
    return a


def _labels(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    t, p = _as_labels(y_true), _as_labels(y_pred)
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} values, y_pred {p.size}")
    if t.dtype.kind != p.dtype.kind and {t.dtype.kind, p.dtype.kind} & {"U", "S", "O"}:
        t, p = t.astype(str), p.astype(str)  # '1' vs 1: compare as text rather than never match
    return t, p


def _missing(*labels) -> bool:
    """A NaN or infinite label: the metric is NaN, as the regression metrics are on NaN input."""
    arrays = [np.asarray(x) for x in labels]
    return any(a.dtype.kind == "f" and not np.isfinite(a).all() for a in arrays)


def _sklearn(score, y_true, y_pred, **kwargs) -> float:
    if _missing(y_true, y_pred):
        return float("nan")
    t, p = _labels(y_true, y_pred)
    if t.size == 0:
        return float("nan")
    with warnings.catch_warnings():
        # "y_pred contains classes not in y_true": expected when a model predicts an absent class
        warnings.simplefilter("ignore", UserWarning)
        return float(score(t, p, **kwargs))


def confusion_batched(y_true, y_pred, weights) -> np.ndarray:
    """Weighted confusion matrices (B, C, C) over the classes of ``y_true`` and ``y_pred`` (rows true);
    all NaN (one cell) when a label is missing.

    >>> confusion_batched([0, 1, 1], [0, 1, 0], np.array([[1, 1, 1], [0, 2, 1]])).tolist()
    [[[1.0, 0.0], [1.0, 1.0]], [[0.0, 0.0], [1.0, 2.0]]]
    """
    w = np.atleast_2d(np.asarray(weights, dtype=float))
    if _missing(y_true, y_pred):
        return np.full((len(w), 1, 1), np.nan)
    t, p = _labels(y_true, y_pred)
    _, codes = np.unique(np.concatenate([t, p]), return_inverse=True)
    n, c = t.size, int(codes.max()) + 1 if codes.size else 0
    cell = codes[:n] * c + codes[n:]
    # sum the weights of the rows in each (true, predicted) cell: one reduceat over sorted rows
    order = np.argsort(cell, kind="stable")
    cells, starts = np.unique(cell[order], return_index=True)
    out = np.zeros((len(w), c * c))
    if n:
        out[:, cells] = np.add.reduceat(w[:, order], starts, axis=1)
    return out.reshape(len(w), c, c)


def _per_class(m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tp = np.diagonal(m, axis1=1, axis2=2)
    return tp, m.sum(axis=2), m.sum(axis=1)  # true positives, support (true), predicted count


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)


def _f1(m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class F1 (0 where undefined), support, and which classes occur at all."""
    tp, support, predicted = _per_class(m)
    denom = support + predicted  # 2tp + fp + fn
    return np.nan_to_num(_ratio(2 * tp, denom)), support, denom > 0


def accuracy_batched(y_true, y_pred, weights, groups=None) -> np.ndarray:
    """:func:`accuracy` on every weighted resample."""
    m = confusion_batched(y_true, y_pred, weights)
    return _ratio(np.trace(m, axis1=1, axis2=2), m.sum(axis=(1, 2)))


def uar_batched(y_true, y_pred, weights, groups=None) -> np.ndarray:
    """:func:`uar` on every weighted resample."""
    tp, support, _ = _per_class(confusion_batched(y_true, y_pred, weights))
    present = support > 0
    return _ratio(np.where(present, _ratio(tp, support), 0.0).sum(axis=1), present.sum(axis=1))


def macro_f1_batched(y_true, y_pred, weights, groups=None) -> np.ndarray:
    """:func:`macro_f1` on every weighted resample."""
    f1, _, occurs = _f1(confusion_batched(y_true, y_pred, weights))
    return _ratio((f1 * occurs).sum(axis=1), occurs.sum(axis=1))


def weighted_f1_batched(y_true, y_pred, weights, groups=None) -> np.ndarray:
    """:func:`weighted_f1` on every weighted resample."""
    f1, support, _ = _f1(confusion_batched(y_true, y_pred, weights))
    return _ratio((f1 * support).sum(axis=1), support.sum(axis=1))


@register_metric("accuracy", higher_is_better=True, batched=accuracy_batched)
def accuracy(y_true, y_pred) -> float:
    """Fraction of samples whose predicted class is the true class."""
    from sklearn.metrics import accuracy_score

    return _sklearn(accuracy_score, y_true, y_pred)


@register_metric("uar", higher_is_better=True, batched=uar_batched)
def uar(y_true, y_pred) -> float:
    """Unweighted average recall (balanced accuracy): mean per-class recall over the true classes."""
    from sklearn.metrics import balanced_accuracy_score

    return _sklearn(balanced_accuracy_score, y_true, y_pred)


@register_metric("macro_f1", higher_is_better=True, batched=macro_f1_batched)
def macro_f1(y_true, y_pred) -> float:
    """Macro-averaged F1 over the classes seen in y_true or y_pred."""
    from sklearn.metrics import f1_score

    return _sklearn(f1_score, y_true, y_pred, average="macro", zero_division=0)


@register_metric("weighted_f1", higher_is_better=True, batched=weighted_f1_batched)
def weighted_f1(y_true, y_pred) -> float:
    """F1 per class weighted by the class's support in y_true."""
    from sklearn.metrics import f1_score

    return _sklearn(f1_score, y_true, y_pred, average="weighted", zero_division=0)


def majority_class(labels) -> int:
    """The most frequent class index (the smallest on ties).

    >>> majority_class(np.array([2.0, 1.0, 2.0, 1.0, 0.0]))
    1
    """
    return int(np.bincount(np.rint(np.asarray(labels, dtype=float).ravel()).astype(np.int64)).argmax())


def class_indices(values: Sequence, classes: Sequence[str]) -> np.ndarray:
    """Labels as float class indices into ``classes`` (names or whole-number indices; see
    :func:`affectlab.core.targets.class_indices`, the one implementation, which ``TargetSpec.encode`` uses).

    >>> class_indices(["joy", "anger", None, 1.0, "7", "1"], ("anger", "joy")).tolist()
    [1.0, 0.0, nan, 1.0, nan, 1.0]
    """
    from ..core.targets import class_indices as indices  # the targets' own mapping

    return indices(values, classes)


def confusion(y_true, y_pred, classes: list | None = None) -> tuple[list, np.ndarray]:
    """Class order and the confusion matrix (rows true, columns predicted).

    ``classes`` fixes the order (and drops labels outside it); by default the sorted labels seen.

    >>> confusion([0, 1, 1], [0, 1, 0])[1].tolist()
    [[1, 0], [1, 1]]
    >>> confusion(["b"], ["b"], classes=["a", "b"])[1].tolist()
    [[0, 0], [0, 1]]
    """
    from sklearn.metrics import confusion_matrix

    t, p = _labels(y_true, y_pred)
    order = list(classes) if classes is not None else np.unique(np.concatenate([t, p])).tolist()
    if not order:
        return order, np.zeros((0, 0), dtype=np.int64)
    if t.dtype.kind in "US" and not all(isinstance(c, str) for c in order):
        order_labels = [str(c) for c in order]
    else:
        order_labels = order
    if not t.size or not set(order_labels) & set(t.tolist()):  # scikit-learn refuses labels absent from y_true
        return order, np.zeros((len(order), len(order)), dtype=np.int64)
    return order, confusion_matrix(t, p, labels=order_labels).astype(np.int64)
