"""Multivariate omnibus association test across a group's K phenotypes (MOSTest).

Per variant, the z-scores of the K phenotypes (:func:`z_scores`: the normal quantile of each
test's p with the sign of beta, one effect allele) are whitened
by their correlation under the null, C, and summed: chi2 = z' C^-1 z, chi-square with K degrees
of freedom under the null (van der Meer et al., Nat Commun 11:3512, 2020). It pools effects
spread over several phenotypes where ContIG's min-P x K only sees the largest.

C is not the phenotypic correlation: embedding PCs are uncorrelated phenotypically, but z-scores
of phenotypes measured on the same individuals correlate through the sample overlap and the
covariates. It is estimated from the z-scores themselves (:func:`null_correlation`): almost all
variants are null, and each pair (k, l) uses the variants with both |z_k| and |z_l| below
``max_abs_z`` (in units of each phenotype's null SD, from its lambda GC), which leaves out the
associated ones. Truncation shrinks the correlation of what remains towards 0 (at ``max_abs_z``
= 2, a correlation of 0.5 reads as 0.42); the shrinkage is undone exactly for a bivariate
normal: the truncated correlation r(rho) is computed in closed form (inner integral) and by
Gauss-Legendre quadrature (outer), and inverted for rho. The remaining bias is that of the
associated variants with |z| below the threshold (small when they are few).

A near-singular C (eigenvalues below ``min_eigenvalue``, relative to the mean eigenvalue)
is inverted on its leading eigenvectors only: chi2 = sum_i (v_i' z)^2 / lambda_i over the r
kept, chi-square with r degrees of freedom (exact for the true C: the projections are
independent N(0, lambda_i)). Variants with a phenotype missing (NaN) are tested on the others
with the matching sub-matrix and fewer degrees of freedom.

Caveats. C is estimated from M variants in LD, so from far fewer independent ones; its error
(about 1 / sqrt(independent variants) per entry) raises the omnibus median a little: on 3,000
variants of the 400-individual test cohort (long LD blocks) lambda GC 1.10 against 1.01 with
unlinked variants (tests/test_omnibus.py). z is not rescaled by its null SD, so a polygenic
inflation c of the single-phenotype z carries into chi2 ~ c chi2_K, which the 1-df lambda GC
of the omnibus p-values magnifies (c = 1.25, K = 10: about 2.3); :func:`lambda_df` reads c.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import optimize, special

from .genomic_control import CHI2_MEDIAN
from .io.sumstats import COLUMNS, neg_log10_p_chi2, z_of_neg_log10_p

#: default truncation of :func:`null_correlation` (|z| in null-SD units)
MAX_ABS_Z = 2.0
#: default eigenvalue floor, relative to the mean eigenvalue (1 for a correlation matrix)
MIN_EIGENVALUE = 0.01
_RHO_MAX = 0.9999
_GL_X, _GL_W = np.polynomial.legendre.leggauss(96)


@dataclass
class OmnibusResult:
    """The omnibus test of M variants over K phenotypes.

    chi2, neg_log10_p: shape (M,), NaN where every phenotype is NaN; df: degrees of freedom of
    the complete variants (K, less the eigenvalues floored); df_variant: shape (M,), those of
    each variant (0 where none); correlation: (K, K), the null correlation used; scale: (K,),
    the null SD of each phenotype's z (sqrt of its lambda GC; 1 where C was given);
    eigenvalues: (K,) of ``correlation``, descending; n_null_variants: variants with every
    |z| / scale below the truncation (the null-like ones; M where C was given).
    """

    chi2: np.ndarray
    neg_log10_p: np.ndarray
    df: int
    df_variant: np.ndarray
    correlation: np.ndarray
    scale: np.ndarray
    eigenvalues: np.ndarray
    n_null_variants: int


def _truncated_moments(rho: float, a: float, b: float) -> float:
    """Correlation (uncentred) of (x, y) ~ N(0, [[1, rho], [rho, 1]]) truncated to |x| < a,
    |y| < b: the inner integral over y in closed form, the outer one over x by Gauss-Legendre."""
    x = a * _GL_X
    w = a * _GL_W * np.exp(-0.5 * x * x)
    mu, s = rho * x, np.sqrt(1.0 - rho * rho)
    lo, hi = (-b - mu) / s, (b - mu) / s
    p = special.ndtr(hi) - special.ndtr(lo)
    phi_lo, phi_hi = np.exp(-0.5 * lo * lo), np.exp(-0.5 * hi * hi)
    c = 1.0 / np.sqrt(2.0 * np.pi)
    ey = mu * p + s * c * (phi_lo - phi_hi)
    eyy = (mu * mu + s * s) * p + s * c * ((mu - b) * phi_lo - (mu + b) * phi_hi)
    mxx, mxy, myy = np.sum(w * x * x * p), np.sum(w * x * ey), np.sum(w * eyy)
    return float(mxy / np.sqrt(mxx * myy))


def truncated_correlation(rho: float, *, a: float, b: float) -> float:
    """The correlation a bivariate normal with correlation ``rho`` (unit variances) shows
    after truncation to |x| < a, |y| < b (moments about 0). Increasing in rho."""
    return _truncated_moments(float(np.clip(rho, -_RHO_MAX, _RHO_MAX)), a, b)


def _untruncate(r: float, *, a: float, b: float) -> float:
    """The rho whose truncated correlation is ``r`` (clipped to +-0.9999)."""
    if not np.isfinite(a) and not np.isfinite(b):
        return float(np.clip(r, -_RHO_MAX, _RHO_MAX))
    a, b = min(a, 40.0), min(b, 40.0)
    lo, hi = truncated_correlation(-_RHO_MAX, a=a, b=b), truncated_correlation(_RHO_MAX, a=a, b=b)
    if r <= lo:
        return -_RHO_MAX
    if r >= hi:
        return _RHO_MAX
    return float(optimize.brentq(lambda t: truncated_correlation(t, a=a, b=b) - r,
                                 -_RHO_MAX, _RHO_MAX, xtol=1e-10))


def null_scale(z: np.ndarray) -> np.ndarray:
    """Null SD of each column of z: sqrt(median z^2 / 0.45494) (sqrt of lambda GC), shape (K,)."""
    z = np.asarray(z, dtype=np.float64)
    with np.errstate(all="ignore"):
        med = np.nanmedian(z * z, axis=0)
    return np.sqrt(med / CHI2_MEDIAN)


def null_correlation(z: np.ndarray, *, max_abs_z: float = MAX_ABS_Z, standardize: bool = True,
                     correct: bool = True, min_variants: int = 100) -> np.ndarray:
    """Correlation of the K z-scores under the null, from the null-like variants.

    Args:
        z: shape (M, K), NaN allowed.
        max_abs_z: pair (k, l) uses the variants with |z_k| / s_k and |z_l| / s_l below it
            (``np.inf``: every variant); s = :func:`null_scale` when ``standardize``, else 1.
        correct: undo the shrinkage of the truncation (exact for a bivariate normal).
        min_variants: fewest variants a pair needs (ValueError below).
    Returns:
        C, shape (K, K), unit diagonal (not projected to the positive semi-definite cone:
        :func:`omnibus_test` floors its eigenvalues).
    """
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError("z must have shape (M, K)")
    k = z.shape[1]
    s = null_scale(z) if standardize else np.ones(k)
    if np.any(~np.isfinite(s) | (s <= 0)):
        raise ValueError("a phenotype has no finite z-scores")
    u = z / s
    keep = np.abs(u) < max_abs_z            # NaN compares False
    c = np.eye(k)
    for i in range(k):
        for j in range(i + 1, k):
            m = keep[:, i] & keep[:, j]
            n = int(m.sum())
            if n < min_variants:
                raise ValueError(f"only {n} null-like variants for phenotypes {i} and {j} "
                                 f"(|z| < {max_abs_z:g}); need {min_variants}")
            x, y = u[m, i], u[m, j]
            r = float(np.dot(x, y) / np.sqrt(np.dot(x, x) * np.dot(y, y)))
            if correct:
                r = _untruncate(r, a=max_abs_z, b=max_abs_z)
            c[i, j] = c[j, i] = r
    return c


def whitener(correlation: np.ndarray, *,
             min_eigenvalue: float = MIN_EIGENVALUE) -> tuple[np.ndarray, np.ndarray]:
    """W (r, K) with ||W z||^2 = z' C^+ z over the r eigenvalues of C at or above
    ``min_eigenvalue`` x their mean; also the eigenvalues (K,), descending."""
    c = np.asarray(correlation, dtype=np.float64)
    lam, v = np.linalg.eigh(0.5 * (c + c.T))
    lam, v = lam[::-1], v[:, ::-1]
    kept = lam >= min_eigenvalue * max(float(np.mean(lam)), np.finfo(float).tiny)
    return (v[:, kept] / np.sqrt(lam[kept])).T, lam


def omnibus_test(z: np.ndarray, *, correlation: np.ndarray | None = None,
                 max_abs_z: float = MAX_ABS_Z, min_eigenvalue: float = MIN_EIGENVALUE,
                 standardize: bool = True) -> OmnibusResult:
    """MOSTest: chi2 = z' C^-1 z per variant, chi-square with K degrees of freedom.

    Args:
        z: shape (M, K), z-scores (beta / SE, one effect allele across phenotypes), NaN allowed.
        correlation: C, shape (K, K); default :func:`null_correlation` of ``z`` (with
            ``max_abs_z``, ``standardize``).
        min_eigenvalue: eigenvalues of C below this x their mean are dropped (pseudo-inverse;
            one degree of freedom fewer each).
    Returns:
        :class:`OmnibusResult`. z is not rescaled by its null SD: a phenotype's inflation
        (lambda GC > 1) carries into the omnibus as into its own test.
    """
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError("z must have shape (M, K)")
    m, k = z.shape
    finite = np.isfinite(z)
    if correlation is None:
        c = null_correlation(z, max_abs_z=max_abs_z, standardize=standardize)
        scale = null_scale(z) if standardize else np.ones(k)
        n_null = int(np.sum(np.all(np.abs(z / scale) < max_abs_z, axis=1)))
    else:
        c = np.asarray(correlation, dtype=np.float64)
        if c.shape != (k, k):
            raise ValueError(f"correlation has shape {c.shape}, z has {k} columns")
        scale, n_null = np.ones(k), m
    chi2 = np.full(m, np.nan)
    df_var = np.zeros(m, dtype=np.int64)
    patterns, inverse = np.unique(finite, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    df_full = k
    for p_idx, pat in enumerate(patterns):
        if not pat.any():
            continue
        rows = np.flatnonzero(inverse == p_idx)
        w, _ = whitener(c[np.ix_(pat, pat)], min_eigenvalue=min_eigenvalue)
        y = z[np.ix_(rows, np.flatnonzero(pat))] @ w.T
        chi2[rows] = np.einsum("ij,ij->i", y, y)
        df_var[rows] = w.shape[0]
        if pat.all():
            df_full = w.shape[0]
    nlp = np.full(m, np.nan)
    for d in np.unique(df_var[df_var > 0]):
        sel = df_var == d
        nlp[sel] = neg_log10_p_chi2(chi2[sel], df=float(d))
    _, lam = whitener(c, min_eigenvalue=min_eigenvalue)
    return OmnibusResult(chi2=chi2, neg_log10_p=nlp, df=int(df_full), df_variant=df_var,
                         correlation=c, scale=scale, eigenvalues=lam, n_null_variants=n_null)


def z_scores(*, beta: np.ndarray, standard_error: np.ndarray,
             neg_log10_p: np.ndarray | None = None) -> np.ndarray:
    """Signed z-scores of a scan, shape (M,): with ``neg_log10_p``, the normal quantile of its
    two-sided p (z = -sign(beta) Phi^-1(p / 2), on the log scale, so a t test on few
    individuals maps to a z with the same p and p below 1e-308 stays finite); else (or where
    it is NaN) beta / SE. NaN where neither is finite."""
    beta = np.asarray(beta, dtype=np.float64)
    with np.errstate(all="ignore"):
        z = beta / np.asarray(standard_error, dtype=np.float64)
        if neg_log10_p is not None:
            nlp = np.asarray(neg_log10_p, dtype=np.float64)
            zp = z_of_neg_log10_p(nlp) * np.sign(beta)
            z = np.where(np.isfinite(zp) & np.isfinite(beta), zp, z)
    return np.where(np.isfinite(z), z, np.nan)


def lambda_df(*, chi2: np.ndarray, df: np.ndarray | int) -> float:
    """Genomic inflation of the omnibus on its own scale: median chi2 / median chi2_df over the
    variants with ``df`` degrees of freedom (the commonest where they differ).

    lambda GC of the omnibus p-values (1-df scale, ``genomic_control.lambda_gc``) magnifies a
    polygenic inflation: z-scores each inflated by c give chi2 ~ c chi2_K, whose median p maps
    to a 1-df lambda far above c (c = 1.25, K = 10: 2.3). This one reads c.
    """
    chi2 = np.asarray(chi2, dtype=np.float64)
    d = np.broadcast_to(np.asarray(df), chi2.shape)
    ok = np.isfinite(chi2) & (d > 0)
    if not ok.any():
        return float("nan")
    vals, counts = np.unique(d[ok], return_counts=True)
    k = vals[np.argmax(counts)]
    return float(np.median(chi2[ok & (d == k)]) / special.chdtri(float(k), 0.5))


@dataclass
class OmnibusCombiner:
    """Streams a group's K summary-statistics tables into the omnibus test, one at a time
    (as ``report.stats.GroupCombiner`` does for min-P x K): memory is the first table's
    variant columns plus z, shape (M, K).

    Tables are aligned on the first one's variants by ``variant_id``; a variant whose alleles
    are the first table's swapped has its z negated; other allele mismatches and variants a
    table lacks are NaN (counted in ``n_dropped`` when a table has variants the first lacks).
    """

    name: str = ""
    base: pd.DataFrame | None = None
    columns: list[np.ndarray] = field(default_factory=list)
    n: np.ndarray | None = None
    phenotypes: list[str] = field(default_factory=list)
    n_dropped: int = 0

    def add(self, phenotype: str, table: pd.DataFrame) -> None:
        zk = z_scores(beta=table["beta"].to_numpy(dtype=np.float64),
                      standard_error=table["standard_error"].to_numpy(dtype=np.float64),
                      neg_log10_p=table["neg_log10_p_value"].to_numpy(dtype=np.float64)
                      if "neg_log10_p_value" in table.columns else None)
        nk = table["n"].to_numpy(dtype=np.float64)
        if self.base is None:
            self.base = table[[c for c in COLUMNS if c in table.columns]].reset_index(
                drop=True).copy()
        else:
            vid = pd.Index(self.base["variant_id"].astype(str))
            tvid = pd.Index(table["variant_id"].astype(str))
            idx = tvid.get_indexer(vid)
            self.n_dropped += int(np.sum(~tvid.isin(vid)))
            take = np.maximum(idx, 0)
            tea = table["effect_allele"].astype(str).to_numpy()[take]
            toa = table["other_allele"].astype(str).to_numpy()[take]
            ea = self.base["effect_allele"].astype(str).to_numpy()
            oa = self.base["other_allele"].astype(str).to_numpy()
            sign = np.where((tea == ea) & (toa == oa), 1.0,
                            np.where((tea == oa) & (toa == ea), -1.0, np.nan))
            zk = np.where(idx >= 0, zk[take] * sign, np.nan)
            nk = np.where(idx >= 0, nk[take], np.nan)
        self.columns.append(zk)
        self.n = nk if self.n is None else np.fmin(self.n, nk)
        self.phenotypes.append(phenotype)

    def z(self) -> np.ndarray:
        """The aligned z-scores, shape (M, K)."""
        return np.column_stack(self.columns)

    def result(self, *, correlation: np.ndarray | None = None, max_abs_z: float = MAX_ABS_Z,
               min_eigenvalue: float = MIN_EIGENVALUE) -> tuple[pd.DataFrame, OmnibusResult]:
        """The omnibus scan in the summary-statistics schema (see :func:`omnibus_sumstats`)
        and the :class:`OmnibusResult` behind it."""
        if self.base is None:
            raise ValueError(f"group {self.name}: no summary statistics")
        res = omnibus_test(self.z(), correlation=correlation, max_abs_z=max_abs_z,
                           min_eigenvalue=min_eigenvalue)
        out = self.base.copy()
        out["n"] = self.n
        out["beta"] = np.nan
        out["standard_error"] = np.nan
        out["neg_log10_p_value"] = res.neg_log10_p
        out["p_value"] = np.power(10.0, -res.neg_log10_p)
        out["df"] = res.df_variant
        out["chi2"] = res.chi2
        return out, res


def aligned_z(frames: Sequence[pd.DataFrame]) -> tuple[pd.DataFrame, np.ndarray]:
    """The z-scores (:func:`z_scores`) of K summary-statistics tables on the variants of the
    first, aligned as :class:`OmnibusCombiner` does. Returns the first table's schema columns
    and z, shape (M, K)."""
    comb = _combine(frames)
    assert comb.base is not None  # _combine raised otherwise
    return comb.base, comb.z()


def _combine(frames: Sequence[pd.DataFrame]) -> OmnibusCombiner:
    if not frames:
        raise ValueError("no summary statistics")
    comb = OmnibusCombiner()
    for k, t in enumerate(frames):
        comb.add(str(k), t)
    return comb


def omnibus_table(frames: Sequence[pd.DataFrame], *, correlation: np.ndarray | None = None,
                  max_abs_z: float = MAX_ABS_Z, min_eigenvalue: float = MIN_EIGENVALUE
                  ) -> tuple[pd.DataFrame, OmnibusResult]:
    """:func:`omnibus_sumstats` and the :class:`OmnibusResult` behind it."""
    return _combine(frames).result(correlation=correlation, max_abs_z=max_abs_z,
                                   min_eigenvalue=min_eigenvalue)


def omnibus_sumstats(frames: Sequence[pd.DataFrame], *, correlation: np.ndarray | None = None,
                     max_abs_z: float = MAX_ABS_Z,
                     min_eigenvalue: float = MIN_EIGENVALUE) -> pd.DataFrame:
    """The omnibus test of K summary-statistics tables (schema of ``contig_gwas.io.sumstats``)
    as one table of that schema: the first table's variants and alleles, beta and SE NaN, n
    the smallest n, p_value / neg_log10_p_value of the omnibus, plus ``df`` (its degrees of
    freedom per variant) and ``chi2`` (the statistic, for :func:`lambda_df`). Variants are
    aligned as :class:`OmnibusCombiner` does."""
    return omnibus_table(frames, correlation=correlation, max_abs_z=max_abs_z,
                         min_eigenvalue=min_eigenvalue)[0]
