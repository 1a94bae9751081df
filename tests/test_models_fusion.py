"""Fusion networks and estimators, ridge baselines: shapes, missing modalities, learning, checkpoints."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from affectlab.config import TrainingConfig
from affectlab.corpus.base import Corpus, TargetSpec
from affectlab.core.errors import AffectlabError
from affectlab.models import MODELS
from affectlab.models.base import FitContext
from affectlab.models.fusion import FusionConfig, build_fusion_net
from affectlab.models.ridge_modality import pool_mean
from affectlab.runner import make_scorer

KINDS = ("late", "early_lstm", "tensor", "attention")
FUSION = ("late_fusion", "early_lstm", "tensor_fusion", "cross_attention")
DIMS = {"text": 6, "audio": 4, "vision": 5}


def inputs(b: int = 5, L: int = 3, lengths=None) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    out = {}
    for m, d in DIMS.items():
        out[m] = torch.randn(b, L, d, generator=g)
        out[f"{m}_len"] = torch.tensor(lengths[m]) if lengths and m in lengths else torch.full((b,), L)
    return out


def net_config(kind: str, **kw) -> FusionConfig:
    return FusionConfig(kind=kind, modalities=tuple(DIMS), input_dims=tuple(DIMS.values()), n_targets=1,
                        hidden=8, fusion_dim=3, heads=2, **kw)


@pytest.mark.parametrize("kind", KINDS)
def test_shapes_padding_and_missing_modalities(kind):
    torch.manual_seed(0)
    net = build_fusion_net(net_config(kind)).eval()
    x = inputs(lengths={"audio": [3, 2, 0, 1, 3]})
    out = net(**x)
    assert out.shape == (5, 1) and torch.isfinite(out).all()
    # padding beyond a sample's length does not change its prediction
    y = {k: v.clone() for k, v in x.items()}
    y["audio"][1, 2:] = 100.0
    y["audio"][2] = 100.0  # missing: its values are never read
    assert torch.allclose(net(**y), out, atol=1e-5)
    # a missing modality uses the learned "missing" vector: changing that parameter moves only that row
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name == "missing":
                p.add_(1.0)
    moved = (net(**x) - out).abs().squeeze(1) > 1e-6
    if kind != "early_lstm":  # early fusion encodes absence by zeros + presence flags instead
        assert moved.tolist() == [False, False, True, False, False]


def test_tensor_fusion_is_an_outer_product_with_ones():
    net = build_fusion_net(net_config("tensor")).eval()
    assert net.head[1].in_features == (3 + 1) ** 3


def test_modality_dropout_never_hides_everything():
    net = build_fusion_net(net_config("late", modality_dropout=0.3)).train()
    torch.manual_seed(0)
    present = net.presence(inputs(b=400))
    assert present.any(1).all() and 0.62 < present.float().mean() < 0.8  # 0.7 + 0.3 ** 3 * 0.3 expected
    assert net.eval().presence(inputs(b=10)).all()


def corpus(n: int, seed: int, L: int = 2, noise: float = 0.3, audio_len: int | None = None) -> Corpus:
    rng = np.random.default_rng(seed)
    y = np.clip(rng.normal(0, 1.2, n), -3, 3)
    feats = {}
    for m, d in DIMS.items():
        x = rng.normal(0, 1, (n, L, d)).astype(np.float32)
        x[:, :, 0] = (y[:, None] + noise * rng.normal(size=(n, L))) * (20 if m == "audio" else 1)  # heavy scale
        feats[m] = x
    frame = pd.DataFrame({"id": [f"s{seed}_{i}" for i in range(n)], "group": [f"g{i % 7}" for i in range(n)],
                          "order": np.arange(n, dtype=float), "sentiment": y})
    lengths = {m: np.full(n, L) for m in DIMS}
    if audio_len is not None:
        lengths["audio"][::5] = audio_len
    return Corpus(frame, (TargetSpec("sentiment", -3, 3),), features=feats, lengths=lengths)


def ctx(**training) -> FitContext:
    t = TrainingConfig(**{"max_epochs": 25, "batch_size": 16, "lr": 3e-3, "patience": 30, **training})
    return FitContext(training=t, seed=3, scorer=make_scorer("mosi", (TargetSpec("sentiment", -3, 3),), set()),
                      monitor="mae", monitor_higher_is_better=False)


@pytest.mark.parametrize("name", FUSION)
def test_fusion_estimators_learn_and_round_trip_checkpoints(name, tmp_path):
    train, val = corpus(160, 0, audio_len=0), corpus(60, 1)
    est = MODELS.get(name)(train.targets, hidden=16, fusion_dim=4, heads=2, modality_dropout=0.1)
    result = est.fit(train, val, ctx())
    pred = est.predict(val)
    y = val.target_matrix()
    mae = np.abs(pred - y).mean()
    assert mae < 0.6 * np.abs(y - np.median(y)).mean(), (name, mae)  # far better than a constant
    assert result.best_epoch >= 1 and result.history[0]["val_mae"] > result.history[result.best_epoch - 1]["val_mae"] - 1e-12
    torch.save(est.state(), tmp_path / "s.pt")
    again = MODELS.get(name)(train.targets, hidden=16, fusion_dim=4, heads=2)
    again.load_state(torch.load(tmp_path / "s.pt", weights_only=True))
    np.testing.assert_allclose(again.predict(val), pred, atol=1e-6)
    # same seed, same numbers
    est2 = MODELS.get(name)(train.targets, hidden=16, fusion_dim=4, heads=2, modality_dropout=0.1)
    est2.fit(train, val, ctx())
    np.testing.assert_allclose(est2.predict(val), pred, atol=1e-6)


def test_single_modality_and_bad_parameters():
    train, val = corpus(80, 0), corpus(30, 1)
    est = MODELS.get("late_fusion")(train.targets, modalities=["text"], hidden=8)
    assert est.needs_features == ("text",)
    est.fit(train, val, ctx(max_epochs=3))
    with pytest.raises(AffectlabError, match="unknown parameter"):
        MODELS.get("late_fusion")(train.targets, hiden=3)
    with pytest.raises(AffectlabError, match="modalities must be distinct"):
        MODELS.get("tensor_fusion")(train.targets, modalities=["text", "smell"])
    wrong = corpus(10, 2)
    wrong.features["text"] = wrong.features["text"][:, :, :3]
    with pytest.raises(AffectlabError, match="has 3 dimensions; the model was trained on 6"):
        est.predict(wrong)
    ragged = corpus(30, 3)
    ragged.features["audio"] = np.zeros((30, 5, 4), np.float32)
    with pytest.raises(AffectlabError, match="early_lstm needs time-aligned"):
        MODELS.get("early_lstm")(train.targets).fit(ragged, None, ctx(max_epochs=1))


def test_ridge_baselines_match_sklearn_and_pool_over_valid_steps():
    from sklearn.linear_model import RidgeCV
    from sklearn.preprocessing import StandardScaler

    train, val = corpus(120, 0, L=3), corpus(40, 1, L=3)
    train.lengths["vision"] = np.where(np.arange(120) % 3 == 0, 1, 3)
    x = train.features["vision"]
    pooled = pool_mean(x, train.lengths["vision"])
    np.testing.assert_allclose(pooled[0], x[0, 0], rtol=1e-6)
    np.testing.assert_allclose(pooled[1], x[1].mean(axis=0), rtol=1e-6)
    est = MODELS.get("ridge_vision")(train.targets)
    est.fit(train, None, None)
    scaler = StandardScaler().fit(pooled)
    ref = RidgeCV(alphas=est.alphas).fit(scaler.transform(pooled), train.target_matrix()[:, 0])
    xv = pool_mean(val.features["vision"], val.lengths["vision"])
    np.testing.assert_allclose(est.predict(val)[:, 0], np.clip(ref.predict(scaler.transform(xv)), -3, 3), atol=1e-8)
    all_ = MODELS.get("ridge_all")(train.targets)
    all_.fit(train, None, None)
    assert all_.needs_features == ("text", "audio", "vision") and all_.fitted["coef"].shape == (1, 15)
    restored = MODELS.get("ridge_all")(train.targets)
    restored.load_state(all_.state())
    np.testing.assert_allclose(restored.predict(val), all_.predict(val))


def test_checkpoints_from_before_category_targets_still_load():
    # configs written before ``widths`` existed: one output column per target, same parameter names
    old = {k: v for k, v in net_config("late", init_means=(0.5,)).to_dict().items() if k != "widths"}
    cfg = FusionConfig.from_dict(old)
    assert cfg.layout.widths == (1,)
    net = build_fusion_net(cfg)
    assert net.out.out_features == 1 and float(net.out.bias) == 0.5
    from affectlab.models.sequence import SequenceConfig, UserSequenceNet

    seq = UserSequenceNet(SequenceConfig(input_dim=4, n_targets=2, user_dim=2, proj_dim=4, hidden=4))
    assert {"heads.heads.0.0.weight", "heads.heads.1.0.bias"} <= set(seq.state_dict())
