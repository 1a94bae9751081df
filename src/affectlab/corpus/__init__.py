"""Readers that turn a source into a :class:`Corpus`, splits, and built-in data sets."""

from __future__ import annotations

from pathlib import Path

from ..config import DataConfig
from ..errors import AffectlabError
from . import csd as _csd  # noqa: F401  (registers the reader)
from . import mmsa as _mmsa  # noqa: F401
from . import semeval as _semeval  # noqa: F401
from . import table as _table  # noqa: F401
from .base import Corpus, TargetSpec
from .registry import READERS
from .splits import check_disjoint, dev_split, group_kfold, latest_per_group, unseen_groups


def read_corpus(path: str | Path, cfg: DataConfig, *, require_labels: bool = False) -> Corpus:
    """Read ``path`` with the reader that ``cfg.format`` names."""
    if not Path(path).exists():
        raise AffectlabError(f"{path}: no such file or folder")
    return READERS.get(cfg.format)(path, cfg, require_labels=require_labels)


__all__ = [
    "Corpus", "TargetSpec", "READERS", "read_corpus", "dev_split", "group_kfold",
    "latest_per_group", "unseen_groups", "check_disjoint",
]
