"""Where chunked work runs: in this process or on a Dask cluster (``compute:`` section of a run
config; the flows above say what runs, docs/scaling.md why Dask).

``compute: {engine: local}`` (the default) runs everything in this process and imports nothing.
``engine: dask`` starts a ``LocalCluster`` of ``workers`` processes (one thread each) or, with
``address``, connects to a running scheduler (``tcp://host:8786``); it needs the ``distributed``
extra (``pip install 'affectlab[distributed]'``). One engine per configuration and process is
kept and closed at exit.

>>> list(engine_for(None).map(lambda shared, x: shared + x, [1, 2], 10))
[11, 12]
"""

from __future__ import annotations

import atexit
import functools
from typing import Any, Callable, Iterable, Sequence

from .errors import AffectlabError


class Engine:
    """Where chunks run: here (``client`` None) or on a Dask cluster."""

    def __init__(self, engine: str = "local", workers: int = 2, address: str | None = None) -> None:
        if engine not in ("local", "dask"):
            raise AffectlabError(f"compute.engine must be local or dask, not {engine!r}")
        self.engine, self.workers, self.address = engine, int(workers), address
        self.client: Any = None  # dask.distributed.Client on a Dask engine
        self._cluster: Any = None
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
        assert self.client is not None  # map() runs here only on a Dask engine
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


__all__ = ["Engine", "engine_for"]
