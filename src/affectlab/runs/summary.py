"""The typed run summary: what ``summary.json`` holds (layout: docs/run-directory.md).

:class:`RunSummary` is the one description of a finished run that training, transfer and sweeps
write and that evaluate, compare, report and tracking read. Every field has a default, so a
summary written by an older release (or a hand-made one in a test) still reads; keys this
release does not know are kept as they are (``extra="allow"``) and written back unchanged.

A metric that is undefined on the run's samples (a within-user correlation when every user has
one text, a correlation of constant predictions) is NaN. JSON has no portable NaN, so it is
stored as ``null`` with a one-line reason in ``nan_reasons`` (keyed by the value's path, e.g.
``metrics.val.r_within_valence`` or ``baselines.global_mean.val.pearson_valence``);
:meth:`RunSummary.value` reads it back as NaN, :meth:`RunSummary.nan_reason` says why, and
:meth:`RunSummary.nan_notes` gives the lines a command prints. :meth:`RunSummary.explain_nans`
fills the reasons from the run's predictions (``RunDir.write_summary`` calls it).

Cross-validation runs add ``protocol`` (what was split and how), ``folds`` (one record per fold),
``pooled`` (metrics of the pooled out-of-fold predictions) and ``cis`` (bootstrap intervals).

>>> s = RunSummary.from_dict({"task": "generic", "model": "global_mean",
...                           "targets": [{"name": "v", "low": -1, "high": 1}],
...                           "metrics": {"val": {"ccc": 0.5, "mae": None}},
...                           "selection": {"split": "val", "monitor": "ccc"}, "custom": 1})
>>> s.metric("val", "ccc"), s.metric("test", "ccc"), s.monitor, s.evaluated_split
(0.5, None, 'ccc', 'val')
>>> s.targets[0].kind, s.target_specs()[0].high
('regression', 1.0)
>>> d = s.to_dict(); d["custom"], "folds" in d, d["metrics"]["val"]["mae"] is None
(1, False, True)
>>> s.value("val", "mae"), s.nan_reason("val", "mae"), s.nan_reason("val", "ccc")
(nan, 'undefined on these samples (no reason recorded)', None)
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from collections import Counter
from collections.abc import Sequence
from typing import Annotated, Any, Optional

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, ValidationError, field_validator

from ..corpus.base import TargetSpec
from ..core.errors import AffectlabError
from ..core.io import file_sha256, unreadable
from ..evaluation.bootstrap import Interval

#: ``{split: {flat metric key: value}}``; a NaN metric is written as null and read as None
SplitMetrics = dict[str, dict[str, Optional[float]]]
#: sections only some runs have: left out of summary.json when absent
OPTIONAL_SECTIONS = ("protocol", "folds", "pooled", "cis", "source_model", "source_run", "n_adapter_params",
                     "source_data", "transfer", "mmd", "mapping", "transfer_comparison", "cross_corpus")


class _Open(BaseModel):
    """Known fields typed; unknown keys kept (summaries from other releases round-trip)."""

    model_config = ConfigDict(extra="allow")


class TargetInfo(_Open):
    """A target as the run saw it (``TargetSpec.describe()``)."""

    name: str
    low: Optional[float] = None
    high: Optional[float] = None
    kind: str = "regression"
    classes: list[str] = Field(default_factory=list)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in ("regression", "category"):
            raise ValueError(f"kind must be regression or category, not {value!r}")
        return value

    @classmethod
    def of(cls, spec: TargetSpec) -> "TargetInfo":
        return cls.model_validate(spec.describe())

    def spec(self) -> TargetSpec:
        return TargetSpec.from_dict(self.model_dump())


class Selection(_Open):
    """How the reported model was chosen; ``test_used_for_selection`` must stay false."""

    split: Optional[str] = None
    monitor: Optional[str] = None
    test_used_for_selection: bool = False
    test_evaluated_once: Optional[bool] = None


class Timings(_Open):
    """Seconds per stage (``per_epoch``: fit seconds per epoch run)."""

    features: Optional[float] = None
    fit: Optional[float] = None
    refit: Optional[float] = None
    predict: Optional[float] = None
    total: Optional[float] = None
    per_epoch: Optional[float] = None


class DataInfo(_Open):
    """Where the training data came from: a file (path, sha256) or an in-memory table."""

    path: Optional[str] = None
    sha256: Optional[str] = None
    n_rows: Optional[int] = None

    @classmethod
    def of(cls, data: "str | Path | pd.DataFrame") -> "DataInfo":
        """Describe ``data``: a file by its resolved path and sha256, a DataFrame by a content hash.

        >>> DataInfo.of(pd.DataFrame({"a": [1, 2]})).path is None
        True
        """
        if isinstance(data, pd.DataFrame):
            digest = hashlib.sha256(pd.util.hash_pandas_object(data, index=False).to_numpy().tobytes())
            digest.update(",".join(map(str, data.columns)).encode())
            return cls(path=None, sha256=digest.hexdigest(), n_rows=len(data), source="DataFrame")
        p = Path(data)
        return cls(path=str(p.resolve()), sha256=file_sha256(p) if p.is_file() else None)


class Protocol(_Open):
    """A cross-validation protocol: ``kind`` (group_kfold, leave_one_group_out, kfold), ``k``,
    ``n_folds`` actually run, ``seed`` (of the split), and ``varied`` (what another ``--seed``
    changes, e.g. ``fold assignment``); written by :meth:`affectlab.protocols.CrossValidation.describe`."""

    kind: str
    k: Optional[int] = None
    n_folds: Optional[int] = None
    seed: Optional[int] = None
    varied: Optional[str] = None


class Fold(_Open):
    """One fold: its metrics per split, sizes, the held-out groups and its fit seconds."""

    index: int
    metrics: SplitMetrics = Field(default_factory=dict)
    sizes: dict[str, Optional[int]] = Field(default_factory=dict)
    groups: list[str] = Field(default_factory=list)
    best_epoch: Optional[int] = None
    seconds: Optional[float] = None
    #: what the fold's fit chose and reports (``FitResult.extra``): ``selected`` (C, gamma per target), ``alpha``...
    fit: dict[str, Any] = Field(default_factory=dict)


def _interval(raw: Any) -> Interval:
    if isinstance(raw, Interval):
        return raw
    if isinstance(raw, dict):
        return Interval.from_dict(raw)
    raise ValueError("an interval is an object with value, ci_low and ci_high")


#: the one interval type (:class:`affectlab.evaluation.bootstrap.Interval`), stored as
#: ``{"value", "ci_low", "ci_high"}`` in summary.json
SummaryInterval = Annotated[Interval, PlainValidator(_interval), PlainSerializer(lambda i: i.as_dict(), return_type=dict)]


class TransferInfo(_Open):
    """What a transfer run adapted: K, the K labelled target ids, adapters per modality, stages."""

    k: int = 0
    k_ids: list[str] = Field(default_factory=list)
    adapters: dict[str, dict[str, Any]] = Field(default_factory=dict)
    stages: list[str] = Field(default_factory=list)
    shared_modalities: list[str] = Field(default_factory=list)


class TransferComparison(_Open):
    """The transfer comparison on the target test split: each row's intervals, paired differences
    against ``adapted``, and the verdict lines (:func:`affectlab.transfer.run.compare_rows`)."""

    split: str = "test"
    n: int = 0
    k: int = 0
    headline: str = ""
    unit: str = "video"
    n_units: Optional[int] = None
    #: ``{row: {key: interval}}``, rows e.g. ``adapted``, ``scratch_k``, ``oracle``
    rows: dict[str, dict[str, SummaryInterval]] = Field(default_factory=dict)
    #: ``{row: {key: paired bootstrap result}}`` against ``adapted``
    paired: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    verdict: list[str] = Field(default_factory=list)


class RunSummary(_Open):
    """``summary.json`` of one run, typed (see the module docstring)."""

    task: str = ""
    model: str = ""
    targets: list[TargetInfo] = Field(default_factory=list)
    metrics: SplitMetrics = Field(default_factory=dict)
    #: ``{baseline: {split: {key: value}}}``
    baselines: dict[str, SplitMetrics] = Field(default_factory=dict)
    baseline_fit_seconds: dict[str, float] = Field(default_factory=dict)
    best_epoch: Optional[int] = None
    epochs_run: Optional[int] = None
    n_params: Optional[int] = None
    timings: Timings = Field(default_factory=Timings)
    peak_memory_mb: Optional[float] = None
    selection: Selection = Field(default_factory=Selection)
    #: ``{split: n_samples}`` and ``{split: n_groups}``
    splits: dict[str, int] = Field(default_factory=dict)
    n_groups: dict[str, int] = Field(default_factory=dict)
    #: ``{modality: count}`` of replaced non-finite feature values
    nonfinite: dict[str, Any] = Field(default_factory=dict)
    #: text-feature statistics (encoder, cache hits...)
    features: dict[str, Any] = Field(default_factory=dict)
    data: DataInfo = Field(default_factory=DataInfo)
    refit_full: bool = False
    #: a sweep or ablation trial: the protocol's scores only, no model refitted on all data (a
    #: cross-validation trial's checkpoint holds no model at all; predict refuses it)
    scores_only: bool = False
    #: what the model's fits report about themselves (hold-out runs): ``{"fit": {...}, "refit": {...}}``,
    #: e.g. ``user_level_kernel``'s ``n_train``, ``n_users``, ``landmarks`` (the m that ``auto`` chose)
    fit: dict[str, Any] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    argv: list[str] = Field(default_factory=list)
    #: why a value stored as null is NaN: ``{"metrics.val.r_within": "no user has two or more samples in val"}``
    nan_reasons: dict[str, str] = Field(default_factory=dict)
    # --- cross-validation (absent for hold-out runs)
    protocol: Optional[Protocol] = None
    folds: Optional[list[Fold]] = None
    pooled: Optional[dict[str, Optional[float]]] = None
    #: ``{part: {key: interval}}``, part e.g. ``pooled`` or ``test``
    cis: Optional[dict[str, dict[str, SummaryInterval]]] = None
    # --- transfer runs (affectlab transfer)
    source_model: Optional[str] = None
    source_run: Optional[str] = None
    n_adapter_params: Optional[int] = None
    source_data: Optional[dict[str, Any]] = None
    transfer: Optional[TransferInfo] = None
    mmd: Optional[dict[str, Any]] = None
    mapping: Optional[dict[str, Any]] = None
    transfer_comparison: Optional[TransferComparison] = None

    # ------------------------------------------------------------------ reading and writing
    @classmethod
    def from_dict(cls, raw: Any, source: str = "summary.json") -> "RunSummary":
        """Validate a parsed summary; a malformed one is a one-line :class:`AffectlabError`."""
        if not isinstance(raw, dict):
            raise AffectlabError(f"{source}: expected a JSON object")
        try:
            return cls.model_validate(raw)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(top level)"
            raise AffectlabError(f"{source}: {where}: {first['msg']}") from None

    @classmethod
    def read(cls, path: str | Path) -> "RunSummary":
        """Read a ``summary.json`` file (one-line errors for missing, unreadable or malformed files)."""
        return cls.from_dict(read_json_object(path), str(path))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data, sections this run does not have left out (NaN values become null)."""
        out = self.model_dump(mode="json")
        for key in OPTIONAL_SECTIONS:
            if out.get(key) is None:
                out.pop(key, None)
        if not out.get("nan_reasons"):
            out.pop("nan_reasons", None)
        return _nan_to_none(out)

    # ------------------------------------------------------------------ questions readers ask
    def metric(self, split: str, key: str) -> float | None:
        """``metrics[split][key]``, or None when the run has no such value or it is undefined (NaN)."""
        value = self.metrics.get(split, {}).get(key)
        return None if value is None or not math.isfinite(value) else value

    def value(self, split: str, key: str, baseline: str | None = None) -> float:
        """A metric of the model (or of ``baseline``) as a float: NaN when undefined or absent."""
        metrics = self.metrics if baseline is None else self.baselines.get(baseline, {})
        value = metrics.get(split, {}).get(key)
        return float("nan") if value is None else float(value)

    def nan_reason(self, split: str, key: str, baseline: str | None = None) -> str | None:
        """Why a metric the run has is NaN (None when it is a number or the run has no such key)."""
        metrics = self.metrics if baseline is None else self.baselines.get(baseline, {})
        if key not in metrics.get(split, {}) or math.isfinite(self.value(split, key, baseline)):
            return None
        return self.nan_reasons.get(_path(split, key, baseline), GENERIC_REASON)

    def nan_notes(self, splits: Optional[Sequence[str]] = None, keys: Optional[Sequence[str]] = None) -> list[str]:
        """One line per root cause of the model's NaN metrics (of ``splits`` and ``keys``, default all):
        ``"NaN: r_within, score and 3 more on train, val: no user has two or more samples..."``;
        composites are listed under the cause of the part they depend on."""
        import re

        grouped: dict[str, tuple[list[str], list[str]]] = {}
        for split, values in self.metrics.items():
            if splits is not None and split not in splits:
                continue
            for key in values:
                if keys is not None and key not in keys:
                    continue
                reason = self.nan_reason(split, key)
                if reason is None:
                    continue
                root = reason.rsplit("which is NaN: ", 1)[-1]
                root = re.sub(r" \((un)?seen \w+\)", "", _strip_split(root, split))
                ks, ss = grouped.setdefault(root, ([], []))
                shown = key.rpartition("/")[2]
                if shown not in ks:
                    ks.append(shown)
                if split not in ss:
                    ss.append(split)
        lines = []
        for reason, (ks, ss) in grouped.items():
            shown = ", ".join(ks[:5]) + (f" and {len(ks) - 5} more" if len(ks) > 5 else "")
            lines.append(f"NaN: {shown} on {', '.join(ss)}: {reason}")
        return lines

    def explain_nans(self, predictions: Optional[pd.DataFrame], baselines: Optional[pd.DataFrame] = None) -> "RunSummary":
        """Record a reason for every NaN value that has none, from the run's predictions (in place)."""
        try:
            found = explain_summary_nans(self, predictions, baselines)
        except Exception:  # noqa: BLE001 (a reason is a courtesy: never fail a run over it)
            found = {}
        for path in self._nan_paths():
            if path not in self.nan_reasons:
                self.nan_reasons[path] = found.get(path, GENERIC_REASON)
        return self

    def _nan_paths(self) -> list[str]:
        paths = [_path(sp, k) for sp, vals in self.metrics.items() for k, v in vals.items() if _undefined(v)]
        paths += [_path(sp, k, b) for b, per in self.baselines.items() for sp, vals in per.items()
                  for k, v in vals.items() if _undefined(v)]
        paths += [f"pooled.{k}" for k, v in (self.pooled or {}).items() if _undefined(v)]
        for fold in self.folds or []:
            paths += [f"folds.{fold.index}.{sp}.{k}" for sp, vals in fold.metrics.items() for k, v in vals.items()
                      if _undefined(v)]
        return paths

    @property
    def monitor(self) -> str:
        """The metric selection followed (``score`` when not recorded)."""
        return self.selection.monitor or "score"

    @property
    def evaluated_split(self) -> str | None:
        """The split the run is judged on (:func:`affectlab.runs.headline_split`: test, else val, else
        oof...), None when it scored none of them."""
        from .vocabulary import headline_split

        try:
            return headline_split(self).value
        except AffectlabError:
            return None

    def selected_settings(self) -> dict[str, Any]:
        """The hyper-parameters the model's fits chose (:func:`chosen_settings`): ``{"refit": {...}}``
        plus ``{"fit": {...}}`` (hold-out: the fit on the training part) or ``{"folds": [{...}, ...]}``
        (cross-validation: each training fold's own choice)."""
        names = self.target_names()
        out: dict[str, Any] = {}
        if self.folds:
            out["folds"] = [chosen_settings(f.fit, names) for f in self.folds]
        elif self.fit.get("fit"):
            out["fit"] = chosen_settings(self.fit["fit"], names)
        if self.fit.get("refit"):
            out["refit"] = chosen_settings(self.fit["refit"], names)
        return {k: v for k, v in out.items() if v and any(v if isinstance(v, list) else [v])}

    def selection_line(self) -> str | None:
        """One line saying what selection chose: ``selected C: 0.01 in 7 folds, 0.1 in 3; refit on all
        data: C 0.01`` (None when the model selects nothing).

        >>> s = RunSummary.from_dict({"targets": [{"name": "e", "kind": "category", "classes": ["a", "b"]}],
        ...     "protocol": {"kind": "leave_one_group_out"}, "fit": {"refit": {"selected": [{"C": 0.01}]}},
        ...     "folds": [{"index": i, "fit": {"selected": [{"C": c}]}} for i, c in enumerate([0.01, 0.1, 0.01])]})
        >>> s.selection_line()
        'selected C: 0.01 in 2 folds, 0.1 in 1; refit on all data: C 0.01'
        """
        chosen = self.selected_settings()
        parts = []
        if "folds" in chosen:
            keys = list(dict.fromkeys(k for fold in chosen["folds"] for k in fold))
            for key in keys:
                counts = Counter(_short(fold[key]) for fold in chosen["folds"] if key in fold)
                ranked = [f"{v} in {n} fold{'s' if n > 1 else ''}" if i == 0 else f"{v} in {n}"
                          for i, (v, n) in enumerate(counts.most_common())]
                parts.append(f"selected {key}: " + ", ".join(ranked))
        if "fit" in chosen:
            parts.append("selected " + ", ".join(f"{k} {_short(v)}" for k, v in chosen["fit"].items()))
        if "refit" in chosen:
            parts.append("refit on all data: " + ", ".join(f"{k} {_short(v)}" for k, v in chosen["refit"].items()))
        return "; ".join(parts) or None

    def layer_weights_line(self) -> str | None:
        """The learned layer weights (``mlp`` with ``layer_weights``) of the final model, one line per
        modality joined by "; " (the refit's, else the fit's, else the mean of the folds'); None without.

        >>> RunSummary.from_dict({"fit": {"fit": {"layer_weights": {"audio_ssl": [0.2, 0.5, 0.3]}}}}).layer_weights_line()
        'layer weights audio_ssl: 0.200 0.500 0.300 (largest: layer 1)'
        >>> s = RunSummary.from_dict({"protocol": {"kind": "kfold"}, "folds": [
        ...     {"index": i, "fit": {"layer_weights": {"a": w}}} for i, w in enumerate([[0.2, 0.8], [0.4, 0.6]])]})
        >>> s.layer_weights_line()
        'layer weights a (mean of 2 folds): 0.300 0.700 (largest: layer 1)'
        """
        weights, where = None, ""
        for part in ("refit", "fit"):
            weights = weights or (self.fit.get(part) or {}).get("layer_weights")
        if not weights and self.folds:
            per = [f.fit["layer_weights"] for f in self.folds if f.fit.get("layer_weights")]
            if per:
                weights = {m: np.mean([p[m] for p in per if m in p], axis=0).tolist() for m in per[0]}
                where = f" (mean of {len(per)} fold{'s' if len(per) > 1 else ''})"
        if not isinstance(weights, dict) or not weights:
            return None
        return "; ".join(f"layer weights {m}{where}: {' '.join(f'{float(v):.3f}' for v in w)} (largest: layer {int(np.argmax(w))})"
                         for m, w in weights.items())

    @property
    def is_cross_validation(self) -> bool:
        return self.protocol is not None

    def target_names(self) -> list[str]:
        return [t.name for t in self.targets]

    def target_specs(self) -> tuple[TargetSpec, ...]:
        return tuple(t.spec() for t in self.targets)


GENERIC_REASON = "undefined on these samples (no reason recorded)"


def chosen_settings(facts: dict[str, Any], targets: Sequence[str] = ()) -> dict[str, Any]:
    """The hyper-parameters one fit chose, flat, from what it reported (``FitResult.extra``):
    ``selected`` (one dict per target: the classifiers' C, gamma...) and ``alpha`` (the ridges' penalty
    per target); facts about the data (``n_train``, ``landmarks``...) are not choices. With several
    targets each name carries its target.

    >>> chosen_settings({"selected": [{"C": 0.01, "gamma": 0.1}], "n_train": 40})
    {'C': 0.01, 'gamma': 0.1}
    >>> chosen_settings({"alpha": {"valence": 10.0, "arousal": 1.0}}, ["valence", "arousal"])
    {'alpha[valence]': 10.0, 'alpha[arousal]': 1.0}
    """
    out: dict[str, Any] = {}
    selected = facts.get("selected")
    if isinstance(selected, list):
        for j, choice in enumerate(selected):
            if not isinstance(choice, dict):
                continue
            for key, value in choice.items():
                name = key if len(selected) == 1 else f"{key}[{targets[j] if j < len(targets) else j}]"
                out[name] = value
    alpha = facts.get("alpha")
    if isinstance(alpha, dict):
        out.update({f"alpha[{t}]" if len(alpha) > 1 else "alpha": v for t, v in alpha.items()})
    elif isinstance(alpha, list):
        out.update({f"alpha[{targets[j] if j < len(targets) else j}]" if len(alpha) > 1 else "alpha": v
                    for j, v in enumerate(alpha)})
    return out


def _short(value: Any) -> str:
    """A chosen value as printed: numbers with 3 significant digits.

    >>> _short(0.0031622776), _short("scale"), _short(10.0)
    ('0.00316', 'scale', '10')
    """
    return f"{value:.3g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def _path(split: str, key: str, baseline: str | None = None) -> str:
    return f"metrics.{split}.{key}" if baseline is None else f"baselines.{baseline}.{split}.{key}"


def _undefined(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def _strip_split(reason: str, split: str) -> str:
    """A reason without its split name, so the same reason on two splits prints once."""
    return reason.replace(f" in {split}", "").replace(f" of {split}", "")


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_nan_to_none(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def read_json_object(path: str | Path) -> dict[str, Any]:
    """A JSON file that must hold an object: one-line :class:`AffectlabError` for every way it can
    be missing, unreadable, truncated, not JSON or not an object."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AffectlabError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise AffectlabError(f"{p}: is a folder, not a JSON file") from None
    except UnicodeDecodeError:
        raise AffectlabError(f"{p}: not valid JSON (not UTF-8 text)") from None
    except OSError as err:
        raise unreadable(p, err) from None
    if not text.strip():
        raise AffectlabError(f"{p}: empty file (an interrupted write?)")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise AffectlabError(f"{p}: not valid JSON, truncated or corrupt ({err.msg}, line {err.lineno})") from None
    except (ValueError, RecursionError):
        raise AffectlabError(f"{p}: not valid JSON") from None
    if not isinstance(raw, dict):
        kind = {list: "an array", str: "a string", bool: "true or false", int: "a number", float: "a number"}
        raise AffectlabError(f"{p}: expected a JSON object, found {kind.get(type(raw), 'null')}")
    return raw


# ---------------------------------------------------------------------------------------------
# Why a metric is NaN: inferred from the rows it was computed on

_CORRELATIONS = ("r_", "ccc", "pearson", "spearman", "corr", "score", "f1", "uar", "acc")


def explain_summary_nans(summary: RunSummary, predictions: Optional[pd.DataFrame],
                         baselines: Optional[pd.DataFrame] = None) -> dict[str, str]:
    """``{path: reason}`` for the NaN metrics of ``summary`` (model, baselines, pooled, folds)."""
    if predictions is None or "split" not in predictions:
        return {}
    targets = summary.target_names()
    unit = _unit(summary.task)
    out: dict[str, str] = {}
    pred = predictions
    for split, values in summary.metrics.items():
        rows = pred[pred["split"].astype(str) == split]
        out.update(_explain_split(values, rows, targets, unit, split, lambda k, sp=split: _path(sp, k)))
    pooled_rows = pred[pred["split"].astype(str) == "oof"]
    out.update(_explain_split(summary.pooled or {}, pooled_rows, targets, unit, "oof", lambda k: f"pooled.{k}"))
    for fold in summary.folds or []:
        for split, values in fold.metrics.items():
            rows = pred[pred["split"].astype(str) == split]
            if "fold" in pred:
                rows = rows[pd.to_numeric(rows["fold"], errors="coerce") == fold.index]
                if rows.empty:
                    oof = pred[pred["split"].astype(str) == "oof"]
                    rows = oof[pd.to_numeric(oof["fold"], errors="coerce") == fold.index]
            out.update(_explain_split(values, rows, targets, unit, f"fold {fold.index} {split}",
                                      lambda k, sp=split, i=fold.index: f"folds.{i}.{sp}.{k}"))
    if baselines is not None and {"split", "id", "baseline"} <= set(baselines.columns):
        gold_cols = [c for c in ("split", "id", "group", "seen", *targets) if c in pred.columns]
        gold = pred[gold_cols].astype({"id": str})
        for name, per_split in summary.baselines.items():
            mine = baselines[baselines["baseline"].astype(str) == name].drop(columns=["baseline"])
            mine = mine[[c for c in mine.columns if c in ("split", "id") or c.startswith("pred_")]].astype({"id": str})
            merged = mine.merge(gold, on=["split", "id"], how="inner")
            for split, values in per_split.items():
                rows = merged[merged["split"].astype(str) == split]
                out.update(_explain_split(values, rows, targets, unit, split,
                                          lambda k, sp=split, b=name: _path(sp, k, b)))
    return out


def _unit(task: str) -> str:
    try:
        from ..tasks import TASKS, get_task

        return get_task(task).unit if task in TASKS else "group"
    except Exception:  # noqa: BLE001
        return "group"


def _explain_split(values: dict[str, Any], rows: pd.DataFrame, targets: list[str], unit: str, where: str,
                   path_of: Any) -> dict[str, str]:
    """Reasons for the NaN ``values`` of one split; composite keys cite the part that is undefined."""
    nan_keys = [k for k, v in values.items() if _undefined(v)]
    if not nan_keys:
        return {}
    reasons: dict[str, str] = {}
    # parts first (within/between correlations, per target), composites after
    order = sorted(nan_keys, key=lambda k: (0 if "r_within" in k or "r_between" in k else 1 if _target_of(k, targets) else 2))
    for key in order:
        reasons[key] = _reason(key, values, reasons, rows, targets, unit, where)
    return {path_of(k): r for k, r in reasons.items()}


def _target_of(key: str, targets: list[str]) -> Optional[str]:
    base = key.rsplit("/", 1)[-1]
    hits = [t for t in targets if base.endswith(f"_{t}")]
    return max(hits, key=len) if hits else None


def _reason(key: str, values: dict[str, Any], known: dict[str, str], rows: pd.DataFrame, targets: list[str],
            unit: str, where: str) -> str:
    prefix, _, base = key.rpartition("/")
    label = where
    if prefix in ("seen", "unseen") and "seen" in rows:
        flag = rows["seen"].astype(str).str.lower().isin(["true", "1"])
        rows = rows[flag] if prefix == "seen" else rows[~flag]
        label = f"{where} ({prefix} {unit}s)"
    n = len(rows)
    if n == 0:
        return f"no samples in {label}"
    if n < 2:
        return f"only 1 sample in {label}"
    target = _target_of(key, targets)
    metric = base[: -len(target) - 1] if target else base
    group_sizes = rows["group"].astype(str).value_counts() if "group" in rows else None
    if metric.startswith("r_within") and group_sizes is not None:
        if int((group_sizes >= 2).sum()) == 0:
            return f"no {unit} has two or more samples in {label}, so within-{unit} correlations are undefined"
    if metric.startswith("r_between") and group_sizes is not None and len(group_sizes) < 2:
        return f"fewer than two {unit}s in {label}, so between-{unit} correlations are undefined"
    # composites: a part of them that is undefined
    if target is None or not (metric.startswith("r_within") or metric.startswith("r_between")):
        parts = [k for k in known if k != key and k.rpartition("/")[0] == prefix and
                 (target is None or _target_of(k, targets) == target) and (k.rpartition("/")[2].startswith("r_"))]
        parts = parts or [k for k in known if k != key and k.rpartition("/")[0] == prefix]
        if parts:
            part = parts[0]
            return f"depends on {part.rpartition('/')[2]}, which is NaN: {known[part]}"
    for t in ([target] if target else targets):
        for col, what in ((t, f"gold {t}"), (f"pred_{t}", f"predictions of {t}")):
            if col not in rows:
                continue
            numbers = pd.to_numeric(rows[col], errors="coerce")
            if what.startswith("predictions") and numbers.isna().any() and rows[col].notna().all():
                continue  # class names: not numbers
            if numbers.notna().sum() and not np.isfinite(numbers.dropna().to_numpy(dtype=float)).all():
                return f"{what} include non-finite values in {label}"
            if numbers.notna().sum() >= 2 and numbers.nunique(dropna=True) == 1 and metric.startswith(_CORRELATIONS):
                return f"{what} are constant in {label}, so correlations with them are undefined"
            if col == t and numbers.notna().sum() < 2 and rows[col].notna().sum() < 2:
                return f"fewer than two samples with gold {t} in {label}"
    return f"undefined on the {n} samples of {label}"


__all__ = ["RunSummary", "chosen_settings", "read_json_object", "explain_summary_nans", "TargetInfo", "Selection", "Timings", "DataInfo", "Protocol", "Fold", "Interval", "SummaryInterval", "TransferInfo", "TransferComparison",
           "SplitMetrics"]
