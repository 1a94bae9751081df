"""Fetch a speech corpus into the cache: its recordings under ``wav/`` and a ``labels.csv`` parsed from their names.

The source is a local folder or zip (``--source``), or a zip downloaded from the corpus's archive
URL (or ``--url``). Every file is matched against the corpus's naming convention
(:mod:`.naming`); matching recordings are copied (hashed on the way), their labels written to

- ``labels.csv``: ``file,speaker[,gender],text_code,emotion[,...],valence,arousal`` for the
  recordings whose emotion is one of the seven EmoDB classes, so that
  ``affectlab extract configs/extract/emodb.yaml --media DIR --labels DIR/labels.csv`` reads it as is
  (``text_code`` is empty where the names carry none);
- ``labels-all.csv``: every recording, when the corpus has emotions outside those seven (calm,
  surprise; their valence and arousal are empty: :mod:`.circumplex` has no number for them),

and the folder enters the cache in one rename with a ``MANIFEST.json`` (source, date, licence,
counts, each file's sha256). Refused before anything enters the cache, with one line: a source
with no recording named by the convention, an unknown code in a name, two different files that
would land on one name, a Git LFS pointer in place of audio.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Any

from ...core.errors import AffectlabError
from ...core.io import write_json
from .. import datasets as ds
from .circumplex import EMODB_CLASSES, circumplex
from .naming import Parsed, Skip

if TYPE_CHECKING:
    import pandas as pd

LABELS = "labels.csv"
LABELS_ALL = "labels-all.csv"
#: the columns every labels.csv has, in this order; a corpus's other columns follow emotion
LEAD = ("file", "speaker", "gender", "text_code", "emotion")


@dataclass
class _Found:
    parsed: Parsed
    origin: str  # where in the source (for MANIFEST.json)
    open: Callable[[], contextlib.AbstractContextManager[IO[bytes]]]


def _members(source: Path) -> Iterator[tuple[PurePosixPath, str, Callable[[], contextlib.AbstractContextManager[IO[bytes]]]]]:
    """(path inside the source, label, opener) for each file of a folder or zip, zips in a folder included."""
    if source.is_file():
        yield from _zip_members(source, "")
        return
    for path in sorted(source.rglob("*")):
        if not path.is_file():
            continue
        rel = PurePosixPath(path.relative_to(source).as_posix())
        if path.suffix.lower() == ".zip":
            yield from _zip_members(path, f"{rel}!")
        else:
            yield rel, str(rel), _file_opener(path)


def _file_opener(path: Path) -> Callable[[], contextlib.AbstractContextManager[IO[bytes]]]:
    return lambda: open(path, "rb")


def _zip_members(archive: Path, prefix: str) -> Iterator[tuple[PurePosixPath, str, Callable[[], contextlib.AbstractContextManager[IO[bytes]]]]]:
    try:
        with zipfile.ZipFile(archive) as zf:
            names = [m.filename for m in zf.infolist() if not m.is_dir()]
    except zipfile.BadZipFile:
        raise AffectlabError(f"{prefix.rstrip('!') or archive}: not a zip archive") from None
    except OSError as err:
        raise AffectlabError(f"{archive}: cannot read ({err.strerror or err})") from None

    def opener(member: str) -> Callable[[], contextlib.AbstractContextManager[IO[bytes]]]:
        @contextlib.contextmanager
        def open_member() -> Iterator[IO[bytes]]:
            with zipfile.ZipFile(archive) as zf, zf.open(member) as fh:
                yield fh
        return open_member

    for name in sorted(names):
        yield PurePosixPath(name), prefix + name, opener(name)


def _collect(spec: ds.DatasetSpec, source: Path, where: str, staging: Path, say: ds.Say) -> dict[str, tuple[Parsed, str, str, int]]:
    """Parse every file name of ``source``, copy the recordings into ``staging``; dest -> (parsed, from, sha256, bytes)."""
    recipe = spec.recipe
    kept: dict[str, tuple[Parsed, str, str, int]] = {}
    skipped: Counter[str] = Counter()
    strays: list[str] = []
    duplicates = 0
    for rel, label, opener in _members(source):
        result = recipe.parse(rel)
        if result is None:
            if rel.suffix.lower() == ".wav":
                strays.append(label)
            continue
        if isinstance(result, Skip):
            skipped[result.reason] += 1
            continue
        dest = staging / result.dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        if result.dest in kept:  # the same recording twice (some copies nest the corpus twice)
            scratch = staging.parent / "duplicate"
            with opener() as stream:
                digest, _ = ds._copy_verified(stream, scratch)
            scratch.unlink()
            if digest != kept[result.dest][2]:
                raise AffectlabError(f"{where}: {kept[result.dest][1]} and {label} differ but both would be "
                                     f"{result.dest}; give --source the folder of one copy")
            duplicates += 1
            continue
        with opener() as stream:
            digest, head = ds._copy_verified(stream, dest)
        if head.startswith(ds._LFS_POINTER):
            raise AffectlabError(f"{label}: is a Git LFS pointer, not audio (fetch the LFS files, e.g. "
                                 "'git lfs pull', and use --source)")
        kept[result.dest] = (result, label, digest, dest.stat().st_size)
    if not kept:
        seen = f"; {len(strays)} .wav files do not follow it (e.g. {strays[0]})" if strays else "; it has no .wav file"
        skip = f"; skipped {sum(skipped.values())}: {', '.join(skipped)}" if skipped else ""
        raise AffectlabError(f"{where}: no recording named by the {recipe.title} convention "
                             f"(e.g. {recipe.example}){seen}{skip}")
    for reason, count in skipped.items():
        say(f"Skipped {count} recording(s): {reason}")
    if strays:
        say(f"Ignored {len(strays)} .wav file(s) not named by the {recipe.title} convention (e.g. {strays[0]})")
    if duplicates:
        say(f"Ignored {duplicates} identical second copies of recordings")
    return kept


def label_frame(parsed: list[Parsed]) -> pd.DataFrame:
    """The labels table of ``parsed`` recordings, sorted by file, with the circumplex numbers.

    >>> from .naming import parse_emodb
    >>> from pathlib import PurePosixPath as P
    >>> frame = label_frame([parse_emodb(P("16b10Td.wav")), parse_emodb(P("03a01Wa.wav"))])
    >>> frame.columns.tolist()
    ['file', 'speaker', 'gender', 'text_code', 'emotion', 'version', 'valence', 'arousal']
    >>> frame[["file", "emotion", "valence", "arousal"]].values.tolist()
    [['wav/03a01Wa.wav', 'anger', '-0.51', '0.59'], ['wav/16b10Td.wav', 'sadness', '-0.63', '-0.27']]
    """
    import pandas as pd  # here: 'affectlab data list' registers the corpora without loading pandas

    keys: list[str] = []
    for p in parsed:
        keys += [k for k in p.labels if k not in keys]
    columns = [c for c in LEAD if c in keys or c in ("file", "text_code")]
    columns += [k for k in keys if k not in columns] + ["valence", "arousal"]
    rows = []
    for p in sorted(parsed, key=lambda p: p.dest):
        point = circumplex(p.labels["emotion"])
        row = {"file": p.dest, "text_code": "", **p.labels}
        row["valence"], row["arousal"] = ("", "") if point is None else (f"{point[0]:g}", f"{point[1]:g}")
        rows.append(row)
    return pd.DataFrame(rows, columns=columns).fillna("")


def fetch_speech(spec: ds.DatasetSpec, cache: str | os.PathLike[str] | None = None, *,
                 source: str | os.PathLike[str] | None = None, url: str | None = None, force: bool = False,
                 progress: bool = True, say: ds.Say = ds._quiet) -> ds.FetchResult:
    """Put speech corpus ``spec`` into the cache (see the module docstring)."""
    recipe = spec.recipe
    if source is not None and url is not None:
        raise AffectlabError("give either --source or --url, not both")
    root = ds._cache_root(cache)
    target = root / spec.name
    if source is not None and not Path(source).expanduser().exists():  # before the cache is touched
        raise AffectlabError(f"{Path(source).expanduser()}: no such file or folder")
    if source is None:
        if not (url or spec.archive_url):
            raise AffectlabError(recipe.how_to_get)
        ds._check_url(url or spec.archive_url)
    removed = ds.clean_stale_scratch(root)
    if removed:
        say(f"Removed {removed} folder(s) left by an interrupted fetch")
    if not force and ds.is_cached(spec.name, cache, verify=True):
        manifest = ds.read_manifest(target) or {}
        files = {k: v["sha256"] for k, v in dict(manifest.get("files", {})).items() if isinstance(v, dict)}
        return ds.FetchResult(spec.name, target, True, str(manifest.get("source", "")), files,
                              f"{spec.name} is already cached (verified) in {target}")
    created = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    try:
        with ds._scratch(root, ds._scratch_prefix(spec.name)) as scratch:
            staging = scratch / "files"
            staging.mkdir()
            if source is not None:
                where = Path(source).expanduser()
                origin = str(where.resolve())
                kept = _collect(spec, where, str(where), staging, say)
            else:
                origin = url or spec.archive_url
                archive = scratch / "archive.zip"
                say(f"Downloading {spec.name} from {origin}")
                ds._download(origin, archive, progress=progress)
                kept = _collect(spec, archive, origin, staging, say)
            summary, counts = _write_labels(spec, [k[0] for k in kept.values()], staging, say)
            files = {dest: {"sha256": sha, "bytes": size, "from": label} for dest, (_, label, sha, size) in sorted(kept.items())}
            for name in (LABELS, LABELS_ALL):
                if (staging / name).exists():
                    files[name] = {"sha256": ds.sha256_file(staging / name), "bytes": (staging / name).stat().st_size,
                                   "from": "parsed from the file names"}
            now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
            write_json(staging / ds.MANIFEST, {
                "dataset": spec.name, "source": origin, "fetched": now, "licence": spec.licence,
                "homepage": spec.homepage, "recipe": counts, "files": files})
            ds._chmod_like_umask(staging / ds.MANIFEST)
            ds._install(staging, target, scratch)
    except BaseException:
        if created and root.is_dir() and not any(root.iterdir()):
            root.rmdir()  # a failed first fetch leaves no empty cache folder behind
        raise
    return ds.FetchResult(spec.name, target, False, origin, {k: v["sha256"] for k, v in files.items()},
                          f"{summary}; cached in {target}")


def _write_labels(spec: ds.DatasetSpec, parsed: list[Parsed], staging: Path, say: ds.Say) -> tuple[str, dict[str, Any]]:
    """Write labels.csv (EmoDB's seven classes) and, when needed, labels-all.csv; the summary line and counts."""
    recipe = spec.recipe
    frame = label_frame(parsed)
    emodb = frame[frame["emotion"].isin(EMODB_CLASSES)]
    frame_counts = frame["emotion"].value_counts().sort_index()
    counts: dict[str, Any] = {"recordings": len(frame), "speakers": int(frame["speaker"].nunique()),
              "emotions": {str(k): int(v) for k, v in frame_counts.items()},
              "labels": {LABELS: len(emodb)}}
    emodb.to_csv(staging / LABELS, index=False)
    if len(emodb) < len(frame):
        frame.to_csv(staging / LABELS_ALL, index=False)
        counts["labels"][LABELS_ALL] = len(frame)
        others = sorted(set(frame["emotion"]) - set(EMODB_CLASSES))
        say(f"{LABELS} holds the {len(emodb)} recordings in EmoDB's seven classes (for configs/extract/emodb.yaml); "
            f"{LABELS_ALL} all {len(frame)}, with {', '.join(others)} (no circumplex numbers)")
    if recipe.recordings is not None and len(frame) != recipe.recordings:
        say(f"Found {len(frame)} recordings; {recipe.title} documents {recipe.recordings} (a subset or another release?)")
    mix = ", ".join(f"{k} {v}" for k, v in counts["emotions"].items())
    return f"{spec.name}: {len(frame)} recordings of {counts['speakers']} speakers ({mix}) and {LABELS}", counts
