"""The protocol interface: a splitter that turns a corpus into folds of (train, val, test) rows.

In the spirit of scikit-learn's ``model_selection``: a :class:`Protocol` is a small frozen object
made once from ``split:`` (:func:`affectlab.protocols.protocol_for`); ``folds(corpus)`` returns
the :class:`Fold` list the runner fits and scores. A hold-out protocol is one fold whose ``val``
rows select the model; a cross-validation protocol is one fold per held-out part, each scored on
its ``test`` rows (every sample exactly once), with selection inside the training rows only.

>>> import pandas as pd
>>> from affectlab.corpus.base import Corpus
>>> c = Corpus(pd.DataFrame({"id": list("abcd"), "group": list("xxyy"), "order": [0, 1, 0, 1]}))
>>> fold = Fold(0, train=np.array([True, False, True, False]), val=np.array([False, True, False, True]))
>>> [len(p) if p is not None else None for p in fold.parts(c)]
[2, 2, None]
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol as Callback

import numpy as np

from ..core.errors import AffectlabError
from ..corpus.base import Corpus


class NoteSink(Callback):
    """Anything that takes a one-line note (the flows' ``Notes``)."""

    def add(self, line: str) -> None: ...


@dataclass(frozen=True)
class Fold:
    """One fold: boolean row masks over the corpus it was planned on (``None``: no such part).

    ``index`` counts from 0; ``test_groups`` are the groups a cross-validation fold holds out."""

    index: int
    train: np.ndarray
    val: np.ndarray | None = None
    test: np.ndarray | None = None
    test_groups: list[str] = field(default_factory=list)

    def parts(self, corpus: Corpus) -> tuple[Corpus, Corpus | None, Corpus | None]:
        """(train, val, test) sub-corpora of ``corpus``."""
        return (corpus.subset(self.train), None if self.val is None else corpus.subset(self.val),
                None if self.test is None else corpus.subset(self.test))


class Protocol(ABC):
    """A splitter. Subclasses are frozen dataclasses of the ``split:`` keys they read."""

    #: the ``split.kind`` this protocol implements
    kind: ClassVar[str]
    #: the ``split:`` keys this protocol reads (others set by a config are refused: nothing would read them)
    reads: ClassVar[frozenset[str]] = frozenset({"kind"})
    #: one out-of-fold prediction per sample (True) or one selection split (False)
    is_cross_validation: ClassVar[bool] = False

    @classmethod
    def from_split(cls, split: Any) -> "Protocol":
        """The protocol with the ``split:`` keys of its own fields (a ``SplitConfig``)."""
        names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        return cls(**{name: getattr(split, name) for name in names})

    @abstractmethod
    def folds(self, corpus: Corpus, notes: NoteSink | None = None) -> list[Fold]:
        """The folds of ``corpus``; one-line :class:`AffectlabError` for data the protocol cannot split."""

    def set_aside(self, corpus: Corpus) -> tuple[Corpus, Corpus | None]:
        """(the rows the folds run over, rows kept for the final model's single test); default: all rows, none."""
        return corpus, None

    def describe(self) -> dict[str, Any]:
        """What the protocol is, for summary.json."""
        return {"kind": self.kind}


def abbreviate(names: list[str], n: int = 3) -> str:
    """The first ``n`` names, then ``...`` when there are more.

    >>> abbreviate(["s1", "s2", "s3", "s4"]), abbreviate(["s1"])
    ('s1, s2, s3...', 's1')
    """
    return ", ".join(names[:n]) + ("..." if len(names) > n else "")


def check_training_modalities(corpus: Corpus, train: Corpus, part: str) -> None:
    """Refuse a modality that every training sample lacks (length 0: NaN/inf throughout, or not
    recorded) or whose values are all non-finite there, while other samples have it: the model
    would train without it and be scored on data that has it.

    >>> import pandas as pd
    >>> c = Corpus(pd.DataFrame({"id": ["a", "b", "c"]}), features={"audio": np.zeros((3, 1, 2))},
    ...            lengths={"audio": np.array([0, 0, 4])}, name="m.pkl")
    >>> check_training_modalities(c, c.subset([0, 1]), "split 'train'")
    Traceback (most recent call last):
    ...
    affectlab.core.errors.AffectlabError: m.pkl: modality 'audio' is missing (all NaN/inf or length 0) in every sample of split 'train' (2 samples) but present in 1 other sample(s); fix the file or leave it out with data.options.modalities
    """
    for m, arr in train.features.items():
        if not len(train):
            continue
        if m in train.lengths and m in corpus.lengths:
            absent, present = (train.lengths[m] == 0).all(), int((corpus.lengths[m] > 0).sum())
        else:
            with np.errstate(invalid="ignore"):
                absent = not np.isfinite(np.asarray(arr, dtype=float)).any()
                present = int(np.isfinite(np.asarray(corpus.features[m], dtype=float)).reshape(len(corpus), -1).any(axis=1).sum())
        if absent and present:
            raise AffectlabError(f"{corpus.name or 'data'}: modality {m!r} is missing (all NaN/inf or length 0) in every "
                                 f"sample of {part} ({len(train)} samples) but present in {present} other sample(s); "
                                 "fix the file or leave it out with data.options.modalities")
