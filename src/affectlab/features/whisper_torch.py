"""transformers' Whisper encoder with the weights of a CTranslate2 Whisper folder (read by
:mod:`affectlab.features.ct2`), to reach the hidden states CTranslate2's ``encode`` does not give.

The network is transformers' ``WhisperEncoder`` (the same as Whisper's and CTranslate2's: conv1
+ GELU, conv2 stride 2 + GELU, the stored sinusoidal positions, pre-LayerNorm transformer layers,
a final LayerNorm); :class:`TorchWhisperEncoder` only maps the CTranslate2 variables onto it (the
fused query/key/value matrix split apart) and runs it in float32 whatever the stored type
(float16, bfloat16 and int8 are widened).

Called on a log-mel batch it returns ``n_layers + 1`` hidden states, transformers'
``hidden_states``: index 0 is the input to the first transformer layer (conv front end +
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

from ..core.errors import AffectlabError
from .ct2 import dequantized, read_model

PREFIX = "encoder/"


class TorchWhisperEncoder:
    """transformers' ``WhisperEncoder`` holding a CTranslate2 ``encoder/*`` variable dict's weights."""

    def __init__(self, model: Any) -> None:
        self.model = model.eval().requires_grad_(False)  # an extractor: never trained
        cfg = model.config
        self.n_layers, self.n_heads = int(cfg.encoder_layers), int(cfg.encoder_attention_heads)
        self.n_mels, self.n_positions = int(cfg.num_mel_bins), int(cfg.max_source_positions)

    @classmethod
    def from_variables(cls, variables: dict[str, Any]) -> "TorchWhisperEncoder":
        """Build from the ``encoder/*`` variables of a CTranslate2 Whisper model (int8 with scales
        allowed); one line naming what is missing when they are not a Whisper encoder."""
        from transformers import WhisperConfig
        from transformers.models.whisper.modeling_whisper import WhisperEncoder

        arrays = {k.removeprefix(PREFIX): a for k, a in
                  dequantized({k: np.asarray(v) for k, v in variables.items() if k.startswith(PREFIX)}).items()}
        n_layers = len({m.group(1) for k in arrays if (m := re.match(r"layer_(\d+)/", k))})
        need = ["conv1/weight", "conv1/bias", "conv2/weight", "conv2/bias", "layer_norm/gamma",
                "layer_norm/beta", "position_encodings/encodings", "num_heads"]
        need += [f"layer_{i}/{part}/{n}" for i in range(n_layers) for part in ("self_attention", "ffn")
                 for n in ("layer_norm/gamma", "layer_norm/beta", "linear_0/weight", "linear_0/bias",
                           "linear_1/weight", "linear_1/bias")]
        missing = [PREFIX + n for n in need if n not in arrays]
        if missing or not n_layers:
            raise AffectlabError(f"not a CTranslate2 Whisper encoder: {len(missing) or 'no'} variables missing "
                                 f"({', '.join(missing[:3]) or 'encoder/layer_*'}...)")
        v = {k: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)) for k, a in arrays.items()}
        h, n_mels, _ = v["conv1/weight"].shape
        config = WhisperConfig(d_model=h, encoder_layers=n_layers, encoder_attention_heads=int(v["num_heads"]),
                               encoder_ffn_dim=v["layer_0/ffn/linear_0/weight"].shape[0], num_mel_bins=n_mels,
                               max_source_positions=v["position_encodings/encodings"].shape[0])
        state = {"conv1.weight": v["conv1/weight"], "conv1.bias": v["conv1/bias"], "conv2.weight": v["conv2/weight"],
                 "conv2.bias": v["conv2/bias"], "embed_positions.weight": v["position_encodings/encodings"],
                 "layer_norm.weight": v["layer_norm/gamma"], "layer_norm.bias": v["layer_norm/beta"]}
        for i in range(n_layers):
            a, f, t = f"layer_{i}/self_attention/", f"layer_{i}/ffn/", f"layers.{i}."
            w, b = v[a + "linear_0/weight"], v[a + "linear_0/bias"]  # q, k, v stacked
            # Whisper's key projection has no bias: a key bias adds the same q.b to every score of a
            # query, which the softmax ignores, so the k part of CTranslate2's fused bias is dropped
            state.update({t + "self_attn.q_proj.weight": w[:h], t + "self_attn.q_proj.bias": b[:h],
                          t + "self_attn.k_proj.weight": w[h:2 * h],
                          t + "self_attn.v_proj.weight": w[2 * h:], t + "self_attn.v_proj.bias": b[2 * h:],
                          t + "self_attn.out_proj.weight": v[a + "linear_1/weight"], t + "self_attn.out_proj.bias": v[a + "linear_1/bias"],
                          t + "self_attn_layer_norm.weight": v[a + "layer_norm/gamma"], t + "self_attn_layer_norm.bias": v[a + "layer_norm/beta"],
                          t + "fc1.weight": v[f + "linear_0/weight"], t + "fc1.bias": v[f + "linear_0/bias"],
                          t + "fc2.weight": v[f + "linear_1/weight"], t + "fc2.bias": v[f + "linear_1/bias"],
                          t + "final_layer_norm.weight": v[f + "layer_norm/gamma"], t + "final_layer_norm.bias": v[f + "layer_norm/beta"]})
        model = WhisperEncoder(config)
        model.load_state_dict(state, strict=True)
        return cls(model)

    @classmethod
    def from_folder(cls, folder: str | Path) -> "TorchWhisperEncoder":
        """Read only the encoder variables of ``folder``/model.bin (the decoder is skipped)."""
        header, variables = read_model(folder, lambda name: name.startswith(PREFIX))
        if not header.spec.startswith("Whisper"):
            raise AffectlabError(f"{folder}: model.bin holds a {header.spec}, not a Whisper model")
        return cls.from_variables(variables)

    def to(self, device: str) -> "TorchWhisperEncoder":
        """Move the weights to ``device`` (``cpu``, ``cuda``...)."""
        self.model.to(device)
        return self

    def __call__(self, mel: torch.Tensor) -> list[torch.Tensor]:
        """Every hidden state (``n_layers + 1`` tensors (B, T / 2, H)) of log-mel input ``mel``
        (B, n_mels, T), T = 2 x the model's positions (3000 for Whisper: 30 s); see the module
        docstring for what each index is."""
        if mel.shape[1] != self.n_mels or mel.shape[-1] != 2 * self.n_positions:
            raise AffectlabError(f"Whisper encoder: input of {mel.shape[1]} mel bands x {mel.shape[-1]} frames; "
                                 f"the model takes {self.n_mels} x {2 * self.n_positions}")
        return list(self.model(mel, output_hidden_states=True).hidden_states)


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
