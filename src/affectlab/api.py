"""The Python API: train, load, predict and evaluate in a few lines (docs/python-api.md).

>>> import affectlab, pandas as pd, tempfile
>>> frame = pd.DataFrame({"id": [str(i) for i in range(40)], "x": [i % 7 for i in range(40)],
...                       "y": [0.3 * (i % 7) - 1 for i in range(40)]})
>>> config = {"task": "regression", "features": {"text": {"kind": "none"}},
...           "data": {"format": "table", "columns": {"id": "id"}, "targets": [{"name": "y"}],
...                    "options": {"features": ["x"]}},
...           "split": {"kind": "kfold", "k": 4}, "model": {"name": "sklearn.linear_model:LinearRegression"}}
>>> run = affectlab.train(config, frame, out=tempfile.mkdtemp())  # out=None: a fresh folder in the cache
>>> round(run.metrics["oof"]["ccc"], 3)
1.0
>>> affectlab.load(run.path, trust_code=True).predict(frame.head(2))["pred_y"].round(2).tolist()
[-1.0, -0.7]
"""

from __future__ import annotations

import copy
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence, Union

import pandas as pd

from .config import RunConfig, apply_overrides
from .experiment import Experiment, resolve, validate_config
from .core.errors import AffectlabError
from .core.io import read_yaml

if TYPE_CHECKING:  # heavy modules (torch) are imported when a function needs them
    from .evaluation.bootstrap import Interval
    from .evaluation.diagnostics import Finding
    from .evaluation.evaluate import EvalResult
    from .runs.summary import RunSummary
    from .runs.vocabulary import Split

ConfigLike = Union[str, Path, Mapping[str, Any], RunConfig]
DataLike = Union[str, Path, pd.DataFrame]
Overrides = Union[Sequence[str], Mapping[str, Any]]


# --------------------------------------------------------------------------- configs

def make_config(config: ConfigLike, overrides: Overrides = (), seed: int | None = None) -> RunConfig:
    """A validated :class:`RunConfig` from a YAML path, a mapping or a RunConfig, with overrides.

    ``overrides`` are ``["model.alpha=3", ...]`` (as ``--set`` takes them) or a mapping of
    dotted keys to values, ``{"model.alpha": 3}``.

    >>> make_config({"model": {"name": "global_mean"}}, {"training.patience": 2}, seed=7).training.patience
    2
    """
    return validate_config(*_raw_config(config, overrides, seed))


def make_experiment(config: ConfigLike, overrides: Overrides = (), seed: int | None = None) -> Experiment:
    """The resolved :class:`~affectlab.experiment.Experiment` of :func:`make_config`'s config: every check once."""
    raw, source = _raw_config(config, overrides, seed)
    return resolve(raw, source=source)


def _raw_config(config: ConfigLike, overrides: Overrides, seed: int | None) -> tuple[dict[str, Any], str]:
    """The plain config with ``overrides`` and ``seed`` applied, and where it came from (for messages)."""
    if isinstance(config, RunConfig):
        raw, source = config.to_dict(), "config"
    elif isinstance(config, Mapping):
        raw, source = copy.deepcopy(dict(config)), "config"
    elif isinstance(config, (str, Path)):
        raw, source = read_yaml(config), str(config)
    else:
        raise AffectlabError(f"config must be a YAML path, a dict or a RunConfig, not {type(config).__name__}")
    if isinstance(overrides, Mapping):
        raw = _set_dotted(raw, overrides)
    elif isinstance(overrides, str):
        raw = apply_overrides(raw, [overrides])
    else:
        raw = apply_overrides(raw, list(overrides))
    if seed is not None:
        raw["seed"] = seed
    return raw, source


def _set_dotted(raw: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1}`` applied to a nested copy of ``raw`` (values taken as they are, not parsed)."""
    out = copy.deepcopy(raw)
    for key, value in values.items():
        parts = [p for p in str(key).split(".") if p]
        if not parts:
            raise AffectlabError(f"override {key!r}: empty key")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise AffectlabError(f"override {key!r}: {part!r} is not a section")
        node[parts[-1]] = value
    return out


def _check_data(data: Any) -> DataLike:
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, (str, Path)):
        return Path(data)
    raise AffectlabError(f"data must be a file path or a pandas DataFrame, not {type(data).__name__}")


def read_table(path: str | Path) -> pd.DataFrame:
    r"""A CSV or Parquet file as a DataFrame, read exactly as ``train``, ``predict`` and ``evaluate``
    read a file: every CSV cell a string as written. ``pd.read_csv`` turns the texts ``None``,
    ``NA``, ``null`` or ``nan`` into missing values (and ``007`` into 7); this reader does not
    (``keep_default_na=False``), so a frame from it trains as the file would.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "d.csv"
    >>> _ = p.write_text("id,text,v\n007,None,0.5\n008,NA,1\n")
    >>> read_table(p).values.tolist()
    [['007', 'None', '0.5'], ['008', 'NA', '1']]
    >>> pd.read_csv(p)["text"].isna().tolist()  # what pandas alone makes of the same file
    [True, True]
    """
    from .core.io import read_table as read_file

    if not isinstance(path, (str, Path)):
        raise AffectlabError(f"read_table takes a file path, not {type(path).__name__}")
    return read_file(Path(path))


def fresh_run_dir() -> Path:
    """A new empty folder for a run: under ``$AFFECTLAB_CACHE/runs``, else the system temp folder."""
    from .core.paths import default_cache_dir

    prefix = time.strftime("run-%Y%m%d-%H%M%S-")
    try:
        root = default_cache_dir() / "runs"
        root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=prefix, dir=root))
    except OSError:  # a read-only cache: the system temp folder still works
        return Path(tempfile.mkdtemp(prefix=prefix))


# --------------------------------------------------------------------------- runs

@dataclass
class Run:
    """A finished run directory: its config, typed summary, predictions, and its model."""

    path: Path
    #: one-line notes from training (warnings and facts the CLI prints)
    notes: list[str] = field(default_factory=list)
    #: import a ``module:Class`` outside affectlab that the run names when predicting (its code runs);
    #: a run this process trained is trusted, one opened by :func:`load` only when asked
    trust_code: bool = False

    def __post_init__(self) -> None:
        from .runs.rundir import require_run_dir

        self.path = require_run_dir(self.path)

    @cached_property
    def config(self) -> RunConfig:
        """The validated config; validating imports the model class, so a run naming a module
        outside affectlab needs ``trust_code`` (as :meth:`predict` does)."""
        from .runs.trust import require_trusted_run
        from .runs.rundir import RunDir

        require_trusted_run(self.path, self.trust_code, flag="trust_code=True", action="loading its config")
        return RunDir(self.path).config()

    @cached_property
    def summary(self) -> "RunSummary":
        from .runs.rundir import RunDir

        return RunDir(self.path).summary()

    @property
    def metrics(self) -> dict[str, dict[str, float | None]]:
        """``{split: {key: value}}`` (``oof`` for cross-validation runs)."""
        return self.summary.metrics

    @property
    def headline_split(self) -> "Split":
        """The split the run is judged on (:func:`affectlab.runs.headline_split`: test, else val, else oof)."""
        from .runs.vocabulary import headline_split

        return headline_split(self.summary)

    def scores(self) -> dict[str, float | None]:
        """The metrics the task shows for the run's targets (:meth:`affectlab.tasks.Task.shown_metrics`:
        CCC/r/MAE for regression, UAR/accuracy/F1 for classes), on the headline split, headline first."""
        from .tasks import TASKS, get_task

        summary = self.summary
        task = get_task(summary.task if summary.task in TASKS else "regression")
        split = self.headline_split.value
        return {k: summary.metric(split, k) for k in task.shown_metrics(summary.target_specs()) if k in summary.metrics[split]}

    def predict(self, data: DataLike, *, split: str | None = None, out: str | Path | None = None,
                trust_code: bool | None = None) -> pd.DataFrame:
        """Predictions for every row of ``data`` (ids and ``pred_<target>``); also written to ``out`` if given.

        A run that names a model outside affectlab (``module:Class``) imports that module, whose
        code runs: refused unless ``trust_code`` (default: the run's own, see :func:`load`) or
        ``AFFECTLAB_TRUST_CODE=1``.
        """
        from .runs.trust import require_trusted_run
        from .pipeline import Notes, predict_run

        if out is not None:  # a read-only or unwritable place is said before any work
            from .core.io import check_writable

            check_writable(out)
        require_trusted_run(self.path, self.trust_code if trust_code is None else trust_code, flag="trust_code=True")
        notes = Notes()
        _, frame = predict_run(self.path, _check_data(data), out, split=split, notes=notes)
        return frame

    def predictions(self) -> pd.DataFrame:
        """``predictions.csv``: every sample the run scored, gold and predicted, with its split."""
        from .runs.rundir import RunDir

        frame = RunDir(self.path).predictions()
        if frame is None:
            raise AffectlabError(f"{self.path}: no predictions.csv")
        return frame

    def history(self) -> pd.DataFrame | None:
        """``metrics.csv``: one row per epoch (or per fold), None when absent."""
        from .runs.rundir import RunDir

        return RunDir(self.path).history()

    def evaluate(self, split: str | None = None, *, n_resamples: int = 1000, seed: int = 0) -> "Evaluation":
        """The run's own predictions evaluated (``affectlab evaluate --run``)."""
        from .runs.evaluate import evaluate_run

        return Evaluation(evaluate_run(self.path, split, n_resamples=n_resamples, seed=seed))

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"


def train(config: ConfigLike, data: "DataLike | Sequence[DataLike]", out: str | Path | None = None, *,
          overrides: Overrides = (), seed: int | None = None, overwrite: bool = False, resume: bool = False,
          on_epoch: Callable[[int, dict], None] | None = None) -> Run:
    """Train ``config`` on ``data`` (a file or a DataFrame; a list of them: one data source each, as
    repeated ``--data``, e.g. for ``split.kind: cross_corpus``) and return the finished :class:`Run`.

    ``out``: the run directory (None: a fresh folder, see :func:`fresh_run_dir`); an existing
    non-empty one is refused unless ``overwrite`` (replaced once the new run is trained) or ``resume``. ``overrides``
    and ``seed`` are applied to the config as ``--set`` and ``--seed`` would.
    """
    from .pipeline import Notes, train_run
    from .runs.rundir import check_run_out

    exp = make_experiment(config, overrides, seed)
    checked = [_check_data(d) for d in data] if isinstance(data, (list, tuple)) else _check_data(data)
    target = fresh_run_dir() if out is None else Path(out)
    check_run_out(target, overwrite=overwrite, resume=resume)
    notes = Notes()
    try:
        path = train_run(exp, checked, target, resume=resume, overwrite=overwrite, on_epoch=on_epoch, notes=notes)
    except BaseException:
        if out is None:  # the folder this call made for itself: leave nothing behind
            shutil.rmtree(target, ignore_errors=True)
        raise
    if path is None:  # a non-zero DDP rank: rank 0 holds the run
        raise AffectlabError("this process is a secondary DDP rank; rank 0 wrote the run directory")
    return Run(Path(path), list(notes.lines), trust_code=True)  # its models are the ones this call imported


def load(run_dir: str | Path, *, trust_code: bool = False) -> Run:
    """An existing run directory (one-line error when it is not one).

    ``trust_code``: :meth:`Run.predict` may import a ``module:Class`` outside affectlab that the
    run names (its module-level code runs): only for run directories you trust.
    """
    return Run(Path(run_dir), trust_code=trust_code)


# --------------------------------------------------------------------------- evaluation

@dataclass
class Evaluation:
    """Metrics with 95% bootstrap intervals and diagnostic findings (wraps ``EvalResult``)."""

    result: "EvalResult"

    @property
    def metrics(self) -> dict[str, "Interval"]:
        """``{key: Interval}``; ``.value``, ``.low``, ``.high`` of each."""
        return self.result.metrics

    @property
    def findings(self) -> list["Finding"]:
        """Diagnostics (``.code``, ``.severity``, ``.message``), most serious first as found."""
        return self.result.findings

    @property
    def headline(self) -> str:
        """The task's headline key (``score``, or e.g. ``mae``)."""
        return self.result.headline

    @property
    def shown_metrics(self) -> list[str]:
        """The keys a table of this evaluation shows, headline first (the task's choice for the targets)."""
        return self.result.shown_metrics()

    def to_frame(self) -> pd.DataFrame:
        """One row per metric: ``metric, value, ci_low, ci_high``."""
        rows = [{"metric": key, **iv.as_dict()} for key, iv in self.result.metrics.items()]
        return pd.DataFrame(rows, columns=["metric", "value", "ci_low", "ci_high"])

    def to_dict(self) -> dict[str, Any]:
        """What ``affectlab evaluate --json`` prints."""
        return self.result.to_dict()

    def __repr__(self) -> str:
        head = self.result.metrics.get(self.headline)
        shown = f"{self.headline}={head.value:.3f}" if head is not None else f"{len(self.metrics)} metrics"
        return f"Evaluation({self.result.task}, n={self.result.n}, {shown}, {len(self.findings)} findings)"


def evaluate(pred: DataLike, gold: DataLike, task: str | None = None, *, train: DataLike | None = None,
             split: str | None = None, n_resamples: int = 1000, seed: int = 0) -> Evaluation:
    """Evaluate predictions against gold labels (``affectlab evaluate``): files or DataFrames.

    ``task`` as the CLI's ``--task`` (guessed from the prediction columns when None); ``train``
    optionally gives the training labels for baselines and leakage checks; ``split`` the rows of a
    gold table with a ``split`` column to score (as ``--split``).
    """
    from .evaluation.evaluate import evaluate_files

    with tempfile.TemporaryDirectory(prefix="affectlab-eval-") as tmp:
        paths = {}
        for name, value in (("predictions", pred), ("gold", gold), ("train", train)):
            if value is None:
                continue
            value = _check_data(value)
            if isinstance(value, pd.DataFrame):
                # the evaluation reads files; a frame is written as the CSV it stands for
                path = Path(tmp) / f"{name}.csv"
                value.to_csv(path, index=False)
                value = path
            paths[name] = value
        try:
            result = evaluate_files(paths["predictions"], paths["gold"], paths.get("train"), task,
                                    n_resamples=n_resamples, seed=seed, split=split)
        except AffectlabError as err:  # name a frame as the user knows it, not by its temporary path
            raise AffectlabError(str(err).replace(f"{tmp}/", "")) from None
    if isinstance(pred, pd.DataFrame):
        result.source = "predictions (DataFrame)"
    return Evaluation(result)


__all__ = ["Run", "Evaluation", "train", "load", "evaluate", "make_config", "fresh_run_dir", "read_table"]
