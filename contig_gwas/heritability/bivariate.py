"""Genetic correlation by bivariate REML over the shared eigendecomposition.

Two traits measured on the same N individuals share the similarity matrix ``K = U diag(S) U'``.
After rotating both by ``U'``, individual-level covariance becomes block diagonal: rotated
coordinate i carries a pair ``(y1_i, y2_i)`` with covariance ``S_i Sg + Se`` where ``Sg`` and
``Se`` are the 2 x 2 genetic and residual covariance matrices (3 parameters each). The restricted
likelihood is then a sum of N two-by-two terms plus the GLS term for the covariates (the same
covariates for both traits), so one evaluation costs O(N P^2) and the six parameters are found by
quasi-Newton search over Cholesky factors (which keeps both matrices positive semi-definite, so
|rg| <= 1), polished by Newton steps. The standard error of
``rg = Sg12 / sqrt(Sg11 Sg22)`` comes from the observed information (numerical Hessian of the
restricted log-likelihood in the six covariance parameters) by the delta method; the p-value is
the Wald test of rg = 0.

References:
    Lee, Yang, Goddard, Visscher & Wray (2012) Bioinformatics 28:2540 (bivariate GREML).
    Korte et al. (2012) Nat Genet 44:1066 and Zhou & Stephens (2014) Nat Methods 11:407
    (multivariate LMM in the rotated basis).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import optimize, stats
from threadpoolctl import threadpool_limits

FLAG_OK = "ok"


@dataclass
class RGResult:
    """Genetic correlation of one pair of phenotypes.

    Attributes:
        pheno1, pheno2: names.
        rg: genetic correlation, in [-1, 1] (NaN only with a flag).
        se: its standard error (delta method on the observed information or jackknife).
        p: two-sided Wald p-value of rg = 0.
        n: individuals with both phenotypes.
        method: ``REML`` or ``HE``.
        h2_1, h2_2: the two heritabilities from the joint fit.
        gcov: genetic covariance (standardised traits); ecov: residual covariance.
        converged: whether the search converged.
        flag: ``ok`` or comma-separated flags (``h2_near_zero``, ``boundary_rg``,
            ``not_converged``, ``se_undefined``).
    """

    pheno1: str
    pheno2: str
    rg: float
    se: float
    p: float
    n: int
    method: str
    h2_1: float
    h2_2: float
    gcov: float
    ecov: float
    converged: bool
    flag: str = FLAG_OK

    def summary(self) -> str:
        """One human-readable line."""
        flag = "" if self.flag == FLAG_OK else f"  [{self.flag}]"
        return (f"{self.pheno1} ~ {self.pheno2}: rg = {self.rg:.3f} (se {self.se:.3f}, "
                f"p = {self.p:.2g}, {self.method}, n = {self.n}){flag}")

    def as_row(self) -> dict:
        return asdict(self)


def rg_wald(rg: float, se: float) -> float:
    """Two-sided Wald p-value of rg = 0 (NaN where se is not positive and finite)."""
    if not (np.isfinite(rg) and np.isfinite(se) and se > 0):
        return float("nan")
    return float(2 * stats.norm.sf(abs(rg) / se))


def rg_delta_se(g: np.ndarray, cov_g: np.ndarray) -> float:
    """SE of ``rg = g12 / sqrt(g11 g22)`` by the delta method.

    Args:
        g: (g11, g12, g22).
        cov_g: covariance of the three estimates, shape (3, 3).
    """
    g11, g12, g22 = g
    rg = g12 / np.sqrt(g11 * g22)
    grad = np.array([-0.5 * rg / g11, 1.0 / np.sqrt(g11 * g22), -0.5 * rg / g22])
    var = float(grad @ cov_g @ grad)
    return float(np.sqrt(var)) if var > 0 else float("nan")


def bivariate_reml_loglik(theta: np.ndarray, *, S: np.ndarray, UtX: np.ndarray,
                          UtY: np.ndarray, gradient: bool = False,
                          outer: np.ndarray | None = None):
    """Restricted log-likelihood (up to a constant) of a bivariate LMM in the rotated basis.

    ``-2 l = sum_i log|V_i| + log|X' V^-1 X| + r' V^-1 r`` with ``V_i = S_i Sg + Se`` and ``r``
    the GLS residuals; the gradient is ``dl/dtheta_k = -(tr(P V_k) - y' P V_k P y) / 2``
    (Patterson & Thompson 1971), every term a sum over N two-by-two blocks.

    Args:
        theta: (g11, g12, g22, e11, e12, e22), the genetic and residual covariance matrices.
        S: eigenvalues, shape (N,); UtX: rotated covariates, shape (N, P); UtY: rotated
            phenotypes, shape (N, 2).
        gradient: also return the gradient in theta, shape (6,).
        outer: optional precomputed ``UtX[:, :, None] * UtX[:, None, :]``, shape (N, P*P).
    Returns:
        the log-likelihood (``-inf`` where a 2 x 2 covariance is not positive definite), or
        ``(loglik, gradient)``.
    """
    g11, g12, g22, e11, e12, e22 = theta
    a = g11 * S + e11
    b = g12 * S + e12
    c = g22 * S + e22
    det = a * c - b * b
    if not (np.all(det > 0) and np.all(a > 0)):
        return (-np.inf, np.full(6, np.nan)) if gradient else -np.inf
    ia, ib, ic = c / det, -b / det, a / det
    X = UtX
    n, p = X.shape
    if outer is None:
        outer = (X[:, :, None] * X[:, None, :]).reshape(n, p * p)
    y1, y2 = UtY[:, 0], UtY[:, 1]
    blocks = (np.stack([ia, ib, ic]) @ outer).reshape(3, p, p)
    C = np.block([[blocks[0], blocks[1]], [blocks[1], blocks[2]]])
    rhs = np.concatenate([X.T @ (ia * y1 + ib * y2), X.T @ (ib * y1 + ic * y2)])
    sign, logdet_c = np.linalg.slogdet(C)
    if sign <= 0:
        return (-np.inf, np.full(6, np.nan)) if gradient else -np.inf
    beta = np.linalg.solve(C, rhs)
    r1 = y1 - X @ beta[:p]
    r2 = y2 - X @ beta[p:]
    q1 = ia * r1 + ib * r2
    q2 = ib * r1 + ic * r2
    quad = np.sum(r1 * q1 + r2 * q2)
    ll = float(-0.5 * (np.sum(np.log(det)) + logdet_c + quad))
    if not gradient:
        return ll
    # per-block pieces for E11, E12, E22: tr(Vi^-1 E), q' E q, Vi^-1 E Vi^-1 (three entries)
    tr_e = np.stack([ia, 2 * ib, ic])
    qeq = np.stack([q1 * q1, 2 * q1 * q2, q2 * q2])
    m = np.stack([
        np.stack([ia * ia, ia * ib, ib * ib]),
        np.stack([2 * ia * ib, ia * ic + ib * ib, 2 * ib * ic]),
        np.stack([ib * ib, ib * ic, ic * ic]),
    ])  # (3 E, 3 entries, N)
    weights = np.concatenate([m * S, m]).reshape(18, n)
    bk = (weights @ outer).reshape(6, 3, p, p)
    cinv = np.linalg.inv(C)
    c11, c12, c22 = cinv[:p, :p], cinv[:p, p:], cinv[p:, p:]
    tr_cb = (np.einsum("kij,ij->k", bk[:, 0], c11) + 2 * np.einsum("kij,ij->k", bk[:, 1], c12)
             + np.einsum("kij,ij->k", bk[:, 2], c22))
    s_tr = np.concatenate([tr_e @ S, tr_e.sum(axis=1)])
    s_q = np.concatenate([qeq @ S, qeq.sum(axis=1)])
    grad = -0.5 * (s_tr - tr_cb - s_q)
    return ll, grad


def _theta_from_u(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Covariance parameters from Cholesky parameters, and the Jacobian d theta / d u (6 x 6).

    ``u = (log L11, L21, log L22)`` for each of Sg and Se, with ``Sg = L L'``.
    """
    jac = np.zeros((6, 6))
    theta = np.empty(6)
    for o in (0, 3):
        a, b, c = np.exp(u[o]), u[o + 1], np.exp(u[o + 2])
        theta[o:o + 3] = a * a, a * b, b * b + c * c
        jac[o, o] = 2 * a * a
        jac[o + 1, o], jac[o + 1, o + 1] = a * b, a
        jac[o + 2, o + 1], jac[o + 2, o + 2] = 2 * b, 2 * c * c
    return theta, jac


def _u_from_theta(theta: np.ndarray) -> np.ndarray:
    out = []
    for m in (theta[:3], theta[3:]):
        mat = np.array([[m[0], m[1]], [m[1], m[2]]])
        w, v = np.linalg.eigh(mat)
        mat = v @ np.diag(np.maximum(w, 1e-3 * max(w.max(), 1e-8))) @ v.T
        lo = np.linalg.cholesky(mat)
        out += [np.log(lo[0, 0]), lo[1, 0], np.log(lo[1, 1])]
    return np.array(out)


def observed_information(grad_fn, theta: np.ndarray, *, step: float = 1e-5) -> np.ndarray:
    """Minus the Hessian, by central differences of an analytic gradient, symmetrised.

    Args:
        grad_fn: theta -> gradient, shape (K,).
        theta: where to evaluate, shape (K,).
    Returns:
        shape (K, K).
    """
    k = len(theta)
    H = np.empty((k, k))
    for i in range(k):
        e = np.zeros(k)
        e[i] = step
        H[:, i] = (grad_fn(theta + e) - grad_fn(theta - e)) / (2 * step)
    return -0.5 * (H + H.T)


def bivariate_reml(*, S: np.ndarray, UtX: np.ndarray, UtY: np.ndarray, pheno1: str = "",
                   pheno2: str = "", start: np.ndarray | None = None,
                   h2_floor: float = 1e-3) -> RGResult:
    """Bivariate REML genetic correlation of two phenotypes sharing one similarity matrix.

    Args:
        S: eigenvalues of the similarity matrix, shape (N,).
        UtX: ``U' X`` (covariates with intercept, the same for both traits), shape (N, P).
        UtY: ``U' [y1 y2]``, shape (N, 2); each trait is scaled to unit residual variance
            internally (rg does not depend on the scale).
        pheno1, pheno2: names for the result.
        start: optional starting (g11, g12, g22, e11, e12, e22) on that standardised scale
            (e.g. from univariate fits); by default half of each trait's variance is genetic.
        h2_floor: below this h2 for either trait rg is undefined: NaN with flag
            ``h2_near_zero``.
    Returns:
        ``RGResult`` (method ``REML``).
    Raises:
        ValueError if a phenotype is constant after adjusting for the covariates.
    """
    with threadpool_limits(limits=1):  # small matrices: BLAS threads only cost (measured 10x)
        return _bivariate_reml(S=S, UtX=UtX, UtY=UtY, pheno1=pheno1, pheno2=pheno2, start=start,
                               h2_floor=h2_floor)


def _bivariate_reml(*, S, UtX, UtY, pheno1, pheno2, start, h2_floor) -> RGResult:
    S = np.asarray(S, dtype=np.float64)
    UtX = np.asarray(UtX, dtype=np.float64)
    UtY = np.asarray(UtY, dtype=np.float64)
    n, p = UtX.shape
    beta, *_ = np.linalg.lstsq(UtX, UtY, rcond=None)
    res = UtY - UtX @ beta
    sd = np.sqrt(np.sum(res * res, axis=0) / (n - p))
    if not np.all(np.isfinite(sd)) or np.any(sd <= 1e-12 * (1 + np.abs(UtY).max())):
        raise ValueError("a phenotype is constant after adjusting for the covariates")
    Y = UtY / sd
    rp = float(np.sum(res[:, 0] * res[:, 1]) / (n - p) / (sd[0] * sd[1]))
    if start is None:
        start = np.array([0.5, 0.5 * rp, 0.5, 0.5, 0.5 * rp, 0.5])
    outer = (UtX[:, :, None] * UtX[:, None, :]).reshape(n, p * p)

    def ll_grad(t: np.ndarray):
        return bivariate_reml_loglik(t, S=S, UtX=UtX, UtY=Y, gradient=True, outer=outer)

    def nll(u: np.ndarray):
        t, jac = _theta_from_u(u)
        v, g = ll_grad(t)
        if not np.isfinite(v):
            return 1e300, np.zeros(6)
        return -v, -(jac.T @ g)

    u0 = _u_from_theta(np.asarray(start, dtype=np.float64))
    opt = optimize.minimize(nll, u0, jac=True, method="BFGS",
                            options={"maxiter": 1000, "gtol": 1e-6})
    theta, _ = _theta_from_u(opt.x)

    # Newton steps in the natural parameters; the last information matrix gives the SE and
    # convergence is judged by the size of the final Newton step
    info = None
    converged = False
    for _ in range(5):
        ll0, grad = ll_grad(theta)
        info = observed_information(lambda t: ll_grad(t)[1], theta)
        if not np.all(np.isfinite(info)) or np.any(np.linalg.eigvalsh(info) <= 0):
            info = None
            break
        stepv = np.linalg.solve(info, grad)
        if np.max(np.abs(stepv)) < 1e-6:
            converged = True
            break
        new = theta + stepv
        if not ll_grad(new)[0] >= ll0:
            # not an ascent step: accept the search's optimum if its gradient is small
            converged = bool(opt.success) or np.max(np.abs(stepv)) < 1e-4
            break
        theta = new
    g11, g12, g22, e11, e12, e22 = theta
    h2_1 = g11 / (g11 + e11)
    h2_2 = g22 / (g22 + e22)
    flags = []
    if not converged:
        flags.append("not_converged")
    nan = float("nan")
    if min(h2_1, h2_2) < h2_floor:
        flags.append("h2_near_zero")
        return RGResult(pheno1=pheno1, pheno2=pheno2, rg=nan, se=nan, p=nan, n=n, method="REML",
                        h2_1=float(h2_1), h2_2=float(h2_2), gcov=float(g12), ecov=float(e12),
                        converged=converged, flag=",".join(flags))
    rg = float(g12 / np.sqrt(g11 * g22))
    if abs(rg) > 1 - 1e-3:
        flags.append("boundary_rg")
    se = nan
    if info is not None:
        se = rg_delta_se(np.array([g11, g12, g22]), np.linalg.inv(info)[:3, :3])
    if not np.isfinite(se):
        flags.append("se_undefined")
    return RGResult(pheno1=pheno1, pheno2=pheno2, rg=rg, se=float(se), p=rg_wald(rg, se), n=n,
                    method="REML", h2_1=float(h2_1), h2_2=float(h2_2), gcov=float(g12),
                    ecov=float(e12), converged=converged, flag=",".join(flags) or FLAG_OK)
