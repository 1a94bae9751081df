"""The training stages of a transfer: closed-form alignment, MMD, pseudo-targets, supervised fine-tuning.

Each stage changes an :class:`~affectlab.transfer.adapters.AdaptedEstimator` in place and appends
rows (``model, stage, epoch, train_loss, val_<monitor>, mmd_<modality>``) to a history list:
the per-stage loss curves of the run (``stages.csv``).

Alignment stages use no labels: they see the target training rows' features (all of them) and
the source model's training rows, standardised as the source model standardises them.
The supervised stage sees the K labelled target samples and selects epochs on the target
validation split (never test).

Every trained stage is a configuration of the one training path
(:meth:`~affectlab.training.fusion_estimator.FusionEstimator.train_net`, i.e.
:func:`~affectlab.training.fit.fit_network` with :class:`~affectlab.training.module.AffectModule`):
a trainable parameter set (``adapters.`` / ``net.`` prefixes of :class:`AdaptedNet`), a loss
(pseudo-target distance, MMD², or the target loss of ``training.losses``) and a learning rate.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from ..config import TrainingConfig
from ..corpus.base import Corpus
from ..models.base import FitContext
from ..models.fusion import masked_mean, step_mask
from ..models.ridge_modality import modality_arrays, pool_mean
from ..training.module import StageLoss
from .adapters import ADAPTERS, SOURCE_NET, AdaptedEstimator, AdaptedNet
from .align import coral_map, label_targets, median_bandwidth, mmd2, moment_map, pseudo_targets
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
    k_rows: np.ndarray  # their positions in target_train
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
    tensors = est.inputs(corpus)
    length = tensors[f"{m}_len"]
    ok = (length > 0).numpy()
    net = _net(est)
    with torch.no_grad():
        net.eval()
        y = net.adapt(m, tensors[m], length, clip=clip)
        v = masked_mean(y, step_mask(length, y.shape[1])).double().numpy()
    return v[ok], ok


def _net(est: AdaptedEstimator) -> AdaptedNet:
    assert est.net is not None, "an adapted model is built before its stages run"
    return est.net


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


def _row(model: str, stage: str, epoch: int, loss: float, mmd: dict[str, float] | None = None, /,
         **extra: Any) -> dict[str, Any]:
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
    seed = data.seed * 1000 + index  # each stage seeded on its own: independent of what ran before
    if stage.kind in ("standardize", "coral"):
        for m in est.adapted:
            y, _ = adapted_vectors(est, data.target_train, m)
            ys = data.source_ys[m]
            if stage.kind == "standardize":
                a, c = moment_map(y, ys.mean(0), ys.std(0))
            else:
                a, c = coral_map(y, ys, eps=stage.eps)
            w0, b0 = (t.double().numpy() for t in _net(est).post(m))
            # compose: (x W0 + b0) A + c
            _net(est).set_post(m, w0 @ a, b0 @ a + c)
        est.release_inputs()
        history.append(_row(model_label, name, 0, float("nan"), mmd_now(est, data)))
    elif stage.kind == "mmd":
        _train_alignment(est, stage, name, data, history, model_label, _mmd_loss(est, stage, data, seed), seed)
    elif stage.kind == "pseudo":
        if stage.scheme == "label" and not len(data.k_rows):
            history.append(_row(model_label, name, 0, float("nan"), note="K=0: no labelled target samples, stage skipped"))
            return
        targets = {m: _pseudo_for(est, stage, data, m) for m in est.adapted}
        _train_alignment(est, stage, name, data, history, model_label, _pseudo_loss(targets), seed)
    elif stage.kind == "supervised":
        supervised(est, stage, name, data, history, model_label, seed)
    else:  # pragma: no cover - validated by the config
        raise ValueError(stage.kind)


def _adapter_anchor(net: AdaptedNet) -> torch.Tensor:
    """A zero that depends on the adapters, so that a batch without the modality still backpropagates."""
    return sum((p.sum() for p in net.adapters.parameters()), torch.zeros(())) * 0.0


def _train_alignment(est: AdaptedEstimator, stage: StageConfig, name: str, data: TransferData, history: list[dict],
                     model_label: str, loss: StageLoss, seed: int) -> None:
    """An unlabelled stage: the one fit path with the adapters trainable, a stage loss, fixed epochs."""
    epochs = stage.epochs or ALIGN_EPOCHS
    training = data.training.model_copy(update={"lr": stage.lr or ALIGN_LR, "batch_size": stage.batch_size,
                                                "max_epochs": epochs})
    ctx = FitContext(training=training, seed=seed, scorer=None, monitor=data.monitor,  # no scorer: nothing scored
                     monitor_higher_is_better=data.monitor_higher, fixed_epochs=epochs)
    no_labels = np.full((0, len(est.targets)), np.nan)  # the plan's loss is not used: no label is read
    result = est.train_net(data.target_train, None, ctx, est.target_plan(no_labels, training),
                           trainable=(ADAPTERS,), loss=loss)
    for row in result.history:
        last = row["epoch"] == len(result.history)
        history.append(_row(model_label, name, int(row["epoch"]), float(row.get("train_loss", float("nan"))),
                            mmd_now(est, data) if last else None))


def _pooled_batch(net: AdaptedNet, batch: dict, m: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Pooled adapter outputs of the batch rows where ``m`` is present, and those rows' positions in the corpus."""
    x, length = batch["inputs"][m], batch["inputs"][f"{m}_len"]
    ok = length > 0
    y = net.adapt(m, x[ok], length[ok], clip=False)
    return masked_mean(y, step_mask(length[ok], y.shape[1])), batch["rows"][ok]


def _mmd_loss(est: AdaptedEstimator, stage: StageConfig, data: TransferData, seed: int) -> StageLoss:
    gen = torch.Generator().manual_seed(seed)
    sources = {m: torch.as_tensor(data.source_ys[m], dtype=torch.float32) for m in est.adapted}

    def loss(net: torch.nn.Module, batch: dict) -> torch.Tensor:
        assert isinstance(net, AdaptedNet)
        total = _adapter_anchor(net)
        for m, ys in sources.items():
            yt, _ = _pooled_batch(net, batch, m)
            if len(yt) < 2:
                continue
            pick = torch.randint(0, len(ys), (len(yt),), generator=gen)
            total = total + mmd2(yt, ys[pick].to(yt.dtype), data.bandwidth[m], stage.scales)
        return total

    return loss


def _pseudo_loss(targets: dict[str, torch.Tensor]) -> StageLoss:
    """Mean squared distance of the pooled adapter outputs to each row's pseudo-target."""
    def loss(net: torch.nn.Module, batch: dict) -> torch.Tensor:
        assert isinstance(net, AdaptedNet)
        total = _adapter_anchor(net)
        for m, t in targets.items():
            yt, rows = _pooled_batch(net, batch, m)
            goal = t[rows].to(yt.dtype)
            has = ~torch.isnan(goal).any(dim=1)  # rows without a pseudo-target (scheme label: unlabelled)
            if has.any():
                total = total + ((yt[has] - goal[has]) ** 2).mean()
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
    """Pseudo-targets, one row per target training row (NaN where ``m`` is absent: never read)."""
    ys = data.source_ys[m]
    src_ok = data.source_rows[m]
    tgt_ok = modality_arrays(data.target_train, m)[1] > 0
    ft = fs = None
    if stage.scheme not in ("random", "label"):
        if stage.similarity == "shared":
            if not data.shared:
                from ..core.errors import AffectlabError

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
    full = np.full((len(tgt_ok), ys.shape[1]), np.nan, dtype=np.float32)
    if stage.scheme == "label":  # the K labelled rows only, matched to source rows of the nearest labels (same class)
        labelled = np.zeros(len(tgt_ok), bool)
        labelled[data.k_rows] = True
        pick = labelled[tgt_ok]  # among the rows where m is present
        yt = data.target_train.target_matrix()[tgt_ok][pick]
        ys_labels = data.source_train.target_matrix()[src_ok]
        full[np.flatnonzero(tgt_ok)[pick]] = label_targets(yt, ys_labels, ys, exclude=None if exclude is None else exclude[pick],
                                                           neighbours=stage.neighbours, seed=data.seed,
                                                           category=[t.is_category for t in data.target_train.targets])
        return torch.from_numpy(full)
    targets, _ = pseudo_targets(stage.scheme, int(tgt_ok.sum()), ys, ft=ft, fs=fs, exclude=exclude,
                                clusters=stage.clusters, neighbours=stage.neighbours, seed=data.seed)
    full[tgt_ok] = targets
    return torch.from_numpy(full)


# --------------------------------------------------------------------------- supervised

def supervised(est: AdaptedEstimator, stage: StageConfig, name: str, data: TransferData, history: list[dict],
               model_label: str, seed: int) -> None:
    """Phase 1: one part trained (``stage.first``: model or adapters), the other frozen; phase 2: everything at lr * lr_scale.

    Both phases are the one fit path (:meth:`FusionEstimator.train_net`: AdamW, weight-decay
    grouping, gradient clipping, early stopping and the best epoch on the target validation
    split, the loss of ``training.losses`` or the one default). A phase keeps the weights it
    started with when none of its epochs beats them on validation (epoch 0).
    """
    if data.k_train is None or len(data.k_train) == 0:
        history.append(_row(model_label, name, 0, float("nan"), note="K=0: no labelled target samples, stage skipped"))
        return
    cfg = data.training
    lr = stage.lr or cfg.lr
    epochs = stage.epochs or cfg.max_epochs
    first = (SOURCE_NET,) if stage.first == "model" else (ADAPTERS,)
    phases = [(f"{name}/{stage.first}", first, lr, seed), (f"{name}/all", None, lr * stage.lr_scale, seed + 1)]
    key = f"val_{data.monitor}"

    def better(a: float, b: float) -> bool:
        return a > b if data.monitor_higher else a < b

    for label, trainable, phase_lr, phase_seed in phases:
        training = cfg.model_copy(update={"lr": phase_lr, "max_epochs": epochs, "patience": stage.patience or cfg.patience,
                                          "batch_size": min(cfg.batch_size, len(data.k_train))})
        start = float(data.scorer(data.val, est.predict(data.val))[data.monitor]) if data.val is not None else float("nan")
        start_state = copy.deepcopy(_net(est).state_dict())
        history.append(_row(model_label, label, 0, float("nan"), **{key: start}))
        ctx = FitContext(training=training, seed=phase_seed, scorer=data.scorer, monitor=data.monitor,
                         monitor_higher_is_better=data.monitor_higher, fixed_epochs=None if data.val is not None else epochs)
        result = est.train_net(data.k_train, data.val, ctx, est.target_plan(data.k_train.target_matrix(), training),
                               trainable=trainable)
        for row in result.history:
            history.append(_row(model_label, label, int(row["epoch"]), float(row.get("train_loss", float("nan"))),
                                **{key: float(row.get(key, float("nan")))}))
        best_epoch = result.best_epoch
        best = next((float(r[key]) for r in result.history if r["epoch"] == best_epoch and key in r), float("nan"))
        if data.val is not None and not better(best, start):  # no epoch improved on the weights it started with
            _net(est).load_state_dict(start_state)
            best_epoch, best = 0, start
        history.append(_row(model_label, label, -1, float("nan"), best_epoch=best_epoch, **{key: best}))
    est.release_inputs()
