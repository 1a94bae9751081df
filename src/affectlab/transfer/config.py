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

from ..config import RunConfig, apply_overrides
from ..experiment import validate_config
from ..core.errors import AffectlabError
from ..core.io import read_yaml


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AdapterConfig(_Strict):
    """One modality's adapter.

    ``in_dim`` (the target extractor's dimension) and ``out_dim`` (the source model's) are
    optional and checked against the target data and the source model. ``source_extractor`` /
    ``target_extractor`` name the two extractors (e.g. ``opensmile-egemaps-v02`` and
    ``opensmile-compare-2016``); the target's defaults to the text encoder when ``text`` is
    re-encoded (``data.options.text_source: encoder``). The same name and the same dimension on
    both sides means there is nothing to adapt: refused.
    """

    kind: Literal["mlp", "linear"] = "mlp"
    depth: int = Field(1, ge=0)
    width: int = Field(256, ge=1)
    residual: bool = True
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    in_dim: int | None = Field(None, ge=1)
    out_dim: int | None = Field(None, ge=1)
    source_extractor: str | None = None
    target_extractor: str | None = None


class StageConfig(_Strict):
    """One training stage; keys not used by a stage's kind are ignored."""

    kind: Literal["standardize", "coral", "mmd", "pseudo", "supervised"]
    epochs: int | None = Field(None, ge=1)  # alignment: default 20; supervised: training.max_epochs per phase
    lr: float | None = Field(None, gt=0)  # alignment: default 1e-3; supervised: training.lr
    batch_size: int = Field(64, ge=2)
    # pseudo-targets
    scheme: Literal["random", "kmeans", "nn", "label"] = "nn"  # label: the K labelled samples only
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


CompareRow = Literal["scratch_k", "standardization_map", "oracle", "source_reference"]
COMPARE_ROWS: tuple[CompareRow, ...] = ("scratch_k", "standardization_map", "oracle", "source_reference")


class TransferConfig(_Strict):
    k: int = Field(50, ge=0)
    source_data: str | None = None  # default: summary.json data.path of the source run
    val_size: int | None = Field(None, ge=2)  # cap the target validation labels used for early stopping
    adapters: dict[str, AdapterConfig] = Field(default_factory=dict)
    stages: list[StageConfig] = Field(default_factory=lambda: [StageConfig(kind="standardize"), StageConfig(kind="supervised")])
    compare: bool = True  # train the comparison models (from scratch, standardisation map, oracle)
    compare_rows: list[CompareRow] = Field(default_factory=lambda: list(COMPARE_ROWS))
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
    for m, a in t_cfg.adapters.items():
        a.target_extractor = a.target_extractor or default_target_extractor(run_cfg, m)
        same = nothing_to_adapt(m, a, a.in_dim, a.out_dim)
        if same:
            raise AffectlabError(f"{path}: {same}")
    return run_cfg, t_cfg


def default_target_extractor(cfg: RunConfig, modality: str) -> str | None:
    """The target extractor's name where the config itself says it: text re-encoded by ``features.text``."""
    if modality == "text" and cfg.data.options.get("text_source") == "encoder":
        return f"{cfg.features.text.kind}:{cfg.features.text.name}"
    return None


def nothing_to_adapt(m: str, a: AdapterConfig, in_dim: int | None, out_dim: int | None) -> str | None:
    """The refusal when source and target extractors of ``m`` have the same name and dimension; else None.

    >>> nothing_to_adapt("audio", AdapterConfig(source_extractor="egemaps", target_extractor="egemaps"), 88, 88)
    "transfer.adapters.audio: source and target extractor are both 'egemaps' with 88 dimensions: nothing to adapt (name another target_extractor, or use the source run as it is)"
    >>> nothing_to_adapt("audio", AdapterConfig(source_extractor="egemaps", target_extractor="compare"), 6373, 88) is None
    True
    """
    if a.source_extractor is None or a.source_extractor != a.target_extractor:
        return None
    if in_dim is None or out_dim is None or in_dim != out_dim:
        return None
    return (f"transfer.adapters.{m}: source and target extractor are both {a.source_extractor!r} with {in_dim} "
            "dimensions: nothing to adapt (name another target_extractor, or use the source run as it is)")


def written_config(run_cfg: RunConfig, t_cfg: TransferConfig, source_model: str, source_params: dict[str, Any],
                   source_run: str) -> RunConfig:
    """The config written to the transfer run: ``model`` names the ``adapted`` estimator and what ran."""
    out = run_cfg.model_copy(deep=True)
    out.model = type(out.model)(name="adapted", source_model=source_model, source_params=source_params,
                                source_run=source_run, transfer=t_cfg.model_dump(mode="json"))
    return out
