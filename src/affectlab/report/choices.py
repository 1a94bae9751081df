"""Which figures a run's report draws, decided from what the run has: target kinds, a real order
column, a model with or without epochs, the protocol, predictions clipped to the target range.

Every decision is a small function here (the page says which figures were left out and why):

- :func:`order_column`: trajectories need a real time/order column, not the file order that the
  readers fill in when the data has none.
- :func:`is_binary`: residuals of a target with two gold values are two diagonals; they are left out.
- :func:`has_epochs`: a model without epochs gets per-fold (cross-validation, ``fold-scores``) or
  per-split (hold-out, ``split-scores``; :func:`split_scores` when the summary lists none) scores
  instead of learning curves.
- :func:`clipped_counts`: predictions sitting on the ends of the declared range were clipped there.
- :func:`protocol_name` and :func:`chance_level`: what figure titles and reference lines say.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..core.targets import TargetSpec, class_indices
from ..evaluation.scoring import score_arrays
from ..runs.summary import RunSummary

#: more distinct predicted values than this: the model predicts continuously, so values on a range
#: end were clipped there (fewer: the model predicts levels, and an end is one of them)
CONTINUOUS_LEVELS = 11


def order_column(pred: pd.DataFrame, config: dict[str, Any]) -> tuple[bool, str]:
    """Whether ``predictions.csv``'s ``order`` column is a real time/order of the samples, and why.

    Real: the config names the data's order column (``data.columns.order``), or the values are
    not the file order. The readers fill ``order`` with the row number when the data has no such
    column (a table without ``columns.order``, a speech pickle whose ids carry no clip number):
    distinct whole numbers from 0, below twice the number of samples. Such an order, or none, or one
    that does not vary within any group, draws no trajectories.

    >>> real = pd.DataFrame({"id": list("abcd"), "group": list("aabb"), "order": [3.0, 7.0, 1.0, 2.0]})
    >>> order_column(real, {"data": {"columns": {"order": "t"}}})
    (True, "the data's order column 't'")
    >>> order_column(real.assign(order=[0.0, 2.0, 1.0, 3.0]), {})[1]
    'the order column is the file order (the data has no time or order column), which is no time axis'
    >>> order_column(real.assign(order=1.6e9 + np.arange(4) * 86400), {})[0]
    True
    >>> order_column(real.drop(columns="order"), {})
    (False, 'predictions.csv has no order column')
    """
    columns = ((config.get("data") or {}).get("columns") or {}) if isinstance(config, dict) else {}
    if "order" not in pred:
        return False, "predictions.csv has no order column"
    rows = pred.drop_duplicates("id") if "id" in pred else pred
    t = pd.to_numeric(rows["order"], errors="coerce").to_numpy(float)
    if not np.isfinite(t).all():
        return False, "the order column has values that are not numbers"
    groups = rows["group"].astype(str).to_numpy() if "group" in rows else np.zeros(len(rows), dtype=str)
    varies = pd.Series(t).groupby(groups).nunique().max() > 1 if len(t) else False
    if not varies:
        return False, "the order column does not vary within any group"
    named = columns.get("order") if isinstance(columns, dict) else None
    if named:
        return True, f"the data's order column {named!r}"
    file_order = (np.all(t == np.round(t)) and t.min() >= 0 and np.unique(t).size == t.size
                  and t.max() < 2 * t.size)
    if file_order:
        return False, "the order column is the file order (the data has no time or order column), which is no time axis"
    return True, "the data's order (time) column"


def is_binary(values: np.ndarray) -> bool:
    """At most two distinct finite gold values: residuals against the prediction are two diagonals.

    >>> is_binary(np.array([0, 1, 1, np.nan])), is_binary(np.array([0, 1, 2.0]))
    (True, False)
    """
    v = np.asarray(values, dtype=float)
    return np.unique(v[np.isfinite(v)]).size <= 2


def clipped_counts(pred: np.ndarray, spec: TargetSpec) -> tuple[int, int]:
    """How many predictions sit on the low and on the high end of ``spec``'s declared range,
    counted only when the model predicts continuously (more than :data:`CONTINUOUS_LEVELS` distinct
    values): every affectlab model clips its predictions to the declared range, so those were clipped.

    >>> spec = TargetSpec("v", -2.0, 2.0)
    >>> clipped_counts(np.r_[np.linspace(-1.9, 1.9, 20), 2.0, 2.0, -2.0], spec)
    (1, 2)
    >>> clipped_counts(np.array([-2.0, 0.0, 2.0, 1.0]), spec)  # a few levels: the ends are levels
    (0, 0)
    """
    p = np.asarray(pred, dtype=float)
    p = p[np.isfinite(p)]
    if spec.is_category or np.unique(p).size <= CONTINUOUS_LEVELS:
        return 0, 0
    low = int((p == spec.low).sum()) if spec.low is not None else 0
    high = int((p == spec.high).sum()) if spec.high is not None else 0
    return low, high


def clipped_text(name: str, counts: tuple[int, int], n: int, spec: TargetSpec) -> str:
    """One line saying how many predictions were clipped to the range ('' when none).

    >>> clipped_text("v", (1, 2), 40, TargetSpec("v", -2.0, 2.0))
    'v: 3 of 40 predictions (7.5%) clipped to the declared range [-2, 2] (1 at -2, 2 at 2)'
    >>> clipped_text("v", (4, 0), 40, TargetSpec("v", 0.0, None))
    'v: 4 of 40 predictions (10.0%) clipped to the declared range [0, ∞) (4 at 0)'
    """
    low, high = counts
    if not low + high:
        return ""
    ends = [f"{k} at {v:g}" for k, v in ((low, spec.low), (high, spec.high)) if v is not None]
    return (f"{name}: {low + high} of {n} predictions ({100 * (low + high) / max(n, 1):.1f}%) clipped to the declared "
            f"range {range_text(spec)} ({', '.join(ends)})")


def range_text(spec: TargetSpec) -> str:
    """The declared range as an interval, open where it has no end.

    >>> range_text(TargetSpec("v", -2.0, 2.0)), range_text(TargetSpec("v", 0.0, None))
    ('[-2, 2]', '[0, ∞)')
    """
    low = "(−∞" if spec.low is None else f"[{spec.low:g}"
    high = "∞)" if spec.high is None else f"{spec.high:g}]"
    return f"{low}, {high}"


def has_epochs(history: pd.DataFrame | None) -> bool:
    """A per-epoch history with at least one epoch: learning curves (else per-fold/per-split scores).

    >>> has_epochs(None), has_epochs(pd.DataFrame({"epoch": [0], "test_uar": [0.5]})), has_epochs(pd.DataFrame({"epoch": [1]}))
    (False, False, True)
    """
    return history is not None and not history.empty and "epoch" in history and bool((history["epoch"] > 0).any())


def protocol_name(summary: RunSummary, config: dict[str, Any], split: str) -> str:
    """The protocol in a few words, for titles.

    >>> cv = RunSummary.from_dict({"protocol": {"kind": "leave_one_group_out", "n_folds": 10}})
    >>> protocol_name(cv, {}, "oof")
    'leave_one_group_out CV (10 folds, pooled out-of-fold)'
    >>> protocol_name(RunSummary(), {"split": {"kind": "dev"}}, "test")
    'dev hold-out, test split'
    >>> protocol_name(RunSummary(), {}, "val")
    'hold-out, val split'
    """
    if summary.protocol is not None:
        return f"{summary.protocol.kind} CV ({summary.protocol.n_folds} folds, pooled out-of-fold)"
    kind = (config.get("split") or {}).get("kind") if isinstance(config, dict) else None
    return f"{kind + ' ' if kind else ''}hold-out, {split} split"


def split_scores(task: str, pred: pd.DataFrame, specs: Sequence[TargetSpec], key: str) -> list[tuple[str, float]]:
    """``key`` of each split in ``predictions.csv`` with gold labels (train, val, test...), scored
    here: for runs whose summary lists no per-split metrics.

    >>> pred = pd.DataFrame({"split": ["train"] * 3 + ["val"] * 3, "e": list("abaabb"), "pred_e": list("abbabb")})
    >>> split_scores("classification", pred, [TargetSpec("e", kind="category", classes=("a", "b"))], "accuracy")
    [('train', 0.6666666666666666), ('val', 1.0)]
    """
    order = ["train", "val", "test", "oof", "full"]
    out = []
    for name in sorted(set(pred["split"].astype(str)), key=lambda k: (order.index(k) if k in order else len(order), k)):
        part = pred[pred["split"].astype(str) == name]
        y, p = (np.stack([class_indices(part[c + s.name], s.classes) if s.is_category
                          else pd.to_numeric(part[c + s.name], errors="coerce").to_numpy(float) for s in specs], axis=1)
                for c in ("", "pred_"))
        if not np.isfinite(y).any() or not np.isfinite(p).all():
            continue
        groups = part["group"].astype(str).to_numpy() if "group" in part else None
        value = score_arrays(task, y, p, list(specs), groups).get(key)
        if value is not None and np.isfinite(value):
            out.append((name, float(value)))
    return out


def chance_level(task: str, part: pd.DataFrame, specs: Sequence[TargetSpec], key: str) -> float:
    """``key`` of a constant prediction on ``part`` (the majority class of each category target,
    the mean of each numeric one): the level a model that learnt nothing reaches (UAR 1/K, CCC 0...).
    A correlation of a constant is undefined; it counts as 0.

    >>> part = pd.DataFrame({"e": ["a", "a", "b", "c"], "pred_e": ["a", "b", "b", "c"]})
    >>> round(chance_level("classification", part, [TargetSpec("e", kind="category", classes=("a", "b", "c"))], "score"), 4)
    0.3333
    """
    y = np.stack([class_indices(part[s.name], s.classes) if s.is_category else part[s.name].to_numpy(float)
                  for s in specs], axis=1)
    const = np.empty_like(y)
    for j, s in enumerate(specs):
        col = y[:, j][np.isfinite(y[:, j])]
        if not col.size:
            const[:, j] = np.nan
        elif s.is_category:
            values, counts = np.unique(col, return_counts=True)
            const[:, j] = values[np.argmax(counts)]
        else:
            const[:, j] = col.mean()
    groups = part["group"].astype(str).to_numpy() if "group" in part else None
    value = score_arrays(task, y, const, list(specs), groups).get(key, float("nan"))
    return 0.0 if value is None or not np.isfinite(value) else round(float(value), 12) + 0.0  # CCC -1e-33: 0


__all__ = ["CONTINUOUS_LEVELS", "chance_level", "clipped_counts", "clipped_text", "has_epochs", "is_binary",
           "order_column", "range_text", "protocol_name", "split_scores"]
