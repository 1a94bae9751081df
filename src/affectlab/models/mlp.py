"""A multilayer perceptron on one feature vector per sample, with one head per target; optionally a
learned softmax-weighted sum over the layers of some input blocks first (:class:`LayerMix`).

>>> cfg = MLPConfig(input_dim=5, n_targets=2, hidden=(8, 4), widths=(3, 1))
>>> net = MLPNet(cfg).eval()
>>> net(torch.zeros(2, 5)).shape  # three class logits, then one value
torch.Size([2, 4])
>>> MLPConfig.from_dict(cfg.to_dict()) == cfg
True
>>> mixed = MLPConfig(input_dim=3 * 4 + 2, n_targets=1, blocks=(4, 2), layers=(3, 1))  # 3 layers of 4, then 2 as they are
>>> MLPNet(mixed).eval()(torch.zeros(5, 14)).shape, MLPNet(mixed).body[0].in_features
(torch.Size([5, 1]), 6)
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
    #: the input's blocks side by side: block b is layers[b] rows of blocks[b] columns, flattened row by
    #: row; a block of several rows is summed over them with learned weights (:class:`LayerMix`).
    #: () = one block of input_dim columns (no mixing; checkpoints before layer weights)
    blocks: tuple[int, ...] = ()
    layers: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if len(self.blocks) != len(self.layers) or sum(b * n for b, n in zip(self.blocks, self.layers)) != (
                self.input_dim if self.blocks else 0):
            raise ValueError(f"blocks {self.blocks} x layers {self.layers} do not make input_dim {self.input_dim}")

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "MLPConfig":
        fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}  # lists back to tuples
        return cls(**fields)


class LayerMix(nn.Module):
    """(B, sum of L_b * D_b) → (B, sum of D_b): each block of L_b > 1 rows (layers) of D_b columns
    becomes ``softmax(w_b)``-weighted sum of its rows, ``w_b`` learned and initialised to zeros (equal
    weights, as the SUPERB and EmoBox probes start); a one-row block passes as it is.

    >>> mix = LayerMix((2, 1), (3, 1))
    >>> x = torch.arange(7.0)[None]  # layers [0, 1], [2, 3], [4, 5], then the one-row block [6]
    >>> mix(x).tolist(), [w.tolist() for w in mix.weights().values()]  # equal weights: the mean of the layers
    ([[2.0, 3.0, 6.0]], [[0.3333333432674408, 0.3333333432674408, 0.3333333432674408]])
    >>> with torch.no_grad():
    ...     _ = mix.logits["0"].copy_(torch.tensor([0.0, 0.0, 50.0]))
    >>> mix(x).round().tolist()  # nearly all the weight on the last layer
    [[4.0, 5.0, 6.0]]
    """

    def __init__(self, blocks: tuple[int, ...], layers: tuple[int, ...]) -> None:
        super().__init__()
        self.blocks, self.layers = blocks, layers
        self.logits = nn.ParameterDict({str(b): nn.Parameter(torch.zeros(n)) for b, n in enumerate(layers) if n > 1})

    def weights(self) -> dict[int, torch.Tensor]:
        """Each mixed block's layer weights (softmax of its logits; they sum to 1), by block index."""
        return {int(b): torch.softmax(w, dim=0) for b, w in self.logits.items()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts, start = [], 0
        for b, (width, n) in enumerate(zip(self.blocks, self.layers)):
            block = x[:, start:start + width * n]
            start += width * n
            if n > 1:
                block = torch.einsum("bld,l->bd", block.reshape(len(x), n, width), torch.softmax(self.logits[str(b)], dim=0))
            parts.append(block)
        return torch.cat(parts, dim=1)


class MLPNet(nn.Module):
    """Features (B, D) → [:class:`LayerMix` when a block has layers] → [Linear, ReLU, Dropout] per
    hidden layer → :class:`TargetHeads` (B, columns)."""

    def __init__(self, cfg: MLPConfig) -> None:
        super().__init__()
        self.cfg = cfg
        # no mix module without layers: the state dict of a net without mixing stays what it was
        self.mix = LayerMix(cfg.blocks, cfg.layers) if any(n > 1 for n in cfg.layers) else None
        layers: list[nn.Module] = []
        width = sum(cfg.blocks) if cfg.blocks else cfg.input_dim
        for size in cfg.hidden:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(cfg.dropout)]
            width = size
        self.body = nn.Sequential(*layers)
        self.heads = TargetHeads(width, cfg.layout.widths, init=cfg.init_means or None)

    def layer_weights(self) -> dict[int, list[float]]:
        """The learned layer weights of each mixed input block, by block index (empty without mixing)."""
        if self.mix is None:
            return {}
        with torch.no_grad():
            return {b: [float(v) for v in w] for b, w in self.mix.weights().items()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.heads(self.body(x if self.mix is None else self.mix(x)))
