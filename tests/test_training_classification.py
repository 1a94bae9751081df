"""Networks on category and mixed targets: mlp, fusion and user_sequence; refusals; checkpoints."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from affectlab.config import LossTerms, TrainingConfig
from affectlab.corpus.base import Corpus, TargetSpec
from affectlab.core.errors import AffectlabError
from affectlab.models import MODELS
from affectlab.models.base import FitContext

EMOTION = TargetSpec("emotion", kind="category", classes=("anger", "joy", "sadness"))
AROUSAL = TargetSpec("arousal", 0, 1)


def corpus(n: int, seed: int, targets=(EMOTION,), L: int = 1, n_groups: int = 6, shift: float = 0.0) -> Corpus:
    """Three classes, separable along two feature directions, plus an arousal value from a third."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 3, n)
    centres = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    arousal = rng.uniform(0, 1, n)
    feats = {}
    for m, d in (("audio", 5), ("text", 4)):
        x = rng.normal(0, 0.6, (n, L, d)).astype(np.float32)
        x[:, :, :2] += centres[label][:, None, :]
        x[:, :, 2] = 0.2 * x[:, :, 2] + 3 * arousal[:, None]
        feats[m] = x
    group = np.array([f"spk{i % n_groups}" for i in range(n)])
    # a per-speaker offset on audio that speaker normalisation removes
    offset = {g: shift * k for k, g in enumerate(sorted(set(group)))}
    feats["audio"] += np.array([offset[g] for g in group], np.float32)[:, None, None]
    frame = pd.DataFrame({"id": [f"{seed}-{i}" for i in range(n)], "group": group, "order": np.arange(n, dtype=float),
                          "emotion": np.array(EMOTION.classes)[label], "arousal": arousal})
    return Corpus(frame, tuple(targets), features=feats)


def scorer(c: Corpus, pred: np.ndarray) -> dict[str, float]:
    """Accuracy per category target, MAE per regression target; ``score`` their mean accuracy."""
    y = c.target_matrix()
    out = {}
    for j, t in enumerate(c.targets):
        keep = ~np.isnan(y[:, j])
        if t.is_category:
            out[f"accuracy_{t.name}"] = float((pred[keep, j] == y[keep, j]).mean())
        else:
            out[f"mae_{t.name}"] = float(np.abs(pred[keep, j] - y[keep, j]).mean())
    out["accuracy"] = float(np.mean([v for k, v in out.items() if k.startswith("accuracy_")]))
    return out


def ctx(seed: int = 0, **training) -> FitContext:
    cfg = TrainingConfig(**{"max_epochs": 15, "batch_size": 16, "lr": 0.01, "patience": 15, **training})
    return FitContext(training=cfg, seed=seed, scorer=scorer, monitor="accuracy", monitor_higher_is_better=True)


def test_mlp_learns_three_separable_classes_and_round_trips(tmp_path):
    train, val = corpus(150, 0), corpus(90, 1)
    est = MODELS.get("mlp")(train.targets, hidden=[16], dropout=0.1)
    result = est.fit(train, val, ctx())
    pred = est.predict(val)
    assert set(np.unique(pred)) <= {0.0, 1.0, 2.0}
    assert (pred[:, 0] == val.target_matrix()[:, 0]).mean() > 0.85  # chance is 1/3
    assert est.modalities == ("audio", "text")  # every feature array, sorted
    assert result.best_epoch >= 1 and "val_loss" in result.history[0]
    torch.save(est.state(), tmp_path / "s.pt")
    again = MODELS.get("mlp")(train.targets)
    again.load_state(torch.load(tmp_path / "s.pt", weights_only=True))
    np.testing.assert_array_equal(again.predict(val), pred)
    twin = MODELS.get("mlp")(train.targets, hidden=[16], dropout=0.1)
    twin.fit(train, val, ctx())
    np.testing.assert_array_equal(twin.predict(val), pred)  # same seed, same numbers


def test_mlp_on_a_mixed_category_and_regression_problem_with_a_fixed_epoch_refit():
    targets = (EMOTION, AROUSAL)
    train, val = corpus(200, 2, targets), corpus(90, 3, targets)
    train.frame.loc[::7, "emotion"] = None  # missing labels are ignored by the loss
    est = MODELS.get("mlp")(targets, hidden=[32], dropout=0.0, modalities=["audio"])
    est.fit(train, val, ctx(max_epochs=25, losses={"arousal": LossTerms(mse=1.0)}, class_weights="balanced"))
    pred, y = est.predict(val), val.target_matrix()
    assert (pred[:, 0] == y[:, 0]).mean() > 0.85
    assert np.abs(pred[:, 1] - y[:, 1]).mean() < 0.6 * np.abs(y[:, 1] - np.median(y[:, 1])).mean()
    assert ((pred[:, 1] >= 0) & (pred[:, 1] <= 1)).all()  # clipped to the declared range
    refit = MODELS.get("mlp")(targets, hidden=[32], dropout=0.0, modalities=["audio"])
    result = refit.fit(train, val, FitContext(training=ctx().training, seed=0, scorer=scorer, fixed_epochs=3))
    assert [r["epoch"] for r in result.history] == [1, 2, 3] and result.best_epoch == 3
    assert "val_loss" not in result.history[-1]


def test_group_standardisation_is_each_groups_own_z_score():
    train = corpus(120, 4, shift=5.0)
    est = MODELS.get("mlp")(train.targets, modalities=["audio"], standardize="group", hidden=[8])
    est.fit(train, None, ctx(max_epochs=1))
    single = corpus(13, 5, shift=5.0, n_groups=12)  # spk0 has two samples, the other groups one
    z = est._standardized(single)
    x = single.features["audio"][:, 0, :].astype(float)
    rows = np.flatnonzero(single.frame.group == "spk0")
    ref = (x[rows] - x[rows].mean(0)) / x[rows].std(0)  # population sd, as scikit-learn's StandardScaler
    np.testing.assert_allclose(z[rows], ref, atol=1e-5)
    lone = np.flatnonzero(single.frame.group == "spk5")[0]  # one sample: the training statistics
    mean, std = est.stats
    np.testing.assert_allclose(z[lone], np.clip((x[lone] - mean) / std, -10, 10), atol=1e-5)
    # the per-speaker offset is gone: spk0 and spk5 rows of the training data look alike
    zt = est._standardized(train)
    assert abs(zt[train.frame.group == "spk0", 3].mean() - zt[train.frame.group == "spk5", 3].mean()) < 0.1


@pytest.mark.parametrize("name", ["late_fusion", "tensor_fusion", "early_lstm", "cross_attention"])
def test_fusion_models_accept_a_category_target(name):
    targets = (EMOTION, AROUSAL)
    train, val = corpus(120, 6, targets, L=2), corpus(60, 7, targets, L=2)
    est = MODELS.get(name)(targets, modalities=["audio", "text"], hidden=16, fusion_dim=4, heads=2)
    assert "category" in est.target_kinds
    # the regression side's loss named (MAE): this test is about the category head, not the default loss
    est.fit(train, val, ctx(max_epochs=10, losses={"arousal": {"mae": 1.0}}))
    pred = est.predict(val)
    assert pred.shape == (60, 2) and set(np.unique(pred[:, 0])) <= {0.0, 1.0, 2.0}
    assert (pred[:, 0] == val.target_matrix()[:, 0]).mean() > 0.85, name
    assert est.net.cfg.widths == (3, 1) and len(est.net.cfg.init_means) == 4
    again = MODELS.get(name)(targets)
    again.load_state(est.state())
    np.testing.assert_array_equal(again.predict(val), pred)


def test_user_sequence_accepts_a_category_target(tmp_path):
    targets = (EMOTION, AROUSAL)
    c = corpus(160, 8, targets, n_groups=8)
    c.features["text"] = c.features["text"][:, 0, :]
    train, val = c.subset(c.frame.order < 120), c.subset(c.frame.order >= 120)
    est = MODELS.get("user_sequence")(targets, user_dim=4, proj_dim=16, hidden=8)
    est.fit(train, val, ctx(max_epochs=12))
    pred = est.predict(val)
    assert set(np.unique(pred[:, 0])) <= {0.0, 1.0, 2.0}
    assert (pred[:, 0] == val.target_matrix()[:, 0]).mean() > 0.85
    torch.save(est.state(), tmp_path / "s.pt")
    again = MODELS.get("user_sequence")(targets, user_dim=4, proj_dim=16, hidden=8)
    again.load_state(torch.load(tmp_path / "s.pt", weights_only=True))
    np.testing.assert_array_equal(again.predict(val), pred)


def test_refusals_are_one_line():
    with pytest.raises(AffectlabError, match=r"^model ridge_audio cannot predict category target 'emotion'") as err:
        MODELS.get("ridge_audio").check_target_kinds("ridge_audio", (AROUSAL, EMOTION))
    assert "\n" not in str(err.value)
    MODELS.get("mlp").check_target_kinds("mlp", (AROUSAL, EMOTION))  # accepted
    train = corpus(30, 9, (EMOTION, AROUSAL))
    with pytest.raises(AffectlabError, match="ce cannot apply to regression target 'arousal'"):
        MODELS.get("mlp")(train.targets).fit(train, None, ctx(max_epochs=1, losses={"arousal": LossTerms(ce=1.0)}))
    with pytest.raises(AffectlabError, match="ccc cannot apply to category target 'emotion'"):
        MODELS.get("mlp")(train.targets).fit(train, None, ctx(max_epochs=1, losses={"emotion": LossTerms(ccc=1.0)}))
    one = TargetSpec("emotion", kind="category", classes=("anger",))
    with pytest.raises(AffectlabError, match="needs at least two classes"):
        MODELS.get("mlp")((one,)).fit(train.with_targets((one,)), None, ctx(max_epochs=1))
    with pytest.raises(AffectlabError, match="standardize must be global or group"):
        MODELS.get("mlp")(train.targets, standardize="speaker")
