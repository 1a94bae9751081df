"""Score predictions the way a :class:`~affectlab.tasks.Task` defines it: one flat ``{name: value}`` dict.

Keys are ``<metric>_<target>`` for per-target metrics, ``<metric>`` for their mean over the
targets that have it, ``score`` (the mean over targets of each kind's score metric: CCC for
regression, UAR for categories, SemEval's r_composite), and, for tasks that report seen and
unseen groups apart, the same set under ``seen/...`` and ``unseen/...``. Category targets are
scored on class indices (see :meth:`~affectlab.corpus.TargetSpec.encode`).

>>> import numpy as np
>>> y = np.array([[0.0], [1.0], [2.0], [1.0]]); p = y + 0.5
>>> s = score_arrays("regression", y, p, ["valence"])
>>> s["ccc_valence"] < 1.0 < s["pearson_valence"] + 1e-9, s["score"] == s["ccc"]
(True, True)
>>> from affectlab.corpus import TargetSpec
>>> emo = TargetSpec("emotion", kind="category", classes=("a", "b", "c"))
>>> round(score_arrays("classification", np.array([[0.], [1.], [2.], [2.]]), np.array([[0.], [1.], [2.], [0.]]), [emo])["uar"], 4)
0.8333
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ..corpus.base import TargetSpec
from ..metrics import METRICS
from ..tasks import Task, get_task

#: anything naming targets: TargetSpecs, or plain names (regression targets)
Targets = Sequence["TargetSpec | str"]


def as_targets(targets: Targets) -> tuple[TargetSpec, ...]:
    """TargetSpecs for a mix of specs and names (a bare name is a regression target)."""
    return tuple(t if isinstance(t, TargetSpec) else TargetSpec(str(t)) for t in targets)


def metric_names(task: "str | Task", targets: Targets = ("y",)) -> tuple[str, ...]:
    """Per-target metric names of a task for these targets, in report order."""
    return get_task(task).all_metric_names(as_targets(targets))


def primary_metric(task: "str | Task") -> str:
    """The task's headline key (``score`` or e.g. ``mae``)."""
    return get_task(task).primary


def score_keys(task: "str | Task", targets: Targets) -> list[str]:
    """Each target's key of the metric averaged into ``score`` (e.g. ``ccc_arousal``, ``uar_emotion``)."""
    task = get_task(task)
    return [f"{task.score_metric(t)}_{t.name}" for t in as_targets(targets)]


def higher_is_better(name: str) -> bool:
    """Direction of a flat score key such as ``val_ccc_valence``, ``seen/score`` or ``mae``."""
    return Task.higher_is_better(name)


def score_arrays(
    task: "str | Task",
    y_true: np.ndarray,
    y_pred: np.ndarray,
    targets: Targets,
    groups: np.ndarray | None = None,
    seen: np.ndarray | None = None,
) -> dict[str, float]:
    """All metrics of ``task`` on (n, n_targets) arrays; NaN gold rows are skipped per target."""
    return with_seen_subsets(score_subset, task, y_true, y_pred, targets, groups, seen)


def with_seen_subsets(subset: Callable[..., dict[str, float]], task: "str | Task", y_true, y_pred,
                      targets: Targets, groups, seen, all_rows: dict[str, float] | None = None) -> dict[str, float]:
    """``subset(task, y, p, targets, groups)`` on all rows (or ``all_rows`` when already computed),
    and for tasks with ``seen_subsets`` also on the seen and the unseen groups' rows."""
    task = get_task(task)
    y_true = np.asarray(y_true, dtype=float).reshape(len(y_true), -1)
    y_pred = np.asarray(y_pred, dtype=float).reshape(len(y_pred), -1)
    out = dict(all_rows) if all_rows is not None else subset(task, y_true, y_pred, targets, groups)
    if seen is not None and task.seen_subsets:
        seen = np.asarray(seen, dtype=bool)
        for flag, label in ((True, "seen"), (False, "unseen")):
            rows = seen == flag
            if rows.sum() >= 2:
                sub = subset(task, y_true[rows], y_pred[rows], targets,
                             None if groups is None else np.asarray(groups)[rows])
                out.update({f"{label}/{k}": v for k, v in sub.items()})
    return out


def add_target_averages(out: dict[str, float], task: "str | Task", names: Sequence[str], targets: Targets) -> dict[str, float]:
    """Add each metric's mean over targets (``<metric>``) and the task's ``score``."""
    task, specs = get_task(task), as_targets(targets)
    for name in names:
        vals = [out[f"{name}_{t.name}"] for t in specs if f"{name}_{t.name}" in out]
        if vals:
            out[name] = float(np.mean(vals))
    parts = [out[key] for t in specs if (key := f"{task.score_metric(t)}_{t.name}") in out]
    if parts:
        out["score"] = float(np.mean(parts))
    return out


def _exact_per_target(names: Sequence[str], t: np.ndarray, p: np.ndarray, groups) -> dict[str, float]:
    return {name: METRICS.get(name)(t, p, groups) for name in names}


def score_subset(task, y_true, y_pred, targets: Targets, groups, *, only: set[str] | None = None,
                 per_target: Callable[..., dict[str, float]] = _exact_per_target) -> dict[str, float]:
    """The task's metrics on one set of rows: ``per_target(names, t, p, groups)`` computes one
    target's metrics on its labelled rows (the bootstrap passes a faster one); ``only`` narrows the
    metrics; group-aware metrics are skipped without groups."""
    task, specs = get_task(task), as_targets(targets)
    out: dict[str, float] = {}
    for j, target in enumerate(specs):
        names = task.metric_names(target)
        if only is not None:  # "score" needs each target's score metric
            names = tuple(n for n in names if n in only or ("score" in only and n == task.score_metric(target)))
        if groups is None:
            names = tuple(n for n in names if not METRICS.get(n).needs_groups)
        ok = ~np.isnan(y_true[:, j])
        if ok.sum() < 2:
            continue
        g = None if groups is None else np.asarray(groups)[ok]
        out.update({f"{name}_{target.name}": v for name, v in per_target(names, y_true[ok, j], y_pred[ok, j], g).items()})
    return add_target_averages(out, task, task.all_metric_names(specs), specs)
