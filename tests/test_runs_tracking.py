"""MLflow tracking against real local SQLite stores in tmp: after the fact and live while training."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from affectlab.core.errors import AffectlabError
from conftest import run_cli
from test_evaluation_helpers import make_run_dir

mlflow = pytest.importorskip("mlflow")


@pytest.fixture(scope="module")
def _empty_store(tmp_path_factory):
    """An empty SQLite store, created once (MLflow's schema migrations take seconds); tests copy it."""
    path = tmp_path_factory.mktemp("store") / "empty.db"
    _client(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def store(tmp_path, _empty_store):
    """``store(name)``: the URI of a fresh SQLite store ``tmp_path/name`` (a copy of the empty one)."""
    import shutil

    def make(name: str) -> str:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(_empty_store, path)
        return f"sqlite:///{path}"

    return make


@pytest.fixture(autouse=True)
def _no_ambient_store(monkeypatch, tmp_path):
    """No test writes to the user's store: the cache is a tmp folder and no URI comes from outside."""
    monkeypatch.setenv("AFFECTLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def _client(uri):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _runs(uri, experiment="affectlab"):
    client = _client(uri)
    exp = client.get_experiment_by_name(experiment)
    return [] if exp is None else client.search_runs([exp.experiment_id])


def test_log_run_to_sqlite_store(tmp_path, store):
    from affectlab.runs.tracking import log_run

    run = make_run_dir(tmp_path / "runs" / "v1", config={"model": {"hidden": 96}})
    uri = store("ml.db")
    rid = log_run(run, uri, experiment="exp", ci_resamples=50)
    client = _client(uri)
    r = client.get_run(rid)
    assert r.info.status == "FINISHED" and r.data.tags["mlflow.runName"] == "v1"
    assert r.data.params["model.hidden"] == "96" and r.data.params["model.name"] == "user_sequence"
    summary = json.loads((run / "summary.json").read_text())
    assert r.data.metrics["test/score"] == pytest.approx(summary["metrics"]["test"]["score"])
    # the intervals are those of `affectlab evaluate --run` on the test predictions
    assert r.data.metrics["ci/test/score/low"] - 1e-9 <= r.data.metrics["test/score"] <= r.data.metrics["ci/test/score/high"] + 1e-9
    hist = client.get_metric_history(rid, "epoch/val_score")
    ref = pd.read_csv(run / "metrics.csv")
    assert [m.step for m in hist] == ref["epoch"].tolist()
    assert [m.value for m in hist] == pytest.approx(ref["val_score"].tolist())
    arts = {a.path for a in client.list_artifacts(rid)}
    assert {"config.yaml", "summary.json", "metrics.csv", "predictions.csv"} <= arts
    # a second run lands in the same experiment
    log_run(run, uri, experiment="exp", ci_resamples=50)
    assert len(_runs(uri, "exp")) == 2


def test_one_default_store_for_all_runs_and_the_env_var_wins(tmp_path, monkeypatch, store):
    from affectlab.runs.tracking import default_tracking_uri, log_run

    store("cache/mlflow/mlflow.db")  # the default location, already migrated (fast)
    a, b = make_run_dir(tmp_path / "x" / "a"), make_run_dir(tmp_path / "y" / "b")
    log_run(a, ci_resamples=50)
    log_run(b, ci_resamples=50)
    db = tmp_path / "cache" / "mlflow" / "mlflow.db"
    assert default_tracking_uri() == f"sqlite:///{db}" and db.is_file()
    assert not (tmp_path / "x" / "mlflow.db").exists() and not (tmp_path / "y" / "mlflow.db").exists()
    assert len(_runs(f"sqlite:///{db}")) == 2
    # artefacts beside the store, not in the current folder
    rid = _runs(f"sqlite:///{db}")[0].info.run_id
    assert _client(f"sqlite:///{db}").get_run(rid).info.artifact_uri.startswith((tmp_path / "cache" / "mlflow").as_uri())
    env_uri = store("env.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", env_uri)
    assert default_tracking_uri() == env_uri
    log_run(a, ci_resamples=50)
    assert len(_runs(env_uri)) == 1


def test_not_a_run_dir(tmp_path):
    from affectlab.runs.tracking import log_run

    with pytest.raises(AffectlabError, match="no such run directory"):
        log_run(tmp_path / "missing")


def _table(tmp_path, model: str, split: str = "{kind: group}"):
    rng = np.random.default_rng(0)
    n = 60
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "who": [f"u{i % 6}" for i in range(n)],
                          "x1": rng.normal(size=n), "x2": rng.normal(size=n)})
    frame["y"] = (frame.x1 - frame.x2).round(4)
    frame.to_csv(tmp_path / "t.csv", index=False)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"task: regression\nname: tiny\nfeatures: {{text: {{kind: none}}}}\nsplit: {split}\n"
                   "data: {format: table, columns: {id: id, group: who}, targets: [{name: y}], options: {features: [x1, x2]}}\n"
                   f"model: {model}\nbaselines: [global_mean]\n"
                   "training: {max_epochs: 3, patience: 5, batch_size: 16, refit_full: true}\n")
    return cfg, tmp_path / "t.csv"


def test_live_network_run_logs_every_epoch_while_training(tmp_path, capsys, monkeypatch, store):
    """Per-epoch metrics reach the store during the fit (seen from inside the epoch callback)."""
    from affectlab.training import callbacks

    cfg, data = _table(tmp_path, "{name: mlp, hidden: 8}")
    uri = store("live.db")
    seen: list[tuple[str, list[int]]] = []
    original = callbacks.EpochScorer.on_train_epoch_end

    def spy(self, trainer, pl_module):
        original(self, trainer, pl_module)
        if trainer.current_epoch == 1 and trainer.logger:  # the second epoch: the first is in the store already
            client = _client(uri)
            hist = client.get_metric_history(trainer.logger.run_id, "val_ccc")
            seen.append((client.get_run(trainer.logger.run_id).info.status, [m.step for m in hist]))

    monkeypatch.setattr(callbacks.EpochScorer, "on_train_epoch_end", spy)
    code, out, err = run_cli(["train", cfg, "--data", data, "--out", tmp_path / "run", "--quiet",
                              "--mlflow-uri", uri, "--experiment", "live-test"], capsys)
    assert code == 0, err
    assert seen and seen[0] == ("RUNNING", [1])
    runs = {r.info.run_name: r for r in _runs(uri, "live-test")}
    assert set(runs) == {"tiny/run", "refit"}
    parent, refit = runs["tiny/run"], runs["refit"]
    assert parent.info.status == refit.info.status == "FINISHED"
    assert refit.data.tags["mlflow.parentRunId"] == parent.info.run_id
    client = _client(uri)
    ref = pd.read_csv(tmp_path / "run" / "metrics.csv")
    for key in ("val_ccc", "train_loss", "train_mae"):
        hist = client.get_metric_history(parent.info.run_id, key)
        assert [m.step for m in hist] == ref["epoch"].tolist()  # step = epoch
        assert [m.value for m in hist] == pytest.approx(ref[key].tolist(), rel=1e-5)
    assert [m.step for m in client.get_metric_history(refit.info.run_id, "train_loss")] == list(
        range(1, json.loads((tmp_path / "run" / "summary.json").read_text())["best_epoch"] + 1))
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    m = parent.data.metrics
    assert m["val/ccc"] == pytest.approx(summary["metrics"]["val"]["ccc"])
    assert m["ci/val/ccc/low"] - 1e-9 <= m["val/ccc"] <= m["ci/val/ccc/high"] + 1e-9
    assert parent.data.params["training.max_epochs"] == "3" and parent.data.params["tracking.experiment"] == "live-test"
    arts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"checkpoint.ckpt", "summary.json", "config.yaml", "metrics.csv", "predictions.csv"} <= arts
    assert "live-test" in out + err and parent.info.run_id in out + err


def test_live_cross_validation_closed_form_and_env_uri(tmp_path, capsys, monkeypatch, store):
    """A closed-form model under cross-validation: parameters and final metrics (pooled, per fold,
    with the summary's intervals), no epoch curves; the store named by MLFLOW_TRACKING_URI."""
    cfg, data = _table(tmp_path, "{name: 'sklearn.linear_model:LinearRegression'}", "{kind: group_kfold, k: 3}")
    uri = store("env.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    code, out, err = run_cli(["train", cfg, "--data", data, "--out", tmp_path / "run", "--mlflow", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["mlflow"]["tracking_uri"] == uri
    (run,) = _runs(uri)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    m = run.data.metrics
    assert m["oof/ccc"] == pytest.approx(summary["metrics"]["oof"]["ccc"])
    assert m["ci/pooled/ccc/low"] == pytest.approx(summary["cis"]["pooled"]["ccc"]["ci_low"])
    assert m["fold/1/test/ccc"] == pytest.approx(summary["folds"][0]["metrics"]["test"]["ccc"])
    assert not any(k.startswith(("val_", "train_")) for k in m)
    assert run.data.params["model.name"] == "sklearn.linear_model:LinearRegression"


def test_live_cross_validation_network_logs_each_fold_into_a_child_run(tmp_path, capsys, store):
    cfg, data = _table(tmp_path, "{name: mlp, hidden: 4}", "{kind: group_kfold, k: 2}")
    uri = store("cv.db")
    code, _, err = run_cli(["train", cfg, "--data", data, "--out", tmp_path / "run", "--quiet", "--mlflow-uri", uri], capsys)
    assert code == 0, err
    runs = {r.info.run_name: r for r in _runs(uri)}
    assert set(runs) == {"tiny/run", "fold-1", "fold-2", "refit"}
    parent = runs["tiny/run"].info.run_id
    assert all(runs[n].data.tags["mlflow.parentRunId"] == parent for n in ("fold-1", "fold-2", "refit"))
    hist = pd.read_csv(tmp_path / "run" / "metrics.csv")
    client = _client(uri)
    for fold in (1, 2):
        rows = hist[hist["fold"] == fold]
        logged = client.get_metric_history(runs[f"fold-{fold}"].info.run_id, "val_ccc")
        assert [m.step for m in logged] == rows["epoch"].tolist()
        assert [m.value for m in logged] == pytest.approx(rows["val_ccc"].tolist(), rel=1e-5)
    assert not client.get_metric_history(parent, "val_ccc")  # the folds' curves stay in the folds
    assert all(r.info.status == "FINISHED" for r in runs.values())


def test_failed_training_marks_the_run_failed(tmp_path, capsys, store):
    cfg, data = _table(tmp_path, "{name: mlp, hidden: 8}")
    data.write_text("id,who,x1,x2\nr1,u1,1,2\n")  # no target column: refused after the run opened
    uri = store("f.db")
    code, _, err = run_cli(["train", cfg, "--data", data, "--out", tmp_path / "run", "--mlflow-uri", uri], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert [r.info.status for r in _runs(uri)] == ["FAILED"]


def test_stage_of_each_fit():
    from types import SimpleNamespace as NS

    from affectlab.runs.tracking import fit_stage, stage_of

    assert stage_of(NS(fixed_epochs=None, work_dir="/r/run")) is None
    assert stage_of(NS(fixed_epochs=4, work_dir=None)) == "refit"
    assert stage_of(NS(fixed_epochs=None, work_dir="/r/run/lightning/fold3")) == "fold-3"
    with fit_stage("custom"):
        assert stage_of(NS(fixed_epochs=4, work_dir=None)) == "custom"
