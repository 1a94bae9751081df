"""Replace non-finite feature values (COVAREP's -inf, NaN) by a rule, and count them.

Public tools (MMSA, the CMU SDK) zero these silently; here every replacement is counted and the
count ends up in the run's ``summary.json`` (``nonfinite``). Rules (``data.options.nonfinite``):

- ``zero``: replace by 0 (MMSA's convention, but counted);
- ``mean``: replace by the mean of the finite values of that feature dimension in the same file;
- ``error``: refuse the file, naming the first offending sample.

>>> import numpy as np
>>> x = np.array([[[1.0, np.nan]], [[3.0, -np.inf]], [[np.nan, 4.0]]])
>>> y, n = replace_nonfinite(x, "zero", "audio", "f.pkl")
>>> n, y[:, 0].tolist()
(3, [[1.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
>>> replace_nonfinite(x, "mean", "audio", "f.pkl")[0][:, 0].tolist()
[[1.0, 4.0], [3.0, 4.0], [2.0, 4.0]]
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..core.errors import AffectlabError

RULES = ("zero", "mean", "error")


def check_rule(rule: str, source: str) -> str:
    """The rule, or a one-line error listing the choices."""
    if rule not in RULES:
        raise AffectlabError(f"{source}: data.options.nonfinite must be one of {', '.join(RULES)}, not {rule!r}")
    return rule


def replace_nonfinite(values: np.ndarray, rule: str, modality: str, source: str,
                      ids: Sequence[str] | None = None) -> tuple[np.ndarray, int]:
    """``values`` (N, ..., D) with non-finite entries replaced per ``rule``; also how many there were.

    A modality with no finite value at all is refused whatever the rule: replacing everything
    would train on constants without anyone noticing.
    """
    check_rule(rule, source)
    arr = np.asarray(values, dtype=np.float32)
    bad = ~np.isfinite(arr)
    count = int(bad.sum())
    if count == 0:
        return arr, 0
    if bad.all():
        raise AffectlabError(f"{source}: modality {modality!r} has no finite values (all NaN/inf); "
                             f"leave it out with data.options.modalities")
    if rule == "error":
        row = int(np.flatnonzero(bad.reshape(len(arr), -1).any(axis=1))[0])
        which = f"id {ids[row]!r}" if ids is not None else f"row {row + 1}"
        raise AffectlabError(f"{source}: modality {modality!r} has {count} non-finite value(s), first at {which} "
                             f"(data.options.nonfinite is 'error'; use 'zero' or 'mean' to replace them)")
    arr = arr.copy()
    if rule == "zero":
        arr[bad] = 0.0
    else:
        flat = arr.reshape(-1, arr.shape[-1])
        flat_bad = bad.reshape(-1, arr.shape[-1])
        with np.errstate(invalid="ignore"):
            sums = np.where(flat_bad, 0.0, flat).sum(axis=0, dtype=np.float64)
            n_ok = (~flat_bad).sum(axis=0)
            means = np.where(n_ok > 0, sums / np.maximum(n_ok, 1), 0.0).astype(np.float32)
        flat[flat_bad] = np.broadcast_to(means, flat.shape)[flat_bad]
        arr = flat.reshape(arr.shape)
    return arr, count


def nonfinite_counts(meta: dict, split: str | None = None) -> dict[str, int]:
    """The non-finite feature values a reader replaced, per modality: in the whole file
    (``meta["nonfinite"]``) or in one split (``meta["nonfinite_by_split"]``; zeros when the split had none).

    >>> meta = {"nonfinite": {"audio": 9}, "nonfinite_by_split": {"train": {"audio": 9}, "test": {"audio": 0}}}
    >>> nonfinite_counts(meta), nonfinite_counts(meta, "test")
    ({'audio': 9}, {'audio': 0})
    """
    whole = {str(m): int(n) for m, n in (meta.get("nonfinite") or {}).items()}
    if split is None:
        return whole
    part = (meta.get("nonfinite_by_split") or {}).get(split)
    if part is None:  # a reader without per-split counts: no count can be given for the split alone
        return whole
    return {m: int(part.get(m, 0)) for m in whole}


def replaced_note(meta: dict, source: str, rule: str, split: str | None = None) -> str | None:
    """One line counting the non-finite feature values a reader replaced (per modality, in the
    whole file or in ``split``); None when there were none.

    >>> replaced_note({"nonfinite": {"audio": 100, "vision": 7, "text": 0}}, "t.pkl", "zero")
    "t.pkl: 107 non-finite feature values (NaN/inf) replaced by the rule 'zero' (data.options.nonfinite): audio 100, vision 7"
    >>> replaced_note({"nonfinite": {"audio": 5}, "nonfinite_by_split": {"test": {"audio": 2}}}, "t.pkl", "mean", "test")
    "t.pkl split 'test': 2 non-finite feature values (NaN/inf) replaced by the rule 'mean' (data.options.nonfinite): audio 2"
    >>> replaced_note({"nonfinite": {"audio": 0}}, "t.pkl", "zero") is None
    True
    """
    counts = {m: n for m, n in nonfinite_counts(meta, split).items() if n}
    if not counts:
        return None
    total = sum(counts.values())
    where = source if split is None or "nonfinite_by_split" not in meta else f"{source} split {split!r}"
    return (f"{where}: {total} non-finite feature value{'s' if total != 1 else ''} (NaN/inf) replaced by the rule "
            f"{rule!r} (data.options.nonfinite): {', '.join(f'{m} {n}' for m, n in counts.items())}")
