"""``standardize: [group, global]``: the mode chosen with C by the inner folds, as a hand-made nested selection."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from affectlab.corpus.base import Corpus, TargetSpec
from affectlab.core.errors import AffectlabError
from affectlab.models import MODELS

# the hand-made references score inner folds where a held-out speaker shows one class (expected)
pytestmark = pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true:UserWarning",
                                        "ignore:A single label was found:UserWarning")

CLASSES = ("angry", "happy", "neutral", "sad")
CS = [0.001, 0.01, 0.1, 1.0]


def speakers_corpus(one_class_each: bool, seed: int = 0) -> Corpus:
    """8 speakers, 4 classes. ``one_class_each``: every speaker speaks one class (two speakers per class),
    mild speaker offsets: the class lies in the speaker's mean, which per-speaker z-scores remove.
    Otherwise every speaker speaks every class, with strong speaker offsets that hide the classes globally."""
    rng = np.random.default_rng(seed)
    n_spk, per = 8, 12
    g = np.repeat(np.arange(n_spk), per)
    y = g % 4 if one_class_each else np.tile(np.arange(per) % 4, n_spk)
    offsets = rng.normal(0, 0.5 if one_class_each else 6.0, (n_spk, 8))
    x = rng.normal(size=(len(y), 8)) + 2.5 * np.eye(4, 8)[y] + offsets[g]
    t = TargetSpec("emotion", kind="category", classes=CLASSES)
    frame = pd.DataFrame({"id": [f"s{i}" for i in range(len(y))], "group": [f"spk{k}" for k in g], "order": 0.0,
                          "emotion": np.array(CLASSES)[y]})
    return Corpus(frame, targets=(t,), features={"audio": x[:, None, :].astype(np.float32)})


def by_speaker(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Each speaker z-scored with its own mean and deviation (numpy, independently of affectlab)."""
    z = np.empty_like(x)
    for k in np.unique(g):
        rows = g == k
        z[rows] = (x[rows] - x[rows].mean(0)) / x[rows].std(0)
    return z


def hand_nested_svm(x: np.ndarray, y: np.ndarray, g: np.ndarray, test: np.ndarray) -> tuple[str, float, np.ndarray]:
    """Nested selection by hand with scikit-learn: for each mode, leave-one-speaker-out grid search of C on the
    training rows; the mode with the best mean inner UAR (ties: group, listed first) predicts the test rows.
    The linear SVM is fitted on Gram matrices, as affectlab fits it: the same model (see
    test_models_classifiers), and with group z-scores of one-class speakers (no signal left) the inner
    scores of near-degenerate fits would otherwise differ in libsvm's last bits. The inner folds are
    leave-one-speaker-out as GroupKFold orders them (inner_folds: groups): C values that tie score
    means that differ in the last bit with another order of the folds."""
    from sklearn.model_selection import GridSearchCV, GroupKFold
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    tr = ~test
    best: tuple[float, str, object, np.ndarray] | None = None
    for mode in ("group", "global"):
        if mode == "group":
            z_train, z_test = by_speaker(x[tr], g[tr]), by_speaker(x[test], g[test])
        else:
            scaler = StandardScaler().fit(x[tr])
            z_train, z_test = scaler.transform(x[tr]), scaler.transform(x[test])
        search = GridSearchCV(SVC(kernel="precomputed", class_weight="balanced"), {"C": CS}, scoring="balanced_accuracy",
                              cv=list(GroupKFold(len(np.unique(g[tr]))).split(z_train, y[tr], g[tr]))).fit(z_train @ z_train.T, y[tr])
        if best is None or search.best_score_ > best[0]:
            best = (search.best_score_, mode, search.best_estimator_, z_test @ z_train.T)
    assert best is not None
    _, mode, model, z_test = best
    return mode, float(model.C), model.predict(z_test)


@pytest.mark.parametrize("one_class_each, expected", [(True, "global"), (False, "group")])
def test_svm_choice_equals_hand_made_nested_selection(one_class_each, expected):
    c = speakers_corpus(one_class_each)
    x = c.features["audio"][:, 0, :].astype(np.float64)
    y = c.target_matrix()[:, 0].astype(int)
    g = c.frame["group"].to_numpy()
    chosen = []
    for held in np.unique(g):  # outer leave-one-speaker-out: the held-out speaker never reaches the selection
        test = g == held
        est = MODELS.get("svm_audio")(c.targets, kernel="linear", C=CS, inner_folds="groups",
                                      standardize=["group", "global"], class_weight="balanced")
        fit = est.fit(c.subset(np.flatnonzero(~test)), None, None)
        mode, C, pred = hand_nested_svm(x, y, g, test)
        assert fit.extra["selected"] == [{"C": C, "standardize": mode}]
        np.testing.assert_array_equal(est.predict(c.subset(np.flatnonzero(test)))[:, 0], pred)
        chosen.append(mode)
    assert chosen == [expected] * len(chosen)


@pytest.mark.parametrize("one_class_each, expected", [(True, "global"), (False, "group")])
def test_logistic_chooses_the_mode_and_then_fits_as_that_single_mode(one_class_each, expected):
    c = speakers_corpus(one_class_each, seed=1)
    train, test = c.subset(np.r_[0:84]), c.subset(np.r_[84:96])  # 7 training speakers, 1 held out
    est = MODELS.get("logistic_audio")(c.targets, Cs=CS, inner_folds="groups", standardize=["group", "global"])
    chosen = est.fit(train, None, None).extra["selected"]
    assert chosen[0]["standardize"] == expected
    single = MODELS.get("logistic_audio")(c.targets, Cs=CS, inner_folds="groups", standardize=expected)
    assert single.fit(train, None, None).extra["selected"] == [{"C": chosen[0]["C"]}]
    np.testing.assert_array_equal(est.predict(test), single.predict(test))


def test_the_chosen_mode_survives_the_state():
    import io

    import torch

    c = speakers_corpus(True)
    est = MODELS.get("svm_audio")(c.targets, kernel="linear", C=CS, inner_folds="groups", standardize=["group", "global"])
    est.fit(c, None, None)
    buf = io.BytesIO()
    torch.save(est.state(), buf)
    buf.seek(0)
    back = MODELS.get("svm_audio")(c.targets, kernel="linear", C=CS, standardize=["group", "global"])
    back.load_state(torch.load(buf, weights_only=True))
    assert back.scaler.mode == "global"
    np.testing.assert_array_equal(back.predict(c), est.predict(c))


@pytest.mark.parametrize("name, value, message", [
    ("svm_audio", ["group", "gloabl"], "model svm_audio: standardize: 'gloabl' is not one of global, group, corpus "
                                       "(did you mean `global`?)"),
    ("logistic_audio", "speaker", "'speaker' is not one of global, group, corpus"),
    ("svm_audio", [], "must be one of global, group, corpus or a non-empty list of them"),
    ("svm_audio", ["group", "group"], "lists a mode twice"),
    ("lda_audio", ["group", "global"], "model lda_audio: standardize takes one value here"),
    ("ridge_audio", ["group", "global"], "model ridge_audio: standardize takes one value here"),
])
def test_bad_modes_are_refused_in_one_line(name, value, message):
    from affectlab.models.spec import estimator_spec  # noqa: F401  (the schema check the CLI runs first)

    with pytest.raises(AffectlabError) as err:
        MODELS.get(name)(speakers_corpus(True).targets, standardize=value)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_train_reports_the_chosen_mode_per_fold_and_for_the_refit(tmp_path):
    """summary.json's selected and train's line 'selected C: ...; selected standardize: ...'; a typo: exit 2."""
    c = speakers_corpus(True)
    part = {"id": [f"{g}$_${i}" for g, i in zip(c.frame["group"], c.frame["id"])], "group": c.frame["group"].tolist(),
            "audio": c.features["audio"], "category_emotion": c.frame["emotion"].tolist(),
            "classification_labels_emotion": c.target_matrix()[:, 0].astype(np.int64)}
    data = tmp_path / "d.pkl"
    data.write_bytes(pickle.dumps({"train": part, "config": {"classes": {"emotion": list(CLASSES)}}}))
    config = tmp_path / "c.yaml"
    text = ("task: classification\nname: t\ndata:\n  format: mmsa\n  targets:\n    - {name: emotion, kind: category}\n"
            "split: {kind: leave_one_group_out}\nmodel:\n  name: svm_audio\n  kernel: linear\n  C: [0.01, 1.0]\n"
            "  inner_folds: groups\n  standardize: [group, {mode}]\n  class_weight: balanced\nseed: 1\n")
    config.write_text(text.replace("{mode}", "global"))
    done = subprocess.run([sys.executable, "-m", "affectlab", "train", str(config), "--data", str(data), "--out",
                           str(tmp_path / "run")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    folds = [f["fit"]["selected"][0] for f in summary["folds"]]
    n_global = sum(f["standardize"] == "global" for f in folds)
    assert len(folds) == 8 and all(f["standardize"] in ("group", "global") and f["C"] in (0.01, 1.0) for f in folds)
    assert n_global >= 6 and summary["fit"]["refit"]["selected"][0]["standardize"] == "global"
    assert f"selected standardize: global in {n_global} folds" in done.stdout + done.stderr
    assert "refit on all data: C " in done.stdout + done.stderr
    config.write_text(text.replace("{mode}", "globl"))
    bad = subprocess.run([sys.executable, "-m", "affectlab", "train", str(config), "--data", str(data), "--out",
                          str(tmp_path / "bad")], capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "did you mean `global`?" in bad.stderr and not (tmp_path / "bad").exists()
