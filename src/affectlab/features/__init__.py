"""Feature extractors of every modality behind one interface, one registry and one on-disk cache.

:class:`Extractor` (``name``, ``version``, typed ``params``, ``modality``, ``__call__``),
:data:`EXTRACTORS` (lazy: optional extras load when their extractor is used),
:class:`FeatureCache` (content-addressed) and :class:`CachedExtractor` (a call through it).
"""

from .base import (
                   AudioSignalExtractor,
                   CachedExtractor,
                   Extractor,
                   Features,
                   StrictParams,
                   make_extractor,
                   media_key,
)
from .cache import FeatureCache, content_hash
from .registry import EXTRACTORS, register_extractor
from .text import (
                   HuggingFaceEncoder,
                   SentenceTransformerEncoder,
                   TextEncoder,
                   embed_texts,
                   make_encoder,
)

__all__ = [
                   "EXTRACTORS",
                   "AudioSignalExtractor",
                   "CachedExtractor",
                   "Extractor",
                   "FeatureCache",
                   "Features",
                   "HuggingFaceEncoder",
                   "SentenceTransformerEncoder",
                   "StrictParams",
                   "TextEncoder",
                   "content_hash",
                   "embed_texts",
                   "make_encoder",
                   "make_extractor",
                   "media_key",
                   "register_extractor",
]
