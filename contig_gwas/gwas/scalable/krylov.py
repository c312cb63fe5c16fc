"""Batched Krylov solvers: many right-hand sides, one operator application per iteration.

Every column of the right-hand side may have its own operator (its own left-out chromosome
and its own shift ``delta``); the caller's ``apply(R, cols)`` computes the operator on the
active columns ``cols`` together, so one pass over the genotypes serves all of them.

- ``batched_cg``: conjugate gradients for ``(A_i + delta_i I) x_i = b_i`` (Hestenes-Stiefel),
  a column stops when ``|r_i| <= tol |b_i|``.
- ``batched_lanczos``: Lanczos tridiagonalisation ``T_i`` of ``A_i`` started at ``b_i``; with
  ``T_i = S diag(theta) S'`` and weights ``w = S[0, :]^2`` the Gauss quadrature
  ``b' f(A) b ~ |b|^2 sum_k w_k f(theta_k)`` serves every shift at once (``f = 1 / (t +
  delta)``) and ``f = log`` for the stochastic log-determinant (Ubaru, Chen and Saad 2017,
  SIAM J Matrix Anal Appl 38:1075). Without reorthogonalisation, which Gauss quadrature
  tolerates (Golub and Meurant 2010, *Matrices, Moments and Quadrature*).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["batched_cg", "batched_lanczos", "Quadrature", "CGResult"]

Apply = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass
class CGResult:
    """Solutions of a batched CG solve.

    Attributes:
        x: shape (N, k).
        n_iter: iterations per column, shape (k,).
        rel_residual: final ``|r| / |b|`` per column, shape (k,).
        converged: shape (k,).
    """

    x: np.ndarray
    n_iter: np.ndarray
    rel_residual: np.ndarray
    converged: np.ndarray


def _bar(total: int, desc: str, progress: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="it", disable=not progress, file=sys.stderr,
                leave=False)


def batched_cg(apply: Apply, B: np.ndarray, *, delta: np.ndarray, tol: float = 1e-6,
               max_iter: int = 500, progress: bool = False, desc: str = "CG") -> CGResult:
    """Solve ``(A_i + delta_i I) x_i = b_i`` for every column.

    Args:
        apply: ``apply(P, cols)`` returns ``A_i P[:, j]`` for ``i = cols[j]``, shape (N, len(cols)).
        B: right-hand sides, shape (N, k).
        delta: shifts, shape (k,).
        tol: relative residual at which a column stops.
        max_iter: iteration limit.
    """
    B = np.asarray(B, dtype=np.float64)
    n, k = B.shape
    delta = np.broadcast_to(np.asarray(delta, dtype=np.float64), (k,))
    X = np.zeros_like(B)
    R = B.copy()
    P = R.copy()
    rs = (R * R).sum(axis=0)
    bnorm = np.sqrt(rs)
    bnorm[bnorm == 0] = 1.0
    active = np.sqrt(rs) > tol * bnorm
    n_iter = np.zeros(k, dtype=np.int64)
    with _bar(max_iter, desc, progress) as bar:
        for _ in range(max_iter):
            cols = np.flatnonzero(active)
            if len(cols) == 0:
                break
            p = P[:, cols]
            ap = apply(p, cols) + delta[cols] * p
            alpha = rs[cols] / (p * ap).sum(axis=0)
            X[:, cols] += alpha * p
            R[:, cols] -= alpha * ap
            rs_new = (R[:, cols] ** 2).sum(axis=0)
            P[:, cols] = R[:, cols] + (rs_new / rs[cols]) * p
            rs[cols] = rs_new
            n_iter[cols] += 1
            active[cols] = np.sqrt(rs_new) > tol * bnorm[cols]
            bar.update(1)
    rel = np.sqrt(rs) / bnorm
    return CGResult(x=X, n_iter=n_iter, rel_residual=rel, converged=rel <= tol)


@dataclass
class Quadrature:
    """Gauss quadrature nodes and weights of ``b' f(A) b`` per column.

    Attributes:
        theta: nodes (Ritz values), list of arrays (one per column).
        weight: weights summing to 1, list of arrays.
        norm2: ``|b|^2`` per column, shape (k,).
        n_iter: Lanczos steps per column, shape (k,).
    """

    theta: list[np.ndarray]
    weight: list[np.ndarray]
    norm2: np.ndarray
    n_iter: np.ndarray

    def quad(self, i: int, f: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """``b_i' f(A_i) b_i`` (``f`` may broadcast over a trailing grid axis)."""
        return self.norm2[i] * (self.weight[i][:, None] * f(self.theta[i][:, None])).sum(axis=0)

    def inverse(self, i: int, delta: np.ndarray) -> np.ndarray:
        """``b_i' (A_i + delta I)^-1 b_i`` for each shift, shape like ``delta``."""
        d = np.atleast_1d(np.asarray(delta, dtype=np.float64))
        return self.quad(i, lambda t: 1.0 / (t + d[None, :]))


def _tridiag_nodes(alpha: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from scipy.linalg import eigh_tridiagonal

    if len(alpha) == 1:
        return alpha.copy(), np.ones(1)
    theta, S = eigh_tridiagonal(alpha, beta)
    return theta, S[0, :] ** 2


def batched_lanczos(apply: Apply, B: np.ndarray, *, max_iter: int = 80,
                    tol: np.ndarray | float = 1e-6, ref_delta: np.ndarray | float = 0.1,
                    check_every: int = 2, progress: bool = False,
                    desc: str = "Lanczos") -> Quadrature:
    """Lanczos on every column; a column stops when its ``b'(A + ref_delta)^-1 b`` moves by
    less than ``tol`` (relative) over ``check_every`` steps, or when it reaches an invariant
    subspace.

    Args:
        apply: as for ``batched_cg`` (the unshifted operator).
        B: starting vectors, shape (N, k).
        tol: relative tolerance, scalar or shape (k,) (a column of its own accuracy).
        ref_delta: smallest shift the caller will evaluate, scalar or shape (k,).
    """
    B = np.asarray(B, dtype=np.float64)
    n, k = B.shape
    ref = np.broadcast_to(np.asarray(ref_delta, dtype=np.float64), (k,))
    tol = np.broadcast_to(np.asarray(tol, dtype=np.float64), (k,))
    norm2 = (B * B).sum(axis=0)
    nrm = np.sqrt(norm2)
    V = B / np.where(nrm > 0, nrm, 1.0)
    Vprev = np.zeros_like(V)
    alphas = [[] for _ in range(k)]
    betas = [[] for _ in range(k)]
    last = np.full(k, np.nan)
    active = nrm > 0
    bprev = np.zeros(k)
    with _bar(max_iter, desc, progress) as bar:
        for it in range(max_iter):
            cols = np.flatnonzero(active)
            if len(cols) == 0:
                break
            v = V[:, cols]
            w = apply(v, cols) - bprev[cols] * Vprev[:, cols]
            a = (v * w).sum(axis=0)
            w -= a * v
            w -= (v * w).sum(axis=0) * v           # local reorthogonalisation
            b = np.sqrt((w * w).sum(axis=0))
            for j, i in enumerate(cols):
                alphas[i].append(a[j])
            stop = b <= 1e-10 * np.maximum(np.abs(a), 1.0)
            Vprev[:, cols] = v
            V[:, cols] = w / np.where(stop, 1.0, b)
            bprev[cols] = b
            for j, i in enumerate(cols):
                if stop[j]:
                    active[i] = False
                    continue
                betas[i].append(b[j])
                if (it + 1) % check_every == 0 and it >= 1:
                    th, wt = _tridiag_nodes(np.array(alphas[i]), np.array(betas[i][:-1]))
                    q = float((wt / (th + ref[i])).sum())
                    if np.isfinite(last[i]) and abs(q - last[i]) <= tol[i] * abs(q):
                        active[i] = False
                    last[i] = q
            bar.update(1)
    theta, weight = [], []
    for i in range(k):
        al = np.array(alphas[i]) if alphas[i] else np.zeros(1)
        be = np.array(betas[i][:len(al) - 1])
        th, wt = _tridiag_nodes(al, be)
        theta.append(th)
        weight.append(wt)
    return Quadrature(theta=theta, weight=weight, norm2=norm2,
                      n_iter=np.array([len(a) for a in alphas]))
