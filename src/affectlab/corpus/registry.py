"""The registries of this layer: data formats (readers) and built-in data sets."""

from __future__ import annotations

from typing import Callable

from ..registry import Registry

# name -> reader(path, DataConfig, *, require_labels) -> Corpus
READERS: Registry[Callable] = Registry("data format")
