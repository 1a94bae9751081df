"""The ``user_sequence`` estimator: batches of whole user histories for :class:`UserSequenceNet`.

Each item is one group's samples sorted by ``order`` (long histories are cut into windows of
``max_len``). Extra per-text inputs: the ``is_words`` flag when the data has it, and the log
time gap to the group's previous text (standardised on training data). Regression, category and
mixed targets (see :mod:`affectlab.training.targets`): ``predict`` gives values clipped to the
declared ranges, and class indices (argmax) for category targets.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..corpus.base import Corpus
from ..config import EncoderConfig
from ..models.base import Estimator, FitContext, FitResult, clip_to_ranges
from ..models.params import UserSequenceParams
from ..models.encoder import FinetunedSequenceNet, TransformerTextEncoder
from ..models.heads import OutputLayout
from ..models.registry import MODELS
from ..models.sequence import SequenceConfig, UserSequenceNet
from .fit import fit_network, ready_net
from .module import AffectModule
from .targets import plan_targets

NET_KEYS = ("user_dim", "proj_dim", "hidden", "layers", "cell", "bidirectional", "dropout", "user_dropout")


def group_windows(corpus: Corpus, max_len: int = 0) -> list[np.ndarray]:
    """Row indices of each group in time order, cut into windows of at most ``max_len``."""
    frame = corpus.frame.assign(_row=np.arange(len(corpus)))
    out: list[np.ndarray] = []
    for _, rows in frame.groupby("group", sort=True):
        ordered = rows.sort_values("order", kind="stable")["_row"].to_numpy()
        if max_len and len(ordered) > max_len:
            out.extend(ordered[i:i + max_len] for i in range(0, len(ordered), max_len))
        else:
            out.append(ordered)
    return out


def extra_inputs(corpus: Corpus, columns: list[str], gap_stats: tuple[float, float]) -> np.ndarray:
    """Per-row extra features: requested flags and the standardised log time gap."""
    cols = []
    for name in columns:
        if name == "time_gap":
            frame = corpus.frame.assign(_row=np.arange(len(corpus))).sort_values(["group", "order"], kind="stable")
            gap = frame.groupby("group")["order"].diff().fillna(0).clip(lower=0).to_numpy()
            values = np.zeros(len(corpus))
            values[frame["_row"].to_numpy()] = (np.log1p(gap / 3600.0) - gap_stats[0]) / gap_stats[1]
            cols.append(values)
        elif name in corpus.frame:
            cols.append(corpus.frame[name].astype(float).to_numpy())
        else:
            cols.append(np.zeros(len(corpus)))  # absent at predict time: the neutral value
    return np.stack(cols, axis=1).astype(np.float32) if cols else np.zeros((len(corpus), 0), np.float32)


@MODELS.register("user_sequence")
class UserSequenceEstimator(Estimator):
    """User embedding + (Bi)LSTM/GRU over each user's texts in time order + one head per target.

    Parameters (config ``model:`` keys): ``user_dim`` (0 = off), ``proj_dim``, ``hidden``,
    ``layers``, ``cell`` (lstm|gru), ``bidirectional``, ``dropout``, ``user_dropout``,
    ``max_len`` (window length, 0 = whole history), ``extra`` (list: ``is_words``, ``time_gap``).
    """

    needs_features: tuple[str, ...] = ("text",)
    is_neural = True
    target_kinds = frozenset({"regression", "category"})
    Params = UserSequenceParams

    def __init__(self, targets, params: Any = None, /, **raw: Any) -> None:
        super().__init__(targets, params, **raw)
        self.max_len = int(self.params.max_len)
        self.extra = list(self.params.extra)
        self.net: UserSequenceNet | FinetunedSequenceNet | None = None
        self.users: list[str] = []
        self.gap_stats = (0.0, 1.0)
        self.encoder_cfg: EncoderConfig | None = None
        self._tokenizer: Any = None  # transformers' tokenizer, loaded on first use

    def use_encoder(self, cfg: EncoderConfig) -> None:
        """Fine-tune this encoder with the model: read raw text instead of cached embeddings."""
        self.encoder_cfg = cfg
        self.needs_features = ()
        self.needs_raw_text = True

    def _tokenize(self, texts: list[str]) -> dict:
        assert self.encoder_cfg is not None, "tokenizing needs use_encoder()"
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            from ..features.text import resolve_model_path

            self._tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(self.encoder_cfg.name))
        return self._tokenizer(texts, padding=True, truncation=True, max_length=self.encoder_cfg.max_length,
                               return_tensors="pt")

    # --- batching -------------------------------------------------------------------------
    def _user_ids(self, corpus: Corpus) -> np.ndarray:
        index = {u: i + 1 for i, u in enumerate(self.users)}
        return np.array([index.get(g, 0) for g in corpus.frame["group"]], dtype=np.int64)

    def _loader(self, corpus: Corpus, shuffle: bool, batch_size: int = 16) -> DataLoader:
        finetune = self.encoder_cfg is not None
        text = None if finetune else corpus.features["text"].astype(np.float32)
        raw = corpus.frame["text"].tolist() if finetune else None
        extra = extra_inputs(corpus, self.extra, self.gap_stats)
        users = self._user_ids(corpus)
        y = corpus.target_matrix().astype(np.float32) if self.targets else np.zeros((len(corpus), 0), np.float32)
        windows = group_windows(corpus, self.max_len)

        def collate(items: list[np.ndarray]) -> dict:
            size, width = len(items), max(len(w) for w in items)
            rows = np.full((size, width), -1, dtype=np.int64)
            for i, w in enumerate(items):
                rows[i, : len(w)] = w
            valid = rows >= 0
            safe = np.where(valid, rows, 0)
            target = np.nan_to_num(y[safe]) if y.shape[1] else np.zeros((size, width, 0), np.float32)
            t_mask = valid[..., None] & ~np.isnan(y[safe]) if y.shape[1] else np.zeros((size, width, 0), bool)
            inputs = {
                "mask": torch.from_numpy(valid),
                "users": torch.from_numpy(users[safe[:, 0]]),
                "extra": torch.from_numpy(extra[safe] * valid[..., None]),
            }
            if finetune:
                assert raw is not None
                positions = np.full(rows.shape, -1, dtype=np.int64)
                positions[valid] = np.arange(valid.sum())
                tokens = self._tokenize([raw[r] for r in rows[valid]])
                inputs.update(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"],
                              positions=torch.from_numpy(positions))
            else:
                assert text is not None
                inputs["text"] = torch.from_numpy(text[safe] * valid[..., None])
            return {
                "inputs": inputs,
                "target": torch.from_numpy(target.astype(np.float32)),
                "target_mask": torch.from_numpy(t_mask),
                "rows": torch.from_numpy(rows),
            }

        generator = torch.Generator().manual_seed(0)
        return DataLoader(windows, batch_size=batch_size, shuffle=shuffle, collate_fn=collate,  # type: ignore[arg-type]
                          generator=generator)

    def _outputs(self, net: torch.nn.Module, corpus: Corpus) -> np.ndarray:
        """Raw network outputs (values and logits) for every row of ``corpus``."""
        out = np.zeros((len(corpus), OutputLayout.from_targets(self.targets).total), dtype=np.float64)
        for batch in self._loader(corpus, shuffle=False, batch_size=64):
            pred = net(**batch["inputs"]).detach().numpy()
            rows = batch["rows"].numpy()
            valid = rows >= 0
            out[rows[valid]] = pred[valid]
        return out

    def _predict_net(self, net: torch.nn.Module, corpus: Corpus) -> np.ndarray:
        """One column per target: values, or class indices (argmax) for category targets."""
        return OutputLayout.from_targets(self.targets).decode(self._outputs(net, corpus))

    # --- Estimator ------------------------------------------------------------------------
    def fit(self, train: Corpus, val: Corpus | None, ctx: FitContext) -> FitResult:
        self.check_inputs(train)
        cfg = ctx.training
        self.users = sorted(train.frame["group"].unique())
        gaps = train.frame.sort_values(["group", "order"]).groupby("group")["order"].diff().dropna().clip(lower=0)
        logs = np.log1p(gaps.to_numpy() / 3600.0)
        self.gap_stats = (float(logs.mean()), float(logs.std() or 1.0)) if len(logs) else (0.0, 1.0)
        plan = plan_targets(self.targets, train.target_matrix(), cfg, model="user_sequence")
        net_params = {k: getattr(self.params, k) for k in NET_KEYS}
        torch.manual_seed(ctx.seed)
        encoder = self._make_encoder() if self.encoder_cfg is not None else None
        net_cfg = SequenceConfig(
            input_dim=encoder.dim if encoder is not None else train.features["text"].shape[-1],
            n_targets=len(self.targets), n_users=len(self.users), extra_dim=len(self.extra),
            init_means=plan.init, widths=plan.layout.widths, **net_params,
        )
        self.net = UserSequenceNet(net_cfg)
        lr_by_prefix = {}
        if encoder is not None:
            self.net = FinetunedSequenceNet(encoder, self.net)
            lr_by_prefix = {"encoder.": self.encoder_cfg.encoder_lr if self.encoder_cfg else 0.0}
        module = AffectModule(self.net, plan, cfg.lr, cfg.weight_decay, lr_by_prefix)
        result = fit_network(module, lambda c, shuffle: self._loader(c, shuffle, cfg.batch_size),
                             self._outputs, train, val, ctx)
        self.net = cast("UserSequenceNet | FinetunedSequenceNet", module.net)
        return result

    def predict(self, corpus: Corpus) -> np.ndarray:
        net = ready_net(self, corpus)
        with torch.inference_mode():
            return clip_to_ranges(self._predict_net(net, corpus), self.targets)

    def _make_encoder(self) -> TransformerTextEncoder:
        from ..features.text import resolve_model_path

        assert self.encoder_cfg is not None, "the encoder is built after use_encoder()"
        return TransformerTextEncoder(resolve_model_path(self.encoder_cfg.name), self.encoder_cfg.normalize)

    def state(self) -> dict[str, Any]:
        assert self.net is not None
        return {"net_config": self.net.cfg.to_dict(), "weights": self.net.state_dict(), "users": list(self.users),
                "gap_stats": list(self.gap_stats),
                "encoder": self.encoder_cfg.model_dump() if self.encoder_cfg is not None else None}

    def load_state(self, state: dict[str, Any]) -> None:
        cfg = dict(state["net_config"])
        cfg["init_means"] = tuple(cfg.get("init_means", ()))
        cfg["widths"] = tuple(cfg.get("widths", ()))
        self.net = UserSequenceNet(SequenceConfig(**cfg))
        if state.get("encoder"):
            # the architecture comes from the encoder's own files; the weights from our checkpoint
            self.use_encoder(EncoderConfig(**state["encoder"]))
            self.net = FinetunedSequenceNet(self._make_encoder(), self.net)
        self.net.load_state_dict(state["weights"])
        self.net.eval()
        self.users = list(state["users"])
        self.gap_stats = tuple(state["gap_stats"])
