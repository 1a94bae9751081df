"""Multimodal fusion networks (text, audio, vision) as plain ``nn.Module``s.

Every network takes, per modality ``m``, a padded sequence ``m`` of shape (B, L, D_m) and its
valid lengths ``m_len`` (B,); a length of 0 means the modality is missing for that sample, and
the network then uses a learned "missing" vector (or token) in its place. During training,
``modality_dropout`` hides each modality of each sample with that probability (never all of
one sample's modalities), so the model learns to cope with missing ones.

- :class:`LateFusionNet` (``late``): one encoder per modality (masked mean or LSTM, then a
  dense layer), vectors concatenated, MLP head (MMSA's LF_DNN layout).
- :class:`EarlyLSTMNet` (``early_lstm``): modalities concatenated at every time step (they must
  be aligned: same L), one LSTM, MLP head (MMSA's EF_LSTM layout).
- :class:`TensorFusionNet` (``tensor``): per-modality vectors, each with a 1 appended, combined
  by their outer product (unimodal, bimodal and trimodal terms), MLP head (Zadeh et al., 2017).
- :class:`CrossAttentionNet` (``attention``): each modality's tokens attend to the other
  modalities' tokens (a one-layer MulT-style cross-modal transformer), pooled, MLP head.

Outputs concatenate every target's columns (``widths``: 1 per regression target, one logit per
class for a category target; see :class:`~affectlab.models.heads.OutputLayout`). They come from
one linear layer, which is the same as one linear head per target and keeps older checkpoints'
parameter names.

>>> import torch
>>> cfg = FusionConfig(kind="tensor", modalities=("text", "audio"), input_dims=(4, 3), n_targets=1, hidden=8, fusion_dim=2)
>>> net = build_fusion_net(cfg).eval()
>>> x = {"text": torch.randn(5, 2, 4), "text_len": torch.tensor([2, 1, 2, 0, 1]),
...      "audio": torch.randn(5, 2, 3), "audio_len": torch.tensor([2, 2, 0, 1, 1])}
>>> net(**x).shape
torch.Size([5, 1])
>>> build_fusion_net(dataclasses.replace(cfg, n_targets=2, widths=(3, 1)))(**x).shape  # 3 classes + 1 value
torch.Size([5, 4])
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .heads import HasOutputLayout

KINDS = ("late", "early_lstm", "tensor", "attention")


@dataclass(frozen=True)
class FusionConfig(HasOutputLayout):
    """Everything needed to rebuild a fusion network (stored in the checkpoint)."""

    kind: str
    modalities: tuple[str, ...]
    input_dims: tuple[int, ...]
    n_targets: int
    hidden: int = 64
    dropout: float = 0.2
    modality_dropout: float = 0.0
    encoder: str = "mean"  # per-modality sequence encoder: mean (masked mean) | lstm
    fusion_dim: int = 16  # tensor fusion: size of each modality vector before the outer product
    heads: int = 4  # cross-modal attention heads
    init_means: tuple[float, ...] = ()  # initial output biases, one per output column
    widths: tuple[int, ...] = ()  # output columns per target; () = one each (regression only)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FusionConfig":
        fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}  # lists back to tuples
        return cls(**fields)


def step_mask(length: torch.Tensor, width: int) -> torch.Tensor:
    """(B, L) bool: True on the first ``length`` steps."""
    return torch.arange(width, device=length.device)[None, :] < length[:, None]


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of (B, L, D) over the True steps of (B, L); zeros where a row has none."""
    m = mask.unsqueeze(-1).to(x.dtype)
    return (x * m).sum(1) / m.sum(1).clamp(min=1.0)


class ModalityEncoder(nn.Module):
    """A sequence (B, L, D) → one vector (B, out): masked mean or last LSTM state, then dense + ReLU."""

    def __init__(self, in_dim: int, out_dim: int, kind: str, dropout: float) -> None:
        super().__init__()
        if kind not in ("mean", "lstm"):
            raise ValueError(f"encoder must be mean or lstm, not {kind!r}")
        self.kind = kind
        self.lstm = nn.LSTM(in_dim, out_dim, batch_first=True) if kind == "lstm" else None
        self.proj = nn.Sequential(nn.Linear(out_dim if kind == "lstm" else in_dim, out_dim), nn.ReLU(), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
        if self.lstm is None:
            return self.proj(masked_mean(x, step_mask(length, x.shape[1])))
        out, _ = self.lstm(x)
        last = (length.clamp(min=1) - 1).long()
        return self.proj(out[torch.arange(len(x)), last])


class FusionNet(nn.Module):
    """Shared parts: modality presence (with modality dropout), output layer initialised at the given biases."""

    def __init__(self, cfg: FusionConfig) -> None:
        super().__init__()
        self.cfg = cfg

    def _out_layer(self, in_dim: int) -> nn.Linear:
        out = nn.Linear(in_dim, self.cfg.layout.total)
        if self.cfg.init_means:
            with torch.no_grad():
                out.bias.copy_(torch.tensor(self.cfg.init_means, dtype=out.bias.dtype))
        return out

    def presence(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, M) bool: modality present (length > 0), with modality dropout while training."""
        present = torch.stack([inputs[f"{m}_len"] > 0 for m in self.cfg.modalities], dim=1)
        p = self.cfg.modality_dropout
        if self.training and p > 0 and present.shape[1] > 1:
            keep = present & (torch.rand(present.shape, device=present.device) >= p)
            # a sample must keep at least one modality: where dropout hid them all, hide none
            keep = torch.where(keep.any(1, keepdim=True), keep, present)
            present = keep
        return present


class LateFusionNet(FusionNet):
    """Per-modality encoders → concatenation → MLP (MMSA's LF_DNN layout)."""

    def __init__(self, cfg: FusionConfig) -> None:
        super().__init__(cfg)
        h = cfg.hidden
        self.encoders = nn.ModuleList(ModalityEncoder(d, h, cfg.encoder, cfg.dropout) for d in cfg.input_dims)
        self.missing = nn.Parameter(torch.zeros(len(cfg.modalities), h))
        self.head = nn.Sequential(nn.Linear(len(cfg.modalities) * h, h), nn.ReLU(), nn.Dropout(cfg.dropout))
        self.out = self._out_layer(h)

    def forward(self, **inputs: torch.Tensor) -> torch.Tensor:
        present = self.presence(inputs)
        vecs = []
        for i, (m, enc) in enumerate(zip(self.cfg.modalities, self.encoders)):
            z = enc(inputs[m], inputs[f"{m}_len"])
            vecs.append(torch.where(present[:, i:i + 1], z, self.missing[i].expand_as(z)))
        return self.out(self.head(torch.cat(vecs, dim=1)))


class EarlyLSTMNet(FusionNet):
    """Modalities concatenated per time step (+ presence flags) → LSTM → last valid step → MLP."""

    def __init__(self, cfg: FusionConfig) -> None:
        super().__init__(cfg)
        n_in = sum(cfg.input_dims) + len(cfg.modalities)
        self.norm = nn.LayerNorm(n_in)
        self.lstm = nn.LSTM(n_in, cfg.hidden, batch_first=True)
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(cfg.hidden, cfg.hidden), nn.ReLU(), nn.Dropout(cfg.dropout))
        self.out = self._out_layer(cfg.hidden)

    def forward(self, **inputs: torch.Tensor) -> torch.Tensor:
        present = self.presence(inputs)
        width = max(inputs[m].shape[1] for m in self.cfg.modalities)
        parts, lengths = [], []
        for i, m in enumerate(self.cfg.modalities):
            x = inputs[m]
            if x.shape[1] < width:  # batches crop each modality to its own longest sequence
                x = nn.functional.pad(x, (0, 0, 0, width - x.shape[1]))
            keep = step_mask(inputs[f"{m}_len"], width) & present[:, i:i + 1]  # its own valid steps only
            parts.append(x * keep[..., None].to(x.dtype))
            lengths.append(torch.where(present[:, i], inputs[f"{m}_len"], torch.zeros_like(inputs[f"{m}_len"])))
        flags = present.to(parts[0].dtype)[:, None, :].expand(-1, width, -1)
        seq = self.norm(torch.cat(parts + [flags], dim=2))
        out, _ = self.lstm(seq)
        last = (torch.stack(lengths, 1).max(1).values.clamp(min=1) - 1).long()
        return self.out(self.head(out[torch.arange(len(seq)), last]))


class TensorFusionNet(FusionNet):
    """Per-modality vectors z_m, each extended by 1, fused by their outer product, then an MLP."""

    def __init__(self, cfg: FusionConfig) -> None:
        super().__init__(cfg)
        f = cfg.fusion_dim
        self.encoders = nn.ModuleList(ModalityEncoder(d, f, cfg.encoder, cfg.dropout) for d in cfg.input_dims)
        self.missing = nn.Parameter(torch.zeros(len(cfg.modalities), f))
        size = (f + 1) ** len(cfg.modalities)
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(size, cfg.hidden), nn.ReLU(), nn.Dropout(cfg.dropout),
                                  nn.Linear(cfg.hidden, cfg.hidden), nn.ReLU())
        self.out = self._out_layer(cfg.hidden)

    def forward(self, **inputs: torch.Tensor) -> torch.Tensor:
        present = self.presence(inputs)
        fused = None
        for i, (m, enc) in enumerate(zip(self.cfg.modalities, self.encoders)):
            z = enc(inputs[m], inputs[f"{m}_len"])
            z = torch.where(present[:, i:i + 1], z, self.missing[i].expand_as(z))
            z = torch.cat([z, torch.ones_like(z[:, :1])], dim=1)  # the appended 1 keeps lower-order terms
            fused = z if fused is None else (fused.unsqueeze(-1) * z.unsqueeze(1)).flatten(1)
        return self.out(self.head(fused))


class CrossModalBlock(nn.Module):
    """Queries from one modality attend to keys/values from others; residual, norm, feed-forward."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(2 * dim, dim))

    def forward(self, q: torch.Tensor, kv: torch.Tensor, kv_valid: torch.Tensor) -> torch.Tensor:
        a, _ = self.attn(q, kv, kv, key_padding_mask=~kv_valid, need_weights=False)
        h = self.norm1(q + a)
        return self.norm2(h + self.ff(h))


class CrossAttentionNet(FusionNet):
    """Per modality: project to ``hidden``, attend to the other modalities' tokens, pool; concatenate; MLP."""

    def __init__(self, cfg: FusionConfig) -> None:
        super().__init__(cfg)
        h = cfg.hidden
        if h % cfg.heads:
            raise ValueError(f"hidden ({h}) must be divisible by heads ({cfg.heads})")
        self.proj = nn.ModuleList(nn.Linear(d, h) for d in cfg.input_dims)
        self.kind_embedding = nn.Parameter(torch.zeros(len(cfg.modalities), h))
        self.missing = nn.Parameter(torch.zeros(len(cfg.modalities), h))
        self.blocks = nn.ModuleList(CrossModalBlock(h, cfg.heads, cfg.dropout) for _ in cfg.modalities)
        self.head = nn.Sequential(nn.Linear(len(cfg.modalities) * h, h), nn.ReLU(), nn.Dropout(cfg.dropout))
        self.out = self._out_layer(h)

    def forward(self, **inputs: torch.Tensor) -> torch.Tensor:
        present = self.presence(inputs)
        tokens, valid = [], []
        for i, m in enumerate(self.cfg.modalities):
            x = self.proj[i](inputs[m]) + self.kind_embedding[i]
            mask = step_mask(inputs[f"{m}_len"], x.shape[1]) & present[:, i:i + 1]
            # a missing modality becomes one learned token, so no attention row is ever empty
            gone = ~mask.any(1)
            first = torch.zeros_like(mask)
            first[:, 0] = True
            x = torch.where((gone[:, None] & first)[..., None], self.missing[i].expand_as(x), x)
            tokens.append(x)
            valid.append(mask | (gone[:, None] & first))
        pooled = []
        for i in range(len(tokens)):
            others = [j for j in range(len(tokens)) if j != i] or [i]
            kv = torch.cat([tokens[j] for j in others], dim=1)
            kv_valid = torch.cat([valid[j] for j in others], dim=1)
            h = self.blocks[i](tokens[i], kv, kv_valid)
            pooled.append(masked_mean(h, valid[i]))
        return self.out(self.head(torch.cat(pooled, dim=1)))


NETS: dict[str, type[FusionNet]] = {"late": LateFusionNet, "early_lstm": EarlyLSTMNet, "tensor": TensorFusionNet,
                                    "attention": CrossAttentionNet}


def build_fusion_net(cfg: FusionConfig) -> FusionNet:
    """The network ``cfg.kind`` names."""
    return NETS[cfg.kind](cfg)
