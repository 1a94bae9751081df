"""The report's metrics table: each value once.

An evaluation has every metric per target (``ccc_valence``), its mean over the targets (``ccc``)
and the task's ``score`` (the mean of each target's score metric), plus seen/unseen subsets.
Several of those are the same number by construction: with one target the mean is the target's
value; ``score`` is the mean of one metric when every target has that score metric; a subset
that holds every evaluated row is the whole split. The table has one row per metric, one column
per target (and one for the mean when there are several), and writes each number once:
``score`` labels the row of the metric it equals (``uar (score)``) instead of repeating it.
"""

from __future__ import annotations

import html
import numpy as np

from ..core.targets import TargetSpec
from ..evaluation.bootstrap import Interval
from ..evaluation.evaluate import EvalResult
from ..tasks import get_task


def score_alias(result: EvalResult) -> str | None:
    """The mean-over-targets key that ``score`` equals (every target has that score metric), or None.

    >>> r = EvalResult("classification", ["e"], 9, None, "rows", {}, specs=[TargetSpec("e", kind="category", classes=("a", "b"))])
    >>> score_alias(r)
    'uar'
    >>> r.specs.append(TargetSpec("v")); score_alias(r) is None
    True
    """
    task = get_task(result.task)
    metrics = {task.score_metric(s) for s in _specs(result)}
    return metrics.pop() if len(metrics) == 1 else None


def _specs(result: EvalResult) -> list[TargetSpec]:
    return list(result.specs) or [TargetSpec(t) for t in result.targets]


def _cell(iv: Interval | None) -> str:
    if iv is None or not np.isfinite(iv.value):
        return "<td></td>"
    ci = f" <span class='ci'>[{iv.low:.4f}, {iv.high:.4f}]</span>" if np.isfinite(iv.low) and np.isfinite(iv.high) else ""
    return f"<td>{iv.value:.4f}{ci}</td>"


def metric_rows(result: EvalResult, subset_keys: list[str]) -> tuple[list[str], list[tuple[str, list[Interval | None]]], list[str]]:
    """The table's columns, its rows ``(label, cells)`` and notes on what was folded together.

    ``subset_keys``: the mean-over-targets keys shown for the seen/unseen subsets.
    """
    specs = _specs(result)
    task = get_task(result.task)
    names = [s.name for s in specs]
    several = len(specs) > 1
    columns = [*names, "mean over targets"] if several else [names[0] if names else "value"]
    metrics = result.metrics
    alias = score_alias(result)
    used: set[str] = set()
    rows: list[tuple[str, list[Interval | None]]] = []
    order = list(dict.fromkeys([m for s in specs for m in task.metric_names(s)]))
    for m in order:
        per = [metrics.get(f"{m}_{n}") for n in names]
        mean = metrics.get(m)
        if all(v is None for v in per) and mean is None:
            continue
        used.update({f"{m}_{n}" for n in names} | {m})
        label = f"{m} (score)" if m == alias and "score" in metrics else m
        if alias == m:
            used.add("score")
        cells = [*per, mean] if several else [per[0] if per and per[0] is not None else mean]
        rows.append((label, cells))
    if "score" in metrics and "score" not in used:  # mixed kinds: the mean of different metrics, its own row
        used.add("score")
        rows.append(("score", [*[None] * len(names), metrics["score"]] if several else [metrics["score"]]))
    notes: list[str] = []
    for label in ("seen", "unseen"):
        keys = [k for k in subset_keys if f"{label}/{k}" in metrics and not (k == "score" and alias in subset_keys)]
        used.update(k for k in metrics if k.startswith(f"{label}/"))
        if not keys:
            continue
        same = all(_same(metrics[f"{label}/{k}"], metrics.get(k)) for k in keys)
        if same:  # the subset is every evaluated row: the same numbers again
            notes.append(f"every evaluated {result.unit.rstrip('s') if result.unit != 'rows' else 'row'} is {label} "
                         f"in training, so the {label} subset is the whole split (its rows are left out)")
            continue
        for k in keys:
            name = f"{alias} (score)" if k == "score" and alias else f"{k} (score)" if k == alias else k
            rows.append((f"{label} {task.unit}s: {name}", [*[None] * (len(columns) - 1), metrics[f"{label}/{k}"]]))
    for k in metrics:  # anything the task's metric names do not cover, once
        if k not in used and "/" not in k:
            rows.append((k, [*[None] * (len(columns) - 1), metrics[k]]))
    if several and alias is None and "score" in metrics:
        notes.append("score is the mean of each target's score metric (the kinds differ)")
    return columns, rows, notes


def _same(a: Interval | None, b: Interval | None) -> bool:
    return a is not None and b is not None and (a.value, a.low, a.high) == (b.value, b.low, b.high)


def metrics_table(result: EvalResult, subset_keys: list[str]) -> str:
    """The HTML of :func:`metric_rows` (value and its 95% interval in one cell), with its notes."""
    columns, rows, notes = metric_rows(result, subset_keys)
    head = "<th>metric</th>" + "".join(f"<th>{html.escape(c)} (value [95% CI])</th>" for c in columns)
    body = "".join(f"<tr><td>{html.escape(label)}</td>{''.join(_cell(c) for c in cells)}</tr>" for label, cells in rows)
    extra = "".join(f"<p class='meta'>{html.escape(n)}.</p>" for n in notes)
    return f"<table class='metrics'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{extra}"


def baseline_keys(result: EvalResult) -> list[tuple[str, str]]:
    """``(key, column label)`` of the baselines table: the shown keys, ``score`` folded into the
    metric it equals.

    >>> r = EvalResult("classification", ["e"], 9, None, "rows", {k: None for k in ("score", "uar", "accuracy",
    ...                "macro_f1", "uar_e")}, headline="score", specs=[TargetSpec("e", kind="category", classes=("a", "b"))])
    >>> baseline_keys(r)
    [('uar', 'uar (score)'), ('accuracy', 'accuracy'), ('macro_f1', 'macro_f1')]
    """
    keys = result.shown_metrics(5)
    alias = score_alias(result)
    if alias in keys and "score" in keys:
        keys.remove("score")
    return [(k, f"{k} (score)" if k == alias and "score" in result.metrics else k) for k in keys]


__all__ = ["baseline_keys", "metric_rows", "metrics_table", "score_alias"]
