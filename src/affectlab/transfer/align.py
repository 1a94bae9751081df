"""Distribution alignment without labels: standardisation, CORAL, MMD and pseudo-targets.

Everything here works on per-sample vectors (one row per sample; sequences are mean-pooled by
the caller). The source side is always the source model's *standardised* input space, so a
mapped target vector can be fed to the source network as if it came from the source extractor.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> xs = rng.normal(size=(500, 3)) @ np.array([[2.0, 0.5, 0.0], [0.0, 1.0, 0.3], [0.0, 0.0, 0.5]])
>>> xt = rng.normal(size=(400, 3)) * 3 + 1
>>> w, b = coral_map(xt, xs, eps=0.0)
>>> bool(np.allclose(np.cov(xt @ w + b, rowvar=False), np.cov(xs, rowvar=False)))
True
>>> float(mmd2(xs[:100], xs[:100]))
0.0
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch


# --------------------------------------------------------------------------- closed-form maps

def moment_map(x: np.ndarray, mu_s: np.ndarray, sd_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension standardisation to source statistics as ``y = x @ W + b`` (``W`` diagonal).

    Each target dimension gets the source dimension's mean and sd (same dimension count needed).

    >>> x = np.array([[0.0, 10.0], [2.0, 30.0]])
    >>> w, b = moment_map(x, np.array([1.0, -1.0]), np.array([2.0, 1.0]))
    >>> (x @ w + b).tolist()
    [[-1.0, -2.0], [3.0, 0.0]]
    """
    mu_t, sd_t = x.mean(0), x.std(0)
    sd_t = np.where(sd_t > 1e-8, sd_t, 1.0)
    w = np.diag(sd_s / sd_t)
    return w, mu_s - mu_t * sd_s / sd_t


def standardization_map(x: np.ndarray, mu_s: np.ndarray, sd_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A label-free linear map from target vectors (n, d_t) to source space (d_s) by moments only.

    Same dimension count: per-dimension standardisation to source mean/sd (:func:`moment_map`).
    Different counts: the target's first ``min(d_t, d_s)`` principal components, each scaled to
    the matching source dimension's mean and sd (remaining source dimensions get their mean).
    Which component lands on which source dimension is arbitrary: moments carry no
    correspondence, which is the point of this baseline.
    """
    d_t, d_s = x.shape[1], len(mu_s)
    if d_t == d_s:
        return moment_map(x, mu_s, sd_s)
    mu_t = x.mean(0)
    _, s, vt = np.linalg.svd(x - mu_t, full_matrices=False)
    k = min(d_t, d_s, len(s))
    comp = vt[:k].T  # (d_t, k)
    sd_p = s[:k] / np.sqrt(max(len(x), 1))
    sd_p = np.where(sd_p > 1e-8, sd_p, 1.0)
    w = np.zeros((d_t, d_s))
    w[:, :k] = comp / sd_p * sd_s[:k]
    b = mu_s - mu_t @ w
    return w, b


def _sqrtm(c: np.ndarray, inverse: bool = False) -> np.ndarray:
    vals, vecs = np.linalg.eigh(c)
    vals = np.clip(vals, 1e-12, None)
    return (vecs * (vals ** (-0.5 if inverse else 0.5))) @ vecs.T


def coral_map(xt: np.ndarray, xs: np.ndarray, eps: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """CORAL (Sun et al., 2016) with means: ``y = (x - mu_t) C_t^{-1/2} C_s^{1/2} + mu_s``.

    ``C_t`` and ``C_s`` get ``eps * I`` added (the paper's regulariser); with ``eps = 0`` and
    a full-rank ``C_t`` the mapped target covariance equals the source covariance exactly.
    Returns ``(W, b)`` with ``y = x @ W + b``.
    """
    d = xt.shape[1]
    ct = np.cov(xt, rowvar=False).reshape(d, d) + eps * np.eye(d)
    cs = np.cov(xs, rowvar=False).reshape(d, d) + eps * np.eye(d)
    w = _sqrtm(ct, inverse=True) @ _sqrtm(cs)
    return w, xs.mean(0) - xt.mean(0) @ w


# --------------------------------------------------------------------------- MMD

def median_bandwidth(x: np.ndarray | torch.Tensor, max_rows: int = 500) -> float:
    """The median pairwise Euclidean distance of (up to ``max_rows``) rows: the usual RBF scale."""
    t = torch.as_tensor(np.asarray(x, dtype=np.float64)[:max_rows]) if not isinstance(x, torch.Tensor) else x[:max_rows].double()
    d = torch.cdist(t, t)
    iu = torch.triu_indices(len(t), len(t), 1)
    vals = d[iu[0], iu[1]]
    return float(vals.median()) if vals.numel() else 1.0


def mmd2(x, y, bandwidth: float | None = None, scales: Sequence[float] = (0.5, 1.0, 2.0)) -> torch.Tensor:
    """Biased (V-statistic) squared MMD with a sum of RBF kernels ``exp(-d^2 / (2 (s h)^2))``.

    ``h`` defaults to the median distance of ``y`` (the source). Differentiable in ``x`` and
    ``y`` when they are tensors; zero when the two samples are identical.
    """
    x = torch.as_tensor(x, dtype=torch.float64) if not isinstance(x, torch.Tensor) else x
    y = torch.as_tensor(y, dtype=x.dtype) if not isinstance(y, torch.Tensor) else y.to(x.dtype)
    h = bandwidth if bandwidth is not None else median_bandwidth(y.detach())
    h = max(float(h), 1e-6)

    def k(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        d2 = torch.cdist(a, b).pow(2)
        total = torch.zeros_like(d2)  # the same additions, in the same order, as sum() from 0
        for s in scales:
            total = total + torch.exp(-d2 / (2 * (s * h) ** 2))
        return total

    return k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean()


# --------------------------------------------------------------------------- pseudo-targets

def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def label_targets(yt: np.ndarray, ys_labels: np.ndarray, ys: np.ndarray, *, exclude: np.ndarray | None = None,
                  neighbours: int = 10, seed: int = 0, category: Sequence[bool] | None = None) -> np.ndarray:
    """Pseudo-targets from labels: each labelled target sample gets the mean source vector of the
    ``neighbours`` source samples whose labels are nearest to its own (mean absolute difference over
    the targets; ties broken at random by ``seed``). Class-conditional alignment for K labelled samples.

    ``yt`` (n_target, n_targets) and ``ys_labels`` (n_source, n_targets) are label matrices (NaN =
    missing); ``exclude`` (n_target, n_source) bool marks pairs never matched. ``category`` marks
    the columns holding class indices (an index difference means nothing): only source samples of
    the same class are matched (up to ``neighbours`` of them, drawn at random among that class; the
    other columns, if any, rank them), and a sample whose class no source sample has gets NaN (no
    pseudo-target).

    >>> ys = np.array([[0.0, 0.0], [1.0, 1.0], [10.0, 10.0]])
    >>> label_targets(np.array([[0.9], [-1.0]]), np.array([[1.0], [1.0], [-1.0]]), ys, neighbours=2).tolist()
    [[0.5, 0.5], [5.0, 5.0]]
    >>> label_targets(np.array([[2.0], [0.0], [3.0]]), np.array([[0.0], [0.0], [2.0]]), ys, neighbours=2,
    ...               category=[True]).tolist()
    [[10.0, 10.0], [0.5, 0.5], [nan, nan]]
    """
    diff = np.abs(yt[:, None, :] - ys_labels[None, :, :])
    cat = np.zeros(diff.shape[2], dtype=bool) if category is None else np.asarray(category, dtype=bool)
    other_class = None
    if cat.any():
        other_class = (diff[:, :, cat] > 0).any(axis=2)  # NaN > 0 is False: a missing label is no mismatch
        diff[:, :, cat] = np.where(np.isnan(diff[:, :, cat]), np.nan, 0.0)
    known = ~np.isnan(diff)
    count = known.sum(axis=2)
    dist = np.where(count > 0, np.where(known, diff, 0.0).sum(axis=2) / np.maximum(count, 1), np.inf)
    if exclude is not None:
        dist = np.where(exclude, np.inf, dist)
    if other_class is not None:
        dist = np.where(other_class, np.inf, dist)
    shuffle = np.random.default_rng(seed).permutation(len(ys))  # random order among equal labels
    k = max(1, min(neighbours, len(ys)))
    top = shuffle[np.argsort(dist[:, shuffle], axis=1, kind="stable")[:, :k]]
    if other_class is None:
        return ys[top].mean(axis=1)
    ok = np.isfinite(np.take_along_axis(dist, top, axis=1))  # same class (and not excluded) only
    count = ok.sum(axis=1)
    out = np.full((len(yt), ys.shape[1]), np.nan)
    sums = (ys[top] * ok[:, :, None]).sum(axis=1)
    out[count > 0] = sums[count > 0] / count[count > 0, None]
    return out


def pseudo_targets(scheme: str, n_target: int, ys: np.ndarray, *, ft: np.ndarray | None = None,
                   fs: np.ndarray | None = None, exclude: np.ndarray | None = None, clusters: int = 32,
                   neighbours: int = 1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A source vector to regress each target sample onto, and the source row(s) it came from.

    - ``random``: a random source sample per target sample (fixed by ``seed``);
    - ``kmeans``: the source samples are clustered by their similarity features ``fs``; each
      target sample joins the cluster whose centroid is nearest (cosine) to its ``ft`` and gets
      the mean of that cluster's ``ys``;
    - ``nn``: the mean ``ys`` of the ``neighbours`` most similar source samples (cosine of
      ``ft`` against ``fs``).

    ``exclude`` (n_target, n_source) bool marks pairs that must not be matched (e.g. the same
    id or video: in a benchmark on one data set they would leak the true pairing).
    Returns ``(targets (n_target, d_s), index (n_target,))`` where index is the (first) source
    row used, or -1 for a cluster mean.

    >>> ys = np.array([[1.0], [2.0], [3.0]])
    >>> fs = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> t, i = pseudo_targets("nn", 2, ys, ft=np.array([[0.1, 1.0], [1.0, 0.0]]), fs=fs)
    >>> t.ravel().tolist(), i.tolist()
    ([2.0, 1.0], [1, 0])
    """
    rng = np.random.default_rng(seed)
    n_s = len(ys)
    if scheme == "random":
        idx = rng.integers(0, n_s, size=n_target)
        if exclude is not None:
            for i in np.flatnonzero(exclude[np.arange(n_target), idx]):
                allowed = np.flatnonzero(~exclude[i])
                idx[i] = rng.choice(allowed) if allowed.size else idx[i]
        return ys[idx], idx
    if ft is None or fs is None:
        raise ValueError(f"pseudo-target scheme {scheme!r} needs similarity features")
    sim = _unit(ft) @ _unit(fs).T  # (n_target, n_source) cosine
    if scheme == "nn":
        if exclude is not None:
            sim = np.where(exclude, -np.inf, sim)
        k = max(1, min(neighbours, n_s))
        top = np.argsort(-sim, axis=1, kind="stable")[:, :k]
        return ys[top].mean(axis=1), top[:, 0]
    if scheme == "kmeans":
        from sklearn.cluster import KMeans

        k = max(1, min(clusters, n_s))
        km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(_unit(fs))
        centres = np.stack([ys[km.labels_ == c].mean(0) for c in range(k)])
        assign = np.argmax(_unit(ft) @ _unit(km.cluster_centers_).T, axis=1)
        return centres[assign], np.full(n_target, -1)
    raise ValueError(f"unknown pseudo-target scheme {scheme!r} (random, kmeans, nn)")


# --------------------------------------------------------------------------- diagnostics

def mapping_quality(pred: np.ndarray, true: np.ndarray) -> dict[str, np.ndarray]:
    """Per source dimension: variance ratio ``var(pred) / var(true)`` and R^2 of ``pred`` for ``true``.

    >>> t = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> q = mapping_quality(t * 1.0, t)
    >>> float(q["r2"][0]), float(q["var_ratio"][0])
    (1.0, 1.0)
    """
    var_t = true.var(0)
    ss_res = ((true - pred) ** 2).sum(0)
    ss_tot = ((true - true.mean(0)) ** 2).sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(ss_tot > 1e-12, 1 - ss_res / ss_tot, np.nan)
        ratio = np.where(var_t > 1e-12, pred.var(0) / var_t, np.nan)
    return {"var_ratio": ratio, "r2": r2}
