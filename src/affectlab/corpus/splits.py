"""Splits that respect groups and time, and a check that refuses overlapping ones.

- :func:`unseen_groups`: whole groups held out (the model never saw the person).
- :func:`latest_per_group`: the latest fraction of every group's samples (seen person, later time).
- :func:`dev_split`: both at once, the protocol we select models with on SemEval.
- :func:`group_kfold`: k folds of whole groups.
- :func:`cross_validation_folds`: the test masks of a cross-validation protocol
  (``group_kfold``, ``leave_one_group_out``, ``kfold``), refusing protocols the data cannot support.
- :func:`inner_validation`: the part of a training fold held out for selection, by group.

>>> import pandas as pd
>>> from affectlab.corpus.base import Corpus
>>> c = Corpus(pd.DataFrame({"id": list("abcdef"), "group": list("xxxyyy"), "order": [1, 2, 3, 1, 2, 3]}))
>>> latest_per_group(c, 1 / 3).tolist()
[False, False, True, False, False, True]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..core.errors import AffectlabError
from .base import Corpus


def unseen_groups(corpus: Corpus, fraction: float, seed: int = 0) -> np.ndarray:
    """Boolean mask of the rows of a random ``fraction`` of the groups (at least one group)."""
    groups = np.array(sorted(corpus.frame["group"].unique()))
    if fraction <= 0:
        return np.zeros(len(corpus), dtype=bool)
    if len(groups) < 2:
        raise AffectlabError(f"{corpus.name or 'data'}: cannot hold out whole groups with only {len(groups)} group")
    n_out = min(len(groups) - 1, max(1, int(round(fraction * len(groups)))))
    chosen = np.random.default_rng(seed).choice(groups, size=n_out, replace=False)
    return corpus.frame["group"].isin(chosen).to_numpy()


def latest_per_group(corpus: Corpus, fraction: float, eligible: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of each group's latest ``fraction`` of rows by ``order``.

    A group keeps at least one row on the earlier side, so single-sample groups stay in training.
    """
    mask = np.zeros(len(corpus), dtype=bool)
    if fraction <= 0:
        return mask
    frame = corpus.frame.assign(_row=np.arange(len(corpus)))
    if eligible is not None:
        frame = frame[eligible]
    for _, rows in frame.groupby("group", sort=False):
        ordered = rows.sort_values("order", kind="stable")["_row"].to_numpy()
        n_late = min(len(ordered) - 1, int(round(fraction * len(ordered))))
        if n_late > 0:
            mask[ordered[-n_late:]] = True
    return mask


def dev_split(corpus: Corpus, unseen_fraction: float = 0.2, latest_fraction: float = 0.2, seed: int = 0) -> pd.Series:
    """Split labels (``train``/``val``) and a seen flag for the SemEval-style dev protocol.

    Returns a Series of split names; ``corpus.frame['is_seen_user']``-style information is
    derivable as ``group in train groups``.
    """
    held = unseen_groups(corpus, unseen_fraction, seed)
    late = latest_per_group(corpus, latest_fraction, eligible=~held)
    split = np.where(held | late, "val", "train")
    return pd.Series(split, index=corpus.frame.index, name="split")


def group_kfold(corpus: Corpus, k: int, seed: int = 0) -> list[np.ndarray]:
    """``k`` boolean validation masks over whole groups, every group in exactly one fold."""
    groups = np.array(sorted(corpus.frame["group"].unique()))
    if k < 2 or k > len(groups):
        raise AffectlabError(f"group k-fold needs 2 <= k <= number of groups ({len(groups)}), got {k}")
    order = np.random.default_rng(seed).permutation(groups)
    folds = np.array_split(order, k)
    return [corpus.frame["group"].isin(f).to_numpy() for f in folds]


def leave_one_group_out(corpus: Corpus) -> list[np.ndarray]:
    """One boolean test mask per group (in sorted group order).

    >>> c = Corpus(pd.DataFrame({"id": list("abcd"), "group": list("xyxz"), "order": [0, 0, 1, 0]}))
    >>> [m.tolist() for m in leave_one_group_out(c)]
    [[True, False, True, False], [False, True, False, False], [False, False, False, True]]
    """
    groups = corpus.frame["group"].to_numpy()
    return [groups == g for g in sorted(set(groups))]


def kfold(corpus: Corpus, k: int, seed: int = 0) -> list[np.ndarray]:
    """``k`` boolean test masks over shuffled samples, ignoring groups."""
    if k < 2 or k > len(corpus):
        raise AffectlabError(f"k-fold needs 2 <= k <= number of samples ({len(corpus)}), got {k}")
    order = np.random.default_rng(seed).permutation(len(corpus))
    masks = []
    for part in np.array_split(order, k):
        m = np.zeros(len(corpus), dtype=bool)
        m[part] = True
        masks.append(m)
    return masks


def cross_validation_folds(corpus: Corpus, kind: str, k: int = 5, seed: int = 0) -> list[np.ndarray]:
    """Test masks of the ``kind`` protocol; one-line errors for data that cannot support it.

    >>> c = Corpus(pd.DataFrame({"id": list("abcdef"), "group": list("xxyyzz"), "order": range(6)}))
    >>> len(cross_validation_folds(c, "leave_one_group_out")), len(cross_validation_folds(c, "group_kfold", 2))
    (3, 2)
    >>> cross_validation_folds(c, "group_kfold", 4)
    Traceback (most recent call last):
    ...
    affectlab.core.errors.AffectlabError: data: group_kfold with k=4 needs at least 4 groups; the data has 3
    """
    name = corpus.name or "data"
    n_groups = int(corpus.frame["group"].nunique())
    if kind in ("group_kfold", "leave_one_group_out"):
        if n_groups == len(corpus) and "group" not in corpus.source_columns and len(corpus) > 2:
            raise AffectlabError(f"{name}: split.kind {kind} needs a group column (data.columns.group: speaker, user, "
                                 "video...); without one every sample is its own group")
        if n_groups < 2:
            raise AffectlabError(f"{name}: split.kind {kind} needs at least 2 groups; the data has {n_groups}")
    if kind == "leave_one_group_out":
        return leave_one_group_out(corpus)
    if kind == "group_kfold":
        if k > n_groups:
            raise AffectlabError(f"{name}: group_kfold with k={k} needs at least {k} groups; the data has {n_groups}")
        return group_kfold(corpus, k, seed)
    if kind == "kfold":
        if k > len(corpus):
            raise AffectlabError(f"{name}: kfold with k={k} needs at least {k} samples; the data has {len(corpus)}")
        return kfold(corpus, k, seed)
    raise AffectlabError(f"{name}: {kind!r} is not a cross-validation protocol")


def inner_validation(corpus: Corpus, fraction: float, seed: int = 0, *, by_group: bool = True) -> np.ndarray:
    """Mask of a training fold's rows held out for selection: whole groups when there are at least
    two (so selection never sees a test-like group's other samples), otherwise random rows."""
    if by_group and corpus.frame["group"].nunique() >= 2:
        return unseen_groups(corpus, fraction, seed)
    n_out = min(len(corpus) - 1, max(1, int(round(fraction * len(corpus)))))
    mask = np.zeros(len(corpus), dtype=bool)
    mask[np.random.default_rng(seed).choice(len(corpus), size=n_out, replace=False)] = True
    return mask


def check_disjoint(parts: dict[str, Corpus], *, by: str = "id") -> None:
    """Refuse splits that share any ``id`` (or any value of another column)."""
    seen: dict[str, str] = {}
    for name, part in parts.items():
        for value in part.frame[by].astype(str).unique():
            if value in seen and seen[value] != name:
                raise AffectlabError(f"splits {seen[value]!r} and {name!r} overlap: {by} {value!r} is in both")
            seen[value] = name


def seen_mask(corpus: Corpus, train_groups: set[str] | np.ndarray) -> np.ndarray:
    """True for rows whose group occurs in ``train_groups``."""
    return corpus.frame["group"].isin(set(train_groups)).to_numpy()
