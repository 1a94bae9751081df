"""Built-in data sets: fetched once into a cache, checksummed, then read from there.

Each built-in data set is a :class:`DatasetSpec` in :data:`DATASETS`: where its public archive
lives and the exact files (by name and sha256) that make it up. :func:`fetch` downloads the
archive (a zip, streamed to a temporary file with a progress bar) or takes a local folder or
zip (``source``), finds each expected file by its name anywhere inside, verifies its sha256,
and moves the verified files into ``<cache>/<name>/`` in one rename, with a ``MANIFEST.json``
saying where they came from, when, and their hashes. A failed or interrupted fetch leaves the
cache as it was: its work happens in a hidden ``.<name>.tmp-*`` folder of the cache root, removed
when the fetch ends, and one left by a fetch that was killed (``kill -9``, a power cut) is removed
by the next fetch (a folder still locked by a running fetch is left alone). The cache root is :func:`affectlab.core.paths.default_cache_dir`.

The speech emotion corpora (EmoDB, RAVDESS, CREMA-D, ...; :mod:`affectlab.corpus.speech`) are specs
with a ``recipe``: their fetch (:func:`affectlab.corpus.speech.fetch.fetch_speech`) parses labels from
the file names into ``labels.csv``, and their files' sha256 values are recorded in the manifest
at fetch time (the archives are not ours to pin) and checked against it afterwards.

>>> import tempfile, pathlib
>>> cache = pathlib.Path(tempfile.mkdtemp())
>>> DATASETS.get("semeval2026-task2").licence
'CC0-1.0'
>>> is_cached("semeval2026-task2", cache)
False
>>> dataset_path("semeval2026-task2", cache)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
affectlab.core.errors.AffectlabError: data set 'semeval2026-task2' is not in the cache ... run 'affectlab data fetch semeval2026-task2'
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import shutil
import socket
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Mapping

from ..core.errors import AffectlabError
from ..core.io import write_json
from ..core.paths import default_cache_dir
from ..core.registry import Registry

MANIFEST = "MANIFEST.json"
CHUNK = 1 << 20
TIMEOUT_S = 30.0
_LFS_POINTER = b"version https://git-lfs.github.com/spec/"


@dataclass(frozen=True)
class DatasetSpec:
    """A built-in data set: what it is, where its archive lives, and its files' sha256 values."""

    name: str
    description: str
    licence: str
    homepage: str
    archive_url: str
    files: Mapping[str, str] = field(default_factory=dict)  # file name -> sha256 (hex)
    speakers: str = ""  # for 'affectlab data list'
    emotions: str = ""
    size: str = ""
    # a speech corpus: labels parsed from file names, files recorded (not pinned) in MANIFEST.json;
    # a corpus.speech.corpora.SpeechRecipe (registered by importing affectlab.corpus), which fetches it
    recipe: Any = None


DATASETS: Registry[DatasetSpec] = Registry("data set")

SEMEVAL2026_TASK2 = DATASETS.register("semeval2026-task2")(DatasetSpec(
    name="semeval2026-task2",
    description=("SemEval-2026 Task 2: essays and feeling-word lists written over time by 137 US service "
                 "workers, each self-rated for valence (-2..2) and arousal (0..2); training files of subtasks 1, 2A, 2B"),
    licence="CC0-1.0",
    homepage="https://github.com/semeval2026task2/EmotionValArouTimeVariation2026",
    archive_url="https://github.com/semeval2026task2/EmotionValArouTimeVariation2026/archive/refs/heads/main.zip",
    speakers="137 writers", emotions="valence, arousal (self-ratings)", size="5 CSV files",
    files={
        "train_subtask1.csv": "e1f09b16526a3e6620a55c01550438088f364c57706b557db550aa9fde4d8634",
        "train_subtask2a.csv": "46575a42fe6146f93d7f5fd0300c7a778ae853fe8d44f3b824a44b5d6bd13cf3",
        "train_subtask2b.csv": "4b43e5108018355c26ff15f99656b3511a8e70445fc0816cc3f778e4fc318c26",
        "train_subtask2b_detailed.csv": "814b097ebb8725d463400f6f9907aa073b76c2f42842a4c1b4ee123ae7305c48",
        "train_subtask2b_user_disposition_change.csv": "44efd5105a1d61e8b41ce4bfecd5b44882caab535438577b5b07d13cd47d9387",
    },
))


@dataclass
class FetchResult:
    """What :func:`fetch` did: where the files are, and whether they were already there."""

    name: str
    path: Path
    already_cached: bool
    source: str
    files: dict[str, str]  # file name -> sha256
    summary: str = ""  # one line for the user (speech corpora: recordings, speakers, emotions)


Say = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def _cache_root(cache: str | os.PathLike[str] | None) -> Path:
    """The cache folder; one line when the path exists and is not a folder (a file given by mistake)."""
    root = Path(cache).expanduser() if cache is not None else default_cache_dir()
    if root.exists() and not root.is_dir():
        raise AffectlabError(f"{root}: the cache path exists and is not a folder")
    return root


def dataset_dir(name: str, cache: str | os.PathLike[str] | None = None) -> Path:
    """Where data set ``name`` lives (or would live) in the cache; does not check it is there."""
    return _cache_root(cache) / DATASETS.get(name).name


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file, as lowercase hex.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x"
    >>> _ = p.write_bytes(b"abc")
    >>> sha256_file(p)[:16]
    'ba7816bf8f01cfea'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(folder: Path) -> dict | None:
    """The folder's ``MANIFEST.json`` as a dict, or ``None`` when missing or unreadable."""
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_cached(name: str, cache: str | os.PathLike[str] | None = None, *, verify: bool = False) -> bool:
    """True when every file of ``name`` is in the cache with the expected sha256.

    Without ``verify`` this trusts the manifest (cheap: no file is read); with it, every file
    is hashed again.
    """
    spec = DATASETS.get(name)
    folder = dataset_dir(name, cache)
    manifest = read_manifest(folder)
    if manifest is None:
        return False
    recorded = {k: (v.get("sha256") if isinstance(v, dict) else v) for k, v in dict(manifest.get("files", {})).items()}
    expected_files = dict(spec.files)
    if spec.recipe is not None:  # a speech corpus: its files are the ones its fetch recorded
        if manifest.get("dataset") != spec.name or "labels.csv" not in recorded:
            return False
        expected_files = {k: v for k, v in recorded.items() if isinstance(v, str)}
    for filename, expected in expected_files.items():
        path = folder / filename
        if recorded.get(filename) != expected or not path.is_file():
            return False
        if verify and sha256_file(path) != expected:
            return False
    return True


def dataset_path(name: str, cache: str | os.PathLike[str] | None = None) -> Path:
    """The cached folder of ``name``; a one-line error saying how to fetch it when absent."""
    folder = dataset_dir(name, cache)
    if not is_cached(name, cache):
        raise AffectlabError(f"data set {name!r} is not in the cache ({folder}); run 'affectlab data fetch {name}'")
    return folder


def list_datasets(cache: str | os.PathLike[str] | None = None) -> list[dict[str, object]]:
    """One row per built-in data set: name, description, licence, cached, path, homepage, speakers,
    emotions, size, and whether it downloads anonymously."""
    rows = []
    for name in DATASETS.names():
        spec = DATASETS.get(name)
        rows.append({
            "name": spec.name, "description": spec.description, "licence": spec.licence,
            "cached": is_cached(name, cache), "path": dataset_dir(name, cache), "homepage": spec.homepage,
            "speakers": spec.speakers, "emotions": spec.emotions, "size": spec.size,
            "download": "yes" if spec.archive_url else "no: --source",
        })
    return rows


def fetch(
    name: str,
    cache: str | os.PathLike[str] | None = None,
    *,
    source: str | os.PathLike[str] | None = None,
    url: str | None = None,
    force: bool = False,
    progress: bool = True,
    say: Say = _quiet,
) -> FetchResult:
    """Put data set ``name`` into the cache, from its archive URL or from a local ``source``.

    ``source`` is a folder (files found by name, recursively) or a zip; ``url`` overrides the
    spec's archive URL. When the cache already holds verified files nothing is done unless
    ``force``. Every file is checked against its sha256 before anything enters the cache.
    """
    spec = DATASETS.get(name)
    if spec.recipe is not None:  # a speech corpus: labels from its file names (corpus.speech)
        return spec.recipe.fetch(spec, cache, source=source, url=url, force=force, progress=progress, say=say)
    if source is not None and url is not None:
        raise AffectlabError("give either --source or --url, not both")
    root = _cache_root(cache)
    target = root / spec.name
    if source is not None and not Path(source).expanduser().exists():  # before the cache is touched
        raise AffectlabError(f"{Path(source).expanduser()}: no such file or folder")
    if source is None:
        _check_url(url or spec.archive_url)
    removed = clean_stale_scratch(root)
    if removed:
        say(f"Removed {removed} folder(s) left by an interrupted fetch")
    if not force and is_cached(name, cache, verify=True):
        manifest = read_manifest(target) or {}
        return FetchResult(spec.name, target, True, str(manifest.get("source", "")), dict(spec.files))
    created = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    try:
        with _scratch(root, _scratch_prefix(spec.name)) as scratch:
            staging = scratch / "files"
            staging.mkdir()
            if source is not None:
                where = Path(source).expanduser()
                origin = str(where.resolve())
                # said once the files are found and verified: a wrong source is one error line, not two
                if where.is_dir():
                    found = _collect_from_folder(spec, where, staging)
                    say(f"Copied {spec.name} from {where}")
                elif where.is_file():
                    found = _collect_from_zip(spec, where, staging, label=str(where))
                    say(f"Read {spec.name} from {where}")
                else:
                    raise AffectlabError(f"{where}: no such file or folder")
            else:
                origin = url or spec.archive_url
                archive = scratch / "archive.zip"
                # said once the server answers: an unreachable URL is one error line, not two
                _download(origin, archive, progress=progress, on_open=lambda: say(f"Downloading {spec.name} from {origin}"))
                found = _collect_from_zip(spec, archive, staging, label=origin)
            now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
            write_json(staging / MANIFEST, {
                "dataset": spec.name, "source": origin, "fetched": now, "licence": spec.licence,
                "homepage": spec.homepage,
                "files": {f: {"sha256": spec.files[f], "bytes": (staging / f).stat().st_size, "from": found[f]}
                          for f in spec.files},
            })
            _chmod_like_umask(staging / MANIFEST)
            _install(staging, target, scratch)
    except BaseException:
        if created and root.is_dir() and not any(root.iterdir()):
            root.rmdir()  # a failed first fetch leaves no empty cache folder behind
        raise
    say(f"Verified {len(spec.files)} files (sha256) into {target}")
    return FetchResult(spec.name, target, False, origin, dict(spec.files))


def _chmod_like_umask(path: Path) -> None:
    """Give a file made by mkstemp (0600) the permissions a plain open() would have."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


#: a scratch folder's lock file: held (flock) by the fetch working in it, released by the kernel when it dies
SCRATCH_LOCK = ".lock"
#: a scratch folder without a lock file (made by an older release, or a fetch that was killed before
#: it took the lock) is left alone for this many seconds: a fetch that just created it may lock it next
UNLOCKED_GRACE_S = 60.0


def _scratch_prefix(name: str) -> str:
    return f".{name}.tmp-"


@contextlib.contextmanager
def _scratch(root: Path, prefix: str) -> Iterator[Path]:
    """A temporary folder inside the cache root (same file system: renames are atomic), locked
    while this fetch works in it so that :func:`clean_stale_scratch` of another fetch leaves it alone."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
    lock = None
    try:
        lock = _hold_lock(folder / SCRATCH_LOCK)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if lock is not None:
            lock.close()


def _hold_lock(path: Path) -> IO[bytes] | None:
    """Create ``path`` and hold an exclusive lock on it (None where ``fcntl`` is unavailable)."""
    fh = open(path, "wb")
    try:
        import fcntl
    except ImportError:  # Windows: stale folders are recognised by age alone
        return fh
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        pass  # a file system without locks: age decides
    return fh


def _is_stale(folder: Path, now: float) -> bool:
    """True when no running fetch works in ``folder``."""
    lock = folder / SCRATCH_LOCK
    try:
        import fcntl
    except ImportError:
        fcntl = None  # type: ignore[assignment]
    if lock.is_file() and fcntl is not None:
        try:
            with open(lock, "rb") as fh:
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return False  # a running fetch holds it
                except OSError:
                    pass  # no locking here: fall back to age
                else:
                    return True  # nobody holds it: its fetch is gone
        except OSError:
            return False
    try:
        age = now - max(folder.stat().st_mtime, lock.stat().st_mtime if lock.exists() else 0.0)
    except OSError:
        return False
    grace = UNLOCKED_GRACE_S if not lock.exists() or fcntl is not None else 24 * 3600.0
    return age > grace


def clean_stale_scratch(root: str | os.PathLike[str]) -> int:
    """Remove the ``.<name>.tmp-*`` folders that interrupted fetches left in the cache ``root``.

    Only folders of built-in data set names are considered, and only when no running fetch holds
    their lock (or, without a lock file, when untouched for a minute). Returns how many were removed.

    >>> import tempfile, pathlib, os, time
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> old = root / ".semeval2026-task2.tmp-abc123"; (old / "files").mkdir(parents=True)
    >>> _ = (old / SCRATCH_LOCK).write_bytes(b"")   # its fetch was killed: nobody holds the lock
    >>> clean_stale_scratch(root), old.exists()
    (1, False)
    """
    import time

    base = Path(root)
    if not base.is_dir():
        return 0
    prefixes = tuple(_scratch_prefix(n) for n in DATASETS.names())
    now = time.time()
    removed = 0
    try:
        entries = list(base.iterdir())
    except OSError:
        return 0
    for entry in entries:
        if not entry.name.startswith(prefixes) or entry.is_symlink() or not entry.is_dir():
            continue
        if _is_stale(entry, now):
            shutil.rmtree(entry, ignore_errors=True)
            removed += not entry.exists()
    return removed


def _install(staging: Path, target: Path, scratch: Path) -> None:
    """Rename ``staging`` onto ``target``; an older (stale or corrupt) copy is swapped out first."""
    old = scratch / "old"
    if target.exists() or target.is_symlink():
        os.replace(target, old)
    try:
        os.replace(staging, target)
    except OSError:
        if old.exists() and not target.exists():
            os.replace(old, target)
        raise


def _mismatch(filename: str, expected: str, got: str, where: str, head: bytes) -> AffectlabError:
    hint = " (it is a Git LFS pointer, not the data: download the real file and use --source)" if head.startswith(_LFS_POINTER) else ""
    return AffectlabError(f"{filename}: sha256 mismatch in {where}: expected {expected}, got {got}{hint}")


def _copy_verified(stream: IO[bytes], dest: Path) -> tuple[str, bytes]:
    """Copy ``stream`` to ``dest`` while hashing it; returns (sha256, first bytes)."""
    digest = hashlib.sha256()
    head = b""
    with open(dest, "wb") as out:
        for block in iter(lambda: stream.read(CHUNK), b""):
            if not head:
                head = block[:64]
            digest.update(block)
            out.write(block)
    return digest.hexdigest(), head


def _opener(path: Path) -> Callable[[], IO[bytes]]:
    """Opens ``path`` for reading bytes when called (a candidate is opened only if it is picked)."""
    return lambda: open(path, "rb")


def _pick(spec: DatasetSpec, filename: str, candidates: list[tuple[str, Callable[[], IO[bytes]]]],
          staging: Path, where: str) -> str:
    """Copy the first candidate whose sha256 matches; error naming both hashes when none does."""
    if not candidates:
        raise AffectlabError(f"{filename}: not found in {where} (expected somewhere inside it; see 'affectlab data fetch --help' for --source)")
    expected = spec.files[filename]
    dest = staging / filename
    first: tuple[str, bytes] | None = None
    for label, opener in candidates:
        with opener() as stream:
            got, head = _copy_verified(stream, dest)
        if got == expected:
            return label
        first = first or (got, head)
    dest.unlink(missing_ok=True)
    assert first is not None
    raise _mismatch(filename, expected, first[0], where, first[1])


def _collect_from_folder(spec: DatasetSpec, folder: Path, staging: Path) -> dict[str, str]:
    """Find each expected file by name under ``folder`` (or inside a zip there), verify, copy."""
    by_name: dict[str, list[Path]] = {}
    zips: list[Path] = []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            by_name.setdefault(path.name, []).append(path)
            if path.suffix.lower() == ".zip":
                zips.append(path)
    found: dict[str, str] = {}
    for filename in spec.files:
        candidates: list[tuple[str, Callable[[], IO[bytes]]]] = [
            (str(p.relative_to(folder)), _opener(p)) for p in by_name.get(filename, [])]
        if not candidates:
            for archive in zips:  # data shipped as a zip inside the folder
                candidates += _zip_candidates(archive, filename, prefix=f"{archive.relative_to(folder)}!")
        found[filename] = _pick(spec, filename, candidates, staging, str(folder))
    return found


def _zip_candidates(archive: Path, filename: str, prefix: str = "") -> list[tuple[str, Callable[[], IO[bytes]]]]:
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m.filename for m in zf.infolist() if not m.is_dir() and m.filename.rsplit("/", 1)[-1] == filename]
    except (zipfile.BadZipFile, OSError):
        return []

    def opener(member: str) -> Callable[[], IO[bytes]]:
        @contextlib.contextmanager
        def open_member() -> Iterator[IO[bytes]]:
            with zipfile.ZipFile(archive) as zf, zf.open(member) as fh:
                yield fh
        return open_member  # type: ignore[return-value]

    return [(prefix + m, opener(m)) for m in members]


def _collect_from_zip(spec: DatasetSpec, archive: Path, staging: Path, *, label: str) -> dict[str, str]:
    """Find each expected file by name anywhere in the zip (or in a zip inside it), verify, copy."""
    try:
        with zipfile.ZipFile(archive) as zf:
            inner_zips = [m.filename for m in zf.infolist() if not m.is_dir() and m.filename.lower().endswith(".zip")]
    except zipfile.BadZipFile:
        raise AffectlabError(f"{label}: not a zip archive") from None
    except OSError as err:
        raise AffectlabError(f"{label}: cannot read ({err.strerror or err})") from None
    found: dict[str, str] = {}
    extracted: dict[str, Path] = {}
    for filename in spec.files:
        candidates = _zip_candidates(archive, filename)
        if not candidates and inner_zips:
            for member in inner_zips:  # one level of nesting: a data zip committed to the repository
                if member not in extracted:
                    path = staging.parent / f"inner-{len(extracted)}.zip"
                    with zipfile.ZipFile(archive) as zf, zf.open(member) as src, open(path, "wb") as out:
                        shutil.copyfileobj(src, out, CHUNK)
                    extracted[member] = path
                candidates += _zip_candidates(extracted[member], filename, prefix=f"{member}!")
        found[filename] = _pick(spec, filename, candidates, staging, label)
    return found


def _check_url(url: str) -> None:
    """One line for a URL that cannot be fetched (said before anything is printed or downloaded),
    a ``file://`` URL whose file does not exist included."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme.lower() not in ("http", "https", "file") or not (parsed.netloc or parsed.path):
        raise AffectlabError(f"{url}: unsupported URL (expected http://, https:// or file://)")
    if parsed.scheme.lower() == "file":
        local = Path(urllib.request.url2pathname(parsed.path))
        if not local.is_file():
            raise AffectlabError(f"cannot download {url}: {local} is {'a folder' if local.is_dir() else 'not there'} "
                                 "(use --source for a local folder)")


def _download(url: str, dest: Path, *, progress: bool = True, on_open: Callable[[], None] = lambda: None) -> None:
    """Stream ``url`` to ``dest`` with a progress bar on stderr; one-line errors on failure.
    ``on_open`` runs once the server has answered (a progress line said only then)."""
    _check_url(url)
    request = urllib.request.Request(url, headers={"User-Agent": "affectlab-data-fetch"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response, open(dest, "wb") as out:
            on_open()
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            with _progress_bar(progress, total, url) as advance:
                for block in iter(lambda: response.read(CHUNK), b""):
                    out.write(block)
                    advance(len(block))
    except urllib.error.HTTPError as err:
        raise AffectlabError(f"cannot download {url}: HTTP {err.code} {err.reason}") from None
    except urllib.error.URLError as err:
        reason = err.reason.strerror if isinstance(err.reason, OSError) and err.reason.strerror else err.reason
        raise AffectlabError(f"cannot download {url}: {reason} (no network? use --source DIR with a local copy)") from None
    except (socket.timeout, TimeoutError):
        raise AffectlabError(f"cannot download {url}: timed out after {TIMEOUT_S:g} s") from None
    except (ConnectionError, OSError) as err:
        raise AffectlabError(f"cannot download {url}: {type(err).__name__}: {err}") from None


@contextlib.contextmanager
def _progress_bar(enabled: bool, total: int | None, url: str) -> Iterator[Callable[[int], None]]:
    if not enabled:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                               TransferSpeedColumn)

    columns = (TextColumn("[bold]download"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(url, total=total)
        yield lambda n: bar.advance(task, n)

