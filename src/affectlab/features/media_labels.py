"""LABELS.csv for ``affectlab extract``: which file (and segment) each sample is, its group and targets.

Table-level problems (a missing column, a number that is not one, an unknown category, a
duplicate id) stop the run with one line naming the file and line. Problems with a file's
content (missing, unreadable, a segment outside the recording) are found later, per file,
and go to ``errors.csv``.

>>> import pandas as pd, tempfile, pathlib
>>> from .extract_config import ExtractConfig
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> pd.DataFrame({"file": ["a.wav", "a.wav"], "group": ["s1", "s1"], "start": ["0", "1.5"],
...               "end": ["1.5", ""], "mood": ["happy", "sad"]}).to_csv(d / "l.csv", index=False)
>>> cfg = ExtractConfig.model_validate({"targets": [{"name": "mood", "kind": "category",
...       "map": {"valence": {"happy": 0.8, "sad": -0.6}}}]})
>>> table = read_labels(d / "l.csv", d, cfg)
>>> [s.id for s in table.samples], table.samples[1].end is None
(['s1$_$a@0-1.5', 's1$_$a@1.5-end'], True)
>>> table.numbers["valence"].tolist(), table.codes["mood"].tolist(), table.classes["mood"]
([0.8, -0.6], [0, 1], ['happy', 'sad'])
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.errors import AffectlabError
from ..core.io import read_table
from .extract_config import ExtractConfig


@dataclass(frozen=True)
class SampleSpec:
    """One LABELS.csv row: a whole file or one segment of it."""

    line: int  # line in LABELS.csv (the header is line 1)
    id: str
    file: str  # as written in LABELS.csv
    path: Path  # resolved against --media
    group: str
    split: str
    start: float | None
    end: float | None
    text: str  # transcript from LABELS.csv ("" = none: ASR if enabled)


@dataclass
class LabelTable:
    samples: list[SampleSpec]
    numbers: dict[str, np.ndarray]  # numeric target -> (N,) float (NaN = missing)
    codes: dict[str, np.ndarray]  # category target -> (N,) int64 index into classes (-1 = missing)
    categories: dict[str, list[str]]  # category target -> (N,) raw values ("" = missing)
    classes: dict[str, list[str]]
    sha256: str = ""
    notes: list[str] = field(default_factory=list)

    def files(self) -> dict[Path, list[int]]:
        """Sample positions per media file, in first-seen order."""
        out: dict[Path, list[int]] = {}
        for i, s in enumerate(self.samples):
            out.setdefault(s.path, []).append(i)
        return out


def _column(frame: pd.DataFrame, name: str, source: str, what: str) -> pd.Series:
    if name not in frame.columns:
        raise AffectlabError(f"{source}: missing {what} column {name!r} (has: {', '.join(map(str, frame.columns))})")
    return frame[name].astype(str).str.strip()


def _seconds(values: pd.Series, name: str, source: str) -> list[float | None]:
    out: list[float | None] = []
    for k, v in enumerate(values):
        if v == "" or v.lower() in {"nan", "none"}:
            out.append(None)
            continue
        try:
            x = float(v)
        except ValueError:
            raise AffectlabError(f"{source} line {k + 2}: {name} {v!r} is not a number of seconds") from None
        if not np.isfinite(x):
            raise AffectlabError(f"{source} line {k + 2}: {name} {v!r} is not a number of seconds")
        out.append(x)
    return out


def _fmt(x: float | None, empty: str) -> str:
    return empty if x is None else f"{x:g}"


def inside_media(f: str, media: Path, allow_outside: bool, where: str, column: str) -> Path:
    """``f`` (as LABELS.csv writes it) as a path under ``media``; one that leads outside it (``../``, an
    absolute path, a symbolic link: resolved first) is one line unless ``allow_outside``.

    >>> import tempfile, pathlib
    >>> m = pathlib.Path(tempfile.mkdtemp())
    >>> inside_media("a/b.wav", m, False, "l.csv line 2", "file") == m / "a" / "b.wav"
    True
    >>> inside_media("../x.wav", m, False, "l.csv line 3", "file")
    Traceback (most recent call last):
    ...
    affectlab.core.errors.AffectlabError: l.csv line 3: file '../x.wav' leads outside --media ... (to ...x.wav); pass --allow-outside-media to read files outside it
    """
    p = Path(f) if Path(f).is_absolute() else media / f
    if allow_outside:
        return p
    root = media.resolve()
    real = p.resolve()  # follows symbolic links (also inside media) and '..'
    if real != root and root not in real.parents:
        raise AffectlabError(f"{where}: {column} {f!r} leads outside --media {media} (to {real}); "
                             "pass --allow-outside-media to read files outside it")
    return p


def read_labels(path: str | Path, media_dir: str | Path, cfg: ExtractConfig, *, allow_outside: bool = False) -> LabelTable:
    """Read and validate LABELS.csv (see the module docstring). Files must lie inside ``media_dir``
    (after resolving ``..`` and links) unless ``allow_outside`` (:func:`inside_media`)."""
    source = str(path)
    frame = read_table(path)
    cols = cfg.columns
    media = Path(media_dir)
    files = _column(frame, cols.file, source, "file")
    groups = _column(frame, cols.group, source, "group")
    n = len(frame)
    has = set(frame.columns)
    explicit = cols.model_fields_set
    for key in ("id", "start", "end", "text", "split"):  # a column named in the config must exist
        if key in explicit and getattr(cols, key) not in has:
            raise AffectlabError(f"{source}: missing {key} column {getattr(cols, key)!r} named in columns.{key}")
    starts = _seconds(frame[cols.start].astype(str).str.strip(), "start", source) if cols.start in has else [None] * n
    ends = _seconds(frame[cols.end].astype(str).str.strip(), "end", source) if cols.end in has else [None] * n
    texts = frame[cols.text].astype(str).tolist() if cols.text in has else [""] * n
    splits = frame[cols.split].astype(str).str.strip().tolist() if cols.split in has else ["train"] * n
    ids = frame[cols.id].astype(str).str.strip().tolist() if cols.id in has else [""] * n

    samples: list[SampleSpec] = []
    seen: dict[str, int] = {}
    for k in range(n):
        line = k + 2
        f, g = files.iloc[k], groups.iloc[k]
        if not f:
            raise AffectlabError(f"{source} line {line}: empty {cols.file!r}")
        if not g:
            raise AffectlabError(f"{source} line {line}: empty {cols.group!r}")
        if not splits[k]:
            raise AffectlabError(f"{source} line {line}: empty {cols.split!r}")
        if splits[k] == "config":
            raise AffectlabError(f"{source} line {line}: 'config' is reserved and cannot name a split")
        s, e = starts[k], ends[k]
        sid = ids[k]
        if not sid:
            sid = f"{g}$_${Path(f).stem}"
            if s is not None or e is not None:
                sid += f"@{_fmt(s, '0')}-{_fmt(e, 'end')}"
        if sid in seen:
            raise AffectlabError(f"{source} line {line}: duplicate sample id {sid!r} (first on line {seen[sid]}); "
                                 "give an id column or distinct start/end")
        seen[sid] = line
        p = inside_media(f, media, allow_outside, f"{source} line {line}", cols.file)
        samples.append(SampleSpec(line, sid, f, p, g, splits[k], s, e, " ".join(texts[k].split())))

    numbers: dict[str, np.ndarray] = {}
    codes: dict[str, np.ndarray] = {}
    categories: dict[str, list[str]] = {}
    classes: dict[str, list[str]] = {}
    for t in cfg.targets:
        values = _column(frame, t.source, source, f"target {t.name!r}")
        if t.kind == "regression":
            arr = np.full(n, np.nan)
            for k, v in enumerate(values):
                if v == "" or v.lower() == "nan":
                    continue
                try:
                    arr[k] = float(v)
                except ValueError:
                    raise AffectlabError(f"{source} line {k + 2}: {t.source} {v!r} is not a number") from None
                if not np.isfinite(arr[k]):
                    raise AffectlabError(f"{source} line {k + 2}: {t.source} {v!r} is not a finite number")
            numbers[t.name] = arr
            continue
        vals = values.tolist()
        known = list(t.classes) or sorted({v for v in vals if v} | set().union(*[set(m) for m in t.map.values()]))
        index = {c: i for i, c in enumerate(known)}
        for k, v in enumerate(vals):
            if v and v not in index:
                raise AffectlabError(f"{source} line {k + 2}: {t.source} {v!r} is not one of the classes "
                                     f"{', '.join(known)}")
            for new, table in t.map.items():
                if v and v not in table:
                    raise AffectlabError(f"{source} line {k + 2}: {t.source} {v!r} has no number in map.{new}")
        codes[t.name] = np.array([index[v] if v else -1 for v in vals], dtype=np.int64)
        categories[t.name] = vals
        classes[t.name] = known
        for new, table in t.map.items():
            numbers[new] = np.array([table[v] if v else np.nan for v in vals], dtype=float)
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return LabelTable(samples, numbers, codes, categories, classes, digest)
