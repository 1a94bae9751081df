"""The MOSI commands others run: train configs/mosi/default.yaml, predict a test-only pickle; bad input exits 2."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pandas as pd
import pytest

from test_corpus_mmsa import make_mmsa, make_split

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "mosi" / "default.yaml"


def cli(args, capsys):
    try:
        from conftest import run_cli
    except ImportError:  # pragma: no cover
        pytest.skip("conftest.run_cli unavailable")
    try:
        import affectlab.cli  # noqa: F401
    except ModuleNotFoundError as err:  # another command module still being written
        pytest.skip(f"CLI not importable: {err}")
    return run_cli(args, capsys)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from affectlab.config import load_config
    from affectlab.pipeline import train_run

    tmp = tmp_path_factory.mktemp("mosi")
    data = make_mmsa(tmp / "train.pkl")
    cfg = load_config(CONFIG, ["training.max_epochs=4", "model.hidden=16"])
    return train_run(cfg, data, tmp / "run"), data


def test_train_selects_on_valid_and_touches_test_once(trained):
    run, _ = trained
    s = json.loads((run / "summary.json").read_text())
    assert s["task"] == "mosi" and s["model"] == "early_lstm" and s["refit_full"] is False
    assert s["selection"]["monitor"] == "mae" and s["selection"]["test_used_for_selection"] is False
    assert s["selection"]["test_evaluated_once"] is True and s["splits"] == {"train": 60, "val": 20, "test": 20}
    assert {"acc2_nonneg", "acc2_nozero", "f1_nozero", "acc7"} <= set(s["metrics"]["test"])
    assert set(s["baselines"]) == {"ridge_text", "ridge_audio", "ridge_vision", "ridge_all"}
    assert s["nonfinite"] == {"text": 0, "audio": 0, "vision": 0}
    preds = pd.read_csv(run / "predictions.csv")
    from affectlab.evaluation.scoring import score_arrays

    test = preds[preds.split == "test"]
    again = score_arrays("mosi", test[["sentiment"]].to_numpy(), test[["pred_sentiment"]].to_numpy(), ["sentiment"])
    assert again["mae"] == pytest.approx(s["metrics"]["test"]["mae"])


def test_predict_a_test_only_pickle_writes_ids_exactly(trained, tmp_path, capsys):
    run, _ = trained
    part = make_split(9, seed=7, prefix="held$out ")
    del part["regression_labels"]
    other = tmp_path / "other.pkl"
    other.write_bytes(pickle.dumps({"test": part}))
    from affectlab.pipeline import predict_run

    _, frame = predict_run(run, other, tmp_path / "pred.csv", split="test")
    written = pd.read_csv(tmp_path / "pred.csv", dtype={"id": str})
    assert written.columns.tolist() == ["id", "pred_sentiment"] and written["id"].tolist() == part["id"]
    assert written["pred_sentiment"].between(-3, 3).all()
    code, _, err = cli(["predict", run, "--data", other, "--split", "valid", "--out", tmp_path / "p2.csv"], capsys)
    assert code == 2 and "no split named 'valid'" in err and not (tmp_path / "p2.csv").exists()


def test_bad_pickles_exit_2_with_one_line_and_write_nothing(tmp_path, capsys):
    class Foreign:
        def __reduce__(self):
            return (print, ("x",))

    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"train": {**make_split(10), "x": Foreign()}}))
    out = tmp_path / "run"
    code, _, err = cli(["train", CONFIG, "--data", evil, "--out", out], capsys)
    assert code == 2 and "--trust-pickle" in err and len(err.strip().splitlines()) == 1 and not out.exists()
    nan = tmp_path / "nan.pkl"
    split = make_split(10)
    split["audio"][:] = float("nan")
    nan.write_bytes(pickle.dumps({"train": split}))
    code, _, err = cli(["train", CONFIG, "--data", nan, "--out", out], capsys)
    assert code == 2 and "no finite values" in err and not out.exists()
