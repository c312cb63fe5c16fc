"""Null linear mixed model over an eigendecomposition (FaST-LMM mathematics).

Model: ``y = X b + g + e`` with ``g ~ N(0, sg2 K)`` and ``e ~ N(0, se2 I)``; write
``delta = se2 / sg2`` so that ``cov(y) = sg2 (K + delta I)``. Given ``K = U diag(S) U'``
(full rank: ``U`` is N x N, ``S`` has N entries) the rotated data ``U'y``, ``U'X`` have a
diagonal covariance ``sg2 (S + delta)``, and the log-likelihood at a given ``delta`` costs
O(N D^2) (Lippert et al. 2011, Nat Methods 8:833, "FaST linear mixed models").

With ``w = 1 / (S + delta)``:

- GLS: ``b = (X'WX)^-1 X'Wy``, ``RSS = y'Wy - b' X'Wy`` (all in the rotated basis).
- ML:   ``ll = -1/2 [N log(2 pi sg2) + sum log(S + delta) + N]``, ``sg2 = RSS / N``.
- REML: ``ll = -1/2 [(N-D) log(2 pi sg2) + sum log(S + delta) + log|X'WX| - log|X'X|
  + (N-D)]``, ``sg2 = RSS / (N - D)``.

The REML value is the likelihood of the data projected onto the orthogonal complement of the
covariates, i.e. the negative of FaST-LMM's ``lmm_cov`` ``nLL`` (which projects the covariates
out before its eigendecomposition), so the maximiser agrees with fastlmm's ``single_snp``
``Nullh2`` (``h2 = 1 / (1 + delta)``).

Optimisation is over ``log delta`` in ``LOG_DELTA_BOUNDS`` (h2 from 0.99999, FaST-LMM's upper
limit, down to 2e-9, indistinguishable from its lower limit 0): a grid of 100 evaluations,
then Brent's bounded method between the neighbours of the best grid point (as FaST-LMM does).

Used by ``contig-gwas`` (per phenotype and leave-one-chromosome-out kernel) and by ``contig-h2``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

from ..defaults import EXACT_GRID_POINTS, EXACT_LOG_DELTA_BOUNDS, at_bound

__all__ = ["NullModelFit", "lmm_loglik", "fit_null_model", "LOG_DELTA_BOUNDS"]

LOG_DELTA_BOUNDS = EXACT_LOG_DELTA_BOUNDS
_GRID = EXACT_GRID_POINTS
_LOG2PI = float(np.log(2.0 * np.pi))


@dataclass
class NullModelFit:
    """A fitted null model for one phenotype.

    Attributes:
        phenotype: its name.
        n: number of individuals.
        delta: se2 / sg2 at the optimum.
        sg2: genetic variance (scale of K), ``RSS / (N - D)`` (REML) or ``RSS / N`` (ML).
        se2: residual variance, ``delta * sg2``.
        h2: ``sg2 / (sg2 + se2) = 1 / (1 + delta)`` (heritability when K has mean diagonal 1,
            as the standardised kinship has).
        loglik: (restricted) log-likelihood at the optimum.
        n_iter: number of likelihood evaluations (grid plus Brent).
        reml: True for REML, False for ML.
        converged: whether Brent's method reported convergence.
        beta: GLS fixed effects of the covariates at the optimum, shape (D,).
        at_bound: True when the optimum lies on a bound of ``log delta`` (h2 near 0 or 1).
    """

    phenotype: str
    n: int
    delta: float
    sg2: float
    se2: float
    h2: float
    loglik: float
    n_iter: int
    reml: bool
    converged: bool
    beta: np.ndarray
    at_bound: bool = field(default=False)

    @property
    def log_delta(self) -> float:
        return float(np.log(self.delta))


def _check(S: np.ndarray, UtX: np.ndarray, Uty: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                       np.ndarray]:
    S = np.asarray(S, dtype=np.float64).reshape(-1)
    UtX = np.asarray(UtX, dtype=np.float64)
    if UtX.ndim == 1:
        UtX = UtX[:, None]
    Uty = np.asarray(Uty, dtype=np.float64).reshape(-1)
    n = S.shape[0]
    if UtX.shape[0] != n or Uty.shape[0] != n:
        raise ValueError(f"S has {n} entries but UtX has {UtX.shape[0]} rows and Uty "
                         f"{Uty.shape[0]}: the null model needs full-rank rotated data")
    if UtX.shape[1] >= n:
        raise ValueError(f"{UtX.shape[1]} covariates for {n} individuals")
    return S, UtX, Uty


class _Rotated:
    """Per-eigenvalue products, so that each evaluation is a few matrix-vector products."""

    def __init__(self, S: np.ndarray, UtX: np.ndarray, Uty: np.ndarray) -> None:
        self.S = np.maximum(S, 0.0)  # tiny negative eigenvalues of a PSD kernel are round-off
        self.n, self.d = UtX.shape
        d = self.d
        # The likelihood depends on y only through y - X b for every b (REML and ML alike), so
        # y is first replaced by its OLS residual (in the rotated basis: U'y - U'X c). Without
        # this, rss = y'Wy - b'X'Wy cancels: for a phenotype with a large mean (height, ~168)
        # the round-off in the likelihood grew ~500x and h2 was reproducible across BLAS
        # kernels to ~1e-6 only. The offset c is added back to the fitted beta.
        self.offset = (np.linalg.lstsq(UtX, Uty, rcond=None)[0] if d
                       else np.zeros(0, dtype=np.float64))
        if d:
            Uty = Uty - UtX @ self.offset
        # row i: vec(x_i x_i'), x_i y_i, y_i^2  -> shape (N, D*D + D + 1)
        self.Q = np.concatenate([(UtX[:, :, None] * UtX[:, None, :]).reshape(self.n, d * d),
                                 UtX * Uty[:, None], (Uty * Uty)[:, None]], axis=1)
        xtx = UtX.T @ UtX
        sign, logdet = np.linalg.slogdet(xtx) if d else (1.0, 0.0)
        self.logdet_xtx = float(logdet)
        if d and sign <= 0:
            raise ValueError("covariates are collinear (X'X is singular)")

    def evaluate(self, log_delta: np.ndarray, *, reml: bool) -> tuple[np.ndarray, np.ndarray,
                                                                        np.ndarray]:
        """Log-likelihood, sg2 and beta at each of G values of log delta: (G,), (G,), (G, D)."""
        log_delta = np.atleast_1d(np.asarray(log_delta, dtype=np.float64))
        delta = np.exp(log_delta)
        sd = self.S[None, :] + delta[:, None]                     # (G, N)
        w = 1.0 / sd
        logdet_v = np.log(sd).sum(axis=1)
        m = w @ self.Q                                             # (G, D*D + D + 1)
        d, n = self.d, self.n
        g = len(delta)
        ywy = m[:, -1]
        if d:
            xwx = m[:, :d * d].reshape(g, d, d)
            xwy = m[:, d * d:d * d + d]
            chol = np.linalg.cholesky(xwx)
            z = np.linalg.solve(chol, xwy[:, :, None])[:, :, 0]
            beta = np.linalg.solve(np.swapaxes(chol, 1, 2), z[:, :, None])[:, :, 0] + self.offset
            rss = ywy - np.einsum("gd,gd->g", z, z)
            logdet_xwx = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
        else:
            beta = np.zeros((g, 0))
            rss = ywy
            logdet_xwx = np.zeros(g)
        rss = np.maximum(rss, np.finfo(float).tiny)
        if reml:
            dof = n - d
            sg2 = rss / dof
            ll = -0.5 * (dof * (_LOG2PI + np.log(sg2)) + logdet_v + logdet_xwx
                         - self.logdet_xtx + dof)
        else:
            sg2 = rss / n
            ll = -0.5 * (n * (_LOG2PI + np.log(sg2)) + logdet_v + n)
        return ll, sg2, beta


def lmm_loglik(log_delta: float, *, S: np.ndarray, UtX: np.ndarray, Uty: np.ndarray,
                reml: bool = True) -> float:
    """(Restricted) log-likelihood of the null model at ``log delta``, sg2 profiled out.

    Args:
        log_delta: natural log of ``delta = se2 / sg2``.
        S: eigenvalues of K, shape (N,).
        UtX: rotated covariates ``U'X``, shape (N, D) (include the intercept column).
        Uty: rotated phenotype ``U'y``, shape (N,).
        reml: REML (True) or ML (False).
    Returns:
        The log-likelihood (REML: equal to minus fastlmm ``lmm_cov`` ``nLL`` at
        ``h2 = 1 / (1 + delta)``).
    """
    S, UtX, Uty = _check(S, UtX, Uty)
    ll, _, _ = _Rotated(S, UtX, Uty).evaluate(np.array([log_delta]), reml=reml)
    return float(ll[0])


def fit_null_model(*, S: np.ndarray, UtX: np.ndarray, Uty: np.ndarray, reml: bool = True,
                   phenotype: str = "") -> NullModelFit:
    """Maximise the (restricted) likelihood over ``log delta`` (grid, then Brent).

    Args:
        S: eigenvalues of K, shape (N,); K should be positive semi-definite.
        UtX: rotated covariates ``U'X``, shape (N, D) (include the intercept column).
        Uty: rotated phenotype ``U'y``, shape (N,), no missing values.
        reml: REML (default) or ML.
        phenotype: name recorded in the result.
    Returns:
        NullModelFit at the optimum.
    Raises:
        ValueError for inconsistent shapes or singular covariates (internal callers check
        user input first and raise InputError).
    """
    S, UtX, Uty = _check(S, UtX, Uty)
    rot = _Rotated(S, UtX, Uty)
    lo, hi = LOG_DELTA_BOUNDS
    grid = np.linspace(lo, hi, _GRID)
    ll_grid, _, _ = rot.evaluate(grid, reml=reml)
    k = int(np.nanargmax(ll_grid))
    a, b = grid[max(k - 1, 0)], grid[min(k + 1, _GRID - 1)]
    n_eval = _GRID
    converged = True
    best_x, best_ll = float(grid[k]), float(ll_grid[k])
    if b > a:
        def neg_ll(x: float) -> float:
            return -float(rot.evaluate(np.array([x]), reml=reml)[0][0])

        res = optimize.minimize_scalar(neg_ll, bounds=(a, b), method="bounded",
                                       options={"xatol": 1e-7, "maxiter": 200})
        n_eval += int(res.nfev)
        converged = bool(res.success)
        if -res.fun >= best_ll:
            best_x, best_ll = float(res.x), float(-res.fun)
    ll, sg2, beta = rot.evaluate(np.array([best_x]), reml=reml)
    delta = float(np.exp(best_x))
    sg2_ = float(sg2[0])
    return NullModelFit(phenotype=phenotype, n=rot.n, delta=delta, sg2=sg2_, se2=delta * sg2_,
                        h2=1.0 / (1.0 + delta), loglik=float(ll[0]), n_iter=n_eval, reml=reml,
                        converged=converged, beta=beta[0].copy(),
                        at_bound=at_bound(best_x, (lo, hi)))
