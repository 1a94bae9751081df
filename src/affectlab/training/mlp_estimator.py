"""The ``mlp`` estimator: a multilayer perceptron on one feature vector per sample.

Each modality in ``Corpus.features`` ((N, D) vectors, (N, 1, D) functionals or (N, L, D)
sequences) is mean-pooled over its valid steps (``Corpus.lengths``) and the vectors are
concatenated. They are standardised per feature, then clipped to ±``clip``:

- ``standardize: global`` (default): with the training rows' mean and standard deviation;
- ``standardize: group``: with each group's own statistics (speaker normalisation), computed from
  the features of the corpus being fitted or predicted, never from labels. A group with fewer
  than two samples (or a modality missing in all but one) uses the training statistics instead.

Columns (``columns: [start, stop]``): only that slice of the pooled design's columns (the
modalities side by side, as in the tabular models: :func:`~affectlab.models.tabular.column_slice`),
e.g. ``[0, 88]`` for the eGeMAPS functionals of an EmoDB extraction.

Layer weights (``layer_weights: [audio_ssl]``): a named modality's L rows are layers (an
``audio.ssl`` extraction with ``layers: all``, (N, L, D)); instead of their mean the network takes
their weighted sum with learned weights ``softmax(w)``, ``w`` initialised to zeros (equal weights: at
the start, the mean). Every (layer, dimension) is standardised as its own column; every sample must
have all L rows (length L, or 0 where the modality is missing), else a one-line refusal before
training. The slice of ``columns`` then counts such a modality as its D columns (the weighted sum's).
The learned weights are in the checkpoint, in ``FitResult.extra["layer_weights"]`` (summary.json's
``fit``) and printed by ``affectlab train``.

A missing modality (length 0) becomes zeros after standardisation (the mean). Trained with
Lightning through :func:`~affectlab.training.fit.fit_network` (early stopping on the monitored
validation metric, ``fixed_epochs`` for the refit) on regression, category or mixed targets:
``predict`` gives values clipped to the declared ranges, and class indices for category targets.

Parameters (config ``model:`` keys): ``modalities`` (default: every feature array the training
data has, in sorted order), ``hidden`` (layer sizes, an int or a list; default [128]; [] = linear),
``dropout`` (0.2), ``standardize`` (global|group), ``clip`` (10), ``threads`` (torch threads while
fitting and predicting, default 1; 0 = leave torch's setting), ``columns`` (all), ``layer_weights`` (none).

>>> import numpy as np, pandas as pd
>>> from affectlab.config import TrainingConfig
>>> from affectlab.corpus.base import Corpus, TargetSpec
>>> rng = np.random.default_rng(0); x = rng.normal(size=(90, 1, 4)).astype("float32")
>>> label = np.array(["low", "mid", "high"])[np.digitize(x[:, 0, 0], [-0.5, 0.5])]
>>> c = Corpus(pd.DataFrame({"id": [str(i) for i in range(90)], "group": "g", "order": 0.0, "emotion": label}),
...            targets=(TargetSpec("emotion", kind="category", classes=("high", "low", "mid")),), features={"audio": x})
>>> accuracy = lambda corpus, pred: {"accuracy": float((pred == corpus.target_matrix()).mean())}
>>> est = MLPEstimator(c.targets, hidden=[16], dropout=0.0)
>>> ctx = FitContext(TrainingConfig(max_epochs=40, lr=0.03, batch_size=16), seed=0, scorer=accuracy)
>>> _ = est.fit(c, None, ctx)
>>> float((est.predict(c) == c.target_matrix()).mean()) > 0.9
True

Three layers, the class in the last one only: its learned weight grows from 1/3.

>>> layers = rng.normal(size=(90, 3, 4)).astype("float32"); layers[:, 2] = x[:, 0]
>>> c3 = Corpus(c.frame, targets=c.targets, features={"audio_ssl": layers})
>>> mixed = MLPEstimator(c.targets, hidden=[16], dropout=0.0, layer_weights=["audio_ssl"])
>>> fit = mixed.fit(c3, None, ctx)
>>> w = fit.extra["layer_weights"]["audio_ssl"]
>>> round(sum(w), 6), int(np.argmax(w)), w[2] > 0.4
(1.0, 2, True)
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..corpus.base import Corpus
from ..core.errors import AffectlabError
from ..models.base import Estimator, FitContext, FitResult, clip_to_ranges
from ..models.params import MLPParams
from ..models.mlp import MLPConfig, MLPNet
from ..models.registry import MODELS
from ..models.ridge_modality import modality_arrays, pool_mean
from ..models.tabular import column_ranges, column_slice
from .fit import fit_network, ready_net, torch_threads
from .module import AffectModule
from .targets import plan_targets

STANDARDIZE = ("global", "group")


def _mean_std(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and standard deviation over the finite rows (std 1 where it is ~0 or unknown)."""
    rows = x[np.isfinite(x).all(axis=1)]
    if not len(rows):
        return np.zeros(x.shape[1]), np.ones(x.shape[1])
    mean, std = rows.mean(axis=0), rows.std(axis=0)
    return mean, np.where(std > 1e-6, std, 1.0)


@MODELS.register("mlp")
class MLPEstimator(Estimator):
    """Mean-pooled, standardised features → MLP → one head per target (see the module docstring)."""

    is_neural = True
    target_kinds = frozenset({"regression", "category"})
    Params = MLPParams

    def __init__(self, targets, params: Any = None, /, **raw: Any) -> None:
        super().__init__(targets, params, **raw)
        p = self.params
        mods = p.modalities
        self.modalities: tuple[str, ...] = () if mods is None else ((mods,) if isinstance(mods, str) else tuple(mods))
        if mods is not None and (not self.modalities or len(set(self.modalities)) != len(self.modalities)):
            raise AffectlabError(f"model mlp: modalities must be a non-empty list of distinct feature names, got {mods}")
        self.hidden = (p.hidden,) if isinstance(p.hidden, int) else tuple(p.hidden)  # sizes > 0: MLPParams
        self.dropout = float(p.dropout)  # in [0, 1): MLPParams
        self.standardize = str(p.standardize)
        if self.standardize not in STANDARDIZE:
            raise AffectlabError(f"model mlp: standardize must be {' or '.join(STANDARDIZE)}, not {self.standardize!r}")
        self.clip = float(p.clip)
        self.threads = int(p.threads)
        self.columns = column_slice(p.columns, "mlp")
        mixed = p.layer_weights
        self.mixed: tuple[str, ...] = (mixed,) if isinstance(mixed, str) else tuple(mixed)
        if len(set(self.mixed)) != len(self.mixed) or (self.modalities and set(self.mixed) - set(self.modalities)):
            raise AffectlabError(f"model mlp: layer_weights must name distinct modalities among {list(self.modalities)}, "
                                 f"got {mixed}")
        self.needs_features = self.modalities
        self.dims: tuple[int, ...] = ()
        self.layers: tuple[int, ...] = ()  # per modality: its L when layer-weighted, else 1
        self.ranges: list[tuple[int, int]] = []  # per modality: the columns of its D that ``columns`` keeps
        self.stats: tuple[np.ndarray, np.ndarray] | None = None  # training mean and std of the pooled vector
        self.net: MLPNet | None = None
        self._prepared: list[tuple[Corpus, np.ndarray]] = []  # inputs per corpus object during a fit
        self._caching = False

    # --- inputs ---------------------------------------------------------------------------
    def _pooled(self, corpus: Corpus) -> np.ndarray:
        """(N, sum of widths): per modality its ``columns`` range, mean-pooled, or for a layer-weighted
        modality every layer's row of it side by side (layer-major); NaN where a sample's modality is missing."""
        parts = []
        for i, m in enumerate(self.modalities):
            x, length = modality_arrays(corpus, m)
            if self.dims and x.shape[2] != self.dims[i]:
                raise AffectlabError(f"feature {m!r} has {x.shape[2]} dimensions; the model was trained on {self.dims[i]}")
            start, stop = self.ranges[i]
            if m in self.mixed:
                n = layer_count(m, x, length)
                if self.layers and n != self.layers[i]:
                    raise AffectlabError(f"feature {m!r} has {n} layers; the model was trained on {self.layers[i]}")
                block = x[:, :, start:stop].reshape(len(x), -1).astype(np.float64)
                block[length == 0] = np.nan
                parts.append(block)
            else:
                parts.append(pool_mean(x[:, :, start:stop], length))
        return np.concatenate(parts, axis=1)

    def _standardized(self, corpus: Corpus) -> np.ndarray:
        """The network's input: pooled features standardised (globally or per group), clipped, float32."""
        for c, z in self._prepared:
            if c is corpus:  # every epoch scores train and val again: pool them once per fit
                return z
        x = self._pooled(corpus)
        assert self.stats is not None
        mean = np.broadcast_to(self.stats[0], x.shape).copy()
        std = np.broadcast_to(self.stats[1], x.shape).copy()
        if self.standardize == "group":
            for rows in corpus.frame.groupby("group", sort=False).indices.values():
                block = x[rows]
                for cols in self._column_blocks():
                    present = np.isfinite(block[:, cols]).all(axis=1)
                    if present.sum() >= 2:  # one sample has no spread: keep the training statistics
                        mean[rows, cols], std[rows, cols] = _mean_std(block[present][:, cols])
        z = np.clip((x - mean) / std, -self.clip, self.clip)
        z = np.ascontiguousarray(np.nan_to_num(z, nan=0.0), dtype=np.float32)  # missing = the mean
        if self._caching:
            self._prepared.append((corpus, z))
        return z

    def _widths(self) -> tuple[int, ...]:
        """Each modality's columns in the pooled input: the kept range of D, times L when layer-weighted."""
        return tuple((stop - start) * n for (start, stop), n in zip(self.ranges, self.layers))

    def _column_blocks(self) -> list[slice]:
        ends = np.cumsum((0,) + self._widths())
        return [slice(int(a), int(b)) for a, b in zip(ends[:-1], ends[1:])]

    def layer_weights(self) -> dict[str, list[float]]:
        """The learned layer weights of each layer-weighted modality (each sums to 1)."""
        assert self.net is not None
        learned = self.net.layer_weights()  # by block; a one-layer modality has no weights to learn
        return {m: learned.get(i, [1.0]) for i, m in enumerate(self.modalities) if m in self.mixed}

    def _loader(self, corpus: Corpus, shuffle: bool, batch_size: int) -> DataLoader:
        x = torch.from_numpy(self._standardized(corpus))
        y = corpus.target_matrix().astype(np.float32)
        target, mask = torch.from_numpy(np.nan_to_num(y)), torch.from_numpy(~np.isnan(y))

        def collate(idx: list[int]) -> dict:
            i = torch.as_tensor(idx, dtype=torch.long)
            return {"inputs": {"x": x[i]}, "target": target[i], "target_mask": mask[i], "rows": i}

        generator = torch.Generator().manual_seed(0)
        return DataLoader(list(range(len(corpus))), batch_size=batch_size, shuffle=shuffle, collate_fn=collate,  # type: ignore[arg-type]
                          generator=generator)

    def _outputs(self, net: torch.nn.Module, corpus: Corpus) -> np.ndarray:
        """Raw network outputs (values and logits) for every row of ``corpus``."""
        x = torch.from_numpy(self._standardized(corpus))
        out = np.zeros((len(x), cast(MLPNet, net).cfg.layout.total))
        with torch.inference_mode():
            for start in range(0, len(x), 1024):
                out[start:start + 1024] = net(x[start:start + 1024]).numpy()
        return out

    # --- Estimator ------------------------------------------------------------------------
    def fit(self, train: Corpus, val: Corpus | None, ctx: FitContext) -> FitResult:
        if not self.modalities:
            self.modalities = tuple(sorted(train.features))
            if not self.modalities:
                raise AffectlabError("model mlp: the data has no feature arrays; name them in model.modalities "
                                     "(e.g. [text] for sentence embeddings)")
            self.needs_features = self.modalities
        self.check_inputs(train)
        missing = [m for m in self.mixed if m not in self.modalities]
        if missing:
            raise AffectlabError(f"model mlp: layer_weights names {missing}, not among the modalities {list(self.modalities)}")
        arrays = [modality_arrays(train, m) for m in self.modalities]
        self.ranges = column_ranges(self.columns, tuple(x.shape[2] for x, _ in arrays), "mlp")
        layers = tuple(layer_count(m, x, n) if m in self.mixed else 1 for m, (x, n) in zip(self.modalities, arrays))
        for m, (start, stop) in zip(self.modalities, self.ranges):
            if m in self.mixed and stop == start:
                raise AffectlabError(f"model mlp: columns {list(self.columns or ())} keep no column of layer-weighted {m!r}")
        self.dims, self.layers = tuple(x.shape[2] for x, _ in arrays), layers
        del arrays
        if val is not None:
            self._pooled(val)  # its layers and dimensions checked too, before any training
        pooled = self._pooled(train)
        mean, std = np.zeros(pooled.shape[1]), np.ones(pooled.shape[1])
        for cols in self._column_blocks():  # per modality: a missing one leaves its rows NaN
            mean[cols], std[cols] = _mean_std(pooled[:, cols])
        self.stats = (mean, std)
        y = train.target_matrix()
        if np.isnan(y).all():
            raise AffectlabError("the training split has no labels")
        cfg = ctx.training
        plan = plan_targets(self.targets, y, cfg, model="mlp")
        torch.manual_seed(ctx.seed)
        mixing = any(n > 1 for n in self.layers)  # else the net of a checkpoint before layer weights
        self.net = MLPNet(MLPConfig(input_dim=pooled.shape[1], n_targets=len(self.targets), hidden=self.hidden,
                                    dropout=self.dropout, init_means=plan.init, widths=plan.layout.widths,
                                    blocks=tuple(b - a for a, b in self.ranges) if mixing else (),
                                    layers=self.layers if mixing else ()))
        module = AffectModule(self.net, plan, cfg.lr, cfg.weight_decay)
        self._caching = True
        try:
            with torch_threads(self.threads):
                result = fit_network(module, lambda c, shuffle: self._loader(c, shuffle, cfg.batch_size),
                                     self._outputs, train, val, ctx)
        finally:
            self._caching, self._prepared = False, []  # do not keep the training arrays alive
        self.net = cast(MLPNet, module.net)
        self.net.eval()
        if self.mixed:
            result.extra["layer_weights"] = self.layer_weights()
        return result

    def predict(self, corpus: Corpus) -> np.ndarray:
        net = ready_net(self, corpus)
        with torch_threads(self.threads):
            out = self._outputs(net, corpus)
        return clip_to_ranges(net.cfg.layout.decode(out), self.targets)

    def state(self) -> dict[str, Any]:
        assert self.net is not None and self.stats is not None
        return {"net_config": self.net.cfg.to_dict(), "weights": self.net.state_dict(),
                "modalities": list(self.modalities), "dims": list(self.dims), "standardize": self.standardize,
                "clip": self.clip, "mean": torch.from_numpy(self.stats[0]), "std": torch.from_numpy(self.stats[1]),
                "columns": [-1, -1] if self.columns is None else [self.columns[0], -1 if self.columns[1] is None else self.columns[1]],
                "layer_weights": list(self.mixed), "layers": list(self.layers)}

    def load_state(self, state: dict[str, Any]) -> None:
        self.net = MLPNet(MLPConfig.from_dict(dict(state["net_config"])))
        self.net.load_state_dict(state["weights"])
        self.net.eval()
        self.modalities = tuple(state["modalities"])
        self.needs_features = self.modalities
        self.dims = tuple(int(d) for d in state["dims"])
        self.standardize, self.clip = str(state["standardize"]), float(state["clip"])
        self.stats = (state["mean"].numpy(), state["std"].numpy())
        # checkpoints before columns and layer weights: every column, every modality mean-pooled
        start, stop = (int(v) for v in state.get("columns", [-1, -1]))
        self.columns = None if start < 0 else (start, None if stop < 0 else stop)
        self.mixed = tuple(state.get("layer_weights", []))
        self.layers = tuple(int(n) for n in state.get("layers", [1] * len(self.dims)))
        self.ranges = column_ranges(self.columns, self.dims, "mlp")


def layer_count(m: str, x: np.ndarray, length: np.ndarray) -> int:
    """L of a layer-weighted modality's (N, L, D) array: every sample must have all L rows (length L,
    or 0 where the modality is missing); one line otherwise.

    >>> layer_count("audio_ssl", np.zeros((3, 13, 2)), np.array([13, 0, 13]))
    13
    >>> layer_count("audio_ssl", np.zeros((3, 13, 2)), np.array([13, 12, 5]))
    Traceback (most recent call last):
    ...
    affectlab.core.errors.AffectlabError: model mlp: layer_weights needs the same number of layers (rows) in every sample of 'audio_ssl'; 2 of 3 have 5 to 12 of 13
    """
    short = length[(length > 0) & (length != x.shape[1])]
    if len(short):
        raise AffectlabError(f"model mlp: layer_weights needs the same number of layers (rows) in every sample of {m!r}; "
                             f"{len(short)} of {len(x)} have {short.min()} to {short.max()} of {x.shape[1]}")
    return int(x.shape[1])
