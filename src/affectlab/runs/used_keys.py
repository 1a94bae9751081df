"""Which config keys a run's model actually reads, decided from the model's declared schema.

``compare`` shows only differing keys that some compared model uses, and ``ablate`` skips the
changes no model reads. A key is ignored when:

- it is a label (``name``) or only feeds the baselines (``baselines``);
- it is a ``model.*`` key outside the model's declared parameters (``Estimator.Params``, or
  the schema a lazily registered network's registry entry carries);
- it is a ``training.*`` key and the model is not a network (closed-form models read none);
- it only changes the saved checkpoint, never an evaluated prediction
  (``training.refit_full``, ``training.checkpoint_every``).

Everything else (data, split, features, task, seeds, the model's own keys) counts as used: a
key is only called ignored when the schema says so.

>>> ignored_reason("training.batch_size", {"model": {"name": "user_level_kernel"}})
'user_level_kernel is not a network: it reads no training.* keys'
>>> ignored_reason("model.hidden", {"model": {"name": "user_sequence"}}) is None
True
>>> ignored_reason("model.alpha", {"model": {"name": "user_sequence"}})
'not a parameter of user_sequence'
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Mapping

#: keys that never change the model's predictions
LABEL_KEYS = {"name": "a label", "baselines": "feeds the baselines only, not the model"}
#: training keys that change only what is saved (the checkpoint), never an evaluated prediction
CHECKPOINT_ONLY = {"training.refit_full", "training.checkpoint_every"}


@lru_cache(maxsize=None)
def _model_facts(name: str) -> tuple[frozenset[str] | None, bool]:
    """(declared parameter names or None when unknown, is the model a network)."""
    from ..models import MODELS

    lazy = MODELS.lazy_params()
    if name in lazy:  # without importing Lightning
        return frozenset(lazy[name].model_fields), True
    from ..models.external import outside_module

    if outside_module(name) is not None:  # a run's module:Class is not imported to compare configs (its code would run)
        return None, True
    try:
        from ..models import MODELS

        cls = MODELS.get(name)
    except Exception:  # noqa: BLE001 - an unknown or user model: assume it reads everything
        return None, True
    params = getattr(cls, "Params", None)
    fields = frozenset(params.model_fields) if params is not None and hasattr(params, "model_fields") else None
    return fields, bool(getattr(cls, "is_neural", False))


def ignored_reason(key: str, config: Mapping[str, Any]) -> str | None:
    """Why the model of ``config`` (a raw or dumped config mapping) ignores ``key``; None if it reads it."""
    top = key.split(".", 1)[0]
    if top in LABEL_KEYS:
        return LABEL_KEYS[top]
    model = config.get("model") or {}
    name = str(model.get("name", "user_sequence")) if isinstance(model, Mapping) else "user_sequence"
    fields, neural = _model_facts(name)
    if key.startswith("model.") and key != "model.name":
        param = key.split(".")[1]
        if fields is not None and param not in fields:
            return f"not a parameter of {name}"
        return None
    if key.startswith("training."):
        if not neural:
            return f"{name} is not a network: it reads no training.* keys"
        if key in CHECKPOINT_ONLY:
            return "changes the saved checkpoint only, not an evaluated prediction"
    return None


def used_by_any(key: str, configs: list[Mapping[str, Any]]) -> bool:
    """True when at least one of the configs' models reads ``key``."""
    return any(ignored_reason(key, c) is None for c in configs)


__all__ = ["CHECKPOINT_ONLY", "LABEL_KEYS", "ignored_reason", "used_by_any"]
