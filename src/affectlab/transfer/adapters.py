"""Adapters and the ``adapted`` estimator: a source fusion model fed through per-modality adapters.

An adapter maps a target extractor's features (standardised on the target's training rows) into
the source model's standardised input space, one time step at a time:

``y = skip(x) + mlp(x)`` then ``y @ W + b`` (a fixed affine "post" map set by the closed-form
alignment stages: standardisation, CORAL), clipped to the source model's ±clip.

- ``kind: linear``: ``skip`` only (a linear map, initialised to the standardisation-only map);
- ``kind: mlp``: ``depth`` hidden layers of ``width`` units (ReLU); with ``residual: true`` a skip
  path (identity when the dimensions match, else a linear map initialised to the
  standardisation-only map) is added and the MLP's last layer starts at zero, so training starts
  from the standardisation map; without it the MLP alone, randomly initialised.

The ``adapted`` estimator (registered in :data:`affectlab.models.MODELS`) holds the source model's
state and the adapters; ``affectlab predict`` loads it like any run (``weights_only=True``).
It is trained only by ``affectlab transfer`` (:mod:`affectlab.transfer.run`).

>>> import torch
>>> a = Adapter(AdapterSpec(in_dim=4, out_dim=3, kind="mlp", depth=1, width=8, residual=True))
>>> a(torch.randn(2, 1, 4)).shape
torch.Size([2, 1, 3])
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from ..core.errors import AffectlabError
from ..models.base import Estimator, FitContext, FitResult
from ..models.fusion import FusionConfig, FusionNet, build_fusion_net, step_mask
from ..models.params import AdaptedParams
from ..models.registry import MODELS
from ..training.fusion_estimator import FusionEstimator


@dataclass(frozen=True)
class AdapterSpec:
    """Shape of one adapter (stored in the checkpoint)."""

    in_dim: int
    out_dim: int
    kind: str = "mlp"  # mlp | linear
    depth: int = 1  # hidden layers of the MLP
    width: int = 256
    residual: bool = True
    dropout: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Adapter(nn.Module):
    """``skip(x) + mlp(x)`` on the last axis; see the module docstring."""

    def __init__(self, spec: AdapterSpec) -> None:
        super().__init__()
        if spec.kind not in ("mlp", "linear"):
            raise ValueError(f"adapter kind must be mlp or linear, not {spec.kind!r}")
        self.spec = spec
        self.skip: nn.Module | None = None
        self.mlp: nn.Sequential | None = None
        if spec.kind == "linear" or spec.residual:
            self.skip = nn.Identity() if (spec.kind == "mlp" and spec.in_dim == spec.out_dim) else nn.Linear(spec.in_dim, spec.out_dim)
        if spec.kind == "mlp":
            layers: list[nn.Module] = []
            d = spec.in_dim
            for _ in range(max(spec.depth, 0)):
                layers += [nn.Linear(d, spec.width), nn.ReLU()] + ([nn.Dropout(spec.dropout)] if spec.dropout > 0 else [])
                d = spec.width
            last = nn.Linear(d, spec.out_dim)
            if spec.residual:  # start exactly at the skip path
                nn.init.zeros_(last.weight)
                nn.init.zeros_(last.bias)
            self.mlp = nn.Sequential(*layers, last)

    def init_linear(self, w: np.ndarray, b: np.ndarray) -> None:
        """Set the linear skip path to ``x @ w + b`` (no-op for an identity skip)."""
        if isinstance(self.skip, nn.Linear):
            with torch.no_grad():
                self.skip.weight.copy_(torch.as_tensor(w.T, dtype=self.skip.weight.dtype))
                self.skip.bias.copy_(torch.as_tensor(b, dtype=self.skip.bias.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mlp is None:  # linear: the skip path alone
            assert self.skip is not None
            return self.skip(x)
        return self.mlp(x) if self.skip is None else self.skip(x) + self.mlp(x)


#: parameter-name prefixes of :class:`AdaptedNet`: the trainable parameter sets of the transfer stages
ADAPTERS, SOURCE_NET = "adapters.", "net."


class AdaptedNet(nn.Module):
    """The source fusion network (``net``) behind per-modality ``adapters`` and fixed affine post maps."""

    def __init__(self, net: FusionNet, adapters: dict[str, Adapter], clip: float) -> None:
        super().__init__()
        self.net: FusionNet = net
        self.adapters = nn.ModuleDict(adapters)
        self.clip = clip
        for m, a in adapters.items():
            self.register_buffer(f"post_w_{m}", torch.eye(a.spec.out_dim))
            self.register_buffer(f"post_b_{m}", torch.zeros(a.spec.out_dim))

    def set_post(self, m: str, w: np.ndarray, b: np.ndarray) -> None:
        getattr(self, f"post_w_{m}").copy_(torch.as_tensor(w, dtype=torch.float32))
        getattr(self, f"post_b_{m}").copy_(torch.as_tensor(b, dtype=torch.float32))

    def post(self, m: str) -> tuple[torch.Tensor, torch.Tensor]:
        return getattr(self, f"post_w_{m}"), getattr(self, f"post_b_{m}")

    def adapt(self, m: str, x: torch.Tensor, length: torch.Tensor, clip: bool = True) -> torch.Tensor:
        """Target features (B, L, D_t) → source space (B, L, D_s); padding steps stay zero."""
        w, b = self.post(m)
        y = self.adapters[m](x) @ w + b
        if clip:
            y = y.clamp(-self.clip, self.clip)
        return y * step_mask(length, y.shape[1]).unsqueeze(-1).to(y.dtype)

    def forward(self, **inputs: torch.Tensor) -> torch.Tensor:
        inputs = dict(inputs)
        for m in self.adapters:
            inputs[m] = self.adapt(m, inputs[m], inputs[f"{m}_len"])
        return self.net(**inputs)


class AdaptedEstimator(FusionEstimator):
    """A source fusion model with adapters on some modalities (``model: adapted``).

    Parameters are informative only (``source_model``); everything else is in the state.
    Inputs of adapted modalities are standardised with the *target* training statistics, the
    others with the source model's, then fed to :class:`AdaptedNet`.
    """

    registered_name = "adapted"
    Params = AdaptedParams  # type: ignore[assignment]  # the adapted model's own keys, not the fusion ones
    net: AdaptedNet | None  # the fusion estimator's network, behind its adapters

    def __init__(self, targets, params: Any = None, /, **raw: Any) -> None:  # noqa: D107  (no fusion modalities yet)
        Estimator.__init__(self, targets, params, **raw)
        self.kind = ""
        self.modalities: tuple[str, ...] = ()
        self.needs_features = ()
        self.clip = 10.0
        self.threads = int(self.params.threads)
        self.net = None
        self.stats = {}
        self.release_inputs()
        self.source_state: dict[str, Any] = {}

    @classmethod
    def build(cls, targets, source: FusionEstimator, source_name: str, specs: dict[str, AdapterSpec],
              target_stats: dict[str, tuple[np.ndarray, np.ndarray]], threads: int = 1) -> "AdaptedEstimator":
        """A fresh adapted model around a copy of ``source``'s network."""
        est = cls(targets, source_model=source_name, threads=threads)
        est.source_state = source.state()
        source_net = source.net
        assert isinstance(source_net, FusionNet), "the source model is not trained"
        net = build_fusion_net(source_net.cfg)
        net.load_state_dict(source_net.state_dict())
        est.kind = source_net.cfg.kind
        est.modalities = tuple(source.modalities)
        est.needs_features = est.modalities
        est.clip = source.clip
        est.stats = {m: target_stats[m] if m in specs else source.stats[m] for m in est.modalities}
        est.net = AdaptedNet(net, {m: Adapter(s) for m, s in specs.items()}, est.clip)
        return est

    @property
    def adapted(self) -> tuple[str, ...]:
        return tuple(self.net.adapters) if self.net is not None else ()

    def fit(self, train, val, ctx: FitContext) -> FitResult:
        raise AffectlabError("an adapted model is trained with 'affectlab transfer CONFIG --source-run RUN ...', not 'train'")

    def state(self) -> dict[str, Any]:
        assert self.net is not None
        return {
            "kind": self.kind,
            "source_net_config": self.net.net.cfg.to_dict(),
            "weights": self.net.state_dict(),
            "adapters": {m: cast(Adapter, a).spec.to_dict() for m, a in self.net.adapters.items()},
            "stats": {m: {"mean": torch.from_numpy(np.asarray(mu, np.float32)), "std": torch.from_numpy(np.asarray(sd, np.float32))}
                      for m, (mu, sd) in self.stats.items()},
            "clip": self.clip,
            "modalities": list(self.modalities),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        cfg = FusionConfig.from_dict(dict(state["source_net_config"]))
        specs = {m: AdapterSpec(**dict(s)) for m, s in state["adapters"].items()}
        self.clip = float(state["clip"])
        self.net = AdaptedNet(build_fusion_net(cfg), {m: Adapter(s) for m, s in specs.items()}, self.clip)
        self.net.load_state_dict(state["weights"])
        self.net.eval()
        self.kind = str(state["kind"])
        self.modalities = tuple(state["modalities"])
        self.needs_features = self.modalities
        self.stats = {m: (s["mean"].numpy(), s["std"].numpy()) for m, s in state["stats"].items()}


MODELS.register("adapted")(AdaptedEstimator)
