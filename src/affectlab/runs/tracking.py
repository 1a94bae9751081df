"""MLflow tracking: live while a run trains, or after the fact for a finished run directory.

Store: an explicit URI (``--mlflow-uri``), else ``$MLFLOW_TRACKING_URI``, else one SQLite store
for all runs, ``sqlite:///<cache>/mlflow/mlflow.db`` (``$AFFECTLAB_CACHE``, default
``~/.cache/affectlab``), with artefacts beside it in ``<cache>/mlflow/artifacts``. Nothing is
sent anywhere unless a URI says so. Experiment: ``tracking.experiment`` of the config
(``--experiment``), default ``affectlab``.

Live (:func:`live_run`, used by ``affectlab train --mlflow``): an MLflow run is opened before
training, with the flattened config as parameters; every network fit gets Lightning's own
:class:`~lightning.pytorch.loggers.MLFlowLogger` attached to it, so ``train_loss``,
``train_<metric>`` and ``val_<metric>`` appear after every epoch while the job runs (MLflow
step = epoch, 1-based, as in ``metrics.csv``). The model-selection fit logs into the run
itself; each cross-validation fold's fit into a child run ``fold-<i>`` and the refit on all data
into a child run ``refit`` (tag ``mlflow.parentRunId``), so their curves never mix step numbers.
When training ends, :meth:`LiveRun.finish` adds the final metrics with their 95% bootstrap
intervals and the run directory's files as artefacts; a failed or interrupted training marks the
run ``FAILED`` / ``KILLED``. Closed-form models have no epochs: their runs get parameters and
final metrics only.

After the fact (:func:`log_run`, ``runs/tracking.py`` API): the same parameters, final metrics
and artefacts, plus ``metrics.csv`` as step-wise ``epoch/<column>`` metrics.

Final metric names: ``<split>/<key>`` (``val/ccc``, ``test/score``; cross-validation
``oof/<key>``, ``pooled/<key>``, ``fold/<i>/<split>/<key>``), ``ci/<split>/<key>/low|high``,
``baseline/<name>/<split>/<key>``, ``seconds/<phase>``, ``n_params``, ``best_epoch``.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import math
import os
from pathlib import Path
from typing import Any, Iterator

from ..core.errors import AffectlabError

#: MLflow limits a parameter value to this many characters
_PARAM_MAX = 6000
ARTIFACTS = ("config.yaml", "summary.json", "metrics.csv", "predictions.csv", "baselines.csv", "report.html",
             "checkpoint.ckpt")
#: the report's figure files (``figures/``), logged as a folder when present
FIGURE_DIR = "figures"
DEFAULT_EXPERIMENT = "affectlab"


def default_store() -> Path:
    """The folder of the default store: ``<cache>/mlflow``."""
    from ..core.paths import default_cache_dir

    return default_cache_dir() / "mlflow"


def default_tracking_uri(run_dir: str | Path | None = None) -> str:
    """``$MLFLOW_TRACKING_URI`` when set, else the one default SQLite store (``run_dir`` is unused:
    every run goes to the same store, wherever its folder is)."""
    env = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    return env or f"sqlite:///{default_store() / 'mlflow.db'}"


def resolve_uri(uri: str | None) -> str:
    """An explicit URI, else :func:`default_tracking_uri`; a local SQLite store's folder is created."""
    uri = (uri or "").strip() or default_tracking_uri()
    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///"):]).expanduser().parent.mkdir(parents=True, exist_ok=True)
    return uri


def _artifact_location(uri: str) -> str | None:
    """Artefacts of a new experiment in a local SQLite store: beside the database, not in the
    current folder (MLflow's default ``./mlruns``)."""
    if uri.startswith("sqlite:///"):
        return (Path(uri[len("sqlite:///"):]).expanduser().resolve().parent / "artifacts").as_uri()
    return None


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _client(uri: str, experiment: str) -> tuple[Any, str]:
    """An MLflow client and the id of ``experiment`` (created when missing); one-line errors."""
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise AffectlabError("MLflow logging needs mlflow: pip install 'affectlab[track]'") from None
    for name in ("mlflow.store.db.utils", "alembic"):  # "creating tables..." is no news: stderr stays one line per error
        logging.getLogger(name).setLevel(logging.WARNING)
    if not experiment or not experiment.strip():
        raise AffectlabError("MLflow experiment name is empty")
    try:
        client = MlflowClient(tracking_uri=uri)
        with _first_contact():
            exp = client.get_experiment_by_name(experiment)
        exp_id = exp.experiment_id if exp is not None else client.create_experiment(
            experiment, artifact_location=_artifact_location(uri))
    except Exception as err:  # bad URI, unreachable server
        raise AffectlabError(f"MLflow tracking URI {uri}: {type(err).__name__}: {str(err).splitlines()[0]}") from None
    return client, exp_id


@contextlib.contextmanager
def _first_contact() -> Iterator[None]:
    """No retries and a 10 s timeout for the first request to a server (unless the user set them):
    an unreachable URI is said in seconds, before training, not after minutes of back-off."""
    wanted = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
    added = [k for k in wanted if k not in os.environ]
    os.environ.update({k: wanted[k] for k in added})
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


def _log_params(client: Any, rid: str, config: dict[str, Any]) -> None:
    from mlflow.entities import Param

    from .compare import flatten

    params = [Param(k, (json.dumps(v) if not isinstance(v, str) else v)[:_PARAM_MAX]) for k, v in flatten(config).items()]
    for i in range(0, len(params), 100):
        client.log_batch(rid, params=params[i:i + 100])


def final_metrics(path: Path, *, history: bool, ci_resamples: int = 1000) -> list[Any]:
    """MLflow metrics of a finished run directory (see the module docstring for the names)."""
    import pandas as pd
    from mlflow.entities import Metric

    from .rundir import RunDir

    summary = RunDir.open(path).summary()
    metrics: list[Metric] = []
    ts = 0

    def add(prefix: str, values: dict[str, Any], step: int = 0) -> None:
        metrics.extend(Metric(f"{prefix}{k}", float(v), ts, step) for k, v in values.items() if _finite(v))

    hist_path = path / "metrics.csv"
    if history and hist_path.is_file() and hist_path.stat().st_size:
        hist = pd.read_csv(hist_path)
        for _, row in hist.iterrows():
            at = f"fold/{int(row['fold'])}/" if "fold" in row and _finite(row["fold"]) else ""
            add(f"epoch/{at}", {k: v for k, v in row.items() if k not in ("epoch", "fold")}, int(row.get("epoch", 0)))
    for split, values in summary.metrics.items():
        add(f"{split}/", values)
    for name, per_split in summary.baselines.items():
        for split, values in per_split.items():
            add(f"baseline/{name}/{split}/", values)
    add("pooled/", summary.pooled or {})
    for fold in summary.folds or []:
        for split, values in fold.metrics.items():
            add(f"fold/{fold.index}/{split}/", values)
    add("seconds/", summary.timings.model_dump())
    add("", {k: getattr(summary, k) for k in ("n_params", "best_epoch", "epochs_run", "peak_memory_mb")})
    for split, ci in intervals(path, summary, ci_resamples).items():
        for key, (low, high) in ci.items():
            add(f"ci/{split}/{key}/", {"low": low, "high": high})
    return metrics


def intervals(path: Path, summary: Any, n_resamples: int) -> dict[str, dict[str, tuple[float, float]]]:
    """95% bootstrap intervals ``{split: {key: (low, high)}}``: the summary's own (cross-validation),
    else those of ``affectlab evaluate --run`` on the run's test (else validation) predictions."""
    if summary.cis:
        return {split: {k: (v.low, v.high) for k, v in keys.items() if math.isfinite(v.low)}
                for split, keys in summary.cis.items()}
    from .evaluate import evaluate_run

    try:
        result = evaluate_run(path, n_resamples=n_resamples)
    except AffectlabError:  # no gold in the predictions (nothing to score): no intervals
        return {}
    split = result.split or "eval"  # the split evaluate_run judged: headline_split's answer
    return {split: {k: (v.low, v.high) for k, v in result.metrics.items() if _finite(v.low) and _finite(v.high)}}


def _log_artifacts(client: Any, rid: str, path: Path) -> None:
    for name in ARTIFACTS:
        if (path / name).is_file():
            client.log_artifact(rid, str(path / name))
    if (path / FIGURE_DIR).is_dir():
        client.log_artifacts(rid, str(path / FIGURE_DIR), FIGURE_DIR)


def _log_metrics(client: Any, rid: str, metrics: list[Any]) -> None:
    for i in range(0, len(metrics), 1000):
        client.log_batch(rid, metrics=metrics[i:i + 1000])


def log_run(run_dir: str | Path, tracking_uri: str | None = None, experiment: str = DEFAULT_EXPERIMENT,
            run_name: str | None = None, *, ci_resamples: int = 1000) -> str:
    """Log a finished run directory to MLflow; returns the MLflow run id."""
    from .rundir import RunDir

    opened = RunDir.open(run_dir)
    path = opened.path
    uri = resolve_uri(tracking_uri)
    config = opened.config_dict()
    summary = opened.summary()
    client, exp_id = _client(uri, experiment)
    tags = {"mlflow.runName": run_name or str(config.get("name") or path.name), "affectlab.run_dir": str(path),
            "affectlab.task": summary.task, "affectlab.model": summary.model}
    rid = client.create_run(exp_id, tags=tags).info.run_id
    try:
        _log_params(client, rid, config)
        _log_metrics(client, rid, final_metrics(path, history=True, ci_resamples=ci_resamples))
        _log_artifacts(client, rid, path)
        client.set_terminated(rid, "FINISHED")
    except Exception:
        client.set_terminated(rid, "FAILED")
        raise
    return rid


# ---------------------------------------------------------------------------------------------
# live tracking during training

def _epoch_logger_class() -> type:
    from lightning.pytorch.loggers import MLFlowLogger

    class EpochMLFlowLogger(MLFlowLogger):
        """Lightning's MLflow logger with step = epoch (1-based, as ``metrics.csv``), and a run that
        stays open after the fit (the run is closed by :class:`LiveRun`, after baselines and refit)."""

        def log_metrics(self, metrics, step=None):  # noqa: ANN001
            metrics = dict(metrics)
            epoch = metrics.pop("epoch", None)  # Lightning adds the 0-based epoch to epoch-level logs
            if epoch is not None:
                step = int(epoch) + 1
            super().log_metrics(metrics, step=step)

        def log_hyperparams(self, params):  # noqa: ANN001
            pass  # the run's parameters are the flattened config, logged once by LiveRun

        def finalize(self, status: str = "success") -> None:
            pass

    return EpochMLFlowLogger


class LiveRun:
    """One MLflow run opened before training (see the module docstring)."""

    def __init__(self, uri: str, experiment: str, run_name: str, config: dict[str, Any],
                 tags: dict[str, str] | None = None) -> None:
        self.uri, self.experiment = uri, experiment
        self.client, self.experiment_id = _client(uri, experiment)
        all_tags = {"mlflow.runName": run_name, **(tags or {})}
        self.run_id: str = self.client.create_run(self.experiment_id, tags=all_tags).info.run_id
        self.children: dict[str, str] = {}
        self.other_fits = 0
        _log_params(self.client, self.run_id, config)

    def run_for(self, stage: str | None) -> str:
        """The run id a fit of ``stage`` logs into: the run itself, or a child run named ``stage``."""
        if stage is None:
            return self.run_id
        if stage not in self.children:
            tags = {"mlflow.runName": stage, "mlflow.parentRunId": self.run_id}
            self.children[stage] = self.client.create_run(self.experiment_id, tags=tags).info.run_id
        return self.children[stage]

    def lightning_logger(self, stage: str | None) -> Any:
        """Lightning's MLflow logger writing into :meth:`run_for` ``(stage)``."""
        return _epoch_logger_class()(experiment_name=self.experiment, tracking_uri=self.uri, run_id=self.run_for(stage))

    def finish(self, run_dir: str | Path, *, ci_resamples: int = 1000) -> None:
        """Final metrics with intervals and the run directory's files; the run and its children FINISHED."""
        path = Path(run_dir)
        self.client.set_tag(self.run_id, "affectlab.run_dir", str(path.resolve()))
        _log_metrics(self.client, self.run_id, final_metrics(path, history=False, ci_resamples=ci_resamples))
        _log_artifacts(self.client, self.run_id, path)
        self.close("FINISHED")

    def close(self, status: str) -> None:
        for rid in [*self.children.values(), self.run_id]:
            self.client.set_terminated(rid, status)


_LIVE: contextvars.ContextVar[LiveRun | None] = contextvars.ContextVar("affectlab_live_run", default=None)
_STAGE: contextvars.ContextVar[str | None] = contextvars.ContextVar("affectlab_fit_stage", default=None)


@contextlib.contextmanager
def live_run(tracking_uri: str | None, experiment: str, run_name: str, config: dict[str, Any],
             tags: dict[str, str] | None = None) -> Iterator[LiveRun]:
    """Open a :class:`LiveRun` for the duration of a training; a failure marks it FAILED (KILLED
    on Ctrl-C); the caller ends a success with :meth:`LiveRun.finish`."""
    from ..training.fit import EPOCH_LOGGER  # network fits log their epochs through epoch_logger

    live = LiveRun(resolve_uri(tracking_uri), experiment, run_name, config, tags)
    token = _LIVE.set(live)
    hook = EPOCH_LOGGER.set(epoch_logger)
    try:
        yield live
    except KeyboardInterrupt:
        live.close("KILLED")
        raise
    except BaseException:
        live.close("FAILED")
        raise
    finally:
        EPOCH_LOGGER.reset(hook)
        _LIVE.reset(token)


@contextlib.contextmanager
def fit_stage(name: str | None) -> Iterator[None]:
    """Fits inside log into the child run ``name`` of the live run (no effect without one)."""
    token = _STAGE.set(name)
    try:
        yield
    finally:
        _STAGE.reset(token)


def stage_of(ctx: Any) -> str | None:
    """Where a fit with context ``ctx`` logs: an explicit :func:`fit_stage`; else ``refit`` for a
    fit of fixed epochs (no validation), ``fold-<i>`` for a cross-validation fold (its work folder
    ``lightning/fold<i>``), ``None`` (the run itself) for the selection fit of a run folder, and
    ``fit-<n>`` for any other fit (a network used as a baseline)."""
    explicit = _STAGE.get()
    if explicit is not None:
        return explicit
    if getattr(ctx, "fixed_epochs", None) is not None:
        return "refit"
    work = getattr(ctx, "work_dir", None)
    if work is None:
        live = _LIVE.get()
        if live is None:
            return "fit-1"
        live.other_fits += 1
        return f"fit-{live.other_fits}"
    name = Path(work).name
    if name.startswith("fold") and name[4:].isdigit():
        return f"fold-{name[4:]}"
    return None


def epoch_logger(ctx: Any = None) -> Any:
    """The Lightning logger for a network fit starting now with context ``ctx``: Lightning's MLflow
    logger when a live run is open (it logs from rank 0 only), else ``False`` (no logger)."""
    live = _LIVE.get()
    if live is None:
        return False
    return live.lightning_logger(stage_of(ctx))


__all__ = ["DEFAULT_EXPERIMENT", "LiveRun", "default_store", "default_tracking_uri", "epoch_logger", "fit_stage",
           "live_run", "log_run", "resolve_uri", "stage_of"]
