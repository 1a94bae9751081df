"""MOSI metrics: hand-computed cases, scikit-learn references, MMSA's rounding and clipping."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from affectlab.evaluation.scoring import higher_is_better, metric_names, primary_metric, score_arrays
from affectlab.metrics import METRICS
from affectlab.metrics.mosi import MOSI_METRICS, acc2_nonneg, acc2_nozero, acc5, acc7, f1_nonneg, f1_nozero


def test_hand_computed_case():
    y = np.array([-1.2, 0.0, 0.4, 2.6, -0.2, 1.0])
    p = np.array([-0.8, 0.3, -0.1, 2.2, 0.0, 0.0])
    # non-negative: gold [F T T T F T], pred [F T F T T T] -> 4 of 6 agree
    assert acc2_nonneg(y, p) == pytest.approx(4 / 6)
    # zeros dropped (index 1): gold>0 [F T T F T], pred>0 [F F T F F] -> 3 of 5; a 0.0 prediction counts as negative
    assert acc2_nozero(y, p) == pytest.approx(3 / 5)
    # acc7: rounded gold [-1 0 0 3 -0 1], pred [-1 0 -0 2 0 0] -> 4 of 6 ; acc5 clips 2.6 and 2.2 to 2 -> 5 of 6
    assert acc7(y, p) == pytest.approx(4 / 6) and acc5(y, p) == pytest.approx(5 / 6)


def test_rounding_is_half_to_even_as_mmsa():
    # np.round(2.5) == 2 and np.round(-0.5) == -0: a gold 2.5 matches a prediction of 2.2, not 2.7
    assert acc7([2.5], [2.2]) == 1.0 and acc7([2.5], [2.7]) == 0.0
    assert acc7([-0.5], [0.3]) == 1.0
    assert acc5([-3.0], [-2.4]) == 1.0 and acc7([-3.0], [-2.4]) == 0.0  # clipped to [-2, 2] first


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_against_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = np.round(rng.uniform(-3, 3, 200) * 5) / 5  # many exact zeros
    y[:10] = 0.0
    p = y + rng.normal(0, 1.0, 200)
    assert acc2_nonneg(y, p) == pytest.approx(accuracy_score(y >= 0, p >= 0))
    assert f1_nonneg(y, p) == pytest.approx(f1_score(y >= 0, p >= 0, average="weighted"))
    nz = y != 0
    assert acc2_nozero(y, p) == pytest.approx(accuracy_score(y[nz] > 0, p[nz] > 0))
    assert f1_nozero(y, p) == pytest.approx(f1_score(y[nz] > 0, p[nz] > 0, average="weighted"))
    for fn, bound in ((acc5, 2), (acc7, 3)):
        ref = np.mean(np.round(np.clip(p, -bound, bound)) == np.round(np.clip(y, -bound, bound)))
        assert fn(y, p) == pytest.approx(ref)


def test_registered_documented_and_in_the_task():
    for name in MOSI_METRICS:
        m = METRICS.get(name)
        assert m.higher_is_better and m.doc and "\n" not in m.doc
    assert set(MOSI_METRICS) <= set(metric_names("mosi")) and primary_metric("mosi") == "mae"
    assert higher_is_better("val_acc2_nozero_sentiment") and not higher_is_better("val_mae")
    s = score_arrays("mosi", np.array([[1.0], [-1.0], [0.0]]), np.array([[0.5], [-0.2], [0.1]]), ["sentiment"])
    assert s["acc2_nonneg"] == 1.0 and s["acc2_nozero_sentiment"] == 1.0 and "acc7" in s


def test_all_zero_gold_gives_nan_not_a_crash():
    assert np.isnan(acc2_nozero([0.0, 0.0], [1.0, -1.0])) and np.isnan(f1_nozero([0.0], [1.0]))
