"""The CLI's contract: usage errors and bad input are one line and exit 2, never a traceback."""

import subprocess
import sys

import pytest

from conftest import run_cli


@pytest.mark.parametrize("args,needle", [
    (["train"], "Missing argument"),
    (["train", "configs/semeval2026-task2/default.yaml"], "Missing option '--data'"),
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
