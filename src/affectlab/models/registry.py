"""The model registry: name -> :class:`~affectlab.models.base.Estimator` subclass."""

from __future__ import annotations

from ..registry import Registry

MODELS: Registry[type] = Registry("model")
