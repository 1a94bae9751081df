"""Evaluate a run directory: its own predictions of one split, plus the checks only a run allows.

The run layer reads the run (:func:`~affectlab.runs.load_run`), picks the split
(:func:`~affectlab.runs.headline_split` unless one is asked for), and hands aligned gold and
predictions to the pure scoring of :func:`affectlab.evaluation.evaluate.evaluate_data`. Run-level
findings are added here: selection on test, overfitting in the learning curves, a val→test drop,
scoring the training split, and the references the run's own config named.

>>> check_selection(RunSummary.from_dict({"selection": {"split": "val"}, "metrics": {"test": {}}}))
[]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..corpus.base import TargetSpec
from ..core.errors import AffectlabError
from ..evaluation import diagnostics as dg
from ..evaluation.bootstrap import N_RESAMPLES, PairedResult
from ..evaluation.evaluate import (EvalData, EvalResult, TrainData, check_gold_range, constant_baseline_name,
                                   evaluate_data, target_values)
from ..evaluation.scoring import higher_is_better
from ..tasks import get_task
from .rundir import load_run
from .summary import RunSummary
from .vocabulary import HEADLINE_ORDER, Split, headline_split


def check_selection(summary: RunSummary) -> list[dg.Finding]:
    """TEST_USED_FOR_SELECTION: the run chose its model (or epoch) on the test split.

    >>> [f.severity for f in check_selection(RunSummary.from_dict({"selection": {"split": "test"}}))]
    ['error']
    """
    sel = summary.selection
    if sel.test_used_for_selection or sel.split == Split.TEST:
        recorded = sel.model_dump(exclude_unset=True)  # as summary.json wrote it
        return [dg.Finding("TEST_USED_FOR_SELECTION", "error",
                           f"the run selected on the test split (selection: {recorded}); its test score is optimistic "
                           "and cannot be reported as a final result")]
    if sel.split is None and Split.TEST.value in summary.metrics:
        return [dg.Finding("TEST_USED_FOR_SELECTION", "info", "the run had no validation split; nothing was selected on it")]
    return []


def run_summary(run: dict[str, Any]) -> RunSummary:
    """The typed summary of a :func:`load_run` result."""
    return run["run_summary"]


def run_targets(run: dict[str, Any]) -> list[str]:
    """The run's target names: from the summary, else from predictions.csv's ``pred_`` columns."""
    names = run_summary(run).target_names()
    if not names and run["predictions"] is not None:
        names = [c[len("pred_"):] for c in run["predictions"].columns if c.startswith("pred_")]
    return names


def epoch_history(history: pd.DataFrame) -> pd.DataFrame:
    """One row per epoch: a cross-validation ``metrics.csv`` (a ``fold`` column) averaged over folds.

    Each fold restarts at epoch 1, so its rows read one after another are no learning curve;
    the mean over the folds that reached an epoch is. Hold-out histories are returned unchanged.

    >>> h = pd.DataFrame({"fold": [1, 1, 2, 2], "epoch": [1, 2, 1, 2], "val_score": [0.2, 0.4, 0.4, 0.6]})
    >>> epoch_history(h).round(2).to_dict("list")
    {'epoch': [1, 2], 'val_score': [0.3, 0.5]}
    >>> epoch_history(h.drop(columns="fold")).shape
    (4, 2)
    """
    if "fold" not in history or "epoch" not in history or history.empty:
        return history
    numeric = history.drop(columns="fold").apply(pd.to_numeric, errors="coerce")
    return numeric.groupby("epoch", sort=True).mean().reset_index()


def pick_split(pred: pd.DataFrame, targets: Sequence[str], split: "str | Split | None" = None) -> Split:
    """``split`` if given, else the headline (:func:`~affectlab.runs.headline_split`) of the splits
    with gold labels in predictions.csv."""
    have = [s for s in (*HEADLINE_ORDER, Split.TRAIN) if s.value in set(pred["split"].astype(str))
            and pred.loc[pred["split"].astype(str) == s.value, list(targets)].notna().any().any()]
    if split is not None:
        wanted = Split.parse(split, "--split")
        if wanted not in have:
            raise AffectlabError(f"no labelled {wanted.value!r} rows in predictions.csv (have: "
                                 f"{', '.join(s.value for s in have) or 'none'})")
        return wanted
    try:
        return headline_split(have)
    except AffectlabError:
        raise AffectlabError("predictions.csv has no labelled test, val, out-of-fold or full rows to evaluate") from None


def run_specs(run: dict[str, Any]) -> list[TargetSpec]:
    """The run's targets with kinds and classes (old summaries: regression)."""
    declared = {t.name: t.spec() for t in run_summary(run).targets}
    return [declared.get(t, TargetSpec(t)) for t in run_targets(run)]


def run_eval_data(run: dict[str, Any], split: "str | Split") -> EvalData:
    """The run's predictions of one split as aligned gold and predictions."""
    pred = run["predictions"]
    targets = run_targets(run)
    specs = run_specs(run)
    task = run_summary(run).task or "regression"
    part = pred[pred["split"].astype(str) == str(split)].reset_index(drop=True)
    src = f"{run['path']}/predictions.csv"
    y = np.stack([target_values(s, part[s.name], s.name, src, allow_nonfinite=False) for s in specs], axis=1)
    for s in specs:  # gold labels outside the ranges the run declared (its summary's targets), any split
        if not s.is_category and s.name in pred:
            check_gold_range(pd.to_numeric(pred[s.name], errors="coerce").to_numpy(dtype=float), s, src,
                             pred[["id"]].astype(str), " of the run's targets (summary.json)")
    p = np.stack([target_values(s, part[f"pred_{s.name}"], f"pred_{s.name}", src, allow_nonfinite=True) for s in specs], axis=1)
    seen = part["seen"].astype(str).str.lower().isin(["true", "1"]).to_numpy() if "seen" in part else None
    groups = part["group"].astype(str).to_numpy() if "group" in part else None
    return EvalData(task, targets, part[["id"]].astype(str), y, p, groups,
                    seen if get_task(task).seen_subsets else None, None, f"{run['path']}/predictions.csv", [], specs)


def _run_references(run: dict[str, Any]) -> tuple | None:
    """The published results the run was trained against: the task's plus its config's ``references:``
    (None when the run's config is absent or no longer loads: the task's alone then)."""
    from ..config import RunConfig
    from ..experiment import task_references

    try:
        return task_references(RunConfig.model_validate(run["config"]))
    except (AffectlabError, ValueError, TypeError):
        return None


def _other_model(message: str) -> bool:
    """A recorded finding about a model other than the run's own: a baseline of train, or a transfer
    comparison row other than the adapted model (whose finding evaluate recomputes).

    >>> _other_model("test: baseline ridge_text is beyond ..."), _other_model("test: comparison row oracle (oracle) is ...")
    (True, True)
    >>> _other_model("test: comparison row adapted (adapted (this run)) is ..."), _other_model("test: the model is ...")
    (False, False)
    """
    if ": baseline " in message:
        return True
    return ": comparison row " in message and ": comparison row adapted " not in message


def _below_own_baselines(result: EvalResult, own: dict[str, np.ndarray], split: str, config: Any) -> list[dg.Finding]:
    """``result.findings`` with MODEL_BELOW_BASELINE (as train says it) for each of the run's own baselines
    that scores better than the model on these rows, with the paired bootstrap of evaluate: in place of the
    BELOW_BASELINE line for that baseline, which says the same pair's test."""
    model = str(((config or {}).get("model") or {}).get("name") or "the model") if isinstance(config, dict) else "the model"
    findings = list(result.findings)
    for name, cmp in result.comparisons:
        if name not in own:
            continue

        def paired(_name: str, _split: str, cmp: PairedResult = cmp) -> PairedResult:
            return cmp
        found = dg.check_model_below_baselines(model, {split: {cmp.key: cmp.a}}, {name: {split: {cmp.key: cmp.b}}},
                                               key=cmp.key, paired=paired)
        if found:
            findings = [f for f in findings if not (f.code == "BELOW_BASELINE" and f" vs {name} " in f.message)] + found
    return findings


def evaluate_run(run_dir: str | Path, split: str | None = None, *, n_resamples: int = N_RESAMPLES, seed: int = 0) -> EvalResult:
    """Evaluate a run directory's predictions (test when present, else val) plus run-level checks."""
    run = load_run(run_dir)
    if run["predictions"] is None:
        raise AffectlabError(f"{run['path']}: no predictions.csv")
    targets = run_targets(run)
    pred = run["predictions"]
    missing = [c for c in ["split", "id", *targets, *[f"pred_{t}" for t in targets]] if c not in pred]
    if missing:
        raise AffectlabError(f"{run['path']}/predictions.csv: missing column {missing[0]!r}")
    split = pick_split(pred, targets, split)
    data = run_eval_data(run, split)
    summary = run_summary(run)

    # the run's own baselines, fitted on its training part, on the same rows
    base: dict[str, np.ndarray] = {}
    bl = run["baselines"]
    if bl is not None and {"split", "id", "baseline"} <= set(bl.columns):
        part = bl[bl["split"].astype(str) == split.value]
        for name, rows in part.groupby("baseline", sort=False):
            aligned = rows.set_index("id").reindex(data.ids["id"])
            cols = [f"pred_{t}" for t in targets]
            if all(c in aligned for c in cols) and aligned[cols].notna().all().all():
                base[name] = np.stack([target_values(s, aligned[f"pred_{s.name}"], f"pred_{s.name}", "baselines.csv",
                                               allow_nonfinite=True) for s in data.specs], axis=1)

    # recalibration fitted on validation predictions, offered when scoring test
    recal: dict[str, dg.Recalibration] = {}
    if split is Split.TEST and Split.VAL.value in set(pred["split"]):
        val = pred[pred["split"] == Split.VAL.value]
        for t in [s.name for s in data.specs if not s.is_category]:
            ok = val[t].notna() & np.isfinite(val[f"pred_{t}"])
            rc = dg.fit_recalibration(val.loc[ok, t].to_numpy(float), val.loc[ok, f"pred_{t}"].to_numpy(float), "validation")
            if rc is not None:
                recal[t] = rc

    train_rows = pred[pred["split"] == Split.TRAIN.value]
    train = None
    if len(train_rows) and split is not Split.TRAIN:
        train = TrainData(train_rows["id"].astype(str).reset_index(drop=True),
                          train_rows["group"].astype(str).to_numpy() if "group" in train_rows else None,
                          None, np.stack([target_values(s, train_rows[s.name], s.name, "predictions.csv", allow_nonfinite=False)
                                          for s in data.specs], axis=1))
    result = evaluate_data(data, train, baselines=base, recalibration=recal, n_resamples=n_resamples, seed=seed, split=split.value,
                           references=_run_references(run))
    result.source = str(run["path"])
    # the constant baseline of evaluate_data duplicates the run's global_mean/majority: keep the run's own
    # (cross-validation runs have no train rows: there the duplicate is the gold-side oracle constant)
    if "global_mean" in base or "majority" in base:
        for constant in (constant_baseline_name(data.specs, "train"), constant_baseline_name(data.specs, "gold") + " (oracle)"):
            result.baselines.pop(constant, None)
            result.comparisons = [(n, c) for n, c in result.comparisons if n != constant]
            result.findings = [f for f in result.findings if not (f.code == "BELOW_BASELINE" and constant in f.message)]

    result.findings = _below_own_baselines(result, base, split.value, run.get("config"))

    run_findings = check_selection(summary)
    # ABOVE_STATE_OF_THE_ART that train raised for the baselines, and transfer for its comparison rows (the
    # model's own is recomputed below): the gap between ridges on a file's own arrays and on re-encoded text,
    # or an oracle / source model beyond the published results, stays visible in evaluate and report
    for f in (summary.model_extra or {}).get("findings") or []:
        if isinstance(f, dict) and f.get("code") == "ABOVE_STATE_OF_THE_ART" and _other_model(str(f.get("message"))):
            run_findings.append(dg.Finding(f["code"], "warning", str(f["message"])))
    if split is Split.TRAIN:  # asked for explicitly (never the default): the rows the model was fitted on
        run_findings.append(dg.Finding("SCORED_ON_TRAINING", "warning",
                                       "the train split is what the model was fitted on: these scores measure fit, not "
                                       "generalisation; evaluate val or test"))
    monitor = summary.selection.monitor or get_task(data.task).primary
    if run["history"] is not None:
        try:
            hib = higher_is_better(monitor)
        except KeyError:
            hib = True
        run_findings += dg.check_overfitting(epoch_history(run["history"]), monitor, hib)
    headline = result.headline
    val_value = summary.metric(Split.VAL.value, headline)
    if split is Split.TEST and val_value is not None and headline in result.metrics:
        run_findings += dg.check_val_test(float(val_value), result.metrics[headline], headline)
    result.findings = run_findings + result.findings
    return result


__all__ = ["check_selection", "epoch_history", "evaluate_run", "pick_split", "run_eval_data", "run_specs", "run_summary",
           "run_targets"]
