"""Evaluate predictions against gold labels: pure scoring, from files or aligned arrays.

A run directory's own predictions are evaluated by :func:`affectlab.runs.evaluate.evaluate_run`,
which reads the run and hands its rows to :func:`evaluate_data`; this module reads no run.

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
    split: str | None = None  # the gold file's split these rows are (a gold file with a split column)

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
    specs: list[TargetSpec] = field(default_factory=list)  # the targets' kinds: which metrics a table shows

    def shown_metrics(self, limit: int | None = None, *, per_target: bool = True) -> list[str]:
        """The keys a table of this result shows, headline first: what the task shows for these
        targets (:meth:`affectlab.tasks.Task.shown_metrics`), as far as the result has them
        (``per_target=False``: only means over the targets, e.g. for the seen/unseen subsets).

        >>> r = EvalResult("classification", ["e"], 9, None, "rows", {k: None for k in ("score", "uar", "accuracy",
        ...                "macro_f1", "uar_e")}, headline="score", specs=[TargetSpec("e", kind="category", classes=("a", "b"))])
        >>> r.shown_metrics()
        ['score', 'uar', 'accuracy', 'macro_f1']
        """
        specs = self.specs or [TargetSpec(t) for t in self.targets]
        keys = [k for k in dict.fromkeys([self.headline, *get_task(self.task).shown_metrics(specs)]) if k in self.metrics
                and (per_target or not any(k.endswith(f"_{t.name}") for t in specs))]
        return keys if limit is None else keys[:limit]

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
    reader = gold_reader(gold_path) if gold_path is not None else None
    return (_reader_hook(reader, "GOLD_TASK") if reader else None) or "regression"


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


#: gold files that are not tables, by suffix: the corpus reader whose ``read_gold`` reads them
#: (``affectlab.corpus.<reader>.read_gold(path, trust_pickle=...)``; its optional ``GOLD_TASK`` names
#: the task when none is given, its ``groups_from_ids`` the groups hidden in its ids)
GOLD_READERS = {".pkl": "mmsa", ".pickle": "mmsa"}
#: readers asked for the groups hidden in ids when a gold table has no group column
ID_GROUP_READERS = ("mmsa",)

_GOLD_CACHE: dict[tuple, pd.DataFrame] = {}


def gold_reader(path: str | Path) -> str | None:
    """The corpus reader that reads a non-table gold file (None: a CSV/TSV/Parquet table).

    >>> gold_reader("data/mosi.pkl"), gold_reader("gold.csv")
    ('mmsa', None)
    """
    return GOLD_READERS.get(Path(path).suffix.lower())


def _reader_hook(reader: str, name: str) -> Any:
    """A reader module's gold hook (``read_gold``, ``GOLD_TASK``, ``groups_from_ids``), None when absent."""
    import importlib

    try:
        module = importlib.import_module(f"affectlab.corpus.{reader}")
    except ImportError:
        return None
    return getattr(module, name, None)


def read_gold(path: str | Path, task: str = "", trust_pickle: bool = False) -> pd.DataFrame:
    """Gold labels as a string table: a table file as it is, another format through its reader's
    ``read_gold`` (an MMSA pickle becomes ``id, group, split, text, sentiment``)."""
    p = Path(path)
    reader = gold_reader(p)
    if reader is None:
        return read_table(p)
    if not p.is_file():
        raise AffectlabError(f"{p}: no such file")
    read = _reader_hook(reader, "read_gold")
    if read is None:
        raise AffectlabError(f"{p}: reading {p.suffix} gold files needs affectlab.corpus.{reader}, which this "
                             "installation lacks; give the gold labels as a CSV table")
    # gold and train are often the same file: read it once per process
    key = (str(p.resolve()), p.stat().st_mtime_ns, trust_pickle)
    if key not in _GOLD_CACHE:
        _GOLD_CACHE.clear()
        _GOLD_CACHE[key] = read(p, trust_pickle=trust_pickle)
    return _GOLD_CACHE[key].copy()


def _column(frame: pd.DataFrame, names: Sequence[str]) -> pd.Series | None:
    """The first of ``names`` in a merged table, preferring the gold side (suffix ``__gold``)."""
    for col in names:
        for c in (col + "__gold", col):
            if c in frame:
                return frame[c]
    return None


def _groups_for(task: str, frame: pd.DataFrame, ids: pd.DataFrame) -> np.ndarray | None:
    """Each row's group: a group-like column (an id column such as ``user_id`` too), or the group a
    reader finds in the ids (MOSI-style ``<video>$_$<clip>``); ``None`` when the rows have no groups."""
    col = _column(frame, GROUP_COLUMNS)
    if col is None:
        col = next((ids[c] for c in GROUP_COLUMNS if c in ids), None)
    if col is not None:
        return _strip(col).to_numpy()
    for reader in ID_GROUP_READERS:  # ids that carry their group (MOSI's <video>$_$<clip>)
        groups_from_ids = _reader_hook(reader, "groups_from_ids")
        found = None if groups_from_ids is None else groups_from_ids(ids.iloc[:, -1].tolist())
        if found is not None:
            return np.asarray(found)
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


def check_numeric_columns(gold: pd.DataFrame, targets: Sequence[str], keys: Sequence[str], source: str) -> None:
    """Refuse a mostly numeric gold column with a cell that is not a number, naming the cell: auto-detected
    class targets are columns of names, and one bad cell must not turn valence into classes.

    >>> gold = pd.DataFrame({"id": ["1", "2", "3"], "valence": ["0.5", "abc", "1.5"]})
    >>> check_numeric_columns(gold, ["valence"], ["id"], "gold.csv")
    Traceback (most recent call last):
    ...
    affectlab.core.errors.AffectlabError: gold.csv: valence value 'abc' in data row 2 (id 2) is not a number, while 2 of the column's 3 labels are; fix the cell (a column of class names is scored as classes)
    >>> check_numeric_columns(pd.DataFrame({"id": ["1", "2"], "e": ["sad", "happy"]}), ["e"], ["id"], "gold.csv")
    """
    for t in targets:
        if t not in gold:
            continue
        values = _strip(gold[t])
        labelled = ~values.isin(_MISSING)
        numeric = pd.to_numeric(values.where(labelled), errors="coerce").notna()
        names = labelled & ~numeric
        if names.any() and int(numeric.sum()) > int(names.sum()):
            i = int(np.flatnonzero(names.to_numpy())[0])
            key = "/".join(_strip(gold[k]).iloc[i] for k in keys if k in gold)
            raise AffectlabError(f"{source}: {t} value {values.iloc[i]!r} in data row {i + 1} ({'/'.join(keys)} {key}) is "
                                 f"not a number, while {int(numeric.sum())} of the column's {int(labelled.sum())} labels "
                                 "are; fix the cell (a column of class names is scored as classes)")


def _one_split(gold: pd.DataFrame, pred: pd.DataFrame, keys: Sequence[str], split: str | None, gold_path: str,
               pred_path: str) -> tuple[pd.DataFrame, pd.DataFrame, str | None, list[dg.Finding]]:
    """The gold rows of one split, and the predictions of them: ``split`` when given, else the one
    split the predictions cover; predictions covering several splits without ``split`` are refused
    (one score over training and test rows measures neither). Predictions of the gold file's other
    splits are left out with a note; rows of the split without a prediction are reported later."""
    name = Path(gold_path).name
    gold = gold.assign(split=_strip(gold["split"]))
    gold_split = pd.Series(gold["split"].to_numpy(), index=pd.MultiIndex.from_frame(gold[list(keys)]))
    pred_index = pd.MultiIndex.from_frame(pred[list(keys)].astype(str).apply(lambda c: c.str.strip()))
    pred_split = gold_split.reindex(pred_index)  # NaN: an id the gold file lacks (refused after the join)
    covered = sorted(set(pred_split.dropna()))
    have = list(dict.fromkeys(gold["split"]))
    if split is None:
        if len(covered) > 1:
            counts = pred_split.value_counts()
            parts = ", ".join(f"{s} ({int(counts[s])} rows)" for s in covered)
            hint = "test" if "test" in covered else covered[0]
            raise AffectlabError(f"{pred_path}: the predictions cover several splits of {name}: {parts}; one score over "
                                 f"them mixes rows the model may have been fitted or tuned on with held-out rows: give "
                                 f"--split {hint} (or another) to score one split")
        if not covered:
            return gold, pred, None, []  # no id matches: said after the join
        split = covered[0]
    elif split not in have:
        raise AffectlabError(f"{gold_path}: no rows of split {split!r} (its splits: {', '.join(have)})")
    other = pred_split.notna().to_numpy() & (pred_split != split).to_numpy()
    notes = []
    if other.any():
        left = sorted(set(pred_split[other]))
        notes.append(dg.Finding("OTHER_SPLITS_LEFT_OUT", "info",
                                f"{int(other.sum())} predictions of split(s) {', '.join(left)} of {name} are left out: "
                                f"scored split {split} only"))
    return gold[gold["split"] == split].reset_index(drop=True), pred[~other].reset_index(drop=True), split, notes


def load_eval_data(pred_path: str | Path, gold_path: str | Path, task: str | None = None,
                   trust_pickle: bool = False, split: str | None = None) -> EvalData:
    """Read and join predictions and gold on the task's id columns (one-line errors on bad input).

    ``split``: the rows of a gold file with a ``split`` column to score (see :func:`_one_split`)."""
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
    check_numeric_columns(gold, targets, keys, str(gold_path))  # before class targets are detected below
    for frame, src in ((pred, pred_path), (gold, gold_path)):
        for k in keys:
            frame[k] = _strip(frame[k])
        dup = frame.duplicated(keys)
        if dup.any():
            first = frame.loc[dup, keys].iloc[0].tolist()
            raise AffectlabError(f"{src}: {int(dup.sum())} duplicate {'/'.join(keys)} rows (first: {'/'.join(first)})")

    # a gold file with a split column is scored one split at a time: the one asked for, or the one
    # split the predictions cover (several without --split: refused, one score would mix them)
    early: list[dg.Finding] = []
    if "split" in gold:
        gold, pred, split, early = _one_split(gold, pred, keys, split, str(gold_path), str(pred_path))
    elif split is not None:
        raise AffectlabError(f"{gold_path}: no 'split' column, so --split {split} names no rows; without it every "
                             "predicted row is scored")

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
    return EvalData(task, targets, ids, y, p, groups, seen, texts, src, early, specs, split)


def load_train_data(path: str | Path, task: str, targets: Sequence["str | TargetSpec"], trust_pickle: bool = False) -> TrainData:
    """The training file given with ``--train`` (for baselines and leakage checks)."""
    frame = read_gold(path, task, trust_pickle)
    if "split" in frame and "train" in set(_strip(frame["split"])):  # a file with splits: its training split
        frame = frame[_strip(frame["split"]) == "train"].reset_index(drop=True)
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


def constant_baseline_name(specs: Sequence[TargetSpec], source: str) -> str:
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
        out[constant_baseline_name(data.specs, "train")] = (np.tile(mean, (n, 1)), False)
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
        out[constant_baseline_name(data.specs, "gold") + " (oracle)"] = (np.tile(_train_constant(data.y, data.specs), (n, 1)), True)
    return out


def evaluate_data(data: EvalData, train: TrainData | None = None, *, baselines: dict[str, np.ndarray] | None = None,
                  recalibration: dict[str, dg.Recalibration] | None = None, n_resamples: int = N_RESAMPLES,
                  seed: int = 0, split: str | None = None, references: Sequence | None = None) -> EvalResult:
    """Metrics with CIs, baselines and findings for aligned data.

    ``baselines``: extra real baseline predictions on the same rows (e.g. a run's baselines.csv);
    ``recalibration``: per-target maps fitted on validation data (offered by SCALE_MISMATCH);
    ``references``: the published results to check against (default: the task's; a run's own
    config may add more, see :func:`affectlab.experiment.task_references`).
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
                        source=data.source, split=split, n_resamples=n_resamples, specs=list(data.specs))

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
                   n_resamples: int = N_RESAMPLES, seed: int = 0, trust_pickle: bool = False,
                   split: str | None = None) -> EvalResult:
    """``affectlab evaluate --pred --gold [--train] [--task] [--split]`` as a library call; a gold file
    with a ``split`` column is scored on one split (``split``, else the one the predictions cover)."""
    data = load_eval_data(pred, gold, task, trust_pickle, split)
    if train is None and data.split is not None and data.split != "train":
        # a gold file with splits defines its own training split: used for baselines and leakage checks
        frame = read_gold(gold, data.task, trust_pickle)
        if "train" in set(_strip(frame["split"])):
            train = gold
    train_data = load_train_data(train, data.task, data.specs, trust_pickle) if train is not None else None
    if (train_data is not None and get_task(data.task).seen_subsets and data.seen is None and data.groups is not None
            and train_data.groups is not None):
        data.seen = np.isin(data.groups.astype(str), train_data.groups.astype(str))
    return evaluate_data(data, train_data, n_resamples=n_resamples, seed=seed, split=data.split)


def severity_counts(findings: Sequence[dg.Finding]) -> dict[str, int]:
    return {s: sum(f.severity == s for f in findings) for s in dg.SEVERITIES}


__all__ = [
    "EvalData", "EvalResult", "TrainData", "check_gold_range", "class_findings", "constant_baseline_name", "declared_ranges",
    "detect_task", "evaluate_data", "evaluate_files", "load_eval_data", "load_train_data", "read_gold", "severity_counts",
    "target_values",
]
