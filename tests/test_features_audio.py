"""Audio decoding and voice features, checked against signals whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("opensmile", reason="audio extra not installed (pip install affectlab[audio])")
pytest.importorskip("parselmouth", reason="audio extra not installed (pip install affectlab[audio])")
import soundfile as sf  # noqa: E402

from conftest_media import espeak_wav, tone  # noqa: E402

from affectlab.features.audio import PRAAT_NAMES, AudioExtractor, pool_frames, praat_features  # noqa: E402
from affectlab.features.extract_config import AudioConfig  # noqa: E402
from affectlab.features.media import MediaError, load_audio  # noqa: E402


@pytest.fixture(scope="module")
def extractor() -> AudioExtractor:
    return AudioExtractor(AudioConfig())


def test_decode_resamples_and_mixes_to_mono(tmp_path):
    stereo = np.stack([tone(440, 1.0, 22050), tone(440, 1.0, 22050)], axis=1)
    sf.write(tmp_path / "a.flac", stereo, 22050)
    x, sr = load_audio(tmp_path / "a.flac", 16000)
    assert sr == 16000 and x.ndim == 1 and abs(len(x) - 16000) <= 2
    # the resampled tone keeps its frequency: the spectrum peaks at 440 Hz
    spec = np.abs(np.fft.rfft(x))
    assert abs(np.argmax(spec) * 16000 / len(x) - 440) < 2


@pytest.mark.parametrize("content, reason", [(b"", "zero-length"), (b"not audio at all" * 100, "cannot decode")])
def test_bad_files_raise_one_line_media_errors(tmp_path, content, reason):
    p = tmp_path / "bad.wav"
    p.write_bytes(content)
    with pytest.raises(MediaError, match=reason) as err:
        load_audio(p, 16000)
    assert "\n" not in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(MediaError, match="file not found"):
        load_audio(tmp_path / "nope.wav", 16000)


@pytest.mark.parametrize("freq", [120.0, 220.0])
def test_praat_pitch_of_a_sine_is_its_frequency(freq):
    res = praat_features(tone(freq, 1.0), 16000, AudioConfig())
    vals = dict(zip(PRAAT_NAMES, res.values))
    assert vals["praat_f0_median_hz"] == pytest.approx(freq, rel=0.01)
    assert vals["praat_f0_sd_hz"] < 1.0
    assert res.voiced_fraction > 0.9
    assert vals["praat_jitter_local"] < 0.005  # a perfect periodic signal has (almost) no jitter
    assert vals["praat_shimmer_local"] < 0.01
    assert vals["praat_hnr_db"] > 20
    assert res.nonfinite == 0


def test_egemaps_f0_matches_the_tone(extractor):
    feats = extractor(tone(220.0, 1.5), 16000)
    names = extractor.lld_names()
    f0 = feats.lld[:, names.index("F0semitoneFrom27.5Hz_sma3nz")]
    expected = 12 * np.log2(220.0 / 27.5)  # 36 semitones above 27.5 Hz
    assert np.median(f0[f0 > 0]) == pytest.approx(expected, abs=0.5)
    assert len(extractor.functional_names()) == 88 + len(PRAAT_NAMES) == feats.functionals.shape[0]


def test_speech_gives_finite_features_and_lld_frames_per_10ms(tmp_path, extractor):
    x, sr = load_audio(espeak_wav(tmp_path / "s.wav"), 16000)
    feats = extractor(x, sr)
    assert np.isfinite(feats.functionals).all()
    assert feats.lld.shape[1] == 25
    # eGeMAPS LLD hop is 10 ms; the longest analysis window (60 ms) costs a few frames at the end
    assert 0 <= len(x) / sr * 100 - feats.lld.shape[0] <= 8
    assert 0.2 < feats.voiced_fraction < 0.95  # speech: voiced and unvoiced stretches
    vals = dict(zip(PRAAT_NAMES, feats.functionals[-len(PRAAT_NAMES):]))
    assert 60 < vals["praat_f0_median_hz"] < 300


def test_silence_is_zero_voiced_and_counted_not_nan(extractor):
    feats = extractor(np.zeros(16000, np.float32), 16000)
    assert feats.voiced_fraction == 0.0
    assert np.isfinite(feats.functionals).all()
    assert feats.nonfinite > 0  # praat's undefined measures were replaced, and counted


def test_lld_pooling_averages_blocks():
    seq = np.arange(12, dtype=np.float32).reshape(6, 2)
    pooled = pool_frames(seq, 4)
    assert pooled.tolist() == [[3.0, 4.0], [9.0, 10.0]]
    assert pool_frames(seq, 1) is seq


def test_one_pass_egemaps_equals_opensmile_python(tmp_path, extractor):
    """Our single openSMILE run (LLD + functionals sinks) gives exactly what two Smile runs give."""
    from affectlab.features.audio import egemaps_one_pass

    x, sr = load_audio(espeak_wav(tmp_path / "s.wav", "One pass is enough."), 16000)
    func, lld = egemaps_one_pass(extractor._func, x, sr)
    assert np.array_equal(func, extractor._func.process_signal(x, sr).to_numpy(dtype=np.float32).reshape(-1))
    assert np.array_equal(lld, extractor._lld.process_signal(x, sr).to_numpy(dtype=np.float32))


def test_point_process_from_the_pitch_equals_praats_periodic_cc(tmp_path):
    """praat_features builds jitter/shimmer's point process from the pitch it already has; praat's
    one-step "To PointProcess (periodic, cc)" (which computes that pitch again) gives the same
    points and measures, bit for bit."""
    import parselmouth
    from parselmouth.praat import call

    speech, _ = load_audio(espeak_wav(tmp_path / "pp.wav", "Jitter and shimmer from one pitch."), 16000)
    rng = np.random.default_rng(1)
    vibrato = np.sin(2 * np.pi * np.cumsum(140 + 20 * np.sin(np.arange(32000) / 1600)) / 16000).astype(np.float32)
    for x in (speech, tone(150, 1.0), 0.3 * vibrato, (0.1 * rng.standard_normal(16000)).astype(np.float32)):
        snd = parselmouth.Sound(x.astype(np.float64), sampling_frequency=16000)
        pitch = snd.to_pitch(pitch_floor=75.0, pitch_ceiling=600.0)
        ours = call([snd, pitch], "To PointProcess (cc)")
        ref = call(snd, "To PointProcess (periodic, cc)", 75.0, 600.0)
        n = call(ref, "Get number of points")
        assert call(ours, "Get number of points") == n
        assert [call(ours, "Get time from index", i) for i in range(1, n + 1)] == \
            [call(ref, "Get time from index", i) for i in range(1, n + 1)]
    got = praat_features(speech, 16000, AudioConfig())
    points = call(parselmouth.Sound(speech.astype(np.float64), sampling_frequency=16000),
                  "To PointProcess (periodic, cc)", 75.0, 600.0)
    jitter = call(points, "Get jitter (local)", 0, 0, 0.0001, 0.02, 1.3)
    assert got.values[PRAAT_NAMES.index("praat_jitter_local")] == np.float32(jitter)


def test_samples_beyond_full_scale_are_clipped_not_wrapped(extractor):
    """Resampling a clipped recording overshoots 1.0; cast to 16 bits as is, +1.0 would become -1.0."""
    x = np.clip(tone(200, 1.0, amp=1.3), -1.02, 1.02)
    hot = extractor(x, 16000)
    clipped = extractor(np.clip(x, -1.0, 32767 / 32768), 16000)
    assert np.array_equal(hot.functionals[:88], clipped.functionals[:88])  # eGeMAPS part (praat reads floats)
    names = extractor.lld_names()
    f0 = hot.lld[:, names.index("F0semitoneFrom27.5Hz_sma3nz")]
    assert np.median(f0[f0 > 0]) == pytest.approx(12 * np.log2(200 / 27.5), abs=0.5)


def test_compare_appends_6373_functionals_after_egemaps_and_praat(tmp_path, extractor):
    x, sr = load_audio(espeak_wav(tmp_path / "s.wav"), 16000)
    both = AudioExtractor(AudioConfig(compare=True))
    feats, plain = both(x, sr), extractor(x, sr)
    names = both.functional_names()
    assert len(names) == 88 + len(PRAAT_NAMES) + 6373 == feats.functionals.shape[0]
    assert names[:100] == extractor.functional_names() and names[100].startswith("compare_")
    np.testing.assert_allclose(feats.functionals[:100], plain.functionals, rtol=1e-5, atol=1e-5)  # unchanged prefix
    assert np.isfinite(feats.functionals).all() and feats.functionals[100:].std() > 0
    assert feats.lld.shape == plain.lld.shape


def test_compare_alone_is_a_valid_config_and_turning_it_on_keeps_the_other_cache_keys():
    from affectlab.features.audio import audio_parts
    from affectlab.features.base import make_extractor

    only = AudioExtractor(AudioConfig(egemaps=False, praat=False, compare=True))
    feats = only(tone(150.0, 1.0), 16000)
    assert feats.functionals.shape == (6373,) and len(only.functional_names()) == 6373
    keys = {cfg: {name: make_extractor(name, params).identity() for name, params in audio_parts(AudioConfig(compare=cfg))}
            for cfg in (False, True)}
    assert list(keys[True]) == ["egemaps", "praat", "compare"]
    assert keys[False] == {name: keys[True][name] for name in ("egemaps", "praat")}  # their caches stay valid
    with pytest.raises(ValueError, match="none of egemaps, praat, compare"):
        AudioConfig(egemaps=False, praat=False)


def test_each_audio_extractor_on_a_file_equals_it_on_the_waveform(tmp_path):
    """``__call__`` on a file decodes at ``sample_rate``; on a waveform resamples to it; a segment is cut."""
    from affectlab.features.base import make_extractor

    path = espeak_wav(tmp_path / "s.wav", "A file or a waveform.")
    x, sr = load_audio(path, 16000)
    for name in ("egemaps", "praat", "compare"):
        ex = make_extractor(name)
        a, b = ex(path, start=0.2, end=1.0), ex(x[int(0.2 * sr):int(1.0 * sr)], sr)
        assert set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a), name
    praat = make_extractor("praat", {"sample_rate": 8000})
    x22 = tone(150.0, 1.0, 22050)
    out = praat(x22, 22050)  # resampled to 8 kHz first
    assert dict(zip(PRAAT_NAMES, out["functionals"]))["praat_f0_median_hz"] == pytest.approx(150, rel=0.01)
    with pytest.raises(ValueError, match="needs its sample rate"):
        praat(x22)
