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
from dataclasses import dataclass, field
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


def batched_cg(apply: Apply, B: np.ndarray | None, *, delta: np.ndarray, tol: float = 1e-6,
               max_iter: int = 500, x0: np.ndarray | None = None,
               r0: np.ndarray | None = None, b_norm: np.ndarray | None = None,
               progress: bool = False, desc: str = "CG") -> CGResult:
    """Solve ``(A_i + delta_i I) x_i = b_i`` for every column.

    Args:
        apply: ``apply(P, cols)`` returns ``A_i P[:, j]`` for ``i = cols[j]``, shape (N, len(cols)).
        B: right-hand sides, shape (N, k); None with ``x0``, ``r0`` and ``b_norm`` (then only
            their norms are needed: no (N, k) copy of the right-hand sides).
        delta: shifts, shape (k,).
        tol: relative residual ``|b - (A + delta) x| / |b|`` at which a column stops.
        max_iter: iteration limit.
        x0: starting solutions, shape (N, k) (default zero); float64 arrays are updated in
            place (no copy of the ``C P`` columns).
        r0: their residuals ``b - (A + delta) x0`` when the caller knows them (else one more
            operator application computes them); overwritten likewise.
        b_norm: ``|b_i|``, shape (k,) (default: from ``B``).

    Memory: ``X``, ``R``, ``P`` and the product ``A p`` (``8 N k`` bytes each) and one
    temporary; while every column is active the search directions are used in place.
    """
    if r0 is not None and x0 is None:
        raise ValueError("r0 is the residual of x0: give x0 with it")
    if B is None:
        if x0 is None or r0 is None or b_norm is None:
            raise ValueError("without B, give x0, r0 and b_norm")
        n, k = np.shape(x0)
    else:
        B = np.asarray(B, dtype=np.float64)
        n, k = B.shape
    delta = np.broadcast_to(np.asarray(delta, dtype=np.float64), (k,))
    if b_norm is not None:
        bnorm = np.array(b_norm, dtype=np.float64)
    else:
        assert B is not None
        bnorm = np.sqrt(np.einsum("ij,ij->j", B, B))
    bnorm[bnorm == 0] = 1.0
    if x0 is None:
        assert B is not None
        X = np.zeros_like(B)
        R = B.copy()
    else:
        X = np.asarray(x0, dtype=np.float64)
        if r0 is not None:
            R = np.asarray(r0, dtype=np.float64)
        else:
            assert B is not None
            R = B - apply(X, np.arange(k)) - delta * X
    del B
    P = R.copy()
    rs = np.einsum("ij,ij->j", R, R)
    active = np.sqrt(rs) > tol * bnorm
    n_iter = np.zeros(k, dtype=np.int64)
    with _bar(max_iter, desc, progress) as bar:
        for _ in range(max_iter):
            cols = np.flatnonzero(active)
            if len(cols) == 0:
                break
            every = len(cols) == k
            p = P if every else P[:, cols]
            ap = apply(p, cols)
            ap += delta[cols] * p
            alpha = rs[cols] / np.einsum("ij,ij->j", p, ap)
            if every:
                X += alpha * p
                ap *= alpha
                R -= ap
                rs_new = np.einsum("ij,ij->j", R, R)
                P *= rs_new / rs
                P += R
            else:
                X[:, cols] += alpha * p
                R[:, cols] -= alpha * ap
                rs_new = np.einsum("ij,ij->j", R[:, cols], R[:, cols])
                P[:, cols] = R[:, cols] + (rs_new / rs[cols]) * p
            del ap
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
        alpha, beta: the tridiagonal ``T_i`` per column (lists of arrays).
        basis: Lanczos vectors of the columns kept (``keep``), column -> (N, steps) array.
    """

    theta: list[np.ndarray]
    weight: list[np.ndarray]
    norm2: np.ndarray
    n_iter: np.ndarray
    alpha: list[np.ndarray] = field(default_factory=list)
    beta: list[np.ndarray] = field(default_factory=list)
    basis: dict = field(default_factory=dict)

    def solve(self, i: int, delta: float) -> np.ndarray:
        """``(A_i + delta I)^-1 b_i`` from the kept Lanczos vectors of column ``i``
        (``|b| V (T + delta I)^-1 e_1`` with ``T`` the leading block of the kept steps: the
        conjugate-gradient iterate of that step)."""
        from scipy.linalg import solve_banded

        V = self.basis[i]
        a, b = self.alpha[i][:V.shape[1]], self.beta[i][:V.shape[1] - 1]
        band = np.zeros((3, len(a)))
        band[0, 1:], band[1], band[2, :-1] = b, a + delta, b
        e1 = np.zeros(len(a))
        e1[0] = 1.0
        return np.sqrt(self.norm2[i]) * (V @ solve_banded((1, 1), band, e1))

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
                    check_every: int = 2, keep: np.ndarray | None = None,
                    keep_steps: int = 10, progress: bool = False,
                    desc: str = "Lanczos") -> Quadrature:
    """Lanczos on every column; a column stops when its ``b'(A + ref_delta)^-1 b`` moves by
    less than ``tol`` (relative) over ``check_every`` steps, or when it reaches an invariant
    subspace.

    Args:
        apply: as for ``batched_cg`` (the unshifted operator).
        B: starting vectors, shape (N, k).
        tol: relative tolerance, scalar or shape (k,) (a column of its own accuracy).
        ref_delta: smallest shift the caller will evaluate, scalar or shape (k,).
        keep: columns whose Lanczos vectors are kept for ``Quadrature.solve`` (memory
            ``8 N`` bytes a column and step).
        keep_steps: vectors kept per column at most (``solve`` then gives the iterate of that
            step: memory ``8 N keep_steps`` bytes a kept column, whatever the step count).
    """
    B = np.asarray(B, dtype=np.float64)
    n, k = B.shape
    ref = np.broadcast_to(np.asarray(ref_delta, dtype=np.float64), (k,))
    tol = np.broadcast_to(np.asarray(tol, dtype=np.float64), (k,))
    norm2 = (B * B).sum(axis=0)
    nrm = np.sqrt(norm2)
    V = B / np.where(nrm > 0, nrm, 1.0)
    Vprev = np.zeros_like(V)
    alphas: list[list[float]] = [[] for _ in range(k)]
    betas: list[list[float]] = [[] for _ in range(k)]
    last = np.full(k, np.nan)
    active = nrm > 0
    bprev = np.zeros(k)
    kept: dict[int, list[np.ndarray]] = {int(i): [] for i in (keep if keep is not None else [])}
    with _bar(max_iter, desc, progress) as bar:
        for it in range(max_iter):
            cols = np.flatnonzero(active)
            if len(cols) == 0:
                break
            for i in cols:
                if int(i) in kept and len(kept[int(i)]) < keep_steps:
                    kept[int(i)].append(V[:, i].copy())
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
    theta, weight, al_out, be_out = [], [], [], []
    for j in range(k):
        al = np.array(alphas[j]) if alphas[j] else np.zeros(1)
        be = np.array(betas[j][:len(al) - 1])
        th, wt = _tridiag_nodes(al, be)
        theta.append(th)
        weight.append(wt)
        al_out.append(al)
        be_out.append(be)
    basis = {j: np.column_stack(v) for j, v in kept.items() if v}
    return Quadrature(theta=theta, weight=weight, norm2=norm2,
                      n_iter=np.array([len(a) for a in alphas]), alpha=al_out, beta=be_out,
                      basis=basis)
