"""Batched single-variant association for many phenotypes at once (array layer).

For one group of individuals (phenotypes sharing one missingness pattern) and one kernel
``K = U diag(S) U'``, phenotype ``p`` has ``V_p = K + delta_p I`` and the REML projection
``Pi_p = V_p^-1 - V_p^-1 X (X' V_p^-1 X)^-1 X' V_p^-1``. For a variant ``x`` (dosage, missing
calls mean-imputed over the group) the fixed-effect test with the variance components held
at the null (as FaST-LMM's ``single_snp``) is

    beta = x'Pi y / x'Pi x,   RSS = y'Pi y - beta x'Pi y,   se^2 = RSS / (N - D - 1) / x'Pi x,

and ``t = beta / se`` is referred to Student's t with ``N - D - 1`` degrees of freedom
(fastlmm refers ``t^2`` to F(1, N - D - 1): the same p-value). ``chi2 = t^2`` is the Wald
statistic. With ``K = 0`` (``S = 0``, ``U = I``) this is ordinary least squares with covariates,
PLINK2 ``--glm`` for a quantitative trait.

In the rotated basis ``V_p^-1 = U diag(w_p) U'`` with ``w_p = 1 / (S + delta_p)``, so every
quadratic form for all variants of a block and all phenotypes is a few matrix products:
``(UtG^2)' W``, ``UtG' (W * UtY)`` and ``UtG' [w_p * UtX]_p``. Cost per block of B variants:
``N^2 B`` for the rotation (shared by all phenotypes) plus ``N B P (D + 2)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..io.sumstats import neg_log10_p_t

__all__ = ["GroupModel", "AssociationResult", "prepare_group", "associate_block",
           "impute_block"]


@dataclass
class GroupModel:
    """Sample-level matrices of one missingness group and kernel, shared by its phenotypes.

    Attributes:
        U: eigenvectors of K, shape (N, N); None for ordinary least squares (U = I).
        S: eigenvalues, shape (N,) (zeros for OLS).
        UtX: rotated covariates, shape (N, D).
        UtY: rotated phenotypes, shape (N, P).
        W: ``1 / (S + delta_p)``, shape (N, P).
        WX: ``w_p * UtX`` stacked, shape (N, P * D).
        xwx_inv: ``(X' W_p X)^-1``, shape (P, D, D).
        c: ``(X' W_p X)^-1 X' W_p y_p``, shape (P, D).
        ypy: ``y_p' Pi_p y_p``, shape (P,).
        dof: ``N - D - 1``.
    """

    U: np.ndarray | None
    S: np.ndarray
    UtX: np.ndarray
    UtY: np.ndarray
    W: np.ndarray
    WX: np.ndarray
    xwx_inv: np.ndarray
    c: np.ndarray
    ypy: np.ndarray
    dof: int

    @property
    def n(self) -> int:
        return self.UtX.shape[0]

    @property
    def n_pheno(self) -> int:
        return self.UtY.shape[1]


@dataclass
class AssociationResult:
    """Per-variant, per-phenotype statistics of one block.

    Attributes:
        beta: effect per copy of the effect allele, shape (B, P).
        se: its standard error, shape (B, P).
        chi2: Wald statistic ``(beta / se)^2``, shape (B, P).
        neg_log10_p: -log10 p (two-sided t with ``dof`` degrees of freedom), shape (B, P).
        dof: residual degrees of freedom.
    """

    beta: np.ndarray
    se: np.ndarray
    chi2: np.ndarray
    neg_log10_p: np.ndarray
    dof: int

    @property
    def p_value(self) -> np.ndarray:
        return np.power(10.0, -self.neg_log10_p)


def prepare_group(*, S: np.ndarray | None, U: np.ndarray | None, X: np.ndarray, Y: np.ndarray,
                  delta: np.ndarray | None, UtX: np.ndarray | None = None,
                  UtY: np.ndarray | None = None) -> GroupModel:
    """Precompute the sample-level matrices of one group.

    Args:
        S: eigenvalues of K, shape (N,); None for OLS.
        U: eigenvectors, shape (N, N); None for OLS.
        X: covariates with intercept, shape (N, D), full column rank.
        Y: phenotypes, shape (N, P), no missing values.
        delta: per phenotype ``se2 / sg2``, shape (P,); None for OLS.
        UtX, UtY: ``U'X`` and ``U'Y`` when already computed.
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    n, d = X.shape
    p = Y.shape[1]
    if U is None:
        S = np.zeros(n)
        UtX, UtY = X, Y
        delta = np.ones(p)
    else:
        UtX = U.T @ X if UtX is None else UtX
        UtY = U.T @ Y if UtY is None else UtY
    S = np.maximum(np.asarray(S, dtype=np.float64), 0.0)
    delta = np.asarray(delta, dtype=np.float64).reshape(p)
    W = 1.0 / (S[:, None] + delta[None, :])                         # (N, P)
    WX = (W[:, :, None] * UtX[:, None, :]).reshape(n, p * d)          # (N, P*D)
    xwx = np.einsum("np,nd,ne->pde", W, UtX, UtX)                     # (P, D, D)
    xwy = np.einsum("np,nd,np->pd", W, UtX, UtY)                      # (P, D)
    ywy = np.einsum("np,np,np->p", W, UtY, UtY)
    xwx_inv = np.linalg.inv(xwx)
    c = np.einsum("pde,pe->pd", xwx_inv, xwy)
    ypy = ywy - np.einsum("pd,pd->p", c, xwy)
    return GroupModel(U=U, S=S, UtX=UtX, UtY=UtY, W=W, WX=WX, xwx_inv=xwx_inv, c=c, ypy=ypy,
                      dof=n - d - 1)


def impute_block(dosages: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean-impute missing calls per variant.

    Args:
        dosages: shape (N, B), NaN where missing.
    Returns:
        G (float64, (N, B)), effect-allele frequency ((B,), over non-missing calls) and the
        number of non-missing calls ((B,)).
    """
    g = np.asarray(dosages, dtype=np.float64)
    miss = np.isnan(g)
    n_ok = g.shape[0] - np.count_nonzero(miss, axis=0)
    if miss.any():
        # np.nansum's sum (missing as 0, the block's memory order), then the means in place
        # of the missing calls: in the float64 copy of a float32 block, without further copies
        if np.shares_memory(g, dosages):
            g = g.copy(order="K")
        np.copyto(g, 0.0, where=miss)
        with np.errstate(invalid="ignore"):
            mean = g.sum(axis=0) / np.maximum(n_ok, 1)
        np.copyto(g, np.broadcast_to(mean, g.shape), where=miss)
    else:
        mean = g.mean(axis=0)
    return g, mean / 2.0, n_ok


def impute_calls(calls: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``impute_block`` of int8 hard calls (negative where missing), without a NaN pass."""
    g = np.asarray(calls)
    miss = g < 0
    n_ok = g.shape[0] - np.count_nonzero(miss, axis=0)
    G = g.astype(np.float64)
    if n_ok.min(initial=g.shape[0]) < g.shape[0]:
        np.copyto(G, 0.0, where=miss)
        mean = G.sum(axis=0) / np.maximum(n_ok, 1)
        np.copyto(G, np.broadcast_to(mean, G.shape), where=miss)
    else:
        mean = G.mean(axis=0) if g.shape[0] else np.zeros(g.shape[1])
    return G, mean / 2.0, n_ok


def associate_block(model: GroupModel, G: np.ndarray, *, UtG: np.ndarray | None = None
                    ) -> AssociationResult:
    """Test every variant of a block against every phenotype of the group.

    Args:
        model: from ``prepare_group``.
        G: imputed dosages, shape (N, B) (see ``impute_block``).
        UtG: ``U'G`` when already computed, shape (N, B).
    Returns:
        AssociationResult with arrays of shape (B, P); NaN for a variant with no variance
        left after the covariates.
    """
    if UtG is None:
        UtG = G if model.U is None else model.U.T @ G
    b = UtG.shape[1]
    p, d = model.n_pheno, model.UtX.shape[1]
    xwx = (UtG * UtG).T @ model.W                                       # (B, P)
    xwy = UtG.T @ (model.W * model.UtY)                                 # (B, P)
    xwX = (UtG.T @ model.WX).reshape(b, p, d)                           # (B, P, D)
    xpx = xwx - np.einsum("bpd,pde,bpe->bp", xwX, model.xwx_inv, xwX)
    xpy = xwy - np.einsum("bpd,pd->bp", xwX, model.c)
    scale = np.maximum(xwx, np.finfo(float).tiny)
    degenerate = xpx <= 1e-9 * scale
    with np.errstate(invalid="ignore", divide="ignore"):
        beta = xpy / xpx
        rss = np.maximum(model.ypy[None, :] - beta * xpy, 0.0)
        se = np.sqrt(rss / model.dof / xpx)
        t = beta / se
    beta[degenerate] = np.nan
    se[degenerate] = np.nan
    t[degenerate] = np.nan
    nlp = neg_log10_p_t(t, dof=model.dof)
    return AssociationResult(beta=beta, se=se, chi2=t * t, neg_log10_p=nlp, dof=model.dof)
