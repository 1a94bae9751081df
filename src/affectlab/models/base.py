"""The estimator interface every registered model implements, baselines and networks alike.

An estimator is built from its parameters and the targets, fitted on a training
:class:`~affectlab.corpus.Corpus` (with an optional validation corpus for early stopping), and
predicts a (n_samples, n_targets) array. Its state is plain tensors and primitives so that a
checkpoint loads with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from ..core.validation import closest, validation_line

from ..corpus.base import Corpus, TargetSpec
from ..core.errors import AffectlabError

# Called after each epoch with (epoch, {"train_loss": .., "val_score": ..., ...}); returns nothing.
EpochCallback = Callable[[int, dict[str, float]], None]
# Scores predictions on a corpus: (corpus, predictions) -> {"score": .., "ccc_valence": .., ...}
Scorer = Callable[[Corpus, np.ndarray], dict[str, float]]


@dataclass
class FitContext:
    """What an estimator may use while fitting: the training section of the config and helpers."""

    training: Any  # affectlab.config.TrainingConfig
    seed: int = 42
    scorer: Scorer | None = None
    monitor: str = "score"
    monitor_higher_is_better: bool = True
    work_dir: str | None = None  # where a network may keep Lightning checkpoints (resume)
    resume: bool = False
    fixed_epochs: int | None = None  # refit: train exactly this many epochs, no validation
    on_epoch: EpochCallback | None = None
    compute: Any = None  # affectlab.config.ComputeConfig: where chunked work may run (affectlab.distributed)


@dataclass
class FitResult:
    """What fitting produced: per-epoch history and the selected epoch (1-based; 0 for closed form)."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    n_params: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class Params(BaseModel):
    """Base of every model's parameter schema: typed fields with ranges, no unknown keys, frozen.

    A registered model sets ``Params`` to a subclass; the estimator receives an instance and
    reads ``self.params.<key>`` (the defaults live in the schema, nowhere else). What a
    checkpoint or config.yaml stores is :func:`params_dict`: only the keys the user set.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)  # no NaN or infinite parameter


class Estimator(ABC):
    """Base class: ``fit`` → ``predict``; ``state``/``from_state`` for checkpoints."""

    #: the parameter schema (config ``model:`` keys); None: parameters are passed on unchecked (a dict)
    Params: ClassVar[type[BaseModel] | None] = None
    #: the name it is registered under (set by ``MODELS.register``), for one-line messages
    registered_name: ClassVar[str] = ""

    #: feature arrays (keys of ``Corpus.features``) the estimator reads; "text" = sentence embeddings
    needs_features: tuple[str, ...] = ()
    #: whether it reads raw text (``Corpus.frame['text']``)
    needs_raw_text: bool = False
    #: whether it is a neural network trained by epochs
    is_neural: ClassVar[bool] = False
    #: target kinds it can predict ("regression": numbers; "category": class indices)
    target_kinds: ClassVar[frozenset[str]] = frozenset({"regression"})
    #: the pipeline's refit keeps what that fit returned here (for summary.json's ``fit.refit``)
    fit_result: "FitResult | None" = None

    def __init__(self, targets: tuple[TargetSpec, ...], params: Any = None, /, **raw: Any) -> None:
        """``params``: an instance of ``Params`` (kept as it is), or keyword parameters checked into one.

        Keywords are a convenience for code and tests (``MODELS.get("mlp")(targets, hidden=[16])``);
        the flows build through :class:`~affectlab.models.spec.EstimatorSpec`, which checks once.
        """
        self.targets = tuple(targets)
        self.params = self.make_params(params, **raw)

    @classmethod
    def model_name(cls) -> str:
        """The name messages use: the registered one, else the class's."""
        return cls.registered_name or getattr(cls, "class_path", "") or cls.__name__

    @classmethod
    def make_params(cls, params: Any = None, /, **raw: Any) -> Any:
        """``params`` as this model's ``Params`` instance: an instance passes through; a dict and/or
        keywords are checked (one :class:`AffectlabError` line). Without a schema: a plain dict."""
        if cls.Params is None:
            if isinstance(params, BaseModel):
                raise AffectlabError(f"model {cls.model_name()}: declares no Params, got {type(params).__name__}")
            return {**dict(params or {}), **raw}
        if isinstance(params, cls.Params) and not raw:
            return params
        if isinstance(params, BaseModel):
            raise AffectlabError(f"model {cls.model_name()}: expected {cls.Params.__name__} parameters, "
                                 f"got {type(params).__name__}")
        if params is not None and not isinstance(params, dict):
            raise AffectlabError(f"model {cls.model_name()}: parameters must be a mapping, got {type(params).__name__}")
        return parse_params(cls.Params, cls.model_name(), {**dict(params or {}), **raw})

    def clone(self) -> "Estimator":
        """A new unfitted estimator with the same targets and parameters (scikit-learn's ``clone``)."""
        if isinstance(self.params, BaseModel):
            return type(self)(self.targets, self.params)
        return type(self)(self.targets, **self.params)

    def config_params(self) -> dict[str, Any]:
        """The parameters as config.yaml and checkpoints store them: only the keys the user set."""
        return params_dict(self.params)

    @abstractmethod
    def fit(self, train: Corpus, val: Corpus | None, ctx: FitContext) -> FitResult:
        """Fit on ``train``; may select on ``val``."""

    @abstractmethod
    def predict(self, corpus: Corpus) -> np.ndarray:
        """Predictions of shape (len(corpus), n_targets)."""

    @abstractmethod
    def state(self) -> dict[str, Any]:
        """Everything needed to predict again, as tensors, arrays and primitives."""

    @abstractmethod
    def load_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state` returned (after construction with the same params)."""

    @classmethod
    def validate_params(cls, name: str, params: dict[str, Any]) -> dict[str, Any]:
        """The checked parameters as a plain dict (values coerced; only the keys given), or one
        :class:`AffectlabError` line naming the model, the key and what is wrong."""
        return check_schema(cls.Params, name, params)

    @classmethod
    def check_target_kinds(cls, name: str, targets: tuple[TargetSpec, ...]) -> None:
        """One-line error when a target's kind is one this model cannot predict."""
        for t in targets:
            if t.kind not in cls.target_kinds:
                can = " and ".join(sorted(cls.target_kinds))
                raise AffectlabError(f"model {name} cannot predict {t.kind} target {t.name!r} (it handles {can} targets)")

    def check_size(self, n_train: int) -> None:
        """One-line error when ``n_train`` training samples are too many for this estimator.

        Called by the pipeline right after the data is read, before any features are computed;
        the default accepts any size.
        """

    def check_inputs(self, corpus: Corpus, also: "set[str] | frozenset[str]" = frozenset()) -> None:
        """One-line errors for a corpus lacking what this estimator reads. ``also``: feature keys
        computed later (text embeddings), so that the check can run before they are encoded."""
        for key in self.needs_features:
            if key not in corpus.features and key not in also:
                raise AffectlabError(f"model needs feature {key!r}, which the data does not provide")
        if self.needs_raw_text and not corpus.has_text:
            raise AffectlabError("model needs raw text, which the data does not provide")


def labelled(corpus: Corpus, n_targets: int) -> np.ndarray:
    """The target matrix, refusing a corpus without labels for some target (one line)."""
    y = corpus.target_matrix()
    if y.shape[1] != n_targets:
        raise AffectlabError("training data lacks the model's targets")
    if len(y) == 0 or np.isnan(y).all(axis=0).any():
        raise AffectlabError("training data has no labels for at least one target")
    return y


def check_params(model: str, params: dict[str, Any], known: set[str] | frozenset[str]) -> None:
    """One-line error naming a model's unknown parameters and the ones it knows.

    >>> check_params("mlp", {"hiden": 3}, {"hidden", "dropout"})
    Traceback (most recent call last):
    ...
    affectlab.core.errors.AffectlabError: model mlp: unknown parameter(s) hiden (known: dropout, hidden) (did you mean `hidden`?)
    """
    unknown = set(params) - set(known)
    if unknown:
        known_text = ", ".join(sorted(known)) or "none"
        first = sorted(unknown)[0]
        raise AffectlabError(f"model {model}: unknown parameter(s) {', '.join(sorted(unknown))} (known: {known_text})"
                             f"{closest(first, sorted(known))}")


def parse_params(schema: type[BaseModel], name: str, params: dict[str, Any]) -> BaseModel:
    """``params`` as an instance of ``schema``, or one line naming model ``name``, the key and the problem.

    Unknown keys are named with the known ones (a schema allowing extra keys takes any).

    >>> from affectlab.models.params import MLPParams
    >>> parse_params(MLPParams, "mlp", {"dropout": "0.5"}).dropout
    0.5
    >>> parse_params(MLPParams, "mlp", {"dropout": 2})
    Traceback (most recent call last):
    ...
    affectlab.core.errors.AffectlabError: model mlp: dropout: Input should be less than 1 (got 2)
    """
    if schema.model_config.get("extra") != "allow":
        check_params(name, params, set(schema.model_fields))
    try:
        return schema.model_validate(dict(params))
    except ValidationError as err:
        raise AffectlabError(f"model {name}: {validation_line(err, schema)}") from None


def params_dict(params: Any) -> dict[str, Any]:
    """What config.yaml and checkpoints store of a Params instance: the keys set, as plain data.

    >>> from affectlab.models.params import MLPParams
    >>> params_dict(MLPParams(hidden=[8], dropout=0.0))
    {'hidden': [8], 'dropout': 0.0}
    """
    if isinstance(params, BaseModel):
        return params.model_dump(exclude_unset=True)
    return dict(params or {})


def check_schema(schema: type[BaseModel] | None, name: str, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` checked against ``schema``, as the plain dict :func:`params_dict` gives; None passes them on."""
    if schema is None:
        return dict(params)
    return params_dict(parse_params(schema, name, params))


def clip_to_ranges(pred: np.ndarray, targets: tuple[TargetSpec, ...]) -> np.ndarray:
    """Clip each regression column of ``pred`` to its target's declared range."""
    out = np.array(pred, dtype=float, copy=True)
    for j, t in enumerate(targets):
        if t.is_category:
            continue
        out[:, j] = np.clip(out[:, j], -np.inf if t.low is None else t.low, np.inf if t.high is None else t.high)
    return out
