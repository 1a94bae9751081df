"""The extractor registry: name -> extractor class (text encoders here; media extractors join it)."""

from __future__ import annotations

from ..core.registry import Registry

EXTRACTORS: Registry[type] = Registry("extractor")
