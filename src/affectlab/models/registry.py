"""The model registry: name -> :class:`~affectlab.models.base.Estimator` subclass.

Besides registered names, ``MODELS.get("module:Class")`` imports a user's own model (an
Estimator subclass, or a scikit-learn-style estimator wrapped by :mod:`affectlab.models.external`).

>>> MODELS.get("sklearn.linear_model:Ridge").class_path
'sklearn.linear_model:Ridge'
>>> "sklearn.linear_model:Ridge" in MODELS
True
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel

from ..core.registry import Registry
from .base import Estimator
from .params import FUSION_MODELS, AdaptedParams, FusionParams, MLPParams, UserSequenceParams


class ModelRegistry(Registry[type]):
    """The registry, plus ``module:Class`` names resolved by import (see the module docstring).

    A lazy entry carries its parameter schema (``register_lazy(name, module, params=...)``) so
    that :meth:`params_of` answers without importing the module (Lightning costs seconds).
    """

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self._lazy_params: dict[str, type[BaseModel]] = {}

    def register_lazy(self, name: str, module: str, params: type[BaseModel] | None = None) -> None:
        """Declare that importing ``module`` registers ``name``, whose parameters ``params`` checks."""
        super().register_lazy(name, module)
        if params is not None:
            self._lazy_params[name] = params

    def register(self, name: str) -> Callable[[type], type]:
        """Decorator: register an Estimator class under ``name`` (its ``registered_name`` unless it sets one)."""
        add = super().register(name)

        def named(cls: type) -> type:
            if "registered_name" not in vars(cls):
                setattr(cls, "registered_name", name)  # noqa: B010 (a ClassVar of Estimator; cls is typed as type)
            return add(cls)

        return named

    def get(self, name: str) -> type[Estimator]:
        if isinstance(name, str) and ":" in name:
            from .external import resolve

            return resolve(name)
        return super().get(name)

    def params_of(self, name: str) -> type[BaseModel] | None:
        """The parameter schema of model ``name`` (None: a model that takes its parameters unchecked);
        a lazy entry's without importing its module.

        >>> MODELS.params_of("late_fusion").__name__
        'FusionParams'
        """
        if name in self._lazy_params:
            return self._lazy_params[name]
        return getattr(self.get(name), "Params", None)

    def lazy_params(self) -> dict[str, type[BaseModel]]:
        """Name -> schema of the lazily registered models."""
        return dict(self._lazy_params)

    def __contains__(self, name: object) -> bool:
        return (isinstance(name, str) and ":" in name) or super().__contains__(name)


MODELS: ModelRegistry = ModelRegistry("model")

# Networks train with Lightning, whose import costs seconds: load them only when named; their
# parameters are checked from the schema each entry carries.
MODELS.register_lazy("user_sequence", "affectlab.training.sequence_estimator", params=UserSequenceParams)
MODELS.register_lazy("mlp", "affectlab.training.mlp_estimator", params=MLPParams)
MODELS.register_lazy("adapted", "affectlab.transfer.adapters", params=AdaptedParams)
for _name in FUSION_MODELS:
    MODELS.register_lazy(_name, "affectlab.training.fusion_estimator", params=FusionParams)
