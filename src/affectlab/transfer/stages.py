"""The training stages of a transfer: closed-form alignment, MMD, pseudo-targets, supervised fine-tuning.

Each stage changes an :class:`~affectlab.transfer.adapters.AdaptedEstimator` in place and appends
rows (``model, stage, epoch, train_loss, val_<monitor>, mmd_<modality>``) to a history list:
the per-stage loss curves of the run (``stages.csv``).

Alignment stages use no labels: they see the target training rows' features (all of them) and
the source model's training rows, standardised as the source model standardises them.
The supervised stage sees the K labelled target samples and selects epochs on the target
validation split (never test).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from ..config import LossTerms, TrainingConfig
from ..corpus.base import Corpus
from ..losses import weighted_loss
from ..models.fusion import masked_mean, step_mask
from ..models.ridge_modality import modality_arrays, pool_mean
from .adapters import AdaptedEstimator
from .align import coral_map, median_bandwidth, mmd2, moment_map, pseudo_targets
from .config import StageConfig

ALIGN_EPOCHS, ALIGN_LR = 20, 1e-3
MMD_ROWS = 500  # rows per side for the MMD diagnostics


def source_vectors(stats: tuple[np.ndarray, np.ndarray], corpus: Corpus, m: str, clip: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean-pooled vectors of modality ``m`` standardised (and clipped) as the source model does; rows present."""
    x, length = modality_arrays(corpus, m)
    mean, std = stats
    z = np.clip((x - mean) / std, -clip, clip)
    pooled = pool_mean(z, length)
    ok = length > 0
    return pooled[ok], ok


@dataclass
class TransferData:
    """Everything the stages read (built once by :mod:`affectlab.transfer.run`)."""

    target_train: Corpus  # all target training rows (features only are used by alignment)
    k_train: Corpus | None  # the K labelled target samples (None when K = 0)
    val: Corpus | None  # labelled target validation rows (early stopping only)
    source_train: Corpus
    source_ys: dict[str, np.ndarray]  # adapted modality -> (n_s_m, d_s) source vectors
    source_rows: dict[str, np.ndarray]  # adapted modality -> bool mask of source rows with it present
    shared: tuple[str, ...]  # modalities not adapted (their features did not change)
    source_stats: dict[str, tuple[np.ndarray, np.ndarray]]
    training: TrainingConfig
    monitor: str
    monitor_higher: bool
    scorer: Callable[[Corpus, np.ndarray], dict[str, float]]
    clip: float
    seed: int
    notes: list[str] = field(default_factory=list)
    bandwidth: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for m, ys in self.source_ys.items():
            self.bandwidth[m] = median_bandwidth(ys)


# --------------------------------------------------------------------------- helpers

def adapted_vectors(est: AdaptedEstimator, corpus: Corpus, m: str, clip: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Pooled adapter outputs for the rows of ``corpus`` where ``m`` is present (no gradient)."""
    tensors = est._inputs(corpus)
    length = tensors[f"{m}_len"]
    ok = (length > 0).numpy()
    with torch.no_grad():
        est.net.eval()
        y = est.net.adapt(m, tensors[m], length, clip=clip)
        v = masked_mean(y, step_mask(length, y.shape[1])).double().numpy()
    return v[ok], ok


def mmd_now(est: AdaptedEstimator, data: TransferData, corpus: Corpus | None = None) -> dict[str, float]:
    """MMD^2 between adapted target vectors and source vectors per adapted modality (fixed subsamples)."""
    corpus = corpus if corpus is not None else data.target_train
    out = {}
    for m in est.adapted:
        yt, _ = adapted_vectors(est, corpus, m, clip=True)
        ys = data.source_ys[m]
        rng = np.random.default_rng(0)
        a = yt[rng.permutation(len(yt))[:MMD_ROWS]]
        b = ys[rng.permutation(len(ys))[:MMD_ROWS]]
        out[m] = float(mmd2(a, b, data.bandwidth[m]))
    return out


def _pooled_tensor(est: AdaptedEstimator, tensors: dict, m: str, idx: torch.Tensor) -> torch.Tensor:
    x, length = tensors[m][idx], tensors[f"{m}_len"][idx]
    y = est.net.adapt(m, x, length, clip=False)
    return masked_mean(y, step_mask(length, y.shape[1]))


def _row(model: str, stage: str, epoch: int, loss: float, mmd: dict[str, float] | None = None, **extra: float) -> dict[str, Any]:
    row: dict[str, Any] = {"model": model, "stage": stage, "epoch": epoch, "train_loss": loss}
    row.update(extra)
    for m, v in (mmd or {}).items():
        row[f"mmd_{m}"] = v
    return row


# --------------------------------------------------------------------------- stages

def run_stage(est: AdaptedEstimator, stage: StageConfig, index: int, data: TransferData, history: list[dict],
              model_label: str = "adapted") -> None:
    """Run one stage on ``est`` (in place), appending its curve to ``history``."""
    name = f"{index}:{stage.kind}"
    torch.manual_seed(data.seed * 1000 + index)
    if stage.kind in ("standardize", "coral"):
        for m in est.adapted:
            y, _ = adapted_vectors(est, data.target_train, m)
            ys = data.source_ys[m]
            if stage.kind == "standardize":
                a, c = moment_map(y, ys.mean(0), ys.std(0))
            else:
                a, c = coral_map(y, ys, eps=stage.eps)
            w0, b0 = (t.double().numpy() for t in est.net.post(m))
            # compose: (x W0 + b0) A + c
            est.net.set_post(m, w0 @ a, b0 @ a + c)
        est._prepared = []
        history.append(_row(model_label, name, 0, float("nan"), mmd_now(est, data)))
    elif stage.kind == "mmd":
        _train_alignment(est, stage, name, data, history, model_label, _mmd_loss(est, stage, data))
    elif stage.kind == "pseudo":
        targets = {m: _pseudo_for(est, stage, data, m) for m in est.adapted}
        _train_alignment(est, stage, name, data, history, model_label, _pseudo_loss(est, targets))
    elif stage.kind == "supervised":
        supervised(est, stage, name, data, history, model_label)
    else:  # pragma: no cover - validated by the config
        raise ValueError(stage.kind)


def _train_alignment(est, stage, name, data, history, model_label, loss_fn) -> None:
    params = [p for p in est.net.adapters.parameters()]
    for p in est.net.net.parameters():
        p.requires_grad_(False)
    opt = torch.optim.Adam(params, lr=stage.lr or ALIGN_LR)
    tensors = est._inputs(data.target_train)
    present = {m: torch.from_numpy(np.flatnonzero((tensors[f"{m}_len"] > 0).numpy())) for m in est.adapted}
    n = max(len(v) for v in present.values())
    gen = torch.Generator().manual_seed(data.seed)
    for epoch in range(1, (stage.epochs or ALIGN_EPOCHS) + 1):
        est.net.train()
        order = torch.randperm(n, generator=gen)
        losses = []
        for start in range(0, n, stage.batch_size):
            pos = order[start:start + stage.batch_size]
            if len(pos) < 2:
                continue
            loss = loss_fn(tensors, present, pos, gen)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 5.0)
            opt.step()
            losses.append(float(loss.detach()))
        history.append(_row(model_label, name, epoch, float(np.mean(losses)) if losses else float("nan"),
                            mmd_now(est, data) if epoch == (stage.epochs or ALIGN_EPOCHS) else None))
    for p in est.net.net.parameters():
        p.requires_grad_(True)
    est.net.eval()


def _mmd_loss(est, stage, data):
    def loss(tensors, present, pos, gen):
        total = 0.0
        for m in est.adapted:
            rows = present[m][pos[pos < len(present[m])]]
            if len(rows) < 2:
                continue
            yt = _pooled_tensor(est, tensors, m, rows)
            ys = data.source_ys[m]
            pick = torch.randint(0, len(ys), (len(rows),), generator=gen)
            total = total + mmd2(yt, torch.as_tensor(ys, dtype=yt.dtype)[pick], data.bandwidth[m], stage.scales)
        return total

    return loss


def _pseudo_loss(est, targets: dict[str, torch.Tensor]):
    def loss(tensors, present, pos, gen):
        total = 0.0
        for m in est.adapted:
            keep = pos[pos < len(present[m])]
            rows = present[m][keep]
            yt = _pooled_tensor(est, tensors, m, rows)
            total = total + ((yt - targets[m][keep].to(yt.dtype)) ** 2).mean()
        return total

    return loss


def _shared_features(corpus: Corpus, data: TransferData, modalities: tuple[str, ...]) -> np.ndarray:
    parts = []
    for m in modalities:
        x, length = modality_arrays(corpus, m)
        mean, std = data.source_stats[m]
        pooled = pool_mean(np.clip((x - mean) / std, -data.clip, data.clip), length)
        parts.append(np.nan_to_num(pooled))
    return np.concatenate(parts, axis=1)


def _pseudo_for(est: AdaptedEstimator, stage: StageConfig, data: TransferData, m: str) -> torch.Tensor:
    """Pseudo-targets for the target training rows where ``m`` is present (same order)."""
    ys = data.source_ys[m]
    src_ok = data.source_rows[m]
    tensors = est._inputs(data.target_train)
    tgt_ok = (tensors[f"{m}_len"] > 0).numpy()
    ft = fs = None
    if stage.scheme != "random":
        if stage.similarity == "shared":
            if not data.shared:
                from ..errors import AffectlabError

                raise AffectlabError("transfer: pseudo-target similarity 'shared' needs a modality without adapter; "
                                     "use similarity: adapted")
            ft = _shared_features(data.target_train, data, data.shared)[tgt_ok]
            fs = _shared_features(data.source_train, data, data.shared)[src_ok]
        else:
            ft, _ = adapted_vectors(est, data.target_train, m)
            fs = ys
    exclude = None
    if stage.exclude != "none":
        col = "id" if stage.exclude == "id" else "group"
        t_keys = data.target_train.frame[col].to_numpy().astype(str)[tgt_ok]
        s_keys = data.source_train.frame[col].to_numpy().astype(str)[src_ok]
        exclude = t_keys[:, None] == s_keys[None, :]
        if exclude.all(axis=1).any():
            exclude = None
            data.notes.append(f"pseudo-targets: every source sample shares the target's {col}; nothing excluded")
    targets, _ = pseudo_targets(stage.scheme, int(tgt_ok.sum()), ys, ft=ft, fs=fs, exclude=exclude,
                                clusters=stage.clusters, neighbours=stage.neighbours, seed=data.seed)
    return torch.as_tensor(targets, dtype=torch.float32)


# --------------------------------------------------------------------------- supervised

def supervised(est: AdaptedEstimator, stage: StageConfig, name: str, data: TransferData, history: list[dict],
               model_label: str = "adapted") -> None:
    """Phase 1: one part trained (``stage.first``: model or adapters), the other frozen; phase 2: everything at lr * lr_scale.

    Each phase keeps the weights of its best validation epoch (epoch 0 = the weights it started with).
    """
    if data.k_train is None or len(data.k_train) == 0:
        history.append(_row(model_label, name, 0, float("nan"), note="K=0: no labelled target samples, stage skipped"))
        return
    cfg = data.training
    names = [t.name for t in est.targets]
    terms = [cfg.losses.get(n, LossTerms(mae=1.0)) for n in names]
    lr = stage.lr or cfg.lr
    epochs = stage.epochs or cfg.max_epochs
    patience = stage.patience or cfg.patience
    model_params = list(est.net.net.parameters())
    adapter_params = list(est.net.adapters.parameters())
    first = model_params if stage.first == "model" else adapter_params
    phases = [(f"{name}/{stage.first}", first, lr), (f"{name}/all", model_params + adapter_params, lr * stage.lr_scale)]
    tensors = est._inputs(data.k_train)
    n = len(data.k_train)
    batch = min(cfg.batch_size, n)
    gen = torch.Generator().manual_seed(data.seed)

    def val_score() -> float:
        if data.val is None:
            return float("nan")
        est.net.eval()
        pred = est._predict_net(est.net, data.val)
        return float(data.scorer(data.val, pred)[data.monitor])

    for label, params, phase_lr in phases:
        trainable = {id(p) for p in params}
        for p in model_params + adapter_params:
            p.requires_grad_(id(p) in trainable)
        decay = [p for p in params if p.ndim >= 2]
        no_decay = [p for p in params if p.ndim < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}], lr=phase_lr)
        best = val_score()
        best_state, best_epoch, waited = copy.deepcopy(est.net.state_dict()), 0, 0
        history.append(_row(model_label, label, 0, float("nan"), **{f"val_{data.monitor}": best}))
        for epoch in range(1, epochs + 1):
            est.net.train()
            order = torch.randperm(n, generator=gen)
            losses = []
            for start in range(0, n, batch):
                idx = order[start:start + batch]
                if len(idx) < 2 and n >= 2:
                    continue
                b = est._batch(tensors, idx)
                loss, _ = weighted_loss(est.net(**b["inputs"]), b["target"], b["target_mask"], terms, names)
                opt.zero_grad()
                loss.backward()
                if cfg.grad_clip:
                    torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                opt.step()
                losses.append(float(loss.detach()))
            score = val_score()
            history.append(_row(model_label, label, epoch, float(np.mean(losses)) if losses else float("nan"),
                                **{f"val_{data.monitor}": score}))
            if data.val is None:
                best_state, best_epoch = copy.deepcopy(est.net.state_dict()), epoch
                continue
            better = score > best if data.monitor_higher else score < best
            if better:
                best, best_state, best_epoch, waited = score, copy.deepcopy(est.net.state_dict()), epoch, 0
            else:
                waited += 1
                if waited >= patience:
                    break
        est.net.load_state_dict(best_state)
        history.append(_row(model_label, label, -1, float("nan"), best_epoch=best_epoch, **{f"val_{data.monitor}": best}))
    for p in model_params + adapter_params:
        p.requires_grad_(True)
    est.net.eval()
    est._prepared = []
