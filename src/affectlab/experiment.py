"""Resolve once: a raw config (file, mapping, ``--set`` overrides) becomes a typed, frozen
:class:`Experiment`, and every check happens here, before any data is read.

``config.py`` is pure schema (pydantic sections, no knowledge of models, readers or tasks); this
module knows the registries and checks the config against them: the task, the model's and each
named baseline's parameters (networks without importing Lightning), the reader's options, the
protocol and the ``split:`` keys it reads, the losses and the monitor for the declared targets, and
the published references. The flows below take the :class:`Experiment`, never the raw config.

>>> exp = resolve({"task": "regression", "model": {"name": "ridge_text", "alphas": ["1", 10]},
...                "data": {"format": "table", "targets": [{"name": "y"}]}, "split": {"kind": "kfold", "k": 3}})
>>> exp.task.name, exp.protocol, exp.model.config_params()
('regression', KFold(k=3, seed=0, inner_fraction=0.2, test_split=None), {'alphas': [1.0, 10.0]})
>>> resolve({"split": {"kind": "group_kfold", "val_split": "nope"}})
Traceback (most recent call last):
...
affectlab.core.errors.AffectlabError: config: split.val_split: protocol group_kfold does not read it (read by: given); remove it or choose that protocol
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from pydantic import ValidationError

from .config import (DataConfig, EncoderConfig, FeaturesConfig, ModelConfig, RunConfig, SourceConfig, TrainingConfig,
                     apply_overrides)
from .core.errors import AffectlabError
from .core.io import read_yaml
from .core.validation import did_you_mean, first_error
from .corpus.base import TargetSpec
from .corpus.registry import get_reader
from .corpus.sources import Source, target_maps
from .models import MODELS, EstimatorSpec, estimator_spec
from .models.base import Estimator
from .protocols import Protocol, check_kind, check_split_keys, protocol_for
from .tasks import TASKS, Reference, Task, get_task


@dataclass(frozen=True)
class Experiment:
    """Everything a run needs, checked: see the module docstring."""

    config: RunConfig
    task: Task
    protocol: Protocol
    model: EstimatorSpec
    #: baselines named by the config (None: the task's defaults, chosen for the data's targets and modalities)
    baselines: tuple[str, ...] | None
    data: DataConfig
    features: FeaturesConfig
    training: TrainingConfig
    references: tuple[Reference, ...]
    #: the targets the config (or its reader) declares; () when only the data can tell
    declared_targets: tuple[TargetSpec, ...]
    #: the validation metric that selects (``training.monitor`` resolved by the task)
    monitor: str
    seed: int

    def build_model(self, targets: tuple[TargetSpec, ...]) -> Estimator:
        """A new, unfitted model for ``targets``; with ``features.text.finetune`` it trains its text encoder."""
        return with_text_encoder(self.model.build(targets), self.features.text, self.model.name)

    def baseline_spec(self, name: str) -> EstimatorSpec:
        """A baseline with its default parameters; as one of the task's defaults (the config names
        no ``baselines:``) with the cheap ones its class declares (``default_baseline_params``:
        ``logistic_<m>`` fits one fixed C instead of selecting among nine by inner cross-validation).

        >>> resolve({"task": "classification"}).baseline_spec("logistic_audio").config_params()
        {'Cs': [0.01]}
        >>> resolve({"task": "classification", "baselines": ["logistic_audio"]}).baseline_spec("logistic_audio").config_params()
        {}
        """
        cheap = {} if self.baselines is not None else getattr(MODELS.get(name), "default_baseline_params", {})
        return estimator_spec(name, dict(cheap))

    def sources(self, paths: "Sequence[str | Path | Any]") -> tuple[Source, ...]:
        """The data sources of ``paths`` (one per ``--data``, in order), checked before any is read:
        their count against ``data.sources``, a file given twice or two sources with the same content
        (a test corpus that is also a training corpus), the cross-corpus training names."""
        return data_sources(self.config, paths)


def with_text_encoder(estimator: Estimator, text: EncoderConfig, name: str) -> Estimator:
    """``estimator`` (model ``name``) set to train its text encoder when ``text.finetune``; one line
    for a model that cannot."""
    if text.finetune:
        if not hasattr(estimator, "use_encoder"):
            raise AffectlabError(f"model {name} cannot fine-tune its text encoder (features.text.finetune)")
        estimator.use_encoder(text)
    return estimator


def checked_model_params(model: ModelConfig) -> dict[str, Any]:
    """The model's parameters checked against its schema, as config.yaml stores them (only the keys
    set): one line naming the model, the key and the problem. A network's are checked without
    importing Lightning; a ``module:Class`` of the user's own gets its parameters as they are."""
    return estimator_spec(model.name, model.params()).config_params()


def task_references(cfg: RunConfig) -> tuple[Reference, ...]:
    """The task's published references plus the config's, each checked against the task's metrics."""
    task = get_task(cfg.task)
    own = tuple(Reference(r.system, r.metric, r.value, r.protocol, r.source) for r in cfg.references)
    task.check_references(own, "references")
    return task.references + own


def check_parameters(cfg: RunConfig, source: str = "config") -> RunConfig:
    """``cfg`` with its model parameters checked (and coerced to their declared types) against the
    model's schema, ``data.format`` a registered reader and ``data.options`` checked against its
    schema, the named baselines registered models and the ``split:`` keys read by its protocol;
    otherwise one :class:`AffectlabError` line starting with ``source``.

    >>> check_parameters(RunConfig.model_validate({"model": {"name": "ridge_text", "alphas": ["1", 10]}})).model.params()
    {'alphas': [1.0, 10.0]}
    >>> check_parameters(RunConfig.model_validate({"data": {"format": "csv"}}), "c.yaml")
    Traceback (most recent call last):
    ...
    affectlab.core.errors.AffectlabError: c.yaml: data.format: unknown data format 'csv'; choose from: csd, mmsa, semeval, table
    """
    if cfg.task not in TASKS:
        raise AffectlabError(f"{source}: task: unknown task {cfg.task!r}; choose from: {', '.join(TASKS.names())}")
    try:
        reader = get_reader(cfg.data.format)
    except AffectlabError as err:
        raise AffectlabError(f"{source}: data.format: {err}") from None
    reader.check_options(cfg.data.options, source)
    try:
        check_kind(cfg.split)
        checked = checked_model_params(cfg.model)
    except AffectlabError as err:
        raise AffectlabError(f"{source}: {err}") from None
    cfg.model = ModelConfig(name=cfg.model.name, **checked)
    for name in cfg.baselines or []:  # a baseline that is no model is said at load, not after the data is read
        try:
            MODELS.get(name)
        except AffectlabError as err:
            raise AffectlabError(f"{source}: baselines: {err}") from None
    return cfg


def source_data(data: DataConfig, source: "Any | None") -> DataConfig:
    """The ``data:`` section one source is read with: the run's, with the source's own format,
    columns, options and target maps where it gives them."""
    if source is None:
        return data
    targets = [t.model_copy(update={"map": source.map[t.name]}) if t.name in source.map else t for t in data.targets]
    return data.model_copy(update={
        "format": source.format or data.format, "columns": data.columns if source.columns is None else source.columns,
        "options": data.options if source.options is None else source.options, "targets": targets, "sources": []})


def check_sources(cfg: RunConfig, source: str = "config") -> None:
    """The label maps (of ``data`` and of every source), each source's reader and options, and the
    cross-corpus split against the sources the config names; one line each, before any data is read."""
    try:
        for s in cfg.data.sources:
            unknown = [name for name in s.map if name not in [t.name for t in cfg.data.targets]]
            if unknown:
                raise AffectlabError(f"data.sources.{s.name}.map: {unknown[0]!r} is not a declared target")
        each: list[SourceConfig | None] = [None, *cfg.data.sources]
        for entry in each:
            data = source_data(cfg.data, entry)
            where = "data" if entry is None else f"data.sources.{entry.name}"
            try:
                target_maps(data)
            except AffectlabError as err:
                raise AffectlabError(f"{where}.targets: {err}") from None
            if entry is not None:
                try:
                    reader = get_reader(data.format)
                except AffectlabError as err:
                    raise AffectlabError(f"{where}.format: {err}") from None
                reader.check_options(data.options, where)
        if cfg.model.params().get("inner_folds") == "corpora" and (cfg.split.kind != "cross_corpus"
                                                                  or len(cfg.split.train_corpora) < 2):
            raise AffectlabError("model.inner_folds: corpora selects by leave-one-corpus-out: it needs split.kind: "
                                 "cross_corpus with two or more split.train_corpora")
        if cfg.split.kind == "cross_corpus" and cfg.data.sources:
            from .protocols import CrossCorpus

            protocol = protocol_for(cfg.split)
            assert isinstance(protocol, CrossCorpus)
            protocol.training_names([s.name for s in cfg.data.sources])
        elif cfg.split.kind != "cross_corpus" and len(cfg.data.sources) > 1:
            raise AffectlabError(f"data.sources names {len(cfg.data.sources)} sources but split.kind is "
                                 f"{cfg.split.kind!r}; several corpora are trained and tested with split.kind: cross_corpus")
    except AffectlabError as err:
        raise AffectlabError(f"{source}: {err}") from None


def source_name(path: Any, index: int) -> str:
    """A source's corpus name from its file: the stem (``emodb.pkl`` -> ``emodb``); a DataFrame by position.

    >>> source_name("/art/emodb.pkl", 0), source_name(object(), 1)
    ('emodb', 'source2')
    """
    if isinstance(path, (str, Path)):
        return Path(path).name.split(".")[0] or f"source{index + 1}"
    return f"source{index + 1}"


def data_sources(cfg: RunConfig, paths: "Sequence[Any]") -> tuple[Source, ...]:
    """See :meth:`Experiment.sources`."""
    from .core.io import file_sha256

    paths = list(paths)
    declared = cfg.data.sources
    if declared and len(declared) != len(paths):
        raise AffectlabError(f"data.sources names {len(declared)} sources ({', '.join(s.name for s in declared)}) "
                             f"but {len(paths)} --data {'was' if len(paths) == 1 else 'were'} given; give one --data per source, in order")
    if declared:
        names = [s.name for s in declared]
    else:
        names = [source_name(p, i) for i, p in enumerate(paths)]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice and len({str(Path(p).resolve()) for p in paths if isinstance(p, (str, Path))}) == len(paths):
            names = [f"{n}{i + 1}" if n in twice else n for i, n in enumerate(names)]  # a.pkl in two folders
    if len(paths) > 1 and cfg.split.kind != "cross_corpus":
        raise AffectlabError(f"{len(paths)} --data given but split.kind is {cfg.split.kind!r}; several corpora are "
                             "trained and tested with split.kind: cross_corpus")
    if cfg.split.kind == "cross_corpus" and len(paths) < 2:
        raise AffectlabError("split.kind cross_corpus needs two or more data sources: train --data TRAIN --data TEST")
    if len(paths) > 1:
        files = [(n, p) for n, p in zip(names, paths) if isinstance(p, (str, Path))]
        for n, p in files:
            if not Path(p).exists():
                raise AffectlabError(f"{p}: no such file or folder")
        seen: dict[str, str] = {}
        for n, p in files:
            key = str(Path(p).resolve())
            if Path(p).is_file():
                key = file_sha256(p)
            if key in seen:
                raise AffectlabError(f"--data {p} (source {n}) is the same data as source {seen[key]}: a test corpus "
                                     "must not also be a training corpus")
            seen[key] = n
        from .protocols import CrossCorpus

        protocol = protocol_for(cfg.split)
        assert isinstance(protocol, CrossCorpus)
        protocol.training_names(names)
    by_name = {s.name: s for s in declared}
    return tuple(Source(n, p, source_data(cfg.data, by_name.get(n))) for n, p in zip(names, paths))


def validate_config(raw: Any, source: str = "config", *, unread_keys: bool = True) -> RunConfig:
    """Validate a raw mapping, turning pydantic's report into one line, then check it against the
    registries (:func:`check_parameters`) and the task's references: every entry point that loads a
    config (train, sweep, transfer, a run directory, the Python API) refuses a typo or a wrong type
    at load, before anything is read or trained.

    ``unread_keys``: refuse ``split:`` keys the protocol would not read (a user's config; a run
    directory's written config is read as it was trained)."""
    if not isinstance(raw, dict):
        raise AffectlabError(f"{source}: a config is a mapping of sections (task, data, model...), "
                             f"not a {type(raw).__name__}")
    try:
        cfg = RunConfig.model_validate(raw)
    except ValidationError as err:
        first = first_error(err.errors(), RunConfig)
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        more = f" (+{err.error_count() - 1} more)" if err.error_count() > 1 else ""
        hint = did_you_mean(first, RunConfig)  # modle: -> did you mean `model`?
        raise AffectlabError(f"{source}: {where}: {first['msg'].removeprefix('Value error, ')}{hint}{more}") from None
    cfg = check_parameters(cfg, source)
    check_sources(cfg, source)
    try:
        if unread_keys:
            check_split_keys(cfg.split)
        task_references(cfg)  # a reference metric the task does not report is said now
    except AffectlabError as err:
        raise AffectlabError(f"{source}: {err}") from None
    return cfg


def read_config(path: str | Path, overrides: Sequence[str] = (), seed: int | None = None) -> dict[str, Any]:
    """A YAML config with ``--set`` overrides (and a seed) applied, not yet validated."""
    return with_seed(apply_overrides(read_yaml(path), overrides), seed)


def with_seed(raw: dict[str, Any], seed: int | None) -> dict[str, Any]:
    """``raw`` with ``seed`` as the model's and the split's seed (``--seed``; None: as it is).

    >>> with_seed({"seed": 1}, 7)
    {'seed': 7, 'split': {'seed': 7}}
    """
    if seed is not None:
        # --seed/--seeds re-draw every random split too, so seeds measure the protocol's variance
        raw["seed"] = seed
        split = raw.setdefault("split", {})
        if isinstance(split, dict):
            split["seed"] = seed
    return raw


def load_config(path: str | Path, overrides: Sequence[str] = (), seed: int | None = None) -> RunConfig:
    """Read a YAML config, apply overrides (and a seed), validate."""
    return validate_config(read_config(path, overrides, seed), str(path))


def declared_targets(cfg: RunConfig) -> tuple[TargetSpec, ...]:
    """The targets the config declares, or the defaults its reader declares
    (:func:`affectlab.corpus.registry.default_targets`); () when only the data can tell. Classes
    not declared are placeholders (a mapped target's are its table's)."""
    if not cfg.data.targets:
        return get_reader(cfg.data.format).default_targets
    maps = target_maps(cfg.data)
    return tuple(TargetSpec(t.name, t.low, t.high, t.kind, (maps[t.name].classes if t.name in maps else tuple(t.classes))
                            or ("a", "b")) for t in cfg.data.targets)


def monitor_keys(task: Task, targets: tuple[TargetSpec, ...]) -> list[str]:
    """The validation keys ``training.monitor`` may name for ``targets``: ``score``, each metric's
    mean over targets, ``<metric>_<target>``, and for tasks that report them ``seen/``/``unseen/`` ones."""
    keys = ["score", task.primary, *task.all_metric_names(targets)]
    keys += [f"{m}_{t.name}" for t in targets for m in task.metric_names(t)]
    if task.seen_subsets:
        keys += [f"{part}/{k}" for part in ("seen", "unseen") for k in list(keys)]
    return list(dict.fromkeys(keys))


def check_losses_and_monitor(training: TrainingConfig, task: Task, targets: tuple[TargetSpec, ...]) -> None:
    """One line for ``training.losses`` naming a target that is not declared (or terms of the other
    kind), and for a ``training.monitor`` that the task does not produce for these targets."""
    names = [t.name for t in targets]
    unknown = [k for k in training.losses if k not in names]
    if unknown:
        raise AffectlabError(f"training.losses: {', '.join(map(repr, unknown))} is not a declared target "
                             f"(targets: {', '.join(names)})")
    for t in targets:
        if t.name in training.losses:
            training.losses[t.name].check_kind(t.name, t.is_category)
    monitor = training.monitor
    if monitor not in monitor_keys(task, targets):
        means = ", ".join(dict.fromkeys(["score", task.primary, *task.all_metric_names(targets)]))
        seen = ", seen/... or unseen/..." if task.seen_subsets else ""
        raise AffectlabError(f"training.monitor: {monitor!r} is not a validation metric of task {task.name} "
                             f"(choose from {means}, or <metric>_<target> such as "
                             f"{task.all_metric_names(targets)[0]}_{targets[0].name}{seen})")


def resolve(config: "RunConfig | dict[str, Any] | str | Path", overrides: Sequence[str] = (),
            seed: int | None = None, source: str | None = None, *, unread_keys: bool = True) -> Experiment:
    """The :class:`Experiment` of a config file, a raw mapping or a :class:`RunConfig` (re-checked).

    Checks, in order, all before any data is read: the schema, the task, the reader and its
    options, the model's and the named baselines' parameters, the protocol and the ``split:`` keys
    it reads, the references, and — when the config or its reader declares the targets — the losses,
    the monitor and the model's and baselines' target kinds.

    ``unread_keys=False``: ``split:`` keys the protocol does not read pass (ablation variants mix
    two configs' keys); a :class:`RunConfig` passes as it was validated.
    """
    where = source or (str(config) if isinstance(config, (str, Path)) else "config")
    if isinstance(config, (str, Path)):
        cfg = validate_config(read_config(config, overrides, seed), where, unread_keys=unread_keys)
    elif isinstance(config, RunConfig) and not overrides and seed is None:
        # as given: a RunConfig was made by validate_config (which refused unread keys where asked)
        cfg = check_parameters(config, where)
        check_sources(cfg, where)
        try:
            task_references(cfg)
        except AffectlabError as err:
            raise AffectlabError(f"{where}: {err}") from None
    else:
        raw = config.model_dump(mode="json", exclude_unset=True) if isinstance(config, RunConfig) else config
        cfg = validate_config(with_seed(apply_overrides(raw, overrides), seed), where, unread_keys=unread_keys)
    task = get_task(cfg.task)
    declared = declared_targets(cfg)
    model = estimator_spec(cfg.model.name, cfg.model.params())
    exp = Experiment(config=cfg, task=task, protocol=protocol_for(cfg.split), model=model,
                      baselines=None if cfg.baselines is None else tuple(cfg.baselines), data=cfg.data,
                      features=cfg.features, training=cfg.training, references=task_references(cfg),
                      declared_targets=declared, monitor=task.monitor(cfg.training.monitor), seed=cfg.seed)
    if declared:  # losses, monitor, the model's target kinds and fine-tuning, before the data is read
        check_losses_and_monitor(cfg.training, task, declared)
        exp.build_model(declared)
    return exp
