"""Cross-validation protocols: every sample gets one out-of-fold prediction.

``group_kfold``: ``k`` folds of whole groups; ``leave_one_group_out``: one fold per group
(leave-one-speaker-out); ``kfold``: ``k`` folds of samples, ignoring groups. Inside each training
fold a network selects its epoch on ``inner_fraction`` of the training groups
(:meth:`CrossValidation.inner_validation`, the nested-selection helper); a closed-form model
selects inside the training fold by itself. With ``test_split`` that split of the file is set aside
(:meth:`CrossValidation.set_aside`): the folds never see it and the final model is scored on it once.

>>> import pandas as pd
>>> from affectlab.corpus.base import Corpus
>>> c = Corpus(pd.DataFrame({"id": list("abcdef"), "group": list("xxyyzz"), "order": range(6)}))
>>> [f.test_groups for f in LeaveOneGroupOut().folds(c)]
[['x'], ['y'], ['z']]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..core.errors import AffectlabError
from ..corpus.base import Corpus
from ..corpus.splits import cross_validation_folds, inner_validation
from .base import Fold, NoteSink, Protocol, abbreviate, check_training_modalities


@dataclass(frozen=True)
class CrossValidation(Protocol):
    """Shared by the three kinds: the test split set aside, inner selection, per-fold checks."""

    is_cross_validation: ClassVar[bool] = True
    by_group: ClassVar[bool] = True
    k: int = 5
    seed: int = 0
    inner_fraction: float = 0.2
    test_split: str | None = None

    def folds(self, corpus: Corpus, notes: NoteSink | None = None) -> list[Fold]:
        """The outer folds over ``corpus`` (the rows :meth:`set_aside` left), checked: every class of a
        test fold occurs in its training part, no modality is absent from a whole training part."""
        return checked_folds(corpus, cross_validation_folds(corpus, self.kind, self.k, self.seed))

    def set_aside(self, corpus: Corpus) -> tuple[Corpus, Corpus | None]:
        """(the rows cross-validation runs over, the test rows) for ``test_split``.

        Refused in one line: data without a split column, a split the file lacks, a test split that
        holds every row.

        >>> import pandas as pd
        >>> c = Corpus(pd.DataFrame({"id": list("abcd"), "group": list("xyzw"), "order": 0.0,
        ...                          "split": ["train", "valid", "test", "test"]}))
        >>> dev, test = KFold(k=2, test_split="test").set_aside(c)
        >>> list(dev.frame["id"]), list(test.frame["id"])
        (['a', 'b'], ['c', 'd'])
        """
        if self.test_split is None:
            return corpus, None
        name = corpus.name or "data"
        if "split" not in corpus.frame:
            raise AffectlabError(f"{name}: split.test_split is {self.test_split!r} but the data has no split column "
                                 "(data.columns.split, or a column named 'split')")
        splits = corpus.frame["split"].astype(str)
        is_test = (splits == self.test_split).to_numpy()
        if not is_test.any():
            raise AffectlabError(f"{name}: split.test_split is {self.test_split!r}, but the file has no such split "
                                 f"(it has: {', '.join(sorted(set(splits)))})")
        if is_test.all():
            raise AffectlabError(f"{name}: split.test_split {self.test_split!r} holds every row; nothing is left to cross-validate")
        return corpus.subset(~is_test), corpus.subset(is_test)

    def inner_validation(self, train: Corpus, seed: int) -> np.ndarray:
        """Mask of a training fold's rows held out for selection: whole groups when there are at
        least two (and the protocol holds out groups), otherwise random rows."""
        return inner_validation(train, self.inner_fraction, seed, by_group=self.by_group)

    def describe(self, n_folds: int = 0, model_seed: int = 0, neural: bool = False) -> dict[str, Any]:
        """What the protocol was and what a different seed would vary (printed and stored in the summary)."""
        out = {"kind": self.kind, "k": self.k if self.kind != "leave_one_group_out" else n_folds, "n_folds": n_folds,
               "seed": self.seed, "model_seed": model_seed, "inner_fraction": self.inner_fraction if neural else None,
               "folds_hold_out": "samples" if self.kind == "kfold" else "groups",
               "selection": "inner validation part of each training fold (by group)" if neural
               else "inside each training fold (the model's own inner cross-validation, if any)",
               "varied": seed_variation(self.kind, neural), "final_model": "refitted on all data"}
        if self.test_split is not None:
            out["test_split"] = self.test_split
            out["final_model"] = f"refitted on all rows but split {self.test_split!r}, then scored once on it"
        return out


@dataclass(frozen=True)
class GroupKFold(CrossValidation):
    kind: ClassVar[str] = "group_kfold"
    reads: ClassVar[frozenset[str]] = frozenset({"kind", "k", "seed", "inner_fraction", "test_split"})


@dataclass(frozen=True)
class LeaveOneGroupOut(CrossValidation):
    kind: ClassVar[str] = "leave_one_group_out"
    # the folds are fixed; the seed still draws each training fold's inner validation groups
    reads: ClassVar[frozenset[str]] = frozenset({"kind", "seed", "inner_fraction", "test_split"})


@dataclass(frozen=True)
class KFold(CrossValidation):
    kind: ClassVar[str] = "kfold"
    by_group: ClassVar[bool] = False
    reads: ClassVar[frozenset[str]] = frozenset({"kind", "k", "seed", "inner_fraction", "test_split"})


def checked_folds(corpus: Corpus, masks: list[np.ndarray]) -> list[Fold]:
    """Outer folds from test masks over ``corpus``, checked: every class of a test fold occurs in its
    training part, and no modality is absent from a whole training part (one line otherwise)."""
    groups = corpus.frame["group"].astype(str).to_numpy()
    folds = [Fold(i, train=~mask, test=mask, test_groups=sorted(set(groups[mask]))) for i, mask in enumerate(masks)]
    check_classes_in_training_folds(corpus, folds)
    for fold in folds:
        check_training_modalities(corpus, corpus.subset(fold.train), f"the training part of fold {fold.index + 1} "
                                  f"(held out: {abbreviate(fold.test_groups)})")
    return folds


def check_classes_in_training_folds(corpus: Corpus, folds: list[Fold]) -> None:
    """Refuse a protocol whose training part lacks a class that its test fold holds.

    A model cannot predict a class it never saw: the fold's score would be silently capped.
    """
    y = corpus.target_matrix()
    for j, t in enumerate(corpus.targets):
        if not t.is_category:
            continue
        for fold in folds:
            assert fold.test is not None
            train_classes = set(y[fold.train, j][~np.isnan(y[fold.train, j])].astype(int))
            test_classes = set(y[fold.test, j][~np.isnan(y[fold.test, j])].astype(int))
            missing = sorted(test_classes - train_classes)
            if missing:
                raise AffectlabError(
                    f"{corpus.name or 'data'}: fold {fold.index + 1} (held out: {abbreviate(fold.test_groups)}): class "
                    f"{t.classes[missing[0]]!r} of target {t.name!r} never occurs in its training part; use fewer "
                    "folds, group_kfold, or merge rare classes")


def seed_variation(kind: str, neural: bool) -> str:
    """What a different ``--seed`` changes under protocol ``kind`` (said after a multi-seed run).

    >>> seed_variation("leave_one_group_out", False)
    'nothing: the folds and the closed-form fits are deterministic'
    >>> seed_variation("dev", True)
    'model initialisation and data order, held-out groups'
    """
    varied = ["model initialisation and data order"] if neural else []
    if kind in ("group_kfold", "kfold"):
        varied.append("fold assignment")
    if kind in ("dev", "group"):
        varied.append("held-out groups")
    if neural and kind in ("group_kfold", "kfold", "leave_one_group_out"):
        varied.append("inner validation groups")
    return ", ".join(varied) if varied else "nothing: the folds and the closed-form fits are deterministic"
