"""Training: determinism, early stopping, resume, the unknown-user vector, and DDP on CPU."""

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from affectlab.config import LossTerms, TrainingConfig
from affectlab.corpus import Corpus, TargetSpec
from affectlab.models.base import FitContext
from affectlab.runner import make_scorer
from affectlab.training.sequence_estimator import UserSequenceEstimator, group_windows

TARGETS = (TargetSpec("valence", -2, 2), TargetSpec("arousal", 0, 2))


def toy_corpus(n_users=10, per=8, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    rows, feats = [], []
    w = rng.normal(size=(dim, 2))
    for u in range(n_users):
        offset = rng.normal(scale=0.5)
        for k in range(per):
            x = rng.normal(size=dim)
            v, a = x @ w[:, 0] * 0.3 + offset, abs(x @ w[:, 1]) * 0.3
            rows.append({"id": f"{u}-{k}", "group": f"u{u}", "order": float(k), "is_words": k % 2 == 0,
                         "valence": float(np.clip(v, -2, 2)), "arousal": float(np.clip(a, 0, 2))})
            feats.append(x)
    return Corpus(pd.DataFrame(rows), TARGETS, features={"text": np.array(feats, np.float32)})


def fit(train, val, seed=0, epochs=4, **kw):
    est = UserSequenceEstimator(TARGETS, user_dim=4, proj_dim=16, hidden=8)
    cfg = TrainingConfig(max_epochs=epochs, batch_size=4, lr=5e-3, patience=2,
                         losses={"arousal": LossTerms(ccc=0.7, mse=0.3)})
    ctx = FitContext(training=cfg, seed=seed, scorer=make_scorer("semeval", TARGETS, set(train.frame.group)), **kw)
    return est, est.fit(train, val, ctx)


def test_same_seed_gives_identical_predictions():
    c = toy_corpus()
    train, val = c.subset(c.frame.order < 6), c.subset(c.frame.order >= 6)
    a, _ = fit(train, val, seed=3)
    b, _ = fit(train, val, seed=3)
    other, _ = fit(train, val, seed=4)
    np.testing.assert_array_equal(a.predict(val), b.predict(val))
    assert not np.array_equal(a.predict(val), other.predict(val))


def test_history_has_train_and_val_metrics_and_best_epoch():
    c = toy_corpus()
    _, result = fit(c.subset(c.frame.order < 6), c.subset(c.frame.order >= 6), epochs=5)
    assert 1 <= result.best_epoch <= len(result.history) <= 5
    row = result.history[0]
    assert {"train_loss", "val_loss", "train_score", "val_score", "val_ccc_valence"} <= set(row)
    assert result.n_params > 0


def test_unknown_users_use_the_learned_unknown_vector_and_state_round_trips(tmp_path):
    c = toy_corpus()
    train = c.subset(c.frame.group != "u9")
    unseen = c.subset(c.frame.group == "u9")
    est, _ = fit(train, None, epochs=2)
    assert est._user_ids(unseen).tolist() == [0] * len(unseen)
    path = tmp_path / "state.pt"
    torch.save(est.state(), path)
    clone = UserSequenceEstimator(TARGETS, user_dim=4, proj_dim=16, hidden=8)
    clone.load_state(torch.load(path, weights_only=True))
    np.testing.assert_array_equal(clone.predict(unseen), est.predict(unseen))
    pred = est.predict(unseen)
    assert (pred[:, 1] >= 0).all() and (pred[:, 1] <= 2).all()


def test_resume_continues_from_last_checkpoint(tmp_path):
    c = toy_corpus()
    train, val = c.subset(c.frame.order < 6), c.subset(c.frame.order >= 6)
    _, first = fit(train, val, epochs=2, work_dir=str(tmp_path))
    assert (tmp_path / "lightning" / "last.ckpt").exists()
    _, resumed = fit(train, None, epochs=4, work_dir=str(tmp_path), resume=True)
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3, 4]  # history kept, two new epochs


def test_windows_follow_time_order():
    c = toy_corpus(n_users=2, per=5)
    c.frame["order"] = c.frame["order"].to_numpy()[::-1]
    windows = group_windows(c, max_len=3)
    assert [len(w) for w in windows] == [3, 2, 3, 2]
    for w in windows:
        assert list(c.frame.order[w]) == sorted(c.frame.order[w])


@pytest.mark.slow
def test_ddp_on_two_cpu_processes(tmp_path, semeval_csv):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {name: user_sequence, user_dim: 4, proj_dim: 16, hidden: 8}\n"
                   "training: {max_epochs: 2, batch_size: 2}\nbaselines: []\n")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "affectlab", "train", str(cfg), "--data", str(semeval_csv), "--out",
           str(tmp_path / "run"), "--devices", "2", "--strategy", "ddp", "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "run" / "checkpoint.ckpt").exists()
    import json

    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["epochs_run"] >= 1


@pytest.mark.slow
def test_finetuning_the_encoder_trains_and_round_trips(tmp_path, semeval_csv):
    from affectlab.experiment import validate_config
    from affectlab.pipeline import predict_run, train_run

    cfg = validate_config({
        "features": {"text": {"finetune": True, "max_length": 24, "encoder_lr": 1e-4}},
        "model": {"name": "user_sequence", "user_dim": 4, "proj_dim": 16, "hidden": 8},
        "training": {"max_epochs": 1, "batch_size": 4}, "baselines": [],
    })
    run = train_run(cfg, semeval_csv, tmp_path / "run")
    state = torch.load(run / "checkpoint.ckpt", weights_only=True)["state"]
    assert any(k.startswith("encoder.") for k in state["weights"])  # the encoder's weights are ours now
    _, frame = predict_run(run, semeval_csv, tmp_path / "pred.csv")
    assert np.isfinite(frame[["pred_valence", "pred_arousal"]].to_numpy()).all()
