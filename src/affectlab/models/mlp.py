"""A multilayer perceptron on one feature vector per sample, with one head per target.

>>> cfg = MLPConfig(input_dim=5, n_targets=2, hidden=(8, 4), widths=(3, 1))
>>> net = MLPNet(cfg).eval()
>>> net(torch.zeros(2, 5)).shape  # three class logits, then one value
torch.Size([2, 4])
>>> MLPConfig.from_dict(cfg.to_dict()) == cfg
True
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .heads import HasOutputLayout, TargetHeads


@dataclass(frozen=True)
class MLPConfig(HasOutputLayout):
    """Architecture of :class:`MLPNet` (stored in the checkpoint)."""

    input_dim: int
    n_targets: int
    hidden: tuple[int, ...] = (128,)  # sizes of the hidden layers; () = linear heads on the inputs
    dropout: float = 0.2
    init_means: tuple[float, ...] = ()  # initial output biases, one per output column
    widths: tuple[int, ...] = ()  # output columns per target; () = one each (regression only)

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "MLPConfig":
        fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}  # lists back to tuples
        return cls(**fields)


class MLPNet(nn.Module):
    """Features (B, D) → [Linear, ReLU, Dropout] per hidden layer → :class:`TargetHeads` (B, columns)."""

    def __init__(self, cfg: MLPConfig) -> None:
        super().__init__()
        self.cfg = cfg
        layers: list[nn.Module] = []
        width = cfg.input_dim
        for size in cfg.hidden:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(cfg.dropout)]
            width = size
        self.body = nn.Sequential(*layers)
        self.heads = TargetHeads(width, cfg.layout.widths, init=cfg.init_means or None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.heads(self.body(x))
