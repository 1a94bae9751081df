"""Fusion estimators: ``late_fusion``, ``early_lstm``, ``tensor_fusion``, ``cross_attention``.

Per-sample batches (no group sequences) of the modality arrays in ``Corpus.features`` and their
lengths, trained with :func:`~affectlab.training.fit.fit_network` and :class:`AffectModule`
(early stopping on the validation split's monitored metric, MAE for the ``mosi`` task).
Regression, category and mixed targets (see :mod:`affectlab.training.targets`); ``predict``
gives values for regression targets (clipped to their declared ranges) and class indices
(argmax) for category targets.

Inputs are standardised per feature with the training rows' valid time steps and clipped to
±``clip`` standard deviations (openSMILE/COVAREP statistics have heavy tails). The loss is
``training.losses`` for the target, else the one default of
:meth:`~affectlab.config.TrainingConfig.loss_for` (CCC for a regression target, cross-entropy
for a category target); the MOSI configs name MAE, the MOSI standard.

Public API for code that trains these networks in stages (``affectlab transfer``):
:meth:`FusionEstimator.inputs`, :meth:`~FusionEstimator.batch`, :meth:`~FusionEstimator.release_inputs`,
:meth:`~FusionEstimator.target_plan` and :meth:`~FusionEstimator.train_net` (the one fit path,
with a trainable parameter set, a stage loss and a learning rate).

Parameters (config ``model:`` keys): ``modalities`` (default [text, audio, vision]), ``hidden``,
``dropout``, ``modality_dropout``, ``encoder`` (mean|lstm, per-modality sequence encoder),
``fusion_dim`` (tensor fusion), ``heads`` (cross attention), ``clip``, ``threads`` (torch
intra-op threads while fitting and predicting, default 1: these networks are so small that a
second thread only adds synchronisation, 15x slower per step on a loaded 2-core machine;
0 = leave torch's setting).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..corpus.base import Corpus
from ..core.errors import AffectlabError
from ..models.base import Estimator, FitContext, FitResult, clip_to_ranges
from ..models.params import ALL_MODALITIES, FUSION_KINDS, FUSION_MODELS, FusionParams
from ..models.fusion import FusionConfig, FusionNet, build_fusion_net
from ..models.heads import OutputLayout
from ..models.registry import MODELS
from ..models.ridge_modality import modality_arrays
from .fit import fit_network, ready_net, torch_threads
from .module import AffectModule, StageLoss
from .targets import TargetPlan, plan_targets


class FusionEstimator(Estimator):
    """Base of the fusion estimators; subclasses set ``kind`` (a :data:`affectlab.models.fusion.NETS` key)."""

    kind: str = ""  # the fusion network's kind; the adapted model sets it per instance
    registered_name: ClassVar[str] = ""
    is_neural = True
    target_kinds = frozenset({"regression", "category"})
    Params = FusionParams

    def __init__(self, targets, params: Any = None, /, **raw: Any) -> None:
        super().__init__(targets, params, **raw)
        p = self.params
        mods = [p.modalities] if isinstance(p.modalities, str) else list(p.modalities)
        bad = [m for m in mods if m not in ALL_MODALITIES]
        if not mods or bad or len(set(mods)) != len(mods):
            raise AffectlabError(f"model {self.registered_name}: modalities must be distinct names from "
                                 f"{', '.join(ALL_MODALITIES)}, got {mods}")
        self.modalities = tuple(mods)  # encoder and modality_dropout are checked by FusionParams
        self.needs_features = self.modalities
        self.clip = float(p.clip)
        self.threads = int(p.threads)
        self.net: torch.nn.Module | None = None
        self.stats: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._prepared: list[tuple[Corpus, dict[str, torch.Tensor]]] = []

    # --- inputs ---------------------------------------------------------------------------
    def _fit_stats(self, train: Corpus) -> None:
        self.stats = {}
        for m in self.modalities:
            x, length = modality_arrays(train, m)
            valid = np.arange(x.shape[1])[None, :] < length[:, None]
            rows = x[valid] if valid.any() else x.reshape(-1, x.shape[2])
            mean = rows.mean(axis=0, dtype=np.float64)
            std = rows.std(axis=0, dtype=np.float64)
            self.stats[m] = (mean.astype(np.float32), np.where(std > 1e-6, std, 1.0).astype(np.float32))

    def release_inputs(self) -> None:
        """Forget the cached input tensors (do not keep training arrays alive in the estimator)."""
        self._prepared = []

    def inputs(self, corpus: Corpus) -> dict[str, torch.Tensor]:
        """Standardised tensors for every row of ``corpus``: ``<m>`` (n, L, d) and ``<m>_len`` per
        modality, ``_target``/``_mask``; cached per corpus object until :meth:`release_inputs`."""
        for c, tensors in self._prepared:
            if c is corpus:
                return tensors
        out: dict[str, torch.Tensor] = {}
        for m in self.modalities:
            x, length = modality_arrays(corpus, m)
            mean, std = self.stats[m]
            if x.shape[2] != len(mean):
                raise AffectlabError(f"feature {m!r} has {x.shape[2]} dimensions; the model was trained on {len(mean)}")
            z = np.clip((x - mean) / std, -self.clip, self.clip)
            z[~(np.arange(x.shape[1])[None, :] < length[:, None])] = 0.0  # padding stays zero
            out[m] = torch.from_numpy(np.ascontiguousarray(z, dtype=np.float32))
            out[f"{m}_len"] = torch.from_numpy(length.astype(np.int64))
        y = corpus.target_matrix().astype(np.float32)
        out["_target"] = torch.from_numpy(np.nan_to_num(y))
        out["_mask"] = torch.from_numpy(~np.isnan(y))
        self._prepared.append((corpus, out))
        return out

    def batch(self, tensors: dict[str, torch.Tensor], idx: list[int] | torch.Tensor) -> dict:
        """The rows ``idx`` of :meth:`inputs` as a training batch (``inputs``, ``target``, ``target_mask``, ``rows``)."""
        idx = torch.as_tensor(idx, dtype=torch.long)
        inputs = {}
        for m in self.modalities:
            length = tensors[f"{m}_len"][idx]
            width = max(int(length.max()), 1)  # crop padding no sample of this batch uses
            inputs[m] = tensors[m][idx, :width]
            inputs[f"{m}_len"] = length
        return {"inputs": inputs, "target": tensors["_target"][idx], "target_mask": tensors["_mask"][idx], "rows": idx}

    def _loader(self, corpus: Corpus, shuffle: bool, batch_size: int) -> DataLoader:
        tensors = self.inputs(corpus)
        generator = torch.Generator().manual_seed(0)
        return DataLoader(list(range(len(corpus))), batch_size=batch_size, shuffle=shuffle,  # type: ignore[arg-type]
                          collate_fn=lambda idx: self.batch(tensors, idx), generator=generator)

    def _outputs(self, net: torch.nn.Module, corpus: Corpus) -> np.ndarray:
        """Raw network outputs (values and logits) for every row of ``corpus``."""
        tensors = self.inputs(corpus)
        out = np.zeros((len(corpus), OutputLayout.from_targets(self.targets).total), dtype=np.float64)
        with torch.inference_mode():
            for start in range(0, len(corpus), 512):
                batch = self.batch(tensors, list(range(start, min(start + 512, len(corpus)))))
                out[start:start + len(batch["rows"])] = net(**batch["inputs"]).numpy()
        return out

    def _threads(self):
        """Run with ``self.threads`` torch threads, restoring the previous setting afterwards."""
        return torch_threads(self.threads)

    # --- Estimator ------------------------------------------------------------------------
    def _check_aligned(self, corpus: Corpus) -> None:
        if self.kind != "early_lstm":
            return
        widths = {m: modality_arrays(corpus, m)[0].shape[1] for m in self.modalities}
        if len(set(widths.values())) > 1:
            shown = ", ".join(f"{m} L={w}" for m, w in widths.items())
            raise AffectlabError(f"model early_lstm needs time-aligned modalities of one length ({shown}); "
                                 "use aligned features (e.g. the csd reader's reference alignment) or another fusion model")

    def fit(self, train: Corpus, val: Corpus | None, ctx: FitContext) -> FitResult:
        self.check_inputs(train)
        self._check_aligned(train)
        cfg = ctx.training
        self.release_inputs()
        self._fit_stats(train)
        y = train.target_matrix()
        if np.isnan(y).all():
            raise AffectlabError("the training split has no labels")
        p = self.params
        plan = self.target_plan(y, cfg)
        torch.manual_seed(ctx.seed)
        net_cfg = FusionConfig(
            kind=self.kind, modalities=self.modalities, input_dims=tuple(len(self.stats[m][0]) for m in self.modalities),
            n_targets=len(self.targets), hidden=int(p.hidden), dropout=float(p.dropout),
            modality_dropout=float(p.modality_dropout), encoder=str(p.encoder),
            fusion_dim=int(p.fusion_dim), heads=int(p.heads),
            init_means=plan.init, widths=plan.layout.widths,
        )
        try:
            self.net = build_fusion_net(net_cfg)
        except ValueError as err:
            raise AffectlabError(f"model {self.registered_name}: {err}") from None
        return self.train_net(train, val, ctx, plan)

    def target_plan(self, y: np.ndarray, cfg: Any) -> TargetPlan:
        """Output layout, loss terms (``training.losses`` or the one default) and initial biases for labels ``y``."""
        return plan_targets(self.targets, y, cfg, model=self.registered_name)

    def train_net(self, train: Corpus, val: Corpus | None, ctx: FitContext, plan: TargetPlan, *,
                  trainable: Sequence[str] | None = None, loss: StageLoss | None = None) -> FitResult:
        """Train ``self.net`` (built or loaded) with the one fit path, :func:`fit_network` + :class:`AffectModule`.

        ``ctx.training`` gives the learning rate, epochs, batch size, weight decay and patience;
        ``trainable``: parameter-name prefixes trained (the rest frozen for this fit); ``loss``: a
        stage loss ``loss(net, batch)`` instead of ``plan``'s target loss. Early stopping and the
        best epoch use ``val`` and ``ctx.monitor``, unless ``ctx.fixed_epochs`` is set. Without
        ``ctx.scorer`` (an unlabelled stage, fixed epochs) no epoch is predicted or scored.
        """
        assert self.net is not None
        cfg = ctx.training
        outputs = self._outputs
        if ctx.scorer is None:
            if ctx.fixed_epochs is None:
                raise ValueError("train_net without a scorer needs ctx.fixed_epochs (nothing to select an epoch by)")
            width = plan.layout.total
            ctx = dataclasses.replace(ctx, scorer=lambda corpus, pred: {})
            outputs = lambda net, corpus: np.zeros((len(corpus), width))  # noqa: E731  (never scored)
        self.net.train()  # Lightning keeps a module's mode: a loaded (eval-mode) net would train without dropout
        module = AffectModule(self.net, plan, cfg.lr, cfg.weight_decay, trainable=trainable, loss=loss)
        try:
            with self._threads():
                result = fit_network(module, lambda c, shuffle: self._loader(c, shuffle, cfg.batch_size),
                                     outputs, train, val, ctx)
        finally:
            module.unfreeze()
            self.release_inputs()  # do not keep the training arrays alive in the estimator
        self.net = module.net
        self.net.eval()
        return result

    def predict(self, corpus: Corpus) -> np.ndarray:
        net = ready_net(self, corpus)
        self._check_aligned(corpus)
        try:
            with self._threads():
                return clip_to_ranges(OutputLayout.from_targets(self.targets).decode(self._outputs(net, corpus)),
                                      self.targets)
        finally:
            self.release_inputs()

    def state(self) -> dict[str, Any]:
        assert isinstance(self.net, FusionNet)
        return {"net_config": self.net.cfg.to_dict(), "weights": self.net.state_dict(),
                "stats": {m: {"mean": torch.from_numpy(mu), "std": torch.from_numpy(sd)} for m, (mu, sd) in self.stats.items()},
                "clip": self.clip}

    def load_state(self, state: dict[str, Any]) -> None:
        cfg = FusionConfig.from_dict(dict(state["net_config"]))
        self.net = build_fusion_net(cfg)
        self.net.load_state_dict(state["weights"])
        self.net.eval()
        self.modalities = cfg.modalities
        self.needs_features = self.modalities
        self.stats = {m: (s["mean"].numpy(), s["std"].numpy()) for m, s in state["stats"].items()}
        self.clip = float(state["clip"])


#: each fusion estimator's docstring, by its net kind
_DOCS = {
    "late": "Per-modality encoders, concatenated, MLP head (late fusion).",
    "early_lstm": "Modalities concatenated per time step, one LSTM (early fusion).",
    "tensor": "Outer product of modality vectors with an appended 1 (TFN).",
    "attention": "Cross-modal attention between modalities (MulT-style).",
}


def _register(name: str, kind: str) -> type:
    cls = type(f"Fusion_{name}", (FusionEstimator,), {"kind": kind, "registered_name": name, "__doc__": _DOCS[kind],
                                                     "__module__": __name__})
    return MODELS.register(name)(cls)


#: registered name -> class, for the names :data:`affectlab.models.params.FUSION_MODELS` declares
FUSION_CLASSES: dict[str, type] = {name: _register(name, kind) for name, kind in FUSION_KINDS.items()}

__all__ = ["FusionEstimator", "FUSION_CLASSES", "FUSION_MODELS"]
