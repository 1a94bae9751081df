"""Optional MLflow logging of a finished run directory (SQLite store by default).

``log_run(run_dir)`` logs the flattened ``config.yaml`` as parameters, every row of
``metrics.csv`` as step-wise metrics (step = epoch), the summary's split metrics as final
metrics (``val/ccc``, ``test/score`` ...) plus timings and the parameter count (cross-validation
runs: ``pooled/<key>`` and ``fold/<i>/<split>/<key>``), and the run directory's files as artefacts. The default store is ``sqlite:///<run_dir parent>/mlflow.db``
so nothing is sent anywhere unless a tracking URI says so.

MLflow metric names allow letters, digits, ``_ - . / space``; affectlab keys already fit.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..errors import AffectlabError

#: MLflow limits a parameter value to this many characters
_PARAM_MAX = 6000
ARTIFACTS = ("config.yaml", "summary.json", "metrics.csv", "predictions.csv", "baselines.csv", "report.html")


def default_tracking_uri(run_dir: str | Path) -> str:
    return f"sqlite:///{(Path(run_dir).resolve().parent / 'mlflow.db')}"


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def log_run(run_dir: str | Path, tracking_uri: str | None = None, experiment: str = "affectlab",
            run_name: str | None = None) -> str:
    """Log a run directory to MLflow; returns the MLflow run id."""
    try:
        from mlflow.entities import Metric, Param
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise AffectlabError("MLflow logging needs mlflow: pip install 'affectlab[track]'") from None
    import pandas as pd

    from .compare import flatten
    from .rundir import RunDir

    opened = RunDir.open(run_dir)
    path = opened.path
    uri = tracking_uri or default_tracking_uri(path)
    config = opened.config_dict()
    summary = opened.summary()
    client = MlflowClient(tracking_uri=uri)
    try:
        exp = client.get_experiment_by_name(experiment)
        exp_id = exp.experiment_id if exp is not None else client.create_experiment(experiment)
    except Exception as err:  # bad URI, unreachable server
        raise AffectlabError(f"MLflow tracking URI {uri}: {type(err).__name__}: {str(err).splitlines()[0]}") from None
    tags = {"mlflow.runName": run_name or str(config.get("name") or path.name), "affectlab.run_dir": str(path),
            "affectlab.task": summary.task, "affectlab.model": summary.model}
    run = client.create_run(exp_id, tags=tags)
    rid = run.info.run_id
    try:
        params = [Param(k, (json.dumps(v) if not isinstance(v, str) else v)[:_PARAM_MAX]) for k, v in flatten(config).items()]
        for i in range(0, len(params), 100):
            client.log_batch(rid, params=params[i:i + 100])
        metrics: list[Metric] = []
        ts = 0
        hist_path = path / "metrics.csv"
        if hist_path.is_file() and hist_path.stat().st_size:
            hist = pd.read_csv(hist_path)
            for _, row in hist.iterrows():
                step = int(row.get("epoch", 0))
                for col, v in row.items():
                    if col != "epoch" and _finite(v):
                        metrics.append(Metric(f"epoch/{col}", float(v), ts, step))
        def add(prefix: str, values: dict[str, Any]) -> None:
            metrics.extend(Metric(f"{prefix}{k}", float(v), ts, 0) for k, v in values.items() if _finite(v))

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
        for i in range(0, len(metrics), 1000):
            client.log_batch(rid, metrics=metrics[i:i + 1000])
        for name in ARTIFACTS:
            if (path / name).is_file():
                client.log_artifact(rid, str(path / name))
        client.set_terminated(rid, "FINISHED")
    except Exception:
        client.set_terminated(rid, "FAILED")
        raise
    return rid


__all__ = ["default_tracking_uri", "log_run"]
