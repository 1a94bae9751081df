"""Percentile bootstrap confidence intervals and paired bootstrap tests for any metric.

When samples belong to groups (users, videos) the bootstrap resamples *groups* with
replacement and keeps each drawn group whole: texts of one user are not independent, so
resampling rows would give intervals that are too narrow. A group drawn twice counts as two
users (it gets a fresh code per draw), which keeps per-user metrics such as ``r_within`` right.

Scoring 1000 resamples with :func:`affectlab.evaluation.scoring.score_arrays` is slow for the
group metrics (pandas ``groupby`` per call), so :func:`fast_scores` computes the same keys with
``numpy.bincount``; metrics it does not know are called through the metric registry.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> y = rng.normal(size=200); p = y + rng.normal(scale=0.5, size=200)
>>> ci = bootstrap_ci("pearson", y, p, n_resamples=200, seed=1)
>>> ci.low < ci.value < ci.high
True
>>> res = paired_bootstrap("generic", y[:, None], p[:, None], (p + 1.0)[:, None], ["v"],
...                        keys=["mae"], n_resamples=200)
>>> res["mae"].diff < 0 and res["mae"].p_value < 0.05   # shifting by 1 makes MAE worse
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..metrics import METRICS
from ..metrics.regression import pearson as _pearson
from .scoring import higher_is_better, score_subset, with_seen_subsets

#: default number of bootstrap resamples
N_RESAMPLES = 1000
_EDGE = 1 - 1e-7


@dataclass(frozen=True)
class Interval:
    """A point estimate with a percentile bootstrap interval."""

    value: float
    low: float
    high: float
    level: float = 0.95
    n_resamples: int = 0
    n_units: int = 0  # rows or groups resampled
    unit: str = "rows"

    @property
    def width(self) -> float:
        return float(self.high - self.low)

    def contains(self, x: float) -> bool:
        return bool(self.low <= x <= self.high)

    def as_dict(self) -> dict[str, float]:
        return {"value": self.value, "ci_low": self.low, "ci_high": self.high}


@dataclass(frozen=True)
class PairedResult:
    """Difference ``a - b`` of one score key on shared samples, with interval and two-sided p."""

    key: str
    a: float
    b: float
    diff: float
    low: float
    high: float
    p_value: float
    higher_is_better: bool
    n_units: int = 0
    unit: str = "rows"

    @property
    def significant(self) -> bool:
        """The interval excludes zero (same as p < 1 - level)."""
        return bool(self.low > 0 or self.high < 0)

    @property
    def a_better(self) -> bool:
        return (self.diff > 0) == self.higher_is_better and self.diff != 0

    def as_dict(self) -> dict[str, float | bool | str]:
        return {"key": self.key, "a": self.a, "b": self.b, "diff": self.diff, "ci_low": self.low,
                "ci_high": self.high, "p_value": self.p_value, "higher_is_better": self.higher_is_better}


# --------------------------------------------------------------------------- resampling

def group_codes(groups: Sequence | np.ndarray | None, n: int) -> np.ndarray | None:
    """Integer codes 0..k-1 for group labels (``None`` stays ``None``)."""
    if groups is None:
        return None
    g = np.asarray(groups)
    if len(g) != n:
        raise ValueError(f"groups has {len(g)} values, expected {n}")
    _, codes = np.unique(g.astype(str), return_inverse=True)
    return codes.astype(np.int64)


class Resampler:
    """Draws bootstrap resamples: rows, or whole groups with a fresh code per drawn group.

    >>> r = Resampler(5, groups=["a", "a", "b", "b", "b"], seed=0)
    >>> idx, codes = r.draw()
    >>> len(set(codes.tolist())) == 2 and len(idx) in (4, 5, 6)
    True
    """

    def __init__(self, n: int, groups: Sequence | np.ndarray | None = None, seed: int = 0) -> None:
        self.n = n
        self.rng = np.random.default_rng(seed)
        self.codes = group_codes(groups, n)
        if self.codes is not None:
            order = np.argsort(self.codes, kind="stable")
            self.sizes = np.bincount(self.codes)
            self.starts = np.concatenate([[0], np.cumsum(self.sizes)[:-1]])
            self.order = order
        self.n_units = n if self.codes is None else int(len(self.sizes))
        self.unit = "rows" if self.codes is None else "groups"

    def draw(self) -> tuple[np.ndarray, np.ndarray | None]:
        """(row indices, group codes of the resample or ``None``)."""
        if self.codes is None:
            return self.rng.integers(0, self.n, self.n), None
        k = len(self.sizes)
        picked = self.rng.integers(0, k, k)
        sizes = self.sizes[picked]
        # rows of each picked group, concatenated, without a Python loop
        offsets = np.repeat(self.starts[picked] - np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes)
        idx = self.order[np.arange(int(sizes.sum())) + offsets]
        return idx, np.repeat(np.arange(k), sizes)


# --------------------------------------------------------------------------- fast scoring

def _grouped_pearson(t: np.ndarray, p: np.ndarray, codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-group (n, sd_t, r) with two-pass centring (constant groups detected exactly as pandas does)."""
    n = np.bincount(codes, minlength=k).astype(float)
    safe = np.maximum(n, 1)
    mt = np.bincount(codes, t, k) / safe
    mp = np.bincount(codes, p, k) / safe
    dt, dp = t - mt[codes], p - mp[codes]
    vt = np.bincount(codes, dt * dt, k) / safe
    vp = np.bincount(codes, dp * dp, k) / safe
    cov = np.bincount(codes, dt * dp, k) / safe
    st, sp = np.sqrt(vt), np.sqrt(vp)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where((st < 1e-12) | (sp < 1e-12), 0.0, np.clip(cov / (st * sp), -1.0, 1.0))
    return n, st, r


def _composite(w: float, b: float) -> float:
    if np.isnan(w) or np.isnan(b):
        return float("nan")
    return float(np.tanh((np.arctanh(np.clip(w, -_EDGE, _EDGE)) + np.arctanh(np.clip(b, -_EDGE, _EDGE))) / 2))


def _metric_fast(name: str, t: np.ndarray, p: np.ndarray, codes: np.ndarray | None) -> float:
    if name == "ccc":
        mt, mp = t.mean(), p.mean()
        vt, vp = t.var(), p.var()
        denom = vt + vp + (mt - mp) ** 2
        return float(2 * ((t - mt) * (p - mp)).mean() / denom) if denom > 0 else 0.0
    if name == "pearson":
        return _pearson(t, p)
    if name == "mae":
        return float(np.abs(t - p).mean())
    if name == "rmse":
        return float(np.sqrt(((t - p) ** 2).mean()))
    if name in ("r_within", "r_between", "r_composite"):
        assert codes is not None
        _, codes = np.unique(codes, return_inverse=True)
        k = int(codes.max()) + 1 if codes.size else 0
        if name != "r_between":
            n, st, r = _grouped_pearson(t, p, codes, k)
            ok = (n >= 2) & (st >= 1e-12)
            within = float(r[ok].mean()) if ok.any() else float("nan")
            if name == "r_within":
                return within
        cnt = np.bincount(codes, minlength=k)
        between = _pearson(np.bincount(codes, t, k) / cnt, np.bincount(codes, p, k) / cnt) if k >= 2 else float("nan")
        return between if name == "r_between" else _composite(within, between)
    if name in ("f1_nonneg", "f1_nozero"):
        if name == "f1_nozero":
            keep = t != 0
            t, p = t[keep] > 0, p[keep] > 0
        else:
            t, p = t >= 0, p >= 0
        return _weighted_f1(t, p) if t.size else float("nan")
    return METRICS.get(name)(t, p, codes)


def _weighted_f1(t: np.ndarray, p: np.ndarray) -> float:
    """scikit-learn's ``f1_score(t, p, average="weighted", zero_division=0)`` for two boolean classes."""
    total = 0.0
    for c in (False, True):
        support = int(np.sum(t == c))
        if support == 0:
            continue  # a class seen only in the predictions has weight 0
        tp = int(np.sum((t == c) & (p == c)))
        fp = int(np.sum((t != c) & (p == c)))
        fn = support - tp
        total += support * (2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else 0.0)
    return float(total / t.size)


def _group_metrics(t: np.ndarray, p: np.ndarray, codes: np.ndarray) -> dict[str, float]:
    """r_within, r_between and r_composite from one pass over the groups."""
    _, codes = np.unique(codes, return_inverse=True)
    k = int(codes.max()) + 1 if codes.size else 0
    n, st, r = _grouped_pearson(t, p, codes, k)
    ok = (n >= 2) & (st >= 1e-12)
    within = float(r[ok].mean()) if ok.any() else float("nan")
    cnt = np.maximum(n, 1)
    between = _pearson(np.bincount(codes, t, k) / cnt, np.bincount(codes, p, k) / cnt) if k >= 2 else float("nan")
    return {"r_within": within, "r_between": between, "r_composite": _composite(within, between)}


_FAST = {"ccc", "pearson", "mae", "rmse", "r_within", "r_between", "r_composite", "f1_nonneg", "f1_nozero"}


def fast_scores(task: str, y_true: np.ndarray, y_pred: np.ndarray, target_names: Sequence[str],
                codes: np.ndarray | None = None, seen: np.ndarray | None = None,
                only: set[str] | None = None) -> dict[str, float]:
    """The same keys and values as :func:`~affectlab.evaluation.scoring.score_arrays`, faster.

    >>> import numpy as np
    >>> y = np.array([[0.], [1.], [2.], [0.], [2.]]); p = y * 0.5
    >>> fast_scores("semeval", y, p, ["v"], np.array([0, 0, 0, 1, 1]))["r_within_v"]
    1.0
    """
    y_true = np.asarray(y_true, dtype=float).reshape(len(y_true), -1)
    y_pred = np.asarray(y_pred, dtype=float).reshape(len(y_pred), -1)
    # ``only`` narrows the all-rows metrics; the seen/unseen subsets score every metric
    out = _fast_subset(task, y_true, y_pred, target_names, codes, only)
    return with_seen_subsets(_fast_subset, task, y_true, y_pred, target_names, codes, seen, all_rows=out)


def _fast_per_target(names, t: np.ndarray, p: np.ndarray, c: np.ndarray | None) -> dict[str, float]:
    """One target's metrics, the group-aware ones from one pass over the groups."""
    grouped = _group_metrics(t, p, c) if c is not None and {"r_within", "r_between", "r_composite"} & set(names) else {}
    return {name: grouped[name] if name in grouped
            else (_metric_fast(name, t, p, c) if name in _FAST else METRICS.get(name)(t, p, c)) for name in names}


def _fast_subset(task, y_true, y_pred, target_names, codes, only=None) -> dict[str, float]:
    return score_subset(task, y_true, y_pred, target_names, codes, only=only, per_target=_fast_per_target)


def metrics_for_keys(keys: Sequence[str]) -> set[str]:
    """The metric names that score keys such as ``score``, ``ccc_valence`` or ``mae`` need.

    >>> sorted(metrics_for_keys(["score", "ccc_valence", "r_within"]))
    ['ccc', 'r_composite', 'r_within']
    """
    names = sorted(METRICS.names(), key=len, reverse=True)
    out = set()
    for key in keys:
        base = key.split("/")[-1]
        if base == "score":
            out.add("r_composite")
            continue
        out.update(next(([m] for m in names if base == m or base.startswith(m + "_")), []))
    return out


# --------------------------------------------------------------------------- intervals

def _percentiles(values: np.ndarray, level: float) -> tuple[float, float]:
    v = values[np.isfinite(values)]
    if v.size == 0:
        return float("nan"), float("nan")
    a = (1 - level) / 2 * 100
    lo, hi = np.percentile(v, [a, 100 - a])
    return float(lo), float(hi)


def bootstrap_ci(metric: str | Callable[..., float], y_true, y_pred, groups=None, *,
                 n_resamples: int = N_RESAMPLES, level: float = 0.95, seed: int = 0) -> Interval:
    """Percentile interval of one metric (a registered name, or ``fn(y_true, y_pred, groups)``).

    >>> import numpy as np
    >>> y = np.arange(40.0); g = np.repeat(np.arange(8), 5)
    >>> ci = bootstrap_ci("mae", y, y + 1, g, n_resamples=50)
    >>> (ci.value, ci.low, ci.high, ci.unit, ci.n_units)
    (1.0, 1.0, 1.0, 'groups', 8)
    """
    fn = METRICS.get(metric) if isinstance(metric, str) else metric
    t = np.asarray(y_true, dtype=float).ravel()
    p = np.asarray(y_pred, dtype=float).ravel()
    sampler = Resampler(len(t), groups, seed)
    g0 = sampler.codes
    value = float(fn(t, p, g0) if g0 is not None else fn(t, p, None))
    stats = np.empty(n_resamples)
    for b in range(n_resamples):
        idx, codes = sampler.draw()
        stats[b] = fn(t[idx], p[idx], codes)
    lo, hi = _percentiles(stats, level)
    return Interval(value, lo, hi, level, n_resamples, sampler.n_units, sampler.unit)


def bootstrap_scores(task: str, y_true: np.ndarray, y_pred: np.ndarray, target_names: Sequence[str],
                     groups=None, seen: np.ndarray | None = None, *, n_resamples: int = N_RESAMPLES,
                     level: float = 0.95, seed: int = 0) -> dict[str, Interval]:
    """Every key of the task's scores with its percentile interval (groups resampled when given)."""
    y_true = np.asarray(y_true, dtype=float).reshape(len(y_true), -1)
    y_pred = np.asarray(y_pred, dtype=float).reshape(len(y_pred), -1)
    sampler = Resampler(len(y_true), groups, seed)
    seen_arr = None if seen is None else np.asarray(seen, dtype=bool)
    point = fast_scores(task, y_true, y_pred, target_names, sampler.codes, seen_arr)
    draws: dict[str, list[float]] = {k: [] for k in point}
    for _ in range(n_resamples):
        idx, codes = sampler.draw()
        s = fast_scores(task, y_true[idx], y_pred[idx], target_names, codes,
                        None if seen_arr is None else seen_arr[idx])
        for k in draws:
            draws[k].append(s.get(k, np.nan))
    out = {}
    for k, v in point.items():
        lo, hi = _percentiles(np.asarray(draws[k], dtype=float), level)
        out[k] = Interval(float(v), lo, hi, level, n_resamples, sampler.n_units, sampler.unit)
    return out


def paired_bootstrap(task: str, y_true: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray,
                     target_names: Sequence[str], groups=None, keys: Sequence[str] | None = None, *,
                     n_resamples: int = N_RESAMPLES, level: float = 0.95, seed: int = 0) -> dict[str, PairedResult]:
    """Score ``a - b`` on the same resamples of shared samples; two-sided percentile p-value.

    The p-value is the smallest two-sided level at which the percentile interval of the
    difference excludes zero: ``2 * min(P*(d <= 0), P*(d >= 0))`` with add-one smoothing.
    """
    y_true = np.asarray(y_true, dtype=float).reshape(len(y_true), -1)
    pa = np.asarray(pred_a, dtype=float).reshape(len(y_true), -1)
    pb = np.asarray(pred_b, dtype=float).reshape(len(y_true), -1)
    sampler = Resampler(len(y_true), groups, seed)
    only = metrics_for_keys(keys) if keys else None
    sa = fast_scores(task, y_true, pa, target_names, sampler.codes, only=only)
    sb = fast_scores(task, y_true, pb, target_names, sampler.codes, only=only)
    keys = [k for k in (keys or sa) if k in sa and k in sb]
    diffs: dict[str, list[float]] = {k: [] for k in keys}
    for _ in range(n_resamples):
        idx, codes = sampler.draw()
        ra = fast_scores(task, y_true[idx], pa[idx], target_names, codes, only=only)
        rb = fast_scores(task, y_true[idx], pb[idx], target_names, codes, only=only)
        for k in keys:
            diffs[k].append(ra.get(k, np.nan) - rb.get(k, np.nan))
    out = {}
    for k in keys:
        d = np.asarray(diffs[k], dtype=float)
        d = d[np.isfinite(d)]
        lo, hi = _percentiles(d, level)
        if d.size:
            below = (1 + np.sum(d <= 0)) / (d.size + 1)
            above = (1 + np.sum(d >= 0)) / (d.size + 1)
            p = float(min(1.0, 2 * min(below, above)))
        else:
            p = float("nan")
        out[k] = PairedResult(k, float(sa[k]), float(sb[k]), float(sa[k] - sb[k]), lo, hi, p,
                              higher_is_better(k), sampler.n_units, sampler.unit)
    return out
