"""Cross-validation protocols: one out-of-fold prediction per sample, selection inside training folds,
pooled and per-fold scores that match scikit-learn on predictions.csv, and bad protocols refused."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import balanced_accuracy_score

from affectlab.config import RunConfig
from affectlab.corpus import Corpus, TargetSpec, cross_validation_folds
from affectlab.models.base import Estimator, FitContext, FitResult
from affectlab.models.registry import MODELS
from affectlab.pipeline import train_run

from conftest import run_cli

CLASSES = ("anger", "joy", "sadness")
#: (ids it was fitted on, ids it predicted) for every fit of the spy model, in order
SPY_LOG: list[dict[str, set[str]]] = []


@MODELS.register("test_cv_spy")
class SpyNearestMean(Estimator):
    """Nearest class mean on the tabular features; records which rows it saw (selection included)."""

    is_neural = True  # so the protocol carves out an inner validation part for it
    target_kinds = frozenset({"regression", "category"})
    needs_features = ("tabular",)

    def fit(self, train: Corpus, val: Corpus | None, ctx: FitContext) -> FitResult:
        seen = set(train.frame["id"]) | (set(val.frame["id"]) if val is not None else set())
        SPY_LOG.append({"fit": seen, "predict": set()})
        x, y = train.features["tabular"], train.target_matrix()[:, 0]
        self.means = np.stack([x[y == c].mean(axis=0) for c in range(len(CLASSES))])
        return FitResult(best_epoch=2 if val is not None else ctx.fixed_epochs or 0)

    def predict(self, corpus: Corpus) -> np.ndarray:
        SPY_LOG[-1]["predict"] |= set(corpus.frame["id"])
        d = ((corpus.features["tabular"][:, None, :] - self.means[None]) ** 2).sum(-1)
        return d.argmin(axis=1).astype(float)[:, None]

    def state(self) -> dict[str, Any]:
        return {"means": self.means.tolist()}

    def load_state(self, state: dict[str, Any]) -> None:
        self.means = np.asarray(state["means"])


def speaker_table(n_speakers: int = 6, per_class: int = 5, seed: int = 0) -> pd.DataFrame:
    """Three separable-ish classes spoken by every speaker, with a speaker offset on the features."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_speakers):
        offset = rng.normal(0, 0.3, 2)
        for c, name in enumerate(CLASSES):
            for i in range(per_class):
                f = np.array([c, -c]) + offset + rng.normal(0, 0.6, 2)
                rows.append({"rid": f"s{s}_{name}_{i}", "speaker": f"spk{s}", "f_1": f[0], "f_2": f[1],
                             "emotion": name, "level": c + rng.normal(0, 0.3)})
    return pd.DataFrame(rows)


def config(kind: str = "leave_one_group_out", model: str = "test_cv_spy", **split: Any) -> dict[str, Any]:
    return {
        "task": "classification",
        "data": {"format": "table", "columns": {"id": "rid", "group": "speaker"}, "options": {"features": ["f_*"]},
                 "targets": [{"name": "emotion", "kind": "category", "classes": list(CLASSES)}]},
        "split": {"kind": kind, **split},
        "model": {"name": model},
        "baselines": [],
    }


def test_leave_one_group_out_predicts_each_sample_once_from_a_model_that_never_saw_it(tmp_path):
    SPY_LOG.clear()
    frame = speaker_table()
    run = train_run(RunConfig.model_validate(config()), frame, tmp_path / "run")
    pred = pd.read_csv(run / "predictions.csv", dtype={"id": str})
    assert sorted(pred["id"]) == sorted(frame["rid"]) and (pred["split"] == "oof").all()
    assert set(pred["fold"]) == set(range(1, 7))
    # every fold's model (selection part included) saw none of the rows it predicted
    fold_fits = SPY_LOG[:6]
    for fit in fold_fits:
        assert fit["predict"] and not (fit["fit"] & fit["predict"])
    # one held-out speaker per fold, and the fold column says which
    assert pred.groupby("fold")["group"].nunique().eq(1).all()
    # the final model is refitted on everything, for the median selected epoch
    assert SPY_LOG[6]["fit"] == set(frame["rid"])
    summary = json.loads((run / "summary.json").read_text())
    assert summary["protocol"]["kind"] == "leave_one_group_out" and summary["protocol"]["n_folds"] == 6
    assert summary["best_epoch"] == 2


def test_pooled_and_fold_scores_match_scikit_learn_on_predictions_csv(tmp_path):
    run = train_run(RunConfig.model_validate(config()), speaker_table(seed=1), tmp_path / "run")
    pred = pd.read_csv(run / "predictions.csv", dtype={"id": str})
    summary = json.loads((run / "summary.json").read_text())
    uar = balanced_accuracy_score(pred["emotion"], pred["pred_emotion"])
    assert summary["metrics"]["oof"]["uar_emotion"] == pytest.approx(uar)
    assert summary["metrics"]["oof"]["score"] == pytest.approx(uar)
    ci = summary["cis"]["pooled"]["uar_emotion"]
    assert ci["ci_low"] <= uar <= ci["ci_high"]
    for fold in summary["folds"]:
        part = pred[pred["fold"] == fold["index"]]
        assert fold["metrics"]["test"]["accuracy_emotion"] == pytest.approx((part["emotion"] == part["pred_emotion"]).mean())
        assert fold["groups"] == sorted(set(part["group"]))


def test_group_kfold_seed_redraws_the_folds_and_says_what_varied(tmp_path):
    frame = speaker_table(n_speakers=8)
    a = train_run(RunConfig.model_validate(config("group_kfold", k=4, seed=0)), frame, tmp_path / "a")
    b = train_run(RunConfig.model_validate(config("group_kfold", k=4, seed=5)), frame, tmp_path / "b")
    fa = pd.read_csv(a / "predictions.csv").groupby("group")["fold"].first()
    fb = pd.read_csv(b / "predictions.csv").groupby("group")["fold"].first()
    assert not fa.equals(fb)
    protocol = json.loads((a / "summary.json").read_text())["protocol"]
    assert "fold assignment" in protocol["varied"] and protocol["k"] == 4


def test_kfold_ignores_groups():
    c = Corpus(pd.DataFrame({"id": list("abcdef"), "group": ["x"] * 6, "order": range(6)}))
    masks = cross_validation_folds(c, "kfold", 3, seed=0)
    assert [int(m.sum()) for m in masks] == [2, 2, 2] and np.logical_or.reduce(masks).all()


@pytest.mark.parametrize("case, message", [
    ("no_group", "needs a group column"),
    ("few_groups", "needs at least 7 groups; the data has 6"),
    ("class_missing", "never occurs in its training part"),
    ("bad_label", "is not one of the declared classes"),
])
def test_bad_protocols_are_one_line_errors_before_any_work(tmp_path, capsys, case, message):
    frame = speaker_table()
    cfg = config("group_kfold", k=7) if case == "few_groups" else config()
    if case == "no_group":
        del cfg["data"]["columns"]["group"]
    if case == "class_missing":  # only one speaker ever says "sadness"
        frame = frame[(frame["emotion"] != "sadness") | (frame["speaker"] == "spk0")]
    if case == "bad_label":
        frame.loc[3, "emotion"] = "jealousy"
    frame.to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    code, out, err = run_cli(["train", str(tmp_path / "cfg.yaml"), "--data", str(tmp_path / "data.csv"),
                              "--out", str(tmp_path / "run")], capsys)
    assert code == 2 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_a_model_that_cannot_predict_categories_says_so(tmp_path, capsys):
    cfg = config(model="global_mean")
    speaker_table().to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    code, _, err = run_cli(["train", str(tmp_path / "cfg.yaml"), "--data", str(tmp_path / "data.csv"),
                            "--out", str(tmp_path / "run")], capsys)
    assert code == 2 and "cannot predict category target 'emotion'" in err


def test_predict_on_a_cross_validation_run_uses_the_final_model_and_writes_class_names(tmp_path):
    from affectlab.pipeline import predict_run

    frame = speaker_table()
    run = train_run(RunConfig.model_validate(config()), frame, tmp_path / "run")
    _, out = predict_run(run, frame.drop(columns=["emotion"]), tmp_path / "pred.csv")
    assert set(out["pred_emotion"]) <= set(CLASSES)
    assert (out["pred_emotion"] == frame["emotion"]).mean() > 0.6
    assert TargetSpec("emotion", kind="category", classes=CLASSES).encode(out["pred_emotion"]).max() <= 2


def test_cross_validation_with_a_test_split_touches_test_once_with_the_final_model(tmp_path):
    """split.test_split: folds over the other rows only; the final model (refitted on them) predicts test once."""
    SPY_LOG.clear()
    frame = speaker_table(n_speakers=7)
    frame["split"] = np.where(frame["speaker"].isin(["spk5", "spk6"]), "test", "train")
    test_ids = set(frame.loc[frame["split"] == "test", "rid"])
    dev_ids = set(frame["rid"]) - test_ids
    run = train_run(RunConfig.model_validate(config("group_kfold", k=5, test_split="test")), frame, tmp_path / "run")
    folds, final = SPY_LOG[:5], SPY_LOG[5:]
    # no fold trains, selects (inner validation) or is scored on a test row
    for fit in folds:
        assert not (fit["fit"] & test_ids) and not (fit["predict"] & test_ids) and fit["predict"] <= dev_ids
    assert set().union(*(f["predict"] for f in folds)) == dev_ids
    # one final model, fitted on exactly the cross-validated rows, is the only one that predicts test
    assert len(final) == 1 and final[0]["fit"] == dev_ids and final[0]["predict"] == test_ids
    pred = pd.read_csv(run / "predictions.csv", dtype={"id": str})
    test = pred[pred["split"] == "test"]
    assert set(test["id"]) == test_ids and (test["fold"] == 0).all() and len(test) == len(test_ids)
    assert set(pred.loc[pred["split"] == "oof", "id"]) == dev_ids
    s = json.loads((run / "summary.json").read_text())
    assert s["splits"] == {"oof": len(dev_ids), "test": len(test_ids)} and s["protocol"]["test_split"] == "test"
    assert s["selection"]["test_used_for_selection"] is False
    uar = balanced_accuracy_score(test["emotion"], test["pred_emotion"])
    assert s["metrics"]["test"]["uar_emotion"] == pytest.approx(uar)
    assert s["cis"]["test"]["uar_emotion"]["ci_low"] <= uar <= s["cis"]["test"]["uar_emotion"]["ci_high"]
    # evaluate --run scores the test rows (once written, never used to choose anything)
    from affectlab.runs.evaluate import evaluate_run

    assert evaluate_run(run, n_resamples=50).split == "test"


def test_test_users_the_final_model_was_fitted_on_count_as_seen(tmp_path):
    """With split.test_split the final model is refitted on every cross-validated row, so a test
    user among them is seen: the test metrics' seen/unseen subsets say so, as predictions.csv does."""
    from conftest import semeval_frame

    frame = semeval_frame()
    frame["split"] = np.where(frame.groupby("user_id").cumcount(ascending=False) < 3, "test", "train")
    targets = [{"name": "valence", "low": -2, "high": 2}, {"name": "arousal", "low": 0, "high": 2}]
    cfg = RunConfig.model_validate({
        "task": "semeval", "model": {"name": "group_mean"}, "baselines": ["global_mean"],
        "data": {"format": "table", "targets": targets,
                 "columns": {"id": "text_id", "group": "user_id", "text": "text", "split": "split"}},
        "split": {"kind": "group_kfold", "k": 3, "test_split": "test"}})
    run = train_run(cfg, frame, tmp_path / "run")
    s = json.loads((run / "summary.json").read_text())
    test = pd.read_csv(run / "predictions.csv").query("split == 'test'")
    assert test["seen"].all()  # every test user also has training texts
    for scores in (s["metrics"]["test"], s["baselines"]["global_mean"]["test"]):
        assert scores["seen/score"] == pytest.approx(scores["score"])
        assert not any(key.startswith("unseen/") for key in scores)


@pytest.mark.parametrize("split, message", [
    ({"kind": "group_kfold", "test_split": "heldout"}, "split.test_split is 'heldout', but the file has no such split"),
    ({"kind": "given", "test_split": "test"}, "test_split applies to the cross-validation kinds"),
])
def test_bad_test_split_is_one_line(tmp_path, capsys, split, message):
    frame = speaker_table()
    frame["split"] = np.where(frame["speaker"] == "spk5", "test", "train")
    cfg = config(**split)
    frame.to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    code, _, err = run_cli(["train", str(tmp_path / "cfg.yaml"), "--data", str(tmp_path / "data.csv"),
                            "--out", str(tmp_path / "run")], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "run").exists()


def test_selected_hyper_parameters_are_recorded_per_fold_and_for_the_refit(tmp_path, capsys):
    """Issue 20.7: the C each training fold chose (by its own inner group CV) and the final model's,
    in summary.json and train's output."""
    from affectlab.models.classifiers import LOGISTIC_CS
    from affectlab.runs.rundir import RunDir

    frame = speaker_table()
    frame.to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(config(model="logistic_tabular")))
    code, out, err = run_cli(["train", str(tmp_path / "cfg.yaml"), "--data", str(tmp_path / "data.csv"),
                              "--out", str(tmp_path / "run")], capsys)
    assert code == 0, err
    summary = RunDir.open(tmp_path / "run").summary()
    chosen = summary.selected_settings()
    assert len(chosen["folds"]) == len(summary.folds) == 6
    assert all(fold["C"] in LOGISTIC_CS for fold in chosen["folds"]) and chosen["refit"]["C"] in LOGISTIC_CS
    raw = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert raw["folds"][0]["fit"]["selected"][0]["C"] == chosen["folds"][0]["C"]
    assert raw["fit"]["refit"]["selected"][0]["C"] == chosen["refit"]["C"]
    line = summary.selection_line()
    assert line.startswith("selected C: ") and f"refit on all data: C {chosen['refit']['C']:.3g}" in line
    assert line in out + err
