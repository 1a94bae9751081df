"""The registries of this layer: data formats (readers), their default targets, and built-in data sets.

Each reader module registers its reader in :data:`READERS` and, when its format implies targets
(SemEval: valence and arousal; MMSA and CSD: sentiment), declares them in :data:`DEFAULT_TARGETS`,
so that a config naming no targets can be checked (losses, monitor, model kinds) before the data
is read, without any module testing a format's name.
"""

from __future__ import annotations

from typing import Callable

from ..core.registry import Registry
from .base import TargetSpec

# name -> reader(path, DataConfig, *, require_labels) -> Corpus
READERS: Registry[Callable] = Registry("data format")

#: data format -> the targets its reader gives when the config declares none (absent: only the data can tell)
DEFAULT_TARGETS: dict[str, tuple[TargetSpec, ...]] = {}


def default_targets(fmt: str) -> tuple[TargetSpec, ...]:
    """The targets format ``fmt`` reads when the config declares none; () when only the data can tell.

    >>> import affectlab.corpus
    >>> [(t.name, t.low, t.high) for t in default_targets("semeval")]
    [('valence', -2.0, 2.0), ('arousal', 0.0, 2.0)]
    >>> default_targets("table")
    ()
    """
    if fmt in READERS:
        READERS.get(fmt)  # a lazily registered reader declares its targets when imported
    return DEFAULT_TARGETS.get(fmt, ())
