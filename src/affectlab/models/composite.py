"""``user_level_kernel``: a per-user level plus within-user deviations, each from kernel ridge.

The SemEval-2026 Task 2 score is built from r_within (mean per-user Pearson r, blind to any
per-user shift or scale of the predictions) and r_between (Pearson r of per-user means, blind to
everything but those means). So the model predicts the two parts separately and adds them:

    prediction = level(user) + deviation(text) - mean of deviation over the user's input texts

- **deviation** (drives r_within): "fixed-effects" kernel ridge trained on user-centred targets
  with a user-centred kernel, i.e. it learns only how a text differs from the same person's other
  texts. It is centred again over each user's texts in the input file, so it changes no user mean.
- **level** (drives r_between): kernel ridge on raw targets, averaged over the user's texts in the
  input file (the test file's other texts are legitimate context), plus, for a user seen in
  training, the user's out-of-fold residual mean shrunk towards 0: ``sum(resid) / (n + shrink)``.
  Users never seen in training get the text-based level alone.

Kernel (per target and per part): ``exp(gamma * (cos(x, x') - 1))`` on the sentence embeddings
(``features['text']``, re-normalised here), plus ``tfidf_weight`` times the linear kernel of word
n-gram TF-IDF of the raw text when ``tfidf_weight > 0``. Predictions are clipped to each target's
declared range.

Parameters (config ``model:`` keys), each part's settings given per target name, with ``default``
used for targets not listed (so the model also runs on non-SemEval targets)::

    within: {valence: {gamma: 2, alpha: 2, tfidf_weight: 0}, arousal: {gamma: 3, alpha: 0.5, tfidf_weight: 0.3}}
    level:  {valence: {gamma: 3, alpha: 2, tfidf_weight: 0.3, shrink: 8}, arousal: {gamma: 3, alpha: 0.5, shrink: 15}}
    tfidf:  {word: [1, 2], min_df: 2, max_features: 20000}
    folds: 3            # k group folds for the residuals behind the seen-user offsets; 0: exact leave-one-user-out
    variant: nystroem   # or exact: dual kernel ridge, memory n^2 (see below)
    landmarks: auto     # nystroem: landmark texts m (all training texts when n <= m); auto: see below
    max_train: 6000     # exact: refuse larger training sets (kernel matrices grow as n^2)
    calibrate: false    # rescale level and deviation to the labels' spread (out-of-fold), see below

Variants: ``exact`` solves kernel ridge in the dual over all n training texts (n x n matrices,
refused beyond ``max_train``, before any encoding). ``nystroem`` (default) uses ``landmarks`` texts
drawn with the run's seed as Nyström landmarks: each kernel becomes ``k(x, Z) K_ZZ^-1 k(Z, x')``
and ridge is solved in the primal from sums over row chunks (:mod:`.nystroem`), so memory is
O(m^2 + users * m) and time O(n * m^2), linear in n. With n <= landmarks every training text is a
landmark, the Nyström kernel *is* the exact kernel, and the model is the exact model (solved in the
dual, which is cheaper then): on SemEval (2,764 training texts) the two variants are the same
model. ``folds: 0`` (exact leave-one-user-out residuals) needs the dual, i.e. n <= landmarks.

``landmarks: auto`` (default) is m = 3,000 up to 20,000 training texts; beyond, the m that keeps
the fit's main cost n * m^2 at that of 20,000 texts with 3,000 landmarks, never below 1,000
(:func:`auto_landmarks`: 1,341 at 100,000 texts, 1,000 from 180,000 on). So the default fits
100,000 texts in about the time of 20,000 (docs/scaling.md), and costs grow linearly from there.

Calibration: kernel ridge shrinks, so raw predictions have about half the labels' spread: fine for
correlations, poor for CCC. With ``calibrate: true`` each part is rescaled by a positive factor
estimated out of fold on the training users: the deviations by sd(user-centred labels) / sd(held-out
deviations), the levels (around the training mean) by sd(users' label means) / sd(held-out user
levels). Positive rescaling of each part leaves r_within and r_between as they were, except where
predictions are clipped at the range ends; it moves CCC towards what a CCC-optimal linear
recalibration would give. Off by default: on the SemEval dev protocol (split seeds 0-2) it raised
CCC by 0.04-0.07 but clipped 20-25% of predictions at the range ends and so lowered the task score
by 0.02 (0.585 → 0.566), the task's ranking metric. Use it when CCC or MAE is what counts.

The fitted state holds the training (or landmark) embeddings (float32), dual (or landmark) coefficients, the TF-IDF parts as
primal weight vectors over the stored vocabulary, and per-user offsets: arrays and primitives only.
"""

from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING, Annotated, Any, Literal, Optional, Union

import numpy as np
import pandas as pd
from pydantic import Field, NonNegativeInt, field_validator, model_validator

from ..corpus.base import Corpus
from ..core.errors import AffectlabError
from .base import Estimator, FitContext, FitResult, Params, clip_to_ranges
from .baselines import NGram, lookup
from .registry import MODELS
from .text_features import Tfidf, leave_group_out_residuals, solve_psd, texts_of, to_numpy, to_tensor

if TYPE_CHECKING:
    import torch

#: defaults chosen with the dev protocol (docs/semeval-modelling.md)
DEFAULT_WITHIN: dict[str, dict[str, float]] = {
    "valence": {"gamma": 2.0, "alpha": 2.0, "tfidf_weight": 0.0},
    "arousal": {"gamma": 3.0, "alpha": 0.5, "tfidf_weight": 0.3},
    "default": {"gamma": 2.0, "alpha": 1.0, "tfidf_weight": 0.0},
}
DEFAULT_LEVEL: dict[str, dict[str, float]] = {
    "valence": {"gamma": 3.0, "alpha": 2.0, "tfidf_weight": 0.3, "shrink": 8.0},
    "arousal": {"gamma": 3.0, "alpha": 0.5, "tfidf_weight": 0.0, "shrink": 15.0},
    "default": {"gamma": 3.0, "alpha": 1.0, "tfidf_weight": 0.0, "shrink": 8.0},
}
DEFAULT_TFIDF: dict[str, Any] = {"word": (1, 2), "char": None, "min_df": 2, "max_features": 20000}
PART_KEYS = {"within": {"gamma", "alpha", "tfidf_weight"}, "level": {"gamma", "alpha", "tfidf_weight", "shrink"}}


class WithinSettings(Params):
    """One target's deviation-part settings (alpha > 0, the others >= 0)."""

    gamma: Optional[float] = None
    alpha: Optional[float] = None
    tfidf_weight: Optional[float] = None

    @model_validator(mode="after")
    def _ranges(self):
        if (self.alpha is not None and self.alpha <= 0) or any(
                v is not None and v < 0 for v in (self.gamma, self.tfidf_weight, getattr(self, "shrink", None))):
            raise ValueError("settings must be non-negative (alpha > 0)")
        return self


class LevelSettings(WithinSettings):
    """One target's level-part settings."""

    shrink: Optional[float] = None


class TfidfSettings(Params):
    word: NGram = (1, 2)
    char: NGram = None
    min_df: int = Field(2, ge=1)
    max_features: Optional[NonNegativeInt] = 20000


class UserLevelKernelParams(Params):
    """``model:`` keys of ``user_level_kernel`` (see the module docstring); per-target settings by target name or ``default``."""

    within: Optional[dict[str, WithinSettings]] = None
    level: Optional[dict[str, LevelSettings]] = None
    tfidf: Optional[TfidfSettings] = None
    folds: int = Field(3, ge=0)
    variant: Literal["exact", "nystroem"] = "nystroem"
    landmarks: Union[Literal["auto"], Annotated[int, Field(ge=1)]] = "auto"
    max_train: int = Field(6000, ge=1)
    calibrate: bool = False

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, data: Any) -> Any:
        """The messages of unknown per-target settings and TF-IDF keys name the part."""
        if not isinstance(data, dict):
            return data
        for part in ("within", "level"):
            given = data.get(part)
            if not isinstance(given, dict):
                continue
            wrong = [k for k, v in given.items() if not isinstance(v, dict)]
            if wrong:
                raise ValueError(f"{part} must map target names (or 'default') to settings, got {wrong[0]!r}")
            bad = sorted({k for v in given.values() for k in v} - PART_KEYS[part])
            if bad:
                raise ValueError(f"unknown {part} setting(s) {', '.join(bad)}")
        tf = data.get("tfidf")
        if isinstance(tf, dict) and set(tf) - set(DEFAULT_TFIDF):
            raise ValueError(f"unknown tfidf key(s) {', '.join(sorted(set(tf) - set(DEFAULT_TFIDF)))}")
        return data

    @field_validator("folds")
    @classmethod
    def _folds(cls, v: int) -> int:
        if v == 1:
            raise ValueError("folds must be 0 (leave one user out) or at least 2")
        return v


def _given(part: dict[str, WithinSettings] | None) -> dict[str, dict[str, float]]:
    """Per-target settings as given (only the keys the user set), for :meth:`UserLevelKernel._part`."""
    return {name: settings.model_dump(exclude_unset=True) for name, settings in (part or {}).items()}


#: ``landmarks: auto``: the most and fewest landmarks, and the n * m^2 budget between them
AUTO_LANDMARKS_MAX, AUTO_LANDMARKS_MIN = 3000, 1000
AUTO_BUDGET = 20_000 * AUTO_LANDMARKS_MAX ** 2


def auto_landmarks(n_train: int) -> int:
    """Landmarks for ``landmarks: auto``: 3,000 up to 20,000 texts, then sqrt(budget / n), at least 1,000.

    >>> [auto_landmarks(n) for n in (2764, 20_000, 100_000, 1_000_000)]
    [3000, 3000, 1341, 1000]
    """
    return max(AUTO_LANDMARKS_MIN, min(AUTO_LANDMARKS_MAX, math.isqrt(AUTO_BUDGET // max(1, n_train))))


def _centre_rows(M: Any, codes: np.ndarray, n_groups: int) -> Any:
    """Subtract from each row the mean of the rows in its group (``codes`` = group index per row).

    ``M`` is an array (the result is one) or a float64 tensor (kernel matrices; the result is one).

    >>> _centre_rows(np.array([1.0, 3.0, 5.0]), np.array([0, 0, 1]), 2).tolist()
    [-1.0, 1.0, 0.0]
    """
    import torch

    as_array = not isinstance(M, torch.Tensor)
    T = torch.from_numpy(np.ascontiguousarray(M, dtype=np.float64)) if as_array else M
    T2 = T.reshape(len(T), -1)
    idx = torch.from_numpy(np.asarray(codes, dtype=np.int64))
    sums = torch.zeros((n_groups, T2.shape[1]), dtype=T2.dtype).index_add_(0, idx, T2)
    counts = torch.bincount(idx, minlength=n_groups).to(T2.dtype)
    out = (T2 - (sums / counts[:, None])[idx]).reshape(T.shape)
    return out.numpy() if as_array else out


def _block(K, rows: np.ndarray, cols: np.ndarray | None = None):
    """``K[rows][:, cols]`` of a tensor (``cols`` defaults to ``rows``); K itself when both are all rows."""
    import torch

    cols = rows if cols is None else cols
    if len(rows) == len(K) == len(cols) and (rows == np.arange(len(K))).all() and (cols is rows or (cols == rows).all()):
        return K
    return K.index_select(0, torch.from_numpy(rows)).index_select(1, torch.from_numpy(cols))


def _spread_ratio(target: np.ndarray, pred: np.ndarray, limits: tuple[float, float] = (0.2, 5.0)) -> float:
    """sd(target) / sd(pred) over finite pairs, kept within ``limits`` (1 when undefined)."""
    ok = np.isfinite(target) & np.isfinite(pred)
    if ok.sum() < 3 or np.std(pred[ok]) < 1e-12:
        return 1.0
    return float(np.clip(np.std(target[ok]) / np.std(pred[ok]), *limits))


def _centre_rows_mean(v: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    return v - _centre_rows(v, codes, n_groups)


@MODELS.register("user_level_kernel")
class UserLevelKernel(Estimator):
    """Per-user level (text-based mean + shrunken seen-user offset) + within-user kernel deviations."""

    needs_features = ("text",)
    needs_raw_text = True
    Params = UserLevelKernelParams

    def __init__(self, targets, params: Any = None, /, **raw: Any) -> None:
        super().__init__(targets, params, **raw)
        p = self.params
        self.within = {t.name: self._part(DEFAULT_WITHIN, _given(p.within), t.name) for t in self.targets}
        self.level = {t.name: self._part(DEFAULT_LEVEL, _given(p.level), t.name) for t in self.targets}
        tf = dict(DEFAULT_TFIDF)
        tf.update(p.tfidf.model_dump(exclude_unset=True) if p.tfidf is not None else {})
        self.tfidf_params = tf
        self.folds = int(p.folds)
        self.max_train = int(p.max_train)
        self.variant = str(p.variant)
        self.landmarks: int | str = p.landmarks
        self.calibrate = bool(p.calibrate)
        self.uses_tfidf = any(p["tfidf_weight"] > 0 for part in (self.within, self.level) for p in part.values())
        if not self.uses_tfidf:
            self.needs_raw_text = False
        # fitted state
        self.train_x = np.zeros((0, 0), dtype=np.float32)
        self.users: list[str] = []
        self.tfidf: Tfidf | None = None
        self.dual: dict[str, np.ndarray] = {}  # "<part>:<target>" -> (n_train,) dual coefficients
        self.primal_tfidf: dict[str, np.ndarray] = {}  # "<part>:<target>" -> (n_vocab,) TF-IDF weights
        self.level_mean = np.zeros(len(self.targets))
        self.offsets = np.zeros((0, len(self.targets)))
        self.scale_within = np.ones(len(self.targets))
        self.scale_level = np.ones(len(self.targets))

    @staticmethod
    def _part(defaults: dict, given: Any, target: str) -> dict[str, float]:
        """One target's settings: its defaults updated by the given ones (already checked by
        :class:`UserLevelKernelParams`: known keys only, non-negative, alpha > 0)."""
        given = dict(given or {})
        out = dict(defaults.get(target, defaults["default"]))
        if target not in defaults and "default" in given:
            out.update(given["default"])
        out.update(given.get(target, {}))
        return {k: float(v) for k, v in out.items()}

    # --- kernels ------------------------------------------------------------------------------
    @staticmethod
    def _exp_kernel(cos, gamma: float):
        """``exp(gamma * (cos - 1))`` of a cosine tensor (the cosines themselves when gamma is 0)."""
        import torch

        return torch.exp(gamma * (cos - 1.0)) if gamma > 0 else cos

    def _kernel(self, cos, lin_tf, spec: dict[str, float]):
        """One part's kernel (a tensor) from the cosines and the TF-IDF linear kernel (tensors)."""
        K = self._exp_kernel(cos, spec["gamma"])
        if spec["tfidf_weight"] > 0:
            K = K + spec["tfidf_weight"] * lin_tf
        return K

    # --- size -------------------------------------------------------------------------------
    def uses_dual(self, n_train: int) -> bool:
        """Whether a fit on ``n_train`` texts solves in the dual (exact variant, or every text a landmark)."""
        return self.variant == "exact" or n_train <= self.landmarks_for(n_train)

    def landmarks_for(self, n_train: int) -> int:
        """Landmarks m of a fit on ``n_train`` texts: the ``landmarks`` setting, or :func:`auto_landmarks`."""
        return auto_landmarks(n_train) if self.landmarks == "auto" else int(self.landmarks)

    def check_size(self, n_train: int) -> None:
        """Refuse, before any encoding, a training set too large for the variant (one line naming one that fits)."""
        if self.variant == "exact" and n_train > self.max_train:
            raise AffectlabError(f"model user_level_kernel: {n_train} training samples exceed max_train={self.max_train} "
                                 "of variant exact (kernel matrices grow as n^2); use variant: nystroem "
                                 "(memory and time linear in n), or raise max_train if memory allows")
        if not self.uses_dual(n_train) and self.folds == 0:
            raise AffectlabError(f"model user_level_kernel: folds: 0 (leave-one-user-out residuals) needs the dual "
                                 f"solve, but {n_train} training samples exceed landmarks={self.landmarks_for(n_train)}; "
                                 "use folds >= 2, or variant: exact for small data")

    # --- fit --------------------------------------------------------------------------------
    def fit(self, train: Corpus, val: Corpus | None, ctx: FitContext | None) -> FitResult:
        from .nystroem import unit_rows  # torch: imported when a kernel model fits, not when a config is checked
        from sklearn.model_selection import GroupKFold

        self.check_inputs(train)
        n = len(train)
        if n < 2:
            raise AffectlabError("model user_level_kernel: needs at least 2 training samples")
        self.check_size(n)
        if not self.uses_dual(n):
            from ..core.compute import engine_for
            from .nystroem import chunk_mapper

            mapper = chunk_mapper(engine_for(getattr(ctx, "compute", None)))
            return self._fit_nystroem(train, 42 if ctx is None else int(ctx.seed), map_chunks=mapper)
        y_all = train.target_matrix()
        if y_all.shape[1] != len(self.targets) or np.isnan(y_all).all(axis=0).any():
            raise AffectlabError("model user_level_kernel: training data has no labels for at least one target")
        import torch

        groups = train.frame["group"].astype(str).to_numpy()
        # unit rows, n x n kernels in torch float64 (NumPy < 2's OpenBLAS is ~10x slower here; docs/scaling.md)
        xt = unit_rows(train.features["text"])
        if self.uses_tfidf:
            self.tfidf = Tfidf(**self.tfidf_params)
            tf = self.tfidf.fit_transform(texts_of(train.frame))
            lin_tf = torch.from_numpy((tf @ tf.T).toarray())
        else:
            self.tfidf, tf, lin_tf = None, None, None
        cos = xt @ xt.T
        self.train_x = xt.numpy().astype(np.float32)
        self.users = sorted(set(groups))
        self.dual, self.primal_tfidf = {}, {}
        self.level_mean = np.zeros(len(self.targets))
        resid = np.full(y_all.shape, np.nan)
        n_groups = len(self.users)
        k = min(self.folds, n_groups)
        folds = list(GroupKFold(k).split(groups, groups=groups)) if self.folds and k >= 2 else []
        # calibration needs held-out users too; with exact leave-one-user-out residuals, 3 folds
        cal_folds = folds or (list(GroupKFold(min(3, n_groups)).split(groups, groups=groups)) if n_groups >= 2 else [])
        self.scale_within = np.ones(len(self.targets))
        self.scale_level = np.ones(len(self.targets))

        for j, target in enumerate(self.targets):
            name = target.name
            ok = ~np.isnan(y_all[:, j])
            rows = np.flatnonzero(ok)
            y = y_all[rows, j]

            # within-user deviations: centred kernel, centred targets (fixed effects)
            spec = self.within[name]
            cos_rows, tf_rows = _block(cos, rows), None if lin_tf is None else _block(lin_tf, rows)
            K = self._kernel(cos_rows, tf_rows, spec)
            codes, uniq = pd.factorize(pd.Series(groups[rows]))
            Kc = _centre_rows(_centre_rows(K, codes, len(uniq)).T, codes, len(uniq)).T
            yc = _centre_rows(y, codes, len(uniq))
            a = _centre_rows(solve_psd(Kc, yc, spec["alpha"]), codes, len(uniq))
            self._store(f"within:{name}", rows, a, tf, n)
            if self.calibrate and cal_folds:
                self.scale_within[j] = _spread_ratio(yc, self._held_out_deviations(K, y, groups[rows], rows, cal_folds,
                                                                                   spec["alpha"], n))

            # level: raw targets, and out-of-fold residuals for the seen-user offsets
            spec = self.level[name]
            K = self._kernel(cos_rows, tf_rows, spec)
            mu = float(y.mean())
            self.level_mean[j] = mu
            if not folds:  # exact leave-one-group-out residuals from one inverse
                coef, res = leave_group_out_residuals(K, y - mu, spec["alpha"], groups[rows])
                if len(np.unique(groups[rows])) >= 2:
                    resid[rows, j] = res
            else:
                coef = solve_psd(K, y - mu, spec["alpha"])
                pos = np.full(n, -1)
                pos[rows] = np.arange(len(rows))
                for fit_rows, held in folds:
                    f_rows, h_rows = pos[fit_rows], pos[held]
                    f_rows, h_rows = f_rows[f_rows >= 0], h_rows[h_rows >= 0]
                    if len(f_rows) == 0 or len(h_rows) == 0:
                        continue
                    f_mu = float(y[f_rows].mean())
                    c = solve_psd(_block(K, f_rows), y[f_rows] - f_mu, spec["alpha"])
                    resid[rows[h_rows], j] = y[h_rows] - ((_block(K, h_rows, f_rows) @ torch.from_numpy(c)).numpy() + f_mu)
            self._store(f"level:{name}", rows, coef, tf, n)
            if self.calibrate and cal_folds:
                held = resid[rows, j] if folds else self._held_out_levels(K, y, rows, cal_folds, spec["alpha"], n)
                by_user = pd.DataFrame({"g": groups[rows], "y": y, "p": y - held}).dropna().groupby("g")[["y", "p"]].mean()
                self.scale_level[j] = _spread_ratio(by_user["y"].to_numpy(), by_user["p"].to_numpy())

        shrink = np.array([self.level[t.name]["shrink"] for t in self.targets])
        sums = pd.DataFrame(resid).groupby(groups, sort=True)
        self.users = [str(u) for u in sums.sum().index]
        self.offsets = sums.sum().to_numpy() / (sums.count().to_numpy() + shrink[None, :] + 1e-12)
        n_params = int(sum(v.size for v in self.dual.values()) + sum(v.size for v in self.primal_tfidf.values())
                       + self.offsets.size)
        return FitResult(n_params=n_params, extra={"n_train": n, "n_users": n_groups, "tfidf_terms":
                                                   0 if self.tfidf is None else self.tfidf.n_features})

    # --- fit: nystroem (n > landmarks) ---------------------------------------------------------
    def _fit_nystroem(self, train: Corpus, seed: int, map_chunks=None) -> FitResult:
        """The same model with the kernels replaced by their Nyström approximations on
        ``landmarks`` training texts, solved in the primal from chunk sums (:mod:`.nystroem`)."""
        from .nystroem import KernelSpec, accumulate, select_landmarks, unit_rows
        import torch
        from sklearn.model_selection import GroupKFold

        n = len(train)
        y_all = train.target_matrix()
        if y_all.shape[1] != len(self.targets) or np.isnan(y_all).all(axis=0).any():
            raise AffectlabError("model user_level_kernel: training data has no labels for at least one target")
        groups = train.frame["group"].astype(str).to_numpy()
        self.users = sorted(set(groups))
        codes = np.searchsorted(np.array(self.users, dtype=object), groups)
        n_users = len(self.users)
        x = train.features["text"]
        k = min(self.folds, n_users)
        fold_of_row = np.zeros(n, dtype=np.int64)
        n_folds = 1
        if k >= 2:  # the exact variant's folds, exactly
            for f, (_, held) in enumerate(GroupKFold(k).split(np.zeros((n, 1)), groups=groups)):
                fold_of_row[held] = f
            n_folds = k
        fold_of_user = np.zeros(n_users, dtype=np.int64)
        fold_of_user[codes] = fold_of_row
        if self.uses_tfidf:
            self.tfidf = Tfidf(**self.tfidf_params)
            tf = self.tfidf.fit_transform(texts_of(train.frame))
        else:
            self.tfidf, tf = None, None
        land = select_landmarks(n, self.landmarks_for(n), seed)
        self.train_x = unit_rows(x[land]).numpy().astype(np.float32)
        xz = torch.from_numpy(self.train_x.astype(np.float64))
        tfz = None if tf is None else tf[land]

        # one pass over the data per distinct (kernel, labelled rows): parts sharing both share it
        labelled = ~np.isnan(y_all)
        uses: dict[tuple, dict[str, Any]] = {}
        for j, target in enumerate(self.targets):
            for part in ("within", "level"):
                spec = getattr(self, part)[target.name]
                key = (KernelSpec(spec["gamma"], spec["tfidf_weight"] if self.uses_tfidf else 0.0), labelled[:, j].tobytes())
                uses.setdefault(key, {"rows": np.flatnonzero(labelled[:, j]), "parts": set()})["parts"].add((j, part))
        self.dual, self.primal_tfidf = {}, {}
        self.level_mean = np.zeros(len(self.targets))
        self.offsets = np.zeros((n_users, len(self.targets)))
        self.scale_within = np.ones(len(self.targets))
        self.scale_level = np.ones(len(self.targets))
        total = lambda parts: sum(parts[1:], parts[0].clone())  # noqa: E731
        for key, use in uses.items():  # one kernel's sums in memory at a time
            rows, parts = use["rows"], {part for _, part in use["parts"]}
            st = accumulate(x, tf, rows, y_all[rows], codes[rows], n_users, fold_of_row[rows], n_folds, xz, tfz,
                            key[0], centred="within" in parts, plain="level" in parts,
                            per_fold_centred=self.calibrate and n_folds > 1, map_chunks=map_chunks)
            for j, part in sorted(use["parts"]):
                name = self.targets[j].name
                ok = labelled[:, j]
                y_u = np.bincount(codes[ok], weights=y_all[ok, j], minlength=n_users)
                y2_u = np.bincount(codes[ok], weights=y_all[ok, j] ** 2, minlength=n_users)
                n_u = np.bincount(codes[ok], minlength=n_users).astype(float)
                if part == "within":
                    spec = self.within[name]
                    Bc, ccy = total(st.Bc), total(st.ccy)[:, j]
                    self._store_landmark(f"within:{name}", st.ridge(Bc, ccy, spec["alpha"]), tfz)
                    if self.calibrate and n_folds > 1:
                        num, held_n, held_y2 = 0.0, 0, 0.0
                        for f in range(n_folds):
                            if st.n[f] == 0 or st.n[f] == sum(st.n):
                                continue
                            beta = st.ridge(Bc - st.Bc[f], ccy - st.ccy[f][:, j], spec["alpha"])
                            num += float(beta @ st.Bc[f] @ beta)
                            held_n += st.n[f]
                            in_f = (fold_of_user == f) & (n_u > 0)
                            held_y2 += float((y2_u[in_f] - y_u[in_f] ** 2 / n_u[in_f]).sum())
                        if held_n >= 3 and num > 0 and np.sqrt(num / held_n) >= 1e-12:
                            self.scale_within[j] = float(np.clip(np.sqrt(held_y2 / num), 0.2, 5.0))
                    continue
                spec = self.level[name]
                B, cy, s = total(st.B), total(st.cy)[:, j], total(st.s)
                N, ysum = sum(st.n), float(total(st.ysum)[j])
                mu = ysum / N
                self.level_mean[j] = mu
                self._store_landmark(f"level:{name}", st.ridge(B, cy - mu * s, spec["alpha"]), tfz)
                resid_u = np.zeros(n_users)
                done = np.zeros(n_users, dtype=bool)
                for f in range(n_folds if n_folds > 1 else 0):
                    n_fit = N - st.n[f]
                    if st.n[f] == 0 or n_fit == 0:
                        continue
                    mu_f = (ysum - float(st.ysum[f][j])) / n_fit
                    beta = st.ridge(B - st.B[f], (cy - st.cy[f][:, j]) - mu_f * (s - st.s[f]), spec["alpha"])
                    in_f = np.flatnonzero((fold_of_user == f) & (n_u > 0))
                    assert st.S is not None  # the per-user sums of the leave-one-user-out path
                    fitted_sum = (st.S[torch.from_numpy(in_f)].to(torch.float64) @ beta).numpy()
                    resid_u[in_f] = y_u[in_f] - fitted_sum - n_u[in_f] * mu_f
                    done[in_f] = True
                count = np.where(done, n_u, 0.0)
                self.offsets[:, j] = resid_u / (count + spec["shrink"] + 1e-12)
                if self.calibrate and done.any():
                    means = y_u[done] / n_u[done]
                    self.scale_level[j] = _spread_ratio(means, means - resid_u[done] / n_u[done])
            del st
        n_params = int(sum(v.size for v in self.dual.values()) + sum(v.size for v in self.primal_tfidf.values())
                       + self.offsets.size)
        return FitResult(n_params=n_params, extra={"n_train": n, "n_users": n_users, "landmarks": len(land),
                                                   "tfidf_terms": 0 if self.tfidf is None else self.tfidf.n_features})

    def _store_landmark(self, key: str, beta, tfz) -> None:
        self.dual[key] = beta.numpy().astype(np.float64)
        if tfz is not None:
            self.primal_tfidf[key] = np.asarray(tfz.T @ self.dual[key]).ravel()

    @staticmethod
    def _positions(rows: np.ndarray, n: int, fold: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """A fold's fit and held-out rows as positions among the labelled ``rows``."""
        pos = np.full(n, -1)
        pos[rows] = np.arange(len(rows))
        f_rows, h_rows = pos[fold[0]], pos[fold[1]]
        return f_rows[f_rows >= 0], h_rows[h_rows >= 0]

    def _held_out_deviations(self, K, y, groups, rows, folds, alpha: float, n: int) -> np.ndarray:
        """Within-user deviations of held-out users, from models fitted on the other folds."""
        import torch

        out = np.full(len(rows), np.nan)
        for fold in folds:
            f, h = self._positions(rows, n, fold)
            if len(f) == 0 or len(h) == 0:
                continue
            cf, uf = pd.factorize(pd.Series(groups[f]))
            Kf = _centre_rows(_centre_rows(_block(K, f), cf, len(uf)).T, cf, len(uf)).T
            af = _centre_rows(solve_psd(Kf, _centre_rows(y[f], cf, len(uf)), alpha), cf, len(uf))
            ch, uh = pd.factorize(pd.Series(groups[h]))
            out[h] = _centre_rows((_block(K, h, f) @ torch.from_numpy(af)).numpy(), ch, len(uh))
        return out

    def _held_out_levels(self, K, y, rows, folds, alpha: float, n: int) -> np.ndarray:
        """Residuals of the level model on held-out users (for calibration when folds = 0)."""
        import torch

        out = np.full(len(rows), np.nan)
        for fold in folds:
            f, h = self._positions(rows, n, fold)
            if len(f) == 0 or len(h) == 0:
                continue
            mu = float(y[f].mean())
            coef = torch.from_numpy(solve_psd(_block(K, f), y[f] - mu, alpha))
            out[h] = y[h] - ((_block(K, h, f) @ coef).numpy() + mu)
        return out

    def _store(self, key: str, rows: np.ndarray, coef: np.ndarray, tf, n: int) -> None:
        full = np.zeros(n)
        full[rows] = coef
        self.dual[key] = full
        if tf is not None:
            self.primal_tfidf[key] = np.asarray(tf.T @ full).ravel()

    # --- predict ----------------------------------------------------------------------------
    def _apply(self, key: str, spec: dict[str, float], cos: "torch.Tensor", tf) -> np.ndarray:
        import torch

        out = (self._exp_kernel(cos, spec["gamma"]) @ torch.from_numpy(self.dual[key])).numpy()
        if spec["tfidf_weight"] > 0:
            out = out + spec["tfidf_weight"] * np.asarray(tf @ self.primal_tfidf[key]).ravel()
        return out

    def predict(self, corpus: Corpus) -> np.ndarray:
        from .nystroem import unit_rows
        if not self.dual:
            raise AffectlabError("model user_level_kernel: predict called before fit")
        if len(corpus) == 0:
            return np.zeros((0, len(self.targets)))
        import torch

        self.check_inputs(corpus)
        x = corpus.features["text"]
        tf = None
        if self.uses_tfidf:
            assert self.tfidf is not None, "predict() before fit()"
            tf = self.tfidf.transform(texts_of(corpus.frame))
        groups = corpus.frame["group"].astype(str).to_numpy()
        codes, uniq = pd.factorize(pd.Series(groups))
        offsets = lookup(self.users, self.offsets, pd.Series(groups))
        out = np.zeros((len(corpus), len(self.targets)))
        dev = np.zeros((len(corpus), len(self.targets)))
        raw = np.zeros((len(corpus), len(self.targets)))
        # kernel rows in chunks (normalised chunk by chunk, in torch): memory stays at chunk x n_train
        chunk = 2048
        z = torch.from_numpy(self.train_x.astype(np.float64))
        for s in range(0, len(corpus), chunk):
            cos = unit_rows(x[s:s + chunk]) @ z.T
            part_tf = None if tf is None else tf[s:s + chunk]
            for j, target in enumerate(self.targets):
                name = target.name
                dev[s:s + chunk, j] = self._apply(f"within:{name}", self.within[name], cos, part_tf)
                raw[s:s + chunk, j] = self._apply(f"level:{name}", self.level[name], cos, part_tf) + self.level_mean[j]
        for j, target in enumerate(self.targets):
            dev_j, raw_j = dev[:, j], raw[:, j]
            level = _centre_rows_mean(raw_j, codes, len(uniq)) + offsets[:, j]
            level = self.level_mean[j] + self.scale_level[j] * (level - self.level_mean[j])
            out[:, j] = level + self.scale_within[j] * _centre_rows(dev_j, codes, len(uniq))
        return clip_to_ranges(out, self.targets)

    # --- state ------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "train_x": to_tensor(self.train_x),
            "users": list(self.users),
            "dual": {k: to_tensor(v) for k, v in self.dual.items()},
            "primal_tfidf": {k: to_tensor(v) for k, v in self.primal_tfidf.items()},
            "level_mean": to_tensor(self.level_mean),
            "offsets": to_tensor(self.offsets),
            "tfidf": None if self.tfidf is None else self.tfidf.state(),
            "within": copy.deepcopy(self.within),
            "level": copy.deepcopy(self.level),
            "scale_within": to_tensor(self.scale_within),
            "scale_level": to_tensor(self.scale_level),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.train_x = to_numpy(state["train_x"], np.float32)
        self.users = [str(u) for u in state["users"]]
        self.dual = {k: to_numpy(v) for k, v in state["dual"].items()}
        self.primal_tfidf = {k: to_numpy(v) for k, v in state["primal_tfidf"].items()}
        self.level_mean = to_numpy(state["level_mean"])
        self.offsets = to_numpy(state["offsets"]).reshape(len(self.users), len(self.targets))
        self.tfidf = None if state["tfidf"] is None else Tfidf.from_state(state["tfidf"])
        self.within = {k: {kk: float(vv) for kk, vv in v.items()} for k, v in state["within"].items()}
        self.level = {k: {kk: float(vv) for kk, vv in v.items()} for k, v in state["level"].items()}
        self.scale_within = to_numpy(state["scale_within"]) if "scale_within" in state else np.ones(len(self.targets))
        self.scale_level = to_numpy(state["scale_level"]) if "scale_level" in state else np.ones(len(self.targets))
