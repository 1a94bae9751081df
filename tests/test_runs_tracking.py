"""MLflow logging against a real local SQLite store."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from affectlab.errors import AffectlabError
from test_evaluation_helpers import make_run_dir

mlflow = pytest.importorskip("mlflow")


def test_log_run_to_sqlite_store(tmp_path):
    from mlflow.tracking import MlflowClient

    from affectlab.runs.tracking import log_run

    run = make_run_dir(tmp_path / "runs" / "v1", config={"model": {"hidden": 96}})
    uri = f"sqlite:///{tmp_path / 'ml.db'}"
    rid = log_run(run, uri, experiment="exp")
    client = MlflowClient(tracking_uri=uri)
    r = client.get_run(rid)
    assert r.info.status == "FINISHED" and r.data.tags["mlflow.runName"] == "v1"
    assert r.data.params["model.hidden"] == "96" and r.data.params["model.name"] == "user_sequence"
    summary = json.loads((run / "summary.json").read_text())
    assert r.data.metrics["test/score"] == pytest.approx(summary["metrics"]["test"]["score"])
    hist = client.get_metric_history(rid, "epoch/val_score")
    ref = pd.read_csv(run / "metrics.csv")
    assert [m.step for m in hist] == ref["epoch"].tolist()
    assert [m.value for m in hist] == pytest.approx(ref["val_score"].tolist())
    arts = {a.path for a in client.list_artifacts(rid)}
    assert {"config.yaml", "summary.json", "metrics.csv", "predictions.csv"} <= arts
    # a second run lands in the same experiment
    log_run(run, uri, experiment="exp")
    exp = client.get_experiment_by_name("exp")
    assert len(client.search_runs([exp.experiment_id])) == 2


def test_default_store_is_beside_the_run(tmp_path):
    from affectlab.runs.tracking import default_tracking_uri, log_run

    run = make_run_dir(tmp_path / "r")
    log_run(run)
    assert (tmp_path / "mlflow.db").is_file()
    assert default_tracking_uri(run).endswith("mlflow.db")


def test_not_a_run_dir(tmp_path):
    from affectlab.runs.tracking import log_run

    with pytest.raises(AffectlabError, match="no such run directory"):
        log_run(tmp_path / "missing")
