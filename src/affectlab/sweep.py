"""Hyper-parameter sweeps with Optuna over dotted config keys, scored on validation or
out-of-fold predictions, never on a test part.

The search space is a YAML mapping from a dotted config key (as ``--set`` takes it) to its
distribution::

    training.lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
    model.hidden: {type: int, low: 64, high: 256, step: 64}
    model.dropout: {type: float, low: 0.1, high: 0.5}
    model.cell: {type: categorical, choices: [lstm, gru]}

Every trial trains one run directory (``OUT/trial-0000`` ...) and is scored from its own
``summary.json``: under a hold-out protocol by ``metrics.val[monitor]`` (the config's
``training.monitor``); under cross-validation (``group_kfold``, ``leave_one_group_out``,
``kfold``) by the task's primary metric on the pooled out-of-fold predictions
(``metrics.oof``), in the task's direction. A set-aside test split never scores a trial. Trials
are scores-only runs (``train_run(..., scores_only=True)``, no baselines): no final model is
refitted on all data. The best configuration is then trained once in full (``OUT/best``: its
baselines and the model refitted on all data, the run to predict with) and, with ``--seeds K``,
re-run on K fresh seeds (``OUT/best-seed-N``, scores-only) so that its score comes with a spread.
The study lives in ``sqlite:///OUT/optuna.db`` unless ``--storage`` names another database (a
shared PostgreSQL URL lets several machines work on one study).

Before the first trial, what a sweep cannot do is refused in one line: a space that does not
parse, a key that changes how trials are scored (``task``, ``seed``, ``split.*``, the data's
columns, format and targets) or that the model does not read (:mod:`affectlab.runs.used_keys`),
and any point of the space whose config does not validate: every choice, both (reachable) bounds
and an interior value of every number, each alone and, when the grid is small, in every
combination, through :func:`affectlab.experiment.resolve` (the model's typed Params) and, with
the data, the model's target kinds and inputs and the protocol's folds (a hold-out protocol with
no validation part is refused).

>>> space = parse_space({"training.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
...                      "model.cell": {"type": "categorical", "choices": ["lstm", "gru"]}})
>>> [(p.key, p.type) for p in space]
[('training.lr', 'float'), ('model.cell', 'categorical')]
>>> overrides_for({"model.cell": "gru", "training.lr": 0.001})
['model.cell=gru', 'training.lr=0.001']
>>> Param("model.hidden", "int", 16, 96, step=16).probes()
[16, 96, 48]
"""

from __future__ import annotations

import copy
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import yaml

from .config import RunConfig, apply_overrides
from .core.errors import AffectlabError
from .core.io import read_yaml, write_json
from .experiment import Experiment, check_losses_and_monitor, load_config, read_config, resolve
from .runs.summary import RunSummary

TYPES = ("float", "int", "categorical")
#: ``train_fn(cfg, data, run_dir, scores_only=...)`` trains one run directory
TrainFn = Callable[..., Any]
#: the combinations of probe values checked before the first trial, when the grid is no larger
MAX_GRID = 256
#: keys a sweep may not vary: they change how (or on what) the trials are scored
SCORING_KEYS = {
    "task": "the task decides how every trial is scored",
    "seed": "a seed is no hyper-parameter (the luckiest seed is no better config); --seeds re-runs the best config "
            "on fresh seeds",
    "split": "the protocol scores the trials: every trial must be scored on the same folds",
    "data.format": "every trial must be scored on the same data", "data.columns": "every trial must be scored on the same data",
    "data.targets": "every trial must be scored on the same targets",
}
#: what Optuna can store as a categorical choice
SCALARS = (type(None), bool, int, float, str)


@dataclass(frozen=True)
class Param:
    """One dimension of the search space."""

    key: str
    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any) -> Any:
        """Ask an Optuna trial for a value of this parameter."""
        if self.type == "float":
            return trial.suggest_float(self.key, self.low, self.high, log=self.log, step=self.step)
        if self.type == "int":
            assert self.low is not None and self.high is not None  # parse_space requires both for int and float
            return trial.suggest_int(self.key, int(self.low), int(self.high), log=self.log, step=int(self.step or 1))
        return self.decode(trial.suggest_categorical(self.key, self.labels()))

    def labels(self) -> list[Any]:
        """The choices as Optuna stores them: scalars as they are, a list or mapping (a grid of
        alphas, say) as its JSON text, decoded again by :meth:`decode`.

        >>> grid = Param("model.alphas", "categorical", choices=([0.1, 1.0], [10.0], "auto"))
        >>> grid.labels()
        ['[0.1, 1.0]', '[10.0]', 'auto']
        >>> grid.decode('[10.0]'), grid.decode('auto')
        ([10.0], 'auto')
        """
        return [c if isinstance(c, SCALARS) else json.dumps(c, sort_keys=True) for c in self.choices]

    def decode(self, value: Any) -> Any:
        """The choice an Optuna value stands for (see :meth:`labels`)."""
        if self.type != "categorical":
            return value
        for choice, label in zip(self.choices, self.labels()):
            if label == value and type(label) is type(value):
                return choice
        return value

    def probes(self) -> list[Any]:
        """The values checked before the first trial: every choice, or both bounds and an interior
        value (a third of the way, on the log scale for ``log``, on the step grid for ``step``):
        a float interior value catches an int-typed key swept as a float."""
        if self.type == "categorical":
            return list(self.choices)
        assert self.low is not None and self.high is not None
        low, high = self.low, self.high
        inner = low * (high / low) ** (1 / 3) if self.log else low + (high - low) / 3
        if self.step is not None:
            inner = low + round((inner - low) / self.step) * self.step
        values: list[Any] = [low, high, inner]
        if self.type == "int":
            values = [int(round(v)) for v in values]
        return list(dict.fromkeys(values))


def _where(key: str, where: str) -> str:
    return f"{where}: {key}"


def parse_space(source: str | Path | dict[str, Any]) -> list[Param]:
    """Read and check a search space (a YAML file or a mapping); one-line errors.

    >>> parse_space({"model.hidden": {"type": "int", "low": 8, "high": 4}})
    Traceback (most recent call last):
    ...
    affectlab.core.errors.AffectlabError: search space: model.hidden: low (8) must be below high (4)
    >>> parse_space({"model.C": {"type": "float", "low": 0, "high": 1, "step": 0.3}})
    Traceback (most recent call last):
    ...
    affectlab.core.errors.AffectlabError: search space: model.C: high - low (1) is not a multiple of step (0.3)
    """
    where = "search space"
    if isinstance(source, (str, Path)):
        where = str(source)
        raw = read_yaml(source)
    else:
        raw = source
    if not raw:
        raise AffectlabError(f"{where}: empty search space")
    if not isinstance(raw, dict):
        raise AffectlabError(f"{where}: expected a mapping of dotted config keys to distributions")
    params = []
    for key, spec in raw.items():
        key = str(key)
        at = _where(key, where)
        if not key or any(not part for part in key.split(".")):
            raise AffectlabError(f"{where}: {key!r} is not a dotted config key")
        if not isinstance(spec, dict):
            raise AffectlabError(f"{at}: expected a mapping with type and low/high or choices")
        kind = spec.get("type", "categorical" if "choices" in spec else None)
        if kind not in TYPES:
            raise AffectlabError(f"{at}: type must be one of {', '.join(TYPES)}, not {kind!r}")
        unknown = set(spec) - {"type", "low", "high", "log", "step", "choices"}
        if unknown:
            raise AffectlabError(f"{at}: unknown field(s) {', '.join(sorted(unknown))}")
        if kind == "categorical":
            choices = spec.get("choices")
            if not isinstance(choices, list) or not choices:
                raise AffectlabError(f"{at}: categorical needs a non-empty list of choices")
            odd = next((c for c in choices if not isinstance(c, (*SCALARS, list, dict))), None)
            if odd is not None:  # YAML gives nothing else; kept for a mapping passed from Python
                raise AffectlabError(f"{at}: choice {odd!r} is a {type(odd).__name__}; choices must be numbers, strings, "
                                     "booleans, null, lists or mappings")
            if len({yaml.safe_dump(c) for c in choices}) < len(choices):
                raise AffectlabError(f"{at}: choices repeat a value")
            params.append(Param(key, kind, choices=tuple(choices)))
            continue
        extra = {"choices"} & set(spec)
        if extra:
            raise AffectlabError(f"{at}: {kind} takes low/high, not choices")
        try:
            low, high = float(spec["low"]), float(spec["high"])
        except KeyError as err:
            raise AffectlabError(f"{at}: {kind} needs {err.args[0]}") from None
        except (TypeError, ValueError):
            raise AffectlabError(f"{at}: low and high must be numbers") from None
        if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
            raise AffectlabError(f"{at}: low ({spec['low']}) must be below high ({spec['high']})")
        log = spec.get("log", False)
        if not isinstance(log, bool):
            raise AffectlabError(f"{at}: log must be true or false, not {log!r}")
        if log and low <= 0:
            raise AffectlabError(f"{at}: a log scale needs low > 0")
        step = spec.get("step")
        if step is not None and (isinstance(step, bool) or not isinstance(step, (int, float)) or step <= 0):
            raise AffectlabError(f"{at}: step must be a positive number")
        if kind == "int" and (low != int(low) or high != int(high)):
            raise AffectlabError(f"{at}: int bounds must be integers")
        if kind == "int" and step is not None and step != int(step):
            raise AffectlabError(f"{at}: an int step must be an integer")
        if log and step is not None and (kind == "float" or step != 1):  # Optuna samples no stepped log scale
            raise AffectlabError(f"{at}: step and log cannot be combined")
        if step is not None:
            ratio = (high - low) / step
            if abs(ratio - round(ratio)) > 1e-9 * max(1.0, abs(ratio)):  # Optuna would move high, with a warning per trial
                raise AffectlabError(f"{at}: high - low ({high - low:g}) is not a multiple of step ({step:g})")
        params.append(Param(key, kind, low, high, log, None if step is None else float(step)))
    return params


def overrides_for(values: dict[str, Any]) -> list[str]:
    """``--set`` assignments for sampled values (YAML-dumped so that types survive), sorted by key."""
    return [f"{k}={yaml.safe_dump(v, default_flow_style=True).strip().removesuffix('...').strip()}"
            for k, v in sorted(values.items())]


@dataclass
class SweepResult:
    """The outcome of a sweep."""

    study_name: str
    storage: str
    #: the metric that scores the trials, on ``split`` (``val``: hold-out; ``oof``: cross-validation)
    monitor: str
    direction: str
    best_trial: int
    best_value: float
    best_params: dict[str, Any]
    #: the best trial's run directory (scores only: no model refitted on all data)
    best_run: str
    n_trials: int
    seed_values: list[float] = field(default_factory=list)
    seed_runs: list[str] = field(default_factory=list)
    split: str = "val"
    #: the best config trained once in full (baselines, the model refitted on all data): the run to predict with
    final_run: str = ""
    final_value: float | None = None


def trial_score(run_dir: str | Path, split: str, metric: str) -> float:
    """The ``metric`` of the run's ``split`` (``val`` or ``oof``) from ``summary.json``; never test."""
    if split == "test":
        raise AffectlabError("a sweep never scores a trial on a test part")
    path = Path(run_dir) / "summary.json"
    try:
        summary = RunSummary.read(path)
    except (OSError, AffectlabError):
        raise AffectlabError(f"{path}: missing or unreadable; the trial did not finish") from None
    if metric not in summary.metrics.get(split, {}):
        what = "validation" if split == "val" else "out-of-fold"
        raise AffectlabError(f"{path}: no {what} value of {metric!r}; a sweep needs a validation split "
                             "(split.kind dev, group or temporal, or a given valid split) or a cross-validation protocol")
    value = summary.metric(split, metric)
    return float("nan") if value is None else float(value)


def val_score(run_dir: str | Path) -> tuple[float, str]:
    """(validation value of the run's monitor, monitor) from ``summary.json``; never test."""
    path = Path(run_dir) / "summary.json"
    try:
        monitor = RunSummary.read(path).monitor
    except (OSError, AffectlabError):
        raise AffectlabError(f"{path}: missing or unreadable; the trial did not finish") from None
    return trial_score(run_dir, "val", monitor), monitor


def import_optuna(command: str = "sweeps") -> Any:
    """Optuna, quiet; one line naming the extra when it is missing."""
    try:
        import optuna
    except ImportError:
        raise AffectlabError(f"{command} need Optuna: pip install 'affectlab[sweep]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def open_study(storage: str, study_name: str, direction: str = "maximize", sampler: Any = None,
               command: str = "sweeps") -> Any:
    """Create or load a study at ``storage`` (shared by every process that holds the URL); one-line errors
    (``command`` names what needs Optuna when it is missing)."""
    optuna = import_optuna(command)
    try:
        return optuna.create_study(study_name=study_name, storage=storage, direction=direction, load_if_exists=True,
                                   sampler=sampler)
    except Exception as err:  # bad URL, unreachable database, driver missing
        raise AffectlabError(f"--storage {storage}: cannot open the study ({type(err).__name__}: {str(err).splitlines()[0]})") from None


def _default_train(cfg: RunConfig, data: Path, out: Path, *, scores_only: bool = False) -> Any:
    from .pipeline import train_run

    # the best run and the seed runs are this sweep's own: a continued study replaces them
    return train_run(cfg, data, out, overwrite=out.exists(), scores_only=scores_only)


# --------------------------------------------------------------------------- checks before the first trial

def untunable(key: str, config: dict[str, Any], models: Sequence[str]) -> str | None:
    """Why a sweep may not vary ``key`` of ``config`` (whose model may be any of ``models``); None if it may.

    >>> untunable("training.lr", {"model": {"name": "svm_audio"}}, ["svm_audio"])
    'svm_audio is not a network: it reads no training.* keys'
    >>> untunable("split.k", {}, ["mlp"])
    'the protocol scores the trials: every trial must be scored on the same folds'
    >>> untunable("model.C", {"model": {"name": "svm_audio"}}, ["svm_audio"]) is None
    True
    """
    from .runs.used_keys import ignored_reason

    parts = key.split(".")
    for n in range(len(parts), 0, -1):
        reason = SCORING_KEYS.get(".".join(parts[:n]))
        if reason is not None:
            return reason
    raw_model = config.get("model")
    model: dict[str, Any] = raw_model if isinstance(raw_model, dict) else {}
    reasons = [ignored_reason(key, {**config, "model": {**model, "name": m}}) for m in models]
    return reasons[0] if reasons and all(r is not None for r in reasons) else None


def _points(params: list[Param]) -> list[dict[str, Any]]:
    """The points of the space checked before the first trial: each probe value of each key (the
    others at their first probe), then every combination when the grid has at most :data:`MAX_GRID`
    points, else the corners of first and of last probe values."""
    grids = [p.probes() for p in params]
    first = {p.key: g[0] for p, g in zip(params, grids)}
    points = [{**first, p.key: v} for p, g in zip(params, grids) for v in g]
    if math.prod(len(g) for g in grids) <= MAX_GRID:
        points += [dict(zip((p.key for p in params), combo)) for combo in itertools.product(*grids)]
    else:
        points.append({p.key: g[-1] for p, g in zip(params, grids)})
    unique: dict[str, dict[str, Any]] = {}
    for point in points:
        unique.setdefault(yaml.safe_dump(point, sort_keys=True), point)
    return list(unique.values())


def check_space(config: str | Path, params: list[Param],
                overrides: Sequence[str] = ()) -> tuple[Experiment, list[tuple[str, Experiment]]]:
    """The base experiment and one per checked point of the space (:func:`_points`), each resolved
    (schema, the model's typed Params, protocol, declared targets); one line naming the first key or
    point that fails. Keys that change the scoring or that the model ignores are refused first."""
    raw = read_config(config, overrides)
    base = resolve(copy.deepcopy(raw), source=str(config))
    base_dict = base.config.to_dict()
    names = {p.key: p for p in params}
    models = [str(m) for m in names["model.name"].choices] if "model.name" in names and names["model.name"].type == "categorical" \
        else [base.config.model.name]
    for p in params:
        reason = untunable(p.key, base_dict, models)
        if reason is not None:
            raise AffectlabError(f"search space: {p.key} cannot be swept for model {', '.join(dict.fromkeys(models))}: {reason}")
    checked = []
    for point in _points(params):
        said = " ".join(overrides_for(point))
        try:
            checked.append((said, resolve(apply_overrides(raw, overrides_for(point)), source=str(config))))
        except AffectlabError as err:
            raise AffectlabError(f"{config}: search space point {said}: {str(err).removeprefix(f'{config}: ')}") from None
    return base, checked


def check_data(base: Experiment, points: list[tuple[str, Experiment]], data: str | Path) -> None:
    """Read ``data`` as the trials will and plan the protocol's folds: a hold-out protocol without a
    validation part, target kinds a point's model cannot predict or inputs it lacks are refused now."""
    from .core.notes import Notes
    from .corpus import read_corpus
    from .pipeline import TEXT_FEATURES, available_features
    from .protocols import CrossValidation

    corpus = read_corpus(data, base.data, require_labels=True).with_inferred_classes()
    if not corpus.targets:
        raise AffectlabError(f"{data}: the config declares no targets that the data has")
    rows, _ = base.protocol.set_aside(corpus)
    folds = base.protocol.folds(rows, Notes())
    if not isinstance(base.protocol, CrossValidation) and folds[0].val is None:
        raise AffectlabError(f"{data}: split.kind {base.protocol.kind} finds no validation split in this file, and a sweep "
                             "scores trials on validation (or out-of-fold) predictions only: name one with split.val_split, "
                             "or use a cross-validation protocol (split.kind group_kfold, leave_one_group_out or kfold)")
    have = available_features(corpus, base.features) | TEXT_FEATURES
    for said, exp in points:
        try:
            if not exp.declared_targets:
                check_losses_and_monitor(exp.training, exp.task, corpus.targets)
            exp.build_model(corpus.targets).check_inputs(corpus, also=have)
        except AffectlabError as err:
            raise AffectlabError(f"{data}: search space point {said}: {err}") from None


# --------------------------------------------------------------------------- the sweep

def run_sweep(config: str | Path, space: str | Path | dict, data: str | Path, out: str | Path, *, trials: int = 20,
              storage: str | None = None, seeds: int = 0, study_name: str | None = None,
              overrides: Sequence[str] = (), train_fn: TrainFn | None = None,
              say: Callable[[str], None] = lambda _line: None) -> SweepResult:
    """Run (or continue) an Optuna study; every trial a scores-only run directory under ``out``,
    then the best config in full (``out/best``) and on ``seeds`` fresh seeds.

    ``train_fn(cfg, data, run_dir, scores_only=...)`` trains one run and writes its run directory
    (default: :func:`affectlab.pipeline.train_run`); tests inject a fake (then the data is not read
    before the first trial).
    """
    from .evaluation.scoring import higher_is_better, primary_metric
    from .protocols import CrossValidation

    optuna = import_optuna()
    params = parse_space(space)
    if trials < 1:
        raise AffectlabError("--trials must be at least 1")
    data, out = Path(data), Path(out)
    if not data.exists():
        raise AffectlabError(f"{data}: no such file or folder")
    if out.exists() and not out.is_dir():
        raise AffectlabError(f"{out}: --out is a file; give a folder for the trial run directories")
    # everything is checked before the study or any folder is made (nothing half-written)
    base, points = check_space(config, params, overrides)
    if train_fn is None:
        check_data(base, points, data)
    cv = isinstance(base.protocol, CrossValidation)
    split = "oof" if cv else "val"
    metric = primary_metric(base.task.name) if cv else base.monitor
    try:
        direction = "maximize" if higher_is_better(metric) else "minimize"
    except KeyError:
        raise AffectlabError(f"{config}: training.monitor {metric!r} is not a known metric") from None
    train = train_fn or _default_train
    storage = storage or f"sqlite:///{(out / 'optuna.db').resolve()}"
    study_name = study_name or Path(config).stem
    scored_on = f"{split} {metric}"
    if storage.startswith("sqlite:///"):
        out.mkdir(parents=True, exist_ok=True)  # the default database lives in out
    study = open_study(storage, study_name, direction, optuna.samplers.TPESampler(seed=base.seed))
    if study.direction.name.lower() != direction:
        raise AffectlabError(f"study {study_name!r} in {storage} optimises the other direction; use another --study")
    earlier = study.user_attrs.get("scored_on")
    if earlier is not None and earlier != scored_on:
        raise AffectlabError(f"study {study_name!r} in {storage} scored its trials on {earlier}; this config scores "
                             f"them on {scored_on}: use another --study")
    study.set_user_attr("scored_on", scored_on)
    out.mkdir(parents=True, exist_ok=True)

    def config_for(values: dict[str, Any], seed: int | None = None, full: bool = False) -> RunConfig:
        # trials and seed runs compare scores only: no baselines (they change no trial's score)
        fixed = [*overrides, *overrides_for(values)] + ([] if full else ["baselines=[]"])
        return load_config(config, fixed, seed=seed)

    def objective(trial: Any) -> float:
        values = {p.key: p.suggest(trial) for p in params}
        run_dir = out / f"trial-{trial.number:04d}"
        trial.set_user_attr("run_dir", str(run_dir))
        trial.set_user_attr("monitor", metric)
        trial.set_user_attr("split", split)
        train(config_for(values), data, run_dir, scores_only=True)
        value = trial_score(run_dir, split, metric)
        say(f"trial {trial.number}: {split} {metric} = {value:.4f}  {' '.join(overrides_for(values))}")
        return value

    # a failing trial raises its one-line error; Optuna's own warning would print its traceback first
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        study.optimize(objective, n_trials=trials, catch=())
    finally:
        optuna.logging.set_verbosity(verbosity)
    done = [t for t in study.trials if t.state.name == "COMPLETE" and t.value is not None and math.isfinite(t.value)]
    if not done:
        raise AffectlabError(f"no trial of study {study_name!r} finished with a finite {split} score")
    best = study.best_trial
    best_values = {p.key: p.decode(best.params[p.key]) for p in params if p.key in best.params}
    result = SweepResult(study_name, storage, metric, direction, best.number, float(best.value), best_values,
                         best.user_attrs.get("run_dir", ""), len(study.trials), split=split)
    final_dir = out / "best"
    train(config_for(best_values, full=True), data, final_dir, scores_only=False)
    result.final_run, result.final_value = str(final_dir), trial_score(final_dir, split, metric)
    say(f"best config, trained in full (refitted on all data): {split} {metric} = {result.final_value:.4f} in {final_dir}")
    for i in range(seeds):
        s = i + 1
        run_dir = out / f"best-seed-{s}"
        train(config_for(best_values, seed=s), data, run_dir, scores_only=True)
        value = trial_score(run_dir, split, metric)
        result.seed_values.append(value)
        result.seed_runs.append(str(run_dir))
        say(f"best config, seed {s}: {split} {metric} = {value:.4f}")
    write_json(out / "sweep.json", result.__dict__)
    return result


__all__ = ["Param", "SweepResult", "check_data", "check_space", "import_optuna", "open_study", "overrides_for",
           "parse_space", "run_sweep", "trial_score", "untunable", "val_score"]
