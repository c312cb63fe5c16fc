"""REGENIE's approximate Firth test of one variant at a time (array layer).

The covariates' effects (and, in mixed-model runs, the polygenic prediction's) are held at the
null fit: the linear predictor ``eta0`` of the null model is the offset, and only the
variant's coefficient is estimated, in the model ``logit mu = eta0 + beta gt`` with ``gt``
the variant with the covariates projected out in the null's weight metric
(``score.project_block``), so that its score at ``beta = 0`` is the score test's. Firth's
penalised log-likelihood of this one-parameter model is

    l*(beta) = sum [y eta - log(1 + e^eta)] + 1/2 log I(beta),   I(beta) = sum mu(1-mu) gt^2,

and the test is the penalised likelihood-ratio ``2 (l*(beta_hat) - l*(0))`` on one degree of
freedom (Mbatchou et al. 2021, Nat Genet 53:1097, Methods "Firth logistic regression";
Firth 1993, Biometrika 80:27). ``se = |beta_hat| / sqrt(LRT)``, as REGENIE reports it, so
that beta / se gives back the p-value.

All selected variants are solved at once: Newton steps on the modified score
``sum gt (y - mu + h (1/2 - mu))``, ``h = mu (1 - mu) gt^2 / I``, capped at ``max_step`` and
halved while ``l*`` falls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...io.sumstats import neg_log10_p_chi2

__all__ = ["FirthResult", "firth_offset"]


@dataclass
class FirthResult:
    """Per variant, shape (B,): ``beta``, ``se``, ``chi2`` (penalised LRT), ``neg_log10_p``,
    ``converged``."""

    beta: np.ndarray
    se: np.ndarray
    chi2: np.ndarray
    neg_log10_p: np.ndarray
    converged: np.ndarray


def _penalised(y: np.ndarray, eta0: np.ndarray, Gt: np.ndarray, beta: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Penalised log-likelihood, probabilities and information at ``beta`` (one ``exp`` and
    one ``log1p`` per element: ``log(1 + e^eta) = max(eta, 0) + log1p(e^-|eta|)``)."""
    eta = eta0[:, None] + Gt * beta[None, :]
    e = np.exp(-np.abs(eta))
    mu = np.where(eta >= 0, 1.0, e) / (1.0 + e)
    info = np.einsum("nb,nb->b", mu * (1 - mu), Gt * Gt)
    ll = np.sum(y[:, None] * eta - np.maximum(eta, 0.0) - np.log1p(e), axis=0)
    with np.errstate(divide="ignore"):
        return ll + 0.5 * np.log(info), mu, info


def firth_offset(*, y: np.ndarray, eta0: np.ndarray, Gt: np.ndarray, start: np.ndarray | None
                 = None, tol: float = 1e-6, max_iter: int = 50, max_step: float = 5.0
                 ) -> FirthResult:
    """Approximate Firth test of every column of ``Gt`` (projected dosages, shape (N, B)).

    Args:
        y: 0/1, shape (N,).
        eta0: the null model's linear predictor, shape (N,).
        start: starting coefficients (e.g. the score's one-step ``U / V``), shape (B,).
        tol: stop when the step is below ``tol`` (log-odds).

    Columns leave the iteration once converged (or when step halving stalls), so a slow
    column costs only its own work.
    """
    y = np.asarray(y, dtype=np.float64)
    b = Gt.shape[1]
    zero = np.zeros(b)
    # at beta = 0 the likelihood is the null's for every variant: one value, no N x B pass
    # of exponentials (the information is one product)
    e0 = np.exp(-np.abs(eta0))
    mu0 = np.where(eta0 >= 0, 1.0, e0) / (1.0 + e0)
    ll0 = float(np.sum(y * eta0 - np.maximum(eta0, 0.0) - np.log1p(e0)))
    with np.errstate(divide="ignore"):
        pen0 = ll0 + 0.5 * np.log(np.einsum("n,nb->b", mu0 * (1 - mu0), Gt * Gt))
    beta = zero if start is None else np.clip(np.nan_to_num(start), -max_step, max_step)
    pen, mu, info = _penalised(y, eta0, Gt, beta)
    bad = ~(pen >= pen0)                     # a worse start than 0 (or non-finite): from 0
    if bad.any():
        beta = np.where(bad, 0.0, beta)
        pen, mu, info = _penalised(y, eta0, Gt, beta)
    converged = np.zeros(b, dtype=bool)
    active = np.arange(b)
    for _ in range(max_iter):
        if len(active) == 0:
            break
        G, m, inf = Gt[:, active], mu[:, active], info[active]
        h = m * (1 - m) * G * G / inf[None, :]
        score = np.einsum("nb,nb->b", G, y[:, None] - m + h * (0.5 - m))
        step = np.clip(score / inf, -max_step, max_step)
        t = np.ones(len(active))
        ba, pa = beta[active], pen[active]
        for _half in range(30):
            n_pen, n_mu, n_info = _penalised(y, eta0, G, ba + t * step)
            worse = ~(n_pen >= pa - 1e-10 * np.abs(pa))
            if not worse.any():
                break
            t = np.where(worse, t / 2, t)
        moved = np.abs(t * step)
        beta[active] = ba + t * step
        pen[active], mu[:, active], info[active] = n_pen, n_mu, n_info
        done = moved < tol
        converged[active[done]] = True
        active = active[~done]
    chi2 = np.maximum(2.0 * (pen - pen0), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.abs(beta) / np.sqrt(chi2)
    return FirthResult(beta=beta, se=se, chi2=chi2, neg_log10_p=neg_log10_p_chi2(chi2),
                       converged=converged)
