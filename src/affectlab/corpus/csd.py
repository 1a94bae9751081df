"""CMU-MultimodalSDK computational sequences (``.csd`` HDF5 files), their alignment, and a Corpus.

A ``.csd`` file holds one group named after the sequence, with ``data/<video>/features`` (T, D)
and ``data/<video>/intervals`` (T, 2) (start, end in seconds) and a ``metadata`` group. A file
without ``metadata`` is refused, as the SDK does.

Alignment follows the SDK's ``align``: for every reference interval, the rows of another
sequence whose intervals overlap it (by more than ``epsilon`` after clipping to the reference)
are collapsed into one row (mean by default). The reference is either the label segments
(one sample per labelled segment) or one modality, e.g. the words (``reference: text``), in
which case every modality is first collapsed onto each word and a sample is the sequence of
words inside its label segment: all modalities then share one length (early fusion works).

Reader ``csd`` (``data.format: csd``): the data path is the folder holding the files, and
``data.options`` names them::

    files: {text: glove_vectors.csd, audio: COVAREP.csd, vision: FACET_4.2.csd}
    labels: CMU_MOSI_Opinion_Labels.csd   # label_column: 0 (sentiment, -3..3)
    words: CMU_MOSI_TimestampedWords.csd   # optional: raw text for text_source: encoder
    reference: labels                      # or a modality name (word-level alignment)
    collapse: mean                         # mean | median | max | min | sum
    pool: sequence                         # sequence (N, L, D) | mean (one vector per sample)
    max_len: 0                             # cap on sequence length (0 = none)
    splits: {train: [video, ...], valid: [...], test: [...]}   # or a JSON/YAML file with that mapping
    nonfinite: zero                        # zero | mean | error (counted)

Sample ids are ``<video>[<i>]`` (the SDK's naming of aligned segments), ``group`` the video,
``order`` the segment's start time.

>>> import numpy as np
>>> feats = np.array([[1.0], [2.0], [4.0]]); ivals = np.array([[0, 1], [1, 2], [2, 3]], float)
>>> collapse_onto(feats, ivals, np.array([[0.5, 1.5], [2.0, 3.0], [5, 6]]))
(array([[1.5],
       [4. ],
       [nan]]), array([ True,  True, False]))
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Optional, Union

import numpy as np
import pandas as pd
from pydantic import Field, NonNegativeInt

from ..config import DataConfig
from ..core.errors import AffectlabError
from .base import Corpus, TargetSpec
from .mmsa import DEFAULT_TARGET, MODALITIES, finalize_modalities, pad_concat
from .nonfinite import check_rule
from .registry import ReaderOptions, get_reader, register_reader

COLLAPSE: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mean": lambda x: x.mean(axis=0), "median": lambda x: np.median(x, axis=0),
    "max": lambda x: x.max(axis=0), "min": lambda x: x.min(axis=0), "sum": lambda x: x.sum(axis=0),
}
EPSILON = 1e-6


class CsdOptions(ReaderOptions):
    """``data.options`` of the ``csd`` reader (see the module docstring)."""

    files: Optional[dict[str, str]] = None
    labels: Optional[str] = None
    label_column: NonNegativeInt = 0
    words: Optional[str] = None
    reference: str = "labels"
    collapse: Literal["mean", "median", "max", "min", "sum"] = "mean"
    pool: Literal["sequence", "mean"] = "sequence"
    max_len: Optional[NonNegativeInt] = 0
    splits: Union[str, dict[str, list[Union[str, int]]], None] = None
    nonfinite: Literal["zero", "mean", "error"] = "zero"
    text_source: Literal["features", "encoder"] = "features"
    trust_pickle: bool = False
    epsilon: float = Field(EPSILON, ge=0)




@dataclass
class ComputationalSequence:
    """One ``.csd`` file: its root name, metadata and ``{video: (features (T, D), intervals (T, 2))}``."""

    name: str
    metadata: dict[str, str]
    data: dict[str, tuple[np.ndarray, np.ndarray]]

    @property
    def is_text(self) -> bool:
        """True for word sequences (string features), False for numeric ones."""
        first = next(iter(self.data.values()), None)
        return first is not None and first[0].dtype.kind in "SUO"


def _text(value: Any) -> str:
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0] if value.size == 1 else value.tolist()
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def read_csd(path: str | Path) -> ComputationalSequence:
    """Read a ``.csd`` file with one-line errors for anything the SDK would refuse."""
    p = Path(path)
    if p.is_dir():
        raise AffectlabError(f"{p}: is a folder, expected a .csd file")
    if not p.is_file():
        raise AffectlabError(f"{p}: no such .csd file")
    try:
        import h5py
    except ImportError:
        raise AffectlabError("reading .csd files needs h5py (pip install h5py)") from None
    try:
        fh = h5py.File(p, "r")
    except OSError as err:
        raise AffectlabError(f"{p}: not a readable HDF5 (.csd) file ({str(err).splitlines()[0][:100]})") from None
    with fh:
        roots = [k for k in fh.keys() if isinstance(fh[k], h5py.Group)]
        if len(roots) != 1:
            raise AffectlabError(f"{p}: expected one computational sequence group at the top level, found {len(roots)}")
        root = fh[roots[0]]
        if "metadata" not in root:
            raise AffectlabError(f"{p}: computational sequence {roots[0]!r} has no metadata (not a valid CMU-SDK .csd file)")
        if "data" not in root or not isinstance(root["data"], h5py.Group):
            raise AffectlabError(f"{p}: computational sequence {roots[0]!r} has no data group")
        meta_node = root["metadata"]
        metadata = {str(k): _text(v) for k, v in meta_node.attrs.items()}
        if isinstance(meta_node, h5py.Group):
            metadata.update({str(k): _text(meta_node[k][()]) for k in meta_node.keys() if isinstance(meta_node[k], h5py.Dataset)})
        data = {}
        for video, node in root["data"].items():
            if not isinstance(node, h5py.Group) or "features" not in node or "intervals" not in node:
                raise AffectlabError(f"{p}: video {video!r} lacks 'features' or 'intervals'")
            feats, ivals = node["features"][()], np.asarray(node["intervals"][()], dtype=np.float64)
            if feats.ndim == 1:
                feats = feats[:, None]
            if ivals.ndim != 2 or ivals.shape[1] != 2 or len(ivals) != len(feats):
                raise AffectlabError(f"{p}: video {video!r} has {len(feats)} feature rows but intervals of shape {ivals.shape}")
            if not np.isfinite(ivals).all() or (ivals[:, 1] < ivals[:, 0]).any():
                raise AffectlabError(f"{p}: video {video!r} has intervals that end before they start or are not finite")
            if feats.dtype.kind not in "SUO":
                feats = feats.astype(np.float32)
            data[str(video)] = (feats, ivals)
    return ComputationalSequence(roots[0], metadata, data)


def overlapping(intervals: np.ndarray, ref: np.ndarray, epsilon: float = EPSILON) -> np.ndarray:
    """Rows of ``intervals`` that overlap ``ref`` = (start, end), exactly as the SDK's ``__intersect_and_copy``.

    A row qualifies when it starts before ``ref`` ends and ends after it starts (within
    ``epsilon``) and its part inside ``ref`` is longer than ``epsilon``.

    >>> overlapping(np.array([[0, 1], [1, 2], [2, 3]], float), np.array([1.0, 2.0]))
    array([False,  True, False])
    """
    where = (intervals[:, 0] < ref[1] + epsilon) & (intervals[:, 1] > ref[0] - epsilon)
    clipped = np.minimum(intervals[:, 1], ref[1]) - np.maximum(intervals[:, 0], ref[0])
    return where & (np.abs(clipped) > epsilon)


def collapse_onto(features: np.ndarray, intervals: np.ndarray, refs: np.ndarray, collapse: str = "mean",
                  epsilon: float = EPSILON) -> tuple[np.ndarray, np.ndarray]:
    """Collapse the rows overlapping each reference interval: (R, D) values (NaN where none) and a found mask."""
    fn = COLLAPSE[collapse]
    out = np.full((len(refs), features.shape[1]), np.nan)
    found = np.zeros(len(refs), dtype=bool)
    for i, ref in enumerate(refs):
        rows = overlapping(intervals, ref, epsilon)
        if rows.any():
            with np.errstate(invalid="ignore"):
                out[i] = fn(features[rows].astype(np.float64))
            found[i] = True
    return out, found


def _load_splits(spec: Any, root: Path, source: str) -> dict[str, str]:
    """``{video: split}`` from a mapping ``{split: [videos]}`` or a JSON/YAML file holding one."""
    if isinstance(spec, str):
        from ..core.io import read_yaml

        f = Path(spec) if Path(spec).is_absolute() else root / spec
        if not f.is_file():
            raise AffectlabError(f"{source}: data.options.splits file {f} does not exist")
        spec = json.loads(f.read_text()) if f.suffix == ".json" else read_yaml(f)
    if not isinstance(spec, dict) or not all(isinstance(v, (list, tuple)) for v in spec.values()):
        raise AffectlabError(f"{source}: data.options.splits must map split names to lists of video ids")
    out: dict[str, str] = {}
    for name, videos in spec.items():
        for v in videos:
            if str(v) in out:
                raise AffectlabError(f"{source}: video {v!r} is in splits {out[str(v)]!r} and {name!r}")
            out[str(v)] = str(name)
    return out


@register_reader("csd", options=CsdOptions, default_targets=(DEFAULT_TARGET,))
def read_csd_corpus(path: str | Path, cfg: DataConfig | None = None, *, require_labels: bool = False,
                    ignore_labels: bool = False) -> Corpus:
    """Turn a folder of ``.csd`` files into a :class:`Corpus` (see the module docstring for the options)."""
    cfg = cfg or DataConfig(format="csd")
    root = Path(path)
    source = str(path)
    opts: CsdOptions = get_reader("csd").check_options(cfg.options, source)
    if not root.is_dir():
        raise AffectlabError(f"{source}: format csd reads a folder of .csd files named in data.options.files")
    files = opts.files or {}
    if not isinstance(files, dict) or not files:
        raise AffectlabError(f"{source}: data.options.files must name the .csd file of each modality, e.g. {{text: glove.csd}}")
    bad = [m for m in files if m not in MODALITIES]
    if bad:
        raise AffectlabError(f"{source}: data.options.files: unknown modality {bad[0]!r} (choose from {', '.join(MODALITIES)})")
    rule = check_rule(opts.nonfinite, source)
    collapse = opts.collapse
    if collapse not in COLLAPSE:
        raise AffectlabError(f"{source}: data.options.collapse must be one of {', '.join(COLLAPSE)}")
    pool = opts.pool
    if pool not in ("sequence", "mean"):
        raise AffectlabError(f"{source}: data.options.pool must be sequence or mean")
    reference = opts.reference
    if reference != "labels" and reference not in files:
        raise AffectlabError(f"{source}: data.options.reference must be 'labels' or one of the files' modalities ({', '.join(files)})")
    max_len = int(opts.max_len or 0)
    eps = float(opts.epsilon)
    text_source = opts.text_source
    t = cfg.targets[0] if cfg.targets else None
    target = TargetSpec(t.name, t.low, t.high) if t is not None else DEFAULT_TARGET

    def resolve(name: Any) -> Path:
        f = Path(str(name))
        return f if f.is_absolute() else root / f

    seqs = {m: read_csd(resolve(f)) for m, f in files.items()}
    for m, s in seqs.items():
        if s.is_text:
            raise AffectlabError(f"{source}: {files[m]} holds words, not numbers; name it under data.options.words")
    if opts.labels is None:
        raise AffectlabError(f"{source}: data.options.labels must name the label .csd file")
    labels = read_csd(resolve(opts.labels))
    words = read_csd(resolve(opts.words)) if opts.words else None
    column = int(opts.label_column)
    split_of = _load_splits(opts.splits, root, source) if opts.splits is not None else None
    if text_source == "encoder":
        if words is None:
            raise AffectlabError(f"{source}: data.options.text_source is 'encoder' but no words file is named (data.options.words)")
        seqs.pop("text", None)

    if split_of is not None:  # a video the splits name but the labels lack: a typo, or the wrong file
        unknown = sorted(set(split_of) - set(labels.data))
        if unknown:
            raise AffectlabError(f"{source}: data.options.splits names video {unknown[0]!r} (split {split_of[unknown[0]]!r}), "
                                 f"which the labels file has no segment of ({len(unknown)} such video(s))")
    rows: list[dict] = []
    per_mod: dict[str, list] = {m: [] for m in seqs}
    unlisted = 0
    for video in sorted(labels.data):
        if split_of is not None and video not in split_of:
            unlisted += 1
            continue
        lab, lab_iv = labels.data[video]
        if column >= lab.shape[1]:
            raise AffectlabError(f"{source}: label_column {column} but labels of {video!r} have {lab.shape[1]} column(s)")
        order = np.argsort(lab_iv[:, 0], kind="stable")
        # word-level (or any modality-level) reference: collapse every modality onto its intervals first
        ref_iv = seqs[reference].data.get(video, (None, None))[1] if reference != "labels" else None
        aligned = {}
        if ref_iv is not None:
            for m, s in seqs.items():
                if video in s.data:
                    aligned[m] = collapse_onto(*s.data[video], ref_iv, collapse, eps)[0]
        for i in order:
            seg = lab_iv[i]
            y = float(lab[i, column])
            row = {"id": f"{video}[{i}]", "group": video, "order": float(seg[0]), target.name: y}
            if split_of is not None:
                row["split"] = split_of[video]
            if words is not None:
                w, w_iv = words.data.get(video, (np.zeros((0, 1), "S1"), np.zeros((0, 2))))
                inside = overlapping(w_iv, seg, eps) if len(w_iv) else np.zeros(0, bool)
                tokens = [_text(x) for x in w[inside, 0]]
                row["text"] = " ".join(tok for tok in tokens if tok != "sp")
            for m, s in seqs.items():
                if ref_iv is not None:
                    steps = overlapping(ref_iv, seg, eps) if m in aligned else np.zeros(len(ref_iv), bool)
                    x = aligned[m][steps] if m in aligned else np.zeros((0, _dim(s)))
                elif video in s.data:
                    feats, ivals = s.data[video]
                    x = feats[overlapping(ivals, seg, eps)].astype(np.float64)
                else:
                    x = np.zeros((0, _dim(s)))
                if pool == "mean" and len(x):
                    with np.errstate(invalid="ignore"):
                        x = COLLAPSE[collapse](x)[None, :]
                if max_len and len(x) > max_len:
                    x = x[:max_len]
                per_mod[m].append(x)
            rows.append(row)
    if not rows:
        raise AffectlabError(f"{source}: no labelled segments (check data.options.labels and splits)")
    frame = pd.DataFrame(rows)
    if ignore_labels:  # prediction: the label file still gives the segments; its values are not used
        frame[target.name] = np.nan
    else:
        y = frame[target.name].to_numpy(dtype=float)
        if not np.isfinite(y).all():
            i = int(np.flatnonzero(~np.isfinite(y))[0])
            raise AffectlabError(f"{source}: label of {frame['id'].iloc[i]!r} is not a number")
        target.check(y, source)
    features, lengths = {}, {}
    for m, seqs_m in per_mod.items():
        lengths[m] = np.array([len(x) for x in seqs_m], dtype=np.int64)
        width = max(1, int(lengths[m].max()))
        dim = _dim(seqs[m])
        arr = np.zeros((len(seqs_m), width, dim), dtype=np.float32)
        for k, x in enumerate(seqs_m):
            arr[k, : len(x)] = x
        features[m] = arr
    features, lengths, counts = finalize_modalities(features, lengths, rule, frame["id"].tolist(), source,
                                                    frame["split"].tolist() if "split" in frame else None)
    meta = {**counts, "modalities": list(features), "text_source": text_source, "reference": reference,
            "unlisted_videos": unlisted, "sequences": {m: s.name for m, s in seqs.items()},
            **({"ignored_labels": [target.name]} if ignore_labels else {})}
    return Corpus(frame=frame, targets=(target,), features=features, lengths=lengths, name=root.name,
                  source_columns={"id": "id"}, output_columns=("id",), meta=meta)


def _dim(seq: ComputationalSequence) -> int:
    first = next(iter(seq.data.values()), None)
    return int(first[0].shape[1]) if first is not None else 0


__all__ = ["ComputationalSequence", "read_csd", "overlapping", "collapse_onto", "read_csd_corpus", "pad_concat"]
