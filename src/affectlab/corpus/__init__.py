"""Readers that turn a source into a :class:`Corpus`, splits, and built-in data sets."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..config import DataConfig
from ..core.errors import AffectlabError
from . import csd as _csd  # noqa: F401  (registers the reader)
from . import mmsa as _mmsa  # noqa: F401
from . import semeval as _semeval  # noqa: F401
from . import table as _table  # noqa: F401
from .speech import corpora as _speech_corpora  # noqa: F401  (registers the speech corpora as data sets)
from .base import Corpus, TargetSpec
from .registry import READERS, Reader, ReaderOptions, get_reader, register_reader
from .splits import (check_disjoint, cross_validation_folds, dev_split, group_kfold, inner_validation, kfold,
                     latest_per_group, leave_one_group_out, unseen_groups)


def read_corpus(path: "str | Path | pd.DataFrame", cfg: DataConfig, *, require_labels: bool = False,
                ignore_labels: bool = False) -> Corpus:
    """Read ``path`` with the :class:`Reader` that ``cfg.format`` names (a DataFrame: a reader of tables);
    ``ignore_labels``: see :meth:`Reader.read_corpus` (prediction needs no labels)."""
    reader = get_reader(cfg.format)
    if isinstance(path, pd.DataFrame):
        if not reader.reads_frames:
            raise AffectlabError(f"a DataFrame is read as a table (data.format: table), not as {cfg.format!r}")
        return reader.read_corpus(path, cfg, require_labels=require_labels, ignore_labels=ignore_labels)
    if not Path(path).exists():
        raise AffectlabError(f"{path}: no such file or folder")
    return reader.read_corpus(path, cfg, require_labels=require_labels, ignore_labels=ignore_labels)


__all__ = [
    "Corpus", "TargetSpec", "READERS", "Reader", "ReaderOptions", "get_reader", "register_reader", "read_corpus", "dev_split", "group_kfold",
    "latest_per_group", "unseen_groups", "check_disjoint", "cross_validation_folds", "leave_one_group_out", "kfold",
    "inner_validation",
]
