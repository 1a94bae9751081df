"""Landmark (Nyström) kernel ridge in the primal, streamed over row chunks: the linear-cost
solver behind ``user_level_kernel``'s ``variant: nystroem``.

With ``m`` landmark texts ``Z`` and the kernel ``k`` (exp-cosine of the embeddings plus a weighted
linear TF-IDF kernel), the Nyström features are ``phi(x) = k(x, Z) L^-T`` where ``L L^T = K_ZZ``
(plus a tiny jitter). Ridge on these features needs only sums over rows:

    B = sum_i k(x_i, Z)^T k(x_i, Z)      (m x m)      c = sum_i k(x_i, Z)^T y_i      (m,)

since ``Phi^T Phi = L^-1 B L^-T``; the coefficients come back to the landmark space as
``beta = L^-T w`` so that a prediction is ``k(x, Z) @ beta``, the same form as the exact model's
``k(x, X_train) @ dual``. The user-centred ("fixed effects") part centres the rows of ``k(x, Z)``
within each user: ``sum_i kc_i^T kc_i = B - sum_u n_u mu_u mu_u^T`` per user, so rows are streamed
in chunks holding whole users. The sums are kept per fold of users, so a fit without fold ``f``
is ``B - B_f`` (no second pass), and a user's out-of-fold residual sum needs only the user's sum
of kernel rows (``S_u``, float32, one row per user).

Memory: O(m^2 * folds + users * m + chunk * m); time O(n * m * (m + d)). With every training text
a landmark (``m = n``) the features reproduce the kernel exactly and so does the model (up to the
jitter, ~1e-7 relative); ``user_level_kernel`` then solves in the dual, which is the same model.
All heavy algebra runs in torch float64 (NumPy's bundled OpenBLAS is very slow on some CPUs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch
from scipy import sparse

from ..core.compute import Engine
from .text_features import solve_regularised

#: relative jitter added to K_ZZ's diagonal before its Cholesky factor (raised tenfold on failure)
JITTER = 1e-7
#: rows per chunk (a chunk may exceed it to keep a user whole)
CHUNK = 2048

_F64 = torch.float64


@dataclass(frozen=True)
class KernelSpec:
    """``exp(gamma * (cos - 1))`` (``cos`` itself when gamma = 0) + ``tfidf_weight`` * TF-IDF dot product."""

    gamma: float
    tfidf_weight: float


def select_landmarks(n: int, m: int, seed: int) -> np.ndarray:
    """Sorted indices of ``min(n, m)`` landmark rows, drawn without replacement with ``seed`` (all rows when m >= n)."""
    if m >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=m, replace=False))


def unit_rows(x: np.ndarray) -> torch.Tensor:
    """Rows scaled to unit length as float64 torch (all-zero rows stay zero)."""
    t = torch.from_numpy(np.array(x, dtype=np.float64))  # a copy: inputs may be read-only memory maps
    norms = t.norm(dim=1, keepdim=True)
    return t / torch.where(norms > 0, norms, torch.ones_like(norms))


def kernel_block(xa: torch.Tensor, xz: torch.Tensor, tfa: sparse.spmatrix | None, tfz: sparse.spmatrix | None,
                 spec: KernelSpec) -> torch.Tensor:
    """``k(a, z)`` for unit-row embeddings ``xa`` (rows) and ``xz`` (columns), float64."""
    cos = xa @ xz.T
    K = torch.exp(spec.gamma * (cos - 1.0)) if spec.gamma > 0 else cos
    if spec.tfidf_weight > 0:
        assert tfa is not None and tfz is not None, "a TF-IDF weight needs the TF-IDF rows"
        K = K + spec.tfidf_weight * torch.from_numpy(np.asarray((tfa @ tfz.T).toarray(), dtype=np.float64))
    return K


def cholesky_jittered(W: torch.Tensor) -> torch.Tensor:
    """Lower Cholesky factor of ``W + eps I`` with ``eps = JITTER * mean(diag W)``, raised tenfold until it succeeds."""
    W = (W + W.T) / 2
    scale = float(W.diagonal().mean()) if len(W) else 1.0
    eps = JITTER * max(scale, 1e-12)
    eye = torch.eye(len(W), dtype=W.dtype)
    for _ in range(8):
        L, info = torch.linalg.cholesky_ex(W + eps * eye)
        if int(info) == 0:
            return L
        eps *= 10
    raise np.linalg.LinAlgError("landmark kernel matrix is not positive definite even with jitter")


def chunks(order: np.ndarray, codes: np.ndarray, folds: np.ndarray, size: int = CHUNK) -> Iterator[np.ndarray]:
    """Consecutive slices of ``order`` (rows sorted by fold then user) holding whole users of one fold."""
    if len(order) == 0:
        return
    u, f = codes[order], folds[order]
    starts = np.flatnonzero(np.r_[True, (u[1:] != u[:-1]) | (f[1:] != f[:-1])])
    bounds = list(starts) + [len(order)]
    begin = 0
    for k in range(1, len(bounds)):
        end = bounds[k]
        fold_changes = end < len(order) and f[end] != f[begin]
        if end - begin >= size or fold_changes or end == len(order):
            yield order[begin:end]
            begin = end


@dataclass
class LandmarkStats:
    """Sums over row chunks for one kernel spec (see the module docstring), per fold of users.

    ``B[f]``, ``cy[f]``: plain sums; ``Bc[f]``, ``ccy[f]``: the same with rows centred within user;
    ``s[f]``: sum of kernel rows; ``n[f]``, ``ysum[f]``: counts and target sums; ``S``: per-user row
    sums (float32); ``L``: Cholesky factor of the landmark kernel.
    """

    L: torch.Tensor
    B: list[torch.Tensor] = field(default_factory=list)
    Bc: list[torch.Tensor] = field(default_factory=list)
    cy: list[torch.Tensor] = field(default_factory=list)
    ccy: list[torch.Tensor] = field(default_factory=list)
    s: list[torch.Tensor] = field(default_factory=list)
    n: list[int] = field(default_factory=list)
    ysum: list[torch.Tensor] = field(default_factory=list)
    S: torch.Tensor | None = None

    # --- whitening ----------------------------------------------------------------------------
    def whiten(self, B: torch.Tensor) -> torch.Tensor:
        """``L^-1 B L^-T`` (the Gram matrix of the Nyström features)."""
        left = torch.linalg.solve_triangular(self.L, B, upper=False)
        return torch.linalg.solve_triangular(self.L, left.T.contiguous(), upper=False).T

    def back(self, w: torch.Tensor) -> torch.Tensor:
        """Feature-space coefficients to landmark-space ones: ``L^-T w``."""
        return torch.linalg.solve_triangular(self.L.T, w.reshape(-1, 1), upper=True).ravel()

    def ridge(self, A: torch.Tensor, c: torch.Tensor, alpha: float) -> torch.Tensor:
        """Landmark coefficients ``beta`` of ridge with raw Gram sum ``A`` and right side ``c``."""
        G = self.whiten(A)
        G.diagonal().add_(alpha)
        rhs = torch.linalg.solve_triangular(self.L, c.reshape(-1, 1), upper=False)
        return self.back(solve_regularised(G, rhs))


def accumulate(x: np.ndarray, tf: sparse.spmatrix | None, rows: np.ndarray, Y: np.ndarray, codes: np.ndarray,
               n_users: int, fold_of_row: np.ndarray, n_folds: int, xz: torch.Tensor, tfz: sparse.spmatrix | None,
               spec: KernelSpec, centred: bool, plain: bool, per_fold_centred: bool,
               chunk: int | None = None, map_chunks=None) -> LandmarkStats:
    """Stream the rows ``rows`` of ``x`` (embeddings, any float dtype; normalised chunk by chunk)
    and of ``tf``; ``Y``, ``codes`` and ``fold_of_row`` are given for those rows only.

    ``Y``: (len(rows), T) targets (NaN read as 0: callers pass rows labelled for the targets they use);
    ``codes``: user index per row (0..n_users-1); ``fold_of_row``: fold index per row. ``centred``
    collects the user-centred sums, ``plain`` the plain sums and per-user row sums;
    ``per_fold_centred`` keeps the centred Gram sums per fold (else all in ``Bc[0]``).
    ``map_chunks``: optional ``(function, list_of_index_arrays) -> iterable of partial sums`` used
    by :mod:`affectlab.distributed` to run the chunks elsewhere; the default runs them here.
    """
    L = cholesky_jittered(kernel_block(xz, xz, tfz, tfz, spec))
    m, T = len(xz), Y.shape[1]
    zeros = lambda *shape: torch.zeros(*shape, dtype=_F64)  # noqa: E731
    st = LandmarkStats(L=L)
    st.B = [zeros(m, m) for _ in range(n_folds)] if plain else []
    st.Bc = [zeros(m, m) for _ in range(n_folds if per_fold_centred else 1)] if centred else []
    st.cy = [zeros(m, T) for _ in range(n_folds)]
    st.ccy = [zeros(m, T) for _ in range(n_folds)]
    st.s = [zeros(m) for _ in range(n_folds)]
    st.n = [0] * n_folds
    st.ysum = [zeros(T) for _ in range(n_folds)]
    st.S = torch.zeros(n_users, m, dtype=torch.float32) if plain else None
    order = np.lexsort((codes, fold_of_row))
    parts = list(chunks(order, codes, fold_of_row, chunk or CHUNK))
    job = ChunkJob(x, tf, rows, np.nan_to_num(np.asarray(Y, dtype=np.float64)), codes, xz, tfz, spec, centred, plain)
    results = map_chunks(job, parts) if map_chunks is not None else (job(idx) for idx in parts)
    for idx, part in zip(parts, results):
        f = int(fold_of_row[idx[0]])
        add_partial(st, part, f, per_fold_centred)
    return st


@dataclass
class ChunkJob:
    """The per-chunk work of :func:`accumulate` (picklable, so workers can run it)."""

    x: np.ndarray
    tf: sparse.spmatrix | None
    rows: np.ndarray
    Y: np.ndarray
    codes: np.ndarray
    xz: torch.Tensor
    tfz: sparse.spmatrix | None
    spec: KernelSpec
    centred: bool
    plain: bool

    def __call__(self, idx: np.ndarray) -> dict:
        at = self.rows[idx]
        K = kernel_block(unit_rows(self.x[at]), self.xz, None if self.tf is None else self.tf[at], self.tfz, self.spec)
        return partial_sums(K, self.Y[idx], self.codes[idx], self.centred, self.plain)


def partial_sums(K: torch.Tensor, Y: np.ndarray, codes: np.ndarray, centred: bool, plain: bool) -> dict:
    """One chunk's contribution: Gram and cross sums, plain and/or centred within user."""
    users, local = np.unique(codes, return_inverse=True)
    loc = torch.from_numpy(local.astype(np.int64))
    Yt = torch.from_numpy(np.asarray(Y, dtype=np.float64))
    cnt = torch.bincount(loc, minlength=len(users)).to(_F64)
    Us = torch.zeros(len(users), K.shape[1], dtype=_F64).index_add_(0, loc, K)
    Ysum_u = torch.zeros(len(users), Yt.shape[1], dtype=_F64).index_add_(0, loc, Yt)
    KtK = K.T @ K
    KtY = K.T @ Yt
    out = {"n": len(K), "s": K.sum(0), "ysum": Yt.sum(0), "cy": KtY}
    if plain:
        out["B"] = KtK
        out["users"] = users
        out["S"] = Us.to(torch.float32)
    if centred:
        root = Us / cnt.sqrt()[:, None]
        out["Bc"] = KtK - root.T @ root
        out["ccy"] = KtY - Us.T @ (Ysum_u / cnt[:, None])
    return out


def add_partial(st: LandmarkStats, part: dict, f: int, per_fold_centred: bool) -> None:
    """Add one chunk's partial sums (all of fold ``f``) to ``st``."""
    st.n[f] += int(part["n"])
    st.s[f] += part["s"]
    st.ysum[f] += part["ysum"]
    st.cy[f] += part["cy"]
    if "B" in part:
        st.B[f] += part["B"]
        assert st.S is not None
        st.S[torch.from_numpy(part["users"].astype(np.int64))] = part["S"]
    if "Bc" in part:
        st.Bc[f if per_fold_centred else 0] += part["Bc"]
        st.ccy[f] += part["ccy"]


# --- the chunk sums on a compute engine (compute: {engine: dask}, docs/scaling.md) -----------------
def _run_chunk(job: Any, payload: tuple) -> dict:
    """One chunk of :func:`accumulate` on a worker: ``job`` holds the landmarks and flags,
    ``payload`` the chunk's own rows."""
    x, tf, Y, codes = payload
    K = kernel_block(unit_rows(x), job.xz, tf, job.tfz, job.spec)
    return partial_sums(K, Y, codes, job.centred, job.plain)


def chunk_mapper(engine: Engine) -> Callable | None:
    """The ``map_chunks`` argument of :func:`accumulate` for ``engine`` (None locally): only each
    chunk's rows travel, the landmarks go to every worker once."""
    if engine.is_local:
        return None

    def map_chunks(job: Any, parts: list[np.ndarray]) -> Iterable[dict]:
        import dataclasses

        light = dataclasses.replace(job, x=np.zeros((0, 0)), tf=None, rows=np.zeros(0, dtype=np.int64),
                                    Y=np.zeros((0, 0)), codes=np.zeros(0, dtype=np.int64))
        payloads = []
        for idx in parts:
            at = job.rows[idx]
            payloads.append((np.asarray(job.x[at]), None if job.tf is None else job.tf[at], job.Y[idx], job.codes[idx]))
        return engine.map(_run_chunk, payloads, light)

    return map_chunks
