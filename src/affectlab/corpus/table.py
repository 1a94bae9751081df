"""Generic CSV/Parquet reader driven by a column map.

The config's ``data.columns`` maps canonical roles (``id``, ``group``, ``order``, ``text``) to
source columns; ``data.targets`` lists target columns with their declared ranges. Columns not
named are kept as they are (``is_words``, ``is_seen_user``...). ``data.options.features`` lists
numeric feature columns (names or ``fnmatch`` patterns such as ``f_*``): they become one
feature array, ``features["tabular"]`` (float32, one row per sample), which models such as
``ridge_all`` with ``modalities: [tabular]`` or a scikit-learn estimator (``model.name: module:Class``) read, so a plain
table of numbers needs no text. The source may also be a pandas DataFrame.

>>> import pandas as pd, tempfile, pathlib
>>> from affectlab.config import DataConfig
>>> p = pathlib.Path(tempfile.mkdtemp()) / "d.csv"
>>> pd.DataFrame({"sid": ["a", "b"], "who": ["x", "x"], "t": [1, 2], "txt": ["hi", "ho"],
...               "score": [0.1, 0.2]}).to_csv(p, index=False)
>>> cfg = DataConfig(format="table", columns={"id": "sid", "group": "who", "order": "t", "text": "txt"},
...                  targets=[{"name": "score", "low": 0, "high": 1}])
>>> read_table_corpus(p, cfg).frame[["id", "group", "score"]].values.tolist()
[['a', 'x', 0.1], ['b', 'x', 0.2]]
>>> frame = pd.DataFrame({"sid": ["a", "b"], "f_1": [1.0, 2.0], "f_2": [0, 1], "score": [0.1, 0.2]})
>>> cfg = DataConfig(format="table", columns={"id": "sid"}, targets=[{"name": "score"}],
...                  options={"features": ["f_*"]})
>>> c = read_table_corpus(frame, cfg)
>>> c.features["tabular"].tolist(), c.name, c.meta["feature_columns"]
([[1.0, 0.0], [2.0, 1.0]], 'DataFrame', ['f_1', 'f_2'])
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any, Union

import numpy as np
import pandas as pd
from ..config import DataConfig
from ..core.errors import AffectlabError
from ..core.io import read_table
from .base import Corpus, TargetSpec, check_unique_ids, is_missing_label, parse_numbers, parse_order, require_columns
from .registry import ReaderOptions, get_reader, register_reader


#: the key of ``Corpus.features`` that numeric feature columns become
TABULAR = "tabular"


class TableOptions(ReaderOptions):
    """``data.options`` of the ``table`` (and ``semeval``) reader."""

    features: Union[str, list[Any], None] = None  # numeric feature columns: names or patterns such as f_* (checked when read)
    trust_pickle: bool = False  # accepted for predict --trust-pickle; a table holds no pickles


def feature_columns(columns: list[str], wanted: Any, source: str) -> list[str]:
    """The columns ``data.options.features`` names (names or ``fnmatch`` patterns), in table order.

    >>> feature_columns(["id", "f_2", "f_1", "y"], ["f_*"], "d.csv")
    ['f_2', 'f_1']
    """
    if isinstance(wanted, str):
        wanted = [wanted]
    if not isinstance(wanted, (list, tuple)) or not all(isinstance(w, str) for w in wanted) or not wanted:
        raise AffectlabError(f"{source}: data.options.features must be a list of column names or patterns such as f_*")
    chosen: list[str] = []
    for pattern in wanted:
        hits = [c for c in columns if fnmatch.fnmatchcase(c, pattern)]
        if not hits:
            raise AffectlabError(f"{source}: data.options.features names {pattern!r}, which matches no column "
                                 f"(columns: {', '.join(columns)})")
        chosen += [c for c in hits if c not in chosen]
    return sorted(chosen, key=columns.index)


def trained_columns_options(options: dict[str, Any], columns: list[str]) -> dict[str, Any]:
    """``data.options`` that read exactly the feature ``columns`` a model was trained on, by name
    (patterns such as ``f_*`` could match other columns in another file).

    >>> trained_columns_options({"features": ["f_*"]}, ["f_1", "f[2]"])
    {'features': ['f_1', 'f[[]2]']}
    """
    import glob

    return {**options, "features": [glob.escape(c) for c in columns]}


def align_features(corpus: Corpus, columns: list[str], source: str) -> Corpus:
    """``corpus`` with its ``tabular`` matrix in the column order the model was trained on (a file
    may hold the same columns in another order); a trained column the file lacks is one line.

    >>> import pandas as pd
    >>> c = Corpus(pd.DataFrame({"id": ["a"]}), features={TABULAR: np.array([[2.0, 1.0]])}, meta={"feature_columns": ["f_2", "f_1"]})
    >>> align_features(c, ["f_1", "f_2"], "new.csv").features[TABULAR].tolist()
    [[1.0, 2.0]]
    """
    have = list(corpus.meta.get("feature_columns") or [])
    missing = [c for c in columns if c not in have]
    if missing or TABULAR not in corpus.features:
        raise AffectlabError(f"{source}: lacks feature column {(missing or columns)[0]!r}, which the model was trained on "
                             f"(trained on: {', '.join(columns)})")
    order = [have.index(c) for c in columns]
    return corpus.with_features(**{TABULAR: corpus.features[TABULAR][:, order]})


def _feature_matrix(raw: pd.DataFrame, columns: list[str], source: str) -> np.ndarray:
    """Numeric feature columns as float32 (N, D); a value that is not a number, or too large for
    float32 (it would become inf), is one line."""
    values = np.stack([parse_numbers(raw[c], c, source) for c in columns], axis=1)
    limit = float(np.finfo(np.float32).max)
    too_large = np.abs(values) > limit
    if too_large.any():
        i, j = (int(k[0]) for k in np.nonzero(too_large))
        raise AffectlabError(f"{source}: {columns[j]} value {values[i, j]:g} in data row {i + 1} is too large for a "
                             f"feature (beyond ±{limit:.3g}, float32); rescale the column")
    return values.astype(np.float32)


@register_reader("table", options=TableOptions, reads_frames=True)
def read_table_corpus(path: "str | Path | pd.DataFrame", cfg: DataConfig, *, require_labels: bool = False,
                      ignore_labels: bool = False) -> Corpus:
    """Read a CSV or Parquet file (or a DataFrame) into a :class:`Corpus` using ``cfg``'s column map.

    Labels are optional unless ``require_labels``: a test file has none. When a target column
    is present, every value must be a number inside the declared range; with ``ignore_labels``
    (prediction) target columns are not read at all (their names: ``meta["ignored_labels"]``).
    """
    if isinstance(path, pd.DataFrame):
        try:
            return _read_table_corpus(path, cfg, require_labels=require_labels, ignore_labels=ignore_labels)
        except AffectlabError as err:  # positions are not how a frame's rows are known: name the index label
            raise frame_rows(err, path.index) from None
    return _read_table_corpus(path, cfg, require_labels=require_labels, ignore_labels=ignore_labels)


def frame_rows(err: AffectlabError, index: pd.Index) -> AffectlabError:
    """``err`` with each ``data row N`` (a position) said as the DataFrame row's index label.

    >>> str(frame_rows(AffectlabError("DataFrame: empty text in data row 2 (id 'b')"), pd.Index([10, 12])))
    "DataFrame: empty text in the row with index 12 (row 2 of the frame) (id 'b')"
    """
    import re

    def label(match: "re.Match[str]") -> str:
        i = int(match.group(1)) - 1
        if not 0 <= i < len(index):
            return match.group(0)
        value = index[i]
        value = value.item() if hasattr(value, "item") else value  # np.int64(7) -> 7
        return f"the row with index {value!r} (row {i + 1} of the frame)"

    return AffectlabError(re.sub(r"data row (\d+)", label, str(err)))


def _missing_cell_hint(original: "pd.DataFrame | None", raw: pd.DataFrame, column: str, i: int) -> str:
    """For a DataFrame cell that is missing (NaN/None) where text was needed: why it may be, and the fix."""
    if original is None or column not in raw.columns:
        return ""
    value = original.iloc[i, list(raw.columns).index(column)]
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ("; the cell is missing (NaN): pandas.read_csv reads the texts None, NA, null, nan and n/a as missing "
                "unless keep_default_na=False; affectlab.read_table(path) reads a file exactly as train does")
    return ""


def _read_table_corpus(path: "str | Path | pd.DataFrame", cfg: DataConfig, *, require_labels: bool,
                       ignore_labels: bool = False) -> Corpus:
    is_frame = isinstance(path, pd.DataFrame)
    source = "DataFrame" if is_frame else str(path)
    original = path if is_frame else None
    options = get_reader(cfg.format).check_options(cfg.options, source)
    raw = read_table(path)
    raw.columns = [str(c).strip() for c in raw.columns]
    cols = dict(cfg.columns)
    if "id" not in cols:
        raise AffectlabError(f"{source}: the config's data.columns must name the id column")
    needed = {role: col for role, col in cols.items() if role in ("id", "group", "order", "text", "split")}
    require_columns(raw, needed, source)

    frame = pd.DataFrame({"id": raw[cols["id"]].astype(str).str.strip()})
    if (frame["id"] == "").any():
        i = int(np.flatnonzero((frame["id"] == "").to_numpy())[0])
        raise AffectlabError(f"{source}: empty id in data row {i + 1}{_missing_cell_hint(original, raw, cols['id'], i)}")
    check_unique_ids(frame["id"], source)
    if "group" in cols:  # a missing group would silently become one group named 'nan'
        group = raw[cols["group"]]
        empty = group.isna().to_numpy() | (group.astype(str).str.strip() == "").to_numpy()
        if empty.any():
            i = int(np.flatnonzero(empty)[0])
            raise AffectlabError(f"{source}: empty {cols['group']} (data.columns.group) in data row {i + 1} "
                                 f"(id {frame['id'].iloc[i]!r}){_missing_cell_hint(original, raw, cols['group'], i)}")
    frame["group"] = raw[cols["group"]].astype(str).str.strip() if "group" in cols else frame["id"]
    frame["order"] = parse_order(raw[cols["order"]], cols["order"], source) if "order" in cols else np.arange(len(raw), dtype=float)
    if "split" in cols or "split" in raw.columns:  # the file's own splits (split.kind: given)
        frame["split"] = raw[cols.get("split", "split")].astype(str).str.strip().to_numpy()
    if "text" in cols:
        text = raw[cols["text"]].astype(str)
        empty = text.str.strip() == ""
        if empty.any():
            i = int(np.flatnonzero(empty.to_numpy())[0])
            raise AffectlabError(f"{source}: empty text in data row {i + 1} (id {frame['id'].iloc[i]!r})"
                                 f"{_missing_cell_hint(original, raw, cols['text'], i)}")
        frame["text"] = text.to_numpy()

    targets = []
    present = []
    ignored = []
    for t in cfg.targets:
        column = t.column or t.name
        spec = TargetSpec(t.name, t.low, t.high, t.kind, tuple(t.classes))
        targets.append(spec)
        if column not in raw.columns:
            continue
        if ignore_labels:  # prediction: a label never refuses the file
            ignored.append(t.name)
            continue
        present.append(t.name)
        if t.kind == "category":
            labels = raw[column].where(raw[column].notna(), None).map(lambda v: None if v is None else str(v).strip())
            spec.check(labels.to_numpy(), source)  # a label outside the declared classes
            missing = labels.map(is_missing_label).to_numpy()
            if require_labels and missing.any():  # as a missing regression label: training needs every label
                i = int(np.flatnonzero(missing)[0])
                raise AffectlabError(f"{source}: {column} label is missing in data row {i + 1} (id {frame['id'].iloc[i]!r}) "
                                     "(training needs a label for every sample)")
            frame[t.name] = labels.to_numpy()
            continue
        try:
            values = parse_numbers(raw[column], column, source, allow_missing=not require_labels)
        except AffectlabError as err:  # text in a regression target: most often an undeclared category
            text = raw[column].astype(str).str.strip()
            words = pd.to_numeric(text, errors="coerce").isna() & ~text.map(is_missing_label)
            hint = ("a category target? declare it with kind: category" if words.any()
                    else "a missing label: training needs a label for every sample")
            raise AffectlabError(f"{err} ({hint})") from None
        spec.check(values, source)
        frame[t.name] = values
    if require_labels:
        missing = [t.column or t.name for t in cfg.targets if t.name not in present]
        if missing:
            require_columns(raw, {"target": missing[0]}, source)

    features, meta = {}, {}
    if options.features is not None:
        names = feature_columns(list(raw.columns), options.features, source)
        features[TABULAR] = _feature_matrix(raw, names, source)
        meta["feature_columns"] = names
    if ignored:
        meta["ignored_labels"] = ignored

    used = set(cols.values()) | {t.column or t.name for t in cfg.targets} | set(meta.get("feature_columns", []))
    for column in raw.columns:
        if column not in used and column not in frame:
            frame[column] = raw[column].to_numpy()
    frame = frame.reset_index(drop=True)
    return Corpus(
        frame=frame,
        targets=tuple(targets),
        features=features,
        name=source if is_frame else Path(path).name,
        source_columns={role: col for role, col in cols.items()},
        output_columns=("group", "id") if "group" in cols else ("id",),
        meta=meta,
    )


def single_sample_groups(corpus: Corpus) -> list[str]:
    """Groups with one sample: they count for between-group metrics only."""
    sizes = corpus.group_sizes()
    return sizes[sizes < 2].index.tolist()
