"""Text encoders and the embedding cache (real offline MiniLM, no hub)."""

import numpy as np
import pytest

from affectlab.config import EncoderConfig
from affectlab.errors import AffectlabError
from affectlab.features.cache import FeatureCache, extractor_key
from affectlab.features.text import embed_texts, resolve_model_path

TEXTS = ["I had a wonderful day.", "Everything went wrong today.", "I had a wonderful day."]


def test_cache_round_trip_and_partial_hits(tmp_path):
    cache = FeatureCache(tmp_path, "x", "1", {"a": 1})
    cache.store(["h1", "h2"], np.arange(4, dtype=np.float32).reshape(2, 2))
    again = FeatureCache(tmp_path, "x", "1", {"a": 1})  # a fresh process would see the same
    found, missing = again.lookup(["h2", "h3", "h1"])
    assert missing == [1]
    np.testing.assert_array_equal(found[0], [2, 3])
    np.testing.assert_array_equal(found[2], [0, 1])


def test_cache_key_changes_with_version_and_params():
    base = extractor_key("enc", "1", {"max_length": 128})
    assert base != extractor_key("enc", "2", {"max_length": 128})
    assert base != extractor_key("enc", "1", {"max_length": 256})


def test_default_encoder_embeds_and_second_run_encodes_nothing(tmp_path):
    cfg = EncoderConfig()
    first, stats = embed_texts(TEXTS, cfg, tmp_path)
    assert first.shape == (3, 384) and first.dtype == np.float32
    assert stats["encoded"] == 2  # the repeated text is encoded once
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(first[0], first[2])
    assert first[0] @ first[1] < 0.9
    second, stats = embed_texts(TEXTS + ["A new text."], cfg, tmp_path)
    assert stats["encoded"] == 1 and stats["cached"] == 2
    np.testing.assert_array_equal(second[:3], first)


def test_huggingface_mean_pooling_matches_sentence_transformers(tmp_path):
    st, _ = embed_texts(TEXTS[:2], EncoderConfig(), tmp_path)
    hf_cfg = EncoderConfig(kind="huggingface", name=resolve_model_path("all-MiniLM-L6-v2"))
    hf, _ = embed_texts(TEXTS[:2], hf_cfg, tmp_path)
    np.testing.assert_allclose(hf, st, atol=1e-4)


def test_missing_model_is_one_line_error(tmp_path):
    cfg = EncoderConfig(name=str(tmp_path / "no-such-model"))
    with pytest.raises(AffectlabError, match="cannot load sentence encoder"):
        embed_texts(["x"], cfg, tmp_path)
