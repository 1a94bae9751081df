"""Percentile bootstrap confidence intervals and paired bootstrap tests for any metric.

When samples belong to groups (users, videos) the bootstrap resamples *groups* with
replacement and keeps each drawn group whole: texts of one user are not independent, so
resampling rows would give intervals that are too narrow. A group drawn twice counts as two
users (it gets a fresh code per draw), which keeps per-user metrics such as ``r_within`` right.

Every number comes from the metric registry. A resample is a row of weights (how often each
row was drawn), and each metric scores all resamples at once through ``Metric.batch`` (its
batched form, or a loop over its plain function when it has none): see
:mod:`affectlab.metrics.base`. Which metrics, keys, averages and subsets a task reports is
:mod:`affectlab.evaluation.scoring`'s business; the bootstrap runs that scorer with a per-target
hook (:class:`_Replay`) instead of repeating it.

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
from functools import partial
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ..metrics import METRICS
from ..metrics.base import batch_by_loop, expand
from .scoring import higher_is_better, score_subset, with_seen_subsets

#: default number of bootstrap resamples
N_RESAMPLES = 1000
#: weights held in memory at once (resamples x rows); larger samples are scored in chunks
_CHUNK_CELLS = 2_000_000


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
        """As ``summary.json`` stores it: ``value``, ``ci_low``, ``ci_high``."""
        return {"value": self.value, "ci_low": self.low, "ci_high": self.high}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "Interval":
        """An interval as :meth:`as_dict` wrote it (a null value, JSON's NaN, reads as NaN).

        >>> Interval.from_dict({"value": 0.5, "ci_low": 0.4, "ci_high": None}).high
        nan
        """
        def number(key: str) -> float:
            value = raw.get(key)
            return float("nan") if value is None else float(value)

        return cls(number("value"), number("ci_low"), number("ci_high"))


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
    """Draws bootstrap resamples of rows, or of whole groups, as weights (draw counts per row).

    >>> r = Resampler(5, groups=["a", "a", "b", "b", "b"], seed=0)
    >>> w = r.weights(3)
    >>> w.shape, bool((w[:, 0] == w[:, 1]).all() and (w.reshape(3, -1)[:, :2].sum(1) % 2 == 0).all())
    ((3, 5), True)
    >>> idx, codes = r.draw()   # one resample as row indices, a fresh code per drawn group
    >>> len(set(codes.tolist())) == 2 and len(idx) in (4, 5, 6)
    True
    """

    def __init__(self, n: int, groups: Sequence | np.ndarray | None = None, seed: int = 0) -> None:
        self.n = n
        self.rng = np.random.default_rng(seed)
        self.codes = group_codes(groups, n)
        self.n_units = n if self.codes is None else int(self.codes.max()) + 1 if n else 0
        self.unit = "rows" if self.codes is None else "groups"

    def weights(self, n_resamples: int) -> np.ndarray:
        """(n_resamples, n) draw counts: units drawn with replacement, a group's count on each of its rows."""
        k = self.n_units
        picked = self.rng.integers(0, k, (n_resamples, k)) + k * np.arange(n_resamples)[:, None]
        counts = np.bincount(picked.ravel(), minlength=n_resamples * k).reshape(n_resamples, k).astype(float)
        return counts if self.codes is None else counts[:, self.codes]

    def chunks(self, n_resamples: int) -> Iterator[np.ndarray]:
        """:meth:`weights` for ``n_resamples`` resamples, a few at a time so memory stays small."""
        size = max(1, _CHUNK_CELLS // max(self.n, 1))
        for start in range(0, n_resamples, size):
            yield self.weights(min(size, n_resamples - start))

    def draw(self) -> tuple[np.ndarray, np.ndarray | None]:
        """One resample as (row indices, group codes or ``None``), each drawn group with its own code."""
        return expand(self.weights(1)[0], self.codes)


# --------------------------------------------------------------------------- scoring resamples

class _Replay:
    """``score_subset``'s per-target hook that scores every resample of a chunk at once.

    The scorer is called with row numbers in place of the groups (it only slices them), so the
    hook knows which rows a target's call covers and takes their weights and real group codes.
    The first (recording) pass computes each call's values for all resamples; pass ``b`` then
    replays the same calls in the same order, returning resample ``b``'s values, so that keys,
    averages and the ``score`` are assembled by the scorer itself.
    """

    def __init__(self, weights: np.ndarray, codes: np.ndarray | None) -> None:
        self.weights, self.codes = weights, codes
        self.calls: list[dict[str, np.ndarray]] = []
        self.b = -1  # -1: recording
        self.pos = 0

    def __call__(self, names: Sequence[str], t: np.ndarray, p: np.ndarray, rows: np.ndarray) -> dict[str, float]:
        if self.b < 0:
            rows = np.asarray(rows, dtype=np.int64)
            g = None if self.codes is None else self.codes[rows]
            w = self.weights[:, rows]
            self.calls.append({n: METRICS.get(n).batch(t, p, w, g) for n in names})
            return {n: float("nan") for n in names}
        values = self.calls[self.pos]
        self.pos += 1
        if list(values) != list(names):
            raise RuntimeError("the scorer called the bootstrap hook differently on replay")
        return {n: float(v[self.b]) for n, v in values.items()}

    def replay(self, b: int) -> None:
        self.b, self.pos = b, 0


def _without_group_metrics(only: set[str] | None) -> set[str]:
    names = set(METRICS.names()) if only is None else set(only)
    return {n for n in names if n not in METRICS or not METRICS.get(n).needs_groups}


def resampled_scores(task, y_true: np.ndarray, y_pred: np.ndarray, targets: Sequence, codes: np.ndarray | None,
                     seen: np.ndarray | None, weights: np.ndarray, only: set[str] | None = None) -> dict[str, np.ndarray]:
    """Every score key of ``task`` on each weighted resample: ``{key: values[B]}``.

    ``codes``: integer group codes (group metrics need them); ``only`` narrows the all-rows
    metrics as in :func:`fast_scores`. The values equal the exact scores of the expanded resamples.

    >>> y = np.array([[0.], [1.], [2.], [3.]]); w = np.array([[1., 1., 1., 1.], [0., 2., 2., 0.]])
    >>> resampled_scores("regression", y, y + 1, ["v"], None, None, w)["mae_v"].tolist()
    [1.0, 1.0]
    """
    y_true = np.asarray(y_true, dtype=float).reshape(len(y_true), -1)
    y_pred = np.asarray(y_pred, dtype=float).reshape(len(y_pred), -1)
    rows = np.arange(len(y_true))
    hook = _Replay(np.atleast_2d(weights), codes)
    narrow = only if codes is not None else _without_group_metrics(only)
    rest = None if codes is not None else _without_group_metrics(None)

    def one_pass() -> dict[str, float]:
        subset = partial(score_subset, per_target=hook, only=rest)
        all_rows = score_subset(task, y_true, y_pred, targets, rows, only=narrow, per_target=hook)
        return with_seen_subsets(subset, task, y_true, y_pred, targets, rows, seen, all_rows=all_rows)

    keys = list(one_pass())
    out = {k: np.full(len(hook.weights), np.nan) for k in keys}
    for b in range(len(hook.weights)):
        hook.replay(b)
        for k, v in one_pass().items():
            out[k][b] = v
    return out


def fast_scores(task, y_true: np.ndarray, y_pred: np.ndarray, targets: Sequence,
                codes: np.ndarray | None = None, seen: np.ndarray | None = None,
                only: set[str] | None = None) -> dict[str, float]:
    """The task's scores on all rows (as :func:`~affectlab.evaluation.scoring.score_arrays`);
    ``only`` narrows the all-rows metrics, the seen/unseen subsets score every metric.

    >>> import numpy as np
    >>> y = np.array([[0.], [1.], [2.], [0.], [2.]]); p = y * 0.5
    >>> fast_scores("semeval", y, p, ["v"], np.array([0, 0, 0, 1, 1]))["r_within_v"]
    1.0
    """
    y_true = np.asarray(y_true, dtype=float).reshape(len(y_true), -1)
    y_pred = np.asarray(y_pred, dtype=float).reshape(len(y_pred), -1)
    out = score_subset(task, y_true, y_pred, targets, codes, only=only)
    return with_seen_subsets(score_subset, task, y_true, y_pred, targets, codes, seen, all_rows=out)


def metrics_for_keys(keys: Sequence[str]) -> set[str]:
    """The metric names that score keys such as ``score``, ``ccc_valence`` or ``mae`` need
    (``score`` stays ``score``: the scorer adds each target's score metric, which the task declares).

    >>> sorted(metrics_for_keys(["score", "ccc_valence", "r_within"]))
    ['ccc', 'r_within', 'score']
    """
    names = sorted(METRICS.names(), key=len, reverse=True)
    out = set()
    for key in keys:
        base = key.split("/")[-1]
        if base == "score":
            out.add("score")
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


def _values(x) -> np.ndarray:
    """Numbers as floats (class indices included); labels that are not numbers as they are."""
    a = np.asarray(x).ravel()
    try:
        return a.astype(float)
    except ValueError:
        return a


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
    t, p = _values(y_true), _values(y_pred)
    sampler = Resampler(len(t), groups, seed)
    value = float(fn(t, p, sampler.codes))
    batch = fn.batch if hasattr(fn, "batch") else partial(batch_by_loop, fn)
    stats = np.concatenate([batch(t, p, w, sampler.codes) for w in sampler.chunks(n_resamples)])
    lo, hi = _percentiles(stats, level)
    return Interval(value, lo, hi, level, n_resamples, sampler.n_units, sampler.unit)


def _paired_p(d: np.ndarray) -> float:
    """Two-sided percentile p of differences ``d``: ``2 * min(P*(d <= 0), P*(d >= 0))``, add-one smoothed."""
    d = d[np.isfinite(d)]
    if not d.size:
        return float("nan")
    below = (1 + np.sum(d <= 0)) / (d.size + 1)
    above = (1 + np.sum(d >= 0)) / (d.size + 1)
    return float(min(1.0, 2 * min(float(below), float(above))))


def bootstrap_diff(metric: str, y_true, pred_a, pred_b, groups=None, *, n_resamples: int = N_RESAMPLES,
                   level: float = 0.95, seed: int = 0) -> PairedResult:
    """One registered metric of ``a`` minus ``b`` on the same resamples (groups resampled when given).

    >>> import numpy as np
    >>> y = np.arange(30.0) % 3; g = np.repeat(np.arange(10), 3)
    >>> r = bootstrap_diff("accuracy", y, y, np.zeros(30), g, n_resamples=200)
    >>> round(r.diff, 4), r.low > 0, r.p_value < 0.05
    (0.6667, True, True)
    """
    m = METRICS.get(metric)
    t, pa, pb = _values(y_true), _values(pred_a), _values(pred_b)
    sampler = Resampler(len(t), groups, seed)
    a, b = m(t, pa, sampler.codes), m(t, pb, sampler.codes)
    d = np.concatenate([m.batch(t, pa, w, sampler.codes) - m.batch(t, pb, w, sampler.codes)
                        for w in sampler.chunks(n_resamples)])
    lo, hi = _percentiles(d, level)
    return PairedResult(metric, a, b, a - b, lo, hi, _paired_p(d), m.higher_is_better, sampler.n_units, sampler.unit)


def bootstrap_scores(task, y_true: np.ndarray, y_pred: np.ndarray, targets: Sequence,
                     groups=None, seen: np.ndarray | None = None, *, n_resamples: int = N_RESAMPLES,
                     level: float = 0.95, seed: int = 0, keys: Sequence[str] | None = None) -> dict[str, Interval]:
    """Every key of the task's scores with its percentile interval (groups resampled when given).

    ``targets``: TargetSpecs or names (a name is a regression target); category targets hold
    class indices in ``y_true`` and ``y_pred``. ``keys`` (e.g. ``["mae", "pearson"]``): only the
    metrics those keys need are computed (faster).
    """
    y_true = np.asarray(y_true, dtype=float).reshape(len(y_true), -1)
    y_pred = np.asarray(y_pred, dtype=float).reshape(len(y_pred), -1)
    sampler = Resampler(len(y_true), groups, seed)
    seen_arr = None if seen is None else np.asarray(seen, dtype=bool)
    only = metrics_for_keys(keys) if keys else None
    point = fast_scores(task, y_true, y_pred, targets, sampler.codes, seen_arr, only=only)
    parts = [resampled_scores(task, y_true, y_pred, targets, sampler.codes, seen_arr, w, only)
             for w in sampler.chunks(n_resamples)]
    out = {}
    for k, v in point.items():
        draws = np.concatenate([part.get(k, np.full(1, np.nan)) for part in parts])
        lo, hi = _percentiles(draws, level)
        out[k] = Interval(float(v), lo, hi, level, n_resamples, sampler.n_units, sampler.unit)
    return out


def paired_bootstrap(task, y_true: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray,
                     targets: Sequence, groups=None, keys: Sequence[str] | None = None, *,
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
    sa = fast_scores(task, y_true, pa, targets, sampler.codes, only=only)
    sb = fast_scores(task, y_true, pb, targets, sampler.codes, only=only)
    keys = [k for k in (keys or sa) if k in sa and k in sb]
    diffs: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    for w in sampler.chunks(n_resamples):
        ra = resampled_scores(task, y_true, pa, targets, sampler.codes, None, w, only)
        rb = resampled_scores(task, y_true, pb, targets, sampler.codes, None, w, only)
        for k in keys:
            nan = np.full(len(w), np.nan)
            diffs[k].append(ra.get(k, nan) - rb.get(k, nan))
    out = {}
    for k in keys:
        d = np.concatenate(diffs[k])
        lo, hi = _percentiles(d, level)
        out[k] = PairedResult(k, float(sa[k]), float(sb[k]), float(sa[k] - sb[k]), lo, hi, _paired_p(d),
                              higher_is_better(k), sampler.n_units, sampler.unit)
    return out
