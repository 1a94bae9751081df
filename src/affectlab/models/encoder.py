"""A Hugging Face transformer as a trainable text encoder (for ``features.text.finetune: true``)."""

from __future__ import annotations

import torch
from torch import nn


class TransformerTextEncoder(nn.Module):
    """Token ids → mean-pooled (optionally L2-normalised) sentence vectors, with gradients.

    Built from a local path or hub name; the weights then live in our checkpoint.
    """

    def __init__(self, path: str, normalize: bool = True) -> None:
        super().__init__()
        from transformers import AutoModel

        self.model = AutoModel.from_pretrained(path)
        self.normalize = normalize

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        from ..features.text import mean_pool  # the same pooling as the frozen encoder's

        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        vec = mean_pool(hidden, attention_mask)
        return nn.functional.normalize(vec, dim=-1) if self.normalize else vec


class FinetunedSequenceNet(nn.Module):
    """Encoder + sequence network trained together: texts are encoded inside the forward pass."""

    def __init__(self, encoder: TransformerTextEncoder, sequence: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.sequence = sequence

    @property
    def cfg(self):
        return self.sequence.cfg

    def forward(self, input_ids, attention_mask, positions, mask, users, extra) -> torch.Tensor:
        vectors = self.encoder(input_ids, attention_mask)  # (n_texts, dim)
        text = vectors[positions.clamp(min=0)] * mask.unsqueeze(-1)
        return self.sequence(text, mask, users, extra)
