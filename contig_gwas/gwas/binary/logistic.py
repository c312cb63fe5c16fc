"""Logistic regression by iteratively reweighted least squares (array layer).

``fit_logistic`` fits ``logit P(y = 1) = offset + X b`` (Newton-Raphson with step halving
on the log-likelihood); ``fit_logistic_batch`` fits one such model per variant of a block at
once, ``logit P(y = 1) = X b + g_j beta_j`` with the same ``X`` (the ``--linear`` test, PLINK 2
``--glm no-firth``), optionally with Firth's penalty ``+ 1/2 log det I(b)`` (Firth 1993,
Biometrika 80:27; PLINK 2 ``--glm firth``, Heinze and Schemper 2002, Stat Med 21:2409).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

__all__ = ["LogisticFit", "fit_logistic", "fit_logistic_batch", "BatchFit"]


@dataclass
class LogisticFit:
    """A fitted logistic model.

    Attributes:
        beta: coefficients, shape (D,).
        mu: fitted probabilities, shape (N,).
        eta: linear predictor including the offset, shape (N,).
        loglik: log-likelihood at ``beta``.
        n_iter: Newton steps taken.
        converged: the step's largest change fell below the tolerance.
    """

    beta: np.ndarray
    mu: np.ndarray
    eta: np.ndarray
    loglik: float
    n_iter: int
    converged: bool


def _loglik(y: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """Bernoulli log-likelihood summed over axis 0: ``sum y eta - log(1 + e^eta)``."""
    return np.sum(y * eta - np.logaddexp(0.0, eta), axis=0)


def fit_logistic(*, y: np.ndarray, X: np.ndarray, offset: np.ndarray | None = None,
                 tol: float = 1e-10, max_iter: int = 50) -> LogisticFit:
    """Maximum-likelihood logistic regression with an offset.

    Args:
        y: 0/1 outcomes, shape (N,).
        X: covariates (intercept included), shape (N, D), full column rank.
        offset: fixed part of the linear predictor, shape (N,) (None: 0).
        tol: stop when the largest coefficient change is below ``tol * (1 + |b|)``.
    """
    y = np.asarray(y, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    off = np.zeros(len(y)) if offset is None else np.asarray(offset, dtype=np.float64)
    b = np.zeros(X.shape[1])
    # start from the intercept-only fit (every model here has one among X's columns)
    p0 = np.clip(y.mean(), 1e-6, 1 - 1e-6)
    eta = off + np.log(p0 / (1 - p0)) * (X[:, 0] if np.allclose(X[:, 0], 1) else 0.0)
    if np.allclose(X[:, 0], 1):
        b[0] = np.log(p0 / (1 - p0))
    ll = float(_loglik(y, eta))
    converged, it = False, 0
    for it in range(1, max_iter + 1):
        mu = special.expit(eta)
        w = mu * (1 - mu)
        step = np.linalg.solve(X.T @ (X * w[:, None]), X.T @ (y - mu))
        t = 1.0
        while True:
            nb = b + t * step
            ne = off + X @ nb
            nll = float(_loglik(y, ne))
            if nll >= ll - 1e-12 * abs(ll) or t < 1e-6:
                break
            t /= 2
        b, eta, ll = nb, ne, nll
        if np.max(np.abs(t * step)) < tol * (1 + np.max(np.abs(b))):
            converged = True
            break
    return LogisticFit(beta=b, mu=special.expit(eta), eta=eta, loglik=ll, n_iter=it,
                       converged=converged)


@dataclass
class BatchFit:
    """One logistic fit per variant of a block.

    Attributes:
        beta: the variant's coefficient, shape (B,).
        se: its standard error from the inverse (penalised) information, shape (B,).
        converged: shape (B,).
    """

    beta: np.ndarray
    se: np.ndarray
    converged: np.ndarray


def fit_logistic_batch(*, y: np.ndarray, X: np.ndarray, G: np.ndarray, firth: bool,
                       start: np.ndarray | None = None, tol: float = 1e-8,
                       max_iter: int = 60, max_step: float = 5.0) -> BatchFit:
    """Fit ``logit P(y=1) = X b + g_j beta_j`` for every column ``g_j`` of ``G`` at once.

    Newton-Raphson on the (penalised) score, every variant its own ``(D+1)``-dimensional
    system (batched ``numpy.linalg.solve``), the step's largest component capped at
    ``max_step`` (as PLINK 2 and logistf), then halved while the (penalised) log-likelihood
    falls. Firth's modified score is ``X'(y - mu + h (1/2 - mu))`` with ``h`` the diagonal
    of the weighted hat matrix ``W^1/2 X (X'WX)^-1 X' W^1/2``.

    Args:
        y: 0/1, shape (N,).
        X: covariates with intercept, shape (N, D).
        G: dosages (missing imputed), shape (N, B).
        firth: penalised (Firth) or maximum likelihood.
        start: covariate coefficients to start from, shape (D,) (e.g. the null fit).
    Returns:
        BatchFit; ``se`` NaN where the information is singular (e.g. a monomorphic variant).
    """
    y = np.asarray(y, dtype=np.float64)
    n, d = X.shape
    b_count = G.shape[1]
    A = np.concatenate([np.broadcast_to(X[:, None, :], (n, b_count, d)),
                        G[:, :, None]], axis=2)                           # (N, B, K)
    k = d + 1
    coef = np.zeros((b_count, k))
    if start is not None:
        coef[:, :d] = start
    eye = np.eye(k) * 1e-300

    def state(c: np.ndarray):
        eta = np.einsum("nbk,bk->nb", A, c)
        mu = special.expit(eta)
        w = mu * (1 - mu)
        info = np.einsum("nbk,nb,nbl->bkl", A, w, A) + eye
        ll = _loglik(y[:, None], eta)
        sign, logdet = np.linalg.slogdet(info)
        pen = ll + 0.5 * logdet if firth else ll
        return eta, mu, w, info, pen

    eta, mu, w, info, pen = state(coef)
    converged = np.zeros(b_count, dtype=bool)
    for _ in range(max_iter):
        resid = y[:, None] - mu
        if firth:
            inv = np.linalg.inv(info)
            h = w * np.einsum("nbk,bkl,nbl->nb", A, inv, A)
            resid = resid + h * (0.5 - mu)
        score = np.einsum("nbk,nb->bk", A, resid)
        try:
            step = np.linalg.solve(info, score[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            step = np.einsum("bkl,bl->bk", np.linalg.pinv(info), score)
        step = np.where(converged[:, None], 0.0, step)
        big = np.max(np.abs(step), axis=1)
        step *= np.minimum(1.0, max_step / np.maximum(big, 1e-300))[:, None]
        t = np.ones(b_count)
        for _half in range(30):
            new = coef + t[:, None] * step
            _, n_mu, n_w, n_info, n_pen = state(new)
            worse = (n_pen < pen - 1e-10 * np.abs(pen)) & ~converged
            if not worse.any():
                break
            t = np.where(worse, t / 2, t)
        done = np.max(np.abs(t[:, None] * step), axis=1) < tol * (1 + np.max(np.abs(new), 1))
        coef, mu, w, info, pen = new, n_mu, n_w, n_info, n_pen
        converged |= done
        if converged.all():
            break
    with np.errstate(invalid="ignore"):
        try:
            var = np.linalg.inv(info)[:, -1, -1]
        except np.linalg.LinAlgError:
            var = np.array([np.linalg.pinv(m)[-1, -1] for m in info])
        se = np.sqrt(np.where(var > 0, var, np.nan))
    return BatchFit(beta=coef[:, -1], se=se, converged=converged)
