"""Hold-out protocols: one training part, one validation part for selection (one fold).

``dev``: ``unseen_fraction`` of the groups held out whole plus the latest ``latest_fraction`` of
every other group's samples (SemEval's development protocol); ``group``: groups held out whole;
``temporal``: the latest fraction of every group; ``given``: the file's own ``split`` column
(``train_split``, ``val_split`` or a common alias, and a ``test`` split scored once).

>>> import pandas as pd
>>> from affectlab.corpus.base import Corpus
>>> c = Corpus(pd.DataFrame({"id": list("abcdef"), "group": list("xxxyyy"), "order": [1, 2, 3, 1, 2, 3]}))
>>> fold, = Temporal(latest_fraction=1 / 3).folds(c)
>>> fold.val.tolist()
[False, False, True, False, False, True]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..core.errors import AffectlabError
from ..corpus.base import Corpus
from ..corpus.splits import dev_split, latest_per_group, unseen_groups
from .base import Fold, NoteSink, Protocol, check_training_modalities

#: what files commonly call their validation and test splits (EmoBank: dev; MMSA: valid)
VALIDATION_NAMES = ("valid", "val", "validation", "dev", "development")
TEST_NAMES = ("test", "eval", "evaluation")


def given_split_name(names: set[str], wanted: str, aliases: tuple[str, ...]) -> str | None:
    """``wanted`` if the file has it, else the first common alias it has (``dev`` for ``valid``...).

    >>> given_split_name({"train", "dev", "test"}, "valid", VALIDATION_NAMES)
    'dev'
    """
    if wanted in names:
        return wanted
    return next((a for a in aliases if a in names and wanted in aliases), None)


class HoldOut(Protocol):
    """A hold-out protocol: :meth:`validation_mask` says which rows select the model."""

    def validation_mask(self, corpus: Corpus) -> np.ndarray:
        raise NotImplementedError

    def folds(self, corpus: Corpus, notes: NoteSink | None = None) -> list[Fold]:
        is_val = self.validation_mask(corpus)
        if is_val.all() or not is_val.any():
            raise AffectlabError(f"{corpus.name}: the {self.kind} split leaves no "
                                 f"{'training' if is_val.all() else 'validation'} data")
        check_training_modalities(corpus, corpus.subset(~is_val), f"the training part of the {self.kind} split")
        return [Fold(0, train=~is_val, val=is_val)]


@dataclass(frozen=True)
class Dev(HoldOut):
    kind: ClassVar[str] = "dev"
    reads: ClassVar[frozenset[str]] = frozenset({"kind", "unseen_fraction", "latest_fraction", "seed"})
    unseen_fraction: float = 0.2
    latest_fraction: float = 0.2
    seed: int = 0

    def validation_mask(self, corpus: Corpus) -> np.ndarray:
        return (dev_split(corpus, self.unseen_fraction, self.latest_fraction, self.seed) == "val").to_numpy()

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "unseen_fraction": self.unseen_fraction, "latest_fraction": self.latest_fraction,
                "seed": self.seed}


@dataclass(frozen=True)
class Group(HoldOut):
    kind: ClassVar[str] = "group"
    reads: ClassVar[frozenset[str]] = frozenset({"kind", "unseen_fraction", "seed"})
    unseen_fraction: float = 0.2
    seed: int = 0

    def validation_mask(self, corpus: Corpus) -> np.ndarray:
        return unseen_groups(corpus, self.unseen_fraction, self.seed)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "unseen_fraction": self.unseen_fraction, "seed": self.seed}


@dataclass(frozen=True)
class Temporal(HoldOut):
    kind: ClassVar[str] = "temporal"
    reads: ClassVar[frozenset[str]] = frozenset({"kind", "latest_fraction"})
    latest_fraction: float = 0.2

    def validation_mask(self, corpus: Corpus) -> np.ndarray:
        return latest_per_group(corpus, self.latest_fraction)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "latest_fraction": self.latest_fraction}


@dataclass(frozen=True)
class Given(Protocol):
    """The file's own splits. ``val_named``: the config names a validation split of its own (a file
    without it is refused, while the default ``valid`` may simply be absent: then no selection)."""

    kind: ClassVar[str] = "given"
    reads: ClassVar[frozenset[str]] = frozenset({"kind", "train_split", "val_split"})
    train_split: str = "train"
    val_split: str = "valid"
    val_named: bool = False

    @classmethod
    def from_split(cls, split: Any) -> "Given":
        default = type(split).model_fields["val_split"].default
        return cls(split.train_split, split.val_split,
                   val_named="val_split" in split.model_fields_set and split.val_split != default)

    def folds(self, corpus: Corpus, notes: NoteSink | None = None) -> list[Fold]:
        if "split" not in corpus.frame:
            raise AffectlabError(f"{corpus.name}: split.kind is 'given' but the data has no split column "
                                 "(data.columns.split, or a column named 'split')")
        splits = corpus.frame["split"].astype(str)
        names = set(splits)
        name = corpus.name or "data"
        train = (splits == self.train_split).to_numpy()
        if not train.any():  # the reader's own message for a missing split
            corpus.split_part(self.train_split)
        val_name = given_split_name(names, self.val_split, VALIDATION_NAMES)
        if val_name is None and self.val_named:
            raise AffectlabError(f"{name}: split.val_split is {self.val_split!r}, but the file has no such "
                                 f"split (it has: {', '.join(sorted(names))}); name one of them")
        if val_name is not None and val_name == self.train_split:
            raise AffectlabError(f"{name}: split.val_split {self.val_split!r} is the training split "
                                 f"{self.train_split!r}: selecting on the training data; name another split "
                                 f"(the file has: {', '.join(sorted(names))})")
        test_name = given_split_name(names, "test", TEST_NAMES)
        if val_name is None and notes is not None:
            looked = ", ".join(dict.fromkeys([self.val_split, *(VALIDATION_NAMES if self.val_split in VALIDATION_NAMES else ())]))
            notes.add(f"{name}: no validation split (looked for {looked}; the file has: "
                      f"{', '.join(sorted(names))}): no model selection, no early stopping (networks train all "
                      "training.max_epochs epochs) and no validation scores; name one with split.val_split")
        check_training_modalities(corpus, corpus.subset(train), f"split {self.train_split!r}")
        val = None if val_name is None else (splits == val_name).to_numpy()
        test = None if test_name is None else (splits == test_name).to_numpy()
        return [Fold(0, train=train, val=val, test=test)]

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "train_split": self.train_split, "val_split": self.val_split}
