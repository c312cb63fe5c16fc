"""LD-score regression of a summary-statistics table (the project's schema) on LD scores.

chi2 per variant: ``(beta / standard_error)^2`` where both are given, else from
``neg_log10_p_value`` as the chi-square(1) quantile of p, computed on the log scale so that
p-values that underflow keep their chi2 (``z = -ndtri(exp(log p - log 2))``). Variants are
matched on ``variant_id`` (IDs occurring more than once in either table are left out) and
regressed in the LD scores' (genome) order, so the jackknife blocks are runs of neighbouring
variants.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io.sumstats import z_of_neg_log10_p
from .regression import LdscResult, ldsc_regression
from .scores import LdScores

__all__ = ["ldsc_for_sumstats", "sumstats_chi2"]

def sumstats_chi2(sumstats: pd.DataFrame) -> np.ndarray:
    """1-df chi2 of each row, shape (J,): (beta / se)^2, or from neg_log10_p_value where beta
    or se is missing (NaN where both are)."""
    beta = pd.to_numeric(sumstats["beta"], errors="coerce").to_numpy(dtype=np.float64)
    se = pd.to_numeric(sumstats["standard_error"], errors="coerce").to_numpy(dtype=np.float64)
    nlp = pd.to_numeric(sumstats["neg_log10_p_value"],
                        errors="coerce").to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        wald = np.square(beta / se)
        from_p = np.square(z_of_neg_log10_p(nlp))
    use_wald = np.isfinite(wald) & (se > 0)
    return np.where(use_wald, wald, from_p)


def ldsc_for_sumstats(sumstats: pd.DataFrame, scores: LdScores, **kw) -> LdscResult:
    """LD-score regression of one phenotype's summary statistics.

    Args:
        sumstats: the schema's columns (``variant_id``, ``beta``, ``standard_error``,
            ``neg_log10_p_value``, ``n``), as ``io.sumstats.read_sumstats`` returns them.
        scores: ``ld_scores`` of the same (or a reference) cohort; M = ``scores.m``.
        **kw: passed to ``ldsc_regression`` (``n_blocks``, ``two_step``, ``chi2_max``).
    Returns:
        ``LdscResult`` over the variants in both.
    Raises:
        InputError: a column is missing or no variant is shared.
    """
    need = ["variant_id", "beta", "standard_error", "neg_log10_p_value", "n"]
    missing = [c for c in need if c not in sumstats.columns]
    if missing:
        raise InputError(f"summary statistics lack columns {missing} for LD-score regression")
    ids = sumstats["variant_id"].astype(str)
    ss = sumstats.loc[~ids.duplicated(keep=False).to_numpy()]
    chi2 = sumstats_chi2(ss)
    n = pd.to_numeric(ss["n"], errors="coerce").to_numpy(dtype=np.float64)
    sid = pd.Index(scores.variant_id.astype(str))
    pos = pd.Index(ss["variant_id"].astype(str)).get_indexer(sid)    # -1 where absent
    order = np.flatnonzero(~sid.duplicated(keep=False) & (pos >= 0))
    if len(order) == 0:
        raise InputError("no variant of the summary statistics has an LD score (matched on "
                         "variant_id)")
    return ldsc_regression(chi2=chi2[pos[order]], l2=scores.l2[order], n=n[pos[order]],
                           m=scores.m, **kw)
