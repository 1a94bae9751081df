"""``affectlab compare``: versions against criteria, config diff, paired tests, seed groups, epochs, verdicts."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from affectlab.core.errors import AffectlabError
from affectlab.runs.compare import _welch, compare_runs, flatten, read_criteria, status
from conftest import run_cli
from test_evaluation_helpers import make_run_dir


def test_flatten_and_status():
    assert flatten({"a": {"b": {"c": 1}, "d": [1, 2]}, "e": {}}) == {"a.b.c": 1, "a.d": [1, 2], "e": {}}
    lv = {"minimum": 0.5, "target": 0.6, "excellent": 0.7}
    assert [status(v, lv, True) for v in (0.4, 0.55, 0.6, 0.75)] == ["below minimum", "minimum", "target", "excellent"]
    assert status(0.3, {"minimum": 0.5, "target": 0.4}, False) == "target"
    assert status(float("nan"), lv, True) == "n/a"


def test_read_criteria_errors(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("levels:\n  score: {minimum: high}\n")
    with pytest.raises(AffectlabError, match="numbers"):
        read_criteria(bad)
    bad.write_text("levels:\n  score: {best: 1}\n")
    with pytest.raises(AffectlabError, match="minimum"):
        read_criteria(bad)
    bad.write_text("score: {minimum: 0.5}\nsplit: val\n")
    assert read_criteria(bad) == {"levels": {"score": {"minimum": 0.5}}, "split": "val"}


def test_welch_and_permutation_against_scipy():
    a, b = [0.51, 0.53, 0.52, 0.55], [0.47, 0.46, 0.49, 0.48]
    res = _welch(a, b)
    ref = stats.ttest_ind(a, b, equal_var=False)
    assert res["t"] == pytest.approx(ref.statistic) and res["p_welch"] == pytest.approx(ref.pvalue)
    assert res["p_permutation"] == pytest.approx(2 / 70)  # exact: only the two extreme splits of 8 values


def test_compare_versions_diff_pairs_and_verdicts(tmp_path, capsys):
    v1 = make_run_dir(tmp_path / "v1", noise=1.0, pred_seed=11, config={"model": {"hidden": 64}})
    v2 = make_run_dir(tmp_path / "v2", noise=0.3, pred_seed=12, config={"model": {"hidden": 128}})
    v3 = make_run_dir(tmp_path / "v3", noise=0.3, pred_seed=13, config={"model": {"hidden": 128}, "training": {"lr": 0.002}})
    crit = tmp_path / "crit.yaml"
    crit.write_text("levels:\n  score: {minimum: 0.3, target: 0.6, excellent: 0.9}\n")
    cmp = compare_runs([v1, v2, v3], crit, n_resamples=200)
    assert cmp.split == "test" and cmp.runs == ["v1", "v2", "v3"]
    rows = {r["run"]: r for r in cmp.versions}
    s = json.loads((v2 / "summary.json").read_text())["metrics"]
    assert rows["v2"]["score"] == pytest.approx(s["test"]["score"])
    assert rows["v2"]["gap score"] == pytest.approx(s["train"]["score"] - s["test"]["score"])
    assert rows["v2"]["status score"] in ("target", "excellent") and "status score" in rows["v1"]
    diff = {d["key"]: d for d in cmp.config_diff}
    assert set(diff) == {"model.hidden", "training.lr"} and diff["model.hidden"]["v1"] == 64
    head = [p for p in cmp.pairs if p["key"] == "score"]
    assert cmp.reference == "v1" and [(p["a"], p["b"]) for p in head] == [("v2", "v1"), ("v3", "v1")]
    assert head[0]["ci_low"] > 0 and head[0]["p_value"] < 0.05  # much less noise: real
    assert head[1]["ci_low"] > 0  # v3 is tested against the reference, not against v2
    assert head[0]["resampled"].endswith("groups") and head[0]["n_shared"] == head[0]["n_split"]
    assert any(v.startswith("REAL: v2 vs v1") for v in cmp.verdicts)
    # the version table's intervals: the run's own bootstrap over users (same draws as bootstrap_ci)
    from affectlab.evaluation.bootstrap import bootstrap_ci

    pred = __import__("pandas").read_csv(v2 / "predictions.csv")
    part = pred[pred["split"] == "test"]
    ref = bootstrap_ci("r_composite", part["valence"], part["pred_valence"], part["group"].astype(str), n_resamples=200, seed=0)
    assert (rows["v2"]["ci_low r_composite_valence"], rows["v2"]["ci_high r_composite_valence"]) == pytest.approx((ref.low, ref.high))
    assert rows["v2"]["ci_low score"] < rows["v2"]["score"] < rows["v2"]["ci_high score"]

    by_ref = compare_runs([v1, v2, v3], n_resamples=200, reference=v2)
    head = [p for p in by_ref.pairs if p["key"] == "score"]
    assert by_ref.reference == "v2" and [(p["a"], p["b"]) for p in head] == [("v1", "v2"), ("v3", "v2")]
    assert head[0]["ci_high"] < 0 and head[1]["ci_low"] < 0 < head[1]["ci_high"]  # same noise level: noise
    assert any(v.startswith("NOISE: v3 vs v2") for v in by_ref.verdicts)
    every = compare_runs([v1, v2, v3], n_resamples=200, all_pairs=True)
    assert every.reference is None
    assert [(p["a"], p["b"]) for p in every.pairs if p["key"] == "score"] == [("v2", "v1"), ("v3", "v1"), ("v3", "v2")]
    with pytest.raises(AffectlabError, match="not both"):
        compare_runs([v1, v2], reference=v1, all_pairs=True)
    with pytest.raises(AffectlabError, match="--reference nothere"):
        compare_runs([v1, v2], reference="nothere")
    assert {e["run"] for e in cmp.epochs} == {"v1", "v2", "v3"} and sum(e["best"] for e in cmp.epochs) == 3

    code, out, err = run_cli(["compare", v1, v2, v3, "--criteria", crit, "--resamples", "100"], capsys)
    assert code == 0, err
    assert "Config differences" in out and "Verdict" in out and "model.hidden" in out
    code, out, err = run_cli(["compare", v1, v2, "--json", "--resamples", "100", "--no-epochs"], capsys)
    assert code == 0 and json.loads(out)["pairs"]


def test_seed_groups_compared_as_distributions(tmp_path):
    runs = [make_run_dir(tmp_path / f"a{s}", seed=0, pred_seed=s, noise=0.4, config={"seed": s}) for s in (1, 2, 3)]
    runs += [make_run_dir(tmp_path / f"b{s}", seed=0, pred_seed=10 + s, noise=1.2, config={"seed": s, "model": {"hidden": 8}})
             for s in (1, 2, 3)]
    cmp = compare_runs(runs, n_resamples=100)
    assert len(cmp.seed_groups) == 2
    vals = cmp.seed_groups[0]["values"]
    assert cmp.seed_groups[0]["mean"] == pytest.approx(np.mean(vals)) and cmp.seed_groups[0]["sd"] == pytest.approx(np.std(vals, ddof=1))
    [t] = cmp.group_tests
    assert t["p_welch"] < 0.05 and t["diff"] > 0
    assert any(v.startswith("SEEDS:") for v in cmp.verdicts)
    # within a seed group no paired test is run; every run of the other group is paired with the reference a1
    assert {(p["a"], p["b"]) for p in cmp.pairs} == {("b1", "a1"), ("b2", "a1"), ("b3", "a1")}


def test_val_split_when_no_test_and_notes(tmp_path):
    a = make_run_dir(tmp_path / "a", test=False)
    b = make_run_dir(tmp_path / "b", test=False, pred_seed=5)
    cmp = compare_runs([a, b], n_resamples=50)
    assert cmp.split == "val" and any("validation" in n for n in cmp.notes)


def test_compare_bad_input(tmp_path, capsys):
    a = make_run_dir(tmp_path / "a")
    b = make_run_dir(tmp_path / "b", task="generic")
    code, _, err = run_cli(["compare", a, b], capsys)
    assert code == 2 and "different tasks" in err
    code, _, err = run_cli(["compare", a, tmp_path / "missing"], capsys)
    assert code == 2 and err.count("\n") == 1
    (tmp_path / "notrun").mkdir()
    code, _, err = run_cli(["compare", tmp_path / "notrun"], capsys)
    assert code == 2 and "not a run directory" in err


def test_permutation_p_equals_full_enumeration_of_splits():
    from itertools import combinations

    rng = np.random.default_rng(0)
    a, b = rng.normal(0.6, 0.02, 5), rng.normal(0.58, 0.02, 6)
    pooled, obs = np.concatenate([a, b]), a.mean() - b.mean()
    diffs = []
    for idx in combinations(range(11), 5):  # all 462 ways to split 11 runs into groups of 5 and 6
        mask = np.zeros(11, bool)
        mask[list(idx)] = True
        diffs.append(pooled[mask].mean() - pooled[~mask].mean())
    diffs = np.asarray(diffs)
    tol = 1e-12
    expected = min(1.0, 2 * min(np.mean(diffs >= obs - tol), np.mean(diffs <= obs + tol)))
    assert _welch(a, b)["p_permutation"] == pytest.approx(expected)


def test_permutation_p_for_large_groups_is_close_to_the_t_test():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.0, 1.0, 30), rng.normal(0.5, 1.0, 30)  # too many splits: 10000 random ones
    res = _welch(a, b)
    assert res["p_permutation"] == pytest.approx(stats.ttest_ind(a, b).pvalue, abs=0.01)
    assert _welch(a, b) == res  # seeded


def test_cross_validation_runs_compared_on_out_of_fold_predictions(tmp_path, capsys):
    from cv_run_helpers import N_SPEAKERS, PER_SPEAKER, make_cv_run_dir

    weak = make_cv_run_dir(tmp_path / "weak", skill=0.3, pred_seed=1, config={"training": {"max_epochs": 3}})
    strong = make_cv_run_dir(tmp_path / "strong", skill=0.9, pred_seed=2)
    cmp = compare_runs([weak, strong], n_resamples=200)
    assert cmp.split == "oof" and cmp.headline == "score"
    rows = {r["run"]: r for r in cmp.versions}
    summary = json.loads((strong / "summary.json").read_text())
    assert rows["strong"]["uar_emotion"] == pytest.approx(summary["metrics"]["oof"]["uar_emotion"])
    assert rows["strong"]["train score"] is None and rows["strong"]["gap score"] is None
    [head] = [p for p in cmp.pairs if p["key"] == "score"]
    assert (head["a"], head["b"]) == ("strong", "weak") and head["n_shared"] == head["n_split"] == N_SPEAKERS * PER_SPEAKER
    assert head["a_value"] == pytest.approx(summary["metrics"]["oof"]["score"]) and head["ci_low"] > 0
    assert head["resampled"] == f"{N_SPEAKERS} groups"
    assert any(v.startswith("REAL: strong vs weak") for v in cmp.verdicts)
    # one learning curve per run (folds averaged), the selected epoch marked once
    assert [e["epoch"] for e in cmp.epochs if e["run"] == "weak"] == [1, 2, 3, 4, 5]
    assert sum(e["best"] for e in cmp.epochs) == 2
    assert [d["key"] for d in cmp.config_diff] == ["training.max_epochs"]

    crit = tmp_path / "crit.yaml"
    crit.write_text("split: oof\nlevels:\n  uar: {minimum: 0.5}\n")
    code, out, err = run_cli(["compare", weak, strong, "--criteria", crit, "--resamples", "100"], capsys)
    assert code == 0, err
    assert "oof split" in out and "Verdict" in out
    crit.write_text("split: val\n")
    code, _, err = run_cli(["compare", weak, strong, "--criteria", crit], capsys)
    assert code == 2 and "no 'val' metrics" in err


# ---------------------------------------------------------------------------------------------
# Broken runs and NaN metrics

def _with_checkpoint(path):
    import torch

    torch.save({"format": 1}, path / "checkpoint.ckpt")
    return path


@pytest.mark.parametrize("damage, expect", [
    (lambda p: p.unlink(), "predictions.csv: missing"),
    (lambda p: p.write_text(""), "predictions.csv: empty"),
    (lambda p: p.write_bytes(b"\xff\xfe\x00garbage\n\"open"), "predictions.csv: unreadable CSV"),
    (lambda p: p.write_text("split,id,valence\nval,1,0.5\n"), "no column 'pred_valence'"),
    (lambda p: p.write_text(p.read_text().splitlines()[0] + "\n"), "header but no rows"),
    (lambda p: p.write_text(p.read_text()[:-25]), "cut short"),
])
def test_compare_refuses_a_run_with_broken_predictions(tmp_path, capsys, damage, expect):
    a = make_run_dir(tmp_path / "a", pred_seed=1)
    b = make_run_dir(tmp_path / "b", pred_seed=2)
    damage(b / "predictions.csv")
    with pytest.raises(AffectlabError, match=expect):
        compare_runs([a, b], n_resamples=50)
    code, out, err = run_cli(["compare", _with_checkpoint(a), _with_checkpoint(b), "--resamples", "50"], capsys)
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1 and expect.split(":")[-1].strip() in err


def test_compare_shows_nan_metrics_with_their_reason(tmp_path):
    a = make_run_dir(tmp_path / "a", pred_seed=1, config={"seed": 1})
    b = make_run_dir(tmp_path / "b", pred_seed=2, config={"seed": 2})
    c = make_run_dir(tmp_path / "c", pred_seed=3, config={"model": {"hidden": 8}})
    for run in (b, c):
        s = json.loads((run / "summary.json").read_text())
        s["metrics"]["test"]["score"] = None
        s["nan_reasons"] = {"metrics.test.score": "no user has two or more samples in test"}
        (run / "summary.json").write_text(json.dumps(s))
    with _no_warnings():  # no "Mean of empty slice" from NaN seed groups
        cmp = compare_runs([a, b, c], n_resamples=50)
    assert any("b: NaN: score on test: no user has two or more samples" in n for n in cmp.notes)
    rows = {r["run"]: r for r in cmp.versions}
    assert np.isnan(rows["b"]["score"]) and np.isnan(rows["b"]["gap score"])  # NaN, shown as nan, never blank
    seeds = [v for v in cmp.verdicts if v.startswith("SEEDS")]
    assert seeds and "NaN for 1 of 2" in seeds[0]
    json.dumps(cmp.to_dict(), allow_nan=False)  # the --json output stays valid JSON


def _no_warnings():
    import contextlib
    import warnings

    @contextlib.contextmanager
    def ctx():
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            yield
    return ctx()


def test_config_diff_only_keys_a_compared_model_reads(tmp_path):
    kernel = {"model": {"name": "user_level_kernel", "hidden": None, "folds": 3}, "training": {"batch_size": 8}}
    k1 = make_run_dir(tmp_path / "k1", pred_seed=1, config=kernel)
    k2 = make_run_dir(tmp_path / "k2", pred_seed=2, config={**kernel, "model": {**kernel["model"], "folds": 5},
                                                            "training": {"batch_size": 32, "lr": 0.01}})
    cmp = compare_runs([k1, k2], n_resamples=50)
    assert [d["key"] for d in cmp.config_diff] == ["model.folds"]  # a kernel model reads no training.* keys
    assert any("no compared model reads" in n and "training.batch_size" in n and "training.lr" in n for n in cmp.notes)
    seq = make_run_dir(tmp_path / "seq", pred_seed=3, config={"training": {"batch_size": 32}})
    cmp = compare_runs([k1, seq], n_resamples=50)
    assert "training.batch_size" in {d["key"] for d in cmp.config_diff}  # the network reads it


def test_nan_metric_shown_as_nan(tmp_path, capsys):
    a = make_run_dir(tmp_path / "a", pred_seed=1)
    b = make_run_dir(tmp_path / "b", pred_seed=2)
    summary = json.loads((b / "summary.json").read_text())
    summary["metrics"]["test"]["r_composite_valence"] = None
    (b / "summary.json").write_text(json.dumps(summary))
    cmp = compare_runs([a, b], n_resamples=50)
    row = next(r for r in cmp.versions if r["run"] == "b")
    assert np.isnan(row["r_composite_valence"]) and np.isnan(row["gap r_composite_valence"])
    code, out, err = run_cli(["compare", a, b, "--resamples", "50", "--no-epochs"], capsys)
    assert code == 0, err
    line = next(ln for ln in out.splitlines() if ln.split()[:2] == ["b", "score"] or "ccc_valence" in ln and " nan " in f" {ln} ")
    assert "nan" in out and line


def test_cross_validation_runs_show_no_empty_train_columns_and_their_pooled_scores_beside_test(tmp_path, capsys):
    """Issue 20 item 9: a CV run has no train split, so compare showed train/gap columns of nan; on the oof
    split they are left out, and when the runs share a test split the pooled out-of-fold scores stand beside it."""
    import pandas as pd

    from cv_run_helpers import make_cv_run_dir

    weak = make_cv_run_dir(tmp_path / "weak", skill=0.3, pred_seed=1)
    strong = make_cv_run_dir(tmp_path / "strong", skill=0.9, pred_seed=2)
    code, out, err = run_cli(["compare", weak, strong, "--resamples", "50"], capsys)
    assert code == 0, err
    versions = out[:min(out.find(t) % (len(out) + 1) for t in ("Config differences", "Paired", "Epoch progression"))]
    assert "oof split" in versions and "train" not in versions and "gap" not in versions and "nan" not in versions

    for run in (weak, strong):  # a test split scored by the refitted model: here its out-of-fold rows again
        pred = pd.read_csv(run / "predictions.csv")
        test = pred.assign(split="test", id="t" + pred["id"], fold=0)
        pd.concat([pred, test]).to_csv(run / "predictions.csv", index=False)
        summary = json.loads((run / "summary.json").read_text())
        summary["metrics"]["test"] = dict(summary["metrics"]["oof"])
        summary.setdefault("splits", {})["test"] = len(test)
        (run / "summary.json").write_text(json.dumps(summary))
    cmp = compare_runs([weak, strong], n_resamples=50)
    assert cmp.split == "test"
    rows = {r["run"]: r for r in cmp.versions}
    oof = json.loads((strong / "summary.json").read_text())["metrics"]["oof"]
    assert rows["strong"]["oof score"] == pytest.approx(oof["score"]) and rows["strong"]["train score"] is None
    code, out, err = run_cli(["compare", weak, strong, "--resamples", "50"], capsys)
    assert code == 0, err
    header = next(line for line in out.splitlines() if line.lstrip().startswith("run"))
    assert "oof (pooled)" in header and "train" not in header and f"{oof['score']:.4f}" in out
