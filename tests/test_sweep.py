"""Sweeps: search-space parsing, the Optuna loop with an injected trainer, storage, seeds, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from affectlab.core.errors import AffectlabError
from affectlab.sweep import overrides_for, parse_space, run_sweep, val_score
from conftest import run_cli

pytest.importorskip("optuna")

CONFIG = {"task": "generic", "model": {"name": "user_sequence", "hidden": 64, "cell": "lstm"},
          "training": {"lr": 0.001, "monitor": "ccc"}, "seed": 3}
SPACE = {"training.lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
         "model.hidden": {"type": "int", "low": 16, "high": 128, "step": 16},
         "model.cell": {"type": "categorical", "choices": ["lstm", "gru"]}}


def fake_train(calls: list):
    """A trainer whose validation CCC peaks at lr = 0.01 and prefers gru; it also writes a test value that must be ignored."""

    def train(cfg, data, out, scores_only=False):
        import math

        calls.append((cfg.seed, cfg.training.lr, cfg.model.params(), scores_only))
        val = 0.8 - 0.1 * (math.log10(cfg.training.lr) + 2) ** 2 + (0.05 if cfg.model.params()["cell"] == "gru" else 0)
        out.mkdir(parents=True, exist_ok=True)
        summary = {"selection": {"split": "val", "monitor": "ccc"},
                   "metrics": {"val": {"ccc": val + 0.001 * cfg.seed}, "test": {"ccc": 10.0 - val}}}
        (out / "summary.json").write_text(json.dumps(summary))
        return out

    return train


@pytest.fixture
def files(tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(CONFIG))
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(SPACE))
    data = tmp_path / "data.csv"
    data.write_text("id,y\n1,2\n")
    return cfg, space, data


def test_parse_space_types():
    params = {p.key: p for p in parse_space(SPACE)}
    assert params["training.lr"].log and params["model.hidden"].step == 16
    assert params["model.cell"].choices == ("lstm", "gru")


@pytest.mark.parametrize("space,msg", [
    ({}, "empty"),
    ({"a": {"type": "float", "low": 1}}, "needs high"),
    ({"a": {"type": "float", "low": 2, "high": 1}}, "below high"),
    ({"a": {"type": "float", "low": 0, "high": 1, "log": True}}, "low > 0"),
    ({"a": {"type": "bool"}}, "type must be"),
    ({"a": {"type": "categorical", "choices": []}}, "choices"),
    ({"a": {"type": "int", "low": 0.5, "high": 3}}, "integers"),
    ({"a": {"type": "float", "low": 0, "high": 1, "stepp": 1}}, "unknown field"),
    ({"a..b": {"type": "float", "low": 0, "high": 1}}, "dotted"),
    ({"a": 3}, "mapping"),
])
def test_parse_space_errors(space, msg):
    with pytest.raises(AffectlabError, match=msg):
        parse_space(space)


def test_overrides_keep_types():
    assert overrides_for({"b": 1e-5, "a": True, "c": "gru", "d": 64}) == ["a=true", "b=1.0e-05", "c=gru", "d=64"]


def test_sweep_selects_on_validation_and_reruns_seeds(files, tmp_path):
    cfg, space, data = files
    calls: list = []
    out = tmp_path / "sweep"
    res = run_sweep(cfg, space, data, out, trials=12, seeds=3, train_fn=fake_train(calls))
    assert res.direction == "maximize" and res.monitor == "ccc" and res.n_trials == 12
    assert (out / "optuna.db").is_file() and res.storage.startswith("sqlite:///")
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("trial-")) == [f"trial-{i:04d}" for i in range(12)]
    vals = [val_score(out / f"trial-{i:04d}")[0] for i in range(12)]
    assert res.best_value == pytest.approx(max(vals))  # validation, never the (planted, inverted) test value
    assert res.best_run.endswith(f"trial-{res.best_trial:04d}")
    assert [c[0] for c in calls[-3:]] == [1, 2, 3] and len(res.seed_values) == 3
    assert all(c[1] == res.best_params["training.lr"] for c in calls[-4:])
    # trials and seed runs are scores only; the best config is trained once in full (its own seed)
    assert [c[3] for c in calls] == [True] * 12 + [False] + [True] * 3 and calls[12][0] == 3
    assert res.final_run.endswith("best") and res.final_value == pytest.approx(res.best_value)
    assert json.loads((out / "sweep.json").read_text())["best_trial"] == res.best_trial
    # the study continues in the same storage
    res2 = run_sweep(cfg, space, data, out, trials=2, train_fn=fake_train(calls))
    assert res2.n_trials == 14 and len(calls) == 12 + 4 + 2 + 1


def test_sweep_minimises_error_metrics(files, tmp_path):
    cfg, space, data = files
    raw = yaml.safe_load(cfg.read_text())
    raw["training"]["monitor"] = "mae"
    cfg.write_text(yaml.safe_dump(raw))

    def train(c, d, out, scores_only=False):
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.json").write_text(json.dumps({"selection": {"monitor": "mae"}, "metrics": {"val": {"mae": c.training.lr}}}))

    res = run_sweep(cfg, {"training.lr": {"type": "float", "low": 0.001, "high": 1.0}}, data, tmp_path / "o", trials=6, train_fn=train)
    assert res.direction == "minimize" and res.best_value == pytest.approx(res.best_params["training.lr"])


def test_sweep_bad_key_fails_before_training(files, tmp_path):
    cfg, _, data = files
    calls: list = []
    with pytest.raises(AffectlabError, match="training"):
        run_sweep(cfg, {"training.nonsense": {"type": "int", "low": 1, "high": 3}}, data, tmp_path / "o", trials=2,
                  train_fn=fake_train(calls))
    assert calls == []


def test_sweep_needs_validation(files, tmp_path):
    cfg, space, data = files

    def train(c, d, out, scores_only=False):
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.json").write_text(json.dumps({"selection": {"monitor": "ccc"}, "metrics": {"test": {"ccc": 1}}}))

    with pytest.raises(AffectlabError, match="validation"):
        run_sweep(cfg, space, data, tmp_path / "o", trials=1, train_fn=train)


def test_cli_sweep_errors_are_one_line(files, tmp_path, capsys):
    cfg, space, data = files
    bad = tmp_path / "bad.yaml"
    bad.write_text("training.lr: {type: float, low: 1}\n")
    code, _, err = run_cli(["sweep", cfg, "--space", bad, "--data", data, "--out", tmp_path / "o", "--trials", "1"], capsys)
    assert code == 2 and err.count("\n") == 1 and "needs high" in err
    code, _, err = run_cli(["sweep", cfg, "--space", space, "--data", tmp_path / "none.csv", "--out", tmp_path / "o"], capsys)
    assert code == 2 and "no such file" in err
    code, _, err = run_cli(["sweep", cfg, "--space", space, "--data", data, "--out", tmp_path / "o", "--trials", "1"], capsys)
    assert code == 2 and "missing id column" in err and not (tmp_path / "o").exists()  # the data: before the study
    from conftest import semeval_frame

    semeval_frame().to_csv(data, index=False)
    code, _, err = run_cli(["sweep", cfg, "--space", space, "--data", data, "--out", tmp_path / "o", "--trials", "1",
                            "--storage", "notadb://x"], capsys)
    assert code == 2 and "--storage" in err


@pytest.mark.slow
def test_sweep_end_to_end_with_real_training_then_evaluate_compare_report(tmp_path, capsys):
    """The real trainer: two trials and one seed re-run, then the run directories are evaluated, compared, reported."""
    from conftest import semeval_frame

    data = tmp_path / "train.csv"
    semeval_frame().to_csv(data, index=False)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({"model": {"name": "user_sequence", "user_dim": 4, "proj_dim": 16, "hidden": 8},
                                   "training": {"max_epochs": 2, "batch_size": 4}, "baselines": []}))
    space = tmp_path / "space.yaml"
    space.write_text("model.hidden: {type: categorical, choices: [4, 8]}\ntraining.lr: {type: float, low: 0.001, high: 0.01, log: true}\n")
    out = tmp_path / "sweep"
    code, stdout, err = run_cli(["sweep", cfg, "--space", space, "--data", data, "--out", out, "--trials", "2", "--seeds", "1"], capsys)
    assert code == 0, err
    assert "best trial" in stdout and (out / "trial-0001" / "summary.json").is_file() and (out / "best-seed-1").is_dir()
    code, stdout, err = run_cli(["evaluate", "--run", out / "trial-0000", "--json", "--resamples", "50"], capsys)
    assert code == 0, err
    assert json.loads(stdout)["split"] == "val"
    code, stdout, err = run_cli(["compare", out / "trial-0000", out / "trial-0001", "--resamples", "50"], capsys)
    assert code == 0, err
    assert "Verdict" in stdout
    code, _, err = run_cli(["report", out / "best-seed-1", "--resamples", "50"], capsys)
    assert code == 0, err
    assert (out / "best-seed-1" / "report.html").is_file()


# --------------------------------------------------------------------------- cross-validation, real training

def cv_files(tmp_path, space: dict | None = None, **cfg_changes):
    """A leave-one-speaker-out corpus (6 speakers cross-validated, a 7th set aside as the test split)
    and an RBF SVM config with one C and one gamma (no inner search: a plain SVC per fold)."""
    from test_cross_validation import config, speaker_table

    frame = speaker_table(n_speakers=7, seed=2)
    frame["split"] = np.where(frame["speaker"] == "spk6", "test", "train")
    data = tmp_path / "data.csv"
    frame.to_csv(data, index=False)
    cfg = config("leave_one_group_out", model="svm_tabular", test_split="test")
    cfg["model"] = {"name": "svm_tabular", "C": 1.0, "gamma": 0.5}
    cfg["baselines"] = ["majority"]
    cfg.update(cfg_changes)
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    sp = tmp_path / "space.yaml"
    sp.write_text(yaml.safe_dump(space or {"model.C": {"type": "float", "low": 0.01, "high": 100.0, "log": True},
                                           "model.gamma": {"type": "float", "low": 0.01, "high": 10.0, "log": True}}))
    return path, sp, data, frame


def hand_oof_uar(frame, C: float, gamma: float) -> float:
    """Leave-one-speaker-out over the non-test rows with scikit-learn alone: z-scores from each
    training fold, an RBF SVC, UAR (balanced accuracy) of the pooled out-of-fold predictions."""
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import LeaveOneGroupOut
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    dev = frame[frame["split"] != "test"].reset_index(drop=True)
    X, y = dev[["f_1", "f_2"]].to_numpy(np.float32), dev["emotion"].to_numpy()
    oof = np.empty(len(dev), dtype=object)
    for train, test in LeaveOneGroupOut().split(X, y, dev["speaker"]):
        scaler = StandardScaler().fit(X[train])
        oof[test] = SVC(C=C, gamma=gamma).fit(scaler.transform(X[train]), y[train]).predict(scaler.transform(X[test]))
    return float(balanced_accuracy_score(y, oof.astype(str)))


def test_cv_sweep_scores_each_trial_on_out_of_fold_predictions_like_a_hand_run(tmp_path, capsys):
    """Issue 20.8: under cross-validation every trial's value is the task's primary metric (UAR) of the
    pooled out-of-fold predictions — equal to scikit-learn's on a hand-made leave-one-speaker-out
    run of the same C and gamma — never the set-aside test split; trials are scores-only runs
    (no refit, no baselines, no test); the best config is trained once in full."""
    import optuna

    from affectlab.runs.rundir import RunDir

    cfg, space, data, frame = cv_files(tmp_path)
    out = tmp_path / "sweep"
    code, stdout, err = run_cli(["sweep", cfg, "--space", space, "--data", data, "--out", out, "--trials", "3", "--json"], capsys)
    assert code == 0, err
    res = json.loads(stdout)
    assert (res["split"], res["monitor"], res["direction"]) == ("oof", "score", "maximize")
    study = optuna.load_study(study_name="cfg", storage=f"sqlite:///{out / 'optuna.db'}")
    assert len(study.trials) == 3
    for t in study.trials:
        want = hand_oof_uar(frame, t.params["model.C"], t.params["model.gamma"])
        assert t.value == pytest.approx(want, abs=1e-12)
        run = RunDir.open(out / f"trial-{t.number:04d}")
        s = run.summary()
        assert s.scores_only and not s.refit_full and "test" not in s.metrics and s.timings.refit is None
        assert run.checkpoint()["state"] is None and not (run.path / "baselines.csv").exists()
        assert s.protocol.final_model.startswith("none")
        assert "trial" in err and f"oof score = {t.value:.4f}" in err
    assert res["best_value"] == pytest.approx(max(t.value for t in study.trials))
    # the best config in full: the same out-of-fold score, its baselines, the refitted model scoring test once
    best = RunDir.open(out / "best")
    s = best.summary()
    assert res["final_run"] == str(out / "best") and s.metric("oof", "score") == pytest.approx(res["best_value"])
    assert s.refit_full and not s.scores_only and "test" in s.metrics and "majority" in s.baselines
    assert best.config().model.params()["C"] == pytest.approx(res["best_params"]["model.C"])
    # a trial is no model to predict with: one line; the best run predicts
    code, _, err = run_cli(["predict", out / "trial-0000", "--data", data, "--out", tmp_path / "p.csv"], capsys)
    assert code == 2 and err.count("\n") == 1 and "scores-only run" in err and not (tmp_path / "p.csv").exists()
    code, _, err = run_cli(["predict", out / "best", "--data", data, "--out", tmp_path / "p.csv"], capsys)
    assert code == 0, err


@pytest.mark.parametrize("space, cfg_changes, message", [
    ({"training.lr": {"type": "float", "low": 0.001, "high": 0.1}}, {},
     "training.lr cannot be swept for model svm_tabular: svm_tabular is not a network"),
    ({"training.refit_full": {"type": "categorical", "choices": [True, False]}}, {"model": {"name": "mlp"}},
     "changes the saved checkpoint only"),
    ({"split.seed": {"type": "int", "low": 0, "high": 3}}, {}, "every trial must be scored on the same folds"),
    ({"seed": {"type": "int", "low": 0, "high": 3}}, {}, "a seed is no hyper-parameter"),
    ({"baselines": {"type": "categorical", "choices": ["majority"]}}, {}, "feeds the baselines only"),
    ({"model.C": {"type": "float", "low": -1.0, "high": 1.0}}, {}, "search space point model.C=-1.0: model svm_tabular: C: Input should be greater than 0"),
    ({"model.kernel": {"type": "categorical", "choices": ["rbf", "poly"]}}, {}, "search space point model.kernel=poly"),
    # an int-typed key swept as a float: the bounds pass, the interior value (3.33) would fail trial k
    ({"model.inner_folds": {"type": "float", "low": 2.0, "high": 6.0}}, {}, "model.inner_folds=3.3"),
    # a list choice (a grid) is checked like any other point
    ({"model.C": {"type": "categorical", "choices": [[1.0], [-2.0]]}}, {}, "search space point model.C=[-2.0]"),
    ({"model.C": {"type": "int", "low": 1, "high": 64, "log": True, "step": 2}}, {}, "step and log cannot be combined"),
    ({"model.name": {"type": "categorical", "choices": ["svm_tabular", "ridge_tabular"]}}, {},
     "search space point model.name=ridge_tabular"),
    # a hold-out protocol that finds no validation split in the data
    ({"model.C": {"type": "float", "low": 0.1, "high": 1.0}}, {"split": {"kind": "given"}}, "finds no validation split"),
])
def test_what_sweep_cannot_do_is_refused_before_any_trial(tmp_path, capsys, space, cfg_changes, message):
    cfg, sp, data, _ = cv_files(tmp_path, space, **cfg_changes)
    out = tmp_path / "sweep"
    code, _, err = run_cli(["sweep", cfg, "--space", sp, "--data", data, "--out", out, "--trials", "2"], capsys)
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert not out.exists()  # no trial directory, no study database
