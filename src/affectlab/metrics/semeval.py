"""SemEval-2026 Task 2 ranking metrics, exactly as the organisers define them.

- ``r_within``: mean over users with >= 2 texts and non-constant gold of the per-user Pearson r,
  with r = 0 for a user whose predictions are constant.
- ``r_between``: Pearson r of per-user means (gold vs predicted), over all users.
- ``r_composite`` = tanh((atanh(r_within) + atanh(r_between)) / 2).
- Team score: mean of ``r_composite`` over valence and arousal.

Per-user statistics are computed once with ``numpy.bincount``; the batched forms (bootstrap)
then only reweight users, since a resample of whole users changes how often each user counts,
not the user's own correlation.

>>> y = [0, 1, 2, 0, 1, 2]; p = [0, 1, 2, 1, 2, 3]; g = ["a"] * 3 + ["b"] * 3
>>> r_within(y, p, g)
1.0
>>> r_between(y, p, g)   # both users have gold mean 1: constant, so 0
0.0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .base import as_float_arrays, batch_by_loop, register_metric, weighted_moments
from .regression import CONSTANT_SD, _pearson_from_moments

_EDGE = 1 - 1e-7  # atanh(±1) is infinite; clip just inside


@dataclass(frozen=True)
class _Users:
    """Per-user statistics: count, gold mean and sd, prediction mean, within-user r."""

    n: np.ndarray
    mean_t: np.ndarray
    mean_p: np.ndarray
    sd_t: np.ndarray
    r: np.ndarray

    @property
    def usable(self) -> np.ndarray:
        """Users that enter r_within: at least two texts and non-constant gold."""
        return (self.n >= 2) & (self.sd_t >= CONSTANT_SD)


def _codes(groups, n: int) -> np.ndarray:
    if groups is None:
        raise ValueError("this metric needs the group (user) of every sample")
    g = np.asarray(groups)
    if len(g) != n:
        raise ValueError(f"groups has {len(g)} values, expected {n}")
    return pd.factorize(g)[0]


def _users(t: np.ndarray, p: np.ndarray, codes: np.ndarray) -> _Users:
    k = int(codes.max()) + 1 if codes.size else 0
    n = np.bincount(codes, minlength=k).astype(float)
    safe = np.maximum(n, 1)
    mt, mp = np.bincount(codes, t, k) / safe, np.bincount(codes, p, k) / safe
    dt, dp = t - mt[codes], p - mp[codes]  # two-pass: a constant user has sd exactly 0
    vt = np.bincount(codes, dt * dt, k) / safe
    vp = np.bincount(codes, dp * dp, k) / safe
    cov = np.bincount(codes, dt * dp, k) / safe
    return _Users(n, mt, mp, np.sqrt(vt), _pearson_from_moments(vt, vp, cov))


def _user_weights(weights: np.ndarray, codes: np.ndarray) -> np.ndarray | None:
    """Per-user draw counts (B, k), or ``None`` when weights vary within a user (rows resampled)."""
    _, first = np.unique(codes, return_index=True)
    per_user = weights[:, first]
    return per_user if np.array_equal(weights, per_user[:, codes]) else None


def _within(users: _Users, uw: np.ndarray) -> np.ndarray:
    w = uw * users.usable
    total = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, w @ np.where(users.usable, users.r, 0.0) / np.where(total > 0, total, 1), np.nan)


def _between(users: _Users, uw: np.ndarray) -> np.ndarray:
    _, _, vt, vp, cov = weighted_moments(uw, users.mean_t, users.mean_p)
    return np.where(uw.sum(axis=1) < 2, np.nan, _pearson_from_moments(vt, vp, cov))


def combine_composite(within, between):
    """tanh of the mean of the Fisher z of the two correlations (NaN if either is NaN)."""
    w, b = np.clip(within, -_EDGE, _EDGE), np.clip(between, -_EDGE, _EDGE)
    z = np.tanh((np.arctanh(w) + np.arctanh(b)) / 2)
    return float(z) if np.ndim(z) == 0 else z


def _batched(kind: str):
    def batched(y_true, y_pred, weights, groups=None) -> np.ndarray:
        t, p = as_float_arrays(y_true, y_pred)
        codes = _codes(groups, t.size)
        w = np.atleast_2d(np.asarray(weights, dtype=float))
        uw = _user_weights(w, codes)
        if uw is None:  # rows drawn singly: users are re-formed per resample, score each in turn
            return batch_by_loop(_EXACT[kind], t, p, w, codes)
        users = _users(t, p, codes)
        within = _within(users, uw) if kind != "r_between" else None
        between = _between(users, uw) if kind != "r_within" else None
        if kind == "r_composite":
            return combine_composite(within, between)
        scores = within if kind == "r_within" else between
        assert scores is not None  # the one asked for was computed
        return scores

    batched.__doc__ = f"{kind} on every weighted resample of whole users."
    return batched


def _one(kind: str, y_true, y_pred, groups) -> float:
    t, p = as_float_arrays(y_true, y_pred)
    return float(_batched(kind)(t, p, np.ones((1, t.size)), groups)[0])


@register_metric("r_within", higher_is_better=True, needs_groups=True, batched=_batched("r_within"))
def r_within(y_true, y_pred, groups) -> float:
    """Mean per-user Pearson r over users with >= 2 texts and non-constant gold (constant predictions: 0)."""
    return _one("r_within", y_true, y_pred, groups)


@register_metric("r_between", higher_is_better=True, needs_groups=True, batched=_batched("r_between"))
def r_between(y_true, y_pred, groups) -> float:
    """Pearson r between per-user mean gold and per-user mean prediction."""
    return _one("r_between", y_true, y_pred, groups)


@register_metric("r_composite", higher_is_better=True, needs_groups=True, batched=_batched("r_composite"))
def r_composite(y_true, y_pred, groups) -> float:
    """tanh((atanh(r_within) + atanh(r_between)) / 2): the task's per-dimension ranking metric."""
    return _one("r_composite", y_true, y_pred, groups)


_EXACT = {"r_within": r_within, "r_between": r_between, "r_composite": r_composite}
