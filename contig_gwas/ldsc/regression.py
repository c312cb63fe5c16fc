"""LD-score regression of chi-square statistics on LD scores (ldsc's ``Hsq`` estimator).

Model (Bulik-Sullivan et al. 2015, eq. 1): ``E[chi2_j] = N h2 l_j / M + N a + 1``, with
``l_j`` the LD score, M the variants the scores sum over and ``N a + 1`` the intercept
(confounding: stratification, cryptic relatedness). Estimated as ldsc
``ldscore/regressions.py`` (``LD_Score_Regression.__init__``, ``Hsq``) does:

1. weights ``w_j = 1 / (2 (a0 + h2 N_j l_j / M)^2) x 1 / w_l_j`` (``Hsq.weights``: the
   heteroskedasticity of chi2 under the model times the over-counting of variants in LD), with
   h2 clipped to [0, 1] and ``l, w_l`` floored at 1; first with ``a0 = 1`` and the aggregate
   estimate ``h2 = M (mean chi2 - 1) / mean(N l)``;
2. regressors ``N_j l_j / Nbar`` and 1 (``Nbar`` the mean N); IRWLS with two weight updates
   and a 200-block jackknife (``jackknife.irwls``);
3. two-step (ldsc's default, ``--two-step 30``): the intercept from the variants with
   chi2 < 30 only; then the slope with the intercept fixed, over all variants, with the
   step-1 blocks mapped onto all rows; the jackknife delete values of the slope corrected
   for the intercept's, ``d_slope - c (d_int - int)``, ``c = sum(w x) / sum(w x^2)``
   (``_combine_twostep_jknives``);
4. ``h2 = M slope / Nbar``; ``ratio = (intercept - 1) / (mean chi2 - 1)`` with SE
   ``intercept_se / (mean chi2 - 1)`` (``Hsq._ratio``; not defined when mean chi2 <= 1).

Variants with chi2 at or above ``max(0.001 max N, 80)`` are left out first (ldsc's default
``--chisq-max``), as are those with a missing chi2, LD score or N. ``lambda_gc`` is the median
chi2 over the chi-square(1) median (``genomic_control.CHI2_MEDIAN``; ldsc divides by 0.4549).

Reference: Bulik-Sullivan et al. (2015) Nat Genet 47:291; github.com/bulik/ldsc.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..genomic_control import CHI2_MEDIAN
from .jackknife import Jackknife, get_separators, irwls, pseudovalue_cov

__all__ = ["LdscResult", "ldsc_regression", "ldsc_weights"]


@dataclass
class LdscResult:
    """One LD-score regression.

    Attributes:
        intercept, intercept_se: the intercept and its block-jackknife SE.
        h2, h2_se: observed-scale SNP heritability from the slope, and its SE.
        mean_chi2: mean chi2 over the regression variants.
        lambda_gc: median chi2 / 0.45494 over them.
        ratio, ratio_se: ``(intercept - 1) / (mean_chi2 - 1)`` and its SE (NaN when mean chi2
            <= 1).
        n_variants: variants in the regression.
        m: variants the LD scores sum over (M).
        n_mean: mean sample size (Nbar).
        n_blocks: jackknife blocks.
        two_step: the chi2 cutoff of the intercept step (None: one step).
        n_chi2_max_removed: variants left out for chi2 at or above ``chi2_max``.
    """

    intercept: float
    intercept_se: float
    h2: float
    h2_se: float
    mean_chi2: float
    lambda_gc: float
    ratio: float
    ratio_se: float
    n_variants: int
    m: int
    n_mean: float
    n_blocks: int
    two_step: float | None
    n_chi2_max_removed: int = 0

    def as_dict(self) -> dict:
        return asdict(self)

    def columns(self, prefix: str = "ldsc_") -> dict[str, float]:
        """The numbers a per-phenotype table shows, under ``prefix``: intercept, intercept_se,
        h2, h2_se, ratio, ratio_se, mean_chi2 (NaN where not defined)."""
        keys = ["intercept", "intercept_se", "h2", "h2_se", "ratio", "ratio_se", "mean_chi2"]
        return {prefix + k: float(getattr(self, k)) for k in keys}

    def summary(self) -> str:
        """ldsc's ``Hsq.summary`` lines."""
        out = [f"Total Observed scale h2: {self.h2:.4g} ({self.h2_se:.4g})",
               f"Lambda GC: {self.lambda_gc:.4g}",
               f"Mean Chi^2: {self.mean_chi2:.4g}",
               f"Intercept: {self.intercept:.4g} ({self.intercept_se:.4g})"]
        if self.mean_chi2 > 1:
            if self.ratio < 0:
                out.append("Ratio < 0 (usually indicates GC correction).")
            else:
                out.append(f"Ratio: {self.ratio:.4g} ({self.ratio_se:.4g})")
        else:
            out.append("Ratio: NA (mean chi^2 < 1)")
        out.append(f"({self.n_variants} variants, M = {self.m}, mean N = {self.n_mean:.1f}, "
                   f"{self.n_blocks} jackknife blocks"
                   + (f", two-step cutoff {self.two_step:g})" if self.two_step else ")"))
        return "\n".join(out)


def ldsc_weights(*, l2: np.ndarray, w_l2: np.ndarray, n: np.ndarray, m: float, h2: float,
                 intercept: float) -> np.ndarray:
    """ldsc ``Hsq.weights``: ``1 / (2 (intercept + h2 n l2 / m)^2) / w_l2``, h2 clipped to
    [0, 1], l2 and w_l2 floored at 1. All arrays shape (J,)."""
    h2 = min(max(float(h2), 0.0), 1.0)
    ld = np.fmax(l2, 1.0)
    het = 1.0 / (2.0 * np.square(intercept + h2 * n / m * ld))
    return het / np.fmax(w_l2, 1.0)


def ldsc_regression(*, chi2: np.ndarray, l2: np.ndarray, n: np.ndarray | float, m: int,
                    n_blocks: int = 200, w_l2: np.ndarray | None = None,
                    two_step: float | None = 30.0, chi2_max: float | None = None) -> LdscResult:
    """LD-score regression with a free intercept (ldsc ``--h2`` defaults).

    Args:
        chi2: shape (J,), in genome order (the jackknife blocks are contiguous runs of rows).
        l2: LD scores, shape (J,).
        n: sample size per variant, shape (J,), or one number.
        m: variants the LD scores sum over.
        n_blocks: jackknife blocks (at most the number of variants in each step).
        w_l2: LD scores over the regression variants only (the over-counting weights); default
            ``l2``.
        two_step: chi2 cutoff for the intercept step (None: one IRWLS fit of both).
        chi2_max: variants at or above are left out; default ``max(0.001 max N, 80)``.
    Returns:
        ``LdscResult``.
    Raises:
        ValueError: shapes differ, or too few variants for the jackknife.
    """
    chi2 = np.asarray(chi2, dtype=np.float64)
    l2 = np.asarray(l2, dtype=np.float64)
    nn = np.broadcast_to(np.asarray(n, dtype=np.float64), chi2.shape).copy()
    wl = l2 if w_l2 is None else np.asarray(w_l2, dtype=np.float64)
    if not (l2.shape == chi2.shape == wl.shape) or chi2.ndim != 1:
        raise ValueError(f"chi2 {chi2.shape}, l2 {l2.shape} and w_l2 {wl.shape} must be one "
                         f"shape (J,)")
    ok = np.isfinite(chi2) & np.isfinite(l2) & np.isfinite(wl) & np.isfinite(nn) & (nn > 0)
    cap = max(0.001 * float(np.max(nn[ok], initial=0.0)), 80.0) if chi2_max is None else chi2_max
    removed = int(np.sum(ok & (chi2 >= cap)))
    ok &= chi2 < cap  # ldsc keeps chisq < chisq_max
    y, ld, wl, nn = chi2[ok], l2[ok], wl[ok], nn[ok]
    j = len(y)
    if j < 3:
        raise ValueError(f"LD-score regression needs at least 3 variants, got {j}")
    mf = float(m)
    nbar = float(np.mean(nn))
    agg = mf * (np.mean(y) - 1.0) / np.mean(ld * nn)                 # aggregate h2 estimate
    w0 = ldsc_weights(l2=ld, w_l2=wl, n=nn, m=mf, h2=agg, intercept=1.0)
    x = np.column_stack([nn * ld / nbar, np.ones(j)])

    if two_step is not None:
        jk, nb = _two_step(y=y, x=x, ld=ld, wl=wl, nn=nn, m=mf, nbar=nbar, w0=w0,
                           n_blocks=n_blocks, cutoff=float(two_step))
    else:
        nb = min(n_blocks, j)

        def update(coef: np.ndarray) -> np.ndarray:
            return ldsc_weights(l2=ld, w_l2=wl, n=nn, m=mf, h2=mf * coef[0] / nbar,
                                intercept=coef[1])

        jk = irwls(x, y, update=update, w=w0, separators=get_separators(j, nb))
    se = jk.se
    h2, h2_se = mf * jk.est[0] / nbar, mf * se[0] / nbar
    intercept, intercept_se = float(jk.est[1]), float(se[1])
    mean_chi2 = float(np.mean(y))
    if mean_chi2 > 1:
        ratio, ratio_se = (intercept - 1.0) / (mean_chi2 - 1.0), intercept_se / (mean_chi2 - 1.0)
    else:
        ratio = ratio_se = math.nan
    return LdscResult(intercept=intercept, intercept_se=intercept_se, h2=float(h2),
                      h2_se=float(h2_se), mean_chi2=mean_chi2,
                      lambda_gc=float(np.median(y) / CHI2_MEDIAN), ratio=float(ratio),
                      ratio_se=float(ratio_se), n_variants=j, m=int(m), n_mean=nbar,
                      n_blocks=nb, two_step=None if two_step is None else float(two_step),
                      n_chi2_max_removed=removed)


def _two_step(*, y, x, ld, wl, nn, m, nbar, w0, n_blocks, cutoff) -> tuple[Jackknife, int]:
    """ldsc's two-step estimator: returns the combined jackknife of (slope, intercept)."""
    ii = y < cutoff
    j1 = int(ii.sum())
    if j1 < 3:
        raise ValueError(f"only {j1} variants have chi2 < {cutoff:g} for the intercept step")
    nb = min(n_blocks, j1)
    x1, y1, wl1, n1 = x[ii], y[ii], wl[ii], nn[ii]

    def update1(coef: np.ndarray) -> np.ndarray:
        # ldsc passes the N-scaled regressor x1 as the LD score here (equal when N is constant)
        return ldsc_weights(l2=x1[:, 0], w_l2=wl1, n=n1, m=m, h2=m * coef[0] / nbar,
                            intercept=coef[1])

    step1 = irwls(x1, y1, update=update1, w=w0[ii], separators=get_separators(j1, nb))
    int1 = float(step1.est[1])

    def update2(coef: np.ndarray) -> np.ndarray:
        return ldsc_weights(l2=ld, w_l2=wl, n=nn, m=m, h2=m * coef[0] / nbar, intercept=int1)

    # step-1 block boundaries (rows of the chi2 < cutoff subset) mapped onto all rows
    kept = np.flatnonzero(ii)
    sep = np.concatenate([[0], kept[step1.separators[1:-1]], [len(y)]])
    xs = x[:, :1]
    step2 = irwls(xs, y - int1, update=update2, w=w0, separators=sep)
    c = float(np.sum(w0 * xs[:, 0]) / np.sum(w0 * xs[:, 0] ** 2))
    est = np.array([step2.est[0], int1])
    delete = np.column_stack([step2.delete_values[:, 0]
                              - c * (step1.delete_values[:, 1] - int1),
                              step1.delete_values[:, 1]])
    return Jackknife(est=est, delete_values=delete, separators=sep,
                     cov=pseudovalue_cov(delete, est)), nb
