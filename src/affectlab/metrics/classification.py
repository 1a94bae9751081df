"""Categorical metrics: accuracy, unweighted average recall (UAR) and macro F1.

Labels may be strings or integers; they are compared as given. Conventions follow
scikit-learn: UAR (= balanced accuracy) averages recall over the classes present in
``y_true``; macro F1 averages F1 over the classes in ``y_true`` or ``y_pred``, a class with no
true and no predicted sample never occurring, one with no precision or recall counting 0.

>>> y = ["a", "a", "b", "c"]
>>> p = ["a", "b", "b", "c"]
>>> accuracy(y, p), uar(y, p), round(macro_f1(y, p), 4)
(0.75, 0.8333333333333334, 0.7778)
"""

from __future__ import annotations

import numpy as np

from .base import register_metric


def _labels(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true).ravel()
    p = np.asarray(y_pred).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} values, y_pred {p.size}")
    if t.dtype.kind != p.dtype.kind and {t.dtype.kind, p.dtype.kind} & {"U", "S", "O"}:
        t, p = t.astype(str), p.astype(str)  # '1' vs 1: compare as text rather than never match
    return t, p


@register_metric("accuracy", higher_is_better=True)
def accuracy(y_true, y_pred) -> float:
    """Fraction of samples whose predicted class is the true class."""
    t, p = _labels(y_true, y_pred)
    return float((t == p).mean()) if t.size else float("nan")


@register_metric("uar", higher_is_better=True)
def uar(y_true, y_pred) -> float:
    """Unweighted average recall (balanced accuracy): mean per-class recall over the true classes."""
    t, p = _labels(y_true, y_pred)
    if t.size == 0:
        return float("nan")
    recalls = [float((p[t == c] == c).mean()) for c in np.unique(t)]
    return float(np.mean(recalls))


@register_metric("macro_f1", higher_is_better=True)
def macro_f1(y_true, y_pred) -> float:
    """Macro-averaged F1 over the classes seen in y_true or y_pred."""
    t, p = _labels(y_true, y_pred)
    if t.size == 0:
        return float("nan")
    scores = []
    for c in np.unique(np.concatenate([t, p])):
        tp = float(((t == c) & (p == c)).sum())
        fp = float(((t != c) & (p == c)).sum())
        fn = float(((t == c) & (p != c)).sum())
        scores.append(2 * tp / (2 * tp + fp + fn) if tp > 0 else 0.0)
    return float(np.mean(scores))


def confusion(y_true, y_pred, classes: list | None = None) -> tuple[list, np.ndarray]:
    """Class order and the confusion matrix (rows true, columns predicted).

    >>> confusion([0, 1, 1], [0, 1, 0])[1].tolist()
    [[1, 0], [1, 1]]
    """
    t, p = _labels(y_true, y_pred)
    order = list(classes) if classes is not None else np.unique(np.concatenate([t, p])).tolist()
    index = {c: i for i, c in enumerate(order)}
    m = np.zeros((len(order), len(order)), dtype=np.int64)
    for a, b in zip(t.tolist(), p.tolist()):
        if a in index and b in index:
            m[index[a], index[b]] += 1
    return order, m
