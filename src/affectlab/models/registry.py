"""The model registry: name -> :class:`~affectlab.models.base.Estimator` subclass.

Besides registered names, ``MODELS.get("module:Class")`` imports a user's own model (an
Estimator subclass, or a scikit-learn-style estimator wrapped by :mod:`affectlab.models.external`).

>>> MODELS.get("sklearn.linear_model:Ridge").class_path
'sklearn.linear_model:Ridge'
>>> "sklearn.linear_model:Ridge" in MODELS
True
"""

from __future__ import annotations

from ..core.registry import Registry
from .base import Estimator


class ModelRegistry(Registry["type[Estimator]"]):
    """The registry, plus ``module:Class`` names resolved by import (see the module docstring)."""

    def get(self, name: str) -> type[Estimator]:
        if isinstance(name, str) and ":" in name:
            from .external import resolve

            return resolve(name)
        return super().get(name)

    def __contains__(self, name: object) -> bool:
        return (isinstance(name, str) and ":" in name) or super().__contains__(name)


MODELS: ModelRegistry = ModelRegistry("model")

# Networks train with Lightning, whose import costs seconds: load them only when named.
MODELS.register_lazy("user_sequence", "affectlab.training.sequence_estimator")
MODELS.register_lazy("mlp", "affectlab.training.mlp_estimator")
MODELS.register_lazy("adapted", "affectlab.transfer.adapters")
