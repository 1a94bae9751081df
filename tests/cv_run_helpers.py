"""A cross-validation run directory written by hand, laid out as ``affectlab train`` writes one.

Leave-one-speaker-out classification: 6 speakers of 15 rows, 3 emotions; ``predictions.csv`` has
only ``oof`` rows with a ``fold`` column and class names in ``pred_emotion``; ``metrics.csv`` has
one block of epochs per fold (folds stopping at different epochs); ``summary.json`` has ``oof``
metrics only, plus ``protocol``, ``folds``, ``pooled`` and ``cis``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from affectlab.corpus.base import TargetSpec
from affectlab.evaluation.scoring import score_arrays

CLASSES = ("angry", "happy", "sad")
N_SPEAKERS, PER_SPEAKER = 6, 15


def make_cv_run_dir(path: Path, *, skill: float = 0.7, pred_seed: int = 0, config: dict | None = None,
                    overfit: bool = False) -> Path:
    """Predictions right with probability ``skill`` (else a random class); gold is the same for every ``pred_seed``.

    ``overfit``: in every fold the train score climbs while validation stays flat (a growing gap).
    """
    rng, prng = np.random.default_rng(0), np.random.default_rng(pred_seed)
    n = N_SPEAKERS * PER_SPEAKER
    y = rng.integers(0, len(CLASSES), n)
    p = np.where(prng.random(n) < skill, y, prng.integers(0, len(CLASSES), n))
    speaker = np.repeat(np.arange(N_SPEAKERS), PER_SPEAKER)
    names = np.array(CLASSES)
    frame = pd.DataFrame({"split": "oof", "id": [f"s{s}_{i % PER_SPEAKER}" for i, s in enumerate(speaker)],
                          "group": [f"spk{s}" for s in speaker], "fold": speaker + 1, "emotion": names[y],
                          "pred_emotion": names[p], "seen": False})
    path.mkdir(parents=True)
    frame.to_csv(path / "predictions.csv", index=False)
    majority = names[np.bincount(y).argmax()]
    frame[["split", "id"]].assign(baseline="majority", fold=frame["fold"], pred_emotion=majority).to_csv(
        path / "baselines.csv", index=False)
    _history(overfit).to_csv(path / "metrics.csv", index=False)
    cfg = {"task": "classification", "name": path.name, "split": {"kind": "leave_one_group_out"},
           "model": {"name": "mlp", "modalities": ["tabular"]}, "training": {"max_epochs": 5}, "seed": 0}
    for key, value in (config or {}).items():
        cfg[key] = {**cfg[key], **value} if isinstance(value, dict) and isinstance(cfg.get(key), dict) else value
    (path / "config.yaml").write_text(yaml.safe_dump(cfg))
    (path / "summary.json").write_text(json.dumps(_summary(y, p, speaker)))
    (path / "checkpoint.ckpt").write_bytes(b"placeholder")
    return path


def _history(overfit: bool) -> pd.DataFrame:
    """Per fold 3 to 5 epochs; every fold restarts at epoch 1."""
    rows = []
    for fold in range(1, N_SPEAKERS + 1):
        for epoch in range(1, 3 + fold % 3 + 1):
            val = 0.45 + 0.01 * epoch
            train = val + (0.1 * epoch if overfit else 0.02)
            rows.append({"fold": fold, "epoch": epoch, "train_loss": 1.1 / epoch, "val_loss": 1.0 / epoch,
                         "train_score": train, "val_score": val, "gap_score": train - val})
    return pd.DataFrame(rows)


def _summary(y: np.ndarray, p: np.ndarray, speaker: np.ndarray) -> dict:
    spec = TargetSpec("emotion", kind="category", classes=CLASSES)
    pooled = score_arrays("classification", y[:, None], p[:, None], [spec], speaker.astype(str))
    folds = [{"index": f + 1, "metrics": {"test": score_arrays("classification", y[speaker == f, None],
                                                              p[speaker == f, None], [spec])},
              "sizes": {"train": 60, "inner_val": 15, "test": PER_SPEAKER}, "groups": [f"spk{f}"], "best_epoch": 3,
              "seconds": 0.1} for f in range(N_SPEAKERS)]
    return {"task": "classification", "model": "mlp", "targets": [spec.describe()],
            "metrics": {"oof": pooled}, "baselines": {}, "best_epoch": 3, "epochs_run": 3, "n_params": 771,
            "timings": {"total": 2.0},
            "selection": {"split": "inner validation of each training fold", "monitor": "score",
                          "test_used_for_selection": False, "test_evaluated_once": True},
            "splits": {"oof": len(y)}, "n_groups": {"oof": N_SPEAKERS}, "refit_full": True,
            "protocol": {"kind": "leave_one_group_out", "k": N_SPEAKERS, "n_folds": N_SPEAKERS, "seed": 0,
                         "varied": "model initialisation and data order, inner validation groups"},
            "folds": folds, "pooled": pooled,
            "cis": {"pooled": {k: {"value": v, "ci_low": v - 0.1, "ci_high": v + 0.1} for k, v in pooled.items()}}}
