"""A user's own model by ``module:Class`` in ``model.name`` (like LightningCLI's ``class_path``).

``MODELS.get("mypkg.models:MyModel")`` imports ``mypkg.models`` and takes ``MyModel``:

- an :class:`~affectlab.models.base.Estimator` subclass is used as it is;
- any scikit-learn-style estimator (a class with ``fit`` and ``predict``) is wrapped by
  :class:`SklearnEstimator`: it is fitted on the corpus's feature matrix, every other key of
  the ``model`` section is passed to its constructor (``random_state`` defaults to the run's
  seed when the class takes one).

Adapter parameters (not passed to the class): ``inputs`` (feature arrays to use, e.g.
``[text]`` for sentence embeddings, ``[tabular]`` for numeric table columns, ``[audio, vision]``;
default: every array the data already has, else ``text``) and ``per_target`` (default true: one
estimator per target, fitted on the rows labelled for it; false: one multi-output fit). 2-D
arrays are used as they are; sequences (N, L, D) are mean-pooled over their valid steps;
blocks are concatenated. Category targets are fitted on class indices.

Checkpoints load with ``torch.load(weights_only=True)``, so no pickled object may be stored.
The adapter stores, first that works (``state()["mode"]`` says which):

- ``attributes``: ``get_params()`` and the fitted attributes (``coef_``, ``intercept_``...) when
  they are all arrays and primitives *and* an estimator rebuilt from them predicts exactly as the
  fitted one (linear models, naive Bayes...);
- ``skops``: the fitted estimators written by ``skops.io.dumps`` (a zip of JSON and ``.npy``
  arrays, no pickle), kept as bytes in a uint8 tensor (trees, forests, boosting, pipelines...),
  made to depend on the model only (:func:`canonical_skops`: equal fits, equal checkpoint bytes).
  Loading uses skops's trusted-types check: only the types skops deems safe, plus
  :func:`trusted_types` (the run's own class and scikit-learn's fitted-tree structures, which
  skops leaves to the user because a crafted tree can crash the process). Reaching a load at all
  needs the run to be trusted (below): its config names a module outside affectlab. Any other
  type in the bytes is refused in one line; such a model is stored as ``refit`` when it is saved;
- ``refit``: the training matrix and labels, refitted when the checkpoint is loaded (as slow as
  training; identical for deterministic estimators and those with a fixed ``random_state``,
  which is why ``random_state`` defaults to the run's seed). Run directories written before
  ``skops`` existed hold this mode for every tree model, and still load.

>>> est_cls = resolve("sklearn.linear_model:Ridge")
>>> est_cls.__name__, est_cls.external_class.__name__
('Ridge', 'Ridge')
>>> resolve("affectlab.models.baselines:GlobalMean").__name__
'GlobalMean'

Trust: importing a module runs its module-level code. ``train`` imports what its own config
names; a run directory is data that may come from elsewhere, so ``predict`` on a run that names a
module outside affectlab needs ``--trust-code`` (``AFFECTLAB_TRUST_CODE=1``, ``trust_code=True``
in the API): :func:`require_trusted`. Every module outside affectlab that gives a model class is
said on stderr, once per module (an import that fails is named by its one error line instead).
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from pathlib import Path
from typing import Any, ClassVar, Iterable

import numpy as np

from ..corpus.base import Corpus, TargetSpec
from ..core.errors import AffectlabError
from pydantic import ConfigDict

from .base import Estimator, FitContext, FitResult, Params, clip_to_ranges

#: adapter parameters; everything else in the model section goes to the wrapped class
ADAPTER_PARAMS = ("inputs", "per_target")
_CACHE: dict[str, type] = {}
#: the environment variable that trusts the code a run directory names, as ``--trust-code`` does
TRUST_ENV = "AFFECTLAB_TRUST_CODE"
_NOTED: set[str] = set()


def is_class_path(name: str) -> bool:
    """True for ``module:Class`` names (a registered model name has no colon)."""
    return ":" in name


def outside_module(name: Any) -> str | None:
    """The module a ``module:Class`` name imports when it lies outside affectlab, else None.

    >>> outside_module("mypkg.models:Net"), outside_module("affectlab.models.baselines:GlobalMean"), outside_module("ridge")
    ('mypkg.models', None, None)
    """
    if not isinstance(name, str) or not is_class_path(name):
        return None
    module = name.partition(":")[0].strip()
    return None if module.split(".")[0] == "affectlab" else module


def trust_from_env() -> bool:
    """Whether ``AFFECTLAB_TRUST_CODE`` trusts run directories' code (``1``, ``true`` or ``yes``)."""
    return os.environ.get(TRUST_ENV, "").strip().lower() in ("1", "true", "yes")


def named_models(config: Any) -> list[str]:
    """The model names a plain-data config names (``model.name`` and ``baselines``).

    >>> named_models({"model": {"name": "m:C"}, "baselines": ["ridge_text", "b:D"]})
    ['m:C', 'ridge_text', 'b:D']
    """
    if not isinstance(config, dict):
        return []
    model = config.get("model")
    names = [model.get("name")] if isinstance(model, dict) else []
    baselines = config.get("baselines")
    names += list(baselines) if isinstance(baselines, (list, tuple)) else []
    return [n for n in names if isinstance(n, str)]


def require_trusted(names: Iterable[Any], where: str, trust: bool, flag: str = "--trust-code",
                    action: str = "predicting") -> None:
    """Refuse, before anything is imported, a model name whose module lies outside affectlab unless
    ``trust`` (or ``AFFECTLAB_TRUST_CODE``): importing it would run that module's code.

    >>> require_trusted(["ridge_text", "affectlab.models.baselines:GlobalMean"], "run", trust=False)
    >>> require_trusted(["mypkg.models:Net"], "runs/a", trust=False)
    Traceback (most recent call last):
    ...
    affectlab.core.errors.AffectlabError: runs/a: names model mypkg.models:Net, and predicting imports module 'mypkg.models', which runs its code; pass --trust-code (or set AFFECTLAB_TRUST_CODE=1) if you trust this run directory
    """
    if trust or trust_from_env():
        return
    for name in names:
        module = outside_module(name)
        if module is not None:
            raise AffectlabError(f"{where}: names model {name}, and {action} imports module {module!r}, which runs "
                                 f"its code; pass {flag} (or set {TRUST_ENV}=1) if you trust this run directory")


def _note_import(spec: str, module: str) -> None:
    """Say on stderr, once per module, that a module outside affectlab is imported (its code runs)."""
    if module in _NOTED:
        return
    _NOTED.add(module)
    print(f"note: model {spec} imports module {module!r} (code outside affectlab runs)", file=sys.stderr)


def resolve(spec: str) -> type[Estimator]:
    """The Estimator class for ``module:Class`` (scikit-learn-style classes wrapped), one-line errors."""
    if spec in _CACHE:
        return _CACHE[spec]
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise AffectlabError(f"model {spec!r}: expected module:Class, e.g. sklearn.linear_model:Ridge")
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # ImportError, or anything the module raises while importing
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise AffectlabError(f"model {spec}: module {module_name!r} does not import ({detail})") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise AffectlabError(f"model {spec}: module {module_name!r} has no class {attr!r}")
        obj = getattr(obj, part)
    if not inspect.isclass(obj):
        raise AffectlabError(f"model {spec}: {attr!r} is a {type(obj).__name__}, not a class")
    if issubclass(obj, Estimator):
        cls: type = obj
    elif callable(getattr(obj, "fit", None)) and callable(getattr(obj, "predict", None)):
        cls = type(obj.__name__, (SklearnEstimator,), {"external_class": obj, "class_path": spec,
                                                       "__doc__": f"{spec} wrapped by the scikit-learn adapter.",
                                                       "__module__": __name__})
    else:
        raise AffectlabError(f"model {spec}: class {attr!r} has no fit and predict methods; give an affectlab "
                             "Estimator subclass or a scikit-learn-style estimator")
    if outside_module(spec) is not None:  # said once the class is usable (a refusal names the module itself)
        _note_import(spec, module_name)
    _CACHE[spec] = cls
    return cls


# --------------------------------------------------------------------------- plain-data state

#: scikit-learn's fitted-tree structures (forests, boosting): skops leaves them untrusted by default
#: because a crafted node array can crash the process; a trusted run's own estimator may hold them
TREE_TYPES = ("sklearn.tree._tree.Tree", "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor")


def canonical_skops(data: bytes) -> bytes:
    """skops bytes that depend on the model only: skops names array files and marks shared objects
    by ``id()`` (or a uuid) and stamps the zip with the time; here files and ``__id__`` marks are
    numbered in their order in ``schema.json`` and dated 1980-01-01, so a rerun writes the same
    checkpoint bytes.

    >>> import skops.io as sio
    >>> from sklearn.linear_model import Ridge
    >>> a = Ridge().fit(np.eye(3), [0.0, 1.0, 2.0])
    >>> b = Ridge().fit(np.eye(3), [0.0, 1.0, 2.0])
    >>> canonical_skops(sio.dumps(a)) == canonical_skops(sio.dumps(b))
    True
    >>> sio.loads(canonical_skops(sio.dumps(a))).predict(np.eye(3)).round(3).tolist() == a.predict(np.eye(3)).round(3).tolist()
    True
    """
    import io
    import json
    import zipfile

    ids: dict[int, int] = {}
    files: dict[str, str] = {}

    def renumber(node: Any) -> Any:
        if isinstance(node, list):
            return [renumber(v) for v in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for k, v in node.items():
            if k == "__id__" and isinstance(v, int):
                v = ids.setdefault(v, len(ids))
            elif k == "file" and isinstance(v, str):
                v = files.setdefault(v, f"{len(files)}{Path(v).suffix}")
            out[k] = renumber(v)
        return out

    with zipfile.ZipFile(io.BytesIO(data)) as src:
        schema = renumber(json.loads(src.read("schema.json")))
        order = sorted(files, key=files.__getitem__)
        if set(order) != set(src.namelist()) - {"schema.json"}:  # a layout this does not know: as written
            return data
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as dst:
            for name, payload in ([("schema.json", json.dumps(schema, indent=2).encode("utf-8"))]
                                  + [(files[n], src.read(n)) for n in order]):
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_STORED
                dst.writestr(info, payload)
    return out.getvalue()


def trusted_types(cls: type) -> list[str]:
    """The types a skops-saved estimator of class ``cls`` may hold beyond those skops trusts itself:
    ``cls`` (the run's own class, trusted with the run) and :data:`TREE_TYPES`.

    >>> from sklearn.ensemble import RandomForestRegressor
    >>> trusted_types(RandomForestRegressor)[0]
    'sklearn.ensemble._forest.RandomForestRegressor'
    """
    return [f"{cls.__module__}.{cls.__qualname__}", *TREE_TYPES]


def _encode(value: Any) -> tuple[bool, Any]:
    """(ok, value as tensors and primitives); ok is False for anything a weights-only load refuses."""
    import torch

    if isinstance(value, np.generic):  # first: np.float64 is also a float, and pickles as a numpy global
        return (value.dtype.kind in "biufU"), value.item()
    if value is None or type(value) in (bool, int, float, str):
        return True, value
    for plain in (bool, int, float, str):  # subclasses (IntEnum...) as the plain type
        if isinstance(value, plain):
            return True, plain(value)
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biuf":
            return True, {"__ndarray__": torch.as_tensor(np.ascontiguousarray(value)), "dtype": value.dtype.str}
        if value.dtype.kind in "OU" and all(isinstance(v, (str, int, float)) for v in value.ravel()):
            return True, {"__list_array__": value.tolist(), "dtype": "O" if value.dtype.kind == "O" else value.dtype.str}
        return False, None
    if isinstance(value, (list, tuple)):
        parts = [_encode(v) for v in value]
        return all(ok for ok, _ in parts), [v for _, v in parts]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        fields = {k: _encode(v) for k, v in value.items()}
        return all(ok for ok, _ in fields.values()), {k: v for k, (_, v) in fields.items()}
    return False, None


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and "__ndarray__" in value:
        return value["__ndarray__"].numpy().astype(np.dtype(value["dtype"]), copy=True)
    if isinstance(value, dict) and "__list_array__" in value:
        return np.array(value["__list_array__"], dtype=np.dtype(value["dtype"]))
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        return {k: _decode(v) for k, v in value.items()}
    return value


def _pool(x: np.ndarray, length: np.ndarray | None) -> np.ndarray:
    """(N, D) as is; (N, L, D) mean-pooled over the first ``length`` steps (NaN where length is 0)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        return x[:, None]
    if x.ndim == 2:
        return x
    if x.ndim != 3:
        raise AffectlabError(f"feature array of shape {x.shape}: expected (N, D) or (N, L, D)")
    n_steps = np.full(len(x), x.shape[1]) if length is None else np.minimum(np.asarray(length), x.shape[1])
    mask = (np.arange(x.shape[1])[None, :] < n_steps[:, None])[..., None]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(mask, x, 0.0).sum(axis=1) / n_steps[:, None]
    out[n_steps == 0] = np.nan
    return out


class SklearnParams(Params):
    """The adapter's own keys (:data:`ADAPTER_PARAMS`); every other key is kept as given and passed
    to the wrapped class, which says what it takes."""

    model_config = ConfigDict(extra="allow", frozen=True)
    inputs: Any = None  # a list of feature names (checked by the constructor, with its own message)
    per_target: bool = True


class SklearnEstimator(Estimator):
    """Wraps a scikit-learn-style class (see the module docstring); subclasses bind the class."""

    external_class: ClassVar[type]
    class_path: ClassVar[str] = ""
    target_kinds = frozenset({"regression", "category"})
    Params = SklearnParams

    def __init__(self, targets: tuple[TargetSpec, ...], params: Any = None, /, **raw: Any) -> None:
        super().__init__(targets, params, **raw)
        inputs = self.params.inputs
        if inputs is not None and (isinstance(inputs, str) or not all(isinstance(i, str) for i in inputs)):
            raise AffectlabError(f"model {self.class_path}: inputs must be a list of feature names such as [text]")
        self.inputs: tuple[str, ...] | None = None if inputs is None else tuple(inputs)
        self.needs_features = self.inputs or ()
        self.per_target = bool(self.params.per_target)
        self.kwargs = dict(self.params.model_extra or {})
        self.models: list[Any] = []
        self.fill = np.zeros(0)
        self.dims = 0
        self._train: tuple[np.ndarray, np.ndarray] | None = None
        self._seed: int | None = None
        self._check_kwargs()

    def _check_kwargs(self) -> None:
        """Refuse a parameter the class does not take, now rather than after feature extraction."""
        try:
            self._new(self.kwargs, seed=None)
        except TypeError as err:
            raise AffectlabError(f"model {self.class_path}: {err}") from None

    def _new(self, kwargs: dict[str, Any], seed: int | None) -> Any:
        kw = dict(kwargs)
        if seed is not None and "random_state" not in kw and self._takes("random_state"):
            kw["random_state"] = seed
        return self.external_class(**kw)

    def _takes(self, name: str) -> bool:
        try:
            return name in inspect.signature(self.external_class).parameters
        except (TypeError, ValueError):
            return False

    # --- design matrix ----------------------------------------------------------------------
    def _choose_inputs(self, corpus: Corpus) -> tuple[str, ...]:
        if self.inputs is not None:
            return self.inputs
        if corpus.features:
            return tuple(sorted(corpus.features))
        raise AffectlabError(f"model {self.class_path}: the data has no feature arrays; set model.inputs, e.g. [text] "
                             "for sentence embeddings or [tabular] with data.options.features for numeric columns")

    def design(self, corpus: Corpus) -> np.ndarray:
        """The feature matrix: each input pooled to (N, D), blocks side by side, NaN filled."""
        assert self.inputs is not None
        self.check_inputs(corpus)
        X = np.concatenate([_pool(corpus.features[k], corpus.lengths.get(k)) for k in self.inputs], axis=1)
        if self.dims and X.shape[1] != self.dims:
            if len(self.inputs) == 1:  # the line every estimator says (predict names what made the features)
                raise AffectlabError(f"model {self.class_path}: feature {self.inputs[0]!r} has {X.shape[1]} dimensions; "
                                     f"the model was trained on {self.dims}")
            raise AffectlabError(f"model {self.class_path}: the data gives {X.shape[1]} features; the model was trained "
                                 f"on {self.dims}")
        if len(self.fill):
            X = np.where(np.isfinite(X), X, self.fill)
        return X

    def _labels(self, y: np.ndarray, columns: list[int]) -> np.ndarray:
        """Targets as the class wants them: floats, or integer class indices for category targets."""
        kinds = {self.targets[j].kind for j in columns}
        if len(kinds) > 1:
            raise AffectlabError(f"model {self.class_path}: per_target: false needs targets of one kind "
                                 "(regression or category), not both")
        out = y[:, columns]
        return out.astype(np.int64) if kinds == {"category"} else out

    # --- Estimator interface ----------------------------------------------------------------
    def fit(self, train: Corpus, val: Corpus | None, ctx: FitContext | None) -> FitResult:
        self.check_target_kinds(self.class_path, self.targets)
        self.inputs = self._choose_inputs(train)
        self.needs_features = self.inputs
        self.dims, self.fill = 0, np.zeros(0)
        X = self.design(train)
        with np.errstate(invalid="ignore"):
            fill = np.nanmean(np.where(np.isfinite(X), X, np.nan), axis=0)
        self.fill = np.nan_to_num(fill)
        self.dims = X.shape[1]
        X = np.where(np.isfinite(X), X, self.fill)
        y = train.target_matrix()
        seed = None if ctx is None else ctx.seed
        self._train = (X, y)
        self.models = self._fit_models(X, y, seed)
        return FitResult(n_params=int(X.shape[1] * len(self.targets)))

    def _fit_models(self, X: np.ndarray, y: np.ndarray, seed: int | None) -> list[Any]:
        """One model per target (on the rows labelled for it), or one multi-output model."""
        self._seed = seed
        groups = [[j] for j in range(y.shape[1])] if self.per_target else [list(range(y.shape[1]))]
        models = []
        for columns in groups:
            rows = ~np.isnan(y[:, columns]).any(axis=1)
            if not rows.any():
                names = ", ".join(self.targets[j].name for j in columns)
                raise AffectlabError(f"model {self.class_path}: no labelled training rows for {names}")
            labels = self._labels(y[rows], columns)
            try:
                models.append(self._new(self.kwargs, seed).fit(X[rows], labels[:, 0] if labels.shape[1] == 1 else labels))
            except Exception as err:  # the user's class failed: one line, not a traceback
                first = str(err).splitlines()[0] if str(err) else ""
                raise AffectlabError(f"model {self.class_path}: fit failed ({type(err).__name__}: {first})") from None
        return models

    def predict(self, corpus: Corpus) -> np.ndarray:
        if not self.models:
            raise RuntimeError("predict before fit")
        X = self.design(corpus)
        try:
            if self.per_target:
                cols = [np.asarray(m.predict(X), dtype=float).reshape(len(X)) for m in self.models]
                pred = np.stack(cols, axis=1)
            else:
                pred = np.asarray(self.models[0].predict(X), dtype=float).reshape(len(X), len(self.targets))
        except Exception as err:
            raise AffectlabError(f"model {self.class_path}: predict failed ({type(err).__name__})") from None
        return clip_to_ranges(pred, self.targets)

    def state(self) -> dict[str, Any]:
        import torch

        base = {"class_path": self.class_path, "inputs": list(self.inputs or ()), "per_target": self.per_target,
                "dims": int(self.dims), "fill": torch.as_tensor(np.asarray(self.fill, dtype=np.float64))}
        fitted = self._fitted_state()
        if fitted is not None:
            return base | {"mode": "attributes", "estimators": fitted}
        blobs = self._skops_state()
        if blobs is not None:
            return base | {"mode": "skops", "estimators": blobs}
        assert self._train is not None, "state before fit"
        X, y = self._train
        return base | {"mode": "refit", "X": torch.as_tensor(X), "y": torch.as_tensor(y), "seed": self._seed}

    def _fitted_state(self) -> list[dict[str, Any]] | None:
        """Params and fitted attributes of every model, or None when they are not plain data or
        a model rebuilt from them does not predict exactly as the fitted one."""
        out = []
        X = self._train[0][: min(len(self._train[0]), 64)] if self._train is not None else None
        for model in self.models:
            try:
                params = model.get_params(deep=False)
            except Exception:
                return None
            attrs = {k: v for k, v in vars(model).items() if k.endswith("_") and not k.startswith("_")}
            ok_p, enc_p = _encode(params)
            ok_a, enc_a = _encode(attrs)
            if not (ok_p and ok_a):
                return None
            try:
                rebuilt = self._rebuild({"params": enc_p, "attributes": enc_a})
                same = X is None or np.array_equal(np.asarray(rebuilt.predict(X)), np.asarray(model.predict(X)))
            except Exception:
                return None
            if not same:
                return None
            out.append({"params": enc_p, "attributes": enc_a})
        return out

    def _rebuild(self, entry: dict[str, Any]) -> Any:
        model = self.external_class(**_decode(entry["params"]))
        for k, v in _decode(entry["attributes"]).items():
            setattr(model, k, v)
        return model

    def _skops_state(self) -> list[Any] | None:
        """The fitted models as skops bytes (uint8 tensors), or None when skops cannot write them,
        a type in them is outside :func:`trusted_types`, or one read back does not predict exactly
        as the fitted one."""
        import torch

        try:
            import skops.io as sio
        except ImportError:
            return None
        X = self._train[0][: min(len(self._train[0]), 64)] if self._train is not None else None
        out = []
        for model in self.models:
            try:
                data = canonical_skops(sio.dumps(model))
                if set(sio.get_untrusted_types(data=data)) - set(trusted_types(self.external_class)):
                    return None
                back = sio.loads(data, trusted=trusted_types(self.external_class))
                if X is not None and not np.array_equal(np.asarray(back.predict(X)), np.asarray(model.predict(X))):
                    return None
            except Exception:  # skops cannot write this object: the refit mode stores the data instead
                return None
            out.append(torch.frombuffer(bytearray(data), dtype=torch.uint8))
        return out

    def _load_skops(self, blobs: list[Any]) -> list[Any]:
        """The models read back from skops bytes; a type outside :func:`trusted_types` is refused."""
        try:
            import skops.io as sio
        except ImportError:
            raise AffectlabError(f"model {self.class_path}: the checkpoint stores its fitted estimators with skops; "
                                 "install it: pip install skops") from None
        allowed = trusted_types(self.external_class)
        models = []
        for blob in blobs:
            data = np.asarray(blob, dtype=np.uint8).tobytes()
            try:
                untrusted = sorted(set(sio.get_untrusted_types(data=data)) - set(allowed))
            except Exception as err:
                raise AffectlabError(f"model {self.class_path}: the checkpoint's skops bytes do not read "
                                     f"({type(err).__name__})") from None
            if untrusted:
                raise AffectlabError(f"model {self.class_path}: the checkpoint's fitted estimator holds types skops does "
                                     f"not trust: {', '.join(untrusted)}; refusing to load it")
            models.append(sio.loads(data, trusted=allowed))
        return models

    def load_state(self, state: dict[str, Any]) -> None:
        self.inputs = tuple(state["inputs"])
        self.needs_features = self.inputs
        self.per_target = bool(state["per_target"])
        self.dims = int(state["dims"])
        self.fill = np.asarray(state["fill"], dtype=np.float64)
        if state["mode"] == "attributes":
            self.models = [self._rebuild(entry) for entry in state["estimators"]]
            return
        if state["mode"] == "skops":
            self.models = self._load_skops(state["estimators"])
            return
        X = np.asarray(state["X"], dtype=np.float64)
        y = np.asarray(state["y"], dtype=np.float64)
        self._train = (X, y)
        self.models = self._fit_models(X, y, state.get("seed"))


__all__ = ["SklearnEstimator", "resolve", "is_class_path", "trusted_types", "ADAPTER_PARAMS"]
