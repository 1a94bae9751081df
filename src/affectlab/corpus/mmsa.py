"""MMSA pickles (CMU-MOSI, CMU-MOSEI, CH-SIMS as the MMSA toolkit ships them), read safely.

Layout: ``{'train'|'valid'|'test': {'id', 'raw_text', 'text', 'audio', 'vision', 'audio_lengths',
'vision_lengths', 'regression_labels', ...}}`` with sequences of shape (N, L, D) for any L (2-D
(N, D) arrays are read as L = 1). A file may hold any subset of the splits (a held-out file often
has only ``test``); split names are kept as in the file, so ``split.val_split: valid`` selects
MMSA's validation split. A split with no samples adds no rows (selecting it, e.g. ``predict
--split test``, says it is empty); a file whose splits are all empty is refused.

Each sample becomes one corpus row: ``id`` exactly as in the file, ``group`` = the split's
``group`` list when it has one (``affectlab extract`` writes the speaker or video there), else
the video (the part of the id before ``$_$``), ``order`` = the clip number when it parses (else
the position in the file), ``text`` = raw_text, ``split``, and one column per target of
``data.targets`` (``sentiment`` in [-3, 3] when none is declared):

- a regression target ``t`` reads ``regression_labels_<t>``; a single one also falls back to
  ``regression_labels`` (``label_key`` names another key and is then the only one read);
- a category target ``t`` (``kind: category``) reads ``category_<t>`` (strings) or
  ``classification_labels_<t>`` (class indices into the file's ``config['classes'][t]``, else
  into the declared classes; -1 = missing); a single one also the unsuffixed
  ``classification_labels``. A label outside the declared classes stops with one line; without
  declared classes they are the file's (``config['classes']``), else the sorted labels found.

``t`` is the target's ``column`` when set, else its name. Category labels stay strings in
``Corpus.frame`` (class indices in ``Corpus.target_matrix()``).
Features: ``features[m]`` (N, L, D) float32 and ``lengths[m]`` (N,) for m in text/audio/vision;
a length of 0 means the modality is missing for that sample (models then use a learned
"missing" vector).

Safety: pickles are read with :class:`RestrictedUnpickler`, which admits only built-in
containers, strings, numbers and numpy arrays. Anything else is refused with a one-line error
that points at ``--trust-pickle`` (``data.options.trust_pickle: true``), which lifts the
restriction with a warning.

Options (``data.options``): ``trust_pickle`` (false), ``nonfinite`` (zero|mean|error, default
zero; counts go to ``corpus.meta["nonfinite"]``), ``modalities`` (default: those present in every
split), ``text_source`` (``features``: the file's text arrays; ``encoder``: re-encode raw_text
with ``features.text``, cached), ``label_key`` (a single regression target's key).

>>> import pickle, tempfile, pathlib, numpy as np
>>> from affectlab.config import DataConfig
>>> part = {"id": ["vid$_$2", "vid$_$10"], "raw_text": ["good", "bad"],
...         "text": np.ones((2, 1, 4), np.float32), "audio": np.zeros((2, 3, 2), np.float32),
...         "audio_lengths": np.array([3, 1]), "regression_labels": np.array([1.4, -2.0])}
>>> p = pathlib.Path(tempfile.mkdtemp()) / "m.pkl"
>>> p.write_bytes(pickle.dumps({"test": part}))  and None
>>> c = read_mmsa(p, DataConfig(format="mmsa"))
>>> c.frame[["id", "group", "order", "split", "sentiment"]].values.tolist()
[['vid$_$2', 'vid', 2.0, 'test', 1.4], ['vid$_$10', 'vid', 10.0, 'test', -2.0]]
>>> c.features["audio"].shape, c.lengths["audio"].tolist(), sorted(c.features)
((2, 3, 2), [3, 1], ['audio', 'text'])
"""

from __future__ import annotations

import dataclasses
import io
import logging
import pickle
import warnings
from pathlib import Path
from typing import Any, Literal, Optional, Union

import numpy as np
import pandas as pd

from ..config import DataConfig
from ..core.errors import AffectlabError
from ..core.io import unreadable
from .base import Corpus, TargetSpec, is_missing_label
from .nonfinite import check_rule, replace_nonfinite
from ..tasks import get_task
from .registry import ReaderOptions, get_reader, register_reader

log = logging.getLogger(__name__)

MODALITIES = ("text", "audio", "vision")


def is_modality(name: str) -> bool:
    """Whether ``data.options.modalities`` may name ``name``: text, audio, vision, or a further
    feature array of one of them, ``<modality>_<what>`` (e.g. ``audio_ssl``, the pooled vectors of a
    pretrained speech encoder, or ``audio_lld``); never a ``_lengths`` array.

    >>> [is_modality(m) for m in ("audio", "audio_ssl", "audio_ssl_frames", "audio_lengths", "speech")]
    [True, True, True, False, False]
    """
    if name in MODALITIES:
        return True
    head, _, rest = name.partition("_")
    return head in MODALITIES and bool(rest) and not name.endswith("_lengths") and name.replace("_", "").isalnum()
DEFAULT_TARGET = get_task("mosi").target_ranges[0]  # sentiment in [-3, 3], as the mosi task declares
TEXT_SOURCES = ("features", "encoder")

_BUILTINS = {"dict", "list", "tuple", "set", "frozenset", "str", "bytes", "bytearray", "int", "float",
             "complex", "bool", "slice", "range"}
#: the globals a pickle of plain containers and numpy arrays needs (numpy 1 and numpy 2 names)
SAFE_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {("builtins", n) for n in _BUILTINS}
    | {("collections", "OrderedDict")}
    | {("_codecs", "encode")}  # protocol-2 pickles carry array bytes as latin-1 text (torch allows it too)
    | {(f"numpy.{core}.multiarray", n) for core in ("core", "_core") for n in ("_reconstruct", "scalar")}
    | {(f"numpy.{core}.numeric", "_frombuffer") for core in ("core", "_core")}  # protocol-5 arrays
    | {("numpy", "ndarray"), ("numpy", "dtype")}
    # dtype classes numpy 1.25+ pickles for dtype objects (e.g. numpy.dtypes.Float32DType)
    | {("numpy.dtypes", n) for n in ("Float16DType", "Float32DType", "Float64DType", "Int8DType", "Int16DType",
                                      "Int32DType", "Int64DType", "UInt8DType", "UInt16DType", "UInt32DType",
                                      "UInt64DType", "BoolDType", "StrDType", "BytesDType", "ObjectDType")}
)


class ForeignObjectError(pickle.UnpicklingError):
    """The pickle references a global outside :data:`SAFE_GLOBALS`."""


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only :data:`SAFE_GLOBALS`; anything else raises.

    >>> import pickle, io
    >>> RestrictedUnpickler(io.BytesIO(pickle.dumps({"a": [1, 2.0, "x"]}))).load()
    {'a': [1, 2.0, 'x']}
    >>> RestrictedUnpickler(io.BytesIO(pickle.dumps(print))).load()
    Traceback (most recent call last):
    ...
    affectlab.corpus.mmsa.ForeignObjectError: builtins.print
    """

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in SAFE_GLOBALS:
            return super().find_class(module, name)
        raise ForeignObjectError(f"{module}.{name}")


def load_pickle(path: str | Path, trust: bool = False) -> Any:
    """Unpickle ``path`` (restricted unless ``trust``), with one-line errors for unreadable files."""
    p = Path(path)
    if p.is_dir():
        raise AffectlabError(f"{p}: is a folder, expected an MMSA pickle")
    try:
        raw = p.read_bytes()
    except OSError as err:  # no permission, a vanished file, an I/O error
        raise unreadable(p, err) from None
    if not raw:
        raise AffectlabError(f"{p}: file is empty")
    try:
        if trust:
            msg = f"{p}: loading with --trust-pickle: arbitrary code in this file can run"
            log.warning(msg)
            warnings.warn(msg, stacklevel=2)
            return pickle.loads(raw)  # noqa: S301 (the user asked for it)
        return RestrictedUnpickler(io.BytesIO(raw)).load()
    except ForeignObjectError as err:
        raise AffectlabError(f"{p}: refused to load object {err} (only containers, strings, numbers and "
                             "numpy arrays are allowed); pass --trust-pickle if you trust this file") from None
    except AffectlabError:
        raise
    except Exception as err:  # UnpicklingError, EOFError, ValueError, ImportError...: not a usable pickle
        raise AffectlabError(f"{p}: not a readable pickle ({type(err).__name__}: {str(err)[:120]})") from None


def _as_sequences(value: Any, key: str, n: int, where: str) -> np.ndarray:
    """A (N, L, D) float32 array from an array (or list of equal arrays), else a one-line error."""
    try:
        arr = np.asarray(value)
    except ValueError:  # numpy >= 1.24 refuses ragged nested lists outright (and an object array of
        # per-sample arrays that differ after their first axis cannot even be built)
        arr = np.empty(0, dtype=object)
    if arr.dtype == object:
        raise AffectlabError(f"{where}: {key!r} is ragged (samples of different shapes); expected one (N, L, D) array "
                             "padded to a common length, with the true lengths in '<modality>_lengths'")
    if arr.ndim == 2:
        arr = arr[:, None, :]
    if arr.ndim != 3:
        raise AffectlabError(f"{where}: {key!r} has shape {arr.shape}; expected (N, L, D) or (N, D)")
    if not np.issubdtype(arr.dtype, np.number) and arr.dtype != bool:
        raise AffectlabError(f"{where}: {key!r} holds {arr.dtype} values, not numbers")
    if len(arr) != n:
        raise AffectlabError(f"{where}: {key!r} has {len(arr)} samples but 'id' has {n}")
    return arr.astype(np.float32, copy=False)


def _as_lengths(value: Any, key: str, n: int, seq_len: int, where: str) -> tuple[np.ndarray, int]:
    """Valid lengths (N,) as int64, clipped to L (also returns how many were clipped)."""
    arr = np.asarray(value)
    if arr.dtype == object or arr.size != n:
        raise AffectlabError(f"{where}: {key!r} has {arr.size} values but 'id' has {n}")
    arr = arr.reshape(n).astype(float)
    if not np.isfinite(arr).all() or (arr != np.round(arr)).any() or (arr < 0).any():
        i = int(np.flatnonzero(~np.isfinite(arr) | (arr != np.round(arr)) | (arr < 0))[0])
        raise AffectlabError(f"{where}: {key!r} value {arr[i]!r} at row {i + 1} is not a count of time steps")
    clipped = int((arr > seq_len).sum())  # longer sequences were truncated to L by whoever padded them
    return np.minimum(arr, seq_len).astype(np.int64), clipped


def _ids(value: Any, where: str) -> list[str]:
    if isinstance(value, np.ndarray):
        value = value.reshape(-1).tolist()
    if not isinstance(value, (list, tuple)):
        raise AffectlabError(f"{where}: 'id' is a {type(value).__name__}, expected a list of strings")
    out = [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in value]
    seen: set[str] = set()
    for v in out:
        if v in seen:
            raise AffectlabError(f"{where}: duplicate id {v!r}")
        seen.add(v)
    return out


def split_video_clip(sample_id: str) -> tuple[str, float | None]:
    """``'vid$_$12'`` → ``('vid', 12.0)``; ids without ``$_$`` (or a non-numeric clip) keep no clip.

    >>> split_video_clip("03bSnISJMiM$_$11"), split_video_clip("abc")
    (('03bSnISJMiM', 11.0), ('abc', None))
    """
    if "$_$" not in sample_id:
        return sample_id, None
    video, clip = sample_id.rsplit("$_$", 1)
    try:
        return video, float(int(clip))
    except ValueError:
        return video, None


def pad_concat(arrays: list[np.ndarray]) -> np.ndarray:
    """Concatenate (N_i, L_i, D) arrays along N, zero-padding L to the longest."""
    width = max(a.shape[1] for a in arrays)
    return np.concatenate([np.pad(a, ((0, 0), (0, width - a.shape[1]), (0, 0))) for a in arrays], axis=0)


def finalize_modalities(features: dict[str, np.ndarray], lengths: dict[str, np.ndarray], rule: str,
                        ids: list[str], source: str, splits: list[str] | None = None
                        ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict]:
    """Apply the non-finite rule per modality; samples whose valid steps are all non-finite become missing.

    Returns features, lengths and ``{"nonfinite": {m: count}, "missing": {m: count}}``, plus
    ``"nonfinite_by_split": {split: {m: count}}`` when each row's ``splits`` name is given.
    """
    nonfinite: dict[str, int] = {}
    missing: dict[str, int] = {}
    by_split: dict[str, dict[str, int]] = {}
    for m in list(features):
        x, length = features[m], lengths[m]
        if splits is not None:
            per_row = (~np.isfinite(x)).reshape(len(x), -1).sum(axis=1)
            for name, n in pd.Series(per_row).groupby(np.asarray(splits, dtype=str), sort=False).sum().items():
                by_split.setdefault(str(name), {})[m] = int(n)
        steps = np.arange(x.shape[1])[None, :] < length[:, None]  # (N, L) valid steps
        finite_row = (np.isfinite(x).all(axis=2) | ~steps).all(axis=1)
        all_bad = (~np.isfinite(x).any(axis=2) | ~steps).all(axis=1) & (length > 0)
        if all_bad.any() and all_bad.sum() == (length > 0).sum():
            raise AffectlabError(f"{source}: modality {m!r} has no finite values (all NaN/inf); "
                                 f"leave it out with data.options.modalities")
        if not finite_row.all() and rule != "error":
            length = np.where(all_bad, 0, length)  # nothing usable left: mark it missing, not zero
        features[m], nonfinite[m] = replace_nonfinite(x, rule, m, source, ids)
        lengths[m] = length
        missing[m] = int((length == 0).sum())
    counts = {"nonfinite": nonfinite, "missing": missing}
    return features, lengths, ({**counts, "nonfinite_by_split": by_split} if splits is not None else counts)



class MmsaOptions(ReaderOptions):
    """``data.options`` of the ``mmsa`` reader (see the module docstring)."""

    trust_pickle: bool = False
    nonfinite: Literal["zero", "mean", "error"] = "zero"
    modalities: Union[str, list[str], None] = None
    text_source: Literal["features", "encoder"] = "features"
    label_key: Optional[str] = None




def declared_targets(cfg: DataConfig, source: str) -> tuple[tuple[TargetSpec, str], ...]:
    """The config's targets, each with the suffix of its keys in the pickle (``column``, default its name).

    ``sentiment`` in [-3, 3] when none are declared.

    >>> from affectlab.config import DataConfig
    >>> declared_targets(DataConfig(format="mmsa", targets=[{"name": "emotion", "kind": "category"}]), "f")
    ((TargetSpec(name='emotion', low=None, high=None, kind='category', classes=()), 'emotion'),)
    """
    if not cfg.targets:
        return ((DEFAULT_TARGET, DEFAULT_TARGET.name),)
    out = []
    for t in cfg.targets:
        if t.kind == "category" and (t.low is not None or t.high is not None):
            raise AffectlabError(f"{source}: category target {t.name!r} has classes, not a range (low/high)")
        out.append((TargetSpec(t.name, t.low, t.high, t.kind, tuple(t.classes)), t.column or t.name))
    return tuple(out)


def _file_classes(config: Any) -> dict[str, list[str]]:
    """``config['classes']`` of a pickle written by ``affectlab extract`` (class order per category)."""
    classes = config.get("classes") if isinstance(config, dict) else None
    if not isinstance(classes, dict):
        return {}
    return {str(k): [str(c) for c in v] for k, v in classes.items() if isinstance(v, (list, tuple))}


def extraction(config: Any) -> dict[str, str]:
    """What made each modality of a pickle written by ``affectlab extract`` (its ``config``), in a
    few words, for messages such as a feature-dimension mismatch at prediction; {} for other files.

    >>> extraction({"extractors": ["egemaps", "praat"], "labels": {"path": "labels.csv"},
    ...             "params": {"audio": {"egemaps": True, "praat": True, "compare": False, "sequence": "functionals"}}})
    {'audio': 'eGeMAPS + praat functionals, affectlab extract of labels.csv'}
    """
    if not isinstance(config, dict) or not isinstance(config.get("extractors"), list):
        return {}
    params: dict = config["params"] if isinstance(config.get("params"), dict) else {}
    labels: dict = config["labels"] if isinstance(config.get("labels"), dict) else {}
    origin = f", affectlab extract of {labels['path']}" if labels.get("path") else ", affectlab extract"
    if config.get("config_path"):  # the extract config's file, when the pickle records it
        origin += f" with {config['config_path']}"
    names = [str(e) for e in config["extractors"]]
    out: dict[str, str] = {}
    audio: dict = params["audio"] if isinstance(params.get("audio"), dict) else {}
    if audio and ("egemaps" in names or "praat" in names or audio.get("compare")):
        parts = [label for key, label in (("egemaps", "eGeMAPS"), ("praat", "praat"), ("compare", "ComParE 2016"))
                 if audio.get(key)]
        kind = "LLD frames" if audio.get("sequence") == "lld" and audio.get("egemaps") else "functionals"
        out["audio"] = f"{' + '.join(parts)} {kind}{origin}"
    for entry in audio.get("ssl") or []:
        if isinstance(entry, dict) and entry.get("key"):
            pooled = "every layer pooled" if entry.get("layers") == "all" else f"{entry.get('pooling', 'mean_std')} pooled"
            out[str(entry["key"])] = f"{entry.get('kind')} encoder {entry.get('name')} ({pooled}){origin}"
    if "facemesh" in names:
        out["vision"] = f"FaceMesh geometry{origin}"
    text = next((e for e in names if e.startswith("text:")), None)
    if text:
        out["text"] = f"{text.split(':', 1)[1]} embeddings{origin}"
    return out


def extract_params(config: Any) -> dict[str, Any]:
    """The extract settings (``config['params']``) of a pickle written by ``affectlab extract``; {} for other files.

    >>> extract_params({"extractors": ["egemaps"], "params": {"audio": {"egemaps": True}}})
    {'audio': {'egemaps': True}}
    """
    if not isinstance(config, dict) or not isinstance(config.get("extractors"), list):
        return {}
    params = config.get("params")
    return dict(params) if isinstance(params, dict) else {}


def _groups(part: dict, n: int, where: str) -> list[str] | None:
    """The split's own ``group`` list (speaker, video) when it has one; else None (groups come from ids)."""
    if "group" not in part:
        return None
    groups = part["group"]
    groups = groups.reshape(-1).tolist() if isinstance(groups, np.ndarray) else groups
    if not isinstance(groups, (list, tuple)) or len(groups) != n:
        raise AffectlabError(f"{where}: 'group' has {len(groups) if hasattr(groups, '__len__') else '?'} entries but 'id' has {n}")
    return [g.decode("utf-8") if isinstance(g, bytes) else str(g) for g in groups]


def label_keys(target: TargetSpec, stem: str, label_key: str | None, *, single: bool) -> list[str]:
    """The keys a target's labels are read from, first found wins (see :func:`read_labels`).

    >>> label_keys(TargetSpec("emotion", kind="category"), "emotion", None, single=True)
    ['category_emotion', 'classification_labels_emotion', 'classification_labels']
    """
    if target.is_category:
        return [f"category_{stem}", f"classification_labels_{stem}"] + (["classification_labels"] if single else [])
    if single and label_key is not None:
        return [label_key]
    return [f"regression_labels_{stem}"] + (["regression_labels"] if single else [])


def read_labels(part: dict, target: TargetSpec, stem: str, file_classes: dict[str, list[str]], label_key: str | None,
                *, single: bool, ids: list[str], where: str, require_labels: bool) -> np.ndarray | list:
    """One target's labels in a split: floats for regression, strings (None = missing) for a category.

    Keys, first found wins (``t`` = the target's name or ``column``): a category reads
    ``category_<t>`` (strings), else ``classification_labels_<t>`` (indices into the file's
    ``config['classes'][t]``, else into the declared classes; -1 = missing), and a single category
    target also the unsuffixed ``classification_labels``. A regression target reads
    ``regression_labels_<t>``, and a single one also ``label_key`` (default ``regression_labels``;
    when ``label_key`` is set it is the only key read).

    >>> t = TargetSpec("emotion", kind="category", classes=("anger", "joy"))
    >>> read_labels({"classification_labels_emotion": np.array([1, -1])}, t, "emotion", {}, None, single=True,
    ...             ids=["a", "b"], where="f", require_labels=False)
    ['joy', None]
    >>> read_labels({"classification_labels_emotion": np.array([1, -1])}, t, "emotion", {}, None, single=True,
    ...             ids=["a", "b"], where="f", require_labels=True)
    Traceback (most recent call last):
    ...
    affectlab.core.errors.AffectlabError: f: label of id 'b' is missing ('classification_labels_emotion'); training needs a label for every sample
    """
    n = len(ids)
    keys = label_keys(target, stem, label_key, single=single)
    key = next((k for k in keys if k in part), None)
    if key is None:
        if require_labels:
            raise AffectlabError(f"{where}: lacks the labels {' or '.join(map(repr, keys))} of target {target.name!r} "
                                 f"needed for training (has: {', '.join(map(str, part))})")
        return [None] * n if target.is_category else np.full(n, np.nan)
    if target.is_category:
        # indices refer to the classes the file was written with; the unsuffixed key to its first category
        written = file_classes.get(stem) if key.endswith(f"_{stem}") else next(iter(file_classes.values()), None)
        labels = _category_labels(part[key], key, target, written, n, where)
        target.check(np.asarray(labels, dtype=object), where)  # a category: labels outside the classes
        missing = [i for i, label in enumerate(labels) if label is None]
        if missing and require_labels and single:  # as a single regression target's NaN: training needs each label
            raise AffectlabError(f"{where}: label of id {ids[missing[0]]!r} is missing ({key!r}); training needs a "
                                 "label for every sample")
        return labels
    y = np.asarray(part[key])
    if y.dtype == object or y.size != n or not np.issubdtype(y.dtype, np.number):
        raise AffectlabError(f"{where}: {key!r} has {y.size} {y.dtype} values but 'id' has {n} (expected numbers)")
    y = y.reshape(n).astype(float)
    bad = np.isinf(y) | (np.isnan(y) & require_labels & single)  # with several targets NaN = not labelled
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise AffectlabError(f"{where}: label of id {ids[i]!r} is {y[i]!r}, not a number")
    low = -np.inf if target.low is None else target.low
    high = np.inf if target.high is None else target.high
    outside = ~np.isnan(y) & ((y < low) | (y > high))
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise AffectlabError(f"{where}: label {y[i]:g} of id {ids[i]!r} is outside [{low:g}, {high:g}]")
    return y


def _category_labels(value: Any, key: str, target: TargetSpec, file_classes: list[str] | None, n: int,
                     where: str) -> list:
    """Class names from strings, or from indices into the file's classes (else the declared ones)."""
    raw = value.reshape(-1).tolist() if isinstance(value, np.ndarray) else value
    if not isinstance(raw, (list, tuple)) or len(raw) != n:
        raise AffectlabError(f"{where}: {key!r} has {len(raw) if hasattr(raw, '__len__') else '?'} entries but 'id' has {n}")
    if key.startswith("category_"):
        labels = [v.decode("utf-8") if isinstance(v, bytes) else v for v in raw]
        return [None if is_missing_label(v) else str(v) for v in labels]
    classes = file_classes or list(target.classes)
    if not classes:
        raise AffectlabError(f"{where}: {key!r} holds class indices, but neither the file nor the config names "
                             f"the classes of {target.name!r} (declare data.targets[].classes)")
    out: list = []
    for i, v in enumerate(raw):
        f = float(v) if isinstance(v, (int, float, np.number)) and not isinstance(v, bool) else np.nan
        if np.isnan(f) or f == -1:
            out.append(None)
        elif f != int(f) or not 0 <= f < len(classes):
            raise AffectlabError(f"{where}: {key!r} value {v!r} in data row {i + 1} is not a class index "
                                 f"(0..{len(classes) - 1}, or -1 for missing)")
        else:
            out.append(classes[int(f)])
    return out


@register_reader("mmsa", options=MmsaOptions, default_targets=(DEFAULT_TARGET,))
def read_mmsa(path: str | Path, cfg: DataConfig | None = None, *, require_labels: bool = False,
              ignore_labels: bool = False) -> Corpus:
    """Read an MMSA pickle into a :class:`Corpus` (see the module docstring for options)."""
    cfg = cfg or DataConfig(format="mmsa")
    source = str(path)
    opts: MmsaOptions = get_reader("mmsa").check_options(cfg.options, source)
    rule = check_rule(opts.nonfinite, source)
    text_source = opts.text_source
    if text_source not in TEXT_SOURCES:
        raise AffectlabError(f"{source}: data.options.text_source must be features or encoder, not {text_source!r}")
    declared = declared_targets(cfg, source)
    targets = tuple(t for t, _ in declared)
    label_key = opts.label_key
    if label_key is not None and len(targets) > 1:
        raise AffectlabError(f"{source}: data.options.label_key names one label array, but the config declares "
                             f"{len(targets)} targets (each is read from its own key; see the reader's docs)")

    data = load_pickle(path, opts.trust_pickle)
    if not isinstance(data, dict) or not data:
        raise AffectlabError(f"{source}: expected a dict of splits such as {{'train': {{...}}, 'test': {{...}}}}, "
                             f"got {type(data).__name__}")
    file_classes = _file_classes(data.get("config"))
    splits = {}
    for name, part in data.items():
        if name == "config":  # metadata written by 'affectlab extract' (extractors, versions), not a split
            continue
        if not isinstance(part, dict):
            raise AffectlabError(f"{source}: split {name!r} is a {type(part).__name__}, expected a dict of arrays")
        if "id" not in part:
            raise AffectlabError(f"{source}: split {name!r} lacks key 'id' (has: {', '.join(map(str, part))})")
        splits[str(name)] = part

    wanted = opts.modalities
    if wanted is None:
        modalities = [m for m in MODALITIES if all(m in part for part in splits.values())]
    else:
        modalities = [str(m) for m in ([wanted] if isinstance(wanted, str) else wanted)]
        for m in modalities:
            if not is_modality(m):
                raise AffectlabError(f"{source}: data.options.modalities: unknown modality {m!r} (choose from "
                                     f"{', '.join(MODALITIES)}, or a feature array such as audio_ssl)")
            for name, part in splits.items():
                if m not in part:
                    raise AffectlabError(f"{source}: split {name!r} lacks key {m!r} (has: {', '.join(map(str, part))})")
    if text_source == "encoder":
        modalities = [m for m in modalities if m != "text"]  # re-encoded from raw_text by the pipeline
        for name, part in splits.items():
            if "raw_text" not in part:
                raise AffectlabError(f"{source}: data.options.text_source is 'encoder' but split {name!r} has no 'raw_text'")

    frames: list[pd.DataFrame] = []
    feats: dict[str, list[np.ndarray]] = {m: [] for m in modalities}
    lens: dict[str, list[np.ndarray]] = {m: [] for m in modalities}
    clipped_total: dict[str, int] = {}
    ignored: set[str] = set()
    for name, part in splits.items():
        where = f"{source}: split {name!r}"
        ids = _ids(part["id"], where)
        n = len(ids)
        if n == 0:  # an empty split holds nothing to read (its arrays may have any shape); named by split_part
            continue
        frame = pd.DataFrame({"id": ids})
        parsed = [split_video_clip(i) for i in ids]
        frame["group"] = _groups(part, n, where) or [g for g, _ in parsed]
        frame["order"] = [c if c is not None else float(k) for k, (_, c) in enumerate(parsed)]
        if "raw_text" in part:
            raw = part["raw_text"]
            raw = raw.tolist() if isinstance(raw, np.ndarray) else raw
            if not isinstance(raw, (list, tuple)) or len(raw) != n:
                raise AffectlabError(f"{where}: 'raw_text' has {len(raw) if hasattr(raw, '__len__') else '?'} entries but 'id' has {n}")
            frame["text"] = [r.decode("utf-8") if isinstance(r, bytes) else str(r) for r in raw]
        frame["split"] = name
        for target, stem in declared:
            if ignore_labels:  # prediction: the labels are not read, so none refuses the file
                if any(k in part for k in label_keys(target, stem, label_key, single=len(targets) == 1)):
                    ignored.add(target.name)
                frame[target.name] = [None] * n if target.is_category else np.full(n, np.nan)
                continue
            frame[target.name] = read_labels(part, target, stem, file_classes, label_key, single=len(targets) == 1,
                                             ids=ids, where=where, require_labels=require_labels)
        for m in modalities:
            x = _as_sequences(part[m], m, n, where)
            key = f"{m}_lengths"
            if key in part:
                length, clipped = _as_lengths(part[key], key, n, x.shape[1], where)
                clipped_total[m] = clipped_total.get(m, 0) + clipped
            else:
                length = np.full(n, x.shape[1], dtype=np.int64)
            feats[m].append(x)
            lens[m].append(length)
        frames.append(frame)

    if not frames:
        raise AffectlabError(f"{source}: has no samples (every split is empty: {', '.join(splits)})")
    frame = pd.concat(frames, ignore_index=True)
    twice = frame["id"].duplicated(keep=False)
    if twice.any():  # one sample in two splits: trained on and scored on (and two rows in a prediction file)
        first = frame.loc[twice, "id"].iloc[0]
        in_splits = sorted(set(frame.loc[frame["id"] == first, "split"]))
        raise AffectlabError(f"{source}: id {first!r} is in splits {', '.join(in_splits)}; an id belongs to one split")
    # undeclared classes: the order the file records ('affectlab extract' keeps the labels table's), else sorted
    targets = tuple(t if not t.is_category or t.classes else
                    (dataclasses.replace(t, classes=tuple(file_classes[stem])) if stem in file_classes
                     else t.with_classes_from(frame[t.name])) for t, stem in declared)
    for m in modalities:
        dims = {a.shape[2] for a in feats[m]}
        if len(dims) > 1:
            raise AffectlabError(f"{source}: modality {m!r} has different feature sizes across splits ({sorted(dims)})")
    features = {m: pad_concat(feats[m]) for m in modalities}
    lengths = {m: np.concatenate(lens[m]) for m in modalities}
    features, lengths, counts = finalize_modalities(features, lengths, rule, frame["id"].tolist(), source,
                                                    frame["split"].tolist())
    meta = {**counts, "modalities": modalities, "text_source": text_source,
            "lengths_clipped": {m: c for m, c in clipped_total.items() if c}, "splits": list(splits)}
    if ignored:
        meta["ignored_labels"] = [t.name for t in targets if t.name in ignored]
    made_by = extraction(data.get("config"))
    if made_by:  # what made each modality (affectlab extract), for a feature-dimension mismatch at prediction
        meta["extraction"] = made_by
    params = extract_params(data.get("config"))
    if params:  # the extract settings that made the features: predict refuses data made otherwise
        meta["extract_params"] = params
    return Corpus(frame=frame, targets=targets, features=features, lengths=lengths, name=Path(path).name,
                  source_columns={"id": "id"}, output_columns=("id",), meta=meta)


# ---------------------------------------------------------------------------------------------
# Gold labels for ``affectlab evaluate`` (the Reader spec's ``read_gold`` slot)

def groups_from_ids(ids: "list[str] | pd.Series") -> "np.ndarray | None":
    """The video of each MOSI-style ``<video>$_$<clip>`` id; None unless every id has that form.

    >>> groups_from_ids(["v1$_$1", "v1$_$2", "v2$_$1"]).tolist(), groups_from_ids(["a", "v$_$1"])
    (['v1', 'v1', 'v2'], None)
    """
    ids = [str(i) for i in ids]
    if not ids or not all("$_$" in i for i in ids):
        return None
    return np.array([split_video_clip(i)[0] for i in ids], dtype=object)


def read_gold(path: str | Path, *, trust_pickle: bool = False) -> pd.DataFrame:
    """An MMSA pickle's gold labels as a string table ``id, group, split, text, sentiment`` (the
    reader unpickles safely; ``trust_pickle`` allows arbitrary objects). Self-contained: it reads the
    file with :func:`read_mmsa` and keeps what ``affectlab evaluate`` scores against.

    >>> import pickle, tempfile
    >>> part = {"id": ["v$_$1", "v$_$2"], "raw_text": ["a", "b"], "text": np.zeros((2, 1, 3), np.float32),
    ...         "regression_labels": np.array([0.5, -1.0], np.float32)}
    >>> p = Path(tempfile.mkdtemp()) / "gold.pkl"; _ = p.write_bytes(pickle.dumps({"test": part}))
    >>> read_gold(p)[["id", "group", "split", "sentiment"]].values.tolist()
    [['v$_$1', 'v', 'test', '0.5'], ['v$_$2', 'v', 'test', '-1.0']]
    """
    corpus = read_mmsa(path, DataConfig(format="mmsa", options={"trust_pickle": trust_pickle}), require_labels=True)
    frame = corpus.frame
    cols = [c for c in ("id", "group", "split", "text", "sentiment") if c in frame]
    out = frame[cols].copy()
    out["sentiment"] = out["sentiment"].astype(float).map(repr)
    return out.astype({c: str for c in cols if c != "text"})


#: the task an MMSA gold file's predictions belong to when no ``--task`` is given
GOLD_TASK = "mosi"
