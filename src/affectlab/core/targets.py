"""What a prediction target is: :class:`TargetSpec` (a regression range or a category's classes)
and the one label -> class index mapping. Every layer speaks of targets (tasks, metrics, corpora,
models), so they sit among the foundations; :mod:`affectlab.corpus.base` re-exports them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, Sequence

import numpy as np

from .errors import AffectlabError


@dataclass(frozen=True)
class TargetSpec:
    """One prediction target: a regression range (``None`` = unbounded) or a category's classes.

    Category targets keep their labels as strings in ``Corpus.frame``; everywhere numbers are
    needed (target matrices, predictions, metrics) a label is its index in ``classes``.

    >>> t = TargetSpec("emotion", kind="category", classes=("anger", "neutral"))
    >>> t.encode(["neutral", "anger", None]).tolist()
    [1.0, 0.0, nan]
    >>> t.decode([1.0, 0.0])
    ['neutral', 'anger']
    """

    name: str
    low: float | None = None
    high: float | None = None
    kind: Literal["regression", "category"] = "regression"
    classes: tuple[str, ...] = ()

    @property
    def is_category(self) -> bool:
        return self.kind == "category"

    def check(self, values: np.ndarray, source: str) -> None:
        """Refuse labels outside the declared range (or classes), naming the first offending row."""
        if self.is_category:
            self.check_labels(values, source)
            return
        low = -np.inf if self.low is None else self.low
        high = np.inf if self.high is None else self.high
        with np.errstate(invalid="ignore"):
            outside = ~np.isnan(values) & ((values < low) | (values > high))
        if outside.any():
            i = int(np.flatnonzero(outside)[0])
            raise AffectlabError(
                f"{source}: {self.name} value {values[i]:g} in data row {i + 1} is outside the declared range [{low:g}, {high:g}]"
            )

    def check_labels(self, labels, source: str) -> None:
        """Refuse a category label that is not one of the declared classes."""
        if not self.classes:
            return
        known = set(self.classes)
        for i, label in enumerate(labels):
            if not is_missing_label(label) and str(label) not in known:
                raise AffectlabError(f"{source}: {self.name} label {str(label)!r} in data row {i + 1} is not one of "
                                     f"the declared classes ({', '.join(self.classes)})")

    def with_classes_from(self, labels) -> "TargetSpec":
        """This target with ``classes`` inferred (sorted) from ``labels`` when none were declared."""
        if not self.is_category or self.classes:
            return self
        found = sorted({str(v) for v in labels if not is_missing_label(v)})
        return dataclasses.replace(self, classes=tuple(found))

    def encode(self, labels) -> np.ndarray:
        """Category labels as float class indices (:func:`class_indices`); numbers pass through."""
        if not self.is_category:
            return np.asarray(labels, dtype=float)
        return class_indices(labels, self.classes)

    def decode(self, indices) -> list:
        """Class names for predicted indices (category targets); numbers pass through."""
        values = np.asarray(indices, dtype=float)
        if not self.is_category:
            return values.tolist()
        top = len(self.classes) - 1
        return [self.classes[int(np.clip(round(v), 0, top))] if np.isfinite(v) else "" for v in values]

    def describe(self) -> dict[str, Any]:
        """Plain-data form for summaries and checkpoints."""
        return {"name": self.name, "low": self.low, "high": self.high, "kind": self.kind, "classes": list(self.classes)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TargetSpec":
        return cls(d["name"], d.get("low"), d.get("high"), d.get("kind", "regression"), tuple(d.get("classes", ())))


#: the one vocabulary of target kinds (train configs, extract configs, run directories, checkpoints)
TARGET_KINDS = ("regression", "category")
#: accepted as a documented synonym: extract configs said ``number`` before the vocabularies were one
KIND_SYNONYMS = {"number": "regression"}
#: words a user may write for a kind: answered with "did you mean"
_KIND_GUESSES = {"numeric": "regression", "continuous": "regression", "float": "regression", "real": "regression",
                 "dimension": "regression", "dimensional": "regression", "classification": "category",
                 "categorical": "category", "class": "category", "classes": "category", "label": "category",
                 "categories": "category", "nominal": "category", "discrete": "category"}


def target_kind(value: Any) -> Any:
    """A target's ``kind`` in the one vocabulary (``regression`` or ``category``): ``number`` (the
    extract configs' former word) is read as ``regression``; a near word is refused with a
    "did you mean"; anything else is returned for the schema to refuse.

    >>> target_kind("number"), target_kind("category"), target_kind(3)
    ('regression', 'category', 3)
    >>> target_kind("classification")
    Traceback (most recent call last):
    ...
    ValueError: kind 'classification' is not one of regression, category (did you mean `category`?)
    """
    if not isinstance(value, str):
        return value
    word = value.strip().lower()
    if word in TARGET_KINDS:
        return word
    if word in KIND_SYNONYMS:
        return KIND_SYNONYMS[word]
    guess = _KIND_GUESSES.get(word)
    if guess is None:
        import difflib

        close = difflib.get_close_matches(word, [*TARGET_KINDS, *KIND_SYNONYMS], n=1, cutoff=0.6)
        guess = KIND_SYNONYMS.get(close[0], close[0]) if close else None
    if guess is not None:
        raise ValueError(f"kind {value!r} is not one of {', '.join(TARGET_KINDS)} (did you mean `{guess}`?)")
    return value


def is_missing_label(value: Any) -> bool:
    """True for None, NaN and empty or NA-like strings."""
    if value is None:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    return isinstance(value, str) and value.strip() in ("", "nan", "NaN", "NA", "None")


def class_indices(values: Sequence, classes: Sequence[str]) -> np.ndarray:
    """Labels as float class indices into ``classes``, the one label -> index mapping of the
    package (targets, evaluate, compare, report): names looked up first, whole numbers in range
    taken as indices (prediction files may hold either), anything else (missing, unknown) NaN.

    >>> class_indices(["joy", "anger", None, 1.0, "7", "1", "NA", " joy "], ("anger", "joy")).tolist()
    [1.0, 0.0, nan, 1.0, nan, 1.0, nan, 1.0]
    """
    index = {str(c): float(i) for i, c in enumerate(classes)}
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        if is_missing_label(v):
            continue
        name = str(v).strip()
        if name in index:
            out[i] = index[name]
            continue
        try:
            number = float(name)
        except ValueError:
            continue
        if number.is_integer() and 0 <= number < len(classes):
            out[i] = number
    return out


__all__ = ["KIND_SYNONYMS", "TARGET_KINDS", "TargetSpec", "class_indices", "is_missing_label", "target_kind"]
