"""Resume: a training killed with SIGKILL and resumed ends with exactly the files of an uninterrupted run.

The subprocess runs ``affectlab train`` on a small synthetic table with an ``mlp``; the run is
killed after a few epochs (once the checkpoint holds a completed epoch), resumed with ``--resume``
and compared byte for byte with an uninterrupted twin (``metrics.csv`` without its ``seconds``
column, which is wall time). Refusals: nothing to resume, a checkpoint of another network, of
other data, a truncated one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from affectlab.config import RunConfig
from affectlab.core.errors import AffectlabError
from affectlab.pipeline import train_run

EPOCHS = 12


class Killed(Exception):
    """Stands for a kill inside the Python process (Lightning turns KeyboardInterrupt into an exit)."""


def table(seed: int = 0, n_groups: int = 16, per: int = 30, dim: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    w = rng.normal(size=dim)
    rows = []
    for g in range(n_groups):
        offset = rng.normal(0, 0.3)
        for i in range(per):
            x = rng.normal(size=dim)
            v = float(np.clip(0.4 * x @ w / np.sqrt(dim) + offset + rng.normal(0, 0.6), -3, 3))
            rows.append({"id": f"g{g}-{i}", "group": f"g{g}", "v": v, **{f"f_{j}": x[j] for j in range(dim)}})
    return pd.DataFrame(rows)


def config(**model) -> dict:
    return {
        "task": "regression",
        "data": {"format": "table", "columns": {"id": "id", "group": "group"}, "options": {"features": ["f_*"]},
                 "targets": [{"name": "v", "low": -3, "high": 3}]},
        "split": {"kind": "group", "unseen_fraction": 0.25},
        "model": {"name": "mlp", "hidden": [64], "dropout": 0.2, **model},
        "training": {"max_epochs": EPOCHS, "batch_size": 4, "lr": 0.003, "patience": 4},
        "baselines": ["global_mean"],
        "seed": 7,
    }


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    table().to_csv(root / "data.csv", index=False)
    (root / "cfg.yaml").write_text(yaml.safe_dump(config()))
    return root


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "affectlab", "train", *args]


def train_args(files: Path, out: Path, *extra: str) -> list[str]:
    return cli(str(files / "cfg.yaml"), "--data", str(files / "data.csv"), "--out", str(out), *extra)


def env() -> dict:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}


def saved_epoch(path: Path) -> int:
    try:
        return int(torch.load(path, weights_only=True)["callbacks"]["affectlab_resume"]["epoch"])
    except Exception:
        return 0


def kill_after(files: Path, out: Path, epochs: int) -> int:
    """Start a training, SIGKILL it once the checkpoint holds ``epochs`` completed epochs; the epoch it held."""
    proc = subprocess.Popen(train_args(files, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env(),
                            start_new_session=True)
    ckpt = out / "lightning" / "last.ckpt"
    deadline = time.monotonic() + 60
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if ckpt.exists() and saved_epoch(ckpt) >= epochs:
                break
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the training ended before it could be killed"
    assert not (out / "summary.json").exists()
    return saved_epoch(ckpt)


def same_run(a: Path, b: Path) -> None:
    for name in ("predictions.csv", "baselines.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    ma, mb = pd.read_csv(a / "metrics.csv"), pd.read_csv(b / "metrics.csv")
    pd.testing.assert_frame_equal(ma.drop(columns="seconds"), mb.drop(columns="seconds"), check_exact=True)
    sa, sb = (pd.read_json(p / "summary.json", typ="series") for p in (a, b))
    assert sa["best_epoch"] == sb["best_epoch"] and sa["epochs_run"] == sb["epochs_run"]
    assert sa["metrics"] == sb["metrics"]


def test_killed_training_resumes_to_the_same_files(files, tmp_path):
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    done = subprocess.run(train_args(files, whole, "--quiet"), capture_output=True, text=True, env=env())
    assert done.returncode == 0, done.stderr
    epochs_run = len(pd.read_csv(whole / "metrics.csv"))
    best = int(pd.read_json(whole / "summary.json", typ="series")["best_epoch"])
    assert epochs_run < EPOCHS and best + 1 < epochs_run  # early stopping fired some epochs after the best one

    # killed after the best epoch: the resumed fit needs the early-stopping best score and wait count
    held = kill_after(files, cut, best + 1)
    assert best + 1 <= held < epochs_run
    resumed = subprocess.run(train_args(files, cut, "--resume"), capture_output=True, text=True, env=env())
    assert resumed.returncode == 0, resumed.stderr
    assert f"epoch {held:3d}" not in resumed.stderr + resumed.stdout  # no epoch trained twice
    assert f"epoch {held + 1:3d}" in resumed.stderr + resumed.stdout
    same_run(whole, cut)

    # a finished run resumed: no extra epoch, the same files
    trained: list[int] = []
    train_run(RunConfig.model_validate(config()), files / "data.csv", cut, resume=True,
              on_epoch=lambda e, row: trained.append(e))
    assert trained == []
    same_run(whole, cut)

    # a checkpoint of another network is refused (one line, exit 2 in the CLI)
    with pytest.raises(AffectlabError, match="another network"):
        train_run(RunConfig.model_validate(config(hidden=[32])), files / "data.csv", cut, resume=True)


def test_resume_with_nothing_to_resume_says_so(files, tmp_path):
    out = tmp_path / "empty"
    r = subprocess.run(train_args(files, out, "--resume"), capture_output=True, text=True, env=env())
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "nothing to resume" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not out.exists() or not any(out.iterdir())


def test_checkpoint_of_other_data_or_truncated_is_refused(files, tmp_path):
    out = tmp_path / "run"
    cfg = config()
    cfg["training"]["max_epochs"] = 2
    train_run(RunConfig.model_validate(cfg), table(), out)
    ckpt = out / "lightning" / "last.ckpt"
    assert saved_epoch(ckpt) == 2
    with pytest.raises(AffectlabError, match="other training data"):
        train_run(RunConfig.model_validate(cfg), table(seed=1), out, resume=True)
    cfg["seed"] = 8
    with pytest.raises(AffectlabError, match="other training settings"):
        train_run(RunConfig.model_validate(cfg), table(), out, resume=True)
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    cfg["seed"] = 7
    with pytest.raises(AffectlabError, match="truncated or corrupt"):
        train_run(RunConfig.model_validate(cfg), table(), out, resume=True)


def test_cross_validation_resume_skips_finished_folds(tmp_path):
    """Each fold keeps its own checkpoint: finished folds are not trained again, and the run is the same."""
    cfg = config()
    cfg["split"] = {"kind": "group_kfold", "k": 3}
    cfg["training"]["max_epochs"] = 3
    data = table(n_groups=9, per=12)
    whole = train_run(RunConfig.model_validate(cfg), data, tmp_path / "whole")
    cut = tmp_path / "cut"
    seen: list[int] = []

    def stop_in_fold_two(epoch: int, row: dict) -> None:
        seen.append(epoch)
        if len(seen) == 5:  # fold 2, epoch 2: fold 1 finished, fold 2 has one completed epoch
            raise Killed

    with pytest.raises(Killed):
        train_run(RunConfig.model_validate(cfg), data, cut, on_epoch=stop_in_fold_two)
    trained: list[int] = []
    train_run(RunConfig.model_validate(cfg), data, cut, resume=True, on_epoch=lambda e, row: trained.append(e))
    assert trained == [2, 3, 1, 2, 3]  # fold 2 from its epoch 2, fold 3 whole; fold 1 not again
    same_run(whole, cut)


def test_seeds_not_started_start_on_resume(tmp_path):
    """``--seeds 1,2 --resume`` after a kill during seed 1: seed 2 has no checkpoint and starts."""
    cfg = config()
    cfg["training"]["max_epochs"] = 2
    data = table(n_groups=8, per=10)
    train_run(RunConfig.model_validate(cfg), data, tmp_path / "seed-1")
    assert train_run(RunConfig.model_validate(cfg), data, tmp_path / "seed-2", resume=True) == tmp_path / "seed-2"
    with pytest.raises(AffectlabError, match="nothing to resume"):
        train_run(RunConfig.model_validate(cfg), data, tmp_path / "other", resume=True)


@pytest.mark.parametrize("name", ["user_sequence", "early_lstm"])
def test_sequence_and_fusion_networks_resume_exactly(name, tmp_path):
    """Killed at the end of epoch 5 (checkpoints every 2 epochs: from epoch 4, epoch 5 is trained again), resumed:
    the same history, selected epoch and predictions."""
    from affectlab.models import MODELS

    if name == "early_lstm":
        from test_models_fusion import corpus, ctx

        train, val = corpus(120, 0, audio_len=0), corpus(40, 1)
        make = lambda: MODELS.get(name)(train.targets, hidden=16, fusion_dim=4, modality_dropout=0.1)  # noqa: E731
        context = lambda: ctx(max_epochs=7, checkpoint_every=2)  # noqa: E731
    else:
        from test_training import TARGETS, toy_corpus
        from affectlab.config import TrainingConfig
        from affectlab.models.base import FitContext
        from affectlab.runner import make_scorer

        c = toy_corpus()
        train, val = c.subset(c.frame.order < 6), c.subset(c.frame.order >= 6)
        make = lambda: MODELS.get(name)(TARGETS, user_dim=4, proj_dim=16, hidden=8, dropout=0.3)  # noqa: E731
        context = lambda: FitContext(TrainingConfig(max_epochs=7, batch_size=4, lr=5e-3, patience=9,  # noqa: E731
                                                    checkpoint_every=2),
                                     seed=1, scorer=make_scorer("semeval", TARGETS, set(train.frame.group)))

    def fit(work, resume=False, kill=None):
        est, ctx_ = make(), context()
        ctx_.work_dir, ctx_.resume = str(work), resume
        if kill:
            def on_epoch(epoch, row):
                if epoch == kill:
                    raise Killed
            ctx_.on_epoch = on_epoch
        try:
            return est, est.fit(train, val, ctx_)
        except Killed:
            return None, None

    whole, full = fit(tmp_path / "a")
    fit(tmp_path / "b", kill=5)
    assert saved_epoch(tmp_path / "b" / "lightning" / "last.ckpt") == 4
    resumed, part = fit(tmp_path / "b", resume=True)
    strip = lambda h: [{k: v for k, v in row.items() if k != "seconds"} for row in h]  # noqa: E731
    assert len(full.history) == 7 and strip(full.history) == strip(part.history)
    assert full.best_epoch == part.best_epoch
    np.testing.assert_array_equal(whole.predict(val), resumed.predict(val))
