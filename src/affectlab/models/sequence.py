"""The user-aware sequence model: text vectors + user embedding → (Bi)LSTM/GRU over time → heads.

Each batch item is one user's texts in time order. A learned "unknown user" vector (index 0)
stands in for users never seen in training; during training a fraction of users is replaced by
it (``user_dropout``) so that it learns what an average person looks like.

>>> cfg = SequenceConfig(input_dim=4, n_targets=2, n_users=3, user_dim=2, hidden=8)
>>> net = UserSequenceNet(cfg)
>>> out = net(torch.zeros(2, 5, 4), torch.ones(2, 5, dtype=torch.bool), torch.tensor([1, 0]), torch.zeros(2, 5, 0))
>>> out.shape
torch.Size([2, 5, 2])
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import torch
from torch import nn

from .heads import HasOutputLayout, TargetHeads


@dataclass(frozen=True)
class SequenceConfig(HasOutputLayout):
    """Architecture of :class:`UserSequenceNet` (stored in the checkpoint)."""

    input_dim: int
    n_targets: int
    n_users: int = 0  # known users; index 0 is "unknown"
    user_dim: int = 64  # 0 switches the user embedding off
    extra_dim: int = 0  # per-text extra features (is_words flag, time gap...)
    proj_dim: int = 256
    hidden: int = 256
    layers: int = 1
    cell: Literal["lstm", "gru"] = "lstm"
    bidirectional: bool = True
    dropout: float = 0.2
    user_dropout: float = 0.1
    init_means: tuple[float, ...] = field(default_factory=tuple)  # initial output biases, one per column
    widths: tuple[int, ...] = field(default_factory=tuple)  # output columns per target; () = one each

    def to_dict(self) -> dict:
        return asdict(self)


class UserSequenceNet(nn.Module):
    """Text vectors (B, L, D) + user ids (B,) → outputs (B, L, columns of ``cfg.layout``)."""

    def __init__(self, cfg: SequenceConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.user_embedding = nn.Embedding(cfg.n_users + 1, cfg.user_dim) if cfg.user_dim > 0 else None
        if self.user_embedding is not None:
            nn.init.normal_(self.user_embedding.weight, std=0.02)
        in_dim = cfg.input_dim + cfg.extra_dim + cfg.user_dim
        self.project = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(in_dim, cfg.proj_dim), nn.GELU(), nn.Dropout(cfg.dropout))
        rnn = nn.LSTM if cfg.cell == "lstm" else nn.GRU
        self.rnn = rnn(cfg.proj_dim, cfg.hidden, num_layers=cfg.layers, batch_first=True,
                       bidirectional=cfg.bidirectional, dropout=cfg.dropout if cfg.layers > 1 else 0.0)
        out_dim = cfg.hidden * (2 if cfg.bidirectional else 1) + cfg.proj_dim
        self.out_dropout = nn.Dropout(cfg.dropout)
        self.heads = TargetHeads(out_dim, cfg.layout.widths, init=cfg.init_means or None)

    def forward(self, text: torch.Tensor, mask: torch.Tensor, users: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
        parts = [text]
        if extra.shape[-1]:
            parts.append(extra)
        if self.user_embedding is not None:
            if self.training and self.cfg.user_dropout > 0:
                drop = torch.rand(users.shape, device=users.device) < self.cfg.user_dropout
                users = torch.where(drop, torch.zeros_like(users), users)
            u = self.user_embedding(users)[:, None, :].expand(-1, text.shape[1], -1)
            parts.append(u)
        x = self.project(torch.cat(parts, dim=-1))
        lengths = mask.sum(1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=text.shape[1])
        # the skip connection lets a text's own content speak even when context is uninformative
        return self.heads(self.out_dropout(torch.cat([out, x], dim=-1)))
