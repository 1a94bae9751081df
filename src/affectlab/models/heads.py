"""Output heads: one per target, and the layout that says which output columns belong to which.

A network's output is one tensor whose last axis concatenates every target's columns: one number
for a regression target, one logit per class for a category target. :class:`OutputLayout` knows
the slices, so the loss and ``predict`` can split the columns per target, and
:meth:`OutputLayout.decode` turns outputs into one column per target (values; argmax indices).
A target with one column is a regression target; category targets have at least two classes.

>>> layout = OutputLayout((3, 1))
>>> heads = TargetHeads(8, layout.widths, init=[0.0, 0.0, 0.0, 0.7])
>>> out = heads(torch.zeros(4, 8))
>>> out.shape, layout.slices
(torch.Size([4, 4]), (slice(0, 3, None), slice(3, 4, None)))
>>> layout.decode(torch.tensor([[0.1, 2.0, -1.0, 0.5]])).tolist()
[[1.0, 0.5]]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, cast

import numpy as np
import torch
from torch import nn

from ..corpus.base import TargetSpec


@dataclass(frozen=True)
class OutputLayout:
    """Output widths per target (1: regression value; ``len(classes)``: category logits)."""

    widths: tuple[int, ...]

    @classmethod
    def from_targets(cls, targets: Sequence[TargetSpec]) -> "OutputLayout":
        """The layout of ``targets``; a category target needs at least two declared classes.

        >>> OutputLayout.from_targets([TargetSpec("v"), TargetSpec("e", kind="category", classes=("a", "b"))]).widths
        (1, 2)
        """
        widths = []
        for t in targets:
            if t.is_category and len(t.classes) < 2:
                raise ValueError(f"category target {t.name!r} needs at least two classes, has {len(t.classes)}")
            widths.append(len(t.classes) if t.is_category else 1)
        return cls(tuple(widths))

    @property
    def total(self) -> int:
        return sum(self.widths)

    @property
    def slices(self) -> tuple[slice, ...]:
        ends = np.cumsum((0,) + self.widths)
        return tuple(slice(int(a), int(b)) for a, b in zip(ends[:-1], ends[1:]))

    def is_category(self, j: int) -> bool:
        return self.widths[j] > 1

    def decode(self, out: torch.Tensor | np.ndarray) -> np.ndarray:
        """(..., total) outputs → (..., n_targets) float64: regression values, category argmax indices."""
        x = out.detach().cpu().numpy() if isinstance(out, torch.Tensor) else np.asarray(out)
        cols = [x[..., s].argmax(-1).astype(np.float64) if w > 1 else x[..., s.start].astype(np.float64)
                for w, s in zip(self.widths, self.slices)]
        return np.stack(cols, axis=-1) if cols else np.zeros(x.shape[:-1] + (0,))


class HasOutputLayout:
    """Mixin for a network config with ``n_targets`` and ``widths`` (empty: one column per target)."""

    n_targets: int
    widths: tuple[int, ...]

    @property
    def layout(self) -> OutputLayout:
        return OutputLayout(self.widths or (1,) * self.n_targets)


class TargetHeads(nn.Module):
    """One linear (or one-hidden-layer) head per target, outputs concatenated in target order.

    ``init`` holds the initial output biases, flattened over all columns (a regression target's
    mean, a category target's log class priors): the untrained network predicts the constant
    baseline, so the first epochs are not spent finding the targets' scale.
    """

    def __init__(self, in_dim: int, widths: Sequence[int], hidden: int = 0, dropout: float = 0.0,
                 init: Sequence[float] | None = None) -> None:
        super().__init__()
        self.layout = OutputLayout(tuple(int(w) for w in widths))
        self.heads = nn.ModuleList()
        for w, s in zip(self.layout.widths, self.layout.slices):
            if hidden:
                head = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, w))
            else:
                head = nn.Sequential(nn.Linear(in_dim, w))
            if init is not None and len(init):
                with torch.no_grad():
                    cast(nn.Linear, head[-1]).bias.copy_(torch.tensor([float(v) for v in init[s]]))
            self.heads.append(head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([head(x) for head in self.heads], dim=-1)

