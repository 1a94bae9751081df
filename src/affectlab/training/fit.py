"""Fit any network with Lightning: early stopping on a validation metric, resume, fixed seeds.

Determinism: ``seed_everything`` + ``deterministic=True`` + single-process data loading give
identical numbers for identical seeds on CPU. ``devices``/``strategy`` go to Lightning as given,
so ``--devices 2 --strategy ddp`` trains with DDP (gloo on CPU); every rank scores the whole
validation set itself, so all ranks stop at the same epoch.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from torch.utils.data import DataLoader

from ..corpus.base import Corpus
from ..models.base import FitContext, FitResult
from .callbacks import EpochScorer
from .module import AffectModule

# Lightning is chatty about things that are fine here (no GPU, few workers, small batches).
for _name in ("lightning.pytorch", "lightning.fabric", "lightning.pytorch.utilities.rank_zero",
              "lightning.pytorch.accelerators.cuda"):
    logging.getLogger(_name).setLevel(logging.ERROR)
warnings.filterwarnings("ignore", ".*does not have many workers.*")
warnings.filterwarnings("ignore", ".*number of training batches.*")
warnings.filterwarnings("ignore", ".*GPU available but not used.*")
warnings.filterwarnings("ignore", ".*LeafSpec.*")
# every rank scores the whole validation set itself, so there is nothing to synchronise
warnings.filterwarnings("ignore", ".*It is recommended to use `self.log.*sync_dist=True.*")


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run with ``n`` torch intra-op threads (0: leave torch's setting), restoring the previous one.

    Small networks are faster on one thread: a second only adds synchronisation.
    """
    previous = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def fit_network(
    module: AffectModule,
    make_loader: Callable[[Corpus, bool], DataLoader],
    outputs: Callable[[torch.nn.Module, Corpus], np.ndarray],
    train: Corpus,
    val: Corpus | None,
    ctx: FitContext,
) -> FitResult:
    """Train ``module`` on ``train``; select the best epoch on ``val``; load the best weights.

    ``outputs(net, corpus)`` returns the network's raw outputs (one row per sample, the columns
    of ``module.plan.layout``), from which every epoch's predictions and ``val_loss`` are made.
    With ``ctx.fixed_epochs`` it trains exactly that many epochs without validation (refit).
    """
    cfg = ctx.training
    pl.seed_everything(ctx.seed, workers=True, verbose=False)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    use_val = val is not None and len(val) > 0 and ctx.fixed_epochs is None
    scorer_cb = EpochScorer(outputs, module.plan, ctx.scorer, train, val if use_val else None, ctx.monitor,
                            ctx.monitor_higher_is_better, on_epoch=ctx.on_epoch)
    callbacks: list[pl.Callback] = [scorer_cb]
    if use_val:
        callbacks.append(EarlyStopping(monitor=f"val_{ctx.monitor}", mode="max" if ctx.monitor_higher_is_better else "min",
                                       patience=cfg.patience, check_on_train_epoch_end=True, check_finite=False))
    ckpt_path = None
    if ctx.work_dir is not None:
        ckpt_dir = Path(ctx.work_dir) / "lightning"
        callbacks.append(ModelCheckpoint(dirpath=ckpt_dir, save_last=True, save_top_k=0, save_on_train_epoch_end=True))
        if ctx.resume and (ckpt_dir / "last.ckpt").exists():
            ckpt_path = str(ckpt_dir / "last.ckpt")
    trainer = pl.Trainer(
        max_epochs=ctx.fixed_epochs or cfg.max_epochs,
        accelerator=cfg.accelerator,
        devices=cfg.devices,
        strategy=cfg.strategy,
        deterministic=cfg.deterministic,
        gradient_clip_val=cfg.grad_clip or None,
        callbacks=callbacks,
        logger=False,
        enable_checkpointing=ctx.work_dir is not None,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        use_distributed_sampler=True,
    )
    trainer.fit(module, train_dataloaders=make_loader(train, True), ckpt_path=ckpt_path)
    if scorer_cb.best_state is not None:
        module.net.load_state_dict(scorer_cb.best_state)
    n_params = sum(p.numel() for p in module.net.parameters() if p.requires_grad)
    return FitResult(history=scorer_cb.history, best_epoch=scorer_cb.best_epoch, n_params=n_params,
                     extra={"is_global_zero": trainer.is_global_zero, "epochs_run": len(scorer_cb.history)})


def ready_net(estimator: Any, corpus: Any) -> Any:
    """A network estimator's fitted net in eval mode, after checking the corpus has its inputs."""
    if estimator.net is None:
        raise RuntimeError("predict before fit")
    estimator.check_inputs(corpus)
    estimator.net.eval()
    return estimator.net
