"""The LightningModule around any network: masked, per-target weighted losses and AdamW.

The network's ``forward`` takes the keyword arguments in ``batch["inputs"]`` and returns outputs
whose last axis concatenates every target's columns (see
:class:`~affectlab.models.heads.OutputLayout`); ``batch["target"]`` and ``batch["target_mask"]``
have the same leading shape and one column per target (class indices for category targets).

One module serves every training stage: a stage is a configuration of it, not a loop of its own.
``trainable`` (parameter-name prefixes) freezes everything else for the fit; ``loss`` replaces
the target loss by another function of the network and the batch (the unlabelled alignment
stages of ``affectlab transfer``); ``lr``/``lr_by_prefix`` set the learning rates. The optimiser,
weight-decay grouping, gradient clipping, early stopping and best-weight tracking stay those of
:func:`~affectlab.training.fit.fit_network`.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Sequence

import lightning.pytorch as pl
import torch
from torch import nn
from typing_extensions import Self

from .targets import TargetPlan

# training_step returns None on purpose for a batch with nothing to learn (see there)
warnings.filterwarnings("ignore", ".*`training_step` returned `None`.*")

#: a stage's own loss: ``loss(net, batch) -> scalar tensor``
StageLoss = Callable[[nn.Module, dict], torch.Tensor]


class AffectModule(pl.LightningModule):
    """Training wrapper: loss, optimiser and logging; the network stays a plain ``nn.Module``."""

    def __init__(self, net: nn.Module, plan: TargetPlan, lr: float, weight_decay: float,
                 lr_by_prefix: dict[str, float] | None = None, trainable: Sequence[str] | None = None,
                 loss: StageLoss | None = None) -> None:
        super().__init__()
        self.net = net
        # parameters whose name starts with a prefix get that learning rate (a fine-tuned encoder)
        self.lr_by_prefix = dict(lr_by_prefix or {})
        self.plan = plan
        self.lr = lr
        self.weight_decay = weight_decay
        self.stage_loss = loss
        self.trainable = tuple(trainable) if trainable is not None else None
        self._frozen: list[nn.Parameter] = []
        if self.trainable is not None:
            for name, p in net.named_parameters():
                if p.requires_grad and not name.startswith(self.trainable):
                    p.requires_grad_(False)
                    self._frozen.append(p)

    def unfreeze(self) -> Self:
        """Give back the parameters this module froze (call after the fit)."""
        for p in self._frozen:
            p.requires_grad_(True)
        self._frozen = []
        return self

    def forward(self, batch: dict) -> torch.Tensor:
        return self.net(**batch["inputs"])

    def loss(self, batch: dict) -> torch.Tensor:
        if self.stage_loss is not None:
            return self.stage_loss(self.net, batch)
        total, _ = self.plan.loss(self(batch), batch["target"], batch["target_mask"])
        return total

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor | None:
        loss = self.loss(batch)
        if not loss.requires_grad:
            # nothing in this batch to learn from, so the loss is a constant: a last batch of one sample
            # whose only terms are correlations (CCC needs two), or no labelled entry. backward on a
            # constant would crash ('does not require grad'); Lightning skips the step for None. Under
            # DDP every rank must join the gradient all-reduce: a zero that reaches every parameter
            if self.trainer.world_size <= 1:
                return None
            loss = loss + sum((p * 0.0).sum() for p in self.net.parameters() if p.requires_grad)
        n = int(batch["target_mask"].any(-1).sum()) if self.stage_loss is None else len(batch["rows"])
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=max(n, 1), sync_dist=True)
        return loss

    def configure_optimizers(self) -> Any:
        # decay only weight matrices: not biases, norms or embeddings (the unknown-user row included)
        buckets: dict[tuple[float, bool], list] = {}
        for name, p in self.net.named_parameters():
            if not p.requires_grad:
                continue
            lr = next((v for k, v in self.lr_by_prefix.items() if name.startswith(k)), self.lr)
            decays = p.ndim >= 2 and "embedding" not in name
            buckets.setdefault((lr, decays), []).append(p)
        groups = [{"params": ps, "lr": lr, "weight_decay": self.weight_decay if decays else 0.0}
                  for (lr, decays), ps in buckets.items()]
        return torch.optim.AdamW(groups, lr=self.lr)
