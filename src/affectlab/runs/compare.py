"""Compare run directories: versions, config differences, paired tests, seed groups, epochs.

``compare_runs(paths, criteria)`` returns a :class:`Comparison` whose parts are plain tables
(lists of dicts) so the CLI can print them and tests can check them:

- ``versions``: per run the headline and per-target scores on the evaluated split with their
  bootstrap intervals (over the task's units: users, speakers; rows when there are none), the
  train value and the train−split gap (None for cross-validation runs, which have no train split;
  their pooled out-of-fold value as ``oof <key>`` when the split compared is not ``oof``), and a
  status against the criteria's levels;
- ``config_diff``: the flattened ``config.yaml`` keys whose values differ between runs, restricted
  to keys that at least one compared model reads (:mod:`affectlab.runs.used_keys`: the model's
  declared parameters, and ``training.*`` only for networks); the others are named in a note;
- ``pairs``: every run against a reference run (``reference``, default the first), or every pair
  of runs (``all_pairs``), compared on the *shared* samples of the split with a paired bootstrap
  (interval of the difference and two-sided p-value); runs that are seeds of one config are
  compared as a seed group instead;
- ``seed_groups``: runs whose configs differ only in ``seed``, as mean ± sd; two such groups are
  compared with Welch's t-test and a permutation test (``scipy.stats.permutation_test``) on the
  run-level scores;
- ``epochs``: per run and epoch, train and validation values of the monitored metric and the gap;
- ``verdicts``: plain sentences saying which differences are real and which are noise.

Criteria YAML (all optional)::

    split: val             # which split to compare (default: the headline split every run has,
                           # affectlab.runs.headline_split: test, else val, else oof, the pooled
                           # out-of-fold predictions of cross-validation runs)
    levels:                # per score key: minimum / target / excellent
      score: {minimum: 0.5, target: 0.6, excellent: 0.7}
      ccc_valence: {minimum: 0.6, target: 0.7}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..core.errors import AffectlabError
from ..evaluation.bootstrap import N_RESAMPLES, bootstrap_scores, paired_bootstrap
from ..evaluation.evaluate import target_values
from ..corpus.base import TargetSpec
from ..evaluation.scoring import higher_is_better, primary_metric, score_keys
from ..core.io import read_yaml
from .evaluate import epoch_history, run_specs, run_summary, run_targets
from .rundir import PREDICTIONS, check_predictions, load_run
from .used_keys import used_by_any
from .vocabulary import Split, shared_headline_split
from ..tasks import get_task

LEVELS = ("minimum", "target", "excellent")
#: config keys that never make two runs "different versions"
IGNORED_KEYS = {"name"}


def flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as ``{"a.b.c": value}`` (lists kept as values).

    >>> flatten({"model": {"name": "x", "hidden": 64}, "seed": 1})
    {'model.name': 'x', 'model.hidden': 64, 'seed': 1}
    """
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            out.update(flatten(v, key))
        else:
            out[key] = v
    return out


def status(value: float | None, levels: dict[str, float], hib: bool) -> str:
    """Highest level reached (``below minimum`` when none).

    >>> status(0.65, {"minimum": 0.5, "target": 0.6, "excellent": 0.7}, True)
    'target'
    >>> status(1.2, {"minimum": 1.0}, False)
    'below minimum'
    """
    reached = "below minimum"
    if value is None or not np.isfinite(value):
        return "n/a"
    for level in LEVELS:
        if level in levels:
            ok = value >= levels[level] if hib else value <= levels[level]
            if not ok:
                break
            reached = level
    return reached


@dataclass
class Comparison:
    """Everything ``affectlab compare`` prints, as plain tables."""

    task: str
    split: str
    headline: str
    runs: list[str]
    reference: str | None = None  # the run every other is paired with (None: all pairs)
    versions: list[dict[str, Any]] = field(default_factory=list)
    config_diff: list[dict[str, Any]] = field(default_factory=list)
    pairs: list[dict[str, Any]] = field(default_factory=list)
    seed_groups: list[dict[str, Any]] = field(default_factory=list)
    group_tests: list[dict[str, Any]] = field(default_factory=list)
    epochs: list[dict[str, Any]] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        from ..core.io import _jsonable

        return _jsonable(self.__dict__)


def read_criteria(path: str | Path | None) -> dict[str, Any]:
    """The criteria file: ``split`` and ``levels`` (key → {minimum, target, excellent})."""
    if path is None:
        return {"levels": {}}
    raw = read_yaml(path)
    levels = raw.get("levels", {k: v for k, v in raw.items() if k != "split"})
    if not isinstance(levels, dict):
        raise AffectlabError(f"{path}: 'levels' must map score keys to {{minimum, target, excellent}}")
    clean: dict[str, dict[str, float]] = {}
    for key, lv in levels.items():
        if not isinstance(lv, dict) or not set(lv) <= set(LEVELS) or not lv:
            raise AffectlabError(f"{path}: levels of {key!r} must be a mapping with minimum, target and/or excellent")
        try:
            clean[str(key)] = {k: float(v) for k, v in lv.items()}
        except (TypeError, ValueError):
            raise AffectlabError(f"{path}: levels of {key!r} must be numbers") from None
    split = raw.get("split")
    if split is not None:
        split = Split.parse(split, f"{path}: split").value
    return {"levels": clean, "split": split}


def _label(path: Path, config: dict) -> str:
    return str(config.get("name") or path.name)


def _unique_labels(runs: list[dict]) -> list[str]:
    labels = [_label(r["path"], r["config"]) for r in runs]
    if len(set(labels)) < len(labels):
        labels = [f"{lab} ({r['path'].name})" if labels.count(lab) > 1 else lab for lab, r in zip(labels, runs)]
    if len(set(labels)) < len(labels):
        labels = [str(r["path"]) for r in runs]
    return labels


def _split_for(runs: list[dict], wanted: str | None) -> Split:
    """``wanted`` when every run has it, else the headline split all of them share
    (:func:`~affectlab.runs.shared_headline_split`)."""
    if wanted:
        missing = [str(r["path"]) for r in runs if wanted not in run_summary(r).metrics]
        if missing:
            raise AffectlabError(f"{missing[0]}: has no {wanted!r} metrics to compare")
        return Split.parse(wanted)
    try:
        return shared_headline_split(run_summary(r) for r in runs)
    except AffectlabError:
        raise AffectlabError("the runs share neither test, val nor out-of-fold (oof) metrics; nothing to compare") from None


def _check_levels(levels: dict[str, Any], runs: list[dict], split: str, criteria: str | Path | None) -> None:
    """A criteria level for a key the runs do not report on ``split`` is a one-line error (not a KeyError)."""
    have = set(run_summary(runs[0]).metrics.get(split, {}))
    for key in levels:
        if key not in have:
            raise AffectlabError(f"{criteria}: levels name {key!r}, which the runs do not report on {split} "
                                 f"(they report: {', '.join(sorted(have)) or 'nothing'})")


def _numeric(frame: pd.DataFrame, specs: Sequence[TargetSpec], *, prefix: str = "", suffix: str = "") -> np.ndarray:
    """``(n, k)`` floats of one column per target: class indices for category targets (names or indices).

    >>> f = pd.DataFrame({"pred_e": ["sad", "happy"], "pred_v": [0.5, -1]})
    >>> _numeric(f, [TargetSpec("e", kind="category", classes=("happy", "sad")), TargetSpec("v")], prefix="pred_")
    array([[ 1. ,  0.5],
           [ 0. , -1. ]])
    """
    cols = [target_values(s, frame[f"{prefix}{s.name}{suffix}"], f"{prefix}{s.name}", "predictions.csv", allow_nonfinite=True)
            for s in specs]
    return np.stack(cols, axis=1).astype(float) if cols else np.empty((len(frame), 0))


def _shared(runs: list[dict], a: int, b: int, split: str, specs: Sequence[TargetSpec]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, int]:
    """Gold, predictions of a and b and groups on the samples both runs predicted in ``split``."""
    targets = [s.name for s in specs]
    pa, pb = runs[a]["predictions"], runs[b]["predictions"]
    if pa is None or pb is None:
        raise AffectlabError("predictions.csv missing")
    cols = ["id", *targets, *[f"pred_{t}" for t in targets]] + (["group"] if "group" in pa else [])
    fa = pa.loc[pa["split"] == split, cols]
    fb = pb.loc[pb["split"] == split, ["id", *[f"pred_{t}" for t in targets]]]
    m = fa.merge(fb, on="id", suffixes=("", "__b"))
    pred_a, pred_b = _numeric(m, specs, prefix="pred_"), _numeric(m, specs, prefix="pred_", suffix="__b")
    ok = np.isfinite(pred_a).all(axis=1) & np.isfinite(pred_b).all(axis=1)
    groups = m["group"].astype(str).to_numpy()[ok] if "group" in m else None
    return _numeric(m, specs)[ok], pred_a[ok], pred_b[ok], groups, len(fa)


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def _welch(a: "Sequence[float] | np.ndarray", b: "Sequence[float] | np.ndarray") -> dict[str, float]:
    """Welch's t-test and a two-sided permutation test of the difference in mean run-level scores.

    The two seed groups are independent runs, so runs are reassigned between the groups
    (``permutation_type="independent"``): exactly over every split when there are at most 10000,
    else over 10000 random splits (seeded).

    >>> r = _welch([0.51, 0.53, 0.52, 0.55], [0.47, 0.46, 0.49, 0.48])
    >>> round(r["p_permutation"] * 70, 6)   # exact: only the 2 most extreme of 70 splits
    2.0
    """
    from scipy import stats

    a, b = np.asarray(a, float), np.asarray(b, float)
    t = stats.ttest_ind(a, b, equal_var=False)
    perm = stats.permutation_test((a, b), _mean_difference, permutation_type="independent", vectorized=True,
                                  n_resamples=10000, alternative="two-sided", random_state=0)
    return {"t": float(t.statistic), "p_welch": float(t.pvalue), "p_permutation": float(perm.pvalue)}


def _reference_index(paths: list[Path], reference: str | Path | None) -> tuple[list[Path], int]:
    """The runs (the reference prepended when it is not among them) and the reference's index."""
    if reference is None:
        return paths, 0
    ref = Path(reference)
    for i, p in enumerate(paths):
        if p.resolve() == ref.resolve():
            return paths, i
    named = [i for i, p in enumerate(paths) if p.name == str(reference)]
    if len(named) == 1:
        return paths, named[0]
    if ref.is_dir():
        return [ref, *paths], 0
    raise AffectlabError(f"--reference {reference}: neither a run directory nor the name of one of the compared runs")


def _pair_indices(n: int, reference: int, all_pairs: bool) -> list[tuple[int, int]]:
    """(a, b) pairs, compared as a − b: each run against the reference, or every later run against each earlier one.

    >>> _pair_indices(3, 0, False), _pair_indices(3, 1, False), _pair_indices(3, 0, True)
    ([(1, 0), (2, 0)], [(0, 1), (2, 1)], [(1, 0), (2, 0), (2, 1)])
    """
    if all_pairs:
        return [(j, i) for j in range(n) for i in range(j)]
    return [(i, reference) for i in range(n) if i != reference]


def compare_runs(paths: Sequence[str | Path], criteria: str | Path | None = None, *,
                 n_resamples: int = N_RESAMPLES, seed: int = 0, alpha: float = 0.05,
                 reference: str | Path | None = None, all_pairs: bool = False) -> Comparison:
    """Compare run directories: each against ``reference`` (default the first), or all pairs."""
    if len(paths) < 1:
        raise AffectlabError("give at least one run directory")
    if all_pairs and reference is not None:
        raise AffectlabError("give --reference or --all-pairs, not both")
    paths, ref_index = _reference_index([Path(p) for p in paths], reference)
    runs = [load_run(p) for p in paths]
    tasks = {run_summary(r).task or None for r in runs}
    if len(tasks) > 1:
        raise AffectlabError(f"runs are of different tasks ({', '.join(sorted(map(str, tasks)))}); compare like with like")
    task = tasks.pop() or "regression"
    targets = run_targets(runs[0])
    specs = run_specs(runs[0])
    if any(run_targets(r) != targets for r in runs[1:]):
        raise AffectlabError("runs predict different targets; compare like with like")
    for r in runs:  # a broken run is an error, not "no shared samples"
        check_predictions(r["predictions"], Path(r["path"]) / PREDICTIONS, targets)
    crit = read_criteria(criteria)
    split = _split_for(runs, crit.get("split")).value
    _check_levels(crit["levels"], runs, split, criteria)
    headline = primary_metric(task)
    labels = _unique_labels(runs)
    cmp = Comparison(task, split, headline, labels, None if all_pairs else labels[ref_index])
    if split == Split.VAL:
        cmp.notes.append("compared on the validation split, which also chose each run's epoch: differences are "
                         "slightly optimistic for every run; confirm the winner on test once")

    # ---- version table
    # the headline and what the task shows (that the runs report), then each target's score key for
    # the paired tests, then the keys the criteria give levels for
    have = set(run_summary(runs[0]).metrics.get(split, {}))
    shown = [k for k in get_task(task).shown_metrics(specs) if k in have]
    tested = score_keys(task, specs)
    keys = list(dict.fromkeys([headline, *shown, *tested, *crit["levels"]]))
    for label, r in zip(labels, runs):  # NaN values are shown as NaN, with the reason
        for line in run_summary(r).nan_notes(splits=[split, "train"], keys=keys):
            cmp.notes.append(f"{label}: {line}")
    for label, r in zip(labels, runs):
        summary = run_summary(r)
        row: dict[str, Any] = {"run": label}
        cis = _intervals(r, task, specs, split, n_resamples, seed)
        for k in keys:
            # NaN (the split exists, the metric is undefined on it) stays NaN: shown as nan with the
            # reason in the notes; None only when the run has no such split
            v = _value(summary, split, k)
            ci = cis.get(k)
            row[f"ci_low {k}"] = None if ci is None or not np.isfinite(ci.low) else ci.low
            row[f"ci_high {k}"] = None if ci is None or not np.isfinite(ci.high) else ci.high
            tr = _value(summary, "train", k)
            row[k] = v
            row[f"train {k}"] = tr
            row[f"gap {k}"] = (tr - v) if (tr is not None and v is not None) else None
            if split != Split.OOF:  # a cross-validation run has no train split: its pooled out-of-fold score instead
                row[f"oof {k}"] = _value(summary, Split.OOF, k)
            if k in crit["levels"]:
                row[f"status {k}"] = status(v, crit["levels"][k], higher_is_better(k))
        row["best_epoch"] = summary.best_epoch
        row["n_params"] = summary.n_params
        cmp.versions.append(row)

    # ---- config differences, restricted to keys some compared model reads
    flat = [flatten(r["config"]) for r in runs]
    all_keys = list(dict.fromkeys(k for f in flat for k in f))
    unused = []
    for k in all_keys:
        if k in IGNORED_KEYS:
            continue
        vals = [f.get(k, "(absent)") for f in flat]
        if len({repr(v) for v in vals}) > 1:
            if not used_by_any(k, [r["config"] for r in runs]):
                unused.append(k)
                continue
            cmp.config_diff.append({"key": k, **dict(zip(labels, vals))})
    if unused:
        cmp.notes.append(f"config keys that differ but no compared model reads (not shown): {', '.join(unused)}")

    # ---- seed groups: configs equal except for seed (and name)
    def signature(f: dict) -> str:
        return repr(sorted((k, repr(v)) for k, v in f.items() if k not in IGNORED_KEYS | {"seed"}))

    groups: dict[str, list[int]] = {}
    for i, f in enumerate(flat):
        groups.setdefault(signature(f), []).append(i)
    multi = [idx for idx in groups.values() if len(idx) >= 2]
    for idx in multi:
        vals = [_value(run_summary(runs[i]), split, headline) for i in idx]  # every run has ``split``: a float
        finite = [v for v in vals if np.isfinite(v)]
        cmp.seed_groups.append({"runs": [labels[i] for i in idx], "seeds": [flat[i].get("seed") for i in idx],
                                "mean": float(np.mean(finite)) if finite else float("nan"),
                                "sd": float(np.std(finite, ddof=1)) if len(finite) >= 2 else float("nan"),
                                "values": vals})
    for gi in range(len(cmp.seed_groups)):
        for gj in range(gi + 1, len(cmp.seed_groups)):
            ga, gb = cmp.seed_groups[gi], cmp.seed_groups[gj]
            va, vb = [v for v in ga["values"] if np.isfinite(v)], [v for v in gb["values"] if np.isfinite(v)]
            if len(va) < 2 or len(vb) < 2:
                cmp.notes.append(f"seed groups {' + '.join(ga['runs'])} vs {' + '.join(gb['runs'])}: fewer than two "
                                 f"runs with a {headline} value on {split} in a group; no test")
                continue
            test = _welch(va, vb)
            cmp.group_tests.append({"a": " + ".join(ga["runs"]), "b": " + ".join(gb["runs"]),
                                    "diff": ga["mean"] - gb["mean"], **test})

    # ---- paired bootstraps: against the reference (or all pairs), except seeds of one config
    in_group = {i: gi for gi, idx in enumerate(multi) for i in idx}
    for i, (a, b) in enumerate(_pair_indices(len(runs), ref_index, all_pairs), start=1):
        if a in in_group and in_group.get(b) == in_group[a]:
            continue
        # a bad value in predictions.csv is an error (exit 2), never a note and "no shared samples"
        y, pa, pb, g, n_split = _shared(runs, a, b, split, specs)
        if len(y) < 3:
            cmp.notes.append(f"{labels[a]} vs {labels[b]}: fewer than 3 shared {split} samples; no paired test")
            continue
        paired = [headline] + [k for k in (*tested, *crit["levels"]) if not k.startswith("score")]
        res = paired_bootstrap(task, y, pa, pb, specs, g, list(dict.fromkeys(paired)),
                               n_resamples=n_resamples, seed=seed + i)
        for k, pr in res.items():
            cmp.pairs.append({"a": labels[a], "b": labels[b], "key": k, "a_value": pr.a, "b_value": pr.b, "diff": pr.diff,
                              "ci_low": pr.low, "ci_high": pr.high, "p_value": pr.p_value, "higher_is_better": pr.higher_is_better,
                              "n_shared": len(y), "n_split": n_split, "resampled": f"{pr.n_units} {pr.unit}"})

    # ---- epochs
    for label, r in zip(labels, runs):
        h = r["history"]
        if h is None or h.empty:
            continue
        summary = run_summary(r)
        monitor = summary.selection.monitor or headline
        for _, row in epoch_history(h).iterrows():
            cmp.epochs.append({"run": label, "epoch": int(row.get("epoch", 0)), "train_loss": row.get("train_loss"),
                               "val_loss": row.get("val_loss"), "monitor": monitor,
                               "train": row.get(f"train_{monitor}"), "val": row.get(f"val_{monitor}"),
                               "gap": row.get(f"gap_{monitor}"), "best": int(row.get("epoch", -1)) == summary.best_epoch})

    cmp.verdicts = _verdicts(cmp, alpha)
    return cmp


def _value(summary, split: str, key: str) -> float | None:  # noqa: ANN001
    """The summary's value; NaN when the split was scored but the key is missing or NaN, None without the split."""
    if split not in summary.metrics:
        return None
    v = summary.metric(split, key)
    return float("nan") if v is None else float(v)


def _intervals(run: dict, task: str, specs: Sequence[TargetSpec], split: str, n_resamples: int, seed: int) -> dict:
    """Bootstrap intervals of the run's scores on ``split`` from its predictions (units: groups when known)."""
    pred = run["predictions"]
    if pred is None:
        return {}
    part = pred[pred["split"] == split]
    y, p = _numeric(part, specs), _numeric(part, specs, prefix="pred_")
    ok = np.isfinite(y).all(axis=1) & np.isfinite(p).all(axis=1)
    if ok.sum() < 3:
        return {}
    groups = part["group"].astype(str).to_numpy()[ok] if "group" in part else None
    return bootstrap_scores(task, y[ok], p[ok], specs, groups, n_resamples=n_resamples, seed=seed)


def _verdicts(cmp: Comparison, alpha: float) -> list[str]:
    out = []
    for p in cmp.pairs:
        if p["key"] != cmp.headline:
            continue
        if not all(np.isfinite(p[k]) for k in ("diff", "ci_low", "ci_high")):
            out.append(f"UNDEFINED: {p['a']} vs {p['b']} on {p['key']}: the metric is NaN on the {p['n_shared']} shared "
                       f"{cmp.split} samples (see the notes), so this pair cannot be judged on it.")
            continue
        better = p["a"] if (p["diff"] > 0) == p["higher_is_better"] else p["b"]
        ci = f"{p['diff']:+.3f} (95% CI [{p['ci_low']:+.3f}, {p['ci_high']:+.3f}], p = {p['p_value']:.3g}, {p['n_shared']} shared {cmp.split} samples)"
        if p["ci_low"] > 0 or p["ci_high"] < 0:
            out.append(f"REAL: {p['a']} vs {p['b']} on {p['key']}: {ci}; {better} is better beyond resampling noise.")
        else:
            out.append(f"NOISE: {p['a']} vs {p['b']} on {p['key']}: {ci}; the interval includes 0, so this "
                       "difference is within what resampling the same samples produces: do not read it as a real change.")
    # per-target keys, grouped per pair: which moved beyond noise (not corrected for multiple tests)
    pairs = list(dict.fromkeys((p["a"], p["b"]) for p in cmp.pairs))
    for a, b in pairs:
        rest = [p for p in cmp.pairs if (p["a"], p["b"]) == (a, b) and p["key"] != cmp.headline]
        undefined = [p["key"] for p in rest if not np.isfinite(p["diff"])]
        rest = [p for p in rest if np.isfinite(p["diff"])]
        real = [f"{p['key']} {p['diff']:+.3f} (p = {p['p_value']:.2g})" for p in rest if p["ci_low"] > 0 or p["ci_high"] < 0]
        noise = [p["key"] for p in rest if not (p["ci_low"] > 0 or p["ci_high"] < 0)]
        if undefined:
            noise.append(f"NaN: {', '.join(undefined)}")
        if rest:
            out.append(f"PER TARGET: {a} vs {b}: real: {', '.join(real) or 'none'}; noise: {', '.join(noise) or 'none'} "
                       "(each tested separately; with several keys one 'real' at p near 0.05 can be chance).")
    for g in cmp.seed_groups:
        if not np.isfinite(g["mean"]) or not np.isfinite(g["sd"]):
            out.append(f"SEEDS: {' + '.join(g['runs'])} differ only in seed, but {cmp.headline} is NaN for "
                       f"{sum(not np.isfinite(v) for v in g['values'])} of {len(g['values'])} (see the notes): "
                       "no seed spread can be given.")
            continue
        out.append(f"SEEDS: {' + '.join(g['runs'])} differ only in seed: {cmp.headline} {g['mean']:.3f} ± {g['sd']:.3f} "
                   f"(sd over {len(g['values'])} seeds); differences between single runs smaller than about "
                   f"{2 * g['sd']:.3f} are seed noise.")
    for t in cmp.group_tests:
        word = "REAL" if t["p_welch"] < alpha and t["p_permutation"] < alpha else "NOISE"
        out.append(f"{word}: seed groups {t['a']} vs {t['b']}: mean difference {t['diff']:+.3f}, Welch p = {t['p_welch']:.3g}, "
                   f"permutation p = {t['p_permutation']:.3g}.")
    for v in cmp.versions:
        gap = v.get(f"gap {cmp.headline}")
        if gap is not None and np.isfinite(gap) and higher_is_better(cmp.headline) and gap > 0.15:
            out.append(f"GAP: {v['run']} scores {gap:.3f} higher on train than on {cmp.split}: it fits its training "
                       "texts far better than new ones.")
    if not cmp.pairs and len(cmp.runs) > 1 and not cmp.group_tests and not cmp.seed_groups:
        out.append("No paired test was possible (no shared samples): differences between these runs cannot be judged.")
    return out
