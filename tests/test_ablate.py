"""``affectlab ablate``: planning (changes, ignored keys, invalid single changes), Optuna trials,
paired effects over seeds and shared samples, the interaction, the report and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from affectlab.ablate import plan_ablation, run_ablation, trial_config
from affectlab.core.errors import AffectlabError
from affectlab.runs.used_keys import ignored_reason
from conftest import run_cli
from test_evaluation_helpers import make_run_dir

pytest.importorskip("optuna")

BASE = {"task": "semeval", "name": "v1", "model": {"name": "user_sequence", "hidden": 64},
        "training": {"lr": 0.001, "max_epochs": 1}, "seed": 7}
NEW = {"task": "semeval", "name": "v2", "model": {"name": "user_sequence", "hidden": 128},
       "training": {"lr": 0.002, "max_epochs": 1, "refit_full": False}, "baselines": ["global_mean"], "seed": 9}


def write(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg))
    return path


def fake_train(calls: list):
    """Gold rows depend on the split seed only; predictions on the model seed and ``model.hidden``
    (128: noise 0.3, else 1.0). ``training.lr`` changes nothing, so its effect is exactly 0."""

    def train(cfg, data, out):
        calls.append((cfg.seed, cfg.split.seed, cfg.model.params()["hidden"], cfg.training.lr,
                      cfg.training.refit_full, cfg.baselines))
        hidden = cfg.model.params()["hidden"]
        make_run_dir(out, seed=cfg.split.seed, pred_seed=100 * cfg.seed + hidden, noise=0.3 if hidden == 128 else 1.0,
                     n_users=24, per_user=6, test=False)
        return out

    return train


@pytest.fixture
def pair(tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("user_id,text\n1,hi\n")
    return write(tmp_path / "v1.yaml", BASE), write(tmp_path / "v2.yaml", NEW), data


def test_ignored_reason_follows_the_model_schema():
    kernel = {"model": {"name": "user_level_kernel"}}
    assert "not a network" in ignored_reason("training.batch_size", kernel)
    assert ignored_reason("model.folds", kernel) is None and ignored_reason("model.hidden", kernel) == "not a parameter of user_level_kernel"
    assert ignored_reason("training.batch_size", {"model": {"name": "user_sequence"}}) is None
    assert ignored_reason("training.refit_full", {"model": {"name": "mlp"}}).startswith("changes the saved checkpoint")
    assert ignored_reason("split.kind", kernel) is None and ignored_reason("name", kernel) == "a label"


def test_plan_changes_ignored_and_variants(pair):
    base, new, _ = pair
    plan = plan_ablation(base, new)
    assert [c.key for c in plan.changes] == ["model.hidden", "training.lr"]
    assert {i["key"] for i in plan.ignored} == {"name", "seed", "baselines", "training.refit_full"}
    # two changes: BASE + hidden is NEW − lr (and the other way round): four distinct configs
    assert sorted(map(sorted, (v.names for v in plan.variants))) == sorted(map(sorted, [
        ["BASE"], ["NEW"], ["BASE + model.hidden", "NEW − training.lr"], ["BASE + training.lr", "NEW − model.hidden"]]))
    cfg = trial_config(plan.variant("BASE + model.hidden"), 3)
    assert (cfg.seed, cfg.split.seed, cfg.model.params()["hidden"], cfg.training.lr) == (3, 3, 128, 0.001)
    assert cfg.baselines == [] and cfg.training.refit_full is False


def test_plan_refusals_and_invalid_single_changes(tmp_path):
    a = write(tmp_path / "a.yaml", BASE)
    with pytest.raises(AffectlabError, match="differ in nothing"):
        plan_ablation(a, write(tmp_path / "same.yaml", {**BASE, "training": {"lr": 0.001, "max_epochs": 1, "batch_size": 16}}))
    kernel = {"task": "semeval", "model": {"name": "user_level_kernel", "folds": 3}}
    k1 = write(tmp_path / "k1.yaml", kernel)
    k2 = write(tmp_path / "k2.yaml", {**kernel, "name": "k2", "training": {"batch_size": 4, "patience": 2}})
    with pytest.raises(AffectlabError, match="only in keys the model ignores.*training.batch_size"):
        plan_ablation(k1, k2)
    # user_sequence (cell gru) -> mlp (hidden [32]): each key alone makes an invalid config
    seq = write(tmp_path / "seq.yaml", {"task": "semeval", "model": {"name": "user_sequence", "cell": "gru", "hidden": 64}})
    mlp = write(tmp_path / "mlp.yaml", {"task": "semeval", "model": {"name": "mlp", "hidden": [32]}})
    plan = plan_ablation(seq, mlp)
    bad = {i["variant"] for i in plan.invalid}
    assert {"BASE + model.name", "BASE + model.hidden", "NEW − model.name", "NEW − model.cell"} <= bad
    assert all(i["error"] for i in plan.invalid)


def test_ablation_effects_against_the_run_scores(pair, tmp_path):
    base, new, data = pair
    calls: list = []
    warnings: list = []
    out = tmp_path / "abl"
    r = run_ablation(base, new, data, out, seeds=3, n_resamples=300, train_fn=fake_train(calls), warn=warnings.append)
    assert len(calls) == 4 * 3 and not warnings  # 4 distinct configs x 3 seeds, each trained once
    assert {c[:2] for c in calls} == {(1, 1), (2, 2), (3, 3)}  # the seed sets model and split seed
    assert all(c[4] is False and c[5] == [] for c in calls)
    rep = r.report
    assert rep["split"] == "val" and rep["metric"] == "score" and rep["seeds"] == [1, 2, 3]
    eff = {e["label"]: e for e in rep["effects"]}

    def val_score(names: str, s: int) -> float:
        v = r.plan.variant(names)
        run = next((out / "runs").glob(f"{v.digest}-*")) / f"seed-{s}" / "summary.json"
        return json.loads(run.read_text())["metrics"]["val"]["score"]

    # independent reference: each run's own val score (all val rows are shared), mean over seeds
    want = np.mean([val_score("BASE + model.hidden", s) - val_score("BASE", s) for s in (1, 2, 3)])
    assert eff["on BASE: model.hidden"]["value"] == pytest.approx(want, abs=1e-9)
    assert eff["on BASE: model.hidden"]["verdict"] == "real: better" and eff["on BASE: model.hidden"]["ci_low"] > 0
    lr = eff["on BASE: training.lr"]  # identical predictions: exactly 0, an interval of [0, 0]
    assert (lr["value"], lr["ci_low"], lr["ci_high"], lr["verdict"]) == (0.0, 0.0, 0.0, "noise")
    total = eff["total: NEW − BASE"]
    assert total["value"] == pytest.approx(np.mean([val_score("NEW", s) - val_score("BASE", s) for s in (1, 2, 3)]))
    assert eff["sum of effects on BASE"]["value"] == pytest.approx(want)
    inter = eff["interaction on BASE"]
    assert inter["value"] == pytest.approx(total["value"] - want, abs=1e-12) and inter["ci_low"] <= 0 <= inter["ci_high"]
    assert eff["in NEW: model.hidden"]["value"] == pytest.approx(want)  # same runs, other context
    assert total["ci_low"] <= total["value"] <= total["ci_high"]
    words = " ".join(json.loads((out / "ablation.json").read_text())["words"])
    assert "REAL (better on BASE and in NEW): model.hidden" in words and "NOISE: training.lr" in words
    md = (out / "ablation.md").read_text()
    assert "| on BASE: model.hidden |" in md and "ignored `baselines`" in md

    # a second call trains nothing more (the study knows every job) and --report-only re-reads the plan
    run_ablation(base, new, data, out, seeds=3, n_resamples=100, train_fn=fake_train(calls))
    again = run_ablation(base, new, data, out, seeds=3, n_resamples=100, report_only=True)
    assert len(calls) == 12 and not again.trained


def test_one_seed_warns_and_gives_no_interval(pair, tmp_path):
    base, new, data = pair
    warnings: list = []
    r = run_ablation(base, new, data, tmp_path / "one", seeds=1, n_resamples=100, train_fn=fake_train([]), warn=warnings.append)
    assert any("no interval can be computed" in w for w in warnings)
    e = next(e for e in r.report["effects"] if e["label"] == "on BASE: model.hidden")
    assert np.isnan(e["ci_low"]) and e["verdict"] == "no interval (one seed)"


def test_failed_trial_is_named_and_the_rest_carry_on(pair, tmp_path):
    base, new, data = pair
    inner = fake_train([])

    def train(cfg, data, out):
        if cfg.training.lr == 0.002 and cfg.model.params()["hidden"] == 64:  # NEW − model.hidden
            raise AffectlabError("out of memory (simulated)")
        return inner(cfg, data, out)

    r = run_ablation(base, new, data, tmp_path / "f", seeds=2, n_resamples=100, train_fn=train)
    assert {f["variant"] for f in r.failed_trials} == {"BASE + training.lr"} or \
        {f["variant"] for f in r.failed_trials} == {"NEW − model.hidden"}
    labels = {e["label"] for e in r.report["effects"]}
    assert "on BASE: model.hidden" in labels and "in NEW: model.hidden" not in labels
    assert any("out of memory" in w for w in r_words(r))


def r_words(r) -> list[str]:
    from affectlab.ablate import words

    return words(r)


def test_cli_table_and_json(pair, tmp_path, capsys, monkeypatch):
    import affectlab.ablate as ab

    base, new, data = pair
    monkeypatch.setattr(ab, "_default_train", fake_train([]))
    monkeypatch.setattr(ab, "_check_data", lambda config, data: None)  # the fake data fit fake_train only
    code, out, err = run_cli(["ablate", base, new, "--data", data, "--seeds", "2", "--out", tmp_path / "c",
                              "--resamples", "100"], capsys)
    assert code == 0, err
    assert "on BASE: model.hidden" in out and "total: NEW − BASE" in out and "interaction on BASE" in out, out
    code, out, err = run_cli(["ablate", base, new, "--data", data, "--seeds", "2", "--out", tmp_path / "c",
                              "--resamples", "100", "--json"], capsys)
    assert code == 0, err
    got = json.loads(out)
    assert got["metric"] == "score" and [c["key"] for c in got["changes"]] == ["model.hidden", "training.lr"]
    code, out, err = run_cli(["ablate", base, new, "--data", data, "--seeds", "1", "--out", tmp_path / "d",
                              "--resamples", "100"], capsys)
    assert code == 0 and "no interval can be computed" in err


def test_real_trials_in_parallel_worker_processes(tmp_path, semeval_csv):
    """Two worker processes share the trials of a closed-form model on a tiny corpus."""
    cfg = {"task": "semeval", "data": {"format": "semeval"}, "split": {"kind": "dev", "unseen_fraction": 0.25,
           "latest_fraction": 0.25}, "model": {"name": "ridge_tfidf", "alphas": [1.0], "min_df": 1}}
    a = write(tmp_path / "a.yaml", cfg)
    b = write(tmp_path / "b.yaml", {**cfg, "model": {**cfg["model"], "alphas": [100.0]}, "training": {"batch_size": 2}})
    r = run_ablation(a, b, semeval_csv, tmp_path / "w", seeds=2, workers=2, n_resamples=100)
    assert [c.key for c in r.plan.changes] == ["model.alphas"] and r.plan.ignored[0]["key"] == "training.batch_size"
    assert len(r.plan.variants) == 2 and not r.failed_trials
    runs = sorted((tmp_path / "w" / "runs").glob("*/seed-*/summary.json"))
    assert len(runs) == 4
    total = next(e for e in r.report["effects"] if e["kind"] == "total")
    assert np.isfinite(total["value"]) and total["ci_low"] <= total["value"] <= total["ci_high"]


def test_partial_results_use_the_seeds_every_config_finished(pair, tmp_path):
    base, new, data = pair
    inner = fake_train([])

    def train(cfg, data, out):
        if cfg.seed == 2 and cfg.model.params()["hidden"] == 128 and cfg.training.lr == 0.001:  # BASE + model.hidden, seed 2
            raise AffectlabError("killed (simulated)")
        return inner(cfg, data, out)

    r = run_ablation(base, new, data, tmp_path / "p", seeds=2, n_resamples=100, train_fn=train)
    eff = {e["label"]: e for e in r.report["effects"]}
    fwd = eff["on BASE: model.hidden"]
    assert fwd["n_seeds"] == 1 and np.isnan(fwd["ci_low"]) and fwd["verdict"] == "no interval (one seed)"
    assert eff["total: NEW − BASE"]["n_seeds"] == 2 and np.isfinite(eff["total: NEW − BASE"]["ci_low"])
    # every change is measured in both contexts (BASE + hidden is NEW − lr): the sums use the seed all their configs share
    assert eff["sum of effects on BASE"]["n_seeds"] == 1 and eff["sum of effects in NEW"]["n_seeds"] == 1
    assert any("1 of 2 seeds finished" in n for n in r.report["notes"])
    assert r.report["per_seed"]["BASE + model.hidden = NEW − training.lr"][1] is None


def test_cross_validation_trials_skip_the_refit_and_keep_their_scores(tmp_path):
    """Issue 20.8: an ablation trial under cross-validation fits the folds only (no final model on
    all data, said in its summary); its out-of-fold scores are those of the full run (with its refit
    and baselines) of the same config and seed, and the effect is their difference."""
    from affectlab.pipeline import train_run
    from affectlab.runs.rundir import RunDir
    from test_cross_validation import config, speaker_table

    data = tmp_path / "data.csv"
    speaker_table(seed=3).to_csv(data, index=False)
    cfg = config("group_kfold", model="svm_tabular", k=3)
    cfg["model"] = {"name": "svm_tabular", "C": 0.1, "gamma": 0.5}
    a = write(tmp_path / "a.yaml", cfg)
    b = write(tmp_path / "b.yaml", {**cfg, "model": {**cfg["model"], "C": 10.0}})
    out = tmp_path / "abl"
    r = run_ablation(a, b, data, out, seeds=2, n_resamples=100)
    assert not r.failed_trials
    for v in r.plan.variants:
        for s in (1, 2):
            trial = RunDir.open(out / "runs" / f"{v.digest}-{v.name}" / f"seed-{s}")
            summary = trial.summary()
            assert summary.scores_only and not summary.refit_full and summary.timings.refit is None
            assert trial.checkpoint()["state"] is None and summary.protocol.n_folds == 3
            # the same config and seed trained in full (refit on all data, a baseline): the same scores
            full = RunDir.open(train_run(trial_config(v, s).model_copy(update={"baselines": ["majority"]}), data,
                                         tmp_path / f"full-{v.digest}-{s}"))
            assert full.summary().refit_full and full.summary().timings.refit is not None
            assert summary.metrics["oof"] == pytest.approx(full.summary().metrics["oof"])
            got = pd.read_csv(trial.path / "predictions.csv")["pred_emotion"]
            assert got.equals(pd.read_csv(full.path / "predictions.csv")["pred_emotion"])
    base, new = r.plan.ends()
    total = next(e for e in r.report["effects"] if e["kind"] == "total")
    b_scores, n_scores = (r.report["per_seed"][" = ".join(v.names)] for v in (base, new))
    want = np.mean([n - b for n, b in zip(n_scores, b_scores)])
    assert total["value"] == pytest.approx(want)
