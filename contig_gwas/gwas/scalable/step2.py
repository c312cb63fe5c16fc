"""Step 2: the calibrated BOLT-LMM-inf test of a block of variants against every phenotype.

For a variant ``x`` on chromosome ``c`` (dosage, missing calls mean-imputed over the group,
as in the exact mode) and phenotype ``p`` with step-1 ``u = Pi_{-c} y_p``:

    x' Pi y = x' u                       (exact: u lies in the complement of the covariates)
    x' Pi x ~ rho_p |P x|^2              (BOLT-LMM-inf calibration, see step1)
    beta = x'Pi y / x'Pi x,   RSS = y'Pi y - beta x'Pi y,
    se^2 = RSS / (N - D - 1) / x'Pi x,   t = beta / se,  p from Student's t(N - D - 1),

the exact mode's statistic (``association``) with ``x' Pi x`` calibrated instead of computed.
A block of ``B`` variants costs one matrix product ``G' [U_c Q 1]`` (N x B x (P + D + 1)),
shared by all phenotypes of the group, and one pass for the column sums of squares; memory
``8 N (B + C P)`` bytes.

Reference: Loh P-R et al. (2015) Nat Genet 47:284-290, Online Methods "BOLT-LMM-inf".
"""

from __future__ import annotations

import numpy as np

from ...io.sumstats import neg_log10_p_t
from ..association import AssociationResult
from .step1 import Step1Fit

__all__ = ["test_block"]


def test_block(*, fit: Step1Fit, Q: np.ndarray, G: np.ndarray, chromosome: int
               ) -> AssociationResult:
    """Test every variant of a block (one chromosome) against every phenotype of the group.

    Args:
        fit: the group's step-1 result.
        Q: orthonormal basis of the group's covariates, shape (N, D).
        G: imputed dosages, shape (N, B) (``association.impute_block``).
        chromosome: the block's chromosome code.
    Returns:
        AssociationResult with arrays of shape (B, P); NaN for a variant with no variance
        left after the covariates.
    """
    U = fit.U[fit.solve_index(chromosome)]                              # (N, P)
    ypy = fit.ypy[fit.solve_index(chromosome)]                          # (P,)
    n, d = Q.shape
    p = U.shape[1]
    dof = n - d - 1
    # one product gives x'u, Q'x and the column sums; P x = P (x - mean) as the intercept
    # lies in span(Q), so |Px|^2 = |x - mean|^2 - |Q'(x - mean)|^2
    prod = G.T @ np.column_stack([U, Q, np.ones(n)])                    # (B, P + D + 1)
    xpy = prod[:, :p]
    mean = prod[:, -1] / n
    qg = prod[:, p:p + d] - mean[:, None] * Q.sum(axis=0)[None, :]       # Q'(x - mean)
    raw = np.maximum(np.einsum("ij,ij->j", G, G) - n * mean * mean, 0.0)
    xx = raw - (qg * qg).sum(axis=1)                                    # |P x|^2
    degenerate = xx <= 1e-9 * np.maximum(raw, np.finfo(float).tiny)
    xpx = np.maximum(xx, 0.0)[:, None] * fit.rho[fit.vc_index(chromosome)][None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        beta = xpy / xpx
        rss = np.maximum(ypy[None, :] - beta * xpy, 0.0)
        se = np.sqrt(rss / dof / xpx)
        t = beta / se
    for a in (beta, se, t):
        a[degenerate, :] = np.nan
    nlp = neg_log10_p_t(t, dof=dof)
    return AssociationResult(beta=beta, se=se, chi2=t * t, neg_log10_p=nlp, dof=dof)
