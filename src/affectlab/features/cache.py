"""The one on-disk feature cache of every extractor, keyed by extractor identity and input hash.

Every extractor (text, audio, face, speech-to-text; :mod:`affectlab.features.base`) caches
through this class. Layout under ``<root>/features/<extractor-key>/`` (the key is made of the
extractor's name, version and parameters, so a change of any of them starts a new cache)::

    extractor.json            what the key stands for
    chunk-<digest>/           one committed chunk: keys.npy (n, 32) uint8 sha256 digests of the
                              inputs, vectors.npy (n, dim) float32, manifest.json (n, dim, crc32
                              of both files); written in a private temporary folder and renamed
                              into place, so a chunk is there whole or not at all
    views/<digest>.npy        the matrix of one input sequence (rows in input order), built from
                              the chunks, with <digest>.json holding its crc32; the views together
                              never take more disk than the chunks' vectors (the least recently
                              used go first when a new one is built)
    items/<kk>/<digest>.item  the named arrays one input item gave (media: a segment's
                              functionals, a frame sequence, a file's words), for extractors
                              whose outputs are not one fixed-width row; ``<digest>`` is the
                              item's content hash (for media: sha256 of the file's bytes and the
                              segment): a JSON header (names, dtypes, shapes, crc32) and the
                              arrays' bytes (:func:`encode_item`), written to a temporary file
                              and renamed into place

Rows (text embeddings) are stored in chunks; items (media) one file per item.

Chunks are opened with ``np.load(mmap_mode="r")`` and views are returned as read-only memory
maps, so a million 384-d rows (1.5 GB) never have to sit in memory. Every file is checked
against its crc32 before its rows are used: a truncated or damaged chunk is removed (its rows
are then computed again) and a damaged view is rebuilt; nothing damaged is ever returned.

Several processes may write into one cache at once (several ``affectlab`` runs, or Dask
workers): each writes its own temporary folder and renames it; two writers of the same rows
produce the same chunk name and the second one's copy is dropped. No lock is needed, and an
interrupted writer leaves only a temporary folder (removed by the next writer once its
process is gone).

>>> import tempfile, numpy as np
>>> cache = FeatureCache(tempfile.mkdtemp(), "demo", "1", {"dim": 2})
>>> _ = cache.store(["h1"], np.ones((1, 2), dtype=np.float32))
>>> found, missing = cache.lookup(["h1", "h2"])
>>> missing
[1]
>>> _ = cache.put_item(content_hash("a.wav:0-1"), {"f0": np.array([150.0])})
>>> cache.get_item(content_hash("a.wav:0-1"))["f0"].tolist(), cache.get_item(content_hash("b.wav"))
([150.0], None)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import uuid
import zlib
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ..core.errors import AffectlabError
from ..core.io import atomic_output
from ..core.processes import pid_alive

log = logging.getLogger(__name__)

#: the on-disk layout of a chunk (a change starts a new cache folder via ``extractor_key``)
FORMAT = 2
KEY_BYTES = 32
_CRC_BLOCK = 1 << 24  # bytes read at a time when checking a file (bounded memory)


def content_hash(text: str) -> str:
    """sha256 of a string's UTF-8 bytes (hex)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def content_digests(items: Iterable[str]) -> np.ndarray:
    """sha256 digests of strings (UTF-8), or of hex hashes as given by :func:`content_hash`
    when an item is already one: an ``(n,)`` array of 32-byte keys (dtype ``S32``)."""
    out = []
    for s in items:
        if len(s) == 2 * KEY_BYTES and _HEX.fullmatch(s):
            out.append(bytes.fromhex(s))
        else:
            out.append(hashlib.sha256(s.encode("utf-8")).digest())
    return np.array(out, dtype=f"S{KEY_BYTES}") if out else np.empty(0, dtype=f"S{KEY_BYTES}")


_HEX = re.compile(r"[0-9a-f]+")


def text_digests(texts: Iterable[str]) -> np.ndarray:
    """The cache keys of texts: sha256 of their UTF-8 bytes, ``(n,)`` dtype ``S32``."""
    digests = [hashlib.sha256(t.encode("utf-8")).digest() for t in texts]
    return np.array(digests, dtype=f"S{KEY_BYTES}") if digests else np.empty(0, dtype=f"S{KEY_BYTES}")


def extractor_key(name: str, version: str, params: dict[str, Any]) -> str:
    """A readable, collision-safe folder name for one extractor configuration."""
    blob = json.dumps({"name": name, "version": version, "params": params, "format": FORMAT}, sort_keys=True, default=str)
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[-40:].strip("_") or "extractor"
    return f"{slug}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def file_crc(path: Path) -> int:
    """crc32 of a file's bytes, read in blocks."""
    crc = 0
    with open(path, "rb") as fh:
        while block := fh.read(_CRC_BLOCK):
            crc = zlib.crc32(block, crc)
    return crc


class FeatureCache:
    """Rows of features for inputs identified by their hash, for one extractor configuration."""

    def __init__(self, root: str | os.PathLike[str], name: str, version: str, params: dict[str, Any]) -> None:
        root = Path(root)
        if root.exists() and not root.is_dir():
            raise AffectlabError(f"feature cache {root}: is a file, not a folder (features.cache_dir or $AFFECTLAB_CACHE)")
        self.dir = root / "features" / extractor_key(name, version, params)
        self._meta = {"name": name, "version": version, "params": params, "format": FORMAT}
        self._chunks: list[Path] = []
        self._keys = np.empty(0, dtype=f"S{KEY_BYTES}")  # sorted
        self._where = np.empty((0, 2), dtype=np.int64)  # (chunk index, row) per sorted key
        self._seen: set[str] = set()
        self._checked: dict[Path, bool] = {}  # chunk -> its crc matched (checked once per process)
        self.repaired = 0  # rows of damaged chunks dropped in this process

    # ---- index -------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Pick up chunks committed since the last look (by this or another process)."""
        if not self.dir.is_dir():
            return
        new = sorted(p for p in self.dir.glob("chunk-*") if p.is_dir() and p.name not in self._seen)
        keys, where = [self._keys], [self._where]
        for chunk in new:
            self._seen.add(chunk.name)
            try:
                manifest = json.loads((chunk / "manifest.json").read_text())
                k = np.load(chunk / "keys.npy", allow_pickle=False)
                if k.ndim != 2 or k.shape[1] != KEY_BYTES or len(k) != manifest["n"]:
                    raise ValueError("keys do not match the manifest")
            except (OSError, ValueError, KeyError, TypeError) as err:
                self._drop(chunk, f"unreadable ({err})", None)
                continue
            idx = len(self._chunks)
            self._chunks.append(chunk)
            keys.append(np.ascontiguousarray(k).view(f"S{KEY_BYTES}").ravel())
            where.append(np.stack([np.full(len(k), idx), np.arange(len(k))], axis=1))
        if len(keys) > 1:
            all_keys = np.concatenate(keys)
            all_where = np.concatenate(where)
            order = np.argsort(all_keys, kind="stable")
            self._keys, self._where = all_keys[order], all_where[order]

    def locate(self, keys: np.ndarray) -> np.ndarray:
        """``(n, 2)`` (chunk index, row) for each key; chunk index -1 where the key is not cached."""
        self.refresh()
        out = np.full((len(keys), 2), -1, dtype=np.int64)
        if len(self._keys) and len(keys):
            pos = np.searchsorted(self._keys, keys)
            pos_c = np.minimum(pos, len(self._keys) - 1)
            hit = self._keys[pos_c] == keys
            out[hit] = self._where[pos_c[hit]]
        return out

    def locate_intact(self, keys: np.ndarray) -> np.ndarray:
        """:meth:`locate`, with the chunks holding these keys checked first (:meth:`verify`):
        keys whose chunk was damaged (and dropped) come back as not cached."""
        where = self.locate(keys)
        if not self.verify(where[:, 0]):
            where = self.locate(keys)
        return where

    def verify(self, chunk_ids: Iterable[int]) -> bool:
        """Check the crc32 of these chunks' files; drop damaged ones. True when all were intact."""
        ok = True
        for i in sorted(set(int(c) for c in chunk_ids if c >= 0)):
            chunk = self._chunks[i]
            if chunk in self._checked:
                ok &= self._checked[chunk]
                continue
            try:
                manifest = json.loads((chunk / "manifest.json").read_text())
                good = all(file_crc(chunk / f) == manifest["crc"][f] for f in ("keys.npy", "vectors.npy"))
                if good:
                    v = np.load(chunk / "vectors.npy", mmap_mode="r", allow_pickle=False)
                    good = v.dtype == np.float32 and v.shape == (manifest["n"], manifest["dim"])
                reason = "damaged (checksum or shape mismatch)"
            except (OSError, ValueError, KeyError, TypeError) as err:
                good, reason = False, f"unreadable ({err})"
            self._checked[chunk] = good
            if not good:
                self._drop(chunk, reason, i)
                ok = False
        return ok

    def _drop(self, chunk: Path, reason: str, index: int | None) -> None:
        """Remove a damaged chunk from disk and from the index; its rows will be computed again."""
        n = 0
        if index is not None:
            hit = self._where[:, 0] == index
            n = int(hit.sum())
            self._keys, self._where = self._keys[~hit], self._where[~hit]
        self.repaired += n
        self._seen.discard(chunk.name)  # rows written again get the same chunk name: pick it up then
        self._checked.pop(chunk, None)
        log.warning("feature cache: %s is %s; its %d rows will be computed again", chunk, reason, n)
        trash = chunk.with_name(f".trash-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        try:
            os.rename(chunk, trash)
            shutil.rmtree(trash, ignore_errors=True)
        except OSError:
            pass

    def rows(self, where: np.ndarray, dim: int | None = None) -> np.ndarray:
        """The cached rows at ``where`` (from :meth:`locate`; every key must be cached), in memory."""
        dim = dim or self.dim()
        assert dim is not None, "rows() of an empty cache"
        out = np.empty((len(where), dim), dtype=np.float32)
        self._fill(out, where)
        return out

    def _fill(self, out: np.ndarray, where: np.ndarray) -> None:
        for c in np.unique(where[:, 0]):
            sel = np.flatnonzero(where[:, 0] == c)
            vectors = np.load(self._chunks[c] / "vectors.npy", mmap_mode="r", allow_pickle=False)
            out[sel] = vectors[where[sel, 1]]

    def dim(self) -> int | None:
        """Width of the cached rows (None while the cache is empty)."""
        self.refresh()
        for chunk in self._chunks:
            try:
                return int(json.loads((chunk / "manifest.json").read_text())["dim"])
            except (OSError, ValueError, KeyError):
                continue
        return None

    # ---- the simple API ----------------------------------------------------------------------
    def lookup(self, hashes: Sequence[str]) -> tuple[dict[int, np.ndarray], list[int]]:
        """Cached rows by position, and the positions that still need computing."""
        where = self.locate_intact(content_digests(hashes))
        hit = np.flatnonzero(where[:, 0] >= 0)
        found: dict[int, np.ndarray] = {}
        if len(hit):
            rows = self.rows(where[hit])
            found = {int(p): rows[i] for i, p in enumerate(hit)}
        return found, [int(p) for p in np.flatnonzero(where[:, 0] < 0)]

    def store(self, hashes: "Sequence[str] | np.ndarray", vectors: np.ndarray) -> Path | None:
        """Commit rows as one chunk (atomic). ``hashes``: hex hashes/strings, or ``S32`` digests.

        This is also how externally computed rows (other processes, Dask workers) enter the
        cache: any process may call it at any time.
        """
        keys = hashes if isinstance(hashes, np.ndarray) and hashes.dtype == np.dtype(f"S{KEY_BYTES}") else content_digests(hashes)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if len(keys) == 0:
            return None
        if vectors.ndim != 2 or len(vectors) != len(keys):
            raise ValueError(f"store: {len(keys)} keys but vectors of shape {vectors.shape}")
        self.dir.mkdir(parents=True, exist_ok=True)
        self._write_meta()
        self._sweep_temporaries()
        key_bytes = np.frombuffer(keys.tobytes(), dtype=np.uint8).reshape(len(keys), KEY_BYTES)
        digest = hashlib.sha256(key_bytes.tobytes()).hexdigest()[:24]
        final = self.dir / f"chunk-{digest}"
        if final.is_dir():
            return final
        tmp = self.dir / f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            crc = {}
            for name, arr in (("keys.npy", key_bytes), ("vectors.npy", vectors)):
                with open(tmp / name, "wb") as fh:
                    np.save(fh, arr, allow_pickle=False)
                    fh.flush()
                    os.fsync(fh.fileno())
                crc[name] = file_crc(tmp / name)
            (tmp / "manifest.json").write_text(json.dumps({"n": len(keys), "dim": int(vectors.shape[1]), "crc": crc,
                                                           "format": FORMAT}))
            try:
                os.rename(tmp, final)
            except OSError:  # another writer committed the same rows first: theirs stays
                if not final.is_dir():
                    raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return final

    def _sweep_temporaries(self) -> None:
        """Remove temporary folders left by writers that no longer run (killed mid-commit)."""
        for p in self.dir.glob(".tmp-*"):
            try:
                pid = int(p.name.split("-")[1])
            except (IndexError, ValueError):
                continue
            if pid != os.getpid() and not pid_alive(pid):
                if p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
        for p in self.dir.glob(".trash-*"):
            shutil.rmtree(p, ignore_errors=True)

    # ---- views: the matrix of one input sequence ----------------------------------------------
    def view_path(self, keys: np.ndarray) -> Path:
        return self.dir / "views" / f"{hashlib.sha256(keys.tobytes()).hexdigest()[:32]}.npy"

    def open_view(self, keys: np.ndarray) -> np.ndarray | None:
        """The stored matrix for exactly this key sequence, if present and intact (read-only memmap)."""
        path = self.view_path(keys)
        side = path.with_suffix(".json")
        if not (path.is_file() and side.is_file()):
            return None
        try:
            info = json.loads(side.read_text())
            matrix = np.load(path, mmap_mode="r", allow_pickle=False)
            if matrix.shape[0] == len(keys) and matrix.dtype == np.float32 and file_crc(path) == info["crc"]:
                with contextlib.suppress(OSError):  # another user's view, a read-only cache: still intact
                    os.utime(path)  # recently used: pruned last (see _prune_views)
                return matrix
        except (OSError, ValueError, KeyError, TypeError):
            pass
        log.warning("feature cache: view %s is damaged; rebuilding it from the chunks", path)
        for p in (path, side):
            p.unlink(missing_ok=True)
        return None

    def build_view(self, keys: np.ndarray, where: np.ndarray, dim: int, block: int = 8192) -> np.ndarray:
        """Write the rows at ``where`` (every key cached) as one ``.npy`` in input order; return it
        memory-mapped read-only. Streamed in blocks of ``block`` rows with plain writes (no
        writable map, so written pages do not count as this process's memory) to a temporary
        file, renamed into place."""
        path = self.view_path(keys)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp.npy")
        try:
            header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False,
                      "shape": (len(keys), dim)}
            with open(tmp, "wb") as fh:
                np.lib.format.write_array_header_1_0(fh, header)
                for start in range(0, len(keys), block):
                    fh.write(np.ascontiguousarray(self.rows(where[start:start + block], dim)).tobytes())
            crc = file_crc(tmp)
            with atomic_output(path.with_suffix(".json")) as side:
                side.write_text(json.dumps({"n": len(keys), "dim": dim, "crc": crc}))
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        matrix = np.load(path, mmap_mode="r", allow_pickle=False)
        self._prune_views(keep=path)
        return matrix

    def _prune_views(self, keep: Path) -> None:
        """Remove the least recently used views until all views together take no more disk than the
        chunks' vectors (``keep``, the view just built, stays). A process that has a removed view
        open keeps reading it (the file lives on until closed); one about to open it rebuilds it."""
        def size_and_time(p: Path) -> tuple[int, int] | None:
            try:
                st = p.stat()
            except OSError:  # removed meanwhile by another process
                return None
            return st.st_size, st.st_mtime_ns

        budget = sum(s[0] for s in map(size_and_time, self.dir.glob("chunk-*/vectors.npy")) if s)
        views = [(p, s) for p in (self.dir / "views").glob("*.npy") if not p.name.startswith(".")
                 for s in [size_and_time(p)] if s]
        used = sum(s[0] for p, s in views if p == keep)
        for p, (size, _) in sorted((v for v in views if v[0] != keep), key=lambda v: -v[1][1]):
            used += size
            if used > budget:
                for f in (p, p.with_suffix(".json")):
                    f.unlink(missing_ok=True)

    def __len__(self) -> int:
        self.refresh()
        return len(self._keys)

    # ---- items: named arrays per input item (media) --------------------------------------------
    def item_path(self, key: str) -> Path:
        """Where the item with content hash ``key`` (64 hex characters) is stored."""
        if not (len(key) == 2 * KEY_BYTES and _HEX.fullmatch(key)):
            raise ValueError(f"item key must be a sha256 hex digest, not {key!r}")
        return self.dir / "items" / key[:2] / f"{key}.item"

    def get_item(self, key: str) -> dict[str, np.ndarray] | None:
        """The arrays stored for ``key``, or None when absent. A damaged file (crc32 mismatch,
        truncated, not an item) is removed and reported as absent: computed again."""
        path = self.item_path(key)
        try:
            raw = bytearray(path.read_bytes())  # a bytearray: the arrays below are writable views of it
        except FileNotFoundError:
            return None
        except OSError as err:
            log.warning("feature cache: cannot read %s (%s); it will be computed again", path, err)
            return None
        try:
            return decode_item(raw)
        except ValueError as err:
            log.warning("feature cache: %s is damaged (%s); it will be computed again", path, err)
            self.repaired += 1
            with contextlib.suppress(OSError):
                path.unlink()
            return None

    def put_item(self, key: str, arrays: dict[str, np.ndarray]) -> Path:
        """Store one item's arrays (atomic: a temporary file renamed into place; no pickles).

        Two writers of the same item write the same bytes; the last rename wins, and a reader sees
        one whole file or none. An ``OSError`` (full disk, read-only folder) is the caller's to report.
        """
        path = self.item_path(key)
        blob = encode_item(arrays)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._write_meta()
        self._sweep_temporaries()
        tmp = self.dir / f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}.item"  # same file system: the rename is atomic
        try:
            with open(tmp, "wb") as fh:
                fh.write(blob)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    def _write_meta(self) -> None:
        meta = self.dir / "extractor.json"
        if not meta.exists():
            self.dir.mkdir(parents=True, exist_ok=True)
            with atomic_output(meta) as tmp:
                tmp.write_text(json.dumps(self._meta, indent=2, default=str))


#: first bytes of an item file (a change of layout gets a new magic)
ITEM_MAGIC = b"AFLITEM1"


def encode_item(arrays: dict[str, Any]) -> bytes:
    """Named arrays as bytes: magic, 4-byte header length, JSON header (name, dtype, shape and
    size of each array, crc32 of the payload), then the arrays' bytes. Numbers and fixed-width
    strings only (a cache never holds pickles); read back by :func:`decode_item`.

    >>> item = decode_item(bytearray(encode_item({"f0": np.array([150.0]), "n": np.asarray(2), "w": np.array(["hi"])})))
    >>> item["f0"].tolist(), item["n"].shape, item["w"].tolist()
    ([150.0], (), ['hi'])
    """
    parts, spec = [], []
    for name, value in arrays.items():
        arr = np.asarray(value)  # tobytes() is C order (ascontiguousarray would make a 0-d array 1-d)
        if arr.dtype.hasobject:
            raise ValueError(f"put_item: array {name!r} holds Python objects; store numbers or fixed-width strings")
        spec.append([name, arr.dtype.str, list(arr.shape), arr.nbytes])
        parts.append(arr.tobytes())
    payload = b"".join(parts)
    header = json.dumps({"arrays": spec, "crc": zlib.crc32(payload)}).encode()
    return ITEM_MAGIC + len(header).to_bytes(4, "little") + header + payload


def decode_item(raw: bytearray) -> dict[str, np.ndarray]:
    """The arrays of :func:`encode_item`'s bytes; ``ValueError`` when they are damaged."""
    n = len(ITEM_MAGIC)
    if raw[:n] != ITEM_MAGIC or len(raw) < n + 4:
        raise ValueError("not an item file")
    size = int.from_bytes(raw[n:n + 4], "little")
    try:
        header = json.loads(bytes(raw[n + 4:n + 4 + size]))
        at = n + 4 + size
        if len(raw) - at != sum(int(a[3]) for a in header["arrays"]) or zlib.crc32(memoryview(raw)[at:]) != header["crc"]:
            raise ValueError("size or crc32 mismatch")
        out: dict[str, np.ndarray] = {}
        for name, dtype, shape, nbytes in header["arrays"]:
            dt = np.dtype(dtype)
            if dt.hasobject:
                raise ValueError("object array")
            count = int(np.prod(shape, dtype=np.int64))
            out[name] = (np.frombuffer(raw, dt, count, at) if count else np.empty(0, dt)).reshape(tuple(shape))
            at += nbytes
        return out
    except (KeyError, TypeError, IndexError, json.JSONDecodeError) as err:
        raise ValueError(f"bad header ({type(err).__name__})") from None
