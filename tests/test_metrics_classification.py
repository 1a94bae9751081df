"""Categorical metrics against scikit-learn, and their registry entries."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from affectlab.metrics import METRICS
from affectlab.metrics.classification import accuracy, confusion, macro_f1, uar


@pytest.mark.parametrize("seed", range(5))
def test_match_sklearn_on_random_labels(seed):
    rng = np.random.default_rng(seed)
    classes = np.array(["anger", "boredom", "disgust", "fear", "happiness", "neutral", "sadness"])
    y = classes[rng.integers(0, 7, 200)]
    p = np.where(rng.random(200) < 0.5, y, classes[rng.integers(0, 5, 200)])  # some classes never predicted
    assert accuracy(y, p) == pytest.approx(accuracy_score(y, p))
    assert uar(y, p) == pytest.approx(balanced_accuracy_score(y, p))
    assert macro_f1(y, p) == pytest.approx(f1_score(y, p, average="macro", zero_division=0))


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
    for name in ("accuracy", "uar", "macro_f1"):
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
