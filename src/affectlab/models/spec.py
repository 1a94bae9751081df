"""A model as configured: its name, its class and its checked parameters, built per run part.

:func:`estimator_spec` checks a config's ``model:`` keys once (unknown keys named with the known
ones, types, ranges: one :class:`~affectlab.core.errors.AffectlabError` line); the spec then
builds as many unfitted estimators as a protocol needs (:meth:`EstimatorSpec.build`), each with
the same typed ``Params`` instance. A lazily registered network's parameters are checked from
the schema its registry entry carries, so Lightning is imported only when ``cls`` is first used.

>>> from affectlab.corpus.base import TargetSpec
>>> spec = estimator_spec("ridge_embedding", {"alphas": ["1", 10]})
>>> spec.params.alphas, spec.config_params()
([1.0, 10.0], {'alphas': [1.0, 10.0]})
>>> est = spec.build((TargetSpec("valence", -2, 2),))
>>> est.params is spec.params, type(est).__name__
(True, 'RidgeEmbedding')
>>> estimator_spec("ridge_embedding", {"alpha": 1})
Traceback (most recent call last):
...
affectlab.core.errors.AffectlabError: model ridge_embedding: unknown parameter(s) alpha (known: alphas) (did you mean `alphas`?)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from pydantic import BaseModel

from ..core.errors import AffectlabError
from ..corpus.base import TargetSpec
from .base import Estimator, params_dict, parse_params
from .registry import MODELS


@dataclass(frozen=True)
class EstimatorSpec:
    """``name`` (registered, or a user's ``module:Class``), its checked ``params`` (an instance of
    the model's ``Params``; a plain dict for a model without a schema) and ``cls``."""

    name: str
    params: Any

    @cached_property
    def cls(self) -> type[Estimator]:
        """The estimator class (imported on first use: a network's module imports Lightning)."""
        return MODELS.get(self.name)

    def build(self, targets: tuple[TargetSpec, ...]) -> Estimator:
        """A new unfitted estimator for ``targets``; one line when a target's kind is one the
        model cannot predict, or the constructor refuses the parameters for these targets."""
        cls = self.cls
        check = getattr(cls, "check_target_kinds", None)
        if check is not None:
            check(self.name, tuple(targets))
        try:
            if isinstance(self.params, BaseModel):
                return cls(tuple(targets), self.params)
            return cls(tuple(targets), **self.params)  # a user's class without a schema gets its raw keys
        except TypeError as err:  # a user's class whose constructor takes other arguments
            raise AffectlabError(f"model {self.name}: {err}") from None

    def config_params(self) -> dict[str, Any]:
        """What config.yaml and the checkpoint store: the keys the user set, as plain data."""
        return params_dict(self.params)


def estimator_spec(name: str, raw: dict[str, Any] | None = None) -> EstimatorSpec:
    """Model ``name`` with its ``model:`` keys ``raw`` checked against its schema (see the module
    docstring); a name that is no model is the registry's one line listing the choices.

    >>> estimator_spec("late_fusion", {"hidden": "8"}).params.hidden
    8
    >>> estimator_spec("sklearn.linear_model:Ridge", {"alpha": 3.0}).config_params()
    {'alpha': 3.0}
    """
    if not isinstance(name, str) or not name:
        raise AffectlabError(f"model name must be a non-empty string, not {name!r}")
    raw = dict(raw or {})
    if name not in MODELS:
        MODELS.get(name)  # the registry's one line: unknown model, choose from ...
    schema = MODELS.params_of(name)
    params = dict(raw) if schema is None else parse_params(schema, name, raw)
    return EstimatorSpec(name, params)


__all__ = ["EstimatorSpec", "estimator_spec"]
