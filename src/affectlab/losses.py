"""Differentiable losses: per-target weighted sums of CCC, MSE, MAE and correlation terms.

Every term is "lower is better": ``1 - CCC``, ``1 - Pearson r``, MSE, MAE. Masked entries
(unlabelled or padding) are ignored.

>>> import torch
>>> p = torch.tensor([[0.0], [1.0], [2.0]]); t = p.clone(); m = torch.ones_like(p, dtype=torch.bool)
>>> float(ccc_loss(p[:, 0], t[:, 0]))
0.0
>>> total, parts = weighted_loss(p, t, m, [LossTerms(ccc=0.7, mse=0.3)], ["arousal"])
>>> round(float(total), 6)
0.0
"""

from __future__ import annotations

from typing import Sequence

import torch

from .config import LossTerms

_EPS = 1e-8


def ccc_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - Lin's concordance correlation (population moments), differentiable."""
    mp, mt = pred.mean(), target.mean()
    vp, vt = pred.var(unbiased=False), target.var(unbiased=False)
    cov = ((pred - mp) * (target - mt)).mean()
    return 1 - 2 * cov / (vp + vt + (mp - mt) ** 2 + _EPS)


def corr_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - Pearson correlation, differentiable."""
    dp, dt = pred - pred.mean(), target - target.mean()
    return 1 - (dp * dt).sum() / (dp.norm() * dt.norm() + _EPS)


def mse_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return ((pred - target) ** 2).mean()


def mae_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (pred - target).abs().mean()


TERMS = {"ccc": ccc_loss, "mse": mse_loss, "mae": mae_loss, "corr": corr_loss}


def target_loss(pred: torch.Tensor, target: torch.Tensor, terms: LossTerms) -> torch.Tensor:
    """The weighted sum of the terms for one target (1-D tensors of labelled entries)."""
    total = pred.new_zeros(())
    for name, fn in TERMS.items():
        weight = getattr(terms, name)
        if weight:
            # correlation terms are undefined on fewer than two samples: skip them there
            if name in ("ccc", "corr") and pred.numel() < 2:
                continue
            total = total + weight * fn(pred, target)
    return total


def weighted_loss(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, terms: Sequence[LossTerms], names: Sequence[str]
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Sum over targets of :func:`target_loss` on the masked entries; also the per-target parts.

    ``pred``, ``target`` and ``mask`` share a shape whose last axis is the target axis.
    """
    pred = pred.reshape(-1, pred.shape[-1])
    target = target.reshape(-1, target.shape[-1])
    mask = mask.reshape(-1, mask.shape[-1])
    parts = {}
    total = pred.new_zeros(())
    for j, (term, name) in enumerate(zip(terms, names)):
        keep = mask[:, j]
        if keep.sum() == 0:
            continue
        parts[name] = target_loss(pred[keep, j], target[keep, j], term)
        total = total + parts[name]
    return total, parts
