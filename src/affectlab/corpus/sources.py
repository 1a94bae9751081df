"""Data sources of a run: each read by its own reader, its labels mapped, the corpora pooled into one.

A :class:`Source` is one ``--data`` with its corpus name and its ``data:`` section (the run's, with
the source's own format, columns, options and maps where it gives them). :func:`read_source`
reads it and maps the labels of every target that has a map (:mod:`affectlab.corpus.labelmap`),
leaving out (and counting) the samples whose label is unmapped under ``unmapped: drop``.
:func:`pool` stacks several sources into one :class:`Corpus` with a ``corpus`` column; ids and
groups are prefixed with the corpus name (``emodb/03``) so that speakers of two corpora never
merge into one group.

>>> import pandas as pd
>>> from affectlab.config import DataConfig
>>> cfg = DataConfig.model_validate({"format": "table", "columns": {"id": "id", "group": "spk"}, "targets": [
...     {"name": "arousal", "kind": "category", "column": "emotion", "map": "arousal_binary", "unmapped": "drop"}]})
>>> a = read_source(Source("a", pd.DataFrame({"id": ["1", "2", "3"], "spk": ["s", "s", "t"],
...                                           "emotion": ["anger", "neutral", "sadness"]}), cfg))
>>> a.frame["arousal"].tolist(), a.meta["dropped"]
(['high', 'low'], {'arousal': {'neutral': 1}})
>>> both = pool([a, a.subset([0])], ["a", "b"])
>>> both.frame[["id", "group", "corpus"]].values.tolist()
[['a/1', 'a/s', 'a'], ['a/3', 'a/t', 'a'], ['b/1', 'b/s', 'b']]
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import DataConfig, TargetConfig
from ..core.errors import AffectlabError
from .base import Corpus, TargetSpec
from .labelmap import TargetMap, check_target_map, map_labels


@dataclass(frozen=True)
class Source:
    """One data source: its corpus name, where it is, and the ``data:`` section it is read with."""

    name: str
    path: "str | Path | pd.DataFrame"
    data: DataConfig


def target_maps(data: DataConfig) -> dict[str, TargetMap]:
    """The targets of ``data`` that have a map, as :class:`TargetMap`, each checked (one line otherwise).

    >>> cfg = DataConfig.model_validate({"targets": [{"name": "v", "map": "valence", "low": -1, "high": 1}]})
    >>> target_maps(cfg)["v"].kind
    'regression'
    """
    out = {}
    for t in data.targets:
        if t.map is None:
            continue
        tmap = TargetMap(t.name, t.map, t.kind, tuple(t.classes), t.unmapped)
        classes = check_target_map(tmap, t.low, t.high)
        out[t.name] = dataclasses.replace(tmap, classes=classes)
    return out


def raw_config(data: DataConfig) -> DataConfig:
    """``data`` with every mapped target read as the raw categories of its source column."""
    targets = [TargetConfig(name=t.name, column=t.column or t.name, kind="category") if t.map is not None else t
               for t in data.targets]
    return data.model_copy(update={"targets": targets})


def read_source(source: Source, *, require_labels: bool = True) -> Corpus:
    """Read one source and map its labels; ``meta["dropped"]``: ``{target: {label: count}}`` left out."""
    from . import read_corpus

    maps = target_maps(source.data)
    corpus = read_corpus(source.path, raw_config(source.data), require_labels=require_labels)
    if not maps:
        return corpus
    where = corpus.name or source.name
    keep = np.ones(len(corpus), dtype=bool)
    frame = corpus.frame.copy()
    dropped: dict[str, dict[str, int]] = {}
    for name, tmap in maps.items():
        mapped = map_labels(frame[name].tolist(), tmap, where)
        frame[name] = pd.Series(mapped.values, dtype=object if tmap.kind == "category" else float)
        keep &= np.asarray(mapped.keep, dtype=bool)
        if mapped.dropped:
            dropped[name] = mapped.dropped
    targets = tuple(TargetSpec(t.name, t.low, t.high, t.kind, maps[t.name].classes) if t.name in maps else t
                    for t in corpus.targets)
    out = dataclasses.replace(corpus, frame=frame, targets=targets, meta={**corpus.meta, "dropped": dropped})
    out = out.subset(keep)
    if not len(out):
        raise AffectlabError(f"{where}: every sample was left out by the label map (unmapped: drop); nothing to train on")
    return out


def dropped_lines(corpus: Corpus, where: str) -> list[str]:
    """One line per mapped target of ``corpus`` (read by :func:`read_source`) that left samples out.

    >>> c = Corpus(pd.DataFrame({"id": ["1"], "group": "g", "order": 0.0}), meta={"dropped": {"arousal": {"neutral": 79}}})
    >>> dropped_lines(c, "emodb")
    ['emodb: 79 sample(s) left out whose arousal label does not map (neutral 79); 1 kept']
    """
    return [f"{where}: {sum(counts.values())} sample(s) left out whose {target} label does not map "
            f"({', '.join(f'{label} {n}' for label, n in counts.items())}); {len(corpus)} kept"
            for target, counts in corpus.meta.get("dropped", {}).items()]


def pool(corpora: list[Corpus], names: list[str]) -> Corpus:
    """Several corpora as one (see the module docs): same targets and feature arrays required."""
    first = corpora[0]
    for name, c in zip(names[1:], corpora[1:]):
        if [t.name for t in c.targets] != [t.name for t in first.targets]:
            raise AffectlabError(f"source {name}: targets {', '.join(c.target_names)} differ from source {names[0]}'s "
                                 f"({', '.join(first.target_names)})")
        if set(c.features) != set(first.features):
            raise AffectlabError(f"source {name}: feature arrays {', '.join(sorted(c.features)) or '(none)'} differ "
                                 f"from source {names[0]}'s ({', '.join(sorted(first.features)) or '(none)'}): "
                                 "read the same modalities (data.options.modalities)")
        for m, arr in c.features.items():
            if arr.shape[2:] != first.features[m].shape[2:] or arr.ndim != first.features[m].ndim:
                made = [c.meta.get("extraction", {}).get(m), first.meta.get("extraction", {}).get(m)]
                said = f" ({made[0]} vs {made[1]})" if all(made) else ""
                raise AffectlabError(f"source {name}: feature {m!r} has shape {arr.shape[1:]} but source {names[0]}'s has "
                                     f"{first.features[m].shape[1:]}{said}: extract every corpus with the same config")
    frames = []
    for name, c in zip(names, corpora):
        f = c.frame.copy()
        f["id"] = name + "/" + f["id"].astype(str)
        f["group"] = name + "/" + f["group"].astype(str)
        f["corpus"] = name
        frames.append(f)
    frame = pd.concat(frames, ignore_index=True)
    targets = tuple(_union_classes([c.targets[j] for c in corpora]) for j in range(len(first.targets)))
    features = {m: _stack([c.features[m] for c in corpora]) for m in first.features}
    lengths = {m: np.concatenate([c.lengths[m] for c in corpora]) for m in first.lengths if all(m in c.lengths for c in corpora)}
    meta: dict[str, Any] = {**first.meta, "sources": list(names),
                            "dropped": {n: c.meta.get("dropped", {}) for n, c in zip(names, corpora)},
                            "nonfinite": _summed([c.meta.get("nonfinite", {}) for c in corpora]),
                            "source_names": {n: c.name for n, c in zip(names, corpora)}}
    made_by = {m: sorted({str(c.meta.get("extraction", {}).get(m)) for c in corpora}) for m in first.features}
    meta["extraction"] = {m: " | ".join(v) for m, v in made_by.items() if v != ["None"]}
    meta.pop("nonfinite_by_split", None)  # per split of one file: meaningless for the pooled corpus
    return Corpus(frame=frame, targets=targets, features=features, lengths=lengths, name=" + ".join(names),
                  source_columns={"id": "id"}, output_columns=("id",), meta=meta)


def _union_classes(targets: list[TargetSpec]) -> TargetSpec:
    """One target over several corpora: a category's classes in first-seen order."""
    first = targets[0]
    if not first.is_category:
        return first
    classes = list(first.classes)
    for t in targets[1:]:
        classes += [c for c in t.classes if c not in classes]
    return dataclasses.replace(first, classes=tuple(classes))


def _stack(arrays: list[np.ndarray]) -> np.ndarray:
    """Row-stack (N, L, D) arrays, padding L with zeros (the lengths say what is valid)."""
    if arrays[0].ndim < 3 or len({a.shape[1] for a in arrays}) == 1:
        return np.concatenate(arrays, axis=0)
    steps = max(a.shape[1] for a in arrays)
    return np.concatenate([np.pad(a, [(0, 0), (0, steps - a.shape[1])] + [(0, 0)] * (a.ndim - 2)) for a in arrays], axis=0)


def _summed(counts: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-modality counts of replaced values added over the sources (numbers only)."""
    out: dict[str, Any] = {}
    for c in counts:
        for k, v in c.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                out[k] = out.get(k, 0) + v
    return out
