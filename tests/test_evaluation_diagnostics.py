"""Diagnostics: each planted fault is named by its code; clean predictions get no warning."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from affectlab.evaluation import diagnostics as dg
from affectlab.evaluation.bootstrap import Interval, paired_bootstrap
from affectlab.evaluation.evaluate import EvalData, TrainData, evaluate_data


def _codes(findings, at_least="warning"):
    rank = dg.SEVERITIES.index(at_least)
    return sorted({f.code for f in findings if dg.SEVERITIES.index(f.severity) >= rank})


def _eval(y, p, groups=None, train=None, task="generic"):
    y = np.asarray(y, float).reshape(len(y), -1)
    p = np.asarray(p, float).reshape(len(p), -1)
    targets = ["valence", "arousal"][: y.shape[1]] if task == "semeval" else [f"t{j}" for j in range(y.shape[1])]
    data = EvalData(task, targets, pd.DataFrame({"id": [f"i{k}" for k in range(len(y))]}), y, p, groups)
    return evaluate_data(data, train, n_resamples=150, seed=1)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("target_ccc", [0.6, 0.7, 0.8])
def test_clean_predictions_get_no_warning(seed, target_ccc):
    rng = np.random.default_rng(seed)
    n = 200 + 50 * seed
    y = rng.normal(0.2, 1.0, n)
    r2 = target_ccc / (2 - target_ccc)  # gold + noise: CCC = 2r²/(1+r²)
    p = y + rng.normal(0, np.sqrt(1 / r2 - 1), n)
    res = _eval(y, p)
    assert _codes(res.findings) == [], [f.message for f in res.findings]


def test_finding_is_validated_and_one_line():
    f = dg.Finding("X", "info", "two\nlines")
    assert f.message == "two lines" and f.as_dict() == {"code": "X", "severity": "info", "message": "two lines"}
    with pytest.raises(ValueError):
        dg.Finding("X", "fatal", "m")
    assert dg.worst([f, dg.Finding("Y", "error", "m")]) == "error" and dg.worst([]) is None


@pytest.mark.parametrize("fault,code", [
    ("sign", "SIGN_INVERTED"),
    ("constant", "COLLAPSED_PREDICTIONS"),
    ("nearly_constant", "COLLAPSED_PREDICTIONS"),
    ("shrunk", "SCALE_MISMATCH"),
    ("offset", "SCALE_MISMATCH"),
    ("tiny", "SMALL_SAMPLE"),
    ("nan", "NONFINITE_INPUTS"),
])
def test_planted_faults_are_named(fault, code):
    rng = np.random.default_rng(7)
    n = 300
    y = rng.normal(0.3, 1.0, n)
    e = rng.normal(0, 1, n)
    p = {"sign": -y + 0.5 * e, "constant": np.full(n, 0.3), "nearly_constant": y.mean() + 0.1 * (y - y.mean()) + 0.01 * e,
         "shrunk": y.mean() + 0.5 * (y - y.mean()) + 0.05 * e, "offset": y + 1.2 + 0.3 * e,
         "tiny": y + 0.6 * e, "nan": np.where(np.arange(n) % 50 == 0, np.nan, y + 0.5 * e)}[fault]
    if fault == "tiny":
        y, p = y[:15], p[:15]
    res = _eval(y, p)
    assert code in _codes(res.findings), [f.message for f in res.findings]


def test_sign_check_needs_a_reliably_negative_correlation():
    rng = np.random.default_rng(0)
    y = rng.normal(size=20)
    assert dg.check_sign(y, -0.15 * y + rng.normal(size=20)) == []  # weak and noisy: not flagged


def test_collapsed_message_and_severity():
    y = np.linspace(-2, 2, 100)
    [f] = dg.check_collapsed(y, np.full(100, 0.1), "valence")
    assert f.severity == "error" and "constant" in f.message and f.message.startswith("valence:")
    [f] = dg.check_collapsed(y, 0.1 * y, "valence")
    assert f.severity == "warning" and "ratio 0.10" in f.message
    assert dg.check_collapsed(y, 0.45 * y + np.random.default_rng(0).normal(0, 1.0, 100)) == []  # MSE-like shrinkage


def test_recalibration_matches_mean_and_sd_and_reaches_pearson():
    from affectlab.metrics.regression import ccc, pearson

    rng = np.random.default_rng(1)
    y = rng.normal(1, 2, 500)
    p = 0.3 * y + rng.normal(0, 0.2, 500)
    rc = dg.fit_recalibration(y, p, "validation")
    q = rc.apply(p)
    assert q.mean() == pytest.approx(y.mean()) and q.std() == pytest.approx(y.std())
    assert ccc(y, q) == pytest.approx(pearson(y, p))
    [f] = dg.check_scale(y, p, "v", rc)
    assert "fitted on validation" in f.message


def test_small_sample_by_width_and_by_count():
    assert dg.check_small_sample(Interval(0.5, 0.2, 0.7, n_units=500), "ccc", 500)[0].code == "SMALL_SAMPLE"
    assert dg.check_small_sample(Interval(0.5, 0.45, 0.55, n_units=8, unit="groups"), "score", 300)
    assert dg.check_small_sample(Interval(0.5, 0.45, 0.55, n_units=300), "ccc", 300) == []


def test_below_baseline_severity():
    rng = np.random.default_rng(2)
    y = rng.normal(size=(300, 1))
    bad = y[::-1] + rng.normal(0, 0.1, y.shape)  # unrelated to y
    base = np.full_like(y, y.mean())
    res = paired_bootstrap("generic", y, bad, base, ["v"], keys=["mae"], n_resamples=200)["mae"]
    assert dg.check_below_baseline("model", "train mean", res)[0].severity == "warning"
    assert dg.check_below_baseline("model", "gold mean", res, oracle=True)[0].severity == "info"
    good = paired_bootstrap("generic", y, y + 0.1, base, ["v"], keys=["mae"], n_resamples=200)["mae"]
    assert dg.check_below_baseline("model", "train mean", good) == []


def test_leakage_checks():
    [f] = dg.check_id_overlap(["a", "b", "c"], ["c", "d"])
    assert f.code == "LEAKAGE_ID_OVERLAP" and f.severity == "error" and "1 of 3" in f.message
    assert dg.check_id_overlap(["a"], ["b"]) == []
    long = "this is a sufficiently long text that repeats verbatim somewhere"
    [f] = dg.check_text_overlap([long.upper(), "x" * 50], [long + "  "])
    assert f.code == "LEAKAGE_TEXT_OVERLAP" and f.severity == "error"
    assert dg.check_text_overlap(["Calm , Happy"], ["Calm , Happy"]) == []  # short word lists repeat legitimately
    assert dg.check_group_overlap(["u1", "u2"], ["u2"], "semeval")[0].severity == "info"
    assert dg.check_group_overlap(["v1", "v2"], ["v2"], "mosi", "video")[0].severity == "warning"


def test_evaluate_data_with_train_runs_leakage_and_baselines():
    rng = np.random.default_rng(3)
    n = 240
    y = rng.normal(size=(n, 2))
    p = y + rng.normal(0, 0.5, y.shape)
    groups = np.repeat([f"u{i}" for i in range(24)], 10)
    ids = pd.DataFrame({"user_id": groups, "text_id": [f"t{i}" for i in range(n)]})
    data = EvalData("semeval", ["valence", "arousal"], ids, y, p, groups)
    train = TrainData(pd.Series(["t0", "zz"]), np.array(["u0", "u99"]), None, rng.normal(size=(2, 2)))
    res = evaluate_data(data, train, n_resamples=100)
    codes = {f.code: f.severity for f in res.findings}
    assert codes["LEAKAGE_ID_OVERLAP"] == "error" and codes["LEAKAGE_GROUP_OVERLAP"] == "info"
    assert set(res.baselines) == {"train mean", "train user mean"}
    # the per-user baseline predicts each user's train mean, the global mean for unseen users
    assert res.baselines["train mean"]["ccc"] == pytest.approx(0.0, abs=1e-12)


def test_overfitting_growing_gap_only():
    grow = pd.DataFrame({"epoch": range(1, 10), "train_score": np.linspace(0.5, 0.95, 9), "val_score": [0.5] * 9})
    grow["gap_score"] = grow.train_score - grow.val_score
    assert dg.check_overfitting(grow, "score", True)[0].severity == "warning"
    flat = grow.assign(gap_score=0.2)
    assert dg.check_overfitting(flat, "score", True)[0].severity == "info"
    small = grow.assign(gap_score=0.05)
    assert dg.check_overfitting(small, "score", True) == []
    # an error metric: val larger than train is the gap
    mae = pd.DataFrame({"epoch": range(1, 7), "train_mae": np.linspace(0.8, 0.2, 6), "val_mae": [0.8] * 6})
    assert dg.check_overfitting(mae, "mae", False)[0].code == "OVERFITTING"


def test_val_test_mismatch():
    ci = Interval(0.4, 0.35, 0.45)
    assert dg.check_val_test(0.6, ci, "score")[0].code == "VAL_TEST_MISMATCH"
    assert dg.check_val_test(0.42, ci, "score") == []


# --------------------------------------------------------------------------- category targets

def _classes(n=240, seed=0, skill=0.8, probs=(0.4, 0.3, 0.2, 0.1)):
    """Gold class indices in 40 groups and a decent classifier's predictions (right with prob. ``skill``)."""
    rng = np.random.default_rng(seed)
    y = rng.choice(len(probs), n, p=list(probs)).astype(float)
    p = np.where(rng.random(n) < skill, y, rng.integers(0, len(probs), n)).astype(float)
    return y, p, np.repeat(np.arange(40), n // 40)


@pytest.mark.parametrize("seed", range(5))
def test_clean_classifier_gets_no_class_finding(seed):
    y, p, g = _classes(seed=seed)
    assert dg.check_classes(y, p, 4, train_labels=y, groups=g, target="emotion", seed=seed) == []


def test_class_collapse_on_a_constant_and_a_nearly_constant_classifier():
    y, p, _ = _classes()
    [f] = dg.check_class_collapse(y, np.full(len(y), 2.0), 4, "emotion", classes=("a", "b", "c", "d"))
    assert f.code == "CLASS_COLLAPSE" and f.severity == "error" and "'c' is predicted for 100%" in f.message
    almost = np.where(np.arange(len(y)) % 16 == 0, y, 1.0)  # class 1 for ~94% of samples, 30% of the gold
    [f] = dg.check_class_collapse(y, almost, 4)
    assert f.severity == "warning" and f"{np.mean(almost == 1):.0%}" in f.message
    # a rare-class data set predicted right is not a collapse: class 0 is 92% of gold and of predictions
    rare = np.r_[np.zeros(92), np.ones(8)]
    assert dg.check_class_collapse(rare, rare, 2) == []


def test_below_majority_uses_the_training_majority_and_reports_sklearn_accuracies():
    from sklearn.metrics import accuracy_score

    rng = np.random.default_rng(3)
    y = rng.choice(3, 300, p=[0.7, 0.2, 0.1]).astype(float)
    p = rng.integers(0, 3, 300).astype(float)  # guessing: accuracy ~ 1/3 against a majority of 0.7
    [f] = dg.check_below_majority(y, p, 3, train_labels=np.zeros(50), target="emotion")
    assert f.code == "BELOW_MAJORITY" and f.severity == "warning"
    assert f"accuracy {accuracy_score(y, p):.3f}" in f.message and f"accuracy {accuracy_score(y, np.zeros(300)):.3f}" in f.message
    assert "training labels' majority class (class 0 of 3" in f.message
    [f] = dg.check_below_majority(y, p, 3)  # no training labels: the gold's majority, said to be an oracle
    assert "oracle" in f.message
    assert dg.check_below_majority(y, y, 3) == []


def test_at_chance_for_guessing_and_below_chance_for_shifted_classes():
    y, _, g = _classes(n=400)
    rng = np.random.default_rng(4)
    [f] = dg.check_at_chance(y, rng.integers(0, 4, len(y)).astype(float), 4, g, "emotion")
    assert f.code == "AT_CHANCE" and f.severity == "warning" and "chance 0.250" in f.message
    [f] = dg.check_at_chance(y, (y + 1) % 4, 4)  # labels decoded with the wrong class order
    assert f.severity == "error" and "below chance" in f.message
    # chance is 1 / (classes present in the gold), stated when fewer than declared
    y3 = y % 3
    [f] = dg.check_at_chance(y3, rng.integers(0, 3, len(y)).astype(float), 4)
    assert "chance 0.333" in f.message and "3 of the 4 classes" in f.message
    # a given interval is used as is
    assert dg.check_at_chance(y, y, 4, uar_ci=Interval(0.3, 0.2, 0.4))[0].severity == "warning"


def test_majority_class_ties_and_constant_guess_findings_together():
    assert dg.majority_class(np.array([1.0, 0.0])) == 0
    y, _, g = _classes()
    codes = _codes(dg.check_classes(y, np.zeros(len(y)), 4, groups=g))
    assert codes == ["AT_CHANCE", "CLASS_COLLAPSE"]  # a majority guess is not below the majority


# --------------------------------------------------------------------------- published references

def _ref(metric: str, value: float):
    from affectlab.tasks import Reference

    return Reference("best published", metric, value, "official split", "published-results.md")


@pytest.mark.parametrize("metric, ci, ref, raised", [
    ("acc2_nozero", (0.97, 0.95, 0.99), 0.8643, True),     # the whole interval above a higher-is-better reference
    ("acc2_nozero", (0.90, 0.86, 0.94), 0.8643, False),    # point above, but the low end reaches it
    ("pearson", (0.85, 0.806, 0.89), 0.805, True),         # just beyond, by the interval's far end
    ("mae", (0.55, 0.50, 0.60), 0.683, True),              # lower is better: the high end below the reference
    ("mae", (0.62, 0.55, 0.70), 0.683, False),             # the high end beyond it: could be the reference
    ("pearson", (0.70, 0.60, 0.78), 0.805, False),         # below the state of the art
])
def test_above_state_of_the_art_only_when_the_far_end_of_the_ci_is_beyond(metric, ci, ref, raised):
    found = dg.check_references({metric: Interval(*ci)}, [_ref(metric, ref)], "test")
    assert _codes(found) == (["ABOVE_STATE_OF_THE_ART"] if raised else [])
    if raised:
        assert "suspect leakage or features fitted on these labels upstream" in found[0].message
        assert f"{ref:.3f}" in found[0].message and found[0].message.startswith("test: ")


def test_references_of_metrics_the_result_lacks_are_skipped_and_several_share_one_finding():
    cis = {"pearson": Interval(0.9, 0.88, 0.92), "mae": Interval(0.4, 0.35, 0.45)}
    found = dg.check_references(cis, [_ref("pearson", 0.805), _ref("mae", 0.683), _ref("uar", 0.5)], "oof")
    assert len(found) == 1 and "pearson" in found[0].message and "mae" in found[0].message
    assert "uar" not in found[0].message


def _mosi_eval(noise: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    n, videos = 240, 24
    y = np.clip(rng.normal(0, 1.5, n), -3, 3)
    p = y + rng.normal(0, noise, n)
    groups = np.array([f"vid{k % videos}" for k in range(n)])
    # ids in CMU-MOSI's convention (11-character YouTube id $_$ clip): the published references are MOSI's
    data = EvalData("mosi", ["sentiment"], pd.DataFrame({"id": [f"vid{k % videos}".rjust(11, "-") + f"$_${k}" for k in range(n)]}),
                    y[:, None], p[:, None], groups)
    return evaluate_data(data, n_resamples=300, seed=1, split="test"), y, p, groups


def test_evaluate_raises_the_finding_for_too_good_mosi_predictions_and_not_for_plausible_ones():
    from affectlab.evaluation.bootstrap import bootstrap_ci

    good, y, p, groups = _mosi_eval(noise=0.2)
    assert "ABOVE_STATE_OF_THE_ART" in _codes(good.findings)
    # independent: scipy's r and a video bootstrap put the whole interval above ALMT's 0.805
    from scipy.stats import pearsonr

    assert pearsonr(y, p)[0] > 0.95
    assert bootstrap_ci("pearson", y, p, groups, n_resamples=300, seed=1).low > 0.805
    plausible, y, p, groups = _mosi_eval(noise=1.2)
    assert pearsonr(y, p)[0] < 0.85 and "ABOVE_STATE_OF_THE_ART" not in _codes(plausible.findings)
    # a task without references never raises it
    data = EvalData("regression", ["v"], pd.DataFrame({"id": [str(i) for i in range(len(y))]}), y[:, None],
                    (y + 0.01)[:, None], groups)
    assert "ABOVE_STATE_OF_THE_ART" not in _codes(evaluate_data(data, n_resamples=100).findings)


def test_references_with_a_metric_the_task_does_not_report_are_refused_at_registration_and_config_load():
    from affectlab.experiment import task_references, validate_config
    from affectlab.core.errors import AffectlabError
    from affectlab.tasks import Task, get_task

    with pytest.raises(AffectlabError, match="names metric 'bleu', which the task does not report"):
        Task("refs", "demo", references=(_ref("bleu", 1.0),))
    with pytest.raises(AffectlabError, match=r"^c\.yaml: references: reference 'best' names metric 'r2'"):
        validate_config({"task": "mosi", "references": [{"system": "best", "metric": "r2", "value": 0.9}]}, "c.yaml")
    cfg = validate_config({"task": "mosi", "references": [{"system": "mine", "metric": "acc7", "value": 0.5}]})
    refs = task_references(cfg)
    assert refs[:-1] == get_task("mosi").references and refs[-1].metric == "acc7"
    # MOSI's built-in references: the best published Acc-2 (both), Corr and MAE
    mosi = {r.metric: r.value for r in get_task("mosi").references}
    assert mosi == {"acc2_nonneg": 0.8455, "acc2_nozero": 0.8643, "pearson": 0.805, "mae": 0.683}
