"""Hyper-parameter sweeps with Optuna over dotted config keys, scored on validation only.

The search space is a YAML mapping from a dotted config key (as ``--set`` takes it) to its
distribution::

    training.lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
    model.hidden: {type: int, low: 64, high: 256, step: 64}
    model.dropout: {type: float, low: 0.1, high: 0.5}
    model.cell: {type: categorical, choices: [lstm, gru]}

Every trial trains one run directory (``OUT/trial-0000`` ...) and is scored by the run's own
``summary.json`` ``metrics.val[monitor]``: test data never influence the choice. The study
lives in ``sqlite:///OUT/optuna.db`` unless ``--storage`` names another database (a shared
PostgreSQL URL lets several machines work on one study). The best configuration is then
re-run on K fresh seeds (``OUT/best-seed-N``) so that its score comes with a spread.

>>> space = parse_space({"training.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
...                      "model.cell": {"type": "categorical", "choices": ["lstm", "gru"]}})
>>> [(p.key, p.type) for p in space]
[('training.lr', 'float'), ('model.cell', 'categorical')]
>>> overrides_for({"model.cell": "gru", "training.lr": 0.001})
['model.cell=gru', 'training.lr=0.001']
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import yaml

from .config import RunConfig
from .experiment import load_config
from .core.errors import AffectlabError
from .core.io import read_yaml, write_json
from .runs.summary import RunSummary

TYPES = ("float", "int", "categorical")
TrainFn = Callable[[RunConfig, Path, Path], Any]


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
        return trial.suggest_categorical(self.key, list(self.choices))


def parse_space(source: str | Path | dict[str, Any]) -> list[Param]:
    """Read and check a search space (a YAML file or a mapping); one-line errors.

    >>> parse_space({"model.hidden": {"type": "int", "low": 8, "high": 4}})
    Traceback (most recent call last):
    ...
    affectlab.core.errors.AffectlabError: search space: model.hidden: low (8) must be below high (4)
    """
    where = "search space"
    if isinstance(source, (str, Path)):
        where = str(source)
        raw = read_yaml(source)
    else:
        raw = source
    if not raw:
        raise AffectlabError(f"{where}: empty search space")
    params = []
    for key, spec in raw.items():
        key = str(key)
        if not key or any(not part for part in key.split(".")):
            raise AffectlabError(f"{where}: {key!r} is not a dotted config key")
        if not isinstance(spec, dict):
            raise AffectlabError(f"{where}: {key}: expected a mapping with type and low/high or choices")
        kind = spec.get("type", "categorical" if "choices" in spec else None)
        if kind not in TYPES:
            raise AffectlabError(f"{where}: {key}: type must be one of {', '.join(TYPES)}, not {kind!r}")
        unknown = set(spec) - {"type", "low", "high", "log", "step", "choices"}
        if unknown:
            raise AffectlabError(f"{where}: {key}: unknown field(s) {', '.join(sorted(unknown))}")
        if kind == "categorical":
            choices = spec.get("choices")
            if not isinstance(choices, list) or not choices:
                raise AffectlabError(f"{where}: {key}: categorical needs a non-empty list of choices")
            params.append(Param(key, kind, choices=tuple(choices)))
            continue
        try:
            low, high = float(spec["low"]), float(spec["high"])
        except KeyError as err:
            raise AffectlabError(f"{where}: {key}: {kind} needs {err.args[0]}") from None
        except (TypeError, ValueError):
            raise AffectlabError(f"{where}: {key}: low and high must be numbers") from None
        if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
            raise AffectlabError(f"{where}: {key}: low ({spec['low']}) must be below high ({spec['high']})")
        log = bool(spec.get("log", False))
        if log and low <= 0:
            raise AffectlabError(f"{where}: {key}: a log scale needs low > 0")
        step = spec.get("step")
        if step is not None and (not isinstance(step, (int, float)) or step <= 0):
            raise AffectlabError(f"{where}: {key}: step must be a positive number")
        if log and step is not None and kind == "float":
            raise AffectlabError(f"{where}: {key}: step and log cannot be combined for floats")
        if kind == "int" and (low != int(low) or high != int(high)):
            raise AffectlabError(f"{where}: {key}: int bounds must be integers")
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
    monitor: str
    direction: str
    best_trial: int
    best_value: float
    best_params: dict[str, Any]
    best_run: str
    n_trials: int
    seed_values: list[float] = field(default_factory=list)
    seed_runs: list[str] = field(default_factory=list)


def val_score(run_dir: str | Path) -> tuple[float, str]:
    """(validation value of the run's monitor, monitor) from ``summary.json``; never test."""
    path = Path(run_dir) / "summary.json"
    try:
        summary = RunSummary.read(path)
    except (OSError, AffectlabError):
        raise AffectlabError(f"{path}: missing or unreadable; the trial did not finish") from None
    monitor = summary.monitor
    if monitor not in summary.metrics.get("val", {}):
        raise AffectlabError(f"{path}: no validation value of {monitor!r}; a sweep needs a validation split "
                             "(split.kind dev, group or temporal, or a given valid split)")
    value = summary.metric("val", monitor)
    return (float("nan") if value is None else float(value)), monitor


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


def _default_train(cfg: RunConfig, data: Path, out: Path) -> Any:
    from .pipeline import train_run

    return train_run(cfg, data, out)


def run_sweep(config: str | Path, space: str | Path | dict, data: str | Path, out: str | Path, *, trials: int = 20,
              storage: str | None = None, seeds: int = 0, study_name: str | None = None,
              overrides: Sequence[str] = (), train_fn: TrainFn | None = None,
              say: Callable[[str], None] = lambda _line: None) -> SweepResult:
    """Run (or continue) an Optuna study; every trial a run directory under ``out``.

    ``train_fn(cfg, data, run_dir)`` trains one run and writes its run directory (default:
    :func:`affectlab.pipeline.train_run`); tests inject a fake.
    """
    optuna = import_optuna()
    params = parse_space(space)
    if trials < 1:
        raise AffectlabError("--trials must be at least 1")
    data, out = Path(data), Path(out)
    if not data.exists():
        raise AffectlabError(f"{data}: no such file or folder")
    if out.exists() and not out.is_dir():
        raise AffectlabError(f"{out}: --out is a file; give a folder for the trial run directories")
    base = load_config(config, list(overrides))
    # fail before any training when a key is not a config key or a bound is invalid for it
    for p in params:  # every choice, and both bounds: a value trial 7 would draw fails now, not after 6 trials
        probes = list(p.choices) if p.type == "categorical" else [int(b) if p.type == "int" and b is not None else b for b in (p.low, p.high)]
        for probe in probes:
            load_config(config, [*overrides, *overrides_for({p.key: probe})])
    train = train_fn or _default_train
    out.mkdir(parents=True, exist_ok=True)
    storage = storage or f"sqlite:///{(out / 'optuna.db').resolve()}"
    study_name = study_name or Path(config).stem

    from .evaluation.scoring import higher_is_better
    from .tasks import get_task

    monitor_guess = get_task(base.task).monitor(base.training.monitor)
    try:
        direction = "maximize" if higher_is_better(monitor_guess) else "minimize"
    except KeyError:
        raise AffectlabError(f"{config}: training.monitor {monitor_guess!r} is not a known metric") from None
    study = open_study(storage, study_name, direction, optuna.samplers.TPESampler(seed=base.seed))
    if study.direction.name.lower() != direction:
        raise AffectlabError(f"study {study_name!r} in {storage} optimises the other direction; use another --study")

    def objective(trial: Any) -> float:
        values = {p.key: p.suggest(trial) for p in params}
        cfg = load_config(config, [*overrides, *overrides_for(values)])
        run_dir = out / f"trial-{trial.number:04d}"
        trial.set_user_attr("run_dir", str(run_dir))
        train(cfg, data, run_dir)
        value, monitor = val_score(run_dir)
        trial.set_user_attr("monitor", monitor)
        say(f"trial {trial.number}: val {monitor} = {value:.4f}  {' '.join(overrides_for(values))}")
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
        raise AffectlabError(f"no trial of study {study_name!r} finished with a finite validation score")
    best = study.best_trial
    result = SweepResult(study_name, storage, best.user_attrs.get("monitor", monitor_guess), direction, best.number,
                         float(best.value), dict(best.params), best.user_attrs.get("run_dir", ""), len(study.trials))
    for i in range(seeds):
        s = i + 1
        cfg = load_config(config, [*overrides, *overrides_for(best.params)], seed=s)
        run_dir = out / f"best-seed-{s}"
        train(cfg, data, run_dir)
        value, _ = val_score(run_dir)
        result.seed_values.append(value)
        result.seed_runs.append(str(run_dir))
        say(f"best config, seed {s}: val {result.monitor} = {value:.4f}")
    write_json(out / "sweep.json", result.__dict__)
    return result


__all__ = ["Param", "SweepResult", "import_optuna", "open_study", "overrides_for", "parse_space", "run_sweep", "val_score"]
