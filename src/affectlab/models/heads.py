"""Output heads: one small regression head per target."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class RegressionHeads(nn.Module):
    """One linear (or one-hidden-layer) head per target; biases start at the targets' means.

    >>> heads = RegressionHeads(8, n_targets=2, init_means=[0.2, 0.7])
    >>> heads(torch.zeros(3, 8)).shape
    torch.Size([3, 2])
    """

    def __init__(self, in_dim: int, n_targets: int, hidden: int = 0, dropout: float = 0.0,
                 init_means: Sequence[float] | None = None) -> None:
        super().__init__()
        self.heads = nn.ModuleList()
        for j in range(n_targets):
            if hidden:
                head = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, 1))
            else:
                head = nn.Sequential(nn.Linear(in_dim, 1))
            if init_means is not None:
                nn.init.constant_(head[-1].bias, float(init_means[j]))
            self.heads.append(head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([head(x) for head in self.heads], dim=-1)
