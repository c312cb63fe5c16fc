"""Genomic control: the inflation factor lambda GC, defined once for the log, the summary and
the report (so the three cannot disagree)."""

from __future__ import annotations

import numpy as np
from scipy import special

#: median of the chi-square distribution with one degree of freedom (0.45493642311957...)
CHI2_MEDIAN = float(special.chdtri(1, 0.5))


def lambda_gc(neg_log10_p: np.ndarray) -> float:
    """Genomic inflation factor: the median 1-df chi-square statistic over its null median.

    chi2 = ISF_chi2(1)(p) with p = 10^-neg_log10_p (NaN ignored); lambda = median chi2 /
    0.45494. The median of chi2 is the chi2 of the median p (chi2 is monotone in p): only the
    two middle values are converted, which is exact for even counts too (the mean of the two
    middle chi2 values) and fast for millions of variants.

    Args:
        neg_log10_p: shape (M,).
    """
    nlp = np.asarray(neg_log10_p, dtype=np.float64)
    nlp = nlp[~np.isnan(nlp)]
    if not len(nlp):
        return float("nan")
    n = len(nlp)
    mid = np.partition(nlp, [(n - 1) // 2, n // 2])[[(n - 1) // 2, n // 2]]
    chi2 = special.chdtri(1, np.power(10.0, -mid))
    return float(np.mean(chi2) / CHI2_MEDIAN)
