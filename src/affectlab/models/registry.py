"""The model registry: name -> :class:`~affectlab.models.base.Estimator` subclass."""

from __future__ import annotations

from ..registry import Registry

MODELS: Registry[type] = Registry("model")

# Networks train with Lightning, whose import costs seconds: load them only when named.
MODELS.register_lazy("user_sequence", "affectlab.training.sequence_estimator")
MODELS.register_lazy("mlp", "affectlab.training.mlp_estimator")
MODELS.register_lazy("adapted", "affectlab.transfer.adapters")
