"""Metrics against independent references: scipy and hand computation."""

import numpy as np
import pytest
from scipy import stats

from affectlab.metrics import METRICS, ccc, mae, pearson, r_between, r_composite, r_within, rmse


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    return y, 0.6 * y + rng.normal(scale=0.5, size=200) + 0.3


def test_ccc_matches_lins_formula(data):
    y, p = data
    s_yp = np.cov(y, p, bias=True)[0, 1]
    expected = 2 * s_yp / (y.var() + p.var() + (y.mean() - p.mean()) ** 2)
    assert ccc(y, p) == pytest.approx(expected)


def test_pearson_mae_rmse_match_references(data):
    y, p = data
    assert pearson(y, p) == pytest.approx(stats.pearsonr(y, p)[0])
    assert mae(y, p) == pytest.approx(np.mean(np.abs(y - p)))
    assert rmse(y, p) == pytest.approx(np.sqrt(np.mean((y - p) ** 2)))


def test_directions_are_declared():
    assert METRICS.get("ccc").higher_is_better and not METRICS.get("rmse").higher_is_better


def test_semeval_metrics_by_hand():
    # user a: gold 1,2,3 pred 1,3,2 -> r = 0.5; user b: gold 0,0,1 pred 2,2,2 (constant) -> r = 0
    # user c: one text (excluded from r_within); user d: constant gold (excluded)
    y = np.array([1, 2, 3, 0, 0, 1, 2, -1, -1], float)
    p = np.array([1, 3, 2, 2, 2, 2, 0, 1, 0], float)
    g = np.array(["a"] * 3 + ["b"] * 3 + ["c"] + ["d"] * 2)
    assert r_within(y, p, g) == pytest.approx((0.5 + 0.0) / 2)
    means_y = [2, 1 / 3, 2, -1]
    means_p = [2, 2, 0, 0.5]
    assert r_between(y, p, g) == pytest.approx(stats.pearsonr(means_y, means_p)[0])
    expected = np.tanh((np.arctanh(0.25) + np.arctanh(stats.pearsonr(means_y, means_p)[0])) / 2)
    assert r_composite(y, p, g) == pytest.approx(expected)


def test_perfect_predictions_score_one_and_constants_zero():
    y = np.array([0, 1, 2, 1, 2, 0], float)
    g = np.array(list("aaabbb"))
    p = y + np.array([0, 0, 0, 1, 1, 1])  # user b shifted: r_within still 1
    assert r_within(y, p, g) == pytest.approx(1.0)
    assert pearson(y, np.full(6, 0.3)) == 0.0
    assert np.isfinite(r_composite(y, y, g))
