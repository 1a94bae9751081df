"""Running the slow steps on many workers with Dask (``compute:`` section of a run config).

Two steps scale out, both map-reduce over independent chunks:

- **encoding**: texts not yet in the embedding cache are encoded in chunks on the workers
  (:func:`affectlab.features.text.encode_texts_uncached`, one model load per worker process);
  each chunk is written to the cache as it comes back, so the run then reads every row from the
  cache exactly as a single-process run would (an interrupted run keeps the chunks already done);
- **the linear model's fit** (``user_level_kernel``, variant nystroem): the sums of kernel-row
  Gram matrices and cross products over row chunks (:mod:`affectlab.models.nystroem`) are
  computed on the workers and added here; the result equals the local sums up to the order of
  floating-point additions (coefficients agree to ~1e-12).

``compute: {engine: local}`` (the default) runs everything in this process and imports nothing.
``engine: dask`` starts a ``LocalCluster`` of ``workers`` processes (one thread each) or, with
``address``, connects to a running scheduler (``tcp://host:8786``); it needs the ``distributed``
extra (``pip install 'affectlab[distributed]'``). One engine per configuration and process is
kept and closed at exit (:mod:`affectlab.core.compute`). Why Dask rather than Ray: docs/scaling.md.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

# Engine and engine_for live in core.compute (the linear model uses them too), the chunk mapper
# beside the sums it maps (models.nystroem); re-exported here, where the compute section is documented.
from .core.compute import Engine, engine_for
from .models.nystroem import chunk_mapper

#: texts per encoding task sent to a worker
ENCODE_CHUNK = 2048


# --- encoding ---------------------------------------------------------------------------------
def _encode_chunk(cfg: Any, texts: list[str]) -> np.ndarray:
    from .features.text import encode_texts_uncached

    return encode_texts_uncached(texts, cfg)


def prefill_text_cache(texts: Sequence[str], cfg: Any, cache_dir: Any, engine: Engine,
                       chunk_size: int = ENCODE_CHUNK) -> int:
    """Encode on the workers the texts of ``texts`` missing from the cache of encoder config
    ``cfg``, storing each chunk as it returns; the number of texts encoded. A local engine does
    nothing (the single-process path encodes them itself)."""
    if engine.is_local or not len(texts):
        return 0
    from .features.cache import text_digests
    from .features.text import text_cache

    texts = [str(t) for t in texts]
    cache = text_cache(cfg, cache_dir)
    keys = text_digests(texts)
    unique, first = np.unique(keys, return_index=True)
    missing = np.flatnonzero(cache.locate(unique)[:, 0] < 0)
    # shortest first: a chunk spans few lengths, so the encoder's batches fill up
    missing = missing[np.argsort([len(texts[first[m]]) for m in missing], kind="stable")]
    parts = [missing[at:at + chunk_size] for at in range(0, len(missing), chunk_size)]
    for part, vectors in zip(parts, engine.map(_encode_chunk, [[texts[first[m]] for m in p] for p in parts], cfg)):
        cache.store(unique[part], np.asarray(vectors, dtype=np.float32))
    return int(len(missing))


__all__ = ["ENCODE_CHUNK", "Engine", "chunk_mapper", "engine_for", "prefill_text_cache"]
