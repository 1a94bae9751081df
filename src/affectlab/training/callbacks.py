"""Per-epoch scoring of the whole train and validation sets, keeping the best weights, and resume checkpoints."""

from __future__ import annotations

import contextlib
import copy
import os
import random
import time
from pathlib import Path
from typing import Any, Callable

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Checkpoint
import numpy as np
import torch

from ..core.io import is_write_error, unwritable
from ..corpus.base import Corpus
from ..models.base import Scorer, clip_to_ranges
from .targets import TargetPlan


class EpochProgress(pl.Callback):
    """``epoch 7/40  3.1 s/epoch  ETA 1:40`` on stderr (:mod:`affectlab.progress`): a live bar on a
    terminal, else a line at most every ``progress.LINE_EVERY`` seconds; rank 0 only. The ETA
    runs to ``max_epochs`` (early stopping may end sooner)."""

    def __init__(self) -> None:
        self._start = 0.0
        self._last_line = 0.0
        self._bar: Any = None  # rich.progress.Progress while a bar is shown
        self._task: Any = None

    def on_train_start(self, trainer, pl_module) -> None:
        from .. import progress

        self._start = self._last_line = time.perf_counter()
        self._first = trainer.current_epoch  # a resumed fit counts its own epochs' speed
        if trainer.is_global_zero and progress.mode() == "bar":
            from rich.progress import BarColumn, Progress, TextColumn

            bar = Progress(TextColumn("{task.description}"), BarColumn(), console=progress._console(), transient=True)
            if not progress.start_live(bar):  # another live display runs: lines instead
                return
            self._bar = bar
            total = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else None
            self._task = self._bar.add_task(f"epoch {trainer.current_epoch + 1}/{total or '?'}", total=total,
                                            completed=trainer.current_epoch)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        from .. import progress

        if not trainer.is_global_zero:
            return
        epoch, total = trainer.current_epoch + 1, trainer.max_epochs
        now = time.perf_counter()
        line = progress.epoch_line(epoch, total if total and total > 0 else None,
                                   (now - self._start) / max(1, epoch - self._first))
        if self._bar is not None:
            self._bar.update(self._task, completed=epoch, description=line)
        elif progress.mode() != "off" and now - self._last_line >= progress.LINE_EVERY and epoch != total:
            self._last_line = now
            progress.say(line)

    def _stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def on_train_end(self, trainer, pl_module) -> None:
        self._stop()

    def on_exception(self, trainer, pl_module, exception) -> None:
        self._stop()


class EpochScorer(pl.Callback):
    """After every training epoch: predict train and val, score both, log ``train_*``/``val_*``.

    ``outputs(net, corpus)`` gives the network's raw outputs, one row per sample; ``plan``
    decodes them into predictions (values, class indices) and scores ``val_loss`` on them. It
    runs before early stopping and checkpointing (callback order), so they can monitor
    ``val_<metric>``. The best weights by the monitored value are kept in memory.
    """

    def __init__(self, outputs: Callable[[torch.nn.Module, Corpus], np.ndarray], plan: TargetPlan, scorer: Scorer,
                 train: Corpus, val: Corpus | None, monitor: str, higher_is_better: bool,
                 on_epoch: Callable[[int, dict], None] | None = None) -> None:
        self.outputs, self.plan, self.scorer = outputs, plan, scorer
        self.train, self.val = train, val
        self.monitor, self.higher = monitor, higher_is_better
        self.on_epoch = on_epoch
        self.history: list[dict[str, float]] = []
        self.best_value: float | None = None
        self.best_epoch = 0
        self.best_state: dict | None = None
        self._epoch_start = time.perf_counter()
        self.progress = EpochProgress()  # its hooks are called from this callback's (one list entry in fit.py)

    def on_train_start(self, trainer, pl_module) -> None:
        self.progress.on_train_start(trainer, pl_module)

    def on_train_end(self, trainer, pl_module) -> None:
        self.progress.on_train_end(trainer, pl_module)

    def on_exception(self, trainer, pl_module, exception) -> None:
        self.progress.on_exception(trainer, pl_module, exception)

    def state_dict(self) -> dict:
        # saved inside the resume checkpoint, so a resumed run keeps its history and best weights;
        # plain floats (not numpy scalars), so that the file loads with ``weights_only=True``
        history = [{k: (float(v) if isinstance(v, (float, np.floating)) else int(v) if isinstance(v, (int, np.integer))
                        else v) for k, v in row.items()} for row in self.history]
        return {"history": history, "best_value": None if self.best_value is None else float(self.best_value),
                "best_epoch": int(self.best_epoch), "best_state": self.best_state}

    def load_state_dict(self, state: dict) -> None:
        self.history = list(state.get("history", []))
        self.best_value = state.get("best_value")
        self.best_epoch = state.get("best_epoch", 0)
        self.best_state = state.get("best_state")

    def _predict(self, net: torch.nn.Module, corpus: Corpus) -> tuple[np.ndarray, np.ndarray]:
        """Predictions clipped to the declared ranges, and the outputs with the same clipping.

        Clipped exactly as the estimator's predict does, so the selected epoch's row in
        metrics.csv equals the run's reported numbers, and ``val_loss`` is that of the reported
        values (regression columns) and logits (category columns).
        """
        out = np.asarray(self.outputs(net, corpus), dtype=np.float64).copy()
        pred = clip_to_ranges(self.plan.layout.decode(out), corpus.targets)
        for j, cols in enumerate(self.plan.layout.slices):
            if not self.plan.layout.is_category(j):
                out[:, cols.start] = pred[:, j]
        return pred, out

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._epoch_start = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        row: dict[str, float] = {"epoch": epoch, "seconds": time.perf_counter() - self._epoch_start}
        loss = trainer.callback_metrics.get("train_loss")
        if loss is not None:
            row["train_loss"] = float(loss)
        net = pl_module.net
        assert isinstance(net, torch.nn.Module)
        was_training = net.training
        net.eval()
        with torch.inference_mode():
            train_pred = self._predict(net, self.train)[0]
            row.update({f"train_{k}": v for k, v in self.scorer(self.train, train_pred).items()})
            if self.val is not None:
                val_pred, val_out = self._predict(net, self.val)
                row.update({f"val_{k}": v for k, v in self.scorer(self.val, val_pred).items()})
                row["val_loss"] = self.plan.numpy_loss(val_out, self.val.target_matrix())
        net.train(was_training)
        for key, value in row.items():
            if key.startswith(("train_", "val_")) and key != "train_loss" and np.isfinite(value):
                pl_module.log(key, float(value), on_step=False, on_epoch=True, sync_dist=False)
        self.history.append(row)
        monitored = f"val_{self.monitor}" if self.val is not None else None
        value_now = row.get(monitored) if monitored else None
        if value_now is None or not np.isfinite(value_now):
            # no validation (refit with fixed epochs): the last epoch is the one kept
            self.best_epoch, self.best_state = epoch, copy.deepcopy(net.state_dict())
        elif self.best_value is None or (value_now > self.best_value if self.higher else value_now < self.best_value):
            self.best_value, self.best_epoch = value_now, epoch
            self.best_state = copy.deepcopy(net.state_dict())
        if self.on_epoch is not None and trainer.is_global_zero:
            self.on_epoch(epoch, row)
        self.progress.on_train_epoch_end(trainer, pl_module)


def rng_states() -> dict:
    """The torch, numpy and Python ``random`` generator states, as tensors and primitives."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {"torch": torch.get_rng_state(), "python": random.getstate(),
            "numpy": {"kind": str(kind), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "cached": float(cached)}}


def set_rng_states(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))


class ResumeCheckpoint(Checkpoint):
    """Writes ``dirpath/last.ckpt`` atomically after every ``every``-th epoch and after the last one.

    The file is Lightning's full checkpoint (weights, optimizer, loops, callbacks: the
    :class:`EpochScorer` history and best weights, EarlyStopping's best score and wait count)
    plus, under this callback's state, the RNG states (torch, numpy, ``random``, the training
    loader's shuffling generator), a ``fingerprint`` of the model and data, the completed epoch
    and whether the fit is over (``stopped``: early stopping fired). A kill between two writes
    loses at most the epochs since the last one; the previous file is intact (temp + rename).
    """

    FILE = "last.ckpt"

    def __init__(self, dirpath: str | Path, every: int, fingerprint: dict, generator: torch.Generator | None) -> None:
        self.dirpath = Path(dirpath)
        self.every = max(1, int(every))
        self.fingerprint = fingerprint
        self.generator = generator
        self.loaded: dict | None = None  # this callback's state from the checkpoint being resumed
        self._epoch = 0
        self._stopped = False

    @property
    def path(self) -> Path:
        return self.dirpath / self.FILE

    @property
    def state_key(self) -> str:
        return "affectlab_resume"

    def state_dict(self) -> dict:
        return {"fingerprint": self.fingerprint, "epoch": self._epoch, "stopped": self._stopped, "rng": rng_states(),
                "loader_rng": None if self.generator is None else self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.loaded = state
        # at once: Lightning creates the next epoch's loader iterator (which draws from this
        # generator) before ``on_train_start``
        if self.generator is not None and state.get("loader_rng") is not None:
            self.generator.set_state(state["loader_rng"])

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # the global states at the end of the last saved epoch, set just before the next epoch draws from them
        if self.loaded is not None:
            set_rng_states(self.loaded["rng"])

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # runs after EarlyStopping (Lightning calls checkpoint callbacks last), so its state is current
        self._epoch = trainer.current_epoch + 1
        self._stopped = bool(trainer.should_stop)
        last = self._stopped or self._epoch >= (trainer.max_epochs or 0)
        if last or self._epoch % self.every == 0:
            self.save(trainer)

    def save(self, trainer: pl.Trainer) -> None:
        tmp = self.path.with_name(self.FILE + ".tmp")
        made = []  # folders this save creates (lightning/, even --out): removed again if it fails
        for folder in (self.dirpath, *self.dirpath.parents):
            if folder.exists():
                break
            made.append(folder)
        try:
            if trainer.is_global_zero:
                self.dirpath.mkdir(parents=True, exist_ok=True)
            trainer.save_checkpoint(tmp)  # every rank takes part; rank 0 writes
            if trainer.is_global_zero:
                os.replace(tmp, self.path)
        except BaseException as err:  # a full disk, Ctrl-C, SIGTERM: the previous checkpoint stays, no .tmp
            if trainer.is_global_zero:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                with contextlib.suppress(OSError):
                    for folder in made:  # deepest first; only while empty
                        folder.rmdir()
            if isinstance(err, OSError) and is_write_error(err, tmp, self.path, self.dirpath):
                raise unwritable(self.path, err) from None
            raise
