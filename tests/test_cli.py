"""The CLI's contract: usage errors and bad input are one line and exit 2, never a traceback."""

import subprocess
import sys

import pytest

from conftest import run_cli


@pytest.mark.parametrize("args,needle", [
    (["train"], "Missing argument"),
    (["train", "configs/semeval2026-task2/default.yaml"], "Missing option '--out'"),
    (["train", "configs/semeval2026-task2/default.yaml", "--out", "r"], "give --data PATH, or --media DIR with --labels"),
    (["nosuch"], "No such command"),
    (["predict", "nowhere", "--data", "x.csv", "--out", "p.csv"], "no such run directory"),
    (["train", "missing.yaml", "--data", "x.csv", "--out", "r"], "no such file"),
    (["train", "configs/semeval2026-task2/default.yaml", "--data", "x.csv", "--out", "r", "--seeds", "1,a"], "--seeds"),
])
def test_errors_are_one_line_and_exit_2(args, needle, capsys):
    code, _, err = run_cli(args, capsys)
    assert code == 2
    assert needle in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_subprocess_bad_config_value_has_no_traceback(tmp_path, semeval_csv):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("training: {max_epochs: -1}\n")
    proc = subprocess.run([sys.executable, "-m", "affectlab", "train", str(cfg), "--data", str(semeval_csv),
                           "--out", str(tmp_path / "run")], capture_output=True, text=True)
    assert proc.returncode == 2 and "training.max_epochs" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "run").exists()


def test_train_and_predict_through_the_cli(tmp_path, semeval_csv, semeval_test_csv, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {name: user_level_kernel}\n")
    code, out, err = run_cli(["train", cfg, "--data", semeval_csv, "--out", tmp_path / "run", "--quiet"], capsys)
    assert code == 0, err
    assert "run directory" in out and "ridge_group_offset" in out  # baselines beside the model
    code, out, err = run_cli(["predict", tmp_path / "run", "--data", semeval_test_csv, "--out", tmp_path / "p.csv"], capsys)
    assert code == 0 and "wrote" in out and "not seen in training" in err


def test_train_logs_to_a_local_mlflow_store(tmp_path, semeval_csv, capsys):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {name: ridge_group_offset}\nbaselines: [global_mean]\n")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    code, out, err = run_cli(["train", cfg, "--data", semeval_csv, "--out", tmp_path / "run", "--mlflow-uri", uri], capsys)
    assert code == 0, err
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("affectlab").experiment_id])
    assert len(runs) == 1 and runs[0].data.params["model.name"] == "ridge_group_offset"


# --------------------------------------------------------------------------- --out and --overwrite

def _table_run_files(tmp_path):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(48)], "who": [f"u{i % 6}" for i in range(48)],
                          "x1": rng.normal(size=48), "x2": rng.normal(size=48)})
    frame["y"] = (frame.x1 - frame.x2).round(4)
    frame.to_csv(tmp_path / "t.csv", index=False)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("task: regression\nfeatures: {text: {kind: none}}\nsplit: {kind: group}\n"
                   "data: {format: table, columns: {id: id, group: who}, targets: [{name: y}], options: {features: [x1, x2]}}\n"
                   "model: {name: 'sklearn.linear_model:LinearRegression'}\n")
    return cfg, tmp_path / "t.csv"


def test_existing_run_is_refused_before_any_work_and_kept(tmp_path, capsys):
    cfg, data = _table_run_files(tmp_path)
    code, _, err = run_cli(["train", cfg, "--data", data, "--out", tmp_path / "run"], capsys)
    assert code == 0, err
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()}
    # the data file does not exist: the refusal must come first, i.e. before reading anything
    code, _, err = run_cli(["train", cfg, "--data", tmp_path / "missing.csv", "--out", tmp_path / "run"], capsys)
    assert code == 2 and "exists and is not empty; pass --overwrite to replace it" in err
    assert len(err.strip().splitlines()) == 1
    assert {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()} == before


def test_overwrite_replaces_the_run(tmp_path, capsys):
    cfg, data = _table_run_files(tmp_path)
    assert run_cli(["train", cfg, "--data", data, "--out", tmp_path / "run"], capsys)[0] == 0
    (tmp_path / "run" / "report.html").write_text("stale report of the old run")
    code, out, err = run_cli(["train", cfg, "--data", data, "--out", tmp_path / "run", "--overwrite", "--seed", "4"], capsys)
    assert code == 0, err
    assert not (tmp_path / "run" / "report.html").exists()
    assert "seed: 4" in (tmp_path / "run" / "config.yaml").read_text()


@pytest.mark.parametrize("extra", [[], ["--overwrite"], ["--seeds", "1,2"]])
def test_out_that_is_a_file_is_one_line(tmp_path, capsys, extra):
    cfg, data = _table_run_files(tmp_path)
    (tmp_path / "run").write_text("not a folder")
    code, _, err = run_cli(["train", cfg, "--data", data, "--out", tmp_path / "run", *extra], capsys)
    assert code == 2 and "is a file" in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "run").read_text() == "not a folder"


def test_overwrite_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    cfg, data = _table_run_files(tmp_path)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    code, _, err = run_cli(["train", cfg, "--data", data, "--out", tmp_path / "mine", "--overwrite"], capsys)
    assert code == 2 and "not a run directory" in err
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_user_model_by_class_path_trains_and_predicts(tmp_path, capsys):
    import pandas as pd

    cfg, data = _table_run_files(tmp_path)
    code, out, err = run_cli(["train", cfg, "--data", data, "--out", tmp_path / "run", "-q"], capsys)
    assert code == 0, err
    assert "LinearRegression" in out
    code, out, err = run_cli(["predict", tmp_path / "run", "--data", data, "--out", tmp_path / "p.csv", "--trust-code"], capsys)
    assert code == 0, err
    pred = pd.read_csv(tmp_path / "p.csv")
    truth = pd.read_csv(data)
    assert pred.columns.tolist() == ["who", "id", "pred_y"]
    assert (pred["pred_y"] - truth["y"]).abs().max() < 1e-3  # y is linear in the features
    code, _, err = run_cli(["train", cfg, "--data", data, "--out", tmp_path / "bad", "--set", "model.name=nowhere_pkg:Model"],
                           capsys)
    assert code == 2 and "module 'nowhere_pkg' does not import" in err and len(err.strip().splitlines()) == 1


def test_predict_out_that_is_a_folder_is_one_line(tmp_path, capsys):
    cfg, data = _table_run_files(tmp_path)
    assert run_cli(["train", cfg, "--data", data, "--out", tmp_path / "run"], capsys)[0] == 0
    (tmp_path / "preds").mkdir()
    code, _, err = run_cli(["predict", tmp_path / "run", "--data", data, "--out", tmp_path / "preds"], capsys)
    assert code == 2 and "is a folder; give a file name" in err and len(err.strip().splitlines()) == 1


def test_cross_validation_run_prints_pooled_scores_with_an_interval(tmp_path, capsys):
    cfg, data = _table_run_files(tmp_path)
    code, out, err = run_cli(["train", cfg, "--data", data, "--out", tmp_path / "run", "--set", "split.kind=group_kfold",
                              "--set", "split.k=3"], capsys)
    assert code == 0, err
    lines = out.splitlines()  # two-line headers: the split above the metric
    assert any("oof" in top and "ccc" in below for top, below in zip(lines, lines[1:])) and "LinearRegression" in out
    assert "group_kfold: 3 folds; scores of the pooled out-of-fold predictions; ccc" in " ".join(out.split())
