"""``mlp``'s ``columns`` slice and its learned weighted sum over layers (``layer_weights``)."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest
import torch

from affectlab.config import TrainingConfig
from affectlab.corpus.base import Corpus, TargetSpec
from affectlab.core.errors import AffectlabError
from affectlab.models import MODELS
from affectlab.models.base import FitContext
from affectlab.models.mlp import LayerMix, MLPConfig, MLPNet
from conftest import run_cli

EMOTION = TargetSpec("emotion", kind="category", classes=("a", "b", "c"))


def corpus(n: int, seed: int, feats: dict[str, np.ndarray] | None = None, label: np.ndarray | None = None,
           lengths: dict[str, np.ndarray] | None = None) -> Corpus:
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 3, n) if label is None else label
    frame = pd.DataFrame({"id": [f"{seed}-{i}" for i in range(n)], "group": [f"s{i % 4}" for i in range(n)],
                          "order": np.arange(n, dtype=float), "emotion": np.array(EMOTION.classes)[label]})
    return Corpus(frame, (EMOTION,), features=feats or {}, lengths=lengths or {})


def accuracy(c: Corpus, pred: np.ndarray) -> dict[str, float]:
    return {"accuracy": float((pred[:, 0] == c.target_matrix()[:, 0]).mean())}


def ctx(epochs: int = 10, lr: float = 0.01) -> FitContext:
    return FitContext(TrainingConfig(max_epochs=epochs, batch_size=16, lr=lr, patience=epochs), seed=0, scorer=accuracy,
                      monitor="accuracy", monitor_higher_is_better=True)


def layered(n: int, seed: int, signal_layer: int, L: int = 4, D: int = 3) -> Corpus:
    """(N, L, D) features: the class moves the signal layer's first two columns; the other layers are noise
    (with more variance than the signal layer, so that an equal-weight mean dilutes the class)."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 3, n)
    x = rng.normal(0, 2.0, (n, L, D)).astype(np.float32)
    centres = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    x[:, signal_layer, :2] = centres[label] + rng.normal(0, 0.5, (n, 2))
    return corpus(n, seed, {"audio_ssl": x}, label)


# --- columns --------------------------------------------------------------------------------------

def test_columns_equal_fitting_on_the_sliced_arrays():
    """columns [3, 7] of audio (5) + text (4) side by side = audio's last 2 and text's first 2 columns."""
    rng = np.random.default_rng(0)
    feats = {"audio": rng.normal(size=(80, 1, 5)).astype(np.float32), "text": rng.normal(size=(80, 1, 4)).astype(np.float32)}
    label = (feats["audio"][:, 0, 4] + feats["text"][:, 0, 0] > 0).astype(int)
    full, val = corpus(80, 0, feats, label), corpus(80, 0, {k: v[::-1].copy() for k, v in feats.items()}, label[::-1].copy())
    sliced = corpus(80, 0, {"audio": feats["audio"][:, :, 3:5], "text": feats["text"][:, :, 0:2]}, label)
    sliced_val = corpus(80, 0, {k: v[::-1].copy() for k, v in sliced.features.items()}, label[::-1].copy())
    est = MODELS.get("mlp")((EMOTION,), hidden=[8], columns=[3, 7], standardize="group")
    est.fit(full, val, ctx())
    ref = MODELS.get("mlp")((EMOTION,), hidden=[8], standardize="group")
    ref.fit(sliced, sliced_val, ctx())
    assert est.net.cfg.input_dim == 4
    np.testing.assert_array_equal(est.predict(val), ref.predict(sliced_val))
    np.testing.assert_allclose(est._standardized(val), ref._standardized(sliced_val), atol=1e-6)


def test_columns_to_the_end_and_out_of_range():
    rng = np.random.default_rng(1)
    c = corpus(40, 1, {"audio": rng.normal(size=(40, 1, 6)).astype(np.float32)})
    est = MODELS.get("mlp")((EMOTION,), hidden=[4], columns=[2, None])
    est.fit(c, None, ctx(1))
    assert est.net.cfg.input_dim == 4
    with pytest.raises(AffectlabError, match=r"^model mlp: columns \[0, 9\] lie outside the 6 feature columns$"):
        MODELS.get("mlp")((EMOTION,), columns=[0, 9]).fit(c, None, ctx(1))
    with pytest.raises(AffectlabError, match="columns must be"):
        MODELS.get("mlp")((EMOTION,), columns=[5, 2])


# --- the layer mix --------------------------------------------------------------------------------

def test_layer_mix_starts_equal_sums_to_one_and_its_equal_weights_give_the_mean():
    mix = LayerMix((3, 2), (4, 1))
    (w,) = mix.weights().values()
    np.testing.assert_allclose(w.detach().numpy(), np.full(4, 0.25))
    with torch.no_grad():
        mix.logits["0"].copy_(torch.tensor([0.3, -2.0, 1.5, 0.0]))
    w = mix.weights()[0].detach().numpy()
    assert w.sum() == pytest.approx(1.0, abs=1e-6) and (w > 0).all()
    x = torch.randn(5, 14)
    expected = np.concatenate([np.einsum("bld,l->bd", x[:, :12].numpy().reshape(5, 4, 3), w), x[:, 12:].numpy()], axis=1)
    np.testing.assert_allclose(mix(x).detach().numpy(), expected, atol=1e-5)


def test_a_fresh_mixed_net_is_the_unmixed_net_on_the_layer_mean():
    mixed = MLPNet(MLPConfig(input_dim=4 * 3, n_targets=1, hidden=(8,), blocks=(3,), layers=(4,))).eval()
    plain = MLPNet(MLPConfig(input_dim=3, n_targets=1, hidden=(8,))).eval()
    plain.load_state_dict({k: v for k, v in mixed.state_dict().items() if not k.startswith("mix.")})
    x = torch.randn(6, 4, 3)
    with torch.no_grad():
        np.testing.assert_allclose(mixed(x.reshape(6, 12)).numpy(), plain(x.mean(1)).numpy(), atol=1e-6)


def test_the_layer_carrying_the_class_gets_the_largest_weight_and_survives_a_round_trip(tmp_path):
    train, val = layered(240, 0, signal_layer=2), layered(120, 1, signal_layer=2)
    est = MODELS.get("mlp")((EMOTION,), hidden=[16], dropout=0.0, layer_weights="audio_ssl")
    result = est.fit(train, val, ctx(30, lr=0.03))
    (w,) = result.extra["layer_weights"].values()
    assert list(result.extra["layer_weights"]) == ["audio_ssl"] and len(w) == 4
    assert sum(w) == pytest.approx(1.0) and int(np.argmax(w)) == 2 and w[2] > 0.4, w
    pred = est.predict(val)
    assert (pred[:, 0] == val.target_matrix()[:, 0]).mean() > 0.8
    torch.save(est.state(), tmp_path / "s.pt")
    again = MODELS.get("mlp")((EMOTION,))
    again.load_state(torch.load(tmp_path / "s.pt", weights_only=True))
    np.testing.assert_array_equal(again.predict(val), pred)
    assert again.layer_weights() == est.layer_weights()


def test_layers_are_standardised_per_layer_and_dimension_globally_or_per_group():
    train = layered(60, 2, signal_layer=0, L=3, D=2)
    x = train.features["audio_ssl"].reshape(60, 6).astype(float)
    est = MODELS.get("mlp")((EMOTION,), hidden=[4], layer_weights=["audio_ssl"])
    est.fit(train, None, ctx(1))
    np.testing.assert_allclose(est.stats[0], x.mean(0), atol=1e-6)
    np.testing.assert_allclose(est._standardized(train), (x - x.mean(0)) / x.std(0), atol=1e-5)
    group = MODELS.get("mlp")((EMOTION,), hidden=[4], layer_weights=["audio_ssl"], standardize="group")
    group.fit(train, None, ctx(1))
    z = group._standardized(train)
    rows = np.flatnonzero(train.frame.group == "s1")
    np.testing.assert_allclose(z[rows], (x[rows] - x[rows].mean(0)) / x[rows].std(0), atol=1e-5)


def test_samples_with_another_number_of_layers_are_refused_before_training():
    train = layered(40, 3, signal_layer=1)
    lengths = np.full(40, 4)
    lengths[[3, 9]] = 2
    bad = Corpus(train.frame, train.targets, features=train.features, lengths={"audio_ssl": lengths})
    est = MODELS.get("mlp")((EMOTION,), layer_weights=["audio_ssl"])
    with pytest.raises(AffectlabError, match=r"^model mlp: layer_weights needs the same number of layers \(rows\) in every "
                                             r"sample of 'audio_ssl'; 2 of 40 have 2 to 2 of 4$"):
        est.fit(bad, None, ctx(1))
    assert est.net is None  # nothing trained
    with pytest.raises(AffectlabError, match="2 of 40"):  # in the validation rows too, before training
        MODELS.get("mlp")((EMOTION,), layer_weights=["audio_ssl"]).fit(train, bad, ctx(1))
    with pytest.raises(AffectlabError, match="^feature 'audio_ssl' has 3 layers; the model was trained on 4$"):
        MODELS.get("mlp")((EMOTION,), layer_weights=["audio_ssl"]).fit(train, layered(20, 8, 0, L=3), ctx(1))
    missing = lengths.copy()
    missing[[3, 9]] = 0  # a missing modality is not a wrong number of layers: the mean after standardisation
    ok = MODELS.get("mlp")((EMOTION,), hidden=[4], layer_weights=["audio_ssl"])
    ok.fit(Corpus(train.frame, train.targets, features=train.features, lengths={"audio_ssl": missing}), None, ctx(1))
    fewer = corpus(10, 4, {"audio_ssl": np.zeros((10, 3, 3), np.float32)})
    with pytest.raises(AffectlabError, match="^feature 'audio_ssl' has 3 layers; the model was trained on 4$"):
        ok.predict(fewer)


def test_layer_weights_must_name_modalities_the_model_reads():
    with pytest.raises(AffectlabError, match="layer_weights must name distinct modalities among"):
        MODELS.get("mlp")((EMOTION,), modalities=["audio"], layer_weights=["audio_ssl"])
    c = layered(20, 5, signal_layer=0)
    with pytest.raises(AffectlabError, match=r"layer_weights names \['video'\], not among the modalities \['audio_ssl'\]"):
        MODELS.get("mlp")((EMOTION,), layer_weights=["video"]).fit(c, None, ctx(1))


def test_columns_slice_a_layered_modality_in_every_layer_and_old_checkpoints_load():
    rng = np.random.default_rng(6)
    c = layered(50, 6, signal_layer=1, L=3, D=4)
    c = Corpus(c.frame, c.targets, features={**c.features, "audio": rng.normal(size=(50, 1, 2)).astype(np.float32)})
    est = MODELS.get("mlp")((EMOTION,), hidden=[4], columns=[1, 4], layer_weights=["audio_ssl"])
    est.fit(c, None, ctx(1))  # modalities sorted: audio (2), audio_ssl (4 per layer): audio's col 1 and audio_ssl's 0-1
    assert est.ranges == [(1, 2), (0, 2)] and est.net.cfg.blocks == (1, 2) and est.net.cfg.input_dim == 1 + 3 * 2
    plain = MODELS.get("mlp")((EMOTION,), hidden=[4], modalities=["audio"])
    plain.fit(c, None, ctx(1))
    state = {k: v for k, v in plain.state().items() if k not in ("columns", "layer_weights", "layers")}
    old = MODELS.get("mlp")((EMOTION,))
    old.load_state(state)  # a checkpoint written before these keys: every column, mean-pooled
    np.testing.assert_array_equal(old.predict(c), plain.predict(c))


# --- the CLI --------------------------------------------------------------------------------------

@pytest.mark.slow
def test_affectlab_train_learns_layer_weights_on_a_three_layer_pickle(tmp_path, capsys):
    """An MMSA pickle with audio_ssl (N, 3, D), the class in layer 1: ``affectlab train`` prints the learned
    weights, summary.json keeps them, and predict on the saved model gives the run's own predictions."""
    c = layered(150, 7, signal_layer=1, L=3, D=4)
    n = len(c)
    part = {"id": [f"s{k % 5}$_$f{k}" for k in range(n)], "group": [f"s{k % 5}" for k in range(n)],
            "audio_ssl": c.features["audio_ssl"], "audio_ssl_lengths": np.full(n, 3),
            "category_emotion": list(c.frame["emotion"])}
    data = tmp_path / "d.pkl"
    data.write_bytes(pickle.dumps({"train": part}))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("task: classification\n"
                   "data: {format: mmsa, options: {modalities: [audio_ssl]}, targets: [{name: emotion, kind: category}]}\n"
                   "split: {kind: group_kfold, k: 5}\nbaselines: []\nseed: 0\n"
                   "model: {name: mlp, hidden: [16], dropout: 0.0, layer_weights: [audio_ssl]}\n"
                   "training: {lr: 0.03, max_epochs: 30, patience: 30, batch_size: 16}\n")
    code, out, err = run_cli(["train", cfg, "--data", data, "--out", tmp_path / "run", "--quiet"], capsys)
    assert code == 0, err
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    final = summary["fit"]["refit"]["layer_weights"]["audio_ssl"]
    assert sum(final) == pytest.approx(1.0) and int(np.argmax(final)) == 1
    assert all(int(np.argmax(f["fit"]["layer_weights"]["audio_ssl"])) == 1 for f in summary["folds"])
    line = next(ln for ln in out.splitlines() if "layer weights" in ln)
    assert line.strip() == f"layer weights audio_ssl: {' '.join(f'{w:.3f}' for w in final)} (largest: layer 1)"
    code, _, err = run_cli(["predict", tmp_path / "run", "--data", data, "--out", tmp_path / "p.csv"], capsys)
    assert code == 0, err
    pred = pd.read_csv(tmp_path / "p.csv")
    truth = dict(zip(part["id"], part["category_emotion"]))
    assert (pred["pred_emotion"] == pred["id"].map(truth)).mean() > 0.8
