"""The run vocabulary: the names of a run's splits and the one rule for which split is the headline.

Every presenter (train's table, ``evaluate --run``, ``compare``, ``report``, ``ablate``, the Python
API) asks :func:`headline_split` which split a run is judged on, instead of spelling out its own
order of split names. Which metrics to show is the Task's answer
(:meth:`affectlab.tasks.Task.shown_metrics`).

>>> Split.TEST == "test", str(Split.OOF), Split("val") is Split.VAL
(True, 'oof', True)
>>> headline_split({"metrics": {"train": {}, "val": {}, "test": {}}}), headline_split(["oof", "train"])
(<Split.TEST: 'test'>, <Split.OOF: 'oof'>)
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Union

from ..core.errors import AffectlabError

if TYPE_CHECKING:
    from .summary import RunSummary


class Split(str, Enum):
    """A part of a run's samples, as ``predictions.csv``'s ``split`` column and ``summary.json``'s
    ``metrics`` name it (str-valued: ``Split.TEST == "test"``)."""

    #: the samples the model was fitted on
    TRAIN = "train"
    #: the validation samples that chose the epoch (or the model)
    VAL = "val"
    #: the held-out test samples, touched once
    TEST = "test"
    #: the pooled out-of-fold predictions of a cross-validation run
    OOF = "oof"
    #: every labelled sample (runs of old releases that refitted on all data)
    FULL = "full"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, name: "str | Split", where: str = "split") -> "Split":
        """``name`` as a Split; an unknown name is a one-line error naming the known ones.

        >>> Split.parse("test")
        <Split.TEST: 'test'>
        >>> Split.parse("dev", "--split")
        Traceback (most recent call last):
        ...
        affectlab.core.errors.AffectlabError: --split: unknown split 'dev'; choose from: train, val, test, oof, full
        """
        try:
            return cls(str(name))
        except ValueError:
            raise AffectlabError(f"{where}: unknown split {str(name)!r}; choose from: "
                                 f"{', '.join(s.value for s in cls)}") from None


#: the splits a run can be judged on, in order of preference: the held-out test split when it was
#: scored, else the validation split, else the pooled out-of-fold predictions (cross-validation),
#: else an old run's full-data scores. ``train`` is never the headline: it measures fit.
HEADLINE_ORDER = (Split.TEST, Split.VAL, Split.OOF, Split.FULL)

SplitsLike = Union["RunSummary", Mapping[str, Any], Iterable[str]]


def _splits_of(source: SplitsLike) -> set[str]:
    metrics = getattr(source, "metrics", None)
    if metrics is None and isinstance(source, Mapping):
        metrics = source.get("metrics", source)
    return {str(s) for s in (metrics if metrics is not None else source)}


def headline_split(summary: SplitsLike) -> Split:
    """The split a run is judged on (see :data:`HEADLINE_ORDER`).

    ``summary``: a :class:`~affectlab.runs.RunSummary` (or its dict), or the split names at hand
    (those with labelled predictions; those every compared run has). None of them: a one-line error.

    >>> headline_split(["train", "val"])
    <Split.VAL: 'val'>
    >>> headline_split(["train"])
    Traceback (most recent call last):
    ...
    affectlab.core.errors.AffectlabError: no test, val, oof or full scores (have: train)
    """
    have = _splits_of(summary)
    for split in HEADLINE_ORDER:
        if split.value in have:
            return split
    raise AffectlabError(f"no {', '.join(s.value for s in HEADLINE_ORDER[:-1])} or {HEADLINE_ORDER[-1].value} "
                         f"scores (have: {', '.join(sorted(have)) or 'none'})")


def shared_headline_split(summaries: Iterable[SplitsLike]) -> Split:
    """The headline split of several runs: the first of :data:`HEADLINE_ORDER` that every one has.

    >>> shared_headline_split([["train", "val", "test"], ["train", "val"]])
    <Split.VAL: 'val'>
    """
    sets = [_splits_of(s) for s in summaries]
    return headline_split(set.intersection(*sets) if sets else set())


__all__ = ["HEADLINE_ORDER", "Split", "headline_split", "shared_headline_split"]
