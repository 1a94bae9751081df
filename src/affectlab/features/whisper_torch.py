"""A torch Whisper encoder built from a CTranslate2 Whisper folder's weights (read by
:mod:`affectlab.features.ct2`), to reach the hidden states CTranslate2's ``encode`` does not give.

The network is Whisper's (and CTranslate2's ``WhisperEncoder``): conv1 (kernel 3) + GELU, conv2
(kernel 3, stride 2) + GELU, plus the stored sinusoidal position encodings; then pre-LayerNorm
transformer layers (self-attention with the query, key and value projections fused in one matrix,
as CTranslate2 stores them; a GELU feed-forward network), then a final LayerNorm. Weights are
used in float32 whatever their stored type (float16, bfloat16 and int8 are widened).

:class:`TorchWhisperEncoder` called on a log-mel batch returns ``n_layers + 1`` hidden states,
as transformers' ``WhisperEncoder`` does: index 0 is the input to the first transformer layer (conv front end +
positions), index ``i`` (1 <= i < n_layers) the output of layer ``i``, and the last index the
output of the last layer *after the final LayerNorm*, which is what CTranslate2's ``encode``
returns (the last layer's output before that LayerNorm is not kept).

A random two-layer encoder (weights named as in a CTranslate2 file):

>>> import torch
>>> rng = np.random.default_rng(0)
>>> H, F, M = 8, 16, 4
>>> w = {"encoder/conv1/weight": rng.normal(size=(H, M, 3)), "encoder/conv1/bias": np.zeros(H),
...      "encoder/conv2/weight": rng.normal(size=(H, H, 3)), "encoder/conv2/bias": np.zeros(H),
...      "encoder/position_encodings/encodings": rng.normal(size=(5, H)), "encoder/num_heads": np.array(2),
...      "encoder/layer_norm/gamma": np.ones(H), "encoder/layer_norm/beta": np.zeros(H)}
>>> for i in range(2):
...     p = f"encoder/layer_{i}/"
...     w.update({p + "self_attention/layer_norm/gamma": np.ones(H), p + "self_attention/layer_norm/beta": np.zeros(H),
...               p + "self_attention/linear_0/weight": rng.normal(size=(3 * H, H)) / 3, p + "self_attention/linear_0/bias": np.zeros(3 * H),
...               p + "self_attention/linear_1/weight": rng.normal(size=(H, H)) / 3, p + "self_attention/linear_1/bias": np.zeros(H),
...               p + "ffn/layer_norm/gamma": np.ones(H), p + "ffn/layer_norm/beta": np.zeros(H),
...               p + "ffn/linear_0/weight": rng.normal(size=(F, H)) / 3, p + "ffn/linear_0/bias": np.zeros(F),
...               p + "ffn/linear_1/weight": rng.normal(size=(H, F)) / 3, p + "ffn/linear_1/bias": np.zeros(H)})
>>> enc = TorchWhisperEncoder.from_variables(w)
>>> enc.n_layers, enc.n_mels, enc.n_heads
(2, 4, 2)
>>> hidden = enc(torch.zeros(1, M, 10))
>>> len(hidden), tuple(hidden[-1].shape)
(3, (1, 5, 8))
>>> round(float(hidden[-1].mean(-1).abs().max()), 6)  # the last state is layer-normalised
0.0
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from ..core.errors import AffectlabError
from .ct2 import dequantized, read_model

PREFIX = "encoder/"
LN_EPS = 1e-5  # Whisper's LayerNorm epsilon (CTranslate2 uses the same)


def _ln(x: torch.Tensor, g: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return F.layer_norm(x, (x.shape[-1],), g, b, LN_EPS)


class TorchWhisperEncoder:
    """Whisper's encoder on float32 tensors of a CTranslate2 ``encoder/*`` variable dict."""

    def __init__(self, weights: dict[str, torch.Tensor], n_layers: int, n_heads: int) -> None:
        self.w = weights
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.n_mels = int(weights[PREFIX + "conv1/weight"].shape[1])
        self.n_positions = int(weights[PREFIX + "position_encodings/encodings"].shape[0])

    @classmethod
    def from_variables(cls, variables: dict[str, Any]) -> "TorchWhisperEncoder":
        """Build from the ``encoder/*`` variables of a CTranslate2 Whisper model (int8 with scales
        allowed); one line naming what is missing when they are not a Whisper encoder."""
        arrays = dequantized({k: np.asarray(v) for k, v in variables.items() if k.startswith(PREFIX)})
        n_layers = len({m.group(1) for k in arrays if (m := re.match(rf"{PREFIX}layer_(\d+)/", k))})
        need = [PREFIX + n for n in ("conv1/weight", "conv1/bias", "conv2/weight", "conv2/bias", "layer_norm/gamma",
                                     "layer_norm/beta", "position_encodings/encodings", "num_heads")]
        need += [f"{PREFIX}layer_{i}/{part}/{n}" for i in range(n_layers) for part in ("self_attention", "ffn")
                 for n in ("layer_norm/gamma", "layer_norm/beta", "linear_0/weight", "linear_0/bias",
                           "linear_1/weight", "linear_1/bias")]
        missing = [n for n in need if n not in arrays]
        if missing or not n_layers:
            raise AffectlabError(f"not a CTranslate2 Whisper encoder: {len(missing) or 'no'} variables missing "
                                 f"({', '.join(missing[:3]) or 'encoder/layer_*'}...)")
        n_heads = int(arrays.pop(PREFIX + "num_heads"))
        weights = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in arrays.items()}
        return cls(weights, n_layers, n_heads)

    @classmethod
    def from_folder(cls, folder: str | Path) -> "TorchWhisperEncoder":
        """Read only the encoder variables of ``folder``/model.bin (the decoder is skipped)."""
        header, variables = read_model(folder, lambda name: name.startswith(PREFIX))
        if not header.spec.startswith("Whisper"):
            raise AffectlabError(f"{folder}: model.bin holds a {header.spec}, not a Whisper model")
        return cls.from_variables(variables)

    def to(self, device: str) -> "TorchWhisperEncoder":
        """Move the weights to ``device`` (``cpu``, ``cuda``...)."""
        self.w = {k: v.to(device) for k, v in self.w.items()}
        return self

    def _attention(self, x: torch.Tensor, p: str) -> torch.Tensor:
        w = self.w
        b, t, h = x.shape
        qkv = F.linear(x, w[p + "linear_0/weight"], w[p + "linear_0/bias"])  # (B, T, 3H): q, k, v stacked
        q, k, v = (z.reshape(b, t, self.n_heads, h // self.n_heads).transpose(1, 2) for z in qkv.split(h, dim=-1))
        out = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(d)) v, no mask: Whisper sees all 30 s
        return F.linear(out.transpose(1, 2).reshape(b, t, h), w[p + "linear_1/weight"], w[p + "linear_1/bias"])

    def __call__(self, mel: torch.Tensor) -> list[torch.Tensor]:
        """Every hidden state (``n_layers + 1`` tensors (B, T', H), T' = ceil(T / 2)) of log-mel
        input ``mel`` (B, n_mels, T); see the module docstring for what each index is."""
        w = self.w
        if mel.shape[1] != self.n_mels:
            raise AffectlabError(f"Whisper encoder: input has {mel.shape[1]} mel bands, the model expects {self.n_mels}")
        x = F.gelu(F.conv1d(mel, w[PREFIX + "conv1/weight"], w[PREFIX + "conv1/bias"], padding=1))
        x = F.gelu(F.conv1d(x, w[PREFIX + "conv2/weight"], w[PREFIX + "conv2/bias"], stride=2, padding=1))
        x = x.transpose(1, 2)
        if x.shape[1] > self.n_positions:
            raise AffectlabError(f"Whisper encoder: {x.shape[1]} frames, more than the model's {self.n_positions} positions")
        x = x + w[PREFIX + "position_encodings/encodings"][:x.shape[1]]
        hidden = [x]
        for i in range(self.n_layers):
            p = f"{PREFIX}layer_{i}/"
            a = p + "self_attention/"
            x = x + self._attention(_ln(x, w[a + "layer_norm/gamma"], w[a + "layer_norm/beta"]), a)
            f = p + "ffn/"
            y = _ln(x, w[f + "layer_norm/gamma"], w[f + "layer_norm/beta"])
            y = F.linear(F.gelu(F.linear(y, w[f + "linear_0/weight"], w[f + "linear_0/bias"])),
                         w[f + "linear_1/weight"], w[f + "linear_1/bias"])
            x = x + y
            hidden.append(x)
        hidden[-1] = _ln(x, w[PREFIX + "layer_norm/gamma"], w[PREFIX + "layer_norm/beta"])
        return hidden


def count_encoder_layers(folder: str | Path) -> int:
    """The number of transformer layers of a CTranslate2 Whisper folder, from the names in its
    model.bin (no weight is read)."""
    names: set[str] = set()

    def keep(name: str) -> bool:
        m = re.match(rf"{PREFIX}layer_(\d+)/", name)
        if m:
            names.add(m.group(1))
        return False

    read_model(folder, keep)
    return len(names)
