"""The MOSI commands others run: train configs/mosi/default.yaml and features.yaml, predict a test-only
pickle; ridge_text_encoder beside the file's arrays; ABOVE_STATE_OF_THE_ART; bad input exits 2."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pandas as pd
import pytest

from test_corpus_mmsa import make_mmsa, make_split

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "mosi" / "default.yaml"
FEATURES = ROOT / "configs" / "mosi" / "features.yaml"


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
    from affectlab.experiment import load_config
    from affectlab.pipeline import train_run

    tmp = tmp_path_factory.mktemp("mosi")
    data = make_mmsa(tmp / "train.pkl")
    cfg = load_config(FEATURES, ["training.max_epochs=4", "model.hidden=16"])
    return train_run(cfg, data, tmp / "run"), data


def test_train_selects_on_valid_and_touches_test_once(trained):
    run, _ = trained
    s = json.loads((run / "summary.json").read_text())
    assert s["task"] == "mosi" and s["model"] == "early_lstm" and s["refit_full"] is False
    assert s["selection"]["monitor"] == "mae" and s["selection"]["test_used_for_selection"] is False
    assert s["selection"]["test_evaluated_once"] is True and s["splits"] == {"train": 60, "val": 20, "test": 20}
    assert {"acc2_nonneg", "acc2_nozero", "f1_nozero", "acc7"} <= set(s["metrics"]["test"])
    assert set(s["baselines"]) == {"ridge_text", "ridge_audio", "ridge_vision", "ridge_all", "ridge_text_encoder"}
    assert s["nonfinite"] == {"text": 0, "audio": 0, "vision": 0}
    preds = pd.read_csv(run / "predictions.csv")
    from affectlab.evaluation.scoring import score_arrays

    test = preds[preds.split == "test"]
    again = score_arrays("mosi", test[["sentiment"]].to_numpy(), test[["pred_sentiment"]].to_numpy(), ["sentiment"])
    assert again["mae"] == pytest.approx(s["metrics"]["test"]["mae"])


def test_baselines_are_scored_on_test_beside_the_model(trained):
    """Fitted on the training rows like the model, scored on the same test rows once (side by side)."""
    run, _ = trained
    s = json.loads((run / "summary.json").read_text())
    gold = pd.read_csv(run / "predictions.csv", dtype={"id": str}).query("split == 'test'")[["id", "sentiment"]]
    rows = pd.read_csv(run / "baselines.csv", dtype={"id": str})
    from affectlab.evaluation.scoring import score_arrays

    for name in s["baselines"]:
        assert set(s["baselines"][name]) == {"train", "val", "test"}
        test = rows[(rows.split == "test") & (rows.baseline == name)].merge(gold, on="id")
        assert len(test) == 20
        again = score_arrays("mosi", test[["sentiment"]].to_numpy(), test[["pred_sentiment"]].to_numpy(), ["sentiment"])
        assert again["mae"] == pytest.approx(s["baselines"][name]["test"]["mae"])


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


def test_ridge_text_encoder_is_ridge_on_the_re_encoded_raw_text(trained):
    """baselines.csv's ridge_text_encoder = scikit-learn's RidgeCV on the standardised sentence embeddings."""
    import numpy as np
    from sklearn.linear_model import RidgeCV

    from affectlab.experiment import load_config
    from affectlab.features.text import embed_texts
    from affectlab.models.ridge_modality import ALPHAS
    from affectlab.core.paths import default_cache_dir

    run, data = trained
    raw = pickle.loads(data.read_bytes())
    enc = load_config(FEATURES).features.text
    x = {name: embed_texts(raw[name]["raw_text"], enc, default_cache_dir())[0].astype(np.float64) for name in ("train", "valid")}
    mean, sd = x["train"].mean(axis=0), x["train"].std(axis=0)
    sd = np.where(sd > 1e-8, sd, 1.0)
    ridge = RidgeCV(alphas=ALPHAS).fit((x["train"] - mean) / sd, raw["train"]["regression_labels"])
    expected = np.clip(ridge.predict((x["valid"] - mean) / sd), -3, 3)
    base = pd.read_csv(run / "baselines.csv", dtype={"id": str})
    got = base[(base.baseline == "ridge_text_encoder") & (base.split == "val")].set_index("id").loc[raw["valid"]["id"]]
    assert np.allclose(got["pred_sentiment"].to_numpy(), expected, atol=1e-4)
    # beside it, ridge_text on the file's own 6-d text arrays: a different model on different inputs
    own = base[(base.baseline == "ridge_text") & (base.split == "val")].set_index("id").loc[raw["valid"]["id"]]
    assert not np.allclose(own["pred_sentiment"].to_numpy(), expected, atol=1e-2)


def mosi_shaped(path: Path) -> Path:
    """The pickle with ids in CMU-MOSI's convention (``<11-character video id>$_$<clip>``): MOSI's
    published references belong to MOSI's data, recognised by its ids (affectlab.tasks.data)."""
    raw = pickle.loads(path.read_bytes())
    for part in raw.values():
        part["id"] = [i.split("$_$")[0].rjust(11, "-") + "$_$" + i.split("$_$")[1] for i in part["id"]]
    path.write_bytes(pickle.dumps(raw, protocol=4))
    return path


def test_too_good_file_arrays_raise_above_state_of_the_art_in_train_and_evaluate(tmp_path):
    """Arrays that nearly equal the label (as if fitted on it upstream) score beyond every published
    MOSI result: train says so in its notes and summary, evaluate --run and the report again."""
    import yaml

    from affectlab.experiment import validate_config
    from affectlab.runs.evaluate import evaluate_run
    from affectlab.pipeline import Notes, train_run

    leaky = mosi_shaped(make_mmsa(tmp_path / "leaky.pkl", {"train": 90, "valid": 45, "test": 45}, signal=6.0))
    cfg = validate_config({**yaml.safe_load(FEATURES.read_text()), "model": {"name": "ridge_text"},
                           "baselines": ["global_mean"]})
    notes = Notes()
    run = train_run(cfg, leaky, tmp_path / "run", notes=notes)
    s = json.loads((run / "summary.json").read_text())
    assert [f["code"] for f in s["findings"]] == ["ABOVE_STATE_OF_THE_ART"] * 2  # val and test; not the constant
    assert any(line.startswith("ABOVE_STATE_OF_THE_ART: test: the model") for line in notes.lines)
    # a baseline's finding (ridge on the leaky text arrays beside another model) reaches evaluate --run and report
    plain_model = validate_config({**yaml.safe_load(FEATURES.read_text()), "model": {"name": "ridge_audio"},
                                   "baselines": ["ridge_text"]})
    run_b = train_run(plain_model, leaky, tmp_path / "run-b", notes=Notes())
    messages = [f.message for f in evaluate_run(run_b, n_resamples=100).findings if f.code == "ABOVE_STATE_OF_THE_ART"]
    assert any(m.startswith("val: baseline ridge_text is beyond") for m in messages)
    from affectlab.evaluation.bootstrap import bootstrap_ci

    test = pd.read_csv(run / "predictions.csv").query("split == 'test'")  # an independent interval, videos resampled
    ci = bootstrap_ci("acc2_nozero", test["sentiment"].to_numpy(), test["pred_sentiment"].to_numpy(), test["group"].to_numpy())
    assert ci.low > 0.8643  # the interval's far end beyond the best published Acc-2 (ALMT)
    assert "ABOVE_STATE_OF_THE_ART" in {f.code for f in evaluate_run(run, n_resamples=200).findings}
    # weak arrays: nothing to suspect
    plain = mosi_shaped(make_mmsa(tmp_path / "plain.pkl", {"train": 90, "valid": 45, "test": 45}, signal=0.3))
    run = train_run(cfg, plain, tmp_path / "run2")
    assert json.loads((run / "summary.json").read_text())["findings"] == []
    # a reference of the run's own config (here a deliberately weak MAE) is checked by evaluate --run as by train
    own = validate_config({**cfg.to_dict(), "references": [{"system": "weak", "metric": "mae", "value": 9.0}]})
    run = train_run(own, plain, tmp_path / "run3", notes=Notes())
    assert any("(weak, )" in f["message"] for f in json.loads((run / "summary.json").read_text())["findings"])
    assert any(f.message.startswith("test predictions:") and "(weak, )" in f.message
               for f in evaluate_run(run, n_resamples=100).findings if f.code == "ABOVE_STATE_OF_THE_ART")


def test_default_config_cross_validates_videos_on_re_encoded_text_and_predicts(tmp_path):
    from affectlab.experiment import load_config
    from affectlab.pipeline import predict_run, train_run

    data = make_mmsa(tmp_path / "m.pkl", {"train": 30, "valid": 15, "test": 15})
    cfg = load_config(CONFIG)
    assert cfg.data.options["text_source"] == "encoder" and cfg.split.kind == "group_kfold"
    run = train_run(cfg, data, tmp_path / "run")
    s = json.loads((run / "summary.json").read_text())
    assert s["model"] == "user_level_kernel" and s["protocol"]["k"] == 5 and s["splits"] == {"oof": 60}
    assert set(s["baselines"]) == {"global_mean", "ridge_text_encoder", "ridge_audio", "ridge_vision"}
    pred = pd.read_csv(run / "predictions.csv", dtype={"id": str})
    # whole videos per fold: no video is split across folds
    assert pred.groupby("group")["fold"].nunique().eq(1).all() and pred["fold"].nunique() == 5
    _, frame = predict_run(run, data, None, split="test")
    assert len(frame) == 15 and frame["pred_sentiment"].between(-3, 3).all()
    # the protocol that keeps test out of every fold and scores it once
    run = train_run(load_config(CONFIG, ["split.test_split=test"]), data, tmp_path / "run-test")
    s = json.loads((run / "summary.json").read_text())
    assert s["splits"] == {"oof": 45, "test": 15} and "test" in s["metrics"] and "test" in s["baselines"]["ridge_audio"]
