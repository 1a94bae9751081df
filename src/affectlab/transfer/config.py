"""The ``transfer:`` section of a transfer config, beside an ordinary run config.

A transfer config is a run config (``data`` = how to read the *target* data, ``split``,
``features``, ``training`` = the fine-tuning and the from-scratch/oracle settings) plus::

    transfer:
      k: 50                        # labelled target training samples (0 = none)
      adapters: {text: {kind: mlp, depth: 1, width: 256, residual: true}}
      stages: [{kind: pseudo, scheme: nn}, {kind: standardize}, {kind: supervised}]

``model`` is ignored on input (the source run's model is adapted) and written back as
``model: {name: adapted, source_model: ..., transfer: {...}}`` in the transfer run's
``config.yaml``, so that the run directory holds exactly what ran.

>>> t = TransferConfig.model_validate({"k": 0, "adapters": {"text": {}}, "stages": [{"kind": "coral"}]})
>>> t.adapters["text"].kind, t.stages[0].kind
('mlp', 'coral')
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..config import RunConfig, apply_overrides, validate_config
from ..errors import AffectlabError
from ..io import read_yaml


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AdapterConfig(_Strict):
    """One modality's adapter; ``in_dim`` (optional) is checked against the target data."""

    kind: Literal["mlp", "linear"] = "mlp"
    depth: int = Field(1, ge=0)
    width: int = Field(256, ge=1)
    residual: bool = True
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    in_dim: int | None = Field(None, ge=1)


class StageConfig(_Strict):
    """One training stage; keys not used by a stage's kind are ignored."""

    kind: Literal["standardize", "coral", "mmd", "pseudo", "supervised"]
    epochs: int | None = Field(None, ge=1)  # alignment: default 20; supervised: training.max_epochs per phase
    lr: float | None = Field(None, gt=0)  # alignment: default 1e-3; supervised: training.lr
    batch_size: int = Field(64, ge=2)
    # pseudo-targets
    scheme: Literal["random", "kmeans", "nn"] = "nn"
    similarity: Literal["shared", "adapted"] = "shared"  # shared: the unchanged modalities
    exclude: Literal["none", "id", "group"] = "group"  # never pair a target sample with its own id / video
    clusters: int = Field(32, ge=1)
    neighbours: int = Field(1, ge=1)
    # MMD
    scales: list[float] = Field(default_factory=lambda: [0.5, 1.0, 2.0])
    # CORAL
    eps: float = Field(1e-3, ge=0.0)
    # supervised
    first: Literal["model", "adapters"] = "model"  # phase 1 trains this part (the other frozen)
    lr_scale: float = Field(0.1, gt=0)  # phase 2 (everything) uses lr * lr_scale
    patience: int | None = Field(None, ge=1)


class TransferConfig(_Strict):
    k: int = Field(50, ge=0)
    source_data: str | None = None  # default: summary.json data.path of the source run
    val_size: int | None = Field(None, ge=2)  # cap the target validation labels used for early stopping
    adapters: dict[str, AdapterConfig] = Field(default_factory=dict)
    stages: list[StageConfig] = Field(default_factory=lambda: [StageConfig(kind="standardize"), StageConfig(kind="supervised")])
    compare: bool = True  # train the comparison models (from scratch, standardisation map, oracle)
    compare_rows: list[Literal["scratch_k", "standardization_map", "oracle", "source_reference"]] = Field(
        default_factory=lambda: ["scratch_k", "standardization_map", "oracle", "source_reference"])
    bootstrap: int = Field(1000, ge=0)
    threads: int = Field(1, ge=0)


def load_transfer_config(path: str | Path, overrides: Sequence[str] = (), seed: int | None = None) -> tuple[RunConfig, TransferConfig]:
    """Read a transfer config: the run part validated as :class:`RunConfig`, the ``transfer`` part apart."""
    raw = apply_overrides(read_yaml(path), overrides)
    if seed is not None:
        raw["seed"] = seed
    section = raw.pop("transfer", None)
    if section is None:
        raise AffectlabError(f"{path}: no 'transfer' section (see configs/mosi/transfer-text-encoder.yaml)")
    raw = copy.deepcopy(raw)
    raw.setdefault("model", {"name": "adapted"})
    run_cfg = validate_config(raw, str(path))
    try:
        t_cfg = TransferConfig.model_validate(section)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise AffectlabError(f"{path}: transfer.{where}: {first['msg']}") from None
    return run_cfg, t_cfg


def written_config(run_cfg: RunConfig, t_cfg: TransferConfig, source_model: str, source_params: dict[str, Any],
                   source_run: str) -> RunConfig:
    """The config written to the transfer run: ``model`` names the ``adapted`` estimator and what ran."""
    out = run_cfg.model_copy(deep=True)
    out.model = type(out.model)(name="adapted", source_model=source_model, source_params=source_params,
                                source_run=source_run, transfer=t_cfg.model_dump(mode="json"))
    return out
