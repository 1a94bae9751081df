"""Categorical metrics against scikit-learn, and their registry entries."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from affectlab.metrics import METRICS
from affectlab.metrics.classification import accuracy, class_indices, confusion, macro_f1, uar, weighted_f1


@pytest.mark.parametrize("seed", range(5))
def test_match_sklearn_on_random_labels(seed):
    rng = np.random.default_rng(seed)
    classes = np.array(["anger", "boredom", "disgust", "fear", "happiness", "neutral", "sadness"])
    y = classes[rng.integers(0, 7, 200)]
    p = np.where(rng.random(200) < 0.5, y, classes[rng.integers(0, 5, 200)])  # some classes never predicted
    assert accuracy(y, p) == pytest.approx(accuracy_score(y, p))
    assert uar(y, p) == pytest.approx(balanced_accuracy_score(y, p))
    assert macro_f1(y, p) == pytest.approx(f1_score(y, p, average="macro", zero_division=0))
    assert weighted_f1(y, p) == pytest.approx(f1_score(y, p, average="weighted", zero_division=0))


@pytest.mark.parametrize("seed", range(3))
def test_float_class_indices_as_scoring_passes_them(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, 150)
    p = np.where(rng.random(150) < 0.6, y, rng.integers(0, 4, 150))
    yf, pf = y.astype(float), p.astype(float)
    assert accuracy(yf, pf) == pytest.approx(accuracy_score(y, p))
    assert uar(yf, pf) == pytest.approx(balanced_accuracy_score(y, p))
    assert macro_f1(yf, pf) == pytest.approx(f1_score(y, p, average="macro", zero_division=0))
    assert weighted_f1(yf, pf) == pytest.approx(f1_score(y, p, average="weighted", zero_division=0))
    # indices of a class list and the names themselves give the same numbers
    names = np.array(["anger", "joy", "neutral", "sadness"])
    assert uar(names[y], names[p]) == pytest.approx(uar(yf, pf))


def test_hand_computed_case():
    # gold a a a b b c, predicted a a b b c c
    # recall a 2/3, b 1/2, c 1 -> UAR 13/18; F1 a 0.8, b 0.5, c 2/3 -> macro 0.6556, weighted (3*.8+2*.5+2/3)/6
    y, p = list("aaabbc"), list("aabbcc")
    assert accuracy(y, p) == pytest.approx(4 / 6)
    assert uar(y, p) == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert macro_f1(y, p) == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert weighted_f1(y, p) == pytest.approx((3 * 0.8 + 2 * 0.5 + 2 / 3) / 6)


def test_missing_labels_give_nan_and_class_indices_read_names_or_numbers():
    assert np.isnan(uar([0.0, np.nan], [0.0, 1.0])) and np.isnan(accuracy([0.0, 1.0], [np.inf, 1.0]))
    got = class_indices(["joy", 0, "2", 2.5, "fear", None], ("anger", "joy", "neutral"))
    assert np.array_equal(got, [1.0, 0.0, 2.0, np.nan, np.nan, np.nan], equal_nan=True)


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_prediction_of_a_class_absent_from_the_truth():
    y, p = [0, 0, 1, 1], [0, 2, 1, 1]
    assert uar(y, p) == pytest.approx(balanced_accuracy_score(y, p))  # recall only over true classes
    assert macro_f1(y, p) == pytest.approx(f1_score(y, p, average="macro", zero_division=0))


def test_uar_is_not_fooled_by_the_majority_class():
    y = ["a"] * 90 + ["b"] * 10
    p = ["a"] * 100
    assert accuracy(y, p) == pytest.approx(0.9)
    assert uar(y, p) == pytest.approx(0.5)


def test_registered_with_direction():
    for name in ("accuracy", "uar", "macro_f1", "weighted_f1"):
        m = METRICS.get(name)
        assert m.higher_is_better and m(["x", "y"], ["x", "y"]) == 1.0


def test_integer_and_string_labels_compare_as_text():
    assert accuracy([1, 2], ["1", "2"]) == 1.0


def test_length_mismatch_and_empty():
    with pytest.raises(ValueError):
        uar([1, 2], [1])
    assert np.isnan(accuracy([], []))


def test_confusion_matrix_rows_are_truth():
    order, m = confusion(["a", "b", "b"], ["b", "b", "a"], classes=["a", "b"])
    assert order == ["a", "b"] and m.tolist() == [[0, 1], [1, 1]]
