"""The Dask path (affectlab.distributed) against the single-process path, on a LocalCluster of
two worker processes: the linear model's chunk sums and coefficients, and encoding into the cache."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("dask.distributed", reason="the 'distributed' extra is not installed")

from affectlab.config import EncoderConfig  # noqa: E402
from affectlab.distributed import Engine, chunk_mapper, engine_for, prefill_text_cache  # noqa: E402
from affectlab.core.errors import AffectlabError  # noqa: E402
from affectlab.models.base import FitContext  # noqa: E402
from affectlab.models.registry import MODELS  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from test_models_composite import PARAMS, TARGETS, corpus, stack  # noqa: E402


DASK = {"engine": "dask", "workers": 2}


@pytest.fixture(scope="module")
def dask_engine():
    """The process's engine for DASK (what a fit with ``compute=DASK`` uses), closed afterwards."""
    from affectlab.core import compute

    engine = engine_for(DASK)
    yield engine
    engine.close()
    compute._engine.cache_clear()


def test_distributed_fit_equals_local_fit(dask_engine, monkeypatch):
    from affectlab.models import nystroem

    train = corpus(n_users=14, per_user=9)
    test = stack(corpus(n_users=14, per_user=3, seed=1), corpus(n_users=3, seed=2, prefix="new"))
    monkeypatch.setattr(nystroem, "CHUNK", 40)  # several chunks per fold even on tiny data
    local = MODELS.get("user_level_kernel")(TARGETS, **PARAMS, landmarks=40, calibrate=True)
    local.fit(train, None, FitContext(training=None, seed=3))
    remote = MODELS.get("user_level_kernel")(TARGETS, **PARAMS, landmarks=40, calibrate=True)
    remote.fit(train, None, FitContext(training=None, seed=3, compute=DASK))
    assert remote.train_x.shape == (40, 8)
    assert set(local.dual) == set(remote.dual)
    for key in local.dual:
        np.testing.assert_allclose(remote.dual[key], local.dual[key], rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(remote.offsets, local.offsets, atol=1e-8)
    np.testing.assert_allclose(remote.predict(test), local.predict(test), atol=1e-8)


def test_engine_map_keeps_order_and_local_runs_here(dask_engine):
    items = list(range(5))
    assert list(dask_engine.map(_affine, items, 3)) == [3 * i + 1 for i in items]
    local = engine_for(None)
    assert local.is_local and chunk_mapper(local) is None
    assert list(local.map(_affine, items, 3)) == [3 * i + 1 for i in items]
    with pytest.raises(AffectlabError, match="local or dask"):
        Engine("ray")


def _affine(a: int, x: int) -> int:
    return a * x + 1


def test_encoding_on_workers_fills_the_cache_with_the_local_vectors(dask_engine, tmp_path):
    pytest.importorskip("sentence_transformers")
    from affectlab.features.text import embed_texts

    texts = ["I had a wonderful day.", "Everything went wrong today.", "Calm evening.", "I had a wonderful day."]
    cfg = EncoderConfig()
    assert prefill_text_cache(texts, cfg, tmp_path / "dask", dask_engine) == 3  # one task: one model load
    remote, stats = embed_texts(texts, cfg, tmp_path / "dask")
    assert stats["encoded"] == 0  # every text came from the workers, through the cache
    local, _ = embed_texts(texts, cfg, tmp_path / "local")
    np.testing.assert_allclose(np.asarray(remote), np.asarray(local), atol=1e-5)
    assert prefill_text_cache(texts, cfg, tmp_path / "dask", dask_engine) == 0  # nothing left to encode
