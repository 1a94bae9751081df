"""File helpers: atomic writes and validated table reading.

Outputs are written to a temporary file beside the target and renamed into place, so a failed
or interrupted command never leaves a half-written file.

>>> import tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp()) / "hello.txt"
>>> with atomic_output(out) as tmp:
...     _ = tmp.write_text("hi")
>>> out.read_text()
'hi'
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import yaml

from .errors import AffectlabError


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``path`` on success.

    On any exception the temporary file is removed and the target is left untouched.
    """
    target = Path(path)
    if target.parent and not target.parent.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp makes the file private (0600); outputs get the usual permissions of new files
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` atomically."""
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically (NaN becomes null)."""
    write_text(path, json.dumps(_jsonable(obj), indent=2, sort_keys=False) + "\n")


def write_yaml(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as YAML, atomically, keeping key order."""
    write_text(path, yaml.safe_dump(_jsonable(obj), sort_keys=False, allow_unicode=True))


def write_csv(path: str | os.PathLike[str], frame: pd.DataFrame) -> None:
    """Write a DataFrame as CSV without its index, atomically."""
    with atomic_output(path) as tmp:
        frame.to_csv(tmp, index=False)


def _jsonable(obj: Any) -> Any:
    """Turn numpy scalars, NaN and paths into plain JSON values."""
    import math

    import numpy as np

    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def read_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML mapping, with one-line errors for missing, empty or malformed files."""
    p = Path(path)
    if not p.is_file():
        raise AffectlabError(f"{p}: no such file")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise AffectlabError(f"{p}: not UTF-8 text") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise AffectlabError(f"{p}: not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise AffectlabError(f"{p}: expected a YAML mapping at the top level")
    return data


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a CSV or Parquet file into a DataFrame, refusing empty or non-UTF-8 files.

    Strings stay strings (ids like ``007`` keep their zeros); numbers are parsed later, per
    column, so that a bad value can be reported with its row.
    """
    p = Path(path)
    if not p.exists():
        raise AffectlabError(f"{p}: no such file")
    if p.is_dir():
        raise AffectlabError(f"{p}: is a folder, expected a CSV or Parquet file")
    if p.stat().st_size == 0:
        raise AffectlabError(f"{p}: file is empty")
    if p.suffix.lower() in {".parquet", ".pq"}:
        try:
            frame = pd.read_parquet(p)
        except Exception as err:  # pyarrow raises many types for a corrupt file
            raise AffectlabError(f"{p}: not a readable Parquet file ({type(err).__name__})") from None
        return frame
    raw = p.read_bytes()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise AffectlabError(f"{p}: not UTF-8 text (bad byte at offset {err.start})") from None
    try:
        frame = pd.read_csv(p, dtype=str, keep_default_na=False, encoding="utf-8")
    except pd.errors.EmptyDataError:
        raise AffectlabError(f"{p}: file has no rows") from None
    except pd.errors.ParserError as err:
        raise AffectlabError(f"{p}: not a valid CSV ({str(err).splitlines()[0]})") from None
    if frame.empty:
        raise AffectlabError(f"{p}: file has a header but no rows")
    return frame
