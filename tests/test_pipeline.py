"""train_run / predict_run end to end on small generated data, and their bad input."""

import json

import pandas as pd
import pytest
import torch

from affectlab.experiment import validate_config
from affectlab.core.errors import AffectlabError
from affectlab.pipeline import Notes, predict_run, train_run
from affectlab.runs.rundir import is_run_dir

SMALL_NET = {"name": "user_sequence", "user_dim": 4, "proj_dim": 16, "hidden": 8}


def config(**over):
    raw = {"model": SMALL_NET, "training": {"max_epochs": 3, "batch_size": 4}, "baselines": []}
    raw.update(over)
    return validate_config(raw)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from conftest import semeval_frame

    tmp = tmp_path_factory.mktemp("run")
    data = tmp / "train.csv"
    semeval_frame().to_csv(data, index=False)
    run = train_run(config(), data, tmp / "run")
    return run, data


def test_run_directory_is_complete_and_traceable(trained):
    run, data = trained
    assert is_run_dir(run)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["selection"] == {"split": "val", "monitor": "score", "test_used_for_selection": False,
                                    "test_evaluated_once": False}
    assert set(summary["splits"]) == {"train", "val"} and summary["refit_full"] is True
    preds = pd.read_csv(run / "predictions.csv")
    assert set(preds["split"]) == {"train", "val"}
    # the reported validation score is recomputable from predictions.csv
    from affectlab.evaluation import score_arrays

    val = preds[preds.split == "val"]
    again = score_arrays("semeval", val[["valence", "arousal"]].to_numpy(), val[["pred_valence", "pred_arousal"]].to_numpy(),
                         ["valence", "arousal"], val["group"].astype(str).to_numpy(), val["seen"].to_numpy())
    assert again["score"] == pytest.approx(summary["metrics"]["val"]["score"])
    metrics = pd.read_csv(run / "metrics.csv")
    assert {"epoch", "train_loss", "val_score", "gap_score"} <= set(metrics.columns)
    ckpt = torch.load(run / "checkpoint.ckpt", weights_only=True)
    assert ckpt["model"] == "user_sequence"


def test_predict_writes_every_row_with_the_submission_columns(trained, semeval_test_csv, tmp_path):
    run, _ = trained
    notes = Notes()
    out, frame = predict_run(run, semeval_test_csv, tmp_path / "pred.csv", notes=notes)
    test = pd.read_csv(semeval_test_csv)
    written = pd.read_csv(out)
    assert list(written.columns) == ["user_id", "text_id", "pred_valence", "pred_arousal"]
    assert written["text_id"].tolist() == test["text_id"].tolist()
    assert written["pred_valence"].between(-2, 2).all() and written["pred_arousal"].between(0, 2).all()
    assert any("not seen in training" in line for line in notes.lines)


def test_not_a_run_directory(tmp_path, semeval_test_csv):
    (tmp_path / "empty").mkdir()
    with pytest.raises(AffectlabError, match="not a run directory"):
        predict_run(tmp_path / "empty", semeval_test_csv, tmp_path / "p.csv")
    with pytest.raises(AffectlabError, match="no such run directory"):
        predict_run(tmp_path / "nope", semeval_test_csv, tmp_path / "p.csv")
    assert not (tmp_path / "p.csv").exists()


def test_predict_bad_data_leaves_no_output(trained, tmp_path):
    run, _ = trained
    bad = tmp_path / "bad.csv"
    bad.write_text("user_id,text_id,timestamp\n1,2,2021-01-01\n")
    with pytest.raises(AffectlabError, match="missing text column"):
        predict_run(run, bad, tmp_path / "p.csv")
    assert not (tmp_path / "p.csv").exists()


def test_single_text_users_are_noted(tmp_path):
    from conftest import semeval_frame

    frame = semeval_frame()
    frame = pd.concat([frame, frame.iloc[[0]].assign(user_id=999, text_id=99999)])
    data = tmp_path / "d.csv"
    frame.to_csv(data, index=False)
    notes = Notes()
    train_run(config(training={"max_epochs": 1}), data, tmp_path / "run", notes=notes)
    assert any("single text" in line for line in notes.lines)


def test_unknown_model_parameter_is_refused(tmp_path, semeval_csv):
    with pytest.raises(AffectlabError, match="unknown parameter"):
        train_run(config(model={**SMALL_NET, "hiden": 3}), semeval_csv, tmp_path / "run")
    assert not (tmp_path / "run" / "summary.json").exists()


def test_selected_epoch_in_metrics_csv_equals_the_summary(trained):
    run, _ = trained
    summary = json.loads((run / "summary.json").read_text())
    metrics = pd.read_csv(run / "metrics.csv")
    best = metrics[metrics.epoch == summary["best_epoch"]].iloc[0]
    assert best["val_score"] == pytest.approx(summary["metrics"]["val"]["score"])
    assert best["val_ccc_valence"] == pytest.approx(summary["metrics"]["val"]["ccc_valence"])


def test_a_default_baseline_too_large_for_the_data_is_left_out_with_a_note(tmp_path, semeval_csv, monkeypatch):
    """ridge_tfidf's size check runs before encoding: a default baseline is left out (said), a
    named one is refused in one line."""
    from affectlab.models import baselines

    monkeypatch.setattr(baselines, "TFIDF_MAX_TRAIN", 10)
    notes = Notes()
    run = train_run(config(model={"name": "ridge_embedding"}, baselines=None), semeval_csv, tmp_path / "run", notes=notes)
    summary = json.loads((run / "summary.json").read_text())
    assert "ridge_tfidf" not in summary["baselines"] and "global_mean" in summary["baselines"]
    assert any(line.startswith("baseline ridge_tfidf left out: ridge_tfidf:") and "exceed max_train=10" in line
               for line in notes.lines)
    with pytest.raises(AffectlabError, match=r"^baseline ridge_tfidf: .* exceed max_train=10 .*leave it out of baselines:$"):
        train_run(config(model={"name": "ridge_embedding"}, baselines=["ridge_tfidf"]), semeval_csv, tmp_path / "run2")
    assert not (tmp_path / "run2").exists()
