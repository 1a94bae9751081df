"""Bootstrap intervals and paired tests: agreement with score_arrays, group resampling, p-values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from sklearn.metrics import balanced_accuracy_score

from affectlab.corpus.base import TargetSpec
from affectlab.evaluation.bootstrap import (Resampler, bootstrap_ci, bootstrap_scores, fast_scores, group_codes,
                                            paired_bootstrap, resampled_scores)
from affectlab.evaluation.scoring import score_arrays
from affectlab.metrics import METRICS
from affectlab.metrics.base import batch_by_loop, expand
from affectlab.tasks import CATEGORY_METRICS


def _data(n_users=25, per=8, seed=0):
    rng = np.random.default_rng(seed)
    g = np.repeat([f"u{i}" for i in range(n_users)], per)
    y = np.column_stack([rng.integers(-2, 3, len(g)), rng.integers(0, 3, len(g))]).astype(float)
    p = y + rng.normal(0, 0.8, y.shape)
    p[g == "u3", 0] = 0.25  # a user with constant predictions: r = 0 for that user
    y[g == "u4", 1] = 1.0  # a user with constant gold: left out of r_within
    return y, p, g


@pytest.mark.parametrize("task", ["semeval", "generic", "mosi"])
def test_fast_scores_equal_score_arrays(task):
    y, p, g = _data()
    seen = np.isin(g, [f"u{i}" for i in range(10)])
    targets = ["valence", "arousal"]
    if task == "mosi":
        y, p, targets = y[:, :1] * 1.4, p[:, :1] * 1.4, ["sentiment"]
    ref = score_arrays(task, y, p, targets, g, seen)
    got = fast_scores(task, y, p, targets, group_codes(g, len(g)), seen)
    assert set(ref) == set(got)
    for k in ref:
        assert got[k] == pytest.approx(ref[k], abs=1e-10), k


def test_fast_scores_skip_missing_gold():
    y, p, g = _data()
    y[:5, 0] = np.nan
    ref = score_arrays("semeval", y, p, ["v", "a"], g)
    got = fast_scores("semeval", y, p, ["v", "a"], group_codes(g, len(g)))
    assert got["ccc_v"] == pytest.approx(ref["ccc_v"])


def test_group_resampling_keeps_groups_whole_and_relabels_duplicates():
    g = np.array(["a"] * 3 + ["b"] * 5 + ["c"] * 2)
    r = Resampler(len(g), g, seed=3)
    for _ in range(20):
        idx, codes = r.draw()
        assert len(set(codes)) == 3  # one code per drawn group, duplicates included
        for c in set(codes):
            members = g[idx[codes == c]]
            assert len(set(members)) == 1 and len(members) == (g == members[0]).sum()


def test_interval_for_a_mean_matches_the_t_interval():
    rng = np.random.default_rng(1)
    x = rng.normal(2.0, 1.0, 400)
    ci = bootstrap_ci(lambda t, p, g: float(np.mean(t)), x, x, n_resamples=2000, seed=0)
    lo, hi = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    assert ci.value == pytest.approx(x.mean())
    assert ci.low == pytest.approx(lo, abs=0.03) and ci.high == pytest.approx(hi, abs=0.03)


def test_pearson_interval_close_to_fisher_z():
    rng = np.random.default_rng(2)
    y = rng.normal(size=300)
    p = y + rng.normal(size=300)
    r = stats.pearsonr(y, p)[0]
    ci = bootstrap_ci("pearson", y, p, n_resamples=2000, seed=0)
    z, se = np.arctanh(r), 1 / np.sqrt(len(y) - 3)
    assert ci.value == pytest.approx(r)
    assert ci.low == pytest.approx(np.tanh(z - 1.96 * se), abs=0.03)
    assert ci.high == pytest.approx(np.tanh(z + 1.96 * se), abs=0.03)


def test_groups_widen_the_interval_when_samples_within_a_group_are_alike():
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(20), 15)
    shared = rng.normal(0, 1, 20)[g]  # errors shared within a group: rows are not independent
    y = rng.normal(size=len(g))
    p = y + shared
    rows = bootstrap_ci("mae", y, p, n_resamples=500, seed=0)
    grouped = bootstrap_ci("mae", y, p, g, n_resamples=500, seed=0)
    assert grouped.unit == "groups" and grouped.n_units == 20 and rows.n_units == len(g)
    assert grouped.width > 1.5 * rows.width


def test_bootstrap_scores_seeded_and_contains_estimate():
    y, p, g = _data()
    a = bootstrap_scores("semeval", y, p, ["v", "a"], g, n_resamples=100, seed=5)
    b = bootstrap_scores("semeval", y, p, ["v", "a"], g, n_resamples=100, seed=5)
    assert a == b
    assert a["score"].low <= a["score"].value <= a["score"].high
    assert a["score"].n_units == 25


def test_paired_bootstrap_identical_predictions():
    y, p, g = _data()
    res = paired_bootstrap("semeval", y, p, p.copy(), ["v", "a"], g, ["score", "ccc"], n_resamples=100)
    assert res["score"].diff == 0 and res["score"].p_value == 1.0 and not res["score"].significant


def test_paired_bootstrap_detects_a_real_difference_and_its_direction():
    rng = np.random.default_rng(4)
    y = rng.normal(size=(300, 1))
    good = y + rng.normal(0, 0.5, y.shape)
    bad = y + rng.normal(0, 1.5, y.shape)
    res = paired_bootstrap("generic", y, good, bad, ["v"], keys=["ccc", "mae"], n_resamples=300)
    assert res["ccc"].diff > 0 and res["ccc"].low > 0 and res["ccc"].p_value < 0.01 and res["ccc"].a_better
    assert res["mae"].diff < 0 and res["mae"].high < 0 and res["mae"].a_better
    # swapping a and b mirrors the interval
    rev = paired_bootstrap("generic", y, bad, good, ["v"], keys=["ccc"], n_resamples=300)
    assert rev["ccc"].diff == pytest.approx(-res["ccc"].diff)


def test_paired_bootstrap_noise_is_not_significant():
    rng = np.random.default_rng(5)
    y = rng.normal(size=(200, 1))
    a = y + rng.normal(0, 1.0, y.shape)
    b = y + rng.normal(0, 1.0, y.shape)
    res = paired_bootstrap("generic", y, a, b, ["v"], keys=["ccc"], n_resamples=300)
    assert res["ccc"].p_value > 0.05


# --------------------------------------------------------------------------- batched metrics

CATEGORY = TargetSpec("emotion", kind="category", classes=("anger", "joy", "neutral", "sadness"))


def _class_data(n_groups=30, per=6, seed=0, skill=0.6):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), per)
    y = rng.choice(4, len(g), p=[0.4, 0.3, 0.2, 0.1]).astype(float)
    p = np.where(rng.random(len(g)) < skill, y, rng.integers(0, 3, len(g))).astype(float)  # class 3 never guessed
    return y, p, g


def _metric_inputs(name):
    """(y, p, groups) suited to the metric: class indices, MOSI-like values with zeros, or SemEval-like."""
    if name in CATEGORY_METRICS:
        return _class_data()
    y, p, g = _data()
    y, p = y[:, 0], p[:, 0]
    if name.startswith(("acc", "f1_")):
        y = np.round(y * 1.4, 1)  # exact zeros and halves
    return y, p, g


@pytest.mark.parametrize("name", sorted(METRICS.names()))
def test_every_metric_batched_equals_the_metric_on_each_resample(name):
    y, p, g = _metric_inputs(name)
    m = METRICS.get(name)
    codes = group_codes(g, len(g))
    w = Resampler(len(y), g, seed=1).weights(40)
    got = m.batch(y, p, w, codes)
    ref = batch_by_loop(m, y, p, w, codes)  # each resample expanded into its rows, scored exactly
    assert got.shape == (40,)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)
    # all weights one: the exact metric on the full sample
    assert m.batch(y, p, np.ones((1, len(y))), codes)[0] == pytest.approx(m(y, p, codes), abs=1e-12)
    if not m.needs_groups:  # rows resampled singly
        w = Resampler(len(y), None, seed=2).weights(30)
        np.testing.assert_allclose(m.batch(y, p, w), batch_by_loop(m, y, p, w), rtol=1e-9, atol=1e-12)


def test_group_metrics_with_rows_resampled_fall_back_to_the_loop():
    y, p, g = _data()
    codes = group_codes(g, len(g))
    w = Resampler(len(g), None, seed=0).weights(5)  # weights vary inside users
    m = METRICS.get("r_within")
    np.testing.assert_allclose(m.batch(y[:, 0], p[:, 0], w, codes), batch_by_loop(m, y[:, 0], p[:, 0], w, codes))


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_category_batched_forms_match_sklearn_on_expanded_resamples():
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

    y, p, g = _class_data(n_groups=8, per=3, seed=3)  # small: some resamples miss classes
    w = Resampler(len(y), g, seed=4).weights(60)
    refs = {"accuracy": accuracy_score, "uar": balanced_accuracy_score,
            "macro_f1": lambda a, b: f1_score(a, b, average="macro", zero_division=0),
            "weighted_f1": lambda a, b: f1_score(a, b, average="weighted", zero_division=0)}
    for name, ref in refs.items():
        got = METRICS.get(name).batch(y, p, w)
        want = [ref(y[idx].astype(int), p[idx].astype(int)) for idx in (expand(row)[0] for row in w)]
        np.testing.assert_allclose(got, want, atol=1e-12, err_msg=name)


def test_confusion_batched_counts_by_hand():
    from affectlab.metrics.classification import confusion_batched

    m = confusion_batched(["a", "b", "b", "c"], ["a", "a", "b", "b"], np.array([[1, 1, 1, 1], [2, 0, 1, 0]]))
    assert m[0].tolist() == [[1, 0, 0], [1, 1, 0], [0, 1, 0]]
    assert m[1].tolist() == [[2, 0, 0], [0, 1, 0], [0, 0, 0]]


@pytest.mark.parametrize("task", ["semeval", "classification", "mosi"])
def test_resampled_scores_equal_score_arrays_on_each_resample(task):
    if task == "classification":
        y, p, g = _class_data()
        y, p, targets = y[:, None], p[:, None], [CATEGORY]
        y[:4, 0] = np.nan  # missing gold is skipped in both
    else:
        y, p, g = _data()
        targets = ["valence", "arousal"]
        if task == "mosi":
            y, p, targets = y[:, :1] * 1.4, p[:, :1] * 1.4, ["sentiment"]
    seen = np.isin(g, np.unique(g)[:10])
    codes = group_codes(g, len(g))
    w = Resampler(len(g), g, seed=7).weights(12)
    got = resampled_scores(task, y, p, targets, codes, seen, w)
    for b, row in enumerate(w):
        idx, c = expand(row, codes)
        ref = score_arrays(task, y[idx], p[idx], targets, c, seen[idx])
        assert set(ref) <= set(got)
        for k, v in ref.items():
            assert got[k][b] == pytest.approx(v, abs=1e-9, nan_ok=True), (k, b)


def test_bootstrap_scores_for_a_category_target_resample_groups():
    y, p, g = _class_data(skill=0.7)
    res = bootstrap_scores("classification", y[:, None], p[:, None], [CATEGORY], g, n_resamples=300, seed=0)
    assert {"accuracy_emotion", "uar_emotion", "macro_f1_emotion", "weighted_f1_emotion", "score"} <= set(res)
    assert res["score"].value == pytest.approx(balanced_accuracy_score(y, p))
    assert res["uar_emotion"].unit == "groups" and res["uar_emotion"].n_units == 30
    for k in ("accuracy_emotion", "uar_emotion", "macro_f1_emotion"):
        assert res[k].low < res[k].value < res[k].high
    # a classifier at chance has an interval around 1 / n_true_classes
    rng = np.random.default_rng(1)
    guess = rng.integers(0, 4, len(y)).astype(float)
    chance = bootstrap_scores("classification", y[:, None], guess[:, None], [CATEGORY], g, n_resamples=300)
    assert chance["uar_emotion"].contains(0.25)


def test_paired_bootstrap_on_categories_and_score_key():
    y, p, g = _class_data(skill=0.8)
    rng = np.random.default_rng(2)
    worse = np.where(rng.random(len(y)) < 0.5, p, rng.integers(0, 4, len(y))).astype(float)
    res = paired_bootstrap("classification", y[:, None], p[:, None], worse[:, None], [CATEGORY], g,
                           ["score", "accuracy_emotion"], n_resamples=300)
    assert res["score"].diff > 0 and res["score"].low > 0 and res["score"].p_value < 0.05
    assert res["score"].a == pytest.approx(balanced_accuracy_score(y, p))


def test_chunks_cover_all_resamples_and_are_seeded():
    r = Resampler(10, None, seed=0)
    sizes = [len(w) for w in r.chunks(5)]
    assert sum(sizes) == 5
    a = np.concatenate(list(Resampler(10, None, seed=3).chunks(7)))
    b = np.concatenate(list(Resampler(10, None, seed=3).chunks(7)))
    assert (a == b).all() and (a.sum(axis=1) == 10).all()


@pytest.mark.parametrize("case", ["constant_prediction", "large_offset", "mostly_constant_gold"])
def test_batched_correlations_on_awkward_samples(case):
    rng = np.random.default_rng(0)
    t, p = rng.normal(size=30), rng.normal(size=30)
    if case == "constant_prediction":
        p = np.full(30, 0.1)  # a constant baseline: r and CCC are 0 on every resample
    elif case == "large_offset":
        t, p = t + 1e6, p + 1e6
    else:
        t = np.r_[np.zeros(29), 1.0]  # most resamples draw only zeros: constant gold, r = 0
    w = Resampler(30, None, seed=1).weights(200)
    for name in ("ccc", "pearson"):
        m = METRICS.get(name)
        np.testing.assert_allclose(m.batch(t, p, w), batch_by_loop(m, t, p, w), atol=1e-12)
    if case == "constant_prediction":
        assert (METRICS.get("pearson").batch(t, p, w) == 0).all()
