"""The typed run summary: what ``summary.json`` holds (layout: docs/run-directory.md).

:class:`RunSummary` is the one description of a finished run that training, transfer and sweeps
write and that evaluate, compare, report and tracking read. Every field has a default, so a
summary written by an older release (or a hand-made one in a test) still reads; keys this
release does not know are kept as they are (``extra="allow"``) and written back unchanged.

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
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Optional

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..corpus.base import TargetSpec
from ..errors import AffectlabError

#: ``{split: {flat metric key: value}}``; a NaN metric is written as null and read as None
SplitMetrics = dict[str, dict[str, Optional[float]]]
#: sections only some runs have: left out of summary.json when absent
OPTIONAL_SECTIONS = ("protocol", "folds", "pooled", "cis", "source_model", "source_run", "n_adapter_params",
                     "source_data", "transfer", "mmd", "mapping", "transfer_comparison")


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
        from .rundir import file_sha256

        p = Path(data)
        return cls(path=str(p.resolve()), sha256=file_sha256(p) if p.is_file() else None)


class Protocol(_Open):
    """A cross-validation protocol: ``kind`` (group_kfold, leave_one_group_out, kfold), ``k``,
    ``n_folds`` actually run, ``seed``, and ``varied`` (what differs between folds: ``groups`` or
    ``samples``)."""

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


class Interval(_Open):
    """A value with its 95% bootstrap interval."""

    value: Optional[float] = None
    ci_low: Optional[float] = None
    ci_high: Optional[float] = None


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
    warnings: list[str] = Field(default_factory=list)
    argv: list[str] = Field(default_factory=list)
    # --- cross-validation (absent for hold-out runs)
    protocol: Optional[Protocol] = None
    folds: Optional[list[Fold]] = None
    pooled: Optional[dict[str, Optional[float]]] = None
    #: ``{part: {key: interval}}``, part e.g. ``pooled`` or ``test``
    cis: Optional[dict[str, dict[str, Interval]]] = None
    # --- transfer runs (affectlab transfer)
    source_model: Optional[str] = None
    source_run: Optional[str] = None
    n_adapter_params: Optional[int] = None
    source_data: Optional[dict[str, Any]] = None
    transfer: Optional[dict[str, Any]] = None
    mmd: Optional[dict[str, Any]] = None
    mapping: Optional[dict[str, Any]] = None
    transfer_comparison: Optional[dict[str, Any]] = None

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
        """Read a ``summary.json`` file (one-line errors for missing or malformed files)."""
        p = Path(path)
        try:
            raw = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise AffectlabError(f"{p}: no such file") from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise AffectlabError(f"{p}: not valid JSON") from None
        return cls.from_dict(raw, str(p))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data, sections this run does not have left out."""
        out = self.model_dump(mode="json")
        for key in OPTIONAL_SECTIONS:
            if out.get(key) is None:
                out.pop(key, None)
        return out

    # ------------------------------------------------------------------ questions readers ask
    def metric(self, split: str, key: str) -> float | None:
        """``metrics[split][key]``, or None when the run has no such value."""
        return self.metrics.get(split, {}).get(key)

    @property
    def monitor(self) -> str:
        """The metric selection followed (``score`` when not recorded)."""
        return self.selection.monitor or "score"

    @property
    def evaluated_split(self) -> str | None:
        """``test`` when the run scored a test split, else ``val``, else None."""
        for split in ("test", "val"):
            if split in self.metrics:
                return split
        return None

    @property
    def is_cross_validation(self) -> bool:
        return self.protocol is not None

    def target_names(self) -> list[str]:
        return [t.name for t in self.targets]

    def target_specs(self) -> tuple[TargetSpec, ...]:
        return tuple(t.spec() for t in self.targets)


__all__ = ["RunSummary", "TargetInfo", "Selection", "Timings", "DataInfo", "Protocol", "Fold", "Interval",
           "SplitMetrics"]
