"""Evaluate a prediction file against gold labels, or a run directory's own predictions.

What it returns (:class:`EvalResult`): every metric of the task with a 95% percentile bootstrap
interval (users or videos resampled when the data have them), the baselines that can be
computed from what was given, paired comparisons of the model with them, and diagnostic
findings (see :mod:`affectlab.evaluation.diagnostics`).

Files: a prediction file holds the task's id columns (``Task.id_columns``: ``id``, or SemEval's
``user_id,text_id``) and ``pred_<target>`` columns; the gold file the same ids and ``<target>``
columns (or an MMSA pickle). Groups come from a ``group``, ``user_id``, ``video_id``, ``video`` or
``speaker`` column, or from MOSI-style ids (``<video>$_$<clip>``). A target whose gold values are
not numbers is a category target: its labels are class names, scored as classes (accuracy, UAR,
F1). Which task a file belongs to is guessed from its columns unless ``task`` is given.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> y = rng.normal(size=(300, 1)); p = y + rng.normal(scale=0.5, size=(300, 1))
>>> data = EvalData("generic", ["v"], pd.DataFrame({"id": [str(i) for i in range(300)]}), y, p)
>>> res = evaluate_data(data, n_resamples=100)
>>> round(res.metrics["ccc_v"].value, 2), [f.code for f in res.findings if f.severity != "info"]
(0.9, [])
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..core.errors import AffectlabError
from ..core.io import _jsonable, read_table
from ..metrics.classification import majority_class
from ..runs.rundir import load_run  # the one reader of run directories (re-exported here)
from ..runs.summary import RunSummary
from . import diagnostics as dg
from .bootstrap import N_RESAMPLES, Interval, PairedResult, bootstrap_scores, fast_scores, group_codes, paired_bootstrap
from ..corpus.base import TargetSpec
from ..tasks.data import applicable_to_rows
from ..tasks import TASKS, get_task

#: columns that name the group of a sample in a gold file, in order of preference
GROUP_COLUMNS = ("group", "user_id", "video_id", "video", "speaker")
TEXT_COLUMNS = ("text", "raw_text")
_MISSING = {"", "nan", "NaN", "NA", "N/A", "None", "null"}


@dataclass
class EvalData:
    """Aligned gold and predictions of one task: row i of every array is the same sample."""

    task: str
    targets: list[str]
    ids: pd.DataFrame  # the key columns, as strings
    y: np.ndarray  # (n, k) gold, NaN where missing
    p: np.ndarray  # (n, k) predictions, NaN where non-finite
    groups: np.ndarray | None = None
    seen: np.ndarray | None = None
    texts: pd.Series | None = None
    source: str = "predictions"
    findings: list = field(default_factory=list)  # findings from reading (e.g. partial coverage)
    specs: list[TargetSpec] = field(default_factory=list)  # kinds and classes; default regression

    def __post_init__(self) -> None:
        if not self.specs:
            self.specs = [TargetSpec(t) for t in self.targets]


@dataclass
class TrainData:
    """What a training file tells the evaluation: ids, groups, texts and labels."""

    ids: pd.Series
    groups: np.ndarray | None
    texts: pd.Series | None
    y: np.ndarray  # (n, k) in the order of the evaluated targets


@dataclass
class EvalResult:
    """Metrics with intervals, baselines, comparisons and findings of one evaluation."""

    task: str
    targets: list[str]
    n: int
    n_groups: int | None
    unit: str
    metrics: dict[str, Interval]
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)
    comparisons: list[tuple[str, PairedResult]] = field(default_factory=list)  # (baseline, model - baseline)
    findings: list[dg.Finding] = field(default_factory=list)
    headline: str = ""
    source: str = ""
    split: str | None = None
    n_resamples: int = N_RESAMPLES
    recalibration: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` object: ``metrics`` and ``findings`` first, then the rest."""
        return _jsonable({
            "metrics": {k: v.as_dict() for k, v in self.metrics.items()},
            "findings": [f.as_dict() for f in self.findings],
            "task": self.task, "targets": self.targets, "split": self.split, "n": self.n,
            "n_groups": self.n_groups, "resampled": self.unit, "n_resamples": self.n_resamples,
            "confidence": 0.95, "headline": self.headline, "baselines": self.baselines,
            "comparisons": [{"baseline": name, **c.as_dict()} for name, c in self.comparisons],
            "recalibration": self.recalibration, "source": self.source,
        })

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


# --------------------------------------------------------------------------- reading

def _strip(series: pd.Series) -> pd.Series:
    return series.astype(str).str.strip()


def _numbers(values: pd.Series, column: str, source: str, *, allow_nonfinite: bool) -> np.ndarray:
    """Floats from strings; a value that is not a number (and not missing) is a one-line error."""
    text = values.astype(str).str.strip()
    nums = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    missing = text.isin(_MISSING).to_numpy()
    bad = np.isnan(nums) & ~missing
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise AffectlabError(f"{source}: {column} value {text.iloc[i]!r} in data row {i + 1} is not a number")
    if not allow_nonfinite and np.isinf(nums).any():
        i = int(np.flatnonzero(np.isinf(nums))[0])
        raise AffectlabError(f"{source}: {column} value in data row {i + 1} is infinite")
    return nums


def detect_task(pred_columns: Sequence[str], gold_path: str | Path | None = None) -> str:
    """Guess the task from the prediction file's columns: the registered task whose id columns and
    fixed targets the file has (the most specific first); an MMSA pickle gold file means MOSI-style
    sentiment; otherwise generic regression (a class-name gold file is detected later).

    >>> detect_task(["user_id", "text_id", "pred_valence", "pred_arousal"])
    'semeval'
    >>> detect_task(["id", "pred_sentiment"]), detect_task(["id", "pred_score"])
    ('mosi', 'regression')
    """
    cols = set(pred_columns)
    tasks = {t.name: t for t in (TASKS.get(n) for n in TASKS.names())}.values()  # aliases once
    layouts = sorted(tasks, key=lambda t: -len(t.id_columns) - len(t.target_names))
    for task in layouts:
        if task.target_names and set(task.id_columns) | {f"pred_{t}" for t in task.target_names} <= cols:
            return task.name
    if gold_path is not None and Path(gold_path).suffix.lower() in {".pkl", ".pickle"}:
        return "mosi"
    return "regression"


def _key_columns(task: str) -> list[str]:
    return list(get_task(task).id_columns)


def _pred_targets(task: str, pred: pd.DataFrame, source: str) -> list[str]:
    if get_task(task).target_names:
        return list(get_task(task).target_names)
    targets = [c[len("pred_"):] for c in pred.columns if c.startswith("pred_")]
    if not targets:
        raise AffectlabError(f"{source}: no pred_<target> column (columns: {', '.join(map(str, pred.columns))})")
    return targets


def _require(frame: pd.DataFrame, columns: Sequence[str], source: str, role: str) -> None:
    import difflib

    for col in columns:
        if col not in frame.columns:
            close = difflib.get_close_matches(col, [str(c) for c in frame.columns], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f" (columns: {', '.join(map(str, frame.columns))})"
            raise AffectlabError(f"{source}: missing {role} column {col!r}{hint}")


_PICKLES: dict[tuple, pd.DataFrame] = {}


def read_gold(path: str | Path, task: str, trust_pickle: bool = False) -> pd.DataFrame:
    """Gold labels as a string table; MMSA pickles become ``id, group, split, text, sentiment``."""
    p = Path(path)
    if p.suffix.lower() in {".pkl", ".pickle"}:
        if not p.is_file():
            raise AffectlabError(f"{p}: no such file")
        # gold and train are often the same pickle: read it once per process
        key = (str(p.resolve()), p.stat().st_mtime_ns, trust_pickle)
        if key not in _PICKLES:
            _PICKLES.clear()
            _PICKLES[key] = _read_pickle_gold(p, trust_pickle)
        return _PICKLES[key].copy()
    return read_table(p)


def _read_pickle_gold(p: Path, trust_pickle: bool) -> pd.DataFrame:
    """An MMSA pickle read with the corpus reader, as a string table (the reader unpickles safely)."""
    try:
        from ..config import DataConfig
        from ..corpus.registry import READERS
        import affectlab.corpus  # noqa: F401  (registers the readers)

        reader = READERS.get("mmsa")
    except (ImportError, AffectlabError):
        raise AffectlabError(f"{p}: reading MMSA pickles needs affectlab.corpus.mmsa, which this installation lacks; "
                             "give the gold labels as a CSV 'id,sentiment'") from None
    corpus = reader(p, DataConfig(format="mmsa", options={"trust_pickle": trust_pickle}), require_labels=True)
    frame = corpus.frame
    cols = [c for c in ("id", "group", "split", "text", "sentiment") if c in frame]
    out = frame[cols].copy()
    out["sentiment"] = out["sentiment"].astype(float).map(repr)
    return out.astype({c: str for c in cols if c != "text"})


def _column(frame: pd.DataFrame, names: Sequence[str]) -> pd.Series | None:
    """The first of ``names`` in a merged table, preferring the gold side (suffix ``__gold``)."""
    for col in names:
        for c in (col + "__gold", col):
            if c in frame:
                return frame[c]
    return None


def _groups_for(task: str, frame: pd.DataFrame, ids: pd.DataFrame) -> np.ndarray | None:
    """Each row's group: a group-like column (an id column such as ``user_id`` too), or the video
    part of MOSI-style ``<video>$_$<clip>`` ids; ``None`` when the rows have no groups."""
    col = _column(frame, GROUP_COLUMNS)
    if col is None:
        col = next((ids[c] for c in GROUP_COLUMNS if c in ids), None)
    if col is not None:
        return _strip(col).to_numpy()
    last = ids.iloc[:, -1]
    if last.str.contains("$_$", regex=False).all():
        return last.str.split("$_$", n=1, regex=False).str[0].to_numpy()
    return None


def _target_specs(targets: Sequence[str], merged: pd.DataFrame) -> list[TargetSpec]:
    """Regression for numeric gold columns; a category (classes: the labels seen) otherwise."""
    specs = []
    for t in targets:
        values = _strip(merged[t])
        labelled = values[~values.isin(_MISSING)]
        if len(labelled) and pd.to_numeric(labelled, errors="coerce").isna().any():
            labels = set(labelled) | set(_strip(merged[f"pred_{t}"])[lambda s: ~s.isin(_MISSING)])
            specs.append(TargetSpec(t, kind="category", classes=tuple(sorted(labels))))
        else:
            specs.append(TargetSpec(t))
    return specs


def target_values(spec: TargetSpec, values: pd.Series, column: str, source: str, *, allow_nonfinite: bool) -> np.ndarray:
    """A column as numbers: class indices for a category target, floats otherwise."""
    if spec.is_category:  # class names, or class index numbers
        from ..metrics.classification import class_indices

        return class_indices(_strip(values).where(~_strip(values).isin(_MISSING), None).tolist(), spec.classes)
    return _numbers(values, column, source, allow_nonfinite=allow_nonfinite)


def declared_ranges(task: str) -> dict[str, TargetSpec]:
    """The targets a task declares with a range (``Task.target_ranges``), by name: SemEval's
    valence [-2, 2] and arousal [0, 2], MOSI's sentiment [-3, 3]; empty for other tasks.

    >>> {n: (t.low, t.high) for n, t in declared_ranges("semeval").items()}
    {'valence': (-2.0, 2.0), 'arousal': (0.0, 2.0)}
    """
    return {t.name: t for t in get_task(task).target_ranges} if task in TASKS else {}


def check_gold_range(values: np.ndarray, spec: TargetSpec, source: str, ids: pd.DataFrame | None = None,
                     where: str = "") -> None:
    """Refuse a gold value outside ``spec``'s declared range, naming its data row (and ids).

    >>> check_gold_range(np.array([0.5, 7.0]), TargetSpec("valence", -2, 2), "gold.csv", where=" of task semeval")
    Traceback (most recent call last):
    ...
    affectlab.core.errors.AffectlabError: gold.csv: valence value 7 in data row 2 is outside the declared range [-2, 2] of task semeval
    """
    if spec.is_category or (spec.low is None and spec.high is None):
        return
    low = -np.inf if spec.low is None else spec.low
    high = np.inf if spec.high is None else spec.high
    with np.errstate(invalid="ignore"):
        outside = np.isfinite(values) & ((values < low) | (values > high))
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        key = "" if ids is None else f" ({'/'.join(map(str, ids.columns))} {'/'.join(map(str, ids.iloc[i].tolist()))})"
        raise AffectlabError(f"{source}: {spec.name} value {values[i]:g} in data row {i + 1}{key} is outside the "
                             f"declared range [{low:g}, {high:g}]{where}")


def _check_table_ranges(frame: pd.DataFrame, task: str, targets: Sequence[str], keys: Sequence[str], source: str) -> None:
    """Gold (or training) labels of a task with declared ranges, checked row by row in file order."""
    declared = declared_ranges(task)
    for t in targets:
        if t in declared and t in frame:
            nums = pd.to_numeric(_strip(frame[t]), errors="coerce").to_numpy(dtype=float)
            ids = frame[[k for k in keys if k in frame]].astype(str) if keys else None
            check_gold_range(nums, declared[t], source, ids, f" of task {get_task(task).name}")


def load_eval_data(pred_path: str | Path, gold_path: str | Path, task: str | None = None,
                   trust_pickle: bool = False) -> EvalData:
    """Read and join predictions and gold on the task's id columns (one-line errors on bad input)."""
    pred = read_table(pred_path)
    detected = task is None
    task = task or detect_task(pred.columns, gold_path)
    if task not in TASKS:
        raise AffectlabError(f"unknown task {task!r}; choose from: {', '.join(TASKS.names())}")
    gold = read_gold(gold_path, task, trust_pickle)
    if gold.empty:
        raise AffectlabError(f"{gold_path}: no rows")
    keys = _key_columns(task)
    targets = _pred_targets(task, pred, str(pred_path))
    _require(pred, keys + [f"pred_{t}" for t in targets], str(pred_path), "prediction")
    _require(gold, keys + targets, str(gold_path), "gold")
    _check_table_ranges(gold, task, targets, keys, str(gold_path))
    for frame, src in ((pred, pred_path), (gold, gold_path)):
        for k in keys:
            frame[k] = _strip(frame[k])
        dup = frame.duplicated(keys)
        if dup.any():
            first = frame.loc[dup, keys].iloc[0].tolist()
            raise AffectlabError(f"{src}: {int(dup.sum())} duplicate {'/'.join(keys)} rows (first: {'/'.join(first)})")

    # a multi-split gold source (an MMSA pickle) is scored on the rows the predictions cover;
    # rows of a covered split without a prediction are reported, not fatal
    early: list[dg.Finding] = []
    if "split" in gold and Path(gold_path).suffix.lower() in {".pkl", ".pickle"}:
        hit = gold["id"].isin(set(pred["id"]))
        covered = sorted(set(gold.loc[hit, "split"]))
        missed = gold[gold["split"].isin(covered) & ~hit]
        if len(missed):
            early.append(dg.Finding("MISSING_PREDICTIONS", "warning",
                                    f"{len(missed)} samples of split(s) {', '.join(covered)} in {Path(gold_path).name} have no "
                                    f"prediction (e.g. {missed['id'].iloc[0]!r}); scores cover the predicted samples only"))
        if len(covered) > 1:
            early.append(dg.Finding("MIXED_SPLITS", "warning",
                                    f"the predictions cover several splits of {Path(gold_path).name} ({', '.join(covered)}): "
                                    "one score over them mixes training or validation samples with test samples"))
        gold = gold[hit]

    # a left join keeps the prediction file's row order, so row numbers in messages are its own
    merged = pred.merge(gold, on=keys, how="left", indicator=True, suffixes=("", "__gold"))
    only_pred = merged[merged["_merge"] == "left_only"]
    gold_keys = set(map(tuple, gold[keys].to_numpy().tolist()))
    pred_keys = set(map(tuple, pred[keys].to_numpy().tolist()))
    only_gold = [k for k in map(tuple, gold[keys].to_numpy().tolist()) if k not in pred_keys]
    if len(only_pred) == len(pred):
        raise AffectlabError(f"{pred_path}: no prediction id matches a gold id (e.g. {'/'.join(only_pred[keys].iloc[0])} "
                             f"vs gold {'/'.join(gold[keys].iloc[0])}); wrong gold file or id columns?")
    if len(only_pred):
        raise AffectlabError(f"{pred_path}: {len(only_pred)} predicted ids are not in the gold file "
                             f"(first: {'/'.join(only_pred[keys].iloc[0])})")
    if only_gold:
        # a partial prediction file is scored on what it predicts, loudly
        early.append(dg.Finding("MISSING_PREDICTIONS", "warning",
                                f"{len(only_gold)} of {len(gold)} gold rows have no prediction (first: {'/'.join(only_gold[0])}); "
                                "scores cover the predicted samples only"))
    del gold_keys
    merged = merged[merged["_merge"] == "both"].reset_index(drop=True)
    src = str(pred_path)
    specs = _target_specs(targets, merged)
    if detected and task == "regression" and all(s.is_category for s in specs):
        task = "classification"  # the gold labels are class names
    p = np.stack([target_values(s, merged[f"pred_{s.name}"], f"pred_{s.name}", src, allow_nonfinite=True) for s in specs], axis=1)
    y = np.stack([target_values(s, merged[s.name], s.name, str(gold_path), allow_nonfinite=False) for s in specs], axis=1)
    for j, s in enumerate(specs):  # a target without any gold label would silently drop out of the score
        if np.isnan(y[:, j]).all():
            raise AffectlabError(f"{gold_path}: {s.name} has no gold label in the {len(y)} predicted rows; score only the "
                                 f"targets the gold file labels (drop pred_{s.name} from {Path(pred_path).name})")
    ids = merged[keys].astype(str)
    groups = _groups_for(task, merged, ids)
    seen = None
    if get_task(task).seen_subsets and "is_seen_user" in merged:
        seen = _strip(merged["is_seen_user"]).str.lower().isin(["true", "1", "yes"]).to_numpy()
    texts = _column(merged, TEXT_COLUMNS)
    return EvalData(task, targets, ids, y, p, groups, seen, texts, src, early, specs)


def load_train_data(path: str | Path, task: str, targets: Sequence["str | TargetSpec"], trust_pickle: bool = False) -> TrainData:
    """The training file given with ``--train`` (for baselines and leakage checks)."""
    frame = read_gold(path, task, trust_pickle)
    if "split" in frame and Path(path).suffix.lower() in {".pkl", ".pickle"}:
        if "train" in set(frame["split"]):  # a multi-split pickle: its own training split
            frame = frame[frame["split"] == "train"].reset_index(drop=True)
    keys = _key_columns(task)
    _require(frame, keys, str(path), "training id")
    specs = [t if isinstance(t, TargetSpec) else TargetSpec(t) for t in targets]
    missing = [t.name for t in specs if t.name not in frame]
    if missing:
        raise AffectlabError(f"{path}: missing training label column {missing[0]!r}")
    _check_table_ranges(frame, task, [t.name for t in specs if not t.is_category], keys, str(path))
    y = np.stack([target_values(t, frame[t.name], t.name, str(path), allow_nonfinite=False) for t in specs], axis=1)
    ids = _strip(frame[keys[-1]])
    groups = _groups_for(task, frame, frame[keys].astype(str))
    texts = _column(frame, TEXT_COLUMNS)
    return TrainData(ids.reset_index(drop=True), groups, texts, y)


# --------------------------------------------------------------------------- evaluation

def _correlation_key(task: str) -> str:
    """A correlation-type key whose interval width says whether the sample can support a conclusion:
    the task's ``score`` (CCC, UAR, r_composite), or Pearson's r when the headline is an error."""
    return "score" if get_task(task).primary == "score" else "pearson"


def _constant_name(specs: Sequence[TargetSpec], source: str) -> str:
    """``train mean``, ``train majority class`` or ``train mean / majority class`` for mixed targets."""
    kinds = {s.is_category for s in specs}
    what = "majority class" if kinds == {True} else "mean" if kinds == {False} else "mean / majority class"
    return f"{source} {what}"


def _train_constant(y: np.ndarray, specs: Sequence[TargetSpec]) -> np.ndarray:
    """Per target: the training mean, or the most frequent class for a category target."""
    out = []
    for j, s in enumerate(specs):
        col = y[:, j][~np.isnan(y[:, j])]
        out.append(np.nan if not col.size else majority_class(col) if s.is_category else float(col.mean()))
    return np.asarray(out, dtype=float)


def class_findings(y: np.ndarray, p: np.ndarray, spec: TargetSpec, metrics: dict[str, Interval],
                   train: TrainData | None, j: int, groups: np.ndarray | None, seed: int = 0) -> list[dg.Finding]:
    """CLASS_COLLAPSE, BELOW_MAJORITY and AT_CHANCE for one category target (class indices)."""
    train_labels = None
    if train is not None:
        col = train.y[:, j]
        train_labels = col[~np.isnan(col)]
    return dg.check_classes(y, p, len(spec.classes), train_labels, groups, spec.name, list(spec.classes),
                            metrics.get(f"uar_{spec.name}"), seed=seed)


def _baseline_predictions(data: EvalData, train: TrainData | None) -> dict[str, tuple[np.ndarray, bool]]:
    """name -> (predictions, is_oracle)."""
    n, k = data.y.shape
    out: dict[str, tuple[np.ndarray, bool]] = {}
    if train is not None:
        mean = _train_constant(train.y, data.specs)
        out[_constant_name(data.specs, "train")] = (np.tile(mean, (n, 1)), False)
        regression = not any(s.is_category for s in data.specs)
        # a per-group mean only means something when some evaluated groups were seen in training
        if (regression and train.groups is not None and data.groups is not None
                and np.isin(np.asarray(data.groups, dtype=str), np.asarray(train.groups, dtype=str)).any()):
            tf = pd.DataFrame(train.y, columns=data.targets).assign(g=train.groups)
            per_user = tf.groupby("g")[data.targets].mean()
            pred = per_user.reindex(data.groups).to_numpy(dtype=float)
            pred = np.where(np.isnan(pred), mean, pred)  # unseen users: the global train mean
            out[f"train {get_task(data.task).unit} mean"] = (pred, False)
    else:
        out[_constant_name(data.specs, "gold") + " (oracle)"] = (np.tile(_train_constant(data.y, data.specs), (n, 1)), True)
    return out


def evaluate_data(data: EvalData, train: TrainData | None = None, *, baselines: dict[str, np.ndarray] | None = None,
                  recalibration: dict[str, dg.Recalibration] | None = None, n_resamples: int = N_RESAMPLES,
                  seed: int = 0, split: str | None = None, references: Sequence | None = None) -> EvalResult:
    """Metrics with CIs, baselines and findings for aligned data.

    ``baselines``: extra real baseline predictions on the same rows (e.g. a run's baselines.csv);
    ``recalibration``: per-target maps fitted on validation data (offered by SCALE_MISMATCH);
    ``references``: the published results to check against (default: the task's; a run's own
    config may add more, see :meth:`affectlab.config.RunConfig.task_references`).
    """
    findings: list[dg.Finding] = list(data.findings)
    findings += dg.check_nonfinite(data.p, data.targets, data.source)
    findings += dg.check_missing_gold(data.y, data.targets)
    finite = np.isfinite(data.p).all(axis=1)
    if not finite.any():
        raise AffectlabError(f"{data.source}: no row has finite predictions for every target")
    # rows with a non-finite prediction are left out (reported above), the rest keep their alignment
    rows = np.flatnonzero(finite)
    y, p = data.y[rows], data.p[rows]
    groups = None if data.groups is None else np.asarray(data.groups)[rows]
    seen = None if data.seen is None else np.asarray(data.seen)[rows]
    scored = ~np.isnan(y).all(axis=1)
    if scored.sum() < 3:
        raise AffectlabError(f"{data.source}: only {int(scored.sum())} rows with gold labels and finite predictions; need at least 3")

    task = get_task(data.task)
    metrics = bootstrap_scores(data.task, y, p, data.specs, groups, seen, n_resamples=n_resamples, seed=seed)
    headline = task.primary
    unit = (task.unit + "s") if groups is not None else "rows"
    n_groups = None if groups is None else int(len(set(map(str, groups))))
    result = EvalResult(data.task, list(data.targets), int(len(rows)), n_groups, unit, metrics, headline=headline,
                        source=data.source, split=split, n_resamples=n_resamples)

    # per-target checks on the rows that have gold for that target
    for j, t in enumerate(data.targets):
        ok = ~np.isnan(y[:, j])
        if ok.sum() < 3:
            continue
        if data.specs[j].is_category:
            findings += class_findings(y[ok, j], p[ok, j], data.specs[j], metrics, train, j,
                                       None if groups is None else groups[ok], seed)
            continue
        g = None if groups is None else groups[ok]
        findings += dg.check_sign(y[ok, j], p[ok, j], g, t, n_resamples=min(n_resamples, 300), seed=seed)
        findings += dg.check_collapsed(y[ok, j], p[ok, j], t)
        rc = (recalibration or {}).get(t)
        findings += dg.check_scale(y[ok, j], p[ok, j], t, rc, task.score_scale_free)
        if rc is not None:
            from ..metrics.regression import ccc

            result.recalibration[t] = {"a": rc.a, "b": rc.b, "fitted_on": rc.fitted_on,
                                       "ccc_before": ccc(y[ok, j], p[ok, j]), "ccc_after": ccc(y[ok, j], rc.apply(p[ok, j]))}

    corr_key = _correlation_key(data.task)
    if corr_key in metrics:
        findings += dg.check_small_sample(metrics[corr_key], corr_key, int(len(rows)))
    findings += dg.check_references(metrics, applicable_to_rows(task.references if references is None else references,
                                                                data.ids.iloc[rows], groups),  # the benchmark's data only
                                    f"{split or 'evaluated'} predictions")

    # baselines: scored on the same rows, compared with the model on the headline key
    base_preds = {name: (bp[rows], oracle) for name, (bp, oracle) in _baseline_predictions(data, train).items()}
    for name, bp in (baselines or {}).items():
        base_preds[name] = (np.asarray(bp, dtype=float).reshape(len(data.y), -1)[rows], False)
    codes = group_codes(groups, len(rows))
    informative = "pearson" in metrics and metrics["pearson"].low > 0
    for i, (name, (bp, oracle)) in enumerate(base_preds.items()):
        if not np.isfinite(bp).all():
            continue
        result.baselines[name] = fast_scores(data.task, y, bp, data.specs, codes, seen)
        if headline not in metrics:
            continue
        cmp = paired_bootstrap(data.task, y, p, bp, data.specs, groups, [headline],
                               n_resamples=n_resamples, seed=seed + 1 + i)[headline]
        result.comparisons.append((name, cmp))
        findings += dg.check_below_baseline("model", name, cmp, oracle=oracle, informative=informative)

    if train is not None:
        findings += dg.check_id_overlap(data.ids.iloc[:, -1], train.ids, task.id_columns[-1])
        if data.texts is not None and train.texts is not None:
            findings += dg.check_text_overlap(data.texts.astype(str), train.texts.astype(str))
        if data.groups is not None and train.groups is not None:
            findings += dg.check_group_overlap(data.groups, train.groups, data.task, task.unit)
    result.findings = findings
    return result


def evaluate_files(pred: str | Path, gold: str | Path, train: str | Path | None = None, task: str | None = None, *,
                   n_resamples: int = N_RESAMPLES, seed: int = 0, trust_pickle: bool = False) -> EvalResult:
    """``affectlab evaluate --pred --gold [--train] [--task]`` as a library call."""
    data = load_eval_data(pred, gold, task, trust_pickle)
    if train is None and Path(gold).suffix.lower() in {".pkl", ".pickle"}:
        # an MMSA file defines its own training split: use it for baselines and leakage checks
        frame = read_gold(gold, data.task, trust_pickle)
        if "split" in frame and "train" in set(frame["split"]):
            train = gold
    train_data = load_train_data(train, data.task, data.specs, trust_pickle) if train is not None else None
    if train_data is not None and get_task(data.task).seen_subsets and data.seen is None and data.groups is not None:
        data.seen = np.isin(data.groups.astype(str), train_data.groups.astype(str))
    return evaluate_data(data, train_data, n_resamples=n_resamples, seed=seed)


# --------------------------------------------------------------------------- run directories

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


def pick_split(pred: pd.DataFrame, targets: Sequence[str], split: str | None = None) -> str:
    """``split`` if given, else test when it has gold labels, else val."""
    have = [s for s in ("test", "oof", "val", "full", "train") if s in set(pred["split"])
            and pred.loc[pred["split"] == s, list(targets)].notna().any().any()]
    if split is not None:
        if split not in have:
            raise AffectlabError(f"no labelled {split!r} rows in predictions.csv (have: {', '.join(have) or 'none'})")
        return split
    for s in ("test", "oof", "val", "full"):
        if s in have:
            return s
    raise AffectlabError("predictions.csv has no labelled test, out-of-fold, val or full rows to evaluate")


def run_specs(run: dict[str, Any]) -> list[TargetSpec]:
    """The run's targets with kinds and classes (old summaries: regression)."""
    declared = {t.name: t.spec() for t in run_summary(run).targets}
    return [declared.get(t, TargetSpec(t)) for t in run_targets(run)]


def run_eval_data(run: dict[str, Any], split: str) -> EvalData:
    pred = run["predictions"]
    targets = run_targets(run)
    specs = run_specs(run)
    task = run_summary(run).task or "regression"
    part = pred[pred["split"] == split].reset_index(drop=True)
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

    try:
        return RunConfig.model_validate(run["config"]).task_references()
    except (AffectlabError, ValueError, TypeError):
        return None


def evaluate_run(run_dir: str | Path, split: str | None = None, *, n_resamples: int = N_RESAMPLES, seed: int = 0) -> EvalResult:
    """Evaluate a run directory's predictions (test when present, else val) plus run-level checks."""
    from .scoring import higher_is_better

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
        part = bl[bl["split"] == split]
        for name, rows in part.groupby("baseline", sort=False):
            aligned = rows.set_index("id").reindex(data.ids["id"])
            cols = [f"pred_{t}" for t in targets]
            if all(c in aligned for c in cols) and aligned[cols].notna().all().all():
                base[name] = np.stack([target_values(s, aligned[f"pred_{s.name}"], f"pred_{s.name}", "baselines.csv",
                                               allow_nonfinite=True) for s in data.specs], axis=1)

    # recalibration fitted on validation predictions, offered when scoring test
    recal: dict[str, dg.Recalibration] = {}
    if split == "test" and "val" in set(pred["split"]):
        val = pred[pred["split"] == "val"]
        for t in [s.name for s in data.specs if not s.is_category]:
            ok = val[t].notna() & np.isfinite(val[f"pred_{t}"])
            rc = dg.fit_recalibration(val.loc[ok, t].to_numpy(float), val.loc[ok, f"pred_{t}"].to_numpy(float), "validation")
            if rc is not None:
                recal[t] = rc

    train_rows = pred[pred["split"] == "train"]
    train = None
    if len(train_rows) and split != "train":
        train = TrainData(train_rows["id"].astype(str).reset_index(drop=True),
                          train_rows["group"].astype(str).to_numpy() if "group" in train_rows else None,
                          None, np.stack([target_values(s, train_rows[s.name], s.name, "predictions.csv", allow_nonfinite=False)
                                          for s in data.specs], axis=1))
    result = evaluate_data(data, train, baselines=base, recalibration=recal, n_resamples=n_resamples, seed=seed, split=split,
                           references=_run_references(run))
    result.source = str(run["path"])
    # the constant baseline of evaluate_data duplicates the run's global_mean/majority: keep the run's own
    # (cross-validation runs have no train rows: there the duplicate is the gold-side oracle constant)
    if "global_mean" in base or "majority" in base:
        for constant in (_constant_name(data.specs, "train"), _constant_name(data.specs, "gold") + " (oracle)"):
            result.baselines.pop(constant, None)
            result.comparisons = [(n, c) for n, c in result.comparisons if n != constant]
            result.findings = [f for f in result.findings if not (f.code == "BELOW_BASELINE" and constant in f.message)]

    run_findings = dg.check_selection(summary)
    # ABOVE_STATE_OF_THE_ART that train raised for the baselines (the model's is recomputed below): the gap
    # between ridges on a file's own arrays and on re-encoded text stays visible in evaluate and report
    for f in (summary.model_extra or {}).get("findings") or []:
        if isinstance(f, dict) and f.get("code") == "ABOVE_STATE_OF_THE_ART" and ": baseline " in str(f.get("message")):
            run_findings.append(dg.Finding(f["code"], "warning", str(f["message"])))
    if split == "train":  # asked for explicitly (never the default): the rows the model was fitted on
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
    val_value = summary.metric("val", headline)
    if split == "test" and val_value is not None and headline in result.metrics:
        run_findings += dg.check_val_test(float(val_value), result.metrics[headline], headline)
    result.findings = run_findings + result.findings
    return result


def severity_counts(findings: Sequence[dg.Finding]) -> dict[str, int]:
    return {s: sum(f.severity == s for f in findings) for s in dg.SEVERITIES}


__all__ = [
    "EvalData", "EvalResult", "TrainData", "detect_task", "epoch_history", "evaluate_data", "evaluate_files",
    "evaluate_run", "check_gold_range", "declared_ranges", "load_eval_data", "load_run", "load_train_data", "pick_split", "read_gold", "run_summary",
    "severity_counts",
]
