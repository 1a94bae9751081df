"""Feature extractors behind one small interface, and the on-disk feature cache."""

from .cache import FeatureCache, content_hash
from .registry import EXTRACTORS
from .text import HuggingFaceEncoder, SentenceTransformerEncoder, TextEncoder, embed_texts, make_encoder

__all__ = [
    "EXTRACTORS", "FeatureCache", "content_hash", "TextEncoder", "SentenceTransformerEncoder",
    "HuggingFaceEncoder", "embed_texts", "make_encoder",
]
