"""One extractor interface for every modality, and its cached call through :class:`FeatureCache`.

An :class:`Extractor` has a registry ``name``, a ``modality`` (``text``, ``audio``, ``video``),
typed ``params`` (a pydantic model, validated when it is built), a ``version`` (its code and the
libraries or weights behind it) and ``__call__`` on one input:

- text: a list of strings -> ``(n, D)`` float32 (:class:`affectlab.features.text.TextEncoder`);
- audio: a waveform and its sample rate, or a file (``start``/``end`` in seconds) -> named
  arrays (:data:`Features`), e.g. ``{"functionals": (88,), "lld": (T, 25)}``;
- video: a video file (``start``/``end``) or a sequence of ``(time, rgb)`` frames -> named arrays
  with frame sequences, e.g. ``{"features": (T, D), "mask": (T,), "times": (T,)}``.

Every extractor lives in one registry, :data:`affectlab.features.registry.EXTRACTORS`, whose
entries are imported when first asked for; :func:`make_extractor` builds one by name, with a
one-line error for an unknown name, a missing optional extra or bad params.

Caching is the same for all: the cache folder is keyed by ``(name, version, params)``
(:func:`affectlab.features.cache.extractor_key`) and an entry by the content hash of the input
item (the text's bytes; a waveform's samples and rate; a media file's bytes and the segment).
Text rows go through :func:`affectlab.features.text.embed_texts`; media items through
:class:`CachedExtractor`, which computes an item only once.

Adding an extractor (docs/extraction.md, "How to add an extractor")::

>>> import numpy as np
>>> from pydantic import BaseModel
>>> class PeakParams(BaseModel):
...     sample_rate: int = 16000
>>> class Peak(AudioSignalExtractor):
...     '''The absolute peak of a waveform.'''
...     name, Params, code_version = "peak-demo", PeakParams, "1"
...     def compute(self, x, sr):
...         return {"functionals": np.array([np.abs(x).max()], np.float32)}
>>> Peak()(np.array([0.1, -0.5, 0.2], np.float32), 16000)["functionals"].tolist()
[0.5]
"""

from __future__ import annotations

import hashlib
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, TypeVar, cast

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from ..core.errors import AffectlabError
from ..core.extras import module_available
from ..core.io import file_sha256
from ..core.validation import validation_line
from .cache import FeatureCache, content_hash

Modality = Literal["text", "audio", "video"]
#: what a media extractor returns for one item: named arrays (numbers or fixed-width strings)
Features = dict[str, np.ndarray]


class StrictParams(BaseModel):
    """Base of extractor params: unknown keys are refused (a typo must not pass silently)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def model_fingerprint(path_or_name: str) -> str:
    """Identify a model's weights: a hash of its local folder's files (relative path and size of
    each), or the name itself when it is no folder (the text and speech encoders' cache keys)."""
    p = Path(path_or_name)
    if not p.is_dir():
        return path_or_name
    h = hashlib.sha256()
    for f in sorted(p.rglob("*")):
        if f.is_file():
            h.update(f"{f.relative_to(p)}:{f.stat().st_size}".encode())
    return h.hexdigest()[:16]


def dist_version(*names: str) -> str:
    """The installed version of the first distribution found among ``names`` (no import), else ``unknown``.

    >>> dist_version("numpy") == np.__version__, dist_version("no-such-dist-xyz")
    (True, 'unknown')
    """
    from importlib.metadata import PackageNotFoundError, version

    for name in names:
        try:
            return version(name)
        except PackageNotFoundError:
            continue
    return "unknown"


P = TypeVar("P", bound=BaseModel)


class Extractor(ABC, Generic[P]):
    """The interface every feature extractor implements (see the module docstring); ``P`` is the
    type of its params (``Extractor[MyParams]``)."""

    #: registry name (``make_extractor(name)``)
    name: ClassVar[str] = ""
    modality: ClassVar[Modality]
    #: the pydantic model of the parameters; ``self.params`` is an instance
    Params: ClassVar[type[BaseModel]]
    #: the pip extra that installs this extractor and the modules it imports
    requires: ClassVar[tuple[str, tuple[str, ...]]] = ("", ())
    #: how to install the extra when ``pip install 'affectlab[extra]'`` alone is not enough
    install_hint: ClassVar[str] = ""
    #: bump when the computation changes: a new version starts a new cache
    code_version: ClassVar[str] = "1"

    def __init__(self, params: BaseModel | Mapping[str, Any] | None = None) -> None:
        self.params: P = cast(P, coerce_params(type(self), params))

    @property
    def version(self) -> str:
        """The code version and what else decides the output (library versions, model weights)."""
        return self.code_version

    @property
    def cache_name(self) -> str:
        """The name that heads the cache key (the registry name unless an extractor needs more)."""
        return self.name

    def cache_params(self) -> dict[str, Any]:
        """The parameters that change the output (the cache key): all of them unless said otherwise."""
        return self.params.model_dump(mode="json")

    def identity(self) -> tuple[str, str, dict[str, Any]]:
        """``(name, version, params)``: what the cache folder is keyed by."""
        return self.cache_name, self.version, self.cache_params()

    @abstractmethod
    def __call__(self, item: Any, *args: Any, **kwargs: Any) -> Any:
        """Features of one input (text: of a list of strings)."""

    def item_key(self, item: Any, *args: Any, **kwargs: Any) -> str:
        """The content hash of one input, as the cache keys it."""
        raise NotImplementedError(f"{type(self).__name__} has no per-item cache key")


def coerce_params(cls: type[Extractor[Any]], params: BaseModel | Mapping[str, Any] | None) -> BaseModel:
    """``params`` as ``cls.Params`` (validated); a bad value is one line naming the extractor."""
    model = cls.Params
    if isinstance(params, model):
        return params
    raw = params.model_dump() if isinstance(params, BaseModel) else dict(params or {})
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        raise AffectlabError(f"extractor {cls.name or cls.__name__}: {validation_line(err, model)}") from None


def check_requirements(cls: type[Extractor[Any]]) -> None:
    """One line naming the optional extra an extractor needs when one of its modules is missing."""
    extra, modules = cls.requires
    missing = [m for m in modules if not module_available(m)]
    if missing:
        raise AffectlabError(f"the {cls.name} extractor needs the '{extra}' extra ({', '.join(missing)} missing): "
                             f"{cls.install_hint or f'pip install {chr(39)}affectlab[{extra}]{chr(39)}'}")


def make_extractor(name: str, params: BaseModel | Mapping[str, Any] | None = None) -> Extractor[Any]:
    """The registered extractor ``name`` built with ``params``.

    >>> make_extractor("praat", {"pitch_floor": 60}).params.pitch_floor
    60.0
    >>> make_extractor("praat", {"pitch_flor": 60})
    Traceback (most recent call last):
    affectlab.core.errors.AffectlabError: extractor praat: pitch_flor: Extra inputs are not permitted (did you mean `pitch_floor`?)
    >>> make_extractor("no-such")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    affectlab.core.errors.AffectlabError: unknown extractor 'no-such'; choose from: compare, egemaps, ...
    """
    from .registry import EXTRACTORS

    cls = EXTRACTORS.get(name)
    valid = coerce_params(cls, params)  # a typo is named whether or not the extra is installed
    check_requirements(cls)
    return cls(valid)


# ---------------------------------------------------------------------------------------------
# Content hashes of media items


def media_key(content: str, **where: Any) -> str:
    """The cache key of a media item: the content hash of the file or signal, and which part of it.

    >>> media_key("ab" * 32, start=0.0, end=1.5) == media_key("ab" * 32, end=1.5, start=0.0)
    True
    >>> media_key("ab" * 32, start=0.0, end=1.5) == media_key("ab" * 32, start=0.0, end=2.0)
    False
    """
    return content_hash(json.dumps([content, where], sort_keys=True, default=str))


def signal_hash(x: np.ndarray, sr: int) -> str:
    """sha256 of a waveform's samples, dtype, shape and rate."""
    x = np.ascontiguousarray(x)
    h = hashlib.sha256(f"signal:{sr}:{x.dtype.str}:{x.shape}".encode())
    h.update(x.tobytes())
    return h.hexdigest()


def is_path(item: Any) -> bool:
    return isinstance(item, (str, os.PathLike))


class AudioSignalExtractor(Extractor[P]):
    """Base of audio extractors: ``__call__(waveform, sr)`` or ``__call__(file)``, with an optional
    segment (``start``/``end`` seconds); the signal is mono float32, resampled to
    ``params.sample_rate`` (files are decoded by :func:`affectlab.features.media.load_audio`).
    Subclasses give :meth:`compute`."""

    modality: ClassVar[Modality] = "audio"
    requires = ("audio", ("opensmile", "parselmouth", "soundfile", "soxr"))

    @abstractmethod
    def compute(self, x: np.ndarray, sr: int) -> Features:
        """Features of one mono float32 segment at ``sr`` (= ``params.sample_rate``)."""

    def rate(self) -> int:
        return int(getattr(self.params, "sample_rate", 16000))

    def signal(self, item: Any, sr: int | None = None) -> tuple[np.ndarray, int]:
        """The mono float32 waveform at :meth:`rate` of a file or of a waveform given with its rate."""
        from .media import load_audio, resample

        if is_path(item):
            return load_audio(item, self.rate())
        if sr is None:
            raise ValueError(f"{self.name}: a waveform needs its sample rate")
        x = np.asarray(item, dtype=np.float32)
        if x.ndim == 2:  # (samples, channels): mix to mono
            x = x.mean(axis=1)
        return resample(x, int(sr), self.rate()), self.rate()

    def __call__(self, item: Any, sr: int | None = None, *, start: float | None = None,
                 end: float | None = None) -> Features:
        x, rate = self.signal(item, sr)
        return self.compute(cut(x, rate, start, end), rate)

    def item_key(self, item: Any, sr: int | None = None, *, start: float | None = None,
                 end: float | None = None, content: str | None = None) -> str:
        """``content``: the file's hash when the caller has it already (saves reading it again)."""
        if content is None:
            content = file_sha256(item) if is_path(item) else signal_hash(np.asarray(item), int(sr or 0))
        return media_key(content, start=start, end=end)


def cut(x: np.ndarray, sr: int, start: float | None, end: float | None) -> np.ndarray:
    """Samples ``[start, end)`` (seconds; None = the beginning / the end) of a waveform.

    >>> cut(np.arange(10.0), 2, 1.0, 3.0).tolist()
    [2.0, 3.0, 4.0, 5.0]
    """
    if start is None and end is None:
        return x
    lo = 0 if start is None else round(start * sr)
    hi = len(x) if end is None else round(end * sr)
    return x[lo:hi]


# ---------------------------------------------------------------------------------------------
# The cached call


class NotCached(Exception):
    """A :class:`CachedExtractor` in ``cache_only`` mode was asked for an item it does not hold."""


class CachedExtractor:
    """An extractor's calls through the feature cache: each distinct input item is computed once.

    ``cache_dir`` None: nothing is cached (every call computes). ``hits`` and ``computed`` count
    the calls of this object.

    >>> import tempfile
    >>> calls = []
    >>> class Loud(AudioSignalExtractor):
    ...     name, Params = "loud-demo", StrictParams
    ...     def compute(self, x, sr):
    ...         calls.append(len(x))
    ...         return {"rms": np.sqrt(np.mean(x ** 2, keepdims=True))}
    >>> cached = CachedExtractor(Loud(), tempfile.mkdtemp())
    >>> x = np.ones(800, np.float32)
    >>> a, b = cached(x, 16000), cached(x, 16000)
    >>> a["rms"].tolist(), len(calls), cached.hits
    ([1.0], 1, 1)
    """

    def __init__(self, extractor: Extractor[Any], cache_dir: str | os.PathLike[str] | None) -> None:
        self.extractor = extractor
        self.cache = FeatureCache(cache_dir, *extractor.identity()) if cache_dir is not None else None
        self.hits = 0
        self.computed = 0
        self.cache_only = False  # True: raise NotCached instead of computing

    def __call__(self, item: Any, *args: Any, content: str | None = None, **kwargs: Any) -> Features:
        """``extractor(item, ...)`` through the cache; ``content``: the item's content hash when the
        caller has it already (a media file's sha256), else the extractor computes it."""
        key = ""
        if self.cache is not None:
            extra = {"content": content} if content is not None else {}
            key = self.extractor.item_key(item, *args, **kwargs, **extra)
        return self.get(key, lambda: self.extractor(item, *args, **kwargs))

    def get(self, key: str, compute: Callable[[], Features]) -> Features:
        """The cached item ``key``, or ``compute()`` stored under it. A cache that cannot be written
        (read-only, full) stops the run with one line rather than computing on without it."""
        if self.cache is not None:
            found = self.cache.get_item(key)
            if found is not None:
                self.hits += 1
                return found
        if self.cache_only:
            raise NotCached(self.extractor.name)
        out = compute()
        self.computed += 1
        if self.cache is not None:
            try:
                self.cache.put_item(key, out)
            except OSError as err:
                raise unwritable(self.cache.dir, err) from None
        return out


def unwritable(where: Path, err: OSError, hint: str = "give --cache-dir or $AFFECTLAB_CACHE a writable folder") -> AffectlabError:
    """The one line for a cache folder that cannot be written."""
    return AffectlabError(f"feature cache {where}: cannot write ({err.strerror or err}); {hint}")


def ensure_cache_root(root: str | os.PathLike[str]) -> Path:
    """Create the cache folder before the first slow step; one line when that is impossible."""
    root = Path(root).expanduser()
    if root.exists() and not root.is_dir():
        raise AffectlabError(f"feature cache {root}: is a file, not a folder (--cache-dir, batch.cache_dir or $AFFECTLAB_CACHE)")
    try:
        (root / "features").mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise unwritable(root, err) from None
    return root


def video_item_key(video: Any, start: float | None, end: float | None, content: str | None = None) -> str:
    """The cache key of a video extractor's input: a file by its bytes (``content``, its hash when
    the caller has it already) and the window; frames (a list, not a generator) by their times and pixels."""
    if content is None:
        content = file_sha256(video) if is_path(video) else frames_hash(video)
    return media_key(content, start=start, end=end)


def frames_hash(frames: Iterable[tuple[float, np.ndarray]]) -> str:
    """sha256 of a sequence of ``(time, rgb)`` frames."""
    h = hashlib.sha256(b"frames")
    for t, rgb in frames:
        rgb = np.ascontiguousarray(rgb)
        h.update(f"{float(t)!r}:{rgb.dtype.str}:{rgb.shape}".encode())
        h.update(rgb.tobytes())
    return h.hexdigest()
