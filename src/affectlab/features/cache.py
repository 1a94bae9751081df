"""On-disk feature cache keyed by extractor identity and input hash.

Vectors live under ``<root>/features/<extractor-key>/`` in shards (``.npz`` with the input
hashes and the rows). The key is made of the extractor's name, version and parameters, so a
change of any of them starts a new cache; the per-input hash means a second run over the same
texts computes nothing, and a run over partly new texts computes only the new ones.

>>> import tempfile, numpy as np
>>> cache = FeatureCache(tempfile.mkdtemp(), "demo", "1", {"dim": 2})
>>> cache.store(["h1"], np.ones((1, 2), dtype=np.float32))
>>> found, missing = cache.lookup(["h1", "h2"])
>>> missing
[1]
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..io import atomic_output


def content_hash(text: str) -> str:
    """sha256 of a string's UTF-8 bytes (hex)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def extractor_key(name: str, version: str, params: dict[str, Any]) -> str:
    """A readable, collision-safe folder name for one extractor configuration."""
    blob = json.dumps({"name": name, "version": version, "params": params}, sort_keys=True, default=str)
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[-40:].strip("_") or "extractor"
    return f"{slug}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


class FeatureCache:
    """Rows of features for inputs identified by their hash, for one extractor configuration."""

    def __init__(self, root: str | os.PathLike[str], name: str, version: str, params: dict[str, Any]) -> None:
        self.dir = Path(root) / "features" / extractor_key(name, version, params)
        self._index: dict[str, tuple[Path, int]] | None = None
        self._meta = {"name": name, "version": version, "params": params}

    def _load_index(self) -> dict[str, tuple[Path, int]]:
        if self._index is None:
            self._index = {}
            if self.dir.is_dir():
                for shard in sorted(self.dir.glob("shard-*.npz")):
                    with np.load(shard, allow_pickle=False) as data:
                        for i, h in enumerate(data["hashes"].tolist()):
                            self._index[h] = (shard, i)
        return self._index

    def lookup(self, hashes: Sequence[str]) -> tuple[dict[int, np.ndarray], list[int]]:
        """Cached rows by position, and the positions that still need computing."""
        index = self._load_index()
        found: dict[int, np.ndarray] = {}
        by_shard: dict[Path, list[tuple[int, int]]] = {}
        missing = []
        for pos, h in enumerate(hashes):
            if h in index:
                shard, row = index[h]
                by_shard.setdefault(shard, []).append((pos, row))
            else:
                missing.append(pos)
        for shard, pairs in by_shard.items():
            with np.load(shard, allow_pickle=False) as data:
                vectors = data["vectors"]
                for pos, row in pairs:
                    found[pos] = vectors[row]
        return found, missing

    def store(self, hashes: Sequence[str], vectors: np.ndarray) -> None:
        """Add rows to the cache as one new shard (atomic, so a crash leaves no broken shard)."""
        if len(hashes) == 0:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        meta = self.dir / "extractor.json"
        if not meta.exists():
            with atomic_output(meta) as tmp:
                tmp.write_text(json.dumps(self._meta, indent=2, default=str))
        digest = hashlib.sha256("".join(hashes).encode()).hexdigest()[:20]
        shard = self.dir / f"shard-{digest}.npz"
        with atomic_output(shard) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, hashes=np.asarray(list(hashes)), vectors=np.asarray(vectors))
        index = self._load_index()
        for i, h in enumerate(hashes):
            index[h] = (shard, i)

    def __len__(self) -> int:
        return len(self._load_index())
