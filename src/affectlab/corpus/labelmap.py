"""Label mapping across corpora: a source's categories onto a run's classes, circumplex numbers or quadrants.

A run config's target may read another column's categories through a map (``data.targets[].map``):

- ``emotion``: category -> category. Every common emotion name of the speech corpora (EmoDB's
  ``anger``, URDU's ``angry``, IEMOCAP's ``ang``...) belongs to one emotion of
  :data:`ALIASES`; a label lands on the declared class of the same emotion, so the classes may be
  named either way (``[angry, happy, neutral, sad]`` or ``[anger, happiness, ...]``).
- ``valence``, ``arousal``: category -> number in [-1, 1], the circumplex table of
  :mod:`affectlab.corpus.speech.circumplex` (Russell & Mehrabian 1977, as configs/extract/emodb.yaml
  documents; calm and surprise have no number there).
- ``valence_binary`` (negative/positive), ``arousal_binary`` (low/high), ``quadrant``
  (high_positive, high_negative, low_positive, low_negative): the sign of those numbers. Neutral is
  the origin and has no sign: it is unmapped for these.
- ``{label: value}``: the config's own table (a class name or a number; ``null`` leaves the sample out).

A label a table does not know at all is refused in one line. A label it knows that lands outside
the declared classes (EmoDB ``boredom`` for four classes), or has no place (neutral for a binary
label), is ``unmapped``: refused, or with ``unmapped: drop`` left out and counted.

>>> labels = ["anger", "boredom", "happiness", "sadness"]
>>> m = map_labels(labels, TargetMap("emotion", "emotion", "category", ("angry", "happy", "neutral", "sad"), "drop"), "emodb.pkl")
>>> m.values, m.dropped
(['angry', None, 'happy', 'sad'], {'boredom': 1})
>>> map_labels(labels, TargetMap("arousal", "arousal", "regression"), "emodb.pkl").values
[0.59, -0.62, 0.51, -0.27]
>>> map_labels(["angry", "contempt"], TargetMap("emotion", "emotion", "category", ("angry", "sad")), "x.pkl")
Traceback (most recent call last):
...
affectlab.core.errors.AffectlabError: x.pkl: label 'contempt' of target 'emotion' has no mapping in table emotion (it knows anger, happiness, sadness, neutral, boredom, disgust, fear, calm, surprise and their usual spellings); map it yourself with data.targets[].map: {label: class}
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

from ..core.errors import AffectlabError
from ..core.targets import is_missing_label
from .speech.circumplex import CIRCUMPLEX

#: each emotion of the speech corpora and the names corpora give it (compared case-insensitively)
ALIASES: dict[str, tuple[str, ...]] = {
    "anger": ("anger", "angry", "ang"),
    "happiness": ("happiness", "happy", "hap", "joy"),
    "sadness": ("sadness", "sad"),
    "neutral": ("neutral", "neu"),
    "boredom": ("boredom", "bored", "bor"),
    "disgust": ("disgust", "disgusted", "dis"),
    "fear": ("fear", "fearful", "afraid", "fea"),
    "calm": ("calm",),
    "surprise": ("surprise", "surprised", "sur", "pleasant_surprise", "pleasant surprise"),
}
_EMOTION_OF = {alias: emotion for emotion, names in ALIASES.items() for alias in names}

#: the classes each sign table produces (in this order when a config declares none)
SIGN_CLASSES: dict[str, tuple[str, ...]] = {
    "valence_binary": ("negative", "positive"),
    "arousal_binary": ("low", "high"),
    "quadrant": ("high_positive", "high_negative", "low_positive", "low_negative"),
}
#: built-in tables and the kind of target each gives
TABLES: dict[str, str] = {"emotion": "category", "valence": "regression", "arousal": "regression",
                          **{name: "category" for name in SIGN_CLASSES}}


def emotion_of(label: str) -> str | None:
    """The emotion (a key of :data:`ALIASES`) a label names, or None.

    >>> emotion_of("Angry"), emotion_of("fearful"), emotion_of("contempt")
    ('anger', 'fear', None)
    """
    return _EMOTION_OF.get(str(label).strip().lower())


@dataclass(frozen=True)
class TargetMap:
    """One target's map: its name, the table (a built-in name or a dict), its kind, declared classes and rule."""

    target: str
    table: "str | dict[str, Any]"
    kind: str = "category"
    classes: tuple[str, ...] = ()
    unmapped: str = "error"


@dataclass
class Mapped:
    """The mapped values (None where missing or left out), which rows are kept, the labels left out, counted."""

    values: list[Any]
    keep: list[bool]
    dropped: dict[str, int] = field(default_factory=dict)


def table_kind(table: "str | dict[str, Any]") -> str | None:
    """``category`` or ``regression`` for a table; None for a dict mixing names and numbers."""
    if isinstance(table, str):
        return TABLES.get(table)
    values = [v for v in table.values() if v is not None]
    if all(isinstance(v, str) for v in values):
        return "category"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return "regression"
    return None


def check_target_map(tmap: TargetMap, low: float | None = None, high: float | None = None) -> tuple[str, ...]:
    """Check a map against its target before any data is read; return the classes the target
    will have (the table's own for a sign table without declared classes). One line otherwise.

    >>> check_target_map(TargetMap("arousal", "arousal_binary", "category"))
    ('low', 'high')
    >>> check_target_map(TargetMap("emotion", "emotion", "category", ("angry", "joyful")))
    Traceback (most recent call last):
    ...
    affectlab.core.errors.AffectlabError: target 'emotion': class 'joyful' is no emotion table emotion knows (anger, happiness, sadness, neutral, boredom, disgust, fear, calm, surprise, or a usual spelling such as angry, happy, sad)
    """
    where = f"target {tmap.target!r}"
    table = tmap.table
    if isinstance(table, str) and table not in TABLES:
        raise AffectlabError(f"{where}: map: unknown table {table!r}; choose from {', '.join(TABLES)}, "
                             "or give {label: value}")
    if isinstance(table, dict) and not table:
        raise AffectlabError(f"{where}: map is an empty table")
    kind = table_kind(table)
    if kind is None:
        raise AffectlabError(f"{where}: map mixes class names and numbers; a target is one or the other")
    if kind != tmap.kind:
        hint = " (or arousal_binary, valence_binary, quadrant for classes)" if kind == "regression" else ""
        raise AffectlabError(f"{where}: map {table if isinstance(table, str) else '{...}'} gives "
                             f"{'numbers' if kind == 'regression' else 'classes'}; declare the target with "
                             f"kind: {kind}{hint}")
    if kind == "regression":
        numbers = [v for v in (table.values() if isinstance(table, dict) else
                               (p[0 if table == "valence" else 1] for p in CIRCUMPLEX.values())) if v is not None]
        outside = [v for v in numbers if (low is not None and v < low) or (high is not None and v > high)]
        if outside:
            raise AffectlabError(f"{where}: map gives {outside[0]:g}, outside the declared range "
                                 f"[{'-inf' if low is None else f'{low:g}'}, {'inf' if high is None else f'{high:g}'}]")
        return ()
    if isinstance(table, str) and table in SIGN_CLASSES:
        own = SIGN_CLASSES[table]
        wrong = [c for c in tmap.classes if c not in own]
        if wrong:
            raise AffectlabError(f"{where}: class {wrong[0]!r} is not one table {table} gives ({', '.join(own)})")
        return tmap.classes or own
    if not tmap.classes:
        raise AffectlabError(f"{where}: declare the classes the labels map onto (classes: [...])")
    if isinstance(table, dict):
        wrong = sorted({v for v in table.values() if v is not None and v not in tmap.classes})
        if wrong:
            raise AffectlabError(f"{where}: map sends labels to {wrong[0]!r}, which is not a declared class "
                                 f"({', '.join(tmap.classes)})")
        return tmap.classes
    seen: dict[str, str] = {}
    for c in tmap.classes:
        emotion = emotion_of(c)
        if emotion is None:
            raise AffectlabError(f"{where}: class {c!r} is no emotion table emotion knows ({', '.join(ALIASES)}, "
                                 "or a usual spelling such as angry, happy, sad)")
        if emotion in seen:
            raise AffectlabError(f"{where}: classes {seen[emotion]!r} and {c!r} are the same emotion")
        seen[emotion] = c
    return tmap.classes


def _mapped_one(label: str, tmap: TargetMap, source: str) -> tuple[bool, Any]:
    """(known, value) of one label: known False = no mapping at all; value None = unmapped."""
    table = tmap.table
    if isinstance(table, dict):
        if label in table:
            return True, table[label]
        return False, None
    emotion = emotion_of(label)
    if emotion is None:
        return False, None
    if table == "emotion":
        return True, next((c for c in tmap.classes if emotion_of(c) == emotion), None)
    place = CIRCUMPLEX.get(emotion)
    if place is None:
        return True, None
    valence, arousal = place
    if table in ("valence", "arousal"):
        return True, valence if table == "valence" else arousal
    if (table != "valence_binary" and arousal == 0) or (table != "arousal_binary" and valence == 0):
        return True, None  # the origin (neutral) has no sign
    a = "high" if arousal > 0 else "low"
    v = "positive" if valence > 0 else "negative"
    value = {"arousal_binary": a, "valence_binary": v}.get(str(table), f"{a}_{v}")
    return True, value if not tmap.classes or value in tmap.classes else None


def map_labels(labels: Sequence[Any], tmap: TargetMap, source: str) -> Mapped:
    """Map one target's raw labels (see the module docs); missing labels stay missing (None)."""
    out: list[Any] = []
    keep: list[bool] = []
    dropped: Counter[str] = Counter()
    for raw in labels:
        keep.append(True)
        if is_missing_label(raw):
            out.append(None)
            continue
        label = str(raw)
        known, value = _mapped_one(label, tmap, source)
        if not known:
            how = "{label: class}" if tmap.kind == "category" else "{label: number}"
            knows = (f"table {tmap.table} (it knows {', '.join(ALIASES)} and their usual spellings)"
                     if isinstance(tmap.table, str) else "the config's map")
            raise AffectlabError(f"{source}: label {label!r} of target {tmap.target!r} has no mapping in {knows}; "
                                 f"map it yourself with data.targets[].map: {how}")
        if value is None and isinstance(tmap.table, dict):
            dropped[label] += 1  # null in the config's own table: left out by request
            keep[-1] = False
        elif value is None:
            if tmap.unmapped != "drop":
                lands = (f"lands on none of the classes {', '.join(tmap.classes)}" if tmap.table == "emotion"
                         else f"has no place in table {tmap.table}")
                raise AffectlabError(f"{source}: label {label!r} of target {tmap.target!r} {lands}; set unmapped: drop "
                                     "to leave such samples out (they are counted), or map it yourself")
            dropped[label] += 1
            keep[-1] = False
        out.append(value)
    return Mapped(out, keep, dict(sorted(dropped.items())))
