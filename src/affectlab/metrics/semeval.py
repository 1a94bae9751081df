"""SemEval-2026 Task 2 ranking metrics, exactly as the organisers define them.

- ``r_within``: mean over users with >= 2 texts and non-constant gold of the per-user Pearson r,
  with r = 0 for a user whose predictions are constant.
- ``r_between``: Pearson r of per-user means (gold vs predicted), over all users.
- ``r_composite`` = tanh((atanh(r_within) + atanh(r_between)) / 2).
- Team score: mean of ``r_composite`` over valence and arousal.

>>> y = [0, 1, 2, 0, 1, 2]; p = [0, 1, 2, 1, 2, 3]; g = ["a"] * 3 + ["b"] * 3
>>> r_within(y, p, g)
1.0
>>> r_between(y, p, g)   # both users have gold mean 1: constant, so 0
0.0
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .base import as_float_arrays, register_metric
from .regression import pearson

_EDGE = 1 - 1e-7  # atanh(±1) is infinite; clip just inside


def _by_group(y_true, y_pred, groups) -> pd.DataFrame:
    t, p = as_float_arrays(y_true, y_pred)
    if groups is None:
        raise ValueError("this metric needs the group (user) of every sample")
    return pd.DataFrame({"t": t, "p": p, "g": np.asarray(groups)})


@register_metric("r_within", higher_is_better=True, needs_groups=True)
def r_within(y_true, y_pred, groups) -> float:
    """Mean per-user Pearson r over users with >= 2 texts and non-constant gold (constant predictions: 0)."""
    frame = _by_group(y_true, y_pred, groups)
    rs = []
    for _, part in frame.groupby("g", sort=False):
        if len(part) < 2 or part["t"].std(ddof=0) < 1e-12:
            continue
        rs.append(pearson(part["t"].to_numpy(), part["p"].to_numpy()))
    return float(np.mean(rs)) if rs else float("nan")


@register_metric("r_between", higher_is_better=True, needs_groups=True)
def r_between(y_true, y_pred, groups) -> float:
    """Pearson r between per-user mean gold and per-user mean prediction."""
    frame = _by_group(y_true, y_pred, groups)
    means = frame.groupby("g", sort=False)[["t", "p"]].mean()
    if len(means) < 2:
        return float("nan")
    return pearson(means["t"].to_numpy(), means["p"].to_numpy())


def combine_composite(within: float, between: float) -> float:
    """tanh of the mean of the Fisher z of the two correlations."""
    if np.isnan(within) or np.isnan(between):
        return float("nan")
    z = (np.arctanh(np.clip(within, -_EDGE, _EDGE)) + np.arctanh(np.clip(between, -_EDGE, _EDGE))) / 2
    return float(np.tanh(z))


@register_metric("r_composite", higher_is_better=True, needs_groups=True)
def r_composite(y_true, y_pred, groups) -> float:
    """tanh((atanh(r_within) + atanh(r_between)) / 2): the task's per-dimension ranking metric."""
    return combine_composite(r_within(y_true, y_pred, groups), r_between(y_true, y_pred, groups))
