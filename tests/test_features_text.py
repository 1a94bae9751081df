"""Text encoders and the embedding cache (real offline MiniLM, no hub; a fake encoder for the cache)."""

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from affectlab import progress
from affectlab.config import EncoderConfig
from affectlab.core.errors import AffectlabError
from affectlab.features.cache import FeatureCache, content_digests, extractor_key, file_crc, text_digests
from affectlab.features.text import (TextEncoder, embed_texts, encode_texts_uncached, padded_length, resolve_model_path,
                                     rows_per_batch, text_cache)

TEXTS = ["I had a wonderful day.", "Everything went wrong today.", "I had a wonderful day."]
SRC = Path(__file__).resolve().parents[1] / "src"


class FakeEncoder(TextEncoder):
    """Vectors from each text's hash (a function of the text alone); records every forward pass.

    ``fail_after``: raise on the forward pass after that many ``encode`` calls (an interruption).
    """

    def __init__(self, fail_after: int | None = None) -> None:
        super().__init__(EncoderConfig(name="fake-encoder", batch_size=4))
        self.calls: list[list[str]] = []  # texts per encode call
        self.batches: list[list[str]] = []
        self.fail_after = fail_after

    def token_lengths(self, texts):
        return np.array([7 * len(t.split()) for t in texts])  # 14 to 42: padded to 16, 32 or 48

    def encode(self, texts, on_progress=None):
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise KeyboardInterrupt
        self.calls.append(list(texts))
        return super().encode(texts, on_progress)

    def _forward(self, texts, length):
        self.batches.append((length, list(texts)))
        return np.stack([fake_vector(t) for t in texts])


def fake_vector(text: str) -> np.ndarray:
    return np.frombuffer(hashlib.sha256(text.encode()).digest()[:8], dtype=np.uint8).astype(np.float32) / 255


def corpus(n: int) -> list[str]:
    return [" ".join(["word"] * (1 + i % 5)) + f" {i}" for i in range(n)]


def expected(texts):
    return np.stack([fake_vector(t) for t in texts])


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


def test_rows_and_padding_depend_on_the_length_only():
    assert [rows_per_batch(n, 64) for n in (16, 32, 48, 256, 4096)] == [64, 32, 21, 4, 1]
    assert rows_per_batch(16, 4) == 4
    assert [padded_length(n, 256) for n in (1, 16, 17, 255, 256)] == [16, 16, 32, 256, 256]
    assert padded_length(40, 40) == 40 and padded_length(7, 10) == 10


def test_default_encoder_embeds_and_second_run_encodes_nothing(tmp_path):
    cfg = EncoderConfig()
    first, stats = embed_texts(TEXTS, cfg, tmp_path)
    assert first.shape == (3, 384) and first.dtype == np.float32
    assert isinstance(first, np.memmap) and not first.flags.writeable  # a read-only view of the cache
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


def test_embedding_bytes_do_not_depend_on_the_batch(tmp_path):
    """Issue 12 item 6: a text alone, among texts of its length (full and partial batches), among
    texts of other lengths, in another order: the same bytes."""
    cfg = EncoderConfig(batch_size=4)  # 4 rows per batch: full and partial batches with few texts
    words = ["good", "bad", "fine", "sad", "happy"]
    same = [f"I feel {w} {v} today." for w in words for v in ("now", "again")]  # one token count
    other = ["Hi.", "A much longer sentence about a day that went on and on without end.", "So so tired."]
    target = same[5]
    alone = encode_texts_uncached([target], cfg)[0]
    full = encode_texts_uncached(same, cfg)  # 10 texts of one length: two full batches and a partial one
    mixed = encode_texts_uncached(other + same[:9][::-1], cfg)
    assert full[5].tobytes() == alone.tobytes()
    assert mixed[len(other) + 3].tobytes() == alone.tobytes()  # same[5] reversed into position 3
    # and through the cache, chunked differently
    cached, _ = embed_texts(other + same, cfg, tmp_path / "a", chunk_size=7)
    assert np.asarray(cached[len(other) + 5]).tobytes() == alone.tobytes()
    assert np.asarray(cached[len(other):]).tobytes() == full.tobytes()


def test_batches_hold_one_token_count_in_a_fixed_number_of_rows():
    enc = FakeEncoder()
    texts = corpus(23)
    out = enc.encode(texts)
    np.testing.assert_array_equal(out, expected(texts))  # input order
    for length, batch in enc.batches:
        assert {padded_length(n, enc.cfg.max_length) for n in enc.token_lengths(batch)} == {length}
        assert len(batch) == rows_per_batch(length, 4)
    lengths = [length for length, _ in enc.batches]
    assert lengths == sorted(lengths)  # shortest first


def test_interrupted_encoding_resumes_with_the_rest(tmp_path):
    texts = corpus(20)
    with pytest.raises(KeyboardInterrupt):
        embed_texts(texts, EncoderConfig(name="fake-encoder"), tmp_path / "c", encoder=FakeEncoder(fail_after=2), chunk_size=6)
    again = FakeEncoder()
    matrix, stats = embed_texts(texts, EncoderConfig(name="fake-encoder"), tmp_path / "c", encoder=again, chunk_size=6)
    assert stats["encoded"] == 8 and stats["cached"] == 12  # two chunks of 6 were committed
    assert sum(len(c) for c in again.calls) == 8
    whole, _ = embed_texts(texts, EncoderConfig(name="fake-encoder"), tmp_path / "fresh", encoder=FakeEncoder(), chunk_size=6)
    assert np.asarray(matrix).tobytes() == np.asarray(whole).tobytes()
    np.testing.assert_array_equal(matrix, expected(texts))


def _chunks(root: Path) -> list[Path]:
    return sorted(root.rglob("chunk-*/vectors.npy"))


@pytest.mark.parametrize("damage", ["flip", "truncate", "manifest"])
def test_damaged_chunk_is_encoded_again_never_used(tmp_path, damage):
    texts = corpus(9)
    cfg = EncoderConfig(name="fake-encoder")
    embed_texts(texts, cfg, tmp_path, encoder=FakeEncoder(), chunk_size=5)
    vectors = _chunks(tmp_path)[0]
    raw = bytearray(vectors.read_bytes())
    if damage == "flip":
        raw[-3] ^= 0xFF
        vectors.write_bytes(bytes(raw))
    elif damage == "truncate":
        vectors.write_bytes(bytes(raw[:-10]))
    else:
        (vectors.parent / "manifest.json").write_text("{")
    for view in tmp_path.rglob("views/*.npy"):
        view.unlink()  # the chunks themselves must be read
    enc = FakeEncoder()
    matrix, stats = embed_texts(texts, cfg, tmp_path, encoder=enc, chunk_size=5)
    np.testing.assert_array_equal(matrix, expected(texts))
    assert stats["encoded"] in (4, 5) and stats["encoded"] + stats["cached"] == 9
    for chunk in _chunks(tmp_path):  # what remains is intact
        manifest = json.loads((chunk.parent / "manifest.json").read_text())
        assert file_crc(chunk) == manifest["crc"]["vectors.npy"]


def test_damaged_view_is_rebuilt(tmp_path):
    texts = corpus(6)
    cfg = EncoderConfig(name="fake-encoder")
    embed_texts(texts, cfg, tmp_path, encoder=FakeEncoder())
    view = next(tmp_path.rglob("views/*.npy"))
    raw = bytearray(view.read_bytes())
    raw[-1] ^= 0x01
    view.write_bytes(bytes(raw))
    matrix, stats = embed_texts(texts, cfg, tmp_path, encoder=FakeEncoder())
    assert stats["encoded"] == 0
    np.testing.assert_array_equal(matrix, expected(texts))


def test_views_never_take_more_disk_than_the_chunks_least_recently_used_go_first(tmp_path):
    """100 rows of dim 8 in one chunk: vectors.npy = 128-byte header + 3,200 bytes. A view of 40 rows
    is 128 + 1,280 = 1,408 bytes: two fit in 3,328 bytes, three do not."""
    cache = FeatureCache(tmp_path, "x", "1", {})
    keys = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(100)]
    vectors = np.arange(800, dtype=np.float32).reshape(100, 8)
    cache.store(keys, vectors)
    seqs = {name: content_digests(keys[start:start + 40]) for name, start in
            (("a", 0), ("b", 20), ("c", 40), ("d", 60))}
    where = {name: cache.locate(seq) for name, seq in seqs.items()}

    def build(name):
        cache.build_view(seqs[name], where[name], 8)

    def present():
        return {name for name in seqs if cache.view_path(seqs[name]).exists()}

    for name in "abc":
        build(name)
    assert present() == {"b", "c"}  # a, the least recently used, went first
    assert cache.open_view(seqs["b"]) is not None  # b is now the most recently used
    build("d")
    assert present() == {"b", "d"}
    np.testing.assert_array_equal(cache.open_view(seqs["d"]), vectors[60:100])
    assert sum(cache.view_path(seqs[n]).stat().st_size for n in present()) <= \
        next(tmp_path.rglob("vectors.npy")).stat().st_size


def test_externally_computed_chunks_are_used(tmp_path):
    """The distributed path: rows computed elsewhere, written with text_cache(...).store."""
    texts = corpus(8)
    cfg = EncoderConfig(name="fake-encoder")
    cache = text_cache(cfg, tmp_path, FakeEncoder())
    cache.store(text_digests(texts[:5]), expected(texts[:5]))
    enc = FakeEncoder()
    matrix, stats = embed_texts(texts, cfg, tmp_path, encoder=enc)
    assert stats["encoded"] == 3 and sorted(t for c in enc.calls for t in c) == sorted(texts[5:])
    np.testing.assert_array_equal(matrix, expected(texts))


def test_cache_dir_that_is_a_file_is_one_line(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(AffectlabError, match="is a file, not a folder"):
        embed_texts(["a"], EncoderConfig(name="fake-encoder"), tmp_path / "f", encoder=FakeEncoder())


WRITER = textwrap.dedent("""
    import sys, time
    sys.path[:0] = [{src!r}, {tests!r}]
    import numpy as np
    from affectlab.config import EncoderConfig
    from affectlab.features.text import embed_texts
    import test_features_text as t

    class Slow(t.FakeEncoder):
        def _forward(self, texts, length):
            time.sleep(0.01)
            return super()._forward(texts, length)

    texts = t.corpus(int(sys.argv[2]))[int(sys.argv[3]):]
    m, stats = embed_texts(texts, EncoderConfig(name="fake-encoder"), sys.argv[1], encoder=Slow(), chunk_size=7)
    assert np.array_equal(m, t.expected(texts)), "wrong rows"
    print(stats["encoded"])
""")


def test_two_processes_encoding_into_one_cache_at_once(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(src=str(SRC), tests=str(Path(__file__).parent)))
    env = {"AFFECTLAB_PROGRESS": "off", "PATH": "/usr/bin:/bin"}
    procs = [subprocess.Popen([sys.executable, str(script), str(tmp_path / "cache"), "60", str(skip)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for skip in (0, 10)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    texts = corpus(60)
    enc = FakeEncoder()
    matrix, stats = embed_texts(texts, EncoderConfig(name="fake-encoder"), tmp_path / "cache", encoder=enc)
    assert stats["encoded"] == 0 and not enc.calls
    np.testing.assert_array_equal(matrix, expected(texts))
    assert not list((tmp_path / "cache").rglob(".tmp-*"))


def test_summary_line_on_stderr(tmp_path, capsys):
    progress.configure("lines")
    try:
        embed_texts(corpus(5), EncoderConfig(name="fake-encoder"), tmp_path, encoder=FakeEncoder())
        embed_texts(corpus(5), EncoderConfig(name="fake-encoder"), tmp_path, encoder=FakeEncoder())
    finally:
        progress.configure(None)
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert captured.out == ""
    assert lines[0].startswith("encoded 5 texts in ") and lines[0].endswith("texts/s), 0 from cache")
    assert lines[1].startswith("encoded 0 texts in ") and lines[1].endswith(", 5 from cache")


def test_a_view_that_cannot_be_marked_used_is_still_used_not_rebuilt(tmp_path, monkeypatch, caplog):
    """Marking a view as recently used may fail (another user's file, a read-only cache): the
    intact view is returned as it is, never taken for damaged and removed."""
    texts = corpus(6)
    cfg = EncoderConfig(name="fake-encoder")
    embed_texts(texts, cfg, tmp_path, encoder=FakeEncoder())
    view = next(tmp_path.rglob("views/*.npy"))

    def refuse(*args, **kwargs):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr("affectlab.features.cache.os.utime", refuse)
    matrix, stats = embed_texts(texts, cfg, tmp_path, encoder=FakeEncoder())
    assert stats["encoded"] == 0 and view.exists()
    assert "damaged" not in caplog.text  # not taken for damaged, removed and rebuilt
    np.testing.assert_array_equal(matrix, expected(texts))
