"""Bootstrap intervals and paired tests: agreement with score_arrays, group resampling, p-values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from affectlab.evaluation.bootstrap import (Resampler, bootstrap_ci, bootstrap_scores, fast_scores, group_codes,
                                            paired_bootstrap)
from affectlab.evaluation.scoring import score_arrays


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


@pytest.mark.parametrize("seed", range(5))
def test_fast_weighted_f1_matches_sklearn(seed):
    from sklearn.metrics import f1_score

    from affectlab.evaluation.bootstrap import _weighted_f1

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 30))
    t = rng.random(n) < rng.random()
    p = rng.random(n) < rng.random()
    for a, b in ((t, p), (t, t), (t, np.ones(n, bool)), (np.zeros(n, bool), p)):
        assert _weighted_f1(a, b) == pytest.approx(f1_score(a, b, average="weighted", zero_division=0))
