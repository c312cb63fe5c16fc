"""Genomic inflation and the ContIG combination of several phenotypes into one scan."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import InputError
from ..genomic_control import CHI2_MEDIAN, lambda_gc  # noqa: F401 - the one definition


def combine_min_p(*, neg_log10_p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Combine K phenotypes per variant as ContIG does: p = min(1, K * min_k p_k).

    Args:
        neg_log10_p: float, shape (M, K); NaN where a phenotype has no test.
    Returns:
        (neg_log10 of the combined p, shape (M,); column of the minimum, shape (M,), -1 where
        every phenotype is NaN). K is the number of columns (Bonferroni over the group).
    """
    x = np.asarray(neg_log10_p, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError("neg_log10_p must have shape (M, K)")
    k = x.shape[1]
    allnan = np.all(np.isnan(x), axis=1)
    filled = np.where(np.isnan(x), -np.inf, x)
    arg = np.argmax(filled, axis=1)
    best = filled[np.arange(len(x)), arg]
    combined = np.maximum(best - np.log10(k), 0.0)
    combined[allnan] = np.nan
    arg[allnan] = -1
    return combined, arg


SUMSTATS_KEEP = ["chromosome", "base_pair_location", "variant_id", "effect_allele",
                 "other_allele", "effect_allele_frequency", "n", "beta", "standard_error"]


@dataclass
class GroupCombiner:
    """Streams the phenotypes of a group into the min-p x K scan, one table at a time.

    Memory is one set of variant columns plus a few arrays of length M. Variants are those of
    the first table; tables in another order are aligned by ``variant_id`` (variants absent
    from the first table are counted in ``n_dropped``).
    The omnibus test streams the same tables through ``contig_gwas.omnibus.OmnibusCombiner``.
    """

    name: str
    n_phenotypes: int
    base: pd.DataFrame | None = None
    best: np.ndarray | None = None
    which: np.ndarray | None = None
    phenotypes: list[str] = field(default_factory=list)
    n_dropped: int = 0

    def add(self, phenotype: str, table: pd.DataFrame) -> None:
        nlp = table["neg_log10_p_value"].to_numpy(dtype=np.float64)
        k = len(self.phenotypes)
        if self.base is None:
            self.base = table[SUMSTATS_KEEP].reset_index(drop=True).copy()
            self.best = np.where(np.isnan(nlp), -np.inf, nlp)
            self.which = np.where(np.isnan(nlp), -1, 0)
            self.phenotypes.append(phenotype)
            return
        assert self.best is not None and self.which is not None  # set with base
        vid = table["variant_id"].to_numpy()
        base_vid = self.base["variant_id"].to_numpy()
        cols = ["beta", "standard_error", "effect_allele_frequency", "n"]
        if len(vid) == len(base_vid) and np.array_equal(vid, base_vid):
            vals = {c: table[c].to_numpy() for c in cols}
        else:  # align on variant_id; variants this table lacks get NaN
            idx = pd.Index(vid).get_indexer(pd.Index(base_vid))
            self.n_dropped += int(np.sum(~pd.Index(vid).isin(pd.Index(base_vid))))
            take = np.maximum(idx, 0)
            nlp = np.where(idx >= 0, nlp[take], np.nan)
            vals = {c: np.where(idx >= 0, table[c].to_numpy()[take], np.nan) for c in cols}
        better = ~np.isnan(nlp) & (nlp > self.best)
        self.best = np.where(better, nlp, self.best)
        self.which = np.where(better, k, self.which)
        for c in cols:
            self.base.loc[better, c] = vals[c][better]
        self.phenotypes.append(phenotype)

    def result(self) -> pd.DataFrame:
        """The combined scan in the summary-statistics schema plus a ``phenotype`` column
        naming the phenotype with the minimum p; beta and SE are that phenotype's."""
        if self.base is None:
            raise InputError(f"group {self.name}: no summary statistics")
        assert self.best is not None  # set with base
        out = self.base.copy()
        k = max(self.n_phenotypes, len(self.phenotypes))
        best = np.where(np.isinf(self.best), np.nan, self.best)
        comb = np.maximum(best - np.log10(k), 0.0)
        out["neg_log10_p_value"] = comb
        out["p_value"] = np.power(10.0, -comb)
        names = np.asarray(self.phenotypes + [""], dtype=object)
        out["phenotype"] = names[self.which]
        return out
