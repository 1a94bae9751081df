"""Which data a published result belongs to: :class:`BenchmarkData`.

A published reference (``Reference``) is a score on one benchmark's data, not on every data set
of a task type: a run of ``task: semeval`` on the demo's synthetic corpus, or a user's own table
under ``task: mosi``, is not compared with the benchmark's best results (``ABOVE_STATE_OF_THE_ART``
would cry wolf). A benchmark is recognised by the ids of the scored rows: the corpus's own naming
convention (``id_pattern``: CMU-MOSI's ``<11-character YouTube id>$_$<clip>``, EmoDB's file names
``03a01Fa``), or a fingerprint of its known ids (``known``: hashes of ``group/id``, e.g. the
(user_id, text_id) pairs of SemEval-2026 Task 2's training file; :mod:`affectlab.tasks.fingerprints`).

>>> mosi = BenchmarkData("CMU-MOSI", "official split", id_pattern=r"[A-Za-z0-9_-]{11}\\$_\\$\\d+")
>>> mosi.matches(["03bSnISJMiM$_$1", "_dI--eQ6qVU$_$12"]), mosi.matches(["clip1", "clip2"])
(True, False)
>>> semeval = BenchmarkData("SemEval", "train file", known=id_key(3, 251) + id_key(3, 252))
>>> semeval.matches(["251", "252"], ["3", "3"]), semeval.matches(["251", "9"], ["3", "3"])
(True, False)
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


def id_key(group: object, id_: object) -> str:
    """The fingerprint of one row: the first 3 bytes of ``blake2b("group/id")`` in hex.

    >>> id_key(3, 251)
    '634402'
    """
    return hashlib.blake2b(f"{group}/{id_}".encode(), digest_size=3).hexdigest()


@dataclass(frozen=True)
class BenchmarkData:
    """A benchmark's data set (``name``) and part (``split``, e.g. "official test"), recognised by
    ``id_pattern`` (a regular expression every id matches in full) or ``known`` (the
    :func:`id_key` of each known row, concatenated): data match when at least ``min_share`` of
    the scored rows do."""

    name: str
    split: str = ""
    id_pattern: str = ""
    known: str = ""
    min_share: float = 0.9

    def matches(self, ids: Sequence, groups: Sequence | None = None) -> bool:
        """Whether rows with these ids (and groups, for ``known``) are this benchmark's data."""
        ids = [str(i) for i in ids]
        if not ids:
            return False
        hits = 0
        if self.id_pattern:
            pattern = re.compile(self.id_pattern)
            hits = sum(bool(pattern.fullmatch(i)) for i in ids)
        elif self.known:
            known = self._known_set()
            groups = [""] * len(ids) if groups is None else [str(g) for g in groups]
            hits = sum(id_key(g, i) in known for g, i in zip(groups, ids))
        return hits >= self.min_share * len(ids)

    def _known_set(self) -> frozenset[str]:
        return frozenset(self.known[k:k + 6] for k in range(0, len(self.known), 6))

    def describe(self) -> str:
        return f"{self.name} ({self.split})" if self.split else self.name


def applicable(references: Sequence, ids: Sequence, groups: Sequence | None = None) -> tuple[list, list]:
    """(the references that apply to rows with these ids, the benchmark data of those that do not).
    A reference without ``data`` (e.g. a config's own ``references:``) always applies."""
    keep, skipped = [], []
    for ref in references:
        data = getattr(ref, "data", None)
        if data is None or data.matches(ids, groups):
            keep.append(ref)
        elif data not in skipped:
            skipped.append(data)
    return keep, skipped


def not_applicable_note(skipped: Sequence[BenchmarkData], task: str) -> str:
    """The one note for published references that were not compared with this data."""
    names = "; ".join(d.describe() for d in skipped)
    return (f"task {task}'s published references belong to {names}; this data is not that data set, "
            "so results are not compared with them (ABOVE_STATE_OF_THE_ART cannot fire)")


def applicable_to_rows(references: Sequence, ids: "pd.DataFrame", groups: "Sequence | np.ndarray | None" = None) -> list:
    """:func:`applicable` for an evaluation's key columns: the last column is the row id, the
    first the group when there are two (SemEval's ``user_id, text_id``), else ``groups``."""
    frame = ids.astype(str)
    row_ids = frame.iloc[:, -1].tolist()
    row_groups = frame.iloc[:, 0].tolist() if frame.shape[1] > 1 else (None if groups is None else list(groups))
    return applicable(references, row_ids, row_groups)[0]


def references_for_part(references: Sequence, part, notes, task: str) -> list:
    """The references that apply to a scored part of a corpus (``part.frame``'s ``id`` and
    ``group``); the others are said once in ``notes`` (:func:`not_applicable_note`)."""
    keep, skipped = applicable(references, part.frame["id"].tolist(),
                               part.frame["group"].tolist() if "group" in part.frame else None)
    if skipped and notes is not None:
        line = not_applicable_note(skipped, task)
        if line not in notes.lines:
            notes.add(line)
    return keep
