"""Feature-space transfer: alignment maths against hand computations, adapters, end-to-end run, bad input."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from test_corpus_mmsa import make_mmsa

from affectlab.transfer.align import (coral_map, mapping_quality, mmd2, moment_map, pseudo_targets,
                                      standardization_map)

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- alignment maths

def _sqrtm_ref(c: np.ndarray) -> np.ndarray:
    from scipy.linalg import sqrtm

    return np.real(sqrtm(c))


def test_coral_aligned_covariance_equals_source_covariance():
    rng = np.random.default_rng(1)
    xs = rng.normal(size=(400, 4)) @ rng.normal(size=(4, 4)) + 3.0
    xt = rng.normal(size=(300, 4)) * np.array([5.0, 0.2, 1.0, 2.0]) - 1.0
    w, b = coral_map(xt, xs, eps=0.0)
    aligned = xt @ w + b
    np.testing.assert_allclose(np.cov(aligned, rowvar=False), np.cov(xs, rowvar=False), atol=1e-8)
    np.testing.assert_allclose(aligned.mean(0), xs.mean(0), atol=1e-8)
    # the map itself: C_t^{-1/2} C_s^{1/2} computed independently with scipy
    ref = np.linalg.inv(_sqrtm_ref(np.cov(xt, rowvar=False))) @ _sqrtm_ref(np.cov(xs, rowvar=False))
    np.testing.assert_allclose(w, ref, atol=1e-8)


def test_mmd_identical_is_zero_and_matches_a_double_loop():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(7, 3)), rng.normal(size=(5, 3)) + 1.0
    assert float(mmd2(x, x)) == pytest.approx(0.0, abs=1e-12)
    h = 1.3

    def k(a, b):
        d2 = ((a - b) ** 2).sum()
        return sum(np.exp(-d2 / (2 * (s * h) ** 2)) for s in (0.5, 1.0, 2.0))

    kxx = np.mean([k(a, b) for a in x for b in x])
    kyy = np.mean([k(a, b) for a in y for b in y])
    kxy = np.mean([k(a, b) for a in x for b in y])
    assert float(mmd2(x, y, h)) == pytest.approx(kxx + kyy - 2 * kxy, rel=1e-10)
    assert float(mmd2(x, y, h)) > float(mmd2(y + 0.01, y, h))


def test_standardisation_matches_source_moments():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 3)) * [1.0, 4.0, 0.5] + [2.0, -1.0, 0.0]
    mu, sd = np.array([0.5, 1.0, -2.0]), np.array([2.0, 0.5, 1.0])
    w, b = moment_map(x, mu, sd)
    y = x @ w + b
    np.testing.assert_allclose(y.mean(0), mu, atol=1e-10)
    np.testing.assert_allclose(y.std(0), sd, atol=1e-10)
    # different dimension counts: principal components get the source moments
    w2, b2 = standardization_map(rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6)), mu, sd)
    assert w2.shape == (6, 3)


def test_pseudo_target_schemes():
    ys = np.arange(12, dtype=float).reshape(6, 2)
    fs = np.eye(6)
    ft = np.eye(6)[[2, 4]] + 0.01
    t, i = pseudo_targets("nn", 2, ys, ft=ft, fs=fs)
    assert i.tolist() == [2, 4] and np.allclose(t, ys[[2, 4]])
    exclude = np.zeros((2, 6), bool)
    exclude[0, 2] = True  # its own id: must pick another
    _, i2 = pseudo_targets("nn", 2, ys, ft=ft, fs=fs, exclude=exclude)
    assert i2[0] != 2 and i2[1] == 4
    t3, i3 = pseudo_targets("random", 50, ys, seed=0)
    assert np.allclose(t3, ys[i3])
    t4, _ = pseudo_targets("kmeans", 2, ys, ft=ft, fs=fs, clusters=6)
    assert np.allclose(t4, ys[[2, 4]])  # one source sample per cluster: its own vector


def test_adapter_recovers_a_known_linear_map_on_paired_data():
    from affectlab.transfer.adapters import Adapter, AdapterSpec

    torch.manual_seed(0)
    rng = np.random.default_rng(4)
    w_true = rng.normal(size=(8, 5))
    x = rng.normal(size=(600, 8)).astype(np.float32)
    y = (x @ w_true + 0.5).astype(np.float32)
    for spec in (AdapterSpec(8, 5, kind="linear"), AdapterSpec(8, 5, kind="mlp", depth=1, width=32, residual=True)):
        a = Adapter(spec)
        opt = torch.optim.Adam(a.parameters(), lr=0.02)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        for _ in range(800):
            opt.zero_grad()
            loss = ((a(xt) - yt) ** 2).mean()
            loss.backward()
            opt.step()
        held = rng.normal(size=(200, 8)).astype(np.float32)
        q = mapping_quality(a(torch.from_numpy(held)).detach().numpy(), held @ w_true + 0.5)
        assert q["r2"].min() > 0.98, spec
        if spec.kind == "linear":
            np.testing.assert_allclose(a.skip.weight.detach().numpy().T, w_true, atol=0.02)


# --------------------------------------------------------------------------- end to end

def cli(args, capsys):
    from conftest import run_cli

    return run_cli(args, capsys)


def _target_pickle(src: Path, path: Path, dim: int = 9, drop: str | None = None) -> Path:
    """The same samples with text through a fixed linear map into ``dim`` dimensions (another extractor)."""
    data = pickle.loads(src.read_bytes())
    rng = np.random.default_rng(11)
    m = rng.normal(size=(6, dim)).astype(np.float32)
    for part in data.values():
        part["text"] = (part["text"] @ m).astype(np.float32)
        if drop:
            del part[drop]
    path.write_bytes(pickle.dumps(data, protocol=4))
    return path


def _config(tmp: Path, **transfer) -> Path:
    raw = yaml.safe_load((ROOT / "configs" / "mosi" / "transfer-text-encoder.yaml").read_text())
    raw["data"]["options"]["text_source"] = "features"  # the synthetic target carries its own 9-d text arrays
    raw["training"].update(max_epochs=4, patience=2)
    raw["transfer"].update({"bootstrap": 50, "stages": [
        {"kind": "pseudo", "scheme": "nn", "exclude": "id", "epochs": 3},
        {"kind": "pseudo", "scheme": "label", "neighbours": 3, "exclude": "id", "epochs": 2},
        {"kind": "standardize"}, {"kind": "coral"}, {"kind": "mmd", "epochs": 2},
        {"kind": "supervised", "epochs": 3}]}, **transfer)
    raw["transfer"]["adapters"] = {"text": {"kind": "mlp", "depth": 1, "width": 16, "residual": True,
                                            "source_extractor": "file-text", "target_extractor": "projected-text"}}
    p = tmp / "transfer.yaml"
    p.write_text(yaml.safe_dump(raw))
    return p


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    from affectlab.experiment import load_config
    from affectlab.pipeline import train_run

    tmp = tmp_path_factory.mktemp("transfer-src")
    data = make_mmsa(tmp / "src.pkl")
    cfg = load_config(ROOT / "configs" / "mosi" / "features.yaml",  # the source run of the MOSI scenario
                      ["training.max_epochs=3", "model.name=late_fusion", "model.hidden=8", "baselines=[]"])
    run = train_run(cfg, data, tmp / "src-run")
    target = _target_pickle(data, tmp / "target.pkl")
    return run, data, target


def test_transfer_then_predict_end_to_end(source, tmp_path, capsys):
    run, src_data, target = source
    cfg = _config(tmp_path, k=12)
    out = tmp_path / "adapted"
    code, stdout, err = cli(["transfer", cfg, "--source-run", run, "--data", target, "--out", out, "--seed", "3", "-q"], capsys)
    assert code == 0, err
    for name in ("config.yaml", "summary.json", "checkpoint.ckpt", "predictions.csv", "metrics.csv", "stages.csv",
                 "mapping.csv", "comparison_predictions.csv", "transfer.md"):
        assert (out / name).is_file(), name
    s = json.loads((out / "summary.json").read_text())
    assert s["model"] == "adapted" and s["source_model"] == "late_fusion" and s["transfer"]["k"] == 12
    assert s["selection"]["test_used_for_selection"] is False and s["selection"]["split"] == "val"
    assert s["transfer"]["adapters"]["text"]["in_dim"] == 9 and s["transfer"]["adapters"]["text"]["out_dim"] == 6
    comp = s["transfer_comparison"]
    assert set(comp["rows"]) == {"adapted", "scratch_k", "standardization_map", "oracle", "source_reference"}
    assert comp["rows"]["adapted"]["mae"]["ci_low"] <= comp["rows"]["adapted"]["mae"]["value"] <= comp["rows"]["adapted"]["mae"]["ci_high"]
    assert comp["verdict"] and "transfer comparison" in stdout
    # the K labelled samples came from train, seeded, and are recorded
    preds = pd.read_csv(out / "predictions.csv", dtype={"id": str})
    assert preds.loc[preds.k_shot, "split"].eq("train").all() and preds.k_shot.sum() == 12
    # every comparison number traces to comparison_predictions.csv
    from affectlab.evaluation.scoring import score_arrays

    cp = pd.read_csv(out / "comparison_predictions.csv", dtype={"id": str})
    for name, row in comp["rows"].items():
        sub = cp[cp.model == name]
        again = score_arrays("mosi", sub[["sentiment"]].to_numpy(), sub[["pred_sentiment"]].to_numpy(), ["sentiment"])
        assert again["mae"] == pytest.approx(row["mae"]["value"])
    stages = pd.read_csv(out / "stages.csv")
    assert {"0:pseudo", "1:pseudo", "2:standardize", "3:coral", "4:mmd", "5:supervised/model", "5:supervised/all"} <= set(stages.stage)
    assert set(s["mmd"]) >= {"initial", "after_alignment", "final", "standardization_map"}
    mapping = pd.read_csv(out / "mapping.csv")
    assert set(mapping.model) == {"adapted", "standardization_map"} and mapping.dim.nunique() == 6
    # predict works like any run: ids exactly, weights_only checkpoint
    torch.load(out / "checkpoint.ckpt", weights_only=True)
    code, _, err = cli(["predict", out, "--data", target, "--split", "test", "--out", tmp_path / "p.csv"], capsys)
    assert code == 0, err
    p = pd.read_csv(tmp_path / "p.csv", dtype={"id": str})
    assert p.columns.tolist() == ["id", "pred_sentiment"]
    assert p["id"].tolist() == pickle.loads(target.read_bytes())["test"]["id"]
    np.testing.assert_allclose(p.pred_sentiment, preds[preds.split == "test"].pred_sentiment, atol=1e-6)
    # the source's own features (6-d) are refused by the adapted run with one line
    code, _, err = cli(["predict", out, "--data", src_data, "--split", "test", "--out", tmp_path / "bad.csv"], capsys)
    assert code == 2 and "dimensions" in err and not (tmp_path / "bad.csv").exists()


def test_k_zero_uses_no_labels(source, tmp_path):
    from affectlab.transfer.config import load_transfer_config
    from affectlab.transfer.run import transfer_run

    run, _, target = source
    cfg, t_cfg = load_transfer_config(_config(tmp_path), ["transfer.k=0", "transfer.stages=[{kind: coral}, {kind: supervised}]"])
    out = transfer_run(cfg, t_cfg, run, target, tmp_path / "k0")
    s = json.loads((out / "summary.json").read_text())
    assert s["selection"]["val_labels_used"] == 0 and s["transfer"]["k_ids"] == []
    assert "scratch_k" not in s["transfer_comparison"]["rows"]
    assert any("K=0" in v for v in s["transfer_comparison"]["verdict"])


def _category_run(tmp: Path, run: Path) -> Path:
    """A copy of the source run whose checkpoint says it predicts 'sentiment' as a category."""
    import shutil

    out = tmp / "category-run"
    shutil.copytree(run, out)
    ckpt = torch.load(out / "checkpoint.ckpt", weights_only=True)
    ckpt["targets"] = [{"name": "sentiment", "kind": "category", "classes": ["neg", "pos"]}]
    torch.save(ckpt, out / "checkpoint.ckpt")
    return out


def _semeval_run(tmp: Path) -> Path:
    from conftest import semeval_frame

    from affectlab.config import RunConfig
    from affectlab.pipeline import train_run

    csv = tmp / "sem.csv"
    semeval_frame().to_csv(csv, index=False)
    cfg = RunConfig.model_validate({"task": "semeval", "model": {"name": "global_mean"}, "baselines": [],
                                    "data": {"targets": [{"name": "valence"}, {"name": "arousal"}]}})
    return train_run(cfg, csv, tmp / "sem-run")


@pytest.mark.parametrize("case", ["other_task", "missing_modality", "undeclared_dims", "k_too_large",
                                  "no_source_data", "declared_dim_wrong", "declared_out_dim_wrong", "same_extractor",
                                  "same_extractor_declared", "other_target_kind"])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(source, tmp_path, capsys, case):
    run, src_data, target = source
    sets: list[str] = []
    if case == "other_task":
        run = _semeval_run(tmp_path)
        message = "semeval run"
    elif case == "missing_modality":
        target = _target_pickle(src_data, tmp_path / "novision.pkl", drop="vision")
        message = "lacks modality 'vision'"
    elif case == "undeclared_dims":
        sets = ["transfer.adapters={}"]
        message = "declare an adapter under transfer.adapters.text"
    elif case == "k_too_large":
        sets = ["transfer.k=61"]
        message = "only 60 labelled samples"
    elif case == "no_source_data":
        sets = [f"transfer.source_data={tmp_path / 'gone.pkl'}"]
        message = "is not available"
    elif case == "declared_dim_wrong":
        sets = ["transfer.adapters.text.in_dim=7"]
        message = "in_dim is 7"
    elif case == "declared_out_dim_wrong":
        sets = ["transfer.adapters.text.out_dim=100"]
        message = "out_dim is 100 but the source model's 'text' has 6"
    elif case == "same_extractor":  # the source's own features, named as the same extractor: found after reading
        target = src_data
        sets = ["transfer.adapters.text.target_extractor=file-text"]
        message = "both 'file-text' with 6 dimensions: nothing to adapt"
    elif case == "same_extractor_declared":  # names and dimensions in the config: refused before anything is read
        run = tmp_path / "no-such-run"
        sets = ["transfer.adapters.text.target_extractor=file-text", "transfer.adapters.text.in_dim=6",
                "transfer.adapters.text.out_dim=6"]
        message = "nothing to adapt"
    else:  # a source run of the same task and target name, but a classifier
        run = _category_run(tmp_path, run)
        message = "trained on sentiment (category); this transfer config declares sentiment (regression)"
    out = tmp_path / "out"
    args = ["transfer", _config(tmp_path), "--source-run", run, "--data", target, "--out", out, "-q"]
    for s in sets:
        args += ["--set", s]
    code, _, err = cli(args, capsys)
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists() and not list(tmp_path.glob(".out.tmp-*"))


# --------------------------------------------------------------------------- one training loop

def test_label_pseudo_targets_against_a_hand_computation():
    from affectlab.transfer.align import label_targets

    ys = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0], [6.0, 7.0]])
    ys_labels = np.array([[0.1], [0.5], [0.9], [np.nan]])  # an unlabelled source row is never picked
    yt = np.array([[0.45], [1.0]])
    out = label_targets(yt, ys_labels, ys, neighbours=2)
    np.testing.assert_allclose(out, [(ys[1] + ys[0]) / 2, (ys[2] + ys[1]) / 2])
    exclude = np.array([[False, True, False, False], [False, False, False, False]])  # e.g. the same speaker
    np.testing.assert_allclose(label_targets(yt, ys_labels, ys, exclude=exclude, neighbours=1)[0], ys[0])


def _fitted_fusion(tmp: Path):
    from affectlab.experiment import load_config
    from affectlab.corpus import read_corpus
    from affectlab.models.base import FitContext
    from affectlab.pipeline import estimator_for

    cfg = load_config(ROOT / "configs" / "mosi" / "features.yaml",
                      ["training.max_epochs=2", "model.name=late_fusion", "model.hidden=8", "baselines=[]"])
    corpus = read_corpus(make_mmsa(tmp / "d.pkl"), cfg.data)
    train, val, _ = _holdout_parts(corpus, cfg)
    est = estimator_for(cfg, corpus.targets, "late_fusion", cfg.model.params())
    est.fit(train, val, FitContext(training=cfg.training, seed=1, scorer=lambda c, p: {"mae": float(np.abs(p - c.target_matrix()).mean())},
                                   monitor="mae", monitor_higher_is_better=False))
    return est, train, cfg


def test_train_net_trains_only_the_named_parameters_and_gives_them_back(tmp_path):
    from affectlab.models.base import FitContext

    est, train, cfg = _fitted_fusion(tmp_path)
    before = {k: v.clone() for k, v in est.net.state_dict().items()}
    ctx = FitContext(training=cfg.training.model_copy(update={"lr": 0.05}), seed=2, scorer=lambda c, p: {},
                     fixed_epochs=2)
    est.train_net(train, None, ctx, est.target_plan(train.target_matrix(), cfg.training), trainable=("head.",))
    after = est.net.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("head.") for k in changed), changed
    assert all(p.requires_grad for p in est.net.parameters())  # frozen only for that fit


def test_one_default_loss():
    from affectlab.config import LossTerms, TrainingConfig
    from affectlab.corpus.base import TargetSpec
    from affectlab.models import MODELS

    est = MODELS.get("late_fusion")((TargetSpec("sentiment", -3, 3),), modalities=["text"])
    plan = est.target_plan(np.zeros((3, 1)), TrainingConfig())  # what fit and every transfer stage use
    assert plan.terms == [TrainingConfig().loss_for("sentiment")] == [LossTerms(ccc=1.0)]


def test_every_transfer_stage_trains_through_the_one_fit_path(source, tmp_path, monkeypatch):
    """pseudo, mmd and both supervised phases each call fit_network once; no other loop trains."""
    import affectlab.training.fusion_estimator as fe
    from affectlab.transfer.config import load_transfer_config
    from affectlab.transfer.run import transfer_run

    calls = []
    real = fe.fit_network

    def spy(module, *args, **kw):
        calls.append((type(module.net).__name__, module.trainable, module.stage_loss is not None, module.lr))
        return real(module, *args, **kw)

    monkeypatch.setattr(fe, "fit_network", spy)
    run, _, target = source
    stages = "[{kind: pseudo, epochs: 2, exclude: id, lr: 0.002}, {kind: mmd, epochs: 1}, {kind: supervised, epochs: 2}]"
    cfg, t_cfg = load_transfer_config(_config(tmp_path, compare=False), ["transfer.k=12", f"transfer.stages={stages}"])
    transfer_run(cfg, t_cfg, run, target, tmp_path / "spied")
    assert calls == [("AdaptedNet", ("adapters.",), True, 0.002), ("AdaptedNet", ("adapters.",), True, 1e-3),
                     ("AdaptedNet", ("net.",), False, cfg.training.lr),
                     ("AdaptedNet", None, False, pytest.approx(cfg.training.lr * 0.1))]


def test_verdict_says_when_adapters_lose_to_from_scratch_and_ignores_float_noise():
    from affectlab.evaluation.bootstrap import paired_bootstrap
    from affectlab.evaluation.scoring import score_arrays
    from affectlab.transfer.run import verdict

    rng = np.random.default_rng(5)
    y = rng.uniform(-3, 3, size=(120, 1))
    groups = np.repeat([f"v{i}" for i in range(12)], 10)
    preds = {"adapted": y + rng.normal(0, 1.5, y.shape), "scratch_k": y + rng.normal(0, 0.3, y.shape)}
    preds["standardization_map"] = preds["adapted"] + 1e-9  # the same model up to float noise
    rows = {n: {"mae": {"value": score_arrays("mosi", y, p, ["sentiment"])["mae"]}} for n, p in preds.items()}
    paired = {n: {k: r.as_dict() for k, r in paired_bootstrap("mosi", y, preds["adapted"], p, ["sentiment"], groups,
                                                              keys=["mae"], n_resamples=200, seed=0).items()}
              for n, p in preds.items() if n != "adapted"}
    lines = verdict(rows, paired, "mae", 20)
    assert lines[0].startswith("The adapters lose to a model trained from scratch on the same 20 labels (significantly)")
    assert any(ln.startswith("No detectable difference from the standardisation-only linear map") for ln in lines)


def _holdout_parts(corpus, cfg):
    """(train, val, test) of a hold-out config's one fold."""
    from affectlab.protocols import protocol_for

    fold, = protocol_for(cfg.split).folds(corpus)
    return fold.parts(corpus)
