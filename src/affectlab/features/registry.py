"""The one extractor registry of every modality: name -> :class:`~affectlab.features.base.Extractor` class.

Entries are declared here with the module that defines them and imported on first use, so the
optional extras (openSMILE and praat, MediaPipe, fer's weights, faster-whisper, torch) are imported only by
the extractors that need them.

>>> sorted(_MODULES)
['compare', 'egemaps', 'facemesh', 'fer-expression', 'huggingface', 'praat', 'sentence-transformers', 'transformers-speech', 'whisper', 'whisper-encoder']
>>> set(_MODULES) <= set(EXTRACTORS.names())
True
>>> EXTRACTORS.get("egemaps").modality
'audio'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core.registry import Registry

if TYPE_CHECKING:
    from .base import Extractor

EXTRACTORS: Registry[type[Extractor[Any]]] = Registry("extractor")

#: where each extractor is defined (imported when first asked for)
_MODULES = {
    "sentence-transformers": "affectlab.features.text",
    "huggingface": "affectlab.features.text",
    "egemaps": "affectlab.features.audio",
    "praat": "affectlab.features.audio",
    "compare": "affectlab.features.audio",
    "facemesh": "affectlab.features.face",
    "fer-expression": "affectlab.features.expression",
    "whisper": "affectlab.features.asr",
    "whisper-encoder": "affectlab.features.ssl",
    "transformers-speech": "affectlab.features.ssl",
}
for _name, _module in _MODULES.items():
    EXTRACTORS.register_lazy(_name, _module)


def register_extractor(cls: type[Extractor[Any]]) -> type[Extractor[Any]]:
    """Class decorator: register an extractor under its ``name``."""
    return EXTRACTORS.register(cls.name)(cls)
