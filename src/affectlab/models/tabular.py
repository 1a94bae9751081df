"""Mean-pooled modality features as one design matrix, standardised globally or per group.

Shared by the closed-form models on feature arrays (``ridge_<modality>``, ``logistic_<modality>``,
``svm_<modality>``): :class:`PooledModel` reads the ``modalities`` and ``standardize`` parameters,
builds the design matrix and keeps the standardisation in its state.

Columns (``columns: [start, stop]``, optional): only that slice of the pooled design's columns
(the modalities side by side, 0-based, ``stop`` exclusive, ``null`` = to the end) is used; e.g.
``columns: [0, 100]`` keeps the 88 eGeMAPS + 12 praat functionals of an extraction that appended
the 6373 ComParE ones (``configs/extract/emodb.yaml``).

Standardisation (``standardize``):

- ``global`` (default): every feature z-scored with the training rows' mean and deviation.
- ``group``: every feature z-scored within each group (speaker) of the corpus being fitted or
  predicted, with that group's own mean and deviation. This is speaker normalisation as used in
  speech emotion recognition: it uses only the *unlabelled features* of a group, never its labels,
  so applying it to a held-out speaker is legitimate; it does assume that all (or many) of that
  speaker's recordings are predicted together. Groups with fewer than 2 samples (no deviation to
  estimate) fall back to the training rows' global statistics.
- ``corpus``: every feature z-scored within each corpus (the ``corpus`` column of a run with several
  data sources; one corpus otherwise): a corpus the model was trained on with the statistics of its
  training rows, a corpus it never saw (a cross-corpus test corpus) with its own unlabelled
  features. With one corpus this is ``global``.
- a list of these (``[group, global]``): the classifiers that choose settings by inner folds
  (``logistic_<m>``, ``svm_<m>``) choose among them together with ``C``, by the same inner
  selection on the training rows only (see :mod:`affectlab.models.classifiers`); other models
  take one value.

>>> x = np.array([[1.0], [3.0], [10.0], [14.0]]); g = np.array(["a", "a", "b", "b"])
>>> s = Standardizer("group").fit(x, g)
>>> s.transform(x, g).ravel().tolist()
[-1.0, 1.0, -1.0, 1.0]
>>> Standardizer("global").fit(x, g).transform(np.array([[7.0]]), np.array(["c"])).ravel().round(3).tolist()
[0.0]
>>> s = Standardizer("corpus").fit(x[:2], g[:2], np.array(["e", "e"]))
>>> s.transform(x, g, np.array(["e", "e", "u", "u"])).ravel().tolist()
[-1.0, 1.0, -1.0, 1.0]
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from dataclasses import replace
from typing import Any, ClassVar, Optional, Union

import numpy as np
from pydantic import field_validator

from ..corpus.base import Corpus
from ..core.errors import AffectlabError
from ..core.validation import closest
from .base import Estimator, Params

STANDARDIZE = ("global", "group", "corpus")


class PooledParams(Params):
    """``model:`` keys every pooled model takes (subclasses add their own)."""

    modalities: Union[str, list[str], None] = None  # default: the model's own feature sets
    standardize: Union[str, list[str]] = "global"  # one of STANDARDIZE, or a list of them to choose from
    columns: Optional[list[Any]] = None  # [start, stop] of the pooled design (checked by column_slice)

    @field_validator("standardize", mode="before")
    @classmethod
    def _modes(cls, value: Any) -> Any:
        standardize_modes(value)  # ValueError: one line, with the closest known mode
        return list(value) if isinstance(value, tuple) else value


def standardize_modes(value: Any) -> tuple[str, ...]:
    """``standardize`` as the modes to choose from (one for a single value); ValueError when one is unknown.

    >>> standardize_modes("group"), standardize_modes(["group", "global"])
    (('group',), ('group', 'global'))
    >>> standardize_modes(["group", "gloabl"])
    Traceback (most recent call last):
    ...
    ValueError: 'gloabl' is not one of global, group, corpus (did you mean `global`?)
    """
    modes = [value] if isinstance(value, str) else value
    if not isinstance(modes, (list, tuple)) or not modes:
        raise ValueError(f"must be one of {', '.join(STANDARDIZE)} or a non-empty list of them")
    for mode in modes:
        if mode not in STANDARDIZE:
            raise ValueError(f"{mode!r} is not one of {', '.join(STANDARDIZE)}{closest(str(mode), STANDARDIZE)}")
    if len(set(modes)) < len(modes):
        raise ValueError("lists a mode twice")
    return tuple(str(m) for m in modes)


def modality_arrays(corpus: Corpus, m: str) -> tuple[np.ndarray, np.ndarray]:
    """``features[m]`` as (N, L, D) float32 and its valid lengths (N,) (full length when unknown)."""
    if m not in corpus.features:
        raise AffectlabError(f"model needs modality {m!r}, which the data does not provide")
    x = np.asarray(corpus.features[m], dtype=np.float32)
    if x.ndim == 2:
        x = x[:, None, :]
    if x.ndim != 3:
        raise AffectlabError(f"feature {m!r} has shape {x.shape}; expected (N, D) or (N, L, D)")
    length = corpus.lengths.get(m)
    length = np.full(len(x), x.shape[1], dtype=np.int64) if length is None else np.minimum(np.asarray(length, dtype=np.int64), x.shape[1])
    return x, length


def pool_mean(x: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Mean over the first ``length`` steps of each sample; NaN rows where the length is 0.

    >>> x = np.arange(12, dtype=float).reshape(2, 3, 2)
    >>> pool_mean(x, np.array([2, 0])).tolist()
    [[1.0, 2.0], [nan, nan]]
    """
    steps = (np.arange(x.shape[1])[None, :] < length[:, None])[..., None]
    total = np.where(steps, x, 0.0).sum(axis=1, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = total / length[:, None]
    out[length == 0] = np.nan
    return out


def pooled_design(corpus: Corpus, modalities: tuple[str, ...], dims: dict[str, int] | None = None) -> np.ndarray:
    """Mean-pooled features of ``modalities`` side by side (N, sum of D); NaN where a modality is missing.

    ``dims`` (the training dimensions) makes a mismatch a one-line error.
    """
    blocks = []
    for m in modalities:
        x, length = modality_arrays(corpus, m)
        if dims is not None and x.shape[2] != dims[m]:
            raise AffectlabError(f"feature {m!r} has {x.shape[2]} dimensions; the model was trained on {dims[m]}")
        blocks.append(pool_mean(x, length))
    return np.concatenate(blocks, axis=1)


def _moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NaN-aware column mean and deviation; constant or empty columns get mean 0 / scale 1."""
    finite = np.where(np.isfinite(x), x, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns (a modality missing everywhere): below
        mean, scale = np.nanmean(finite, axis=0), np.nanstd(finite, axis=0)
    return np.nan_to_num(mean), np.where(np.isfinite(scale) & (scale > 1e-8), scale, 1.0)


@dataclass
class Standardizer:
    """Z-scores features globally (training statistics) or per group (each group's own; see module docs)."""

    mode: str = "global"
    mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    scale: np.ndarray = field(default_factory=lambda: np.ones(0))
    #: ``corpus``: (mean, scale) of each corpus's training rows
    by_corpus: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mode not in STANDARDIZE:
            raise AffectlabError(f"standardize must be one of {', '.join(STANDARDIZE)}, not {self.mode!r}")

    def fit(self, x: np.ndarray, groups: np.ndarray, corpora: np.ndarray | None = None) -> "Standardizer":
        """Keep the global statistics of ``x`` (used by ``global``, and by ``group`` for tiny groups),
        and for ``corpus`` each training corpus's."""
        self.mean, self.scale = _moments(x)
        if self.mode == "corpus":
            names = _corpora(corpora, len(x))
            self.by_corpus = {str(c): _moments(x[names == c]) for c in np.unique(names)}
        return self

    def transform(self, x: np.ndarray, groups: np.ndarray, corpora: np.ndarray | None = None) -> np.ndarray:
        """Standardised ``x``; missing values (NaN) become 0, the mean."""
        z = (x - self.mean) / self.scale
        if self.mode == "corpus":
            names = _corpora(corpora, len(x))
            for c in np.unique(names):
                rows = names == c
                if str(c) in self.by_corpus:
                    mean, scale = self.by_corpus[str(c)]
                elif rows.sum() >= 2:  # a corpus never trained on: its own unlabelled statistics
                    mean, scale = _moments(x[rows])
                else:
                    continue
                z[rows] = (x[rows] - mean) / scale
        if self.mode == "group":
            groups = np.asarray(groups).astype(str)
            for g in np.unique(groups):
                rows = groups == g
                if rows.sum() >= 2:
                    mean, scale = _moments(x[rows])
                    z[rows] = (x[rows] - mean) / scale
        return np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)


def _corpora(corpora: np.ndarray | None, n: int) -> np.ndarray:
    """Corpus names as strings; one unnamed corpus when the data has none."""
    return np.full(n, "") if corpora is None else np.asarray(corpora).astype(str)


def groups_of(corpus: Corpus) -> np.ndarray:
    """The ``group`` column as strings."""
    return corpus.frame["group"].astype(str).to_numpy()


def corpora_of(corpus: Corpus) -> np.ndarray | None:
    """The ``corpus`` column (several data sources) as strings, or None."""
    return corpus.frame["corpus"].astype(str).to_numpy() if "corpus" in corpus.frame else None


class PooledModel(Estimator):
    """Base of closed-form models on mean-pooled ``modalities`` with a :class:`Standardizer`.

    Subclasses set ``modalities`` (the default feature sets) and ``Params`` (their parameter
    schema, a :class:`PooledParams` subclass), call :meth:`fit_design` in ``fit`` and
    :meth:`design` in ``predict``, and add :meth:`design_state` to their state.
    """

    modalities: ClassVar[tuple[str, ...]] = ()
    registered_name: ClassVar[str] = ""
    #: whether ``standardize`` may list several modes (chosen by the subclass's inner selection)
    chooses_standardize: ClassVar[bool] = False

    Params: ClassVar[type[Params]] = PooledParams

    def __init__(self, targets, params: Any = None, /, **raw: Any) -> None:
        super().__init__(targets, params, **raw)
        use = self.modalities if self.params.modalities is None else self.params.modalities
        self.use = (use,) if isinstance(use, str) else tuple(use)
        self.needs_features = self.use
        #: the standardisations to choose from (one: fixed)
        self.modes = standardize_modes(self.params.standardize)
        if len(self.modes) > 1 and not self.chooses_standardize:
            raise AffectlabError(f"model {self.name}: standardize takes one value here (a list is chosen from only by "
                                 f"the logistic_* and svm_* classifiers), not {list(self.modes)}")
        self.scaler = Standardizer(self.modes[0])
        self.dims: dict[str, int] | None = None
        self.columns = column_slice(self.params.columns, self.name)

    @property
    def name(self) -> str:
        return self.registered_name or type(self).__name__

    def fit_design(self, train: Corpus) -> np.ndarray:
        """The standardised training design matrix (fits the standardisation)."""
        return self.fit_designs(train)[self.scaler.mode]

    def fit_designs(self, train: Corpus) -> dict[str, np.ndarray]:
        """The training design matrix standardised by each of :attr:`modes` (fits the standardisation:
        one set of statistics serves every mode, the training corpora's kept when ``corpus`` is one)."""
        self.check_inputs(train)
        x = pooled_design(train, self.use)
        self.dims = {m: int(modality_arrays(train, m)[0].shape[2]) for m in self.use}
        x = self.select(x)
        groups, corpora = groups_of(train), corpora_of(train)
        fitted = Standardizer("corpus" if "corpus" in self.modes else self.modes[0]).fit(x, groups, corpora)
        self.scaler = replace(fitted, mode=self.modes[0])
        return {mode: replace(fitted, mode=mode).transform(x, groups, corpora) for mode in self.modes}

    def design(self, corpus: Corpus, mode: str | None = None) -> np.ndarray:
        """The standardised design matrix of ``corpus`` (after fitting); ``mode``: another standardisation
        than the fitted one's, with the same statistics."""
        if self.dims is None:
            raise RuntimeError("predict before fit")
        self.check_inputs(corpus)
        scaler = self.scaler if mode is None or mode == self.scaler.mode else replace(self.scaler, mode=mode)
        return scaler.transform(self.select(pooled_design(corpus, self.use, self.dims)), groups_of(corpus),
                                corpora_of(corpus))

    def select(self, x: np.ndarray) -> np.ndarray:
        """The ``columns`` slice of a pooled design (all columns when unset)."""
        if self.columns is None:
            return x
        start, stop = columns_within(self.columns, x.shape[1], self.name)
        return x[:, start:stop]

    def design_state(self) -> dict[str, Any]:
        """The standardisation and feature layout, as tensors and primitives."""
        from .text_features import to_tensor

        assert self.dims is not None
        out = {"mean": to_tensor(self.scaler.mean.astype(np.float64)), "scale": to_tensor(self.scaler.scale.astype(np.float64)),
               "standardize": self.scaler.mode, "dims": dict(self.dims), "modalities": list(self.use),
               "columns": [-1, -1] if self.columns is None else [self.columns[0], -1 if self.columns[1] is None else self.columns[1]]}
        if self.scaler.by_corpus:
            out["by_corpus"] = {c: [to_tensor(m.astype(np.float64)), to_tensor(sc.astype(np.float64))]
                                for c, (m, sc) in self.scaler.by_corpus.items()}
        return out

    def load_design_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`design_state` (checkpoints without ``standardize`` were global)."""
        from .text_features import to_numpy

        self.scaler = Standardizer(str(state.get("standardize", "global")), to_numpy(state["mean"]), to_numpy(state["scale"]),
                                   {str(c): (to_numpy(m), to_numpy(sc)) for c, (m, sc) in state.get("by_corpus", {}).items()})
        self.dims = {str(k): int(v) for k, v in state["dims"].items()}
        self.use = tuple(state["modalities"])
        self.needs_features = self.use
        start, stop = (int(v) for v in state.get("columns", [-1, -1]))
        self.columns = None if start < 0 else (start, None if stop < 0 else stop)


def column_slice(value: Any, model: str) -> tuple[int, int | None] | None:
    """``columns: [start, stop]`` as a checked pair (``stop`` None = to the end); None when unset.

    >>> column_slice([0, 100], "m"), column_slice(None, "m"), column_slice([100, None], "m")
    ((0, 100), None, (100, None))
    """
    if value is None:
        return None
    ok = isinstance(value, (list, tuple)) and len(value) == 2 and isinstance(value[0], int) and value[0] >= 0 \
        and (value[1] is None or (isinstance(value[1], int) and value[1] > value[0]))
    if not ok or isinstance(value[0], bool):
        raise AffectlabError(f"model {model}: columns must be [start, stop] with 0 <= start < stop (stop may be null), not {value!r}")
    return int(value[0]), None if value[1] is None else int(value[1])


def columns_within(columns: tuple[int, int | None], width: int, model: str) -> tuple[int, int]:
    """A :func:`column_slice` pair resolved against a design ``width`` columns wide; one line when it
    lies outside.

    >>> columns_within((100, None), 6473, "m")
    (100, 6473)
    >>> columns_within((0, 100), 88, "m")
    Traceback (most recent call last):
    ...
    affectlab.core.errors.AffectlabError: model m: columns [0, 100] lie outside the 88 feature columns
    """
    start, stop = columns
    if start >= width or (stop is not None and stop > width):
        raise AffectlabError(f"model {model}: columns {[start, stop]} lie outside the {width} feature columns")
    return start, width if stop is None else stop


def column_ranges(columns: tuple[int, int | None] | None, widths: tuple[int, ...], model: str) -> list[tuple[int, int]]:
    """Per block of ``widths`` columns laid side by side, the [start, stop) of its own columns that
    ``columns`` (a :func:`column_slice` pair, None = all) keeps; for a model that slices each block
    apart (``mlp``, whose layer-weighted blocks are summed over layers before they sit side by side).

    >>> column_ranges((3, 6), (4, 4, 2), "m")
    [(3, 4), (0, 2), (0, 0)]
    >>> column_ranges(None, (4, 2), "m")
    [(0, 4), (0, 2)]
    """
    start, stop = (0, sum(widths)) if columns is None else columns_within(columns, sum(widths), model)
    out, offset = [], 0
    for w in widths:
        out.append((min(max(start - offset, 0), w), min(max(stop - offset, 0), w)))
        offset += w
    return out
