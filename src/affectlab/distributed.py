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
kept and closed at exit. Why Dask rather than Ray: docs/scaling.md.
"""

from __future__ import annotations

import atexit
import functools
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .core.errors import AffectlabError

#: texts per encoding task sent to a worker
ENCODE_CHUNK = 2048


class Engine:
    """Where chunks run: here (``client`` None) or on a Dask cluster."""

    def __init__(self, engine: str = "local", workers: int = 2, address: str | None = None) -> None:
        if engine not in ("local", "dask"):
            raise AffectlabError(f"compute.engine must be local or dask, not {engine!r}")
        self.engine, self.workers, self.address = engine, int(workers), address
        self.client = None
        self._cluster = None
        if engine == "dask":
            try:
                from dask.distributed import Client, LocalCluster
            except ImportError:
                raise AffectlabError("compute.engine dask needs the 'distributed' extra: "
                                     "pip install 'affectlab[distributed]'") from None
            try:
                if address:
                    self.client = Client(address, timeout="30s")
                else:
                    self._cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                                 dashboard_address=None)
                    self.client = Client(self._cluster)
            except OSError as err:
                raise AffectlabError(f"compute: cannot reach a Dask scheduler ({err})") from None

    @property
    def is_local(self) -> bool:
        return self.client is None

    def map(self, fn: Callable, items: Sequence[Any], shared: Any = None) -> Iterable[Any]:
        """``fn(shared, item)`` for each item, results in the order of ``items``.

        Locally a lazy generator; on Dask, ``shared`` is sent to every worker once and at most
        ``2 * workers`` tasks are in flight, so results (which may be large) arrive in bounded memory.
        """
        if self.is_local:
            return (fn(shared, item) for item in items)
        return self._ordered(fn, items, shared)

    def _ordered(self, fn: Callable, items: Sequence[Any], shared: Any) -> Iterable[Any]:
        shared_future = self.client.scatter(shared, broadcast=True) if shared is not None else None
        window = max(2, 2 * len(self.client.scheduler_info().get("workers", {})) or 2 * self.workers)
        pending: dict[int, Any] = {}
        nxt = 0
        for i in range(len(items)):
            while nxt < len(items) and nxt < i + window:
                item = items[nxt]
                if _nbytes(item) > 1_000_000:  # big arrays travel as data, not inside the task graph
                    item = self.client.scatter(item)
                pending[nxt] = self.client.submit(fn, shared_future, item, pure=False)
                nxt += 1
            yield pending.pop(i).result()

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


def _nbytes(item: Any) -> int:
    """Approximate size of an item of arrays (tuples and lists of arrays, sparse matrices)."""
    if isinstance(item, (tuple, list)):
        return sum(_nbytes(i) for i in item)
    if hasattr(item, "data") and hasattr(item, "indices"):  # scipy sparse
        return int(item.data.nbytes + item.indices.nbytes)
    return int(getattr(item, "nbytes", 0))


@functools.lru_cache(maxsize=2)
def _engine(engine: str, workers: int, address: str | None) -> Engine:
    e = Engine(engine, workers, address)
    atexit.register(e.close)
    return e


def engine_for(compute: Any) -> Engine:
    """The process's engine for a ``compute`` config (object or dict; None: local)."""
    if compute is None:
        return _engine("local", 1, None)
    get = compute.get if isinstance(compute, dict) else functools.partial(getattr, compute)
    return _engine(str(get("engine", "local")), int(get("workers", 2)), get("address", None))


# --- the linear model's chunk sums ------------------------------------------------------------
def _run_chunk(job: Any, payload: tuple) -> dict:
    """One chunk of :func:`affectlab.models.nystroem.accumulate` on a worker: ``job`` holds the
    landmarks and flags, ``payload`` the chunk's own rows."""
    from .models.nystroem import kernel_block, partial_sums, unit_rows

    x, tf, Y, codes = payload
    K = kernel_block(unit_rows(x), job.xz, tf, job.tfz, job.spec)
    return partial_sums(K, Y, codes, job.centred, job.plain)


def chunk_mapper(engine: Engine) -> Callable | None:
    """The ``map_chunks`` argument of :func:`~affectlab.models.nystroem.accumulate` for ``engine``
    (None locally): only each chunk's rows travel, the landmarks go to every worker once."""
    if engine.is_local:
        return None

    def map_chunks(job, parts: list[np.ndarray]) -> Iterable[dict]:
        import dataclasses

        light = dataclasses.replace(job, x=np.zeros((0, 0)), tf=None, rows=np.zeros(0, dtype=np.int64),
                                    Y=np.zeros((0, 0)), codes=np.zeros(0, dtype=np.int64))
        payloads = []
        for idx in parts:
            at = job.rows[idx]
            payloads.append((np.asarray(job.x[at]), None if job.tf is None else job.tf[at], job.Y[idx], job.codes[idx]))
        return engine.map(_run_chunk, payloads, light)

    return map_chunks


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
