"""affectlab: affect regression research with honest evaluation.

The public API is re-exported here: ``train``, ``load``, ``evaluate``, ``read_table`` and :class:`Run` (see
docs/python-api.md), the config and corpus types, and the metrics.

>>> from affectlab import ccc
>>> ccc([0, 1, 2], [0, 1, 2])
1.0
"""

from __future__ import annotations

from .core.version import __version__
from .api import Evaluation, Run, evaluate, load, read_table, train
from .config import RunConfig
from .experiment import Experiment, load_config, resolve
from .corpus import Corpus, TargetSpec, dev_split, group_kfold, read_corpus
from .core.errors import AffectlabError
from .metrics import METRICS, ccc, mae, pearson, r_between, r_composite, r_within, rmse

__all__ = [
    "__version__", "train", "load", "evaluate", "read_table", "Run", "Evaluation",
    "AffectlabError", "RunConfig", "load_config", "resolve", "Experiment", "Corpus", "TargetSpec", "read_corpus",
    "dev_split", "group_kfold", "METRICS", "ccc", "pearson", "mae", "rmse", "r_within", "r_between",
    "r_composite",
]
