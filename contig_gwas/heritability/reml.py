"""REML heritability with standard errors, on top of the GWAS engine's null model.

The fit itself is ``contig_gwas.gwas.nullmodel.fit_null_model`` (univariate REML over the
eigendecomposition ``K = U diag(S) U'``, FaST-LMM mathematics): contig-gwas reports the same h2 in
its null-model table, and this module adds no second fit. What it adds:

- the standard error from the curvature of the restricted log-likelihood, profiled over the
  overall scale, in the engine's parameter ``log delta`` (``delta = se2 / sg2``), carried onto
  ``h2 = 1 / (1 + delta)`` by the delta method: ``se(h2) = h2 (1 - h2) se(log delta)``;
- boundary handling: when the restricted likelihood is maximised at h2 = 0 or h2 = 1 (the
  engine's search stops at its bound on ``log delta``) the row is flagged ``boundary_h2_0`` /
  ``boundary_h2_1`` and the SE comes from the expected (Fisher) information of h2 evaluated at
  the fitted value, which stays finite at the boundary where the curvature in ``log delta``
  vanishes. Nothing is reported as NaN without a flag.

References:
    Patterson & Thompson (1971) Biometrika 58:545 (REML).
    Lippert et al. (2011) Nat Methods 8:833 (FaST-LMM: the rotated likelihood).
    Yang, Lee, Goddard & Visscher (2011) Am J Hum Genet 88:76 (GCTA: h2 and its SE).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from ..gwas.nullmodel import NullModelFit, fit_null_model, lmm_loglik

#: h2 closer than this to 0 or 1 counts as a boundary estimate.
BOUNDARY_TOL = 1e-3
#: log-delta at which the likelihood is probed to confirm a boundary maximum
#: (h2 = 1e-6 and 1 - 1e-6).
_PROBE_LOG_DELTA = float(np.log(1e6))

FLAG_OK = "ok"


@dataclass
class H2Result:
    """Heritability of one phenotype.

    Attributes:
        phenotype: the phenotype's name.
        n: individuals used.
        h2: sg2 / (sg2 + se2) on the scale of the similarity matrix (mean diagonal 1 for a
            standardised kinship).
        se: standard error of h2 (see ``se_method``).
        sg2, se2: genetic and residual variance components (phenotype units squared).
        method: ``REML`` or ``HE``.
        converged: whether the fit reported convergence.
        flag: ``ok`` or comma-separated flags (``boundary_h2_0``, ``boundary_h2_1``,
            ``not_converged``, ``constant_phenotype``, ``too_few_individuals``, ...).
        se_method: ``curvature`` (observed information in log delta, delta method),
            ``expected_information`` (Fisher information of h2), ``jackknife`` or ``none``.
        loglik: the restricted log-likelihood at the fit (NaN for HE).
    """

    phenotype: str
    n: int
    h2: float
    se: float
    sg2: float
    se2: float
    method: str
    converged: bool
    flag: str = FLAG_OK
    se_method: str = "curvature"
    loglik: float = float("nan")

    def summary(self) -> str:
        """One human-readable line."""
        flag = "" if self.flag == FLAG_OK else f"  [{self.flag}]"
        return (f"{self.phenotype}: h2 = {self.h2:.4f} (se {self.se:.4f}, {self.method}, "
                f"n = {self.n}){flag}")

    def as_row(self) -> dict:
        """The ``.h2.tsv`` row (plus se_method and loglik)."""
        return asdict(self)


def flagged_result(*, phenotype: str, n: int, method: str, flag: str) -> H2Result:
    """A row for a phenotype that could not be estimated: NaN values, the reason in ``flag``."""
    nan = float("nan")
    return H2Result(phenotype=phenotype, n=int(n), h2=nan, se=nan, sg2=nan, se2=nan,
                    method=method, converged=False, flag=flag, se_method="none")


def profile_curvature_log_delta(log_delta: float, *, S: np.ndarray, UtX: np.ndarray,
                                Uty: np.ndarray, step: float = 1e-2) -> float:
    """Second derivative of the restricted log-likelihood in ``log delta`` (five-point stencil).

    Args:
        log_delta: where to evaluate.
        S: eigenvalues of the similarity matrix, shape (N,).
        UtX: rotated covariates, shape (N, P); Uty: rotated phenotype, shape (N,).
        step: finite-difference step in log delta.
    Returns:
        d^2 l / d(log delta)^2 (negative at an interior maximum).
    """
    f = [lmm_loglik(log_delta + k * step, S=S, UtX=UtX, Uty=Uty, reml=True)
         for k in (-2, -1, 0, 1, 2)]
    return (-f[0] + 16 * f[1] - 30 * f[2] + 16 * f[3] - f[4]) / (12 * step * step)


def expected_information_h2(h2: float, *, S: np.ndarray, UtX: np.ndarray) -> float:
    """Fisher information of h2 in the restricted likelihood, profiled over the total variance.

    The model in the rotated basis is ``Uty ~ N(UtX b, sp2 diag(h2 S + 1 - h2))``. With
    ``V_h = sp2 (S - 1)`` and ``V_s = diag(h2 S + 1 - h2)`` the REML information is
    ``I_jk = tr(P V_j P V_k) / 2`` (Patterson & Thompson 1971), and the information of h2 with
    sp2 profiled out is ``I_hh - I_hs^2 / I_ss`` (independent of sp2). Computed in O(N P^2)
    without forming P.

    Args:
        h2: where to evaluate, in [0, 1].
        S: eigenvalues, shape (N,); UtX: rotated covariates, shape (N, P).
    Returns:
        the information (1 / variance of h2); ``inf`` where V is singular.
    """
    S = np.asarray(S, dtype=np.float64)
    w = h2 * S + (1.0 - h2)
    if np.any(w <= 0):
        return float("inf")
    d = 1.0 / w
    a = S - 1.0
    W = d[:, None] * UtX
    M = np.linalg.inv(UtX.T @ W)
    hdiag = np.einsum("ij,jk,ik->i", W, M, W)

    def tr_pap_b(x: np.ndarray, y: np.ndarray) -> float:
        return float(np.sum(d * d * x * y) - 2 * np.sum(hdiag * d * x * y)
                     + np.trace(M @ (W.T @ (x[:, None] * W)) @ M @ (W.T @ (y[:, None] * W))))

    n, p = UtX.shape
    i_hh = 0.5 * tr_pap_b(a, a)
    i_hs = 0.5 * tr_pap_b(a, w)
    i_ss = 0.5 * (n - p)
    return i_hh - i_hs * i_hs / i_ss


def _boundary(fit: NullModelFit, *, S, UtX, Uty) -> str | None:
    """Which boundary (if any) the restricted likelihood is maximised on."""
    ld = float(np.log(fit.delta))
    if fit.h2 < 0.5:
        if fit.h2 < BOUNDARY_TOL:
            return "boundary_h2_0"
        far = lmm_loglik(max(_PROBE_LOG_DELTA, ld), S=S, UtX=UtX, Uty=Uty, reml=True)
        return "boundary_h2_0" if far >= fit.loglik - 1e-9 else None
    if fit.h2 > 1 - BOUNDARY_TOL:
        return "boundary_h2_1"
    far = lmm_loglik(min(-_PROBE_LOG_DELTA, ld), S=S, UtX=UtX, Uty=Uty, reml=True)
    return "boundary_h2_1" if np.isfinite(far) and far >= fit.loglik - 1e-9 else None


def h2_from_fit(fit: NullModelFit, *, S: np.ndarray, UtX: np.ndarray,
                Uty: np.ndarray) -> H2Result:
    """Attach a standard error and boundary flag to the engine's null-model fit.

    Args:
        fit: ``fit_null_model(S=S, UtX=UtX, Uty=Uty, reml=True)``.
        S, UtX, Uty: the same rotated data, shapes (N,), (N, P), (N,).
    Returns:
        an ``H2Result`` with the fit's h2, sg2, se2 and an SE: curvature-based in the interior,
        expected-information-based at a boundary or where the curvature is not negative.
    """
    flags = []
    boundary = _boundary(fit, S=S, UtX=UtX, Uty=Uty)
    se_method = "curvature"
    se = float("nan")
    if boundary is None:
        curv = profile_curvature_log_delta(float(np.log(fit.delta)), S=S, UtX=UtX, Uty=Uty)
        if np.isfinite(curv) and curv < 0:
            se = fit.h2 * (1.0 - fit.h2) / np.sqrt(-curv)
    else:
        flags.append(boundary)
    if not np.isfinite(se):
        se_method = "expected_information"
        info = expected_information_h2(fit.h2, S=S, UtX=UtX)
        se = 1.0 / np.sqrt(info) if info > 0 else float("nan")
        if not np.isfinite(se):
            flags.append("se_undefined")
            se_method = "none"
    if not fit.converged:
        flags.append("not_converged")
    return H2Result(phenotype=fit.phenotype, n=int(fit.n), h2=float(fit.h2), se=float(se),
                    sg2=float(fit.sg2), se2=float(fit.se2), method="REML",
                    converged=bool(fit.converged), flag=",".join(flags) or FLAG_OK,
                    se_method=se_method, loglik=float(fit.loglik))


def reml_h2(*, S: np.ndarray, UtX: np.ndarray, Uty: np.ndarray, phenotype: str = "") -> H2Result:
    """REML h2 with SE for one phenotype from rotated data.

    Args:
        S: eigenvalues of the similarity matrix over the N individuals, shape (N,).
        UtX: ``U' X``, covariates including the intercept, shape (N, P), full column rank.
        Uty: ``U' y``, shape (N,).
        phenotype: name carried into the result.
    Returns:
        ``H2Result`` (method ``REML``).
    """
    with threadpool_limits(limits=1):  # O(N D^2) work in small products: threads only cost
        fit = fit_null_model(S=S, UtX=UtX, Uty=Uty, reml=True, phenotype=phenotype)
        return h2_from_fit(fit, S=S, UtX=UtX, Uty=Uty)
