"""Saddle-point approximation of the score statistic's null distribution (array layer).

Under the null model the score of a variant, ``S = sum gt_i (y_i - mu_i)`` with
``y_i ~ Bernoulli(mu_i)`` independent (``gt`` the covariate-projected dosages,
``score.project_block``), has the cumulant generating function

    K(t) = sum [log(1 - mu_i + mu_i e^{gt_i t}) - t gt_i mu_i],
    K'(t) = sum gt_i (p_i(t) - mu_i),   K''(t) = sum gt_i^2 p_i(t) (1 - p_i(t)),

with ``p_i(t) = expit(logit mu_i + gt_i t)``. For an observed ``q`` the saddle point solves
``K'(t) = q`` and Barndorff-Nielsen's formula gives the tail

    P(S >= q) ~ 1 - Phi(w + log(v / w) / w),  w = sign(t) sqrt(2 (t q - K(t))),
    v = t sqrt(K''(t)).

The two-sided p-value adds both tails at ``+|s|`` and ``-|s|``; within ``|s| < 2 sqrt(V)``
the normal approximation (the score test) is used, as SAIGE (Dey et al. 2017, Am J Hum Genet
101:37; Zhou et al. 2018, Nat Genet 50:1335). The saddle points of all selected variants are
found at once by Newton steps safeguarded by a bracket (``K'`` is increasing).
"""

from __future__ import annotations

import numpy as np
from scipy import special

from ...io.sumstats import neg_log10_p_chi2

__all__ = ["spa_neg_log10_p"]

_LN10 = np.log(10.0)


def _cgf(eta: np.ndarray, mu: np.ndarray, Gt: np.ndarray, t: np.ndarray, *,
         value: bool = True):
    """K, K', K'' at ``t`` (shape (B,)) for every column of ``Gt`` (K only with ``value``)."""
    z = eta[:, None] + Gt * t[None, :]
    p = special.expit(z)
    k0 = (np.sum(np.logaddexp(0.0, z) - np.logaddexp(0.0, eta)[:, None]
                 - Gt * (mu[:, None] * t[None, :]), axis=0) if value else None)
    k1 = np.sum(Gt * (p - mu[:, None]), axis=0)
    k2 = np.sum(Gt * Gt * p * (1 - p), axis=0)
    return k0, k1, k2


def _saddle(eta, mu, Gt, q, *, max_iter: int = 100):
    """Solve ``K'(t) = q`` for every column; returns t, K(t), K''(t) and whether ``q`` lies
    inside the support's range (else the tail is 0). Newton steps, a bisection of the
    bracket where a step leaves it; columns stop once converged (the active set shrinks)."""
    b = Gt.shape[1]
    hi_reach = np.sum(np.where(Gt > 0, Gt * (1 - mu[:, None]), -Gt * mu[:, None]), axis=0)
    lo_reach = -np.sum(np.where(Gt > 0, Gt * mu[:, None], -Gt * (1 - mu[:, None])), axis=0)
    inside = (q < hi_reach * (1 - 1e-12)) & (q > lo_reach * (1 - 1e-12))
    lo = np.where(q > 0, 0.0, -np.inf)
    hi = np.where(q > 0, np.inf, 0.0)
    _, _, v0 = _cgf(eta, mu, Gt, np.zeros(b), value=False)
    t = np.where(inside, q / np.maximum(v0, 1e-300), 0.0)
    active = np.flatnonzero(inside)
    for _ in range(max_iter):
        if len(active) == 0:
            break
        ta, qa = t[active], q[active]
        _, k1, k2 = _cgf(eta, mu, Gt[:, active], ta, value=False)
        f = k1 - qa
        lo[active] = np.where(f < 0, np.maximum(lo[active], ta), lo[active])
        hi[active] = np.where(f > 0, np.minimum(hi[active], ta), hi[active])
        la, ha = lo[active], hi[active]
        new = ta - f / np.maximum(k2, 1e-300)
        outside = ~((new > la) & (new < ha))
        bis = np.where(np.isfinite(la) & np.isfinite(ha), (la + ha) / 2,
                       np.where(np.isfinite(la), np.maximum(2 * np.abs(la), 1.0),
                                -np.maximum(2 * np.abs(ha), 1.0)))
        new = np.where(outside, bis, new)
        done = np.abs(new - ta) <= 1e-10 * (1 + np.abs(ta))
        t[active] = new
        active = active[~done]
    k0, _, k2 = _cgf(eta, mu, Gt, t)
    return t, k0, k2, inside


def _log_tail(eta, mu, Gt, q, upper: bool) -> np.ndarray:
    """log P(S >= q) (``upper``) or log P(S <= q) by the saddle-point formula."""
    t, k0, k2, inside = _saddle(eta, mu, Gt, q)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.sign(t) * np.sqrt(np.maximum(2.0 * (t * q - k0), 0.0))
        v = t * np.sqrt(k2)
        z = w + np.log(v / w) / w
    out = special.log_ndtr(-z) if upper else special.log_ndtr(z)
    return np.where(inside, out, -np.inf)


def spa_neg_log10_p(*, s: np.ndarray, v: np.ndarray, eta: np.ndarray, mu: np.ndarray,
                    Gt: np.ndarray, normal_within: float = 2.0) -> np.ndarray:
    """-log10 of the two-sided saddle-point p-value of every score.

    Args:
        s: scores, shape (B,).
        v: their null variances (``K''(0)``), shape (B,).
        eta, mu: the null model's linear predictor and probabilities, shape (N,).
        Gt: projected dosages, shape (N, B).
        normal_within: scores within this many standard deviations of 0 keep the normal
            p-value.
    Returns:
        shape (B,); NaN where ``v`` is NaN.
    """
    s = np.asarray(s, dtype=np.float64)
    out = neg_log10_p_chi2(s * s / v)
    far = np.flatnonzero(np.abs(s) >= normal_within * np.sqrt(v))
    if len(far) == 0:
        return out
    a = np.abs(s[far])
    G = Gt[:, far]
    lu = _log_tail(eta, mu, G, a, upper=True)
    ll = _log_tail(eta, mu, G, -a, upper=False)
    logp = np.logaddexp(lu, ll)
    res = -logp / _LN10
    # the approximation is undefined where w ~ 0 (never for |s| >= 2 sd); keep the normal
    ok = np.isfinite(res)
    out[far[ok]] = res[ok]
    return out
