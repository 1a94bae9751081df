"""Helpers for evaluation, compare, report and sweep tests: run directories written by hand.

The files follow docs/run-directory.md so that these tests do not depend on training.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml


def make_run_dir(path: Path, *, seed: int = 0, noise: float = 0.5, n_users: int = 48, per_user: int = 10,
                 task: str = "semeval", config: dict | None = None, test: bool = True, epochs: int = 8,
                 overfit: bool = False, sign: float = 1.0, selection_split: str = "val", val_shift: float = 0.0,
                 pred_seed: int | None = None) -> Path:
    """A complete run directory with train/val(/test) predictions from gold + noise."""
    rng = np.random.default_rng(seed)
    prng = np.random.default_rng(seed if pred_seed is None else pred_seed)
    rows = []
    for u in range(n_users):
        base = rng.normal(0, 0.8)
        for k in range(per_user):
            split = "train" if u < n_users // 2 else ("val" if u < 3 * n_users // 4 else "test")
            if not test and split == "test":
                split = "val"
            v = float(np.clip(base + rng.normal(0, 0.7), -2, 2))
            a = float(np.clip(1 + rng.normal(0, 0.5), 0, 2))
            rows.append({"split": split, "id": f"t{u}_{k}", "group": f"u{u}", "valence": v, "arousal": a})
    frame = pd.DataFrame(rows)
    for t in ("valence", "arousal"):
        frame[f"pred_{t}"] = sign * frame[t] + prng.normal(0, noise * frame[t].std(), len(frame))
    if val_shift:
        frame.loc[frame["split"] == "val", "pred_valence"] += val_shift
    frame["seen"] = frame["split"] == "train"
    path.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path / "predictions.csv", index=False)
    base_rows = frame[["split", "id"]].assign(baseline="global_mean", pred_valence=frame.loc[frame.split == "train", "valence"].mean(),
                                               pred_arousal=frame.loc[frame.split == "train", "arousal"].mean())
    base_rows.to_csv(path / "baselines.csv", index=False)
    cfg = {"task": task, "name": path.name, "model": {"name": "user_sequence", "hidden": 64}, "training": {"lr": 0.001, "monitor": "score"},
           "seed": seed}
    if config:
        cfg = _merge(cfg, config)
    (path / "config.yaml").write_text(yaml.safe_dump(cfg))
    from affectlab.evaluation.scoring import score_arrays

    metrics = {}
    for s in sorted(set(frame["split"])):
        part = frame[frame["split"] == s]
        metrics[s] = score_arrays(task, part[["valence", "arousal"]].to_numpy(), part[["pred_valence", "pred_arousal"]].to_numpy(),
                                  ["valence", "arousal"], part["group"].to_numpy())
    hist = []
    for e in range(1, epochs + 1):
        tr = min(0.95, 0.45 + (0.08 if overfit else 0.005) * e)
        va = 0.45 + 0.01 * min(e, 4)
        hist.append({"epoch": e, "train_loss": 1.0 / e, "val_loss": 0.8 + 0.01 * e, "train_score": tr, "val_score": va,
                     "gap_score": tr - va})
    pd.DataFrame(hist).to_csv(path / "metrics.csv", index=False)
    summary = {"task": task, "model": "user_sequence",
               "targets": [{"name": "valence", "low": -2, "high": 2}, {"name": "arousal", "low": 0, "high": 2}],
               "metrics": metrics, "baselines": {}, "best_epoch": 4, "epochs_run": epochs, "n_params": 1234,
               "timings": {"total": 1.0}, "selection": {"split": selection_split, "monitor": "score",
                                                        "test_used_for_selection": selection_split == "test"},
               "splits": frame["split"].value_counts().to_dict()}
    (path / "summary.json").write_text(json.dumps(summary))
    (path / "checkpoint.ckpt").write_bytes(b"placeholder")
    return path


def _merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def write_semeval_pair(folder: Path, *, n_users: int = 30, per_user: int = 10, noise: float = 0.5, seed: int = 0):
    """gold.csv, train.csv (other users) and a clean prediction file; returns (gold, train, pred) paths."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(2 * n_users):
        base = rng.normal(0, 0.8)
        for k in range(per_user):
            rows.append({"user_id": 100 + u, "text_id": 1000 + u * per_user + k,
                         "text": f"user {u} wrote a long enough text number {k} about their day at work {rng.integers(1e9)}",
                         "valence": float(np.clip(np.round(base + rng.normal(0, 0.7)), -2, 2)),
                         "arousal": float(np.clip(np.round(1 + rng.normal(0, 0.5)), 0, 2))})
    frame = pd.DataFrame(rows)
    train, gold = frame[frame.user_id < 100 + n_users], frame[frame.user_id >= 100 + n_users]
    folder.mkdir(parents=True, exist_ok=True)
    train.to_csv(folder / "train.csv", index=False)
    gold.to_csv(folder / "gold.csv", index=False)
    pred = gold[["user_id", "text_id"]].copy()
    for t in ("valence", "arousal"):
        pred[f"pred_{t}"] = gold[t] + rng.normal(0, noise * gold[t].std(), len(gold))
    pred.to_csv(folder / "pred.csv", index=False)
    return folder / "gold.csv", folder / "train.csv", folder / "pred.csv"
