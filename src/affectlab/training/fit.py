"""Fit any network with Lightning: early stopping on a validation metric, resume, fixed seeds.

Resume: with a ``work_dir``, :class:`~affectlab.training.callbacks.ResumeCheckpoint` writes
``work_dir/lightning/last.ckpt`` atomically after every ``training.checkpoint_every`` epochs and
after the last one (model, optimizer, loops, early-stopping state, epoch history, best weights,
RNG states, a fingerprint of the network, training settings and training data). With
``ctx.resume`` and such a file, the fit continues after its last completed epoch and ends with
the numbers of an uninterrupted fit; a finished fit is not trained again (its best weights and
history are loaded). A file of another network, other settings or other data, or one that is
truncated, is refused in one line.

Determinism: ``seed_everything`` + ``deterministic=True`` + single-process data loading give
identical numbers for identical seeds on CPU. ``devices``/``strategy`` go to Lightning as given,
so ``--devices 2 --strategy ddp`` trains with DDP (gloo on CPU); every rank scores the whole
validation set itself, so all ranks stop at the same epoch.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import logging
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from torch.utils.data import DataLoader

from ..corpus.base import Corpus
from ..core.errors import AffectlabError
from ..models.base import FitContext, FitResult
from .callbacks import EpochScorer, ResumeCheckpoint, set_rng_states
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

#: Where a network fit logs its epochs: a function of the fit's context returning a Lightning logger
#: (False: none). The run layer sets it while a live MLflow run is open (runs.tracking.live_run), so
#: training needs nothing from the layer above it.
EPOCH_LOGGER: contextvars.ContextVar[Callable[[Any], Any] | None] = contextvars.ContextVar(
    "affectlab_epoch_logger", default=None)


def epoch_logger(ctx: Any) -> Any:
    """The Lightning logger for a fit with context ``ctx``: :data:`EPOCH_LOGGER`'s, else ``False``."""
    hook = EPOCH_LOGGER.get()
    return False if hook is None else hook(ctx)


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
    max_epochs = ctx.fixed_epochs or cfg.max_epochs
    assert ctx.scorer is not None, "a network fit needs ctx.scorer (pipeline.make_scorer)"
    scorer_cb = EpochScorer(outputs, module.plan, ctx.scorer, train, val if use_val else None, ctx.monitor,
                            ctx.monitor_higher_is_better, on_epoch=ctx.on_epoch)
    callbacks: list[pl.Callback] = [scorer_cb]
    if use_val:
        callbacks.append(EarlyStopping(monitor=f"val_{ctx.monitor}", mode="max" if ctx.monitor_higher_is_better else "min",
                                       patience=cfg.patience, check_on_train_epoch_end=True, check_finite=False))
    loader = make_loader(train, True)
    # the estimator's parameters (outputs is its bound method): standardisation, modalities...
    params = getattr(getattr(outputs, "__self__", None), "params", None)
    ckpt_path = None
    if ctx.work_dir is not None:
        every = int(getattr(cfg, "checkpoint_every", 1) or 1)
        saver = ResumeCheckpoint(Path(ctx.work_dir) / "lightning", every, fingerprint(module, train, ctx, params),
                                 getattr(loader, "generator", None))
        callbacks.append(saver)
        if ctx.resume and saver.path.exists():
            saved = read_resume_checkpoint(saver.path, saver.fingerprint)
            own = saved["callbacks"][saver.state_key]
            if own["stopped"] or own["epoch"] >= max_epochs:
                # the fit was over when the file was written: its results, not one more epoch
                module.load_state_dict(saved["state_dict"])
                scorer_cb.load_state_dict(saved["callbacks"].get(scorer_cb.state_key, {}))
                set_rng_states(own["rng"])
                return _result(module, scorer_cb, is_global_zero=getattr(rank_zero_only, "rank", 0) == 0)
            ckpt_path = str(saver.path)
    trainer = pl.Trainer(
        max_epochs=max_epochs,
        accelerator=cfg.accelerator,
        devices=cfg.devices,
        strategy=cfg.strategy,
        deterministic=cfg.deterministic,
        gradient_clip_val=cfg.grad_clip or None,
        callbacks=callbacks,
        logger=epoch_logger(ctx),  # MLflow, live, when `train --mlflow` opened a run; else none
        enable_checkpointing=ctx.work_dir is not None,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        use_distributed_sampler=True,
    )
    with ctrl_c_stays_an_interrupt(trainer):
        trainer.fit(module, train_dataloaders=loader, ckpt_path=ckpt_path, weights_only=True if ckpt_path else None)
    return _result(module, scorer_cb, trainer.is_global_zero)


@contextlib.contextmanager
def ctrl_c_stays_an_interrupt(trainer: pl.Trainer) -> Iterator[None]:
    """Lightning answers Ctrl-C inside ``fit`` with ``sys.exit(1)`` (and leaves SIGINT ignored):
    the command would end with code 1, the code of a bug, and without a word. Here it stays a
    :class:`KeyboardInterrupt` (exit 130, ``affectlab: interrupted``, cleanup runs) and the
    previous SIGINT handler comes back. SIGTERM/SIGHUP arrive as ``SystemExit(128 + n)`` and pass.
    """
    import signal
    import threading

    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if main else None
    try:
        yield
    except SystemExit as stop:
        if stop.code == 1 and trainer.interrupted:
            raise KeyboardInterrupt from None
        raise
    finally:
        if main and previous is not None and signal.getsignal(signal.SIGINT) != previous:
            signal.signal(signal.SIGINT, previous)


def _result(module: AffectModule, scorer_cb: EpochScorer, is_global_zero: bool) -> FitResult:
    """Load the best epoch's weights; the history and the selected epoch."""
    if scorer_cb.best_state is not None:
        module.net.load_state_dict(scorer_cb.best_state)
    n_params = sum(p.numel() for p in module.net.parameters() if p.requires_grad)
    return FitResult(history=scorer_cb.history, best_epoch=scorer_cb.best_epoch, n_params=n_params,
                     extra={"is_global_zero": is_global_zero, "epochs_run": len(scorer_cb.history)})


#: training settings a resumed fit may change: more epochs, other threads or checkpoint spacing
RESUMABLE_CHANGES = ("max_epochs", "threads", "checkpoint_every")


def _sha(*parts: Any) -> str:
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            arr = np.ascontiguousarray(part)
            h.update(f"{arr.dtype}{arr.shape}".encode())
            h.update(arr.tobytes())
        else:
            h.update(str(part).encode())
        h.update(b"\0")
    return h.hexdigest()


def corpus_hash(corpus: Corpus) -> str:
    """A hash of what a fit reads from ``corpus``: ids, groups, targets, feature arrays, lengths."""
    parts: list[Any] = [corpus.frame["id"].astype(str).tolist(), corpus.frame["group"].astype(str).tolist()
                        if "group" in corpus.frame else None, [t.describe() for t in corpus.targets],
                        corpus.target_matrix()]
    for key in sorted(corpus.features):
        parts += [key, np.asarray(corpus.features[key])]
    for key in sorted(corpus.lengths):
        parts += [f"len:{key}", np.asarray(corpus.lengths[key])]
    return _sha(*parts)


def fingerprint(module: AffectModule, train: Corpus, ctx: FitContext, params: Any = None) -> dict[str, str]:
    """What a resume checkpoint must match: the network (and the estimator's ``params``), the
    training settings, the training data."""
    net = module.net
    shapes = ";".join(f"{k}:{tuple(v.shape)}" for k, v in net.state_dict().items())
    training = ctx.training.model_dump() if hasattr(ctx.training, "model_dump") else dict(vars(ctx.training))
    training = {k: v for k, v in training.items() if k not in RESUMABLE_CHANGES}
    settings = {"training": training, "seed": ctx.seed, "monitor": ctx.monitor, "fixed_epochs": ctx.fixed_epochs}
    return {"network": _sha(type(net).__qualname__, repr(net), shapes, json.dumps(params, sort_keys=True, default=str)),
            "settings": _sha(json.dumps(settings, sort_keys=True, default=str)),
            "data": corpus_hash(train)}


MISMATCH = {"network": "another network (architecture or model parameters differ)",
            "settings": "other training settings (training.*, seed or monitor differ)",
            "data": "other training data"}


RESUME_HINT = "train from scratch without --resume (--overwrite replaces a finished run), or use another --out"


def read_resume_checkpoint(path: Path, expected: dict[str, str] | None) -> dict:
    """The checkpoint at ``path`` if it can resume a fit with fingerprint ``expected`` (None: any);
    else one-line errors."""
    hint = RESUME_HINT
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise AffectlabError(f"{path}: unreadable checkpoint, truncated or corrupt ({type(err).__name__}); {hint}") from None
    own = saved.get("callbacks", {}).get("affectlab_resume") if isinstance(saved, dict) else None
    if not isinstance(own, dict) or not isinstance(own.get("fingerprint"), dict):
        raise AffectlabError(f"{path}: not a resumable affectlab checkpoint (from an older version?); {hint}")
    for key, what in MISMATCH.items():
        if expected is not None and own["fingerprint"].get(key) != expected[key]:
            raise AffectlabError(f"{path}: the checkpoint is of {what} than this run; {hint}")
    return saved


def check_resume_settings(work_dir: str | Path, training_cfg: Any, seed: int, monitor: str) -> None:
    """Before any data is read: every resume checkpoint under ``work_dir/lightning`` must be
    readable, resumable and of this run's training settings, seed and (resolved) monitor (the parts
    of :func:`fingerprint` that need no data; network and data are checked when the fit starts).
    Refused in the same one line as :func:`read_resume_checkpoint`."""
    training = {k: v for k, v in training_cfg.model_dump().items() if k not in RESUMABLE_CHANGES}
    settings = {"training": training, "seed": seed, "monitor": monitor, "fixed_epochs": None}
    expected = _sha(json.dumps(settings, sort_keys=True, default=str))
    for path in resume_checkpoints(work_dir):
        saved = read_resume_checkpoint(path, None)
        if saved["callbacks"]["affectlab_resume"]["fingerprint"].get("settings") != expected:
            raise AffectlabError(f"{path}: the checkpoint is of {MISMATCH['settings']} than this run; {RESUME_HINT}")


def resume_checkpoints(work_dir: str | Path) -> list[Path]:
    """Resume checkpoints under ``work_dir/lightning`` (one, or one per cross-validation fold)."""
    root = Path(work_dir) / "lightning"
    return sorted(root.rglob(ResumeCheckpoint.FILE)) if root.is_dir() else []


def check_resumable(work_dir: str | Path) -> None:
    """Refuse ``--resume`` when there is nothing to resume (said, not silently started over).

    A seed of a multi-seed run (``OUT/seed-N``) not started yet starts now when another seed has a
    checkpoint (``train --seeds ... --resume`` after a kill during an earlier seed).
    """
    if resume_checkpoints(work_dir):
        return
    p = Path(work_dir)
    if p.name.startswith("seed-") and any(resume_checkpoints(s) for s in p.parent.glob("seed-*") if s != p):
        return
    raise AffectlabError(f"nothing to resume in {work_dir}; start without --resume")


def ready_net(estimator: Any, corpus: Any) -> Any:
    """A network estimator's fitted net in eval mode, after checking the corpus has its inputs."""
    if estimator.net is None:
        raise RuntimeError("predict before fit")
    estimator.check_inputs(corpus)
    estimator.net.eval()
    return estimator.net
