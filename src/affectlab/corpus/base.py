"""The :class:`Corpus`: every reader's output and every model's input.

A corpus is a table of samples with canonical columns

- ``id``     unique sample id (string, exactly as in the source)
- ``group``  who or what the sample belongs to: user, speaker or video (string)
- ``order``  position in time within the group (number; ties keep file order)
- ``text``   the text, when the modality exists
- ``split``  optional split name (``train``, ``val``, ``test``...)
- one column per target (float; NaN where unlabelled)

plus optional feature arrays whose first axis is aligned with the rows.

>>> import pandas as pd
>>> c = Corpus(pd.DataFrame({"id": ["a", "b"], "group": ["u1", "u1"], "order": [0, 1],
...                          "valence": [0.5, -1.0]}), targets=(TargetSpec("valence", -2, 2),))
>>> c.target_matrix().tolist()
[[0.5], [-1.0]]
>>> len(c.subset([1]))
1
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..core.errors import AffectlabError
# TargetSpec and the label mapping live among the foundations (tasks and metrics use them too);
# re-exported here under the names the readers, models and old pickles use
from ..core.targets import TargetSpec, class_indices, is_missing_label  # noqa: F401

CANONICAL = ("id", "group", "order", "text", "split")


@dataclass
class Corpus:
    """Samples (rows of ``frame``), their targets, and optional row-aligned feature arrays."""

    frame: pd.DataFrame
    targets: tuple[TargetSpec, ...] = ()
    features: dict[str, np.ndarray] = field(default_factory=dict)
    lengths: dict[str, np.ndarray] = field(default_factory=dict)
    name: str = ""
    # canonical column -> column name in the source file, for writing predictions back
    source_columns: dict[str, str] = field(default_factory=dict)
    # canonical columns that identify a row in prediction files, in output order
    output_columns: tuple[str, ...] = ("id",)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.frame = self.frame.reset_index(drop=True)
        for key, arr in self.features.items():
            if len(arr) != len(self.frame):
                raise AffectlabError(f"{self.name or 'corpus'}: feature {key!r} has {len(arr)} rows, expected {len(self.frame)}")

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def target_names(self) -> list[str]:
        return [t.name for t in self.targets]

    @property
    def has_labels(self) -> bool:
        """True when every target column exists and holds at least one number."""
        return bool(self.targets) and all(
            t.name in self.frame and self.frame[t.name].notna().any() for t in self.targets
        )

    @property
    def has_text(self) -> bool:
        return "text" in self.frame

    def target_matrix(self) -> np.ndarray:
        """Targets as a float array of shape (n_samples, n_targets), NaN where missing.

        Category targets appear as class indices (see :meth:`TargetSpec.encode`)."""
        cols = [t.encode(self.frame[t.name].to_numpy()) if t.name in self.frame
                else np.full(len(self), np.nan) for t in self.targets]
        return np.stack(cols, axis=1) if cols else np.zeros((len(self), 0))

    def subset(self, rows: Sequence[int] | np.ndarray) -> "Corpus":
        """A new corpus with the given rows (indices or boolean mask), features sliced alike."""
        idx = np.asarray(rows)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return dataclasses.replace(
            self,
            frame=self.frame.iloc[idx].reset_index(drop=True),
            features={k: v[idx] for k, v in self.features.items()},
            lengths={k: v[idx] for k, v in self.lengths.items()},
            meta=dict(self.meta),
        )

    def split_part(self, name: str) -> "Corpus":
        """The rows whose ``split`` is ``name`` (one-line error when there are none)."""
        if "split" not in self.frame:
            raise AffectlabError(f"{self.name or 'corpus'}: has no splits; cannot select split {name!r}")
        mask = (self.frame["split"] == name).to_numpy()
        if not mask.any() and name in (self.meta.get("splits") or ()):  # the file has it, without samples
            raise AffectlabError(f"{self.name or 'corpus'}: split {name!r} has no samples")
        if not mask.any():
            have = ", ".join(sorted(self.frame["split"].unique()))
            raise AffectlabError(f"{self.name or 'corpus'}: no split named {name!r} (have: {have})")
        return self.subset(mask)

    def with_features(self, **arrays: np.ndarray) -> "Corpus":
        """A copy with extra feature arrays attached."""
        return dataclasses.replace(self, features={**self.features, **arrays})

    def with_targets(self, targets: Sequence[TargetSpec]) -> "Corpus":
        """A copy declaring ``targets`` (e.g. a checkpoint's, with their classes)."""
        return dataclasses.replace(self, targets=tuple(targets))

    def with_inferred_classes(self) -> "Corpus":
        """Category targets without declared classes get the sorted labels found in the data."""
        targets = tuple(t.with_classes_from(self.frame[t.name]) if t.name in self.frame else t for t in self.targets)
        return self.with_targets(targets)

    def output_frame(self) -> pd.DataFrame:
        """The identifying columns for a prediction file, under their source names."""
        return pd.DataFrame({self.source_columns.get(c, c): self.frame[c].to_numpy() for c in self.output_columns})

    def group_sizes(self) -> pd.Series:
        return self.frame.groupby("group", sort=False).size()


def require_columns(frame: pd.DataFrame, needed: dict[str, str], source: str) -> None:
    """Refuse a table that lacks a needed column, suggesting a near match."""
    import difflib

    for role, column in needed.items():
        if column not in frame.columns:
            close = difflib.get_close_matches(column, [str(c) for c in frame.columns], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (columns: {', '.join(map(str, frame.columns))})"
            raise AffectlabError(f"{source}: missing {role} column {column!r}{hint}")


def parse_numbers(values: pd.Series, column: str, source: str, *, allow_missing: bool = False) -> np.ndarray:
    """Parse a column of strings into floats, naming the first value that is not a number."""
    text = values.astype(str).str.strip()
    nums = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    missing = text.isin(["", "nan", "NaN", "NA", "None"]).to_numpy()
    bad = np.isnan(nums) & ~(missing & allow_missing)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        shown = text.iloc[i] or "(empty)"
        raise AffectlabError(f"{source}: {column} value {shown!r} in data row {i + 1} is not a number")
    if np.isinf(nums).any():
        i = int(np.flatnonzero(np.isinf(nums))[0])
        raise AffectlabError(f"{source}: {column} value in data row {i + 1} is infinite")
    return nums


def parse_order(values: pd.Series, column: str, source: str) -> np.ndarray:
    """Turn a time column (numbers or date-times) into sortable floats (seconds for dates)."""
    text = values.astype(str).str.strip()
    nums = pd.to_numeric(text, errors="coerce")
    if nums.notna().all():
        return nums.to_numpy(dtype=float)
    times = pd.to_datetime(text, errors="coerce", format="mixed")
    if times.isna().any():
        i = int(np.flatnonzero(times.isna().to_numpy())[0])
        raise AffectlabError(f"{source}: {column} value {text.iloc[i]!r} in data row {i + 1} is neither a number nor a date")
    # seconds since the epoch, whatever resolution pandas chose for the parsed times
    return ((times - pd.Timestamp("1970-01-01")) / pd.Timedelta(seconds=1)).to_numpy(dtype=float)


def check_unique_ids(ids: pd.Series, source: str) -> None:
    dup = ids[ids.duplicated()]
    if len(dup):
        raise AffectlabError(f"{source}: duplicate id {dup.iloc[0]!r} ({ids.duplicated(keep=False).sum()} rows share an id)")
