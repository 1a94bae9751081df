"""Generic CSV/Parquet reader driven by a column map.

The config's ``data.columns`` maps canonical roles (``id``, ``group``, ``order``, ``text``) to
source columns; ``data.targets`` lists target columns with their declared ranges. Columns not
named are kept as they are (``is_words``, ``is_seen_user``...).

>>> import pandas as pd, tempfile, pathlib
>>> from affectlab.config import DataConfig
>>> p = pathlib.Path(tempfile.mkdtemp()) / "d.csv"
>>> pd.DataFrame({"sid": ["a", "b"], "who": ["x", "x"], "t": [1, 2], "txt": ["hi", "ho"],
...               "score": [0.1, 0.2]}).to_csv(p, index=False)
>>> cfg = DataConfig(format="table", columns={"id": "sid", "group": "who", "order": "t", "text": "txt"},
...                  targets=[{"name": "score", "low": 0, "high": 1}])
>>> read_table_corpus(p, cfg).frame[["id", "group", "score"]].values.tolist()
[['a', 'x', 0.1], ['b', 'x', 0.2]]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..config import DataConfig
from ..errors import AffectlabError
from ..io import read_table
from .base import Corpus, TargetSpec, check_unique_ids, parse_numbers, parse_order, require_columns
from .registry import READERS


@READERS.register("table")
def read_table_corpus(path: str | Path, cfg: DataConfig, *, require_labels: bool = False) -> Corpus:
    """Read a CSV or Parquet file into a :class:`Corpus` using ``cfg``'s column map.

    Labels are optional unless ``require_labels``: a test file has none. When a target column
    is present, every value must be a number inside the declared range.
    """
    source = str(path)
    raw = read_table(path)
    raw.columns = [str(c).strip() for c in raw.columns]
    cols = dict(cfg.columns)
    if "id" not in cols:
        raise AffectlabError(f"{source}: the config's data.columns must name the id column")
    needed = {role: col for role, col in cols.items() if role in ("id", "group", "order", "text")}
    require_columns(raw, needed, source)

    frame = pd.DataFrame({"id": raw[cols["id"]].astype(str).str.strip()})
    if (frame["id"] == "").any():
        i = int(np.flatnonzero((frame["id"] == "").to_numpy())[0])
        raise AffectlabError(f"{source}: empty id in data row {i + 1}")
    check_unique_ids(frame["id"], source)
    frame["group"] = raw[cols["group"]].astype(str).str.strip() if "group" in cols else frame["id"]
    frame["order"] = parse_order(raw[cols["order"]], cols["order"], source) if "order" in cols else np.arange(len(raw), dtype=float)
    if "text" in cols:
        text = raw[cols["text"]].astype(str)
        empty = text.str.strip() == ""
        if empty.any():
            i = int(np.flatnonzero(empty.to_numpy())[0])
            raise AffectlabError(f"{source}: empty text in data row {i + 1} (id {frame['id'].iloc[i]!r})")
        frame["text"] = text.to_numpy()

    targets = []
    present = []
    for t in cfg.targets:
        column = t.column or t.name
        spec = TargetSpec(t.name, t.low, t.high, t.kind, tuple(t.classes))
        targets.append(spec)
        if column not in raw.columns:
            continue
        present.append(t.name)
        if t.kind == "category":
            frame[t.name] = raw[column].astype(str).str.strip().to_numpy()
            continue
        values = parse_numbers(raw[column], column, source, allow_missing=not require_labels)
        spec.check(values, source)
        frame[t.name] = values
    if require_labels:
        missing = [t.column or t.name for t in cfg.targets if t.name not in present]
        if missing:
            require_columns(raw, {"target": missing[0]}, source)

    used = set(cols.values()) | {t.column or t.name for t in cfg.targets}
    for column in raw.columns:
        if column not in used and column not in frame:
            frame[column] = raw[column].to_numpy()
    frame = frame.reset_index(drop=True)
    return Corpus(
        frame=frame,
        targets=tuple(targets),
        name=Path(path).name,
        source_columns={role: col for role, col in cols.items()},
        output_columns=("group", "id") if "group" in cols else ("id",),
    )


def single_sample_groups(corpus: Corpus) -> list[str]:
    """Groups with one sample: they count for between-group metrics only."""
    sizes = corpus.group_sizes()
    return sizes[sizes < 2].index.tolist()
