"""The logistic score test of a block of variants against one binary phenotype (array layer).

With the null model's fitted probabilities ``mu`` (covariates ``X``, offset), weights
``W = diag(mu (1 - mu))`` and residuals ``r = y - mu`` (so ``X' r = 0``), the score of a
variant ``g`` and its null variance are

    U = g' r,    V = g' W g - g' W X (X' W X)^-1 X' W g = gt' W gt,

with ``gt = g - X (X'WX)^-1 X'W g`` the variant with the covariates projected out in the
``W`` metric. ``U^2 / V`` is referred to chi-square(1) (Rao's score test). For every variant
of a block this is one product ``G' [r, W X]`` and one of ``(G * G)' w``: ``N B (D + 2)``
flops. Reported effect and standard error: the one-step estimate from the null,
``beta = U / V``, ``se = 1 / sqrt(V)`` (log-odds scale).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...io.sumstats import neg_log10_p_chi2

__all__ = ["NullLogistic", "ScoreResult", "prepare_null", "score_block", "project_block"]


@dataclass
class NullLogistic:
    """The null logistic model of one phenotype, as the tests need it.

    Attributes:
        y: 0/1, shape (N,).
        X: covariates of the null model (intercept first, with the polygenic prediction as
            its last column in mixed-model runs), shape (N, D).
        mu: fitted probabilities, shape (N,).
        eta: fitted linear predictor (the tests' offset), shape (N,).
        w: ``mu (1 - mu)``, shape (N,).
        WX: ``w * X``, shape (N, D).
        xwx_inv: ``(X'WX)^-1``, shape (D, D).
    """

    y: np.ndarray
    X: np.ndarray
    mu: np.ndarray
    eta: np.ndarray
    w: np.ndarray
    WX: np.ndarray
    xwx_inv: np.ndarray

    @property
    def n_cases(self) -> int:
        return int(np.sum(self.y == 1))


def prepare_null(*, y: np.ndarray, X: np.ndarray, eta: np.ndarray) -> NullLogistic:
    """The ``NullLogistic`` of a fitted null model (``logistic.fit_logistic``'s ``eta``)."""
    from scipy import special

    mu = special.expit(eta)
    w = mu * (1 - mu)
    WX = X * w[:, None]
    return NullLogistic(y=np.asarray(y, dtype=np.float64), X=X, mu=mu, eta=eta, w=w, WX=WX,
                        xwx_inv=np.linalg.inv(X.T @ WX))


@dataclass
class ScoreResult:
    """Score statistics of a block, shape (B,) each.

    Attributes:
        u: score ``g' (y - mu)``.
        v: its null variance.
        chi2: ``u^2 / v`` (NaN where ``v`` vanishes: no variation left after the covariates).
        neg_log10_p: -log10 p of ``chi2`` on one degree of freedom.
    """

    u: np.ndarray
    v: np.ndarray
    chi2: np.ndarray
    neg_log10_p: np.ndarray


def score_block(null: NullLogistic, G: np.ndarray) -> ScoreResult:
    """Score test of every column of ``G`` (imputed dosages, shape (N, B))."""
    r = null.y - null.mu
    prod = G.T @ np.column_stack([r, null.WX])                          # (B, 1 + D)
    u = prod[:, 0]
    gwx = prod[:, 1:]
    gwg = (G * G).T @ null.w
    v = gwg - np.einsum("bd,de,be->b", gwx, null.xwx_inv, gwx)
    degenerate = v <= 1e-9 * np.maximum(gwg, np.finfo(float).tiny)
    with np.errstate(invalid="ignore", divide="ignore"):
        chi2 = u * u / v
    chi2[degenerate] = np.nan
    v = np.where(degenerate, np.nan, v)
    return ScoreResult(u=u, v=v, chi2=chi2, neg_log10_p=neg_log10_p_chi2(chi2))


def project_block(null: NullLogistic, G: np.ndarray) -> np.ndarray:
    """``gt = g - X (X'WX)^-1 X'W g`` for every column of ``G``, shape (N, B)."""
    return G - null.X @ (null.xwx_inv @ (null.WX.T @ G))
