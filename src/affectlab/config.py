"""Run configuration as pure schema: pydantic sections and ``--set key=value`` overrides.

Nothing here knows a model, a reader or a task: :mod:`affectlab.experiment` checks a config
against the registries and resolves it into an ``Experiment`` (YAML loading lives there too).

>>> cfg = RunConfig.model_validate({"model": {"name": "global_mean"}})
>>> cfg.training.patience
5
>>> apply_overrides({"model": {"name": "x"}}, ["model.hidden=64", "seed=3"])
{'model': {'name': 'x', 'hidden': 64}, 'seed': 3}
"""

from __future__ import annotations

import copy
from typing import Any, Literal, Sequence

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .core.errors import AffectlabError
from .core.targets import target_kind


#: seeds numpy, torch and Lightning all accept (Lightning replaces a larger one by a random seed)
MAX_SEED = 2**32 - 1


class _Strict(BaseModel):
    # no NaN or infinity in any number of a config (a learning rate of inf trains on nothing)
    model_config = ConfigDict(extra="forbid", frozen=False, allow_inf_nan=False)


class TargetConfig(_Strict):
    """A target column and its declared range; categories may map to numbers."""

    name: str
    column: str | None = None  # source column, default = name
    low: float | None = None
    high: float | None = None
    kind: Literal["regression", "category"] = "regression"  # `number` is read as regression (core.targets)
    classes: list[str] = Field(default_factory=list)
    # labels mapped from the source column's categories (docs/protocols.md "Label mapping"): a built-in
    # table (emotion, valence, arousal, valence_binary, arousal_binary, quadrant) or {label: value}
    # (null: leave the sample out); checked against the tables by experiment.resolve
    map: str | dict[str, str | float | None] | None = None
    # a label the table knows that lands outside the declared classes (EmoDB boredom for four classes),
    # or a place the table has no number for: refused (error) or left out and counted (drop)
    unmapped: Literal["error", "drop"] = "error"

    @field_validator("kind", mode="before")
    @classmethod
    def _one_vocabulary(cls, v: Any) -> Any:
        return target_kind(v)

    @model_validator(mode="after")
    def _consistent(self) -> "TargetConfig":
        """A range that is one (low < high), a range only for numbers, classes only for categories."""
        if self.kind == "category" and (self.low is not None or self.high is not None):
            raise ValueError(f"category target {self.name!r} has classes, not a range (low/high)")
        if self.kind == "regression" and self.classes:
            raise ValueError(f"classes apply to category targets; declare {self.name!r} with kind: category")
        if self.low is not None and self.high is not None and not self.low < self.high:
            raise ValueError(f"target {self.name!r}: low ({self.low:g}) must be below high ({self.high:g})")
        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f"target {self.name!r}: classes repeat a name")
        if self.map is None and self.unmapped != "error":  # (a written config.yaml has every key, at its default)
            raise ValueError(f"target {self.name!r}: unmapped applies to a target with a map")
        return self


class SourceConfig(_Strict):
    """One of several data sources of a run (one ``--data`` each, in order): its corpus name, and
    the reader settings and label maps where they differ from the ``data:`` section's."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    format: str | None = None  # default: data.format
    columns: dict[str, str] | None = None  # default: data.columns
    options: dict[str, Any] | None = None  # default: data.options
    map: dict[str, str | dict[str, str | float | None]] = Field(default_factory=dict)  # target -> its map here


def _once(names: list[str], message: str) -> None:
    """``ValueError(message)`` formatted with the first repeated name, if any name repeats."""
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(message.format(twice[0]))


class DataConfig(_Strict):
    """How to read the data: a reader name, its column map, targets and reader options."""

    format: str = "semeval"
    columns: dict[str, str] = Field(default_factory=dict)  # canonical (id, group, order, text) -> source column
    targets: list[TargetConfig] = Field(default_factory=list)
    options: dict[str, Any] = Field(default_factory=dict)
    # several corpora in one run (train --data A --data B): one entry per --data, in order; empty: each
    # --data is a source named after its file (docs/protocols.md "Cross-corpus")
    sources: list[SourceConfig] = Field(default_factory=list)

    @field_validator("sources")
    @classmethod
    def _distinct_sources(cls, v: list[SourceConfig]) -> list[SourceConfig]:
        _once([s.name for s in v], "source {!r} is named twice")
        return v

    @field_validator("targets")
    @classmethod
    def _distinct(cls, v: list[TargetConfig]) -> list[TargetConfig]:
        _once([t.name for t in v], "target {!r} is declared twice")
        return v


class SplitConfig(_Strict):
    """The protocol: how samples are divided for selection and for the reported score.

    Hold-out kinds (one training and one validation part, then a refit on everything):
    ``dev``: ``unseen_fraction`` of the groups held out whole, plus the latest
    ``latest_fraction`` of every other group's samples; ``group``: groups held out whole;
    ``temporal``: latest fraction of every group; ``given``: the file's own splits.

    Cross-validation kinds (every sample gets one out-of-fold prediction; see docs/protocols.md):
    ``group_kfold``: ``k`` folds of whole groups; ``leave_one_group_out``: one fold per group
    (leave-one-speaker-out); ``kfold``: ``k`` folds of samples, ignoring groups. Inside each
    training fold, ``inner_fraction`` of its groups are held out for selection (early stopping).

    ``cross_corpus`` (several data sources): trained on ``train_corpora``, scored once on every other
    corpus; leave-one-group-out inside the training corpora gives the within-corpus scores.
    """

    #: a registered protocol (affectlab.protocols.PROTOCOLS), checked when the config is resolved
    kind: str = "dev"
    unseen_fraction: float = Field(0.2, ge=0.0, lt=1.0)
    latest_fraction: float = Field(0.2, ge=0.0, lt=1.0)
    train_split: str = "train"
    val_split: str = "valid"
    k: int = Field(5, ge=2)
    inner_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    seed: int = Field(0, ge=0, le=MAX_SEED)
    # cross-validation kinds: this split of the file is set aside, the folds run over the rest, and the
    # final model (refitted on the rest) is scored on it once (docs/protocols.md)
    test_split: str | None = None
    # cross_corpus: the sources trained on (default: the first); every other source is a test corpus
    train_corpora: list[str] = Field(default_factory=list)


class EncoderConfig(_Strict):
    """A text encoder: sentence-transformers or Hugging Face model by name or path, or TF-IDF."""

    kind: Literal["sentence-transformers", "huggingface", "none"] = "sentence-transformers"
    name: str = "all-MiniLM-L6-v2"  # the offline default; any hub name or local path also works
    finetune: bool = False  # train the encoder with the model (slow on CPU: for users with a GPU)
    encoder_lr: float = Field(2e-5, gt=0)  # learning rate of the encoder's weights when fine-tuning
    batch_size: int = Field(64, ge=1)
    max_length: int = Field(256, ge=8)
    normalize: bool = True
    # huggingface kind only (sentence-transformers pools as its model defines): which hidden layer
    # (-1 = last, 0 = the embeddings, k = after block k) and how its tokens become one vector
    layer: int = -1
    pooling: Literal["mean", "cls", "max"] = "mean"

    @model_validator(mode="after")
    def _pooling_is_huggingface(self) -> "EncoderConfig":
        # a kind left to its default may still be set by the registry name it is built under (make_extractor)
        if "kind" in self.model_fields_set and self.kind != "huggingface" and (self.layer, self.pooling) != (-1, "mean"):
            raise ValueError(f"layer/pooling are options of kind huggingface; a {self.kind} model pools as it "
                             f"defines (use kind: huggingface with name {self.name!r})")
        return self


class FeaturesConfig(_Strict):
    text: EncoderConfig = Field(default_factory=EncoderConfig)
    cache_dir: str | None = None  # default: $AFFECTLAB_CACHE or ~/.cache/affectlab


class ModelConfig(BaseModel):
    """``name`` picks a registered model; every other key is that model's own parameter."""

    model_config = ConfigDict(extra="allow")
    name: str

    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})



class LossTerms(_Strict):
    """Weights of the loss terms for one target (weighted sum)."""

    ccc: float = Field(0.0, ge=0)
    mse: float = Field(0.0, ge=0)
    mae: float = Field(0.0, ge=0)
    corr: float = Field(0.0, ge=0)
    ce: float = Field(0.0, ge=0)  # cross-entropy, for category targets

    def check_kind(self, target: str, category: bool) -> None:
        """Refuse terms of the other target kind (CE on a number, CCC on a class), in one line.

        >>> LossTerms(ce=1.0).check_kind("arousal", category=False)
        Traceback (most recent call last):
        ...
        affectlab.core.errors.AffectlabError: training.losses.arousal: ce cannot apply to regression target 'arousal' (use ccc, mse, mae or corr)
        """
        wrong = [k for k in ("ccc", "mse", "mae", "corr") if getattr(self, k)] if category else (["ce"] if self.ce else [])
        if wrong:
            kind, use = ("category", "ce") if category else ("regression", "ccc, mse, mae or corr")
            raise AffectlabError(f"training.losses.{target}: {', '.join(wrong)} cannot apply to {kind} target "
                                 f"{target!r} (use {use})")


class TrainingConfig(_Strict):
    max_epochs: int = Field(40, ge=1)
    batch_size: int = Field(16, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    patience: int = Field(5, ge=1)
    monitor: str = "score"  # a validation metric name (see ``affectlab.metrics``)
    losses: dict[str, LossTerms] = Field(default_factory=dict)  # per target; default: the task's (CCC / CE)
    # category targets: "balanced" weighs each class's cross-entropy by n / (n_classes * n_class)
    class_weights: Literal["none", "balanced"] = "none"
    grad_clip: float = 1.0
    refit_full: bool = True  # after selection, refit on all training data for the chosen epochs
    devices: int = Field(1, ge=1)
    strategy: str = "auto"
    accelerator: str = "cpu"
    deterministic: bool = True
    # CPU threads for torch while training. Small recurrent nets are fastest on one; two threads on
    # a busy 2-core machine made epochs many times slower (spin-waiting). 0: torch's default.
    threads: int = Field(1, ge=0)
    # networks with an --out: write the resume checkpoint (lightning/last.ckpt) every N epochs and after the last
    checkpoint_every: int = Field(1, ge=1)

    def loss_for(self, target: str, kind: str = "regression") -> LossTerms:
        """The declared loss of ``target``, or the default for its kind (1.0 CCC; 1.0 cross-entropy)."""
        if target in self.losses:
            return self.losses[target]
        return LossTerms(ce=1.0) if kind == "category" else LossTerms(ccc=1.0)


class TrackingConfig(_Strict):
    """MLflow tracking of ``train --mlflow`` (docs/tracking.md): the experiment the run goes to."""

    experiment: str = Field("affectlab", min_length=1)


class ComputeConfig(_Strict):
    """Where chunked work runs (affectlab.distributed, docs/scaling.md): here, or on Dask workers
    (a LocalCluster of ``workers`` processes, or the scheduler at ``address``)."""

    engine: Literal["local", "dask"] = "local"
    workers: int = Field(2, ge=1)
    address: str | None = None


class ReferenceConfig(_Strict):
    """A published result for this run's task (added to the task's own ``references``)."""

    system: str
    metric: str  # a mean-over-targets key the task reports (score, mae, pearson, uar...)
    value: float
    protocol: str = ""
    source: str = ""


class RunConfig(_Strict):
    """The resolved configuration of one run; written to ``config.yaml`` in the run directory."""

    task: str = "semeval"  # a registered Task (affectlab.tasks.TASKS): semeval, mosi, regression, classification, emodb
    name: str = ""
    data: DataConfig = Field(default_factory=DataConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    model: ModelConfig = Field(default_factory=lambda: ModelConfig(name="user_sequence"))
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    compute: ComputeConfig = Field(default_factory=ComputeConfig)
    baselines: list[str] | None = None  # None: the task's default baselines; [] none
    references: list[ReferenceConfig] = Field(default_factory=list)  # more published results (ABOVE_STATE_OF_THE_ART)
    seed: int = Field(42, ge=0, le=MAX_SEED)
    # `train --media`: the extract settings (a mapping, as configs/extract/*.yaml) or the path of an extract config
    extract: dict[str, Any] | str | None = None

    @field_validator("baselines")
    @classmethod
    def _unique(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else list(dict.fromkeys(v))

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def apply_overrides(raw: dict[str, Any], assignments: Sequence[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` assignments (values parsed as YAML) to a nested dict copy."""
    out = copy.deepcopy(raw)
    for item in assignments:
        if "=" not in item:
            raise AffectlabError(f"--set {item!r}: expected key=value")
        key, value = item.split("=", 1)
        parts = [p for p in key.strip().split(".") if p]
        if not parts:
            raise AffectlabError(f"--set {item!r}: empty key")
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            parsed = value
        node = out
        for part in parts[:-1]:
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise AffectlabError(f"--set {item!r}: {part!r} is not a section")
            node = nxt
        node[parts[-1]] = parsed
    return out
