"""Classifiers (majority, logistic_*, lda_*, svm_*) against scikit-learn; group standardisation; states."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pandas as pd
import pytest
import torch

from affectlab.config import DataConfig
from affectlab.corpus.base import Corpus, TargetSpec
from affectlab.corpus.mmsa import read_mmsa
from affectlab.core.errors import AffectlabError
from affectlab.models import MODELS
from affectlab.models.classifiers import inner_splits, logistic_cv_compat
from affectlab.models.tabular import Standardizer

CLASSES = ("anger", "boredom", "joy", "sadness")


def corpus(n_classes: int = 4, n: int = 120, groups: int = 6, seed: int = 0, arousal: bool = False) -> Corpus:
    """Separable-ish classes with a per-group offset on every feature (what speaker normalisation removes)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    g = np.repeat(np.arange(groups), n // groups)
    x = rng.normal(size=(n, 6)) + 1.5 * np.eye(n_classes, 6)[y] + rng.normal(0, 3, (groups, 6))[g]
    t = TargetSpec("emotion", kind="category", classes=CLASSES[:n_classes])
    frame = pd.DataFrame({"id": [f"s{i}" for i in range(n)], "group": [f"spk{k}" for k in g], "order": 0.0,
                          "emotion": np.array(t.classes)[y]})
    targets = (t,)
    if arousal:
        frame["arousal"] = np.tanh(x[:, 0] - x[:, 1])
        targets = (t, TargetSpec("arousal", -1, 1))
    return Corpus(frame, targets=targets, features={"audio": x[:, None, :].astype(np.float32)})


def sklearn_inputs(c: Corpus, mode: str = "global") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Independently standardised features, labels and groups, as scikit-learn would see them."""
    from sklearn.preprocessing import StandardScaler

    x = c.features["audio"][:, 0, :].astype(np.float64)
    g = c.frame["group"].to_numpy()
    if mode == "group":
        z = np.vstack([StandardScaler().fit_transform(x[g == k]) for k in pd.unique(g)])
    else:
        z = StandardScaler().fit_transform(x)
    return z, c.target_matrix()[:, 0].astype(int), g


def test_majority_handles_both_kinds_like_dummy_models():
    from sklearn.dummy import DummyClassifier, DummyRegressor

    c = corpus(arousal=True).subset(np.r_[0:118])  # uneven classes
    m = MODELS.get("majority")(c.targets)
    m.fit(c, None, None)
    pred = m.predict(c)
    y = c.target_matrix()
    assert np.array_equal(pred[:, 0], DummyClassifier(strategy="most_frequent").fit(np.zeros((118, 1)), y[:, 0]).predict(np.zeros((118, 1))))
    np.testing.assert_allclose(pred[:, 1], DummyRegressor().fit(np.zeros((118, 1)), y[:, 1]).predict(np.zeros((118, 1))))


@pytest.mark.parametrize("n_classes", [2, 4])
def test_logistic_matches_sklearn(n_classes):
    from sklearn.linear_model import LogisticRegressionCV

    c = corpus(n_classes)
    est = MODELS.get("logistic_audio")(c.targets, class_weight="balanced", inner_folds=3)
    est.fit(c, None, None)
    z, y, g = sklearn_inputs(c)
    ref = LogisticRegressionCV(Cs=list(np.logspace(-3, 1, 9)), cv=inner_splits(g, 3), scoring="balanced_accuracy",
                               class_weight="balanced", max_iter=3000, **logistic_cv_compat()).fit(z, y)
    assert np.array_equal(est.predict(c)[:, 0], ref.predict(z))
    assert est.models[0]["C"] == pytest.approx(float(np.ravel(ref.C_)[0]))


def test_lda_matches_sklearn_with_group_standardisation():
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    c = corpus(4)
    est = MODELS.get("lda_audio")(c.targets, standardize="group")
    est.fit(c, None, None)
    z, y, _ = sklearn_inputs(c, "group")
    ref = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto").fit(z, y)
    assert np.array_equal(est.predict(c)[:, 0], ref.predict(z))


@pytest.mark.parametrize("kernel, n_classes", [("rbf", 4), ("rbf", 2), ("linear", 4), ("linear", 2)])
def test_svm_one_vs_one_from_arrays_matches_sklearn(kernel, n_classes):
    from sklearn.model_selection import GridSearchCV
    from sklearn.svm import SVC

    c = corpus(n_classes, seed=1)
    est = MODELS.get("svm_audio")(c.targets, kernel=kernel, C=[0.1, 1.0, 10.0], gamma=[0.05, 0.2], class_weight="balanced",
                                  inner_folds="groups")
    est.fit(c, None, None)
    z, y, g = sklearn_inputs(c)
    grid = {"C": [0.1, 1.0, 10.0]} | ({"gamma": [0.05, 0.2]} if kernel == "rbf" else {})
    ref = GridSearchCV(SVC(kernel=kernel, class_weight="balanced"), grid, cv=inner_splits(g, "groups"),
                       scoring="balanced_accuracy").fit(z, y)
    assert est.models[0]["C"] == ref.best_params_["C"]
    test = corpus(n_classes, seed=2)  # unseen rows: decisions near the boundaries differ if the vote is wrong
    zt = (test.features["audio"][:, 0, :] - est.scaler.mean) / est.scaler.scale
    assert np.array_equal(est.predict(test)[:, 0], ref.predict(zt))


def test_group_standardisation_by_hand():
    x = np.array([[1.0, 5.0], [3.0, 5.0], [10.0, 0.0], [20.0, 2.0], [7.0, 7.0]])
    g = np.array(["a", "a", "b", "b", "c"])  # c has a single sample: global training statistics
    s = Standardizer("group").fit(x[:4], g[:4])
    z = s.transform(x, g)
    np.testing.assert_allclose(z[:4], [[-1, 0], [1, 0], [-1, -1], [1, 1]])
    mean, sd = x[:4].mean(0), x[:4].std(0)
    np.testing.assert_allclose(z[4], (x[4] - mean) / sd)
    with pytest.raises(AffectlabError, match="standardize must be one of global, group"):
        Standardizer("speaker")


@pytest.mark.parametrize("name, params", [("majority", {}), ("logistic_audio", {"inner_folds": 3}), ("lda_audio", {}),
                                          ("svm_audio", {"standardize": "group"}), ("svm_audio", {"kernel": "linear", "C": 1.0}),
                                          ("ridge_audio", {"standardize": "group"})])
def test_state_round_trip_loads_with_weights_only(name, params):
    c = corpus(arousal=name in ("majority", "ridge_audio"))
    targets = c.targets[1:] if name == "ridge_audio" else c.targets
    c = c.with_targets(targets)
    est = MODELS.get(name)(targets, **params)
    est.fit(c, None, None)
    buf = io.BytesIO()
    torch.save(est.state(), buf)
    buf.seek(0)
    again = MODELS.get(name)(targets, **params)
    again.load_state(torch.load(buf, weights_only=True))
    np.testing.assert_array_equal(again.predict(c), est.predict(c))


def test_a_model_refuses_a_target_kind_it_cannot_predict():
    c = corpus(arousal=True)
    with pytest.raises(AffectlabError) as err:
        MODELS.get("logistic_audio").check_target_kinds("logistic_audio", c.targets)
    assert str(err.value) == "model logistic_audio cannot predict regression target 'arousal' (it handles category targets)"
    with pytest.raises(AffectlabError, match="model ridge_audio cannot predict category target 'emotion'"):
        MODELS.get("ridge_audio").check_target_kinds("ridge_audio", c.targets)
    MODELS.get("majority").check_target_kinds("majority", c.targets)  # both kinds


def test_bad_parameters_are_one_line_errors():
    t = corpus().targets
    for params, message in [({"kernel": "poly"}, "kernel must be one of rbf, linear"),
                            ({"class_weight": "auto"}, "class_weight must be balanced"),
                            ({"inner_folds": 1}, "inner_folds must be an integer >= 2, 'groups' or 'corpora'"),
                            ({"depth": 3}, "unknown parameter")]:
        with pytest.raises(AffectlabError, match=message):
            MODELS.get("svm_audio")(t, **params)


def test_extracted_pickle_to_predictions(tmp_path):
    """An 'affectlab extract'-style pickle: category strings, speaker groups → an SVM's class indices."""
    c = corpus()
    part = {"id": [f"{g}$_${i}" for g, i in zip(c.frame["group"], c.frame["id"])], "group": c.frame["group"].tolist(),
            "audio": c.features["audio"], "category_emotion": c.frame["emotion"].tolist(),
            "classification_labels_emotion": c.target_matrix()[:, 0].astype(np.int64)}
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps({"train": part, "config": {"classes": {"emotion": list(CLASSES)}}}))
    read = read_mmsa(path, DataConfig(format="mmsa", targets=[{"name": "emotion", "kind": "category"}]), require_labels=True)
    assert read.targets[0].classes == CLASSES and read.frame["group"].nunique() == 6
    est = MODELS.get("svm_audio")(read.targets, standardize="group")
    est.fit(read, None, None)
    assert (est.predict(read)[:, 0] == read.target_matrix()[:, 0]).mean() > 0.6  # chance: 0.25


@pytest.mark.parametrize("config, column", [("emotion-loso.yaml", "pred_emotion"), ("arousal-loso.yaml", "pred_arousal")])
def test_shipped_emodb_configs_train_leave_one_speaker_out(tmp_path, config, column):
    """configs/emodb/*.yaml on a small pickle laid out as 'affectlab extract' writes EmoDB's."""
    from pathlib import Path

    from affectlab.experiment import load_config
    from affectlab.pipeline import train_run

    classes = ["anger", "boredom", "disgust", "fear", "happiness", "neutral", "sadness"]
    arousal = dict(zip(classes, [0.59, -0.62, 0.35, 0.60, 0.51, 0.0, -0.27]))
    rng = np.random.default_rng(0)
    y = np.arange(140) % 7
    g = np.repeat([f"{k:02d}" for k in range(4)], 35)
    x = rng.normal(size=(140, 1, 100)).astype(np.float32)
    x[:, 0, :7] += 4 * np.eye(7)[y]
    part = {"id": [f"{s}$_$f{i}" for i, s in enumerate(g)], "group": list(g), "audio": x,
            "audio_lengths": np.ones(140, np.int64), "category_emotion": [classes[k] for k in y],
            "classification_labels_emotion": y, "regression_labels_arousal": np.array([arousal[classes[k]] for k in y], np.float32)}
    data = tmp_path / "emodb.pkl"
    data.write_bytes(pickle.dumps({"train": part, "config": {"classes": {"emotion": classes}}}))
    root = Path(__file__).resolve().parents[1]
    run = train_run(load_config(root / "configs" / "emodb" / config), data, tmp_path / "run")
    pred = pd.read_csv(run / "predictions.csv", dtype={"group": str})
    assert len(pred) == 140 and sorted(pred["fold"].unique()) == [1, 2, 3, 4]
    if column == "pred_emotion":
        assert set(pred[column]) <= set(classes) and (pred[column] == pred["emotion"]).mean() > 0.6
    else:
        assert pred[column].between(-1, 1).all()


def test_columns_select_a_slice_of_the_design_and_survive_the_state():
    c = corpus()
    wide = Corpus(c.frame, targets=c.targets,
                  features={"audio": np.concatenate([c.features["audio"], np.zeros((len(c), 1, 3), np.float32)], axis=2)})
    est = MODELS.get("lda_audio")(c.targets, standardize="group", columns=[0, 6])
    est.fit(wide, None, None)
    ref = MODELS.get("lda_audio")(c.targets, standardize="group")
    ref.fit(c, None, None)
    np.testing.assert_array_equal(est.predict(wide), ref.predict(c))
    buf = io.BytesIO()
    torch.save(est.state(), buf)
    buf.seek(0)
    again = MODELS.get("lda_audio")(c.targets)
    again.load_state(torch.load(buf, weights_only=True))
    assert again.columns == (0, 6)
    np.testing.assert_array_equal(again.predict(wide), est.predict(wide))
    for bad in ([5, 2], [0], ["a", 3], [-1, 4]):
        with pytest.raises(AffectlabError, match="columns must be"):
            MODELS.get("lda_audio")(c.targets, columns=bad)
    with pytest.raises(AffectlabError, match="lie outside"):
        MODELS.get("lda_audio")(c.targets, columns=[0, 50]).fit(wide, None, None)
