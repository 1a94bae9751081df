"""Differentiable losses: per-target weighted sums of CCC, MSE, MAE, correlation and cross-entropy.

Every term is "lower is better": ``1 - CCC``, ``1 - Pearson r``, MSE, MAE for regression targets;
cross-entropy (``ce``, optionally class-weighted) for category targets, whose network outputs are
one logit per class (see :class:`~affectlab.models.heads.OutputLayout`). Masked entries
(unlabelled or padding) are ignored.

>>> import torch
>>> p = torch.tensor([[0.0], [1.0], [2.0]]); t = p.clone(); m = torch.ones_like(p, dtype=torch.bool)
>>> float(ccc_loss(p[:, 0], t[:, 0]))
0.0
>>> total, parts = weighted_loss(p, t, m, [LossTerms(ccc=0.7, mse=0.3)], ["arousal"])
>>> round(float(total), 6)
0.0
>>> logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]]); labels = torch.tensor([[0.0], [1.0]])
>>> total, _ = weighted_loss(logits, labels, torch.ones(2, 1, dtype=torch.bool), [LossTerms(ce=1.0)], ["e"], widths=(2,))
>>> round(float(total), 4)  # -log(e^2 / (e^2 + 1))
0.1269
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.nn import functional as F

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


def category_loss(logits: torch.Tensor, labels: torch.Tensor, terms: LossTerms,
                  class_weight: torch.Tensor | None = None) -> torch.Tensor:
    """``terms.ce`` times the (class-weighted) mean cross-entropy of (n, C) logits and (n,) class indices.

    With weights the mean is ``sum(w[y_i] * nll_i) / sum(w[y_i])``, as in torch and scikit-learn.
    """
    if not terms.ce:
        return logits.new_zeros(())
    weight = None if class_weight is None else class_weight.to(device=logits.device, dtype=logits.dtype)
    if weight is not None and not bool(weight[labels.long()].sum() > 0):
        return logits.new_zeros(())  # only classes unseen in training: the weighted mean is 0 / 0
    return terms.ce * F.cross_entropy(logits, labels.long(), weight=weight)


def balanced_class_weights(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """``n / (n_classes * n_c)`` per class from the labelled entries (NaN = missing) of ``labels``.

    A class absent from ``labels`` gets weight 0 (no training sample carries it anyway).

    >>> balanced_class_weights(np.array([0, 0, 0, 1, np.nan]), 3).tolist()
    [0.4444444444444444, 1.3333333333333333, 0.0]
    """
    y = np.asarray(labels, dtype=float)
    y = y[~np.isnan(y)].astype(int)
    counts = np.bincount(y, minlength=n_classes).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):  # no labels at all (an unlabelled transfer stage): all 0
        return np.where(counts > 0, len(y) / (n_classes * counts), 0.0)


def weighted_loss(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, terms: Sequence[LossTerms], names: Sequence[str],
    widths: Sequence[int] | None = None, class_weights: Sequence[torch.Tensor | None] | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Sum over targets of their loss on the masked entries; also the per-target parts.

    ``target`` and ``mask`` share a shape whose last axis is the target axis (category targets as
    class indices). ``pred``'s last axis holds ``widths[j]`` columns per target (default 1 each):
    a width above 1 is a category target's logits, scored by :func:`category_loss` with
    ``class_weights[j]``; a width of 1 is a regression value, scored by :func:`target_loss`.
    """
    widths = tuple(widths) if widths is not None else (1,) * target.shape[-1]
    pred = pred.reshape(-1, pred.shape[-1])
    target = target.reshape(-1, target.shape[-1])
    mask = mask.reshape(-1, mask.shape[-1])
    parts = {}
    total = pred.new_zeros(())
    start = 0
    for j, (term, name, width) in enumerate(zip(terms, names, widths)):
        cols, start = slice(start, start + width), start + width
        keep = mask[:, j]
        if keep.sum() == 0:
            continue
        if width > 1:
            weight = class_weights[j] if class_weights is not None else None
            parts[name] = category_loss(pred[keep, cols], target[keep, j], term, weight)
        else:
            parts[name] = target_loss(pred[keep, cols.start], target[keep, j], term)
        total = total + parts[name]
    return total, parts
