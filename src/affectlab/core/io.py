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
import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import yaml

from .errors import AffectlabError


#: write errors that are the place's, not a bug: a full disk or quota, a read-only mount, no permission
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG})


def unwritable(path: "str | os.PathLike[str]", err: OSError) -> AffectlabError:
    """The one line for an output that cannot be written (full disk, read-only, no permission).

    >>> import errno
    >>> str(unwritable("out/p.csv", OSError(errno.ENOSPC, "No space left on device")))
    'out/p.csv: cannot write here (No space left on device)'
    """
    return AffectlabError(f"{path}: cannot write here ({err.strerror or os.strerror(err.errno or 0) or type(err).__name__})")


def is_write_error(err: BaseException, *paths: "str | os.PathLike[str]") -> bool:
    """Whether ``err`` is a :data:`WRITE_ERRNOS` error about one of ``paths`` (or about no file named:
    ``write()`` on a full disk names none), i.e. one to say as :func:`unwritable`, not a bug.

    >>> import errno
    >>> is_write_error(OSError(errno.EROFS, "Read-only file system", "/o/p.csv"), "/o/p.csv")
    True
    >>> is_write_error(OSError(errno.EACCES, "Permission denied", "/elsewhere/in.csv"), "/o/p.csv")
    False
    """
    if not isinstance(err, OSError) or err.errno not in WRITE_ERRNOS:
        return False
    named = [n for n in (err.filename, getattr(err, "filename2", None)) if n is not None]
    return not named or any(os.path.abspath(os.fsdecode(n)) == os.path.abspath(os.fspath(p)) for n in named for p in paths)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``path`` on success.

    On any exception the temporary file is removed and the target is left untouched. A full
    disk, a read-only mount or a missing permission while writing it is one line
    (:func:`unwritable`), not a traceback.
    """
    target = check_output_file(path)
    try:
        if target.parent and not target.parent.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as err:  # a parent that is a file, a read-only or full disk, no permission
        raise unwritable(target, err) from None
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp makes the file private (0600); outputs get the usual permissions of new files
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        os.replace(tmp, target)
    except OSError as err:
        if is_write_error(err, tmp, target):
            raise unwritable(target, err) from None
        raise
    finally:
        with contextlib.suppress(OSError):  # a vanished or undeletable temporary file must not hide the error
            if tmp.exists():
                tmp.unlink()


def check_writable(path: str | os.PathLike[str]) -> Path:
    """``path``'s folder probed for writing before any work (a file is created there and removed):
    a read-only mount or a missing permission is one line now, not after an hour of work.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> check_writable(d / "new" / "out.csv") == d / "new" / "out.csv", (d / "new").exists()
    (True, False)
    """
    target = check_output_file(path)
    folder = next((p for p in [target.parent, *target.parent.parents] if p.exists()), Path("."))
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".probe", dir=folder)
    except OSError as err:
        raise unwritable(target, err) from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return target


def check_output_file(path: str | os.PathLike[str], inputs: tuple = (), protected: tuple = ()) -> Path:
    """``path`` as an output file, checked before any work: not a folder, no parent that is a file,
    not one of the command's ``inputs`` (writing there would destroy them) nor a ``protected``
    file (e.g. a run directory's own files); otherwise one line.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> (d / "data.csv").write_text("id\\n1\\n") and None
    >>> check_output_file(d / "data.csv", inputs=(d / "data.csv",))
    Traceback (most recent call last):
    ...
    affectlab.core.errors.AffectlabError: ...data.csv: is an input of this command; write the output to another file
    >>> check_output_file(d / "data.csv" / "out.csv")
    Traceback (most recent call last):
    ...
    affectlab.core.errors.AffectlabError: ...data.csv/out.csv: cannot write here (...data.csv is a file, not a folder)
    """
    target = Path(path)
    if target.is_dir():
        raise AffectlabError(f"{target}: is a folder; give a file name, e.g. {target / 'out.csv'}")
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise AffectlabError(f"{target}: cannot write here ({parent} is a file, not a folder)")
            break
    if any(same_file(target, p) for p in inputs if not isinstance(p, pd.DataFrame)):
        raise AffectlabError(f"{target}: is an input of this command; write the output to another file")
    if any(same_file(target, p) for p in protected):
        raise AffectlabError(f"{target}: belongs to the run directory; write the output to another file")
    return target


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether ``a`` and ``b`` both exist and are one file (links and relative paths resolved);
    False when either is absent or cannot be examined."""
    try:
        return Path(a).exists() and Path(b).exists() and os.path.samefile(a, b)
    except OSError:
        return False


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` atomically."""
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` atomically (the bytes land in the file exactly as given)."""
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)


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


def unreadable(path: "str | os.PathLike[str]", err: OSError) -> AffectlabError:
    """The one line for a file that exists but cannot be read (no permission, a vanished file, an I/O error)."""
    return AffectlabError(f"{path}: cannot read ({err.strerror or type(err).__name__})")


def read_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML mapping, with one-line errors for missing, empty or malformed files."""
    p = Path(path)
    if p.is_dir():
        raise AffectlabError(f"{p}: is a folder, expected a YAML file")
    if not p.is_file():
        raise AffectlabError(f"{p}: no such file")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise AffectlabError(f"{p}: not UTF-8 text") from None
    except OSError as err:  # no permission, a vanished file, an I/O error
        raise unreadable(p, err) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise AffectlabError(f"{p}: not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise AffectlabError(f"{p}: expected a YAML mapping at the top level")
    return data


def read_table(path: "str | os.PathLike[str] | pd.DataFrame") -> pd.DataFrame:
    """Read a CSV or Parquet file (or take a DataFrame) as a table, refusing empty or non-UTF-8 files.

    Strings stay strings (ids like ``007`` keep their zeros); numbers are parsed later, per
    column, so that a bad value can be reported with its row. A DataFrame is returned as a
    string table too (missing values become empty strings), so every reader treats it exactly
    as the same data read from a CSV file.

    >>> read_table(pd.DataFrame({"id": [7, 8], "v": [0.5, None]})).values.tolist()
    [['7', '0.5'], ['8', '']]
    """
    if isinstance(path, pd.DataFrame):
        return table_from_frame(path)
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
    try:
        raw = p.read_bytes()
    except OSError as err:  # no permission, a vanished file, an I/O error
        raise unreadable(p, err) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise AffectlabError(f"{p}: not UTF-8 text (bad byte at offset {err.start})") from None
    try:
        frame = pd.read_csv(p, dtype=str, keep_default_na=False, encoding="utf-8")
    except pd.errors.EmptyDataError:
        raise AffectlabError(f"{p}: file has no rows") from None
    except pd.errors.ParserError as err:
        ragged = ragged_row(text)
        if ragged:
            raise AffectlabError(f"{p}: {ragged}") from None
        raise AffectlabError(f"{p}: not a valid CSV ({str(err).splitlines()[0]})") from None
    if not isinstance(frame.index, pd.RangeIndex):
        # pandas takes the extra leading fields of rows longer than the header as an index,
        # shifting every column: name the row instead of a column that then holds the wrong values
        raise AffectlabError(f"{p}: {ragged_row(text) or 'rows have more fields than the header'}")
    if frame.empty:
        raise AffectlabError(f"{p}: file has a header but no rows")
    twice = duplicate_header(text)
    if twice:  # pandas would rename the second one 'name.1' and read both as different columns
        raise AffectlabError(f"{p}: column {twice!r} appears more than once in the header")
    return frame


def duplicate_header(text: str) -> str | None:
    r"""The first column name that the CSV header repeats (after stripping spaces), or None.

    >>> duplicate_header("id,x, x\n1,2,3\n"), duplicate_header("id,x\n")
    ('x', None)
    """
    import csv
    import io as _io

    names = [h.strip().lstrip("\ufeff") for h in next(csv.reader(_io.StringIO(text)), [])]
    return next((n for i, n in enumerate(names) if n in names[:i]), None)


def ragged_row(text: str) -> str | None:
    r"""``data row N (line L) has K fields, the header has M`` for the first row longer than the
    header (quoted fields may hold commas and newlines); None when there is none.

    >>> ragged_row("a,b\n1,2\n3,4,5\n")
    'data row 2 (line 3) has 3 fields, the header has 2'
    >>> ragged_row('a,b\n"1,5",2\n') is None
    True
    """
    import csv
    import io as _io

    reader = csv.reader(_io.StringIO(text))
    try:
        header = next(reader)
        for n, row in enumerate(reader, start=1):
            if len(row) > len(header):
                return f"data row {n} (line {reader.line_num}) has {len(row)} fields, the header has {len(header)}"
    except (StopIteration, csv.Error):
        return None
    return None


def table_from_frame(frame: pd.DataFrame, source: str = "DataFrame") -> pd.DataFrame:
    """A copy of ``frame`` as strings, as :func:`read_table` returns a CSV (one-line errors)."""
    if frame.empty or len(frame.columns) == 0:
        raise AffectlabError(f"{source}: has no rows" if len(frame.columns) else f"{source}: has no columns")
    names = [str(c) for c in frame.columns]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise AffectlabError(f"{source}: duplicate column {dup!r}")
    out = pd.DataFrame({name: frame.iloc[:, j].map(_cell_text).to_numpy(dtype=object) for j, name in enumerate(names)})
    return out.reset_index(drop=True)


def _cell_text(value: Any) -> str:
    """One cell as a CSV reader would give it: missing values empty, everything else ``str``."""
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA or value is pd.NaT:
        return ""
    return str(value)
