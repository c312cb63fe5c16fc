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
from scipy import special

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
    eta = eta0[:, None] + Gt * beta[None, :]
    mu = special.expit(eta)
    info = np.einsum("nb,nb->b", mu * (1 - mu), Gt * Gt)
    ll = np.sum(y[:, None] * eta - np.logaddexp(0.0, eta), axis=0)
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
    """
    y = np.asarray(y, dtype=np.float64)
    b = Gt.shape[1]
    beta = np.zeros(b) if start is None else np.clip(np.nan_to_num(start), -max_step, max_step)
    pen0, _, _ = _penalised(y, eta0, Gt, np.zeros(b))
    pen, mu, info = _penalised(y, eta0, Gt, beta)
    bad = ~np.isfinite(pen)
    beta[bad] = 0.0
    pen[bad] = pen0[bad]
    pen, mu, info = _penalised(y, eta0, Gt, beta)
    converged = np.zeros(b, dtype=bool)
    for _ in range(max_iter):
        w = mu * (1 - mu)
        h = w * Gt * Gt / info[None, :]
        score = np.einsum("nb,nb->b", Gt, y[:, None] - mu + h * (0.5 - mu))
        step = np.where(converged, 0.0, score / info)
        step = np.clip(step, -max_step, max_step)
        t = np.ones(b)
        for _half in range(30):
            new = beta + t * step
            n_pen, n_mu, n_info = _penalised(y, eta0, Gt, new)
            worse = ~(n_pen >= pen - 1e-10 * np.abs(pen)) & ~converged
            if not worse.any():
                break
            t = np.where(worse, t / 2, t)
        converged |= np.abs(t * step) < tol
        beta, pen, mu, info = new, n_pen, n_mu, n_info
        if converged.all():
            break
    chi2 = np.maximum(2.0 * (pen - pen0), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.abs(beta) / np.sqrt(chi2)
    return FirthResult(beta=beta, se=se, chi2=chi2, neg_log10_p=neg_log10_p_chi2(chi2),
                       converged=converged)
