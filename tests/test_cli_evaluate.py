"""``affectlab evaluate``: JSON contract, planted faults, bad input (one line, exit 2), run directories."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from conftest import run_cli
from test_evaluation_helpers import make_run_dir, write_semeval_pair

R = ["--resamples", "100"]


def _json(capsys, args):
    code, out, err = run_cli(["evaluate", *args, "--json", *R], capsys)
    assert code == 0, err
    return json.loads(out)


def _codes(obj, severities=("warning", "error")):
    # the synthetic "clean" predictions here (gold + small noise) score beyond the tasks' published
    # results, which ABOVE_STATE_OF_THE_ART rightly says; that finding is tested in test_evaluation_diagnostics
    return sorted({f["code"] for f in obj["findings"] if f["severity"] in severities and f["code"] != "ABOVE_STATE_OF_THE_ART"})


def test_clean_semeval_file_json_contract(tmp_path, capsys):
    gold, train, pred = write_semeval_pair(tmp_path)
    obj = _json(capsys, ["--pred", pred, "--gold", gold, "--train", train])
    assert {"metrics", "findings"} <= set(obj) and obj["task"] == "semeval"
    assert _codes(obj) == []
    for f in obj["findings"]:
        assert set(f) == {"code", "severity", "message"} and "\n" not in f["message"]
    m = obj["metrics"]["pearson_valence"]
    g, p = pd.read_csv(gold), pd.read_csv(pred)
    assert m["value"] == pytest.approx(stats.pearsonr(g.valence, p.pred_valence)[0])
    assert m["ci_low"] < m["value"] < m["ci_high"]
    assert obj["resampled"] == "users" and obj["n_groups"] == 30
    # every evaluated user is unseen: a per-user mean would equal the train mean, so it is not offered
    assert "train mean" in obj["baselines"] and "train user mean" not in obj["baselines"]


def test_task_detected_and_human_output(tmp_path, capsys):
    gold, _, pred = write_semeval_pair(tmp_path)
    code, out, err = run_cli(["evaluate", "--pred", pred, "--gold", gold, *R], capsys)
    assert code == 0, err
    assert "semeval" in out and "score" in out and "gold mean (oracle)" in out


def test_planted_faults(tmp_path, capsys):
    gold, train, pred = write_semeval_pair(tmp_path)
    p = pd.read_csv(pred)
    g = pd.read_csv(gold)
    cases = {
        "sign": p.assign(pred_valence=-p.pred_valence),
        "collapsed": p.assign(pred_arousal=1.0 + 0.01 * (p.pred_arousal - 1)),
        "shrunk": p.assign(pred_valence=g.valence.mean() + 0.4 * (g.valence.to_numpy() - g.valence.mean())),
    }
    expected = {"sign": "SIGN_INVERTED", "collapsed": "COLLAPSED_PREDICTIONS", "shrunk": "SCALE_MISMATCH"}
    for name, frame in cases.items():
        path = tmp_path / f"{name}.csv"
        frame.to_csv(path, index=False)
        # SemEval's score is a correlation: SCALE_MISMATCH is info there (tests/test_train_edges.py)
        assert expected[name] in _codes(_json(capsys, ["--pred", path, "--gold", gold]), ("info", "warning", "error")), name
    # tiny test set
    g.iloc[:12].to_csv(tmp_path / "gold_tiny.csv", index=False)
    p.iloc[:12].to_csv(tmp_path / "tiny.csv", index=False)
    assert "SMALL_SAMPLE" in _codes(_json(capsys, ["--pred", tmp_path / "tiny.csv", "--gold", tmp_path / "gold_tiny.csv"]))
    # overlapping train and test ids (and texts)
    t = pd.read_csv(train)
    pd.concat([g, t.iloc[:20]]).to_csv(tmp_path / "gold_leak.csv", index=False)
    leak = pd.concat([p, t.iloc[:20][["user_id", "text_id"]].assign(pred_valence=t.valence[:20], pred_arousal=t.arousal[:20])])
    leak.to_csv(tmp_path / "leak.csv", index=False)
    obj = _json(capsys, ["--pred", tmp_path / "leak.csv", "--gold", tmp_path / "gold_leak.csv", "--train", train])
    assert {"LEAKAGE_ID_OVERLAP", "LEAKAGE_TEXT_OVERLAP"} <= set(_codes(obj))
    assert any(f["code"] == "LEAKAGE_GROUP_OVERLAP" and f["severity"] == "info" for f in obj["findings"])


def test_nan_prediction_is_a_finding_and_rows_are_dropped(tmp_path, capsys):
    gold, _, pred = write_semeval_pair(tmp_path)
    p = pd.read_csv(pred)
    p.loc[4, "pred_valence"] = np.nan
    p.to_csv(tmp_path / "nan.csv", index=False)
    obj = _json(capsys, ["--pred", tmp_path / "nan.csv", "--gold", gold])
    [f] = [f for f in obj["findings"] if f["code"] == "NONFINITE_INPUTS"]
    assert f["severity"] == "error" and "data row 5" in f["message"]
    assert obj["n"] == len(p) - 1


def test_mosi_csv_and_pickle_gold(tmp_path, capsys):
    rng = np.random.default_rng(0)
    ids = [f"vid{v}$_${c}" for v in range(20) for c in range(12)]
    y = np.clip(rng.normal(0, 1.5, len(ids)), -3, 3)
    pd.DataFrame({"id": ids, "sentiment": y}).to_csv(tmp_path / "gold.csv", index=False)
    pd.DataFrame({"id": ids, "pred_sentiment": y + rng.normal(0, 0.6, len(ids))}).to_csv(tmp_path / "pred.csv", index=False)
    obj = _json(capsys, ["--pred", tmp_path / "pred.csv", "--gold", tmp_path / "gold.csv"])
    assert obj["task"] == "mosi" and obj["resampled"] == "videos" and obj["n_groups"] == 20
    assert "acc2_nonneg" in obj["metrics"] and _codes(obj) == []
    part = {"id": ids, "raw_text": ["t"] * len(ids), "text": np.zeros((len(ids), 1, 4), np.float32),
            "regression_labels": y.astype(np.float32)}
    other = {"id": ["x$_$1", "x$_$2", "x$_$3"], "raw_text": ["a", "b", "c"], "text": np.zeros((3, 1, 4), np.float32),
             "regression_labels": np.array([0.5, -1.0, 2.0], np.float32)}
    (tmp_path / "gold.pkl").write_bytes(pickle.dumps({"train": other, "test": part}))
    obj2 = _json(capsys, ["--pred", tmp_path / "pred.csv", "--gold", tmp_path / "gold.pkl"])
    assert obj2["n"] == len(ids) and _codes(obj2) == []
    assert obj2["metrics"]["mae"]["value"] == pytest.approx(obj["metrics"]["mae"]["value"], abs=1e-5)
    assert "train mean" in obj2["baselines"]  # the pickle's own train split
    # predictions that also cover the pickle's training samples
    leak = pd.DataFrame({"id": ids + other["id"][:2], "pred_sentiment": list(y) + [0.5, -1.0]})
    leak.to_csv(tmp_path / "leak.csv", index=False)
    # one score over two splits would mix them: refused, naming the splits and --split
    code, _, err = run_cli(["evaluate", "--pred", tmp_path / "leak.csv", "--gold", tmp_path / "gold.pkl"], capsys)
    assert code == 2 and "cover several splits of gold.pkl: test (240 rows), train (2 rows)" in err and "--split test" in err
    obj3 = _json(capsys, ["--pred", tmp_path / "leak.csv", "--gold", tmp_path / "gold.pkl", "--split", "test"])
    assert obj3["split"] == "test" and obj3["n"] == len(ids) and "OTHER_SPLITS_LEFT_OUT" in _codes(obj3, ("info",))
    # leak.csv predicts the gold itself (the pickle stores it as float32): MAE by hand on the test rows
    assert obj3["metrics"]["mae"]["value"] == pytest.approx(np.abs(y.astype(np.float32).astype(float) - y).mean(), abs=1e-9)


def test_generic_with_group_column(tmp_path, capsys):
    rng = np.random.default_rng(1)
    n = 240
    y = rng.normal(size=n)
    pd.DataFrame({"id": range(n), "speaker": np.repeat(range(12), 20), "score": y}).to_csv(tmp_path / "g.csv", index=False)
    pd.DataFrame({"id": range(n), "pred_score": y + rng.normal(0, 0.4, n)}).to_csv(tmp_path / "p.csv", index=False)
    obj = _json(capsys, ["--pred", tmp_path / "p.csv", "--gold", tmp_path / "g.csv"])
    assert obj["task"] == "regression" and obj["n_groups"] == 12 and "ccc_score" in obj["metrics"]


def test_partial_predictions_are_scored_with_a_warning(tmp_path, capsys):
    gold, _, pred = write_semeval_pair(tmp_path)
    pd.read_csv(pred).iloc[:-3].to_csv(tmp_path / "part.csv", index=False)
    obj = _json(capsys, ["--pred", tmp_path / "part.csv", "--gold", gold])
    assert _codes(obj) == ["MISSING_PREDICTIONS"] and obj["n"] == len(pd.read_csv(gold)) - 3


@pytest.mark.parametrize("case", ["missing_col", "unmatched", "extra_pred", "non_numeric", "empty", "header_only",
                                  "dup", "no_file", "bad_task", "no_gold", "all_nan"])
def test_bad_input_one_line_exit_2(tmp_path, capsys, case):
    gold, _, pred = write_semeval_pair(tmp_path)
    p = pd.read_csv(pred)
    bad = tmp_path / "bad.csv"
    args = ["--pred", bad, "--gold", gold]
    if case == "missing_col":
        p.drop(columns="pred_arousal").to_csv(bad, index=False)
        args += ["--task", "semeval"]
    elif case == "unmatched":
        p.assign(text_id=p.text_id + 10**6).to_csv(bad, index=False)
    elif case == "extra_pred":
        pd.concat([p, p.iloc[:1].assign(text_id=99999)]).to_csv(bad, index=False)
    elif case == "non_numeric":
        p.astype({"pred_valence": str}).assign(pred_valence=lambda f: f.pred_valence.where(f.index != 2, "high")).to_csv(bad, index=False)
    elif case == "empty":
        bad.write_text("")
    elif case == "header_only":
        bad.write_text("user_id,text_id,pred_valence,pred_arousal\n")
    elif case == "dup":
        pd.concat([p, p.iloc[:1]]).to_csv(bad, index=False)
    elif case == "no_file":
        args = ["--pred", tmp_path / "nope.csv", "--gold", gold]
    elif case == "bad_task":
        p.to_csv(bad, index=False)
        args += ["--task", "imdb"]
    elif case == "no_gold":
        args = ["--pred", pred]
    elif case == "all_nan":
        p.assign(pred_valence=np.nan).to_csv(bad, index=False)
    code, out, err = run_cli(["evaluate", *args, "--json", *R], capsys)
    assert code == 2, (case, out, err)
    assert err.startswith("affectlab: error:") and err.count("\n") == 1 and "Traceback" not in err


def test_run_directory_adds_run_level_checks(tmp_path, capsys):
    clean = make_run_dir(tmp_path / "clean")
    obj = _json(capsys, ["--run", clean])
    assert obj["split"] == "test" and _codes(obj) == []
    assert "global_mean" in obj["baselines"] and "train mean" not in obj["baselines"]
    bad = make_run_dir(tmp_path / "bad", overfit=True, selection_split="test", val_shift=0.0)
    codes = _codes(_json(capsys, ["--run", bad]))
    assert {"OVERFITTING", "TEST_USED_FOR_SELECTION"} <= set(codes)
    shifted = make_run_dir(tmp_path / "shift", noise=0.2)
    s = json.loads((shifted / "summary.json").read_text())
    s["metrics"]["val"]["score"] = s["metrics"]["test"]["score"] - 0.4
    (shifted / "summary.json").write_text(json.dumps(s))
    assert "VAL_TEST_MISMATCH" in _codes(_json(capsys, ["--run", shifted]))
    code, _, err = run_cli(["evaluate", "--run", tmp_path / "nope"], capsys)
    assert code == 2 and "no such run directory" in err


def test_run_directory_scale_mismatch_offers_validation_recalibration(tmp_path, capsys):
    run = make_run_dir(tmp_path / "r", noise=0.2)
    pred = pd.read_csv(run / "predictions.csv")
    pred["pred_valence"] = 0.3 * pred["pred_valence"] + 0.5
    pred.to_csv(run / "predictions.csv", index=False)
    obj = _json(capsys, ["--run", run])
    [f] = [f for f in obj["findings"] if f["code"] == "SCALE_MISMATCH"]
    assert "fitted on validation" in f["message"]
    rc = obj["recalibration"]["valence"]
    assert rc["ccc_after"] > rc["ccc_before"] + 0.1


def test_category_files_are_scored_as_classes(tmp_path, capsys):
    from sklearn.metrics import balanced_accuracy_score, f1_score

    rng = np.random.default_rng(3)
    n = 240
    gold = rng.choice(["anger", "joy", "sadness"], n, p=[0.5, 0.3, 0.2])
    good = np.where(rng.random(n) < 0.8, gold, rng.choice(["anger", "joy", "sadness"], n))
    pd.DataFrame({"id": range(n), "speaker": np.repeat(range(8), 30), "emotion": gold}).to_csv(tmp_path / "g.csv", index=False)
    pd.DataFrame({"id": range(n), "pred_emotion": good}).to_csv(tmp_path / "p.csv", index=False)
    pd.DataFrame({"id": range(n), "pred_emotion": ["anger"] * n}).to_csv(tmp_path / "c.csv", index=False)
    obj = _json(capsys, ["--pred", tmp_path / "p.csv", "--gold", tmp_path / "g.csv"])
    assert obj["task"] == "classification" and obj["resampled"] == "groups" and obj["n_groups"] == 8
    assert obj["metrics"]["uar_emotion"]["value"] == pytest.approx(balanced_accuracy_score(gold, good))
    assert obj["metrics"]["macro_f1_emotion"]["value"] == pytest.approx(f1_score(gold, good, average="macro"))
    assert not set(_codes(obj)) & {"CLASS_COLLAPSE", "AT_CHANCE", "BELOW_MAJORITY"}
    collapsed = _json(capsys, ["--pred", tmp_path / "c.csv", "--gold", tmp_path / "g.csv"])
    assert {"CLASS_COLLAPSE", "AT_CHANCE"} <= set(_codes(collapsed))


def test_cross_validation_run_is_scored_on_its_out_of_fold_predictions(tmp_path, capsys):
    from sklearn.metrics import balanced_accuracy_score

    from cv_run_helpers import make_cv_run_dir

    run = make_cv_run_dir(tmp_path / "cv")
    obj = _json(capsys, ["--run", run])
    pred = pd.read_csv(run / "predictions.csv")
    assert obj["split"] == "oof" and obj["task"] == "classification" and obj["n_groups"] == 6
    assert obj["metrics"]["uar_emotion"]["value"] == pytest.approx(balanced_accuracy_score(pred["emotion"], pred["pred_emotion"]))
    assert "majority" in obj["baselines"]
    # selection inside the training folds is no test selection; per-fold epochs are no growing train-val gap
    assert not {"TEST_USED_FOR_SELECTION", "OVERFITTING"} & {f["code"] for f in obj["findings"]}
    code, out, err = run_cli(["evaluate", "--run", run, *R], capsys)
    assert code == 0 and "uar_emotion" in out, err
    overfit = make_cv_run_dir(tmp_path / "overfit", overfit=True)
    assert "OVERFITTING" in _codes(_json(capsys, ["--run", overfit]))
