"""Parameter schemas of the Lightning-trained networks, kept apart from the networks themselves.

``user_sequence``, ``mlp``, ``adapted`` and the fusion models are registered lazily (importing
Lightning costs seconds); each lazy registry entry carries its schema from here
(``MODELS.register_lazy(name, module, params=...)``), so
:func:`affectlab.models.spec.estimator_spec` checks their ``model:`` keys before anything heavy
is imported. The estimators use the same classes as their ``Params``.

>>> from affectlab.models.base import check_schema
>>> check_schema(UserSequenceParams, "user_sequence", {"cell": "gru", "hidden": "64"})
{'hidden': 64, 'cell': 'gru'}
"""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import ConfigDict, Field, PositiveInt

from .base import Params

#: the modalities the fusion models read
ALL_MODALITIES = ("text", "audio", "vision")


class UserSequenceParams(Params):
    """``model:`` keys of ``user_sequence`` (defaults: :class:`~affectlab.models.sequence.SequenceConfig`)."""

    user_dim: int = Field(64, ge=0)  # 0 switches the user embedding off
    proj_dim: int = Field(256, ge=1)
    hidden: int = Field(256, ge=1)
    layers: int = Field(1, ge=1)
    cell: Literal["lstm", "gru"] = "lstm"
    bidirectional: bool = True
    dropout: float = Field(0.2, ge=0, lt=1)
    user_dropout: float = Field(0.1, ge=0, le=1)
    max_len: int = Field(0, ge=0)  # window length; 0 = whole history
    extra: list[str] = Field(default_factory=lambda: ["is_words", "time_gap"])  # flag columns and/or time_gap


class MLPParams(Params):
    """``model:`` keys of ``mlp`` (see :mod:`affectlab.training.mlp_estimator`)."""

    modalities: Union[str, list[str], None] = None  # default: every feature array of the training data
    hidden: Union[PositiveInt, list[PositiveInt]] = Field(default_factory=lambda: [128])  # [] = linear
    dropout: float = Field(0.2, ge=0, lt=1)
    standardize: str = "global"  # global | group (checked by the constructor)
    clip: float = Field(10.0, gt=0)
    threads: int = Field(1, ge=0)
    columns: Optional[list[Any]] = None  # [start, stop] of the pooled design (checked by tabular.column_slice)
    #: modalities whose L rows are layers, summed with learned softmax weights instead of averaged
    layer_weights: Union[str, list[str]] = Field(default_factory=list)


class FusionParams(Params):
    """``model:`` keys of the fusion estimators (see :mod:`affectlab.training.fusion_estimator`)."""

    modalities: Union[str, list[str]] = Field(default_factory=lambda: list(ALL_MODALITIES))  # checked by the constructor
    hidden: int = Field(64, ge=1)
    dropout: float = Field(0.2, ge=0, lt=1)
    modality_dropout: float = Field(0.0, ge=0, lt=1)
    encoder: Literal["mean", "lstm"] = "mean"
    fusion_dim: int = Field(16, ge=1)
    heads: int = Field(4, ge=1)
    clip: float = Field(10.0, gt=0)
    threads: int = Field(1, ge=0)


class AdaptedParams(Params):
    """``model:`` keys of ``adapted``: built by ``affectlab transfer``, whose config.yaml records
    where it came from (``source_model``, ``source_run``, ``source_params``, ``transfer``); every
    key but ``threads`` is informative and kept as written."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False, frozen=True)
    source_model: str = ""
    threads: int = Field(1, ge=0)


#: the fusion estimators' registered names and their net kinds (:data:`affectlab.models.fusion.NETS`),
#: in benchmark order: the one place these names are declared
FUSION_KINDS: dict[str, str] = {"late_fusion": "late", "early_lstm": "early_lstm", "tensor_fusion": "tensor",
                                "cross_attention": "attention"}
FUSION_MODELS: tuple[str, ...] = tuple(FUSION_KINDS)
