"""Variant quality control on dosage blocks (PLINK semantics), vectorised over variants.

Filters (a variant failing any is excluded from the test and from the default similarity):
- ``geno``: fraction of missing calls > threshold (PLINK ``--geno``).
- ``maf``: minor-allele frequency < threshold (PLINK ``--maf``), over non-missing calls.
- ``hwe``: Hardy-Weinberg exact test p < threshold (PLINK ``--hwe``; Wigginton, Cutler and
  Abecasis 2005), on hard calls (dosages rounded to 0/1/2).
- ``info``: imputation INFO < threshold (BGEN only).
- monomorphic: no variation among non-missing calls (always excluded: nothing to test).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln

__all__ = ["VariantQC", "variant_qc", "calls_qc", "hwe_exact_p", "QC_REASONS", "zero_filled"]

QC_REASONS = ("monomorphic", "geno", "maf", "hwe", "info")


@dataclass
class VariantQC:
    """QC statistics and decisions for a block of B variants.

    Attributes:
        effect_allele_frequency: shape (B,), mean dosage / 2 over non-missing calls.
        n_called: shape (B,), non-missing calls.
        missing_rate: shape (B,).
        hwe_p: shape (B,) or None when not requested.
        info: shape (B,) or None.
        fail: reason -> bool array (B,), a variant counted under its first failing reason.
        keep: bool array (B,).
    """

    effect_allele_frequency: np.ndarray
    n_called: np.ndarray
    missing_rate: np.ndarray
    hwe_p: np.ndarray | None
    info: np.ndarray | None
    fail: dict[str, np.ndarray]
    keep: np.ndarray

    def counts(self) -> dict[str, int]:
        """Variants removed per reason (first failing reason only)."""
        return {k: int(v.sum()) for k, v in self.fail.items()}


def hwe_exact_p(*, n_het: np.ndarray, n_hom1: np.ndarray, n_hom2: np.ndarray) -> np.ndarray:
    """Hardy-Weinberg exact test p-values (PLINK's, not mid-p), vectorised over variants.

    Args:
        n_het, n_hom1, n_hom2: genotype counts, int arrays of shape (B,).
    Returns:
        p-values, shape (B,); 1 where there are no genotypes.
    """
    n_het = np.asarray(n_het, dtype=np.int64)
    n1 = np.asarray(n_hom1, dtype=np.int64)
    n2 = np.asarray(n_hom2, dtype=np.int64)
    n = n_het + n1 + n2
    rare = np.minimum(2 * n1 + n_het, 2 * n2 + n_het)        # copies of the rarer allele
    out = np.ones(len(n))
    if len(n) == 0:
        return out
    hmax = int(rare.max(initial=0))
    h = np.arange(hmax + 1)[None, :]                           # candidate het counts
    valid = (h <= rare[:, None]) & ((rare[:, None] - h) % 2 == 0)
    hom_r = (rare[:, None] - h) // 2
    hom_c = n[:, None] - h - hom_r
    valid &= hom_c >= 0
    with np.errstate(invalid="ignore"):
        logp = (gammaln(n[:, None] + 1) - gammaln(hom_r + 1) - gammaln(np.maximum(h, 0) + 1)
                - gammaln(np.maximum(hom_c, 0) + 1) + h * np.log(2.0)
                + gammaln(rare[:, None] + 1) + gammaln(2 * n[:, None] - rare[:, None] + 1)
                - gammaln(2 * n[:, None] + 1))
    logp = np.where(valid, logp, -np.inf)
    obs = logp[np.arange(len(n)), np.minimum(n_het, hmax)]
    tol = 1e-7 * np.abs(obs)
    p = np.where(valid & (logp <= obs[:, None] + np.maximum(tol[:, None], 1e-12)),
                 np.exp(logp), 0.0).sum(axis=1)
    ok = n > 0
    out[ok] = np.minimum(p[ok], 1.0)
    return out


def variant_qc(*, dosages: np.ndarray, info: np.ndarray | None = None, maf: float | None = None,
               geno: float | None = None, hwe: float | None = None,
               min_info: float | None = None) -> VariantQC:
    """Compute QC statistics for a block and decide which variants to keep.

    Args:
        dosages: shape (N, B), NaN where missing.
        info: shape (B,) imputation INFO (BGEN), or None.
        maf, geno, hwe, min_info: thresholds; None disables a filter.
    """
    d = np.asarray(dosages)
    miss = np.isnan(d)
    n = d.shape[0]
    n_called = n - np.count_nonzero(miss, axis=0)
    missing_rate = 1.0 - n_called / max(n, 1)
    # the sums of np.nansum (missing calls as 0, the block's memory order) and the extremes
    # of the non-missing calls (fmin/fmax skip NaN), without nansum's and where's copies
    filled = zero_filled(d, miss)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n_called > 0, filled.sum(axis=0) / np.maximum(n_called, 1), np.nan)
        dmin = np.where(n_called > 0, np.fmin.reduce(d, axis=0), np.nan)
        dmax = np.where(n_called > 0, np.fmax.reduce(d, axis=0), np.nan)
    def hard_counts() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        hard = np.rint(np.where(miss, -1, d))
        return (hard == 0).sum(axis=0), (hard == 1).sum(axis=0), (hard == 2).sum(axis=0)

    return _decide(mean=mean, n_called=n_called, missing_rate=missing_rate,
                   polymorphic=dmax - dmin > 1e-6, hard_counts=hard_counts, info=info, maf=maf,
                   geno=geno, hwe=hwe, min_info=min_info)


def zero_filled(d: np.ndarray, miss: np.ndarray) -> np.ndarray:
    """``d`` with missing calls (``miss``) set to 0, in ``d``'s memory order (a copy only where
    a call is missing): the array ``np.nansum`` sums."""
    if not miss.any():
        return d
    out = d.copy(order="K")
    np.copyto(out, 0, where=miss)
    return out


def calls_qc(*, calls: np.ndarray, maf: float | None = None, geno: float | None = None,
             hwe: float | None = None) -> VariantQC:
    """``variant_qc`` of hard calls from genotype counts (the same decisions, several times
    faster: no floating-point copy of the block).

    Args:
        calls: int8, shape (N, B): effect-allele counts 0/1/2, negative where missing
            (bed-reader's int8 reading of a PLINK .bed).
    """
    g = np.asarray(calls)
    n = g.shape[0]
    n1 = np.count_nonzero(g == 1, axis=0)
    n2 = np.count_nonzero(g == 2, axis=0)
    n_miss = np.count_nonzero(g < 0, axis=0)
    n_called = n - n_miss
    n0 = n_called - n1 - n2
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n_called > 0, (n1 + 2.0 * n2) / np.maximum(n_called, 1), np.nan)
    return _decide(mean=mean, n_called=n_called, missing_rate=1.0 - n_called / max(n, 1),
                   polymorphic=((n0 > 0).astype(int) + (n1 > 0) + (n2 > 0)) >= 2,
                   hard_counts=lambda: (n0, n1, n2), info=None, maf=maf, geno=geno, hwe=hwe,
                   min_info=None)


def _decide(*, mean, n_called, missing_rate, polymorphic, hard_counts, info, maf, geno, hwe,
            min_info) -> VariantQC:
    af = mean / 2.0
    b = len(mean)
    fail = {k: np.zeros(b, dtype=bool) for k in QC_REASONS}
    taken = np.zeros(b, dtype=bool)

    def mark(reason: str, bad: np.ndarray) -> None:
        nonlocal taken
        bad = bad & ~taken
        fail[reason] |= bad
        taken = taken | bad

    mark("monomorphic", ~polymorphic)
    if geno is not None:
        mark("geno", missing_rate > geno + 1e-12)
    if maf is not None:
        mark("maf", np.minimum(af, 1.0 - af) < maf - 1e-12)
    hwe_p = None
    if hwe is not None:
        n0, n1, n2 = hard_counts()
        hwe_p = hwe_exact_p(n_het=n1, n_hom1=n0, n_hom2=n2)
        mark("hwe", hwe_p < hwe)
    if min_info is not None and info is not None:
        mark("info", np.asarray(info) < min_info)
    return VariantQC(effect_allele_frequency=af, n_called=n_called, missing_rate=missing_rate,
                     hwe_p=hwe_p, info=None if info is None else np.asarray(info), fail=fail,
                     keep=~taken)
