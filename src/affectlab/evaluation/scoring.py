"""Score predictions the way a task defines it: one flat ``{name: value}`` dict.

Keys are ``<metric>_<target>`` for per-target metrics, ``<metric>`` for their mean over
targets, and for SemEval also ``score`` (the team score: mean r_composite), plus the same
set restricted to seen and unseen users (``seen/...``, ``unseen/...``) when a seen flag is given.

>>> import numpy as np
>>> y = np.array([[0.0], [1.0], [2.0], [1.0]]); p = y + 0.5
>>> s = score_arrays("generic", y, p, ["valence"])
>>> s["ccc_valence"] < 1.0 < s["pearson_valence"] + 1e-9
True
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ..metrics import METRICS

#: metrics computed per target for every task, in report order
REGRESSION_METRICS = ("ccc", "pearson", "mae", "rmse")
#: extra per-target metrics by task (the group-aware ones need a group per sample)
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "semeval": ("r_within", "r_between", "r_composite"),
    "mosi": ("acc2_nonneg", "f1_nonneg", "acc2_nozero", "f1_nozero", "acc5", "acc7"),  # metrics/mosi.py
    "generic": (),
}
#: the headline number of each task, used for early stopping by default
HEADLINE: dict[str, str] = {"semeval": "score", "mosi": "mae", "generic": "ccc"}


def metric_names(task: str) -> tuple[str, ...]:
    """Per-target metric names of a task, in report order."""
    return REGRESSION_METRICS + TASK_METRICS.get(task, ())


def higher_is_better(name: str) -> bool:
    """Direction of a flat score key such as ``val_ccc_valence``, ``seen/score`` or ``mae``."""
    base = name.split("/")[-1]
    for prefix in ("train_", "val_", "test_"):
        if base.startswith(prefix):
            base = base[len(prefix):]
    if base == "score":
        return True
    # longest metric name first, so that "r_within_valence" is not read as "r"
    for metric in sorted(METRICS.names(), key=len, reverse=True):
        if base == metric or base.startswith(metric + "_"):
            return METRICS.get(metric).higher_is_better
    raise KeyError(f"no metric in {name!r}")


def score_arrays(
    task: str,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    target_names: Sequence[str],
    groups: np.ndarray | None = None,
    seen: np.ndarray | None = None,
) -> dict[str, float]:
    """All metrics of ``task`` on (n, n_targets) arrays; NaN gold rows are skipped per target."""
    return with_seen_subsets(score_subset, task, y_true, y_pred, target_names, groups, seen)


def with_seen_subsets(subset: Callable[..., dict[str, float]], task: str, y_true, y_pred,
                      target_names: Sequence[str], groups, seen, all_rows: dict[str, float] | None = None) -> dict[str, float]:
    """``subset(task, y, p, targets, groups)`` on all rows (or ``all_rows`` when already computed),
    and for SemEval also on the seen and the unseen users' rows (keys ``seen/...``, ``unseen/...``)."""
    y_true = np.asarray(y_true, dtype=float).reshape(len(y_true), -1)
    y_pred = np.asarray(y_pred, dtype=float).reshape(len(y_pred), -1)
    out = dict(all_rows) if all_rows is not None else subset(task, y_true, y_pred, target_names, groups)
    if seen is not None and task == "semeval":
        seen = np.asarray(seen, dtype=bool)
        for flag, label in ((True, "seen"), (False, "unseen")):
            rows = seen == flag
            if rows.sum() >= 2:
                sub = subset(task, y_true[rows], y_pred[rows], target_names,
                             None if groups is None else np.asarray(groups)[rows])
                out.update({f"{label}/{k}": v for k, v in sub.items()})
    return out


def add_target_averages(out: dict[str, float], task: str, names: Sequence[str], target_names: Sequence[str]) -> dict[str, float]:
    """Add each metric's mean over targets (``<metric>``) and, for SemEval, the team ``score``."""
    for name in names:
        vals = [out[f"{name}_{t}"] for t in target_names if f"{name}_{t}" in out]
        if vals:
            out[name] = float(np.mean(vals))
    if task == "semeval" and "r_composite" in out:
        out["score"] = out["r_composite"]
    return out


def _exact_per_target(names: Sequence[str], t: np.ndarray, p: np.ndarray, groups) -> dict[str, float]:
    return {name: METRICS.get(name)(t, p, groups) for name in names}


def score_subset(task, y_true, y_pred, target_names, groups, *, only: set[str] | None = None,
                 per_target: Callable[..., dict[str, float]] = _exact_per_target) -> dict[str, float]:
    """The task's metrics on one set of rows: ``per_target(names, t, p, groups)`` computes one
    target's metrics on its labelled rows (the bootstrap passes a faster one); ``only`` narrows the
    metrics; group-aware metrics are skipped without groups."""
    names = metric_names(task)
    if only is not None:
        names = tuple(n for n in names if n in only)
    if groups is None:
        names = tuple(n for n in names if not METRICS.get(n).needs_groups)
    out: dict[str, float] = {}
    for j, target in enumerate(target_names):
        ok = ~np.isnan(y_true[:, j])
        if ok.sum() < 2:
            continue
        g = None if groups is None else np.asarray(groups)[ok]
        out.update({f"{name}_{target}": v for name, v in per_target(names, y_true[ok, j], y_pred[ok, j], g).items()})
    return add_target_averages(out, task, names, target_names)
