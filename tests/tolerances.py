"""Tolerances derived from what a test compares, never from what one machine printed.

Three sources, each independent of the CPU, the BLAS kernel and the number of threads:

- the digits a file was written with (``half_unit``);
- a solver's stopping rule (``fminbound_xtol`` for the REML optimisers);
- bounds on floating-point round-off that hold for every summation order: a sum of n terms
  computed in any order (any BLAS kernel, any blocking, any thread split) is within
  ``gamma(n) * sum |terms|`` of the exact sum (Higham, Accuracy and Stability of Numerical
  Algorithms, 2nd ed., 2002, section 3.1).

A maximiser of a function that is only known to within eps is only determined where the
function is within 2 eps of its maximum: ``|x - x*| <= sqrt(4 eps / |f''|)`` (Press et al.,
Numerical Recipes, 3rd ed., section 10.1). ``reml_h2_resolution`` applies this to the REML
fit of ``contig_gwas.gwas.nullmodel``.
"""

from __future__ import annotations

import math

import numpy as np

#: unit round-off of float64 and float32 (round to nearest)
U64 = 2.0 ** -53
U32 = 2.0 ** -24
#: ``contig_gwas.gwas.nullmodel.fit_null_model``: ``minimize_scalar(..., options={"xatol": 1e-7})``
NULLMODEL_XATOL = 1e-7


def gamma(n: int, u: float = U64) -> float:
    """Higham's gamma_n = n u / (1 - n u): relative bound for n roundings in sequence."""
    return n * u / (1.0 - n * u)


def half_unit(value, digits: int = 6):
    """Largest rounding error of ``value`` as written with ``digits`` significant digits
    (``%.{digits}g``): half a unit in its last digit (0 for 0). Computed from the value as read
    back, which is never smaller than that of the exact value."""
    v = np.abs(np.asarray(value, dtype=np.float64))
    e = np.floor(np.log10(np.where(v > 0, v, 1.0)))
    return np.where(v > 0, 0.5 * 10.0 ** (e - digits + 1), 0.0)


def fminbound_xtol(x: float, xatol: float = NULLMODEL_XATOL) -> float:
    """scipy's bounded Brent (``minimize_scalar(method="bounded")``) stops once the minimum is
    bracketed within ``2 tol1`` of x, ``tol1 = sqrt(eps) |x| + xatol / 3``."""
    return 2.0 * (math.sqrt(np.finfo(np.float64).eps) * abs(x) + xatol / 3.0)


def brent_xtol(x: float, tol: float = 1.48e-8) -> float:
    """scipy's unbounded Brent (``optimize.brent``, fastlmm's 1-D search) stops once the
    minimum is bracketed within ``2 tol1`` of x, ``tol1 = tol |x| + 1e-11``."""
    return 2.0 * (tol * abs(x) + 1e-11)


def reml_loglik_roundoff(*, S: np.ndarray, UtX: np.ndarray, Uty: np.ndarray,
                         delta: float, reml: bool = True) -> float:
    """Bound on the round-off in ``nullmodel``'s restricted log-likelihood at ``delta``, for any
    summation order.

    With ``w = 1 / (S + delta)``, ``A = X'WX``, ``b = A^-1 X'Wy`` and ``RSS = y'Wy - b'X'Wy``:
    every entry of ``w @ Q`` (``X'WX``, ``X'Wy``, ``y'Wy``) is a sum of N terms, so it is within
    ``g = gamma(N + D + 2)`` times the sum of the absolute terms (the Cholesky solve of the small
    D x D system adds gamma(D + 1), folded into g). To first order the RSS then moves by at
    most ``g sum_i w_i (|y_i| + |x_i|'|b|)^2`` (large when y has a mean far from 0: the
    cancellation in ``y'Wy - b'X'Wy``), log|X'WX| by ``g tr(A^-1 |X|'W|X|)``, and
    ``sum log(S + delta)`` by ``g sum |log(S + delta)| + 3 N u``. ``log|X'X|`` is one constant
    for all evaluations of a fit, so it does not move the maximiser and is left out.

    ML (``reml=False``) has N instead of N - D and no log|X'WX|.

    Args:
        S: eigenvalues of K, shape (N,); UtX: shape (N, D); Uty: shape (N,); delta: se2 / sg2.
    Returns:
        eps, an absolute bound on the error of the computed log-likelihood.
    """
    S = np.maximum(np.asarray(S, dtype=np.float64), 0.0)
    n, d = UtX.shape
    g = gamma(n + d + 2)
    w = 1.0 / (S + delta)
    A = UtX.T @ (w[:, None] * UtX)
    b = np.linalg.solve(A, UtX.T @ (w * Uty))
    rss = float(w @ Uty ** 2 - b @ (UtX.T @ (w * Uty)))
    absx = np.abs(UtX)
    e_rss = g * float(w @ (np.abs(Uty) + absx @ np.abs(b)) ** 2)
    e_logdet_xwx = g * float(np.trace(np.linalg.solve(A, absx.T @ (w[:, None] * absx))))
    logv = np.log(S + delta)
    e_logdet_v = g * float(np.abs(logv).sum()) + 3 * n * U64
    dof = n - d if reml else n
    if not reml:
        e_logdet_xwx = 0.0
    # the last few roundings of the sum of terms in the log-likelihood itself
    e_final = gamma(8) * (dof * abs(math.log(rss / dof)) + float(np.abs(logv).sum()) + dof * 3)
    return 0.5 * dof * e_rss / rss + 0.5 * e_logdet_xwx + 0.5 * e_logdet_v + e_final


def kinship_roundoff(dosages: np.ndarray) -> np.ndarray:
    """Elementwise bound on the round-off of ``gwas.kinship.standardised_kinship(dosages)``
    (any summation order), shape (N, N).

    Each variant is standardised, ``z = (x - mean) / sd`` with mean and sd sums of N terms:
    ``|dz| <= g ((|x| + |mean|) / sd + |z|)``, ``g = gamma(N + 8)``. ``K = Z Z' N / tr(Z Z')``:
    each product is a dot product of M terms (``gamma(M) |Z||Z|'``), the trace a sum of N M
    squares (``gamma(N M)`` relative; a sum in any order).

    Args:
        dosages: shape (N, M), NaN where missing (mean-imputed, monomorphic variants dropped).
    """
    x = np.asarray(dosages, dtype=np.float64)
    n = x.shape[0]
    miss = np.isnan(x)
    mean = np.nanmean(x, axis=0)
    sd = np.nanstd(x, axis=0)
    ok = sd > 0
    x, mean, sd, miss = x[:, ok], mean[ok], sd[ok], miss[:, ok]
    z = np.where(miss, 0.0, (x - mean) / sd)
    dz = np.where(miss, 0.0, gamma(n + 8) * ((np.abs(x) + np.abs(mean)) / sd + np.abs(z)))
    az = np.abs(z)
    trace = float((z * z).sum())
    scale = n / trace
    K = z @ z.T * scale
    return (gamma(x.shape[1]) * az @ az.T + dz @ az.T + az @ dz.T) * scale \
        + gamma(n * x.shape[1]) * np.abs(K)


def reml_h2_resolution(*, S: np.ndarray, UtX: np.ndarray, Uty: np.ndarray, h2: float) -> float:
    """How far from the exact REML maximiser ``nullmodel.fit_null_model`` may return h2.

    The computed log-likelihood is within eps of the exact one (``reml_loglik_roundoff``), so
    any log delta with ``l(x*) - l(x) <= 2 eps`` may be returned: ``|x - x*| <=
    sqrt(4 eps / |l''|)`` with the curvature ``l''`` in log delta at the optimum; Brent's
    bracket adds ``fminbound_xtol``. In h2 = 1 / (1 + delta): times ``h2 (1 - h2)``.
    An interior optimum is assumed (a boundary fit is exact to the bound).

    Args:
        S, UtX, Uty: the rotated data of the fit; h2: the fitted h2.
    """
    from contig_gwas.heritability.reml import profile_curvature_log_delta

    ld = math.log((1.0 - h2) / h2)
    eps = reml_loglik_roundoff(S=S, UtX=UtX, Uty=Uty, delta=math.exp(ld))
    curv = abs(profile_curvature_log_delta(ld, S=S, UtX=UtX, Uty=Uty))
    return h2 * (1.0 - h2) * (math.sqrt(4.0 * eps / curv) + fminbound_xtol(ld))


def forward_roundoff(module, u: float = U32) -> float:
    """First-order worst-case relative round-off of a float32 forward pass of ``module``.

    Each convolution or linear output is a dot product of K terms, within ``gamma(K)`` of the
    exact one relative to ``|W||x|``; errors made early pass on through later layers, so to
    first order the output is within ``gamma(sum K)`` relative to the scale of the activations
    (batch norm in eval mode and pooling are affine maps or sums of a few terms, covered by
    adding their sizes). Any order of summation (any kernel, any batch blocking) is covered.
    """
    import torch

    k = 0
    for m in module.modules():
        if isinstance(m, torch.nn.Conv2d):
            k += m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, torch.nn.Linear):
            k += m.in_features
        elif isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            k += 2
    return gamma(k, u)
