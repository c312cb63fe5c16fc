"""The truth-recovery table with the omnibus test beside min-P x K (report/truth.py).

Reference: loci placed by hand at known distances from the planted variants (counts follow
from the window), and a group of simulated summary statistics whose planted effects are
shared across phenotypes (the omnibus finds them, min-P x K does not at the same threshold).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from contig_gwas.omnibus import omnibus_sumstats
from contig_gwas.report.loci import ClumpParams, clump_table
from contig_gwas.report.stats import GroupCombiner
from contig_gwas.report.truth import truth_recovery

TRUTH = pd.DataFrame({"trait": ["t1", "t1", "t2"], "variant_id": ["c1", "c2", "c3"],
                      "chromosome": [1, 2, 3], "position": [1_000_000, 2_000_000, 500_000]})


def _loci(rows):
    return pd.DataFrame(rows, columns=["chromosome", "base_pair_location", "variant_id",
                                       "neg_log10_p_value"])


def test_omnibus_columns_beside_min_p():
    minp = {"g": _loci([(1, 1_100_000, "x", 10), (5, 1, "y", 9)]), "h": _loci([])}
    omni = {"g": _loci([(1, 1_050_000, "x", 12), (2, 2_200_000, "z", 9), (3, 400_000, "w", 8),
                        (4, 1, "v", 8)])}
    rec = truth_recovery(loci=minp, truth=TRUTH, kb=250, omnibus_loci=omni)
    g = rec[(rec["group"] == "g") & (rec["trait"] == "all traits")].iloc[0]
    assert (g["loci"], g["true_positive_loci"], g["false_positive_loci"], g["recovered"]) == (
        2, 1, 1, 1)
    assert (g["omnibus_loci"], g["omnibus_true_positive_loci"],
            g["omnibus_false_positive_loci"], g["omnibus_recovered"]) == (4, 3, 1, 3)
    assert g["omnibus_power"] == 1.0
    t1 = rec[(rec["group"] == "g") & (rec["trait"] == "t1")].iloc[0]
    assert t1["omnibus_recovered"] == 2 and t1["recovered"] == 1
    h = rec[(rec["group"] == "h") & (rec["trait"] == "all traits")].iloc[0]
    assert np.isnan(h["omnibus_loci"])               # no omnibus scan for this group
    # one row per (group, trait), as before
    assert len(rec) == len(truth_recovery(loci=minp, truth=TRUTH, kb=250))


def test_without_omnibus_the_table_is_unchanged():
    minp = {"g": _loci([(1, 1_100_000, "x", 10)])}
    rec = truth_recovery(loci=minp, truth=TRUTH, kb=250)
    assert list(rec.columns) == ["group", "trait", "loci", "true_positive_loci",
                                 "false_positive_loci", "causal", "recovered", "power"]


def test_null_truth_every_omnibus_locus_is_false():
    empty = TRUTH.iloc[:0]
    rec = truth_recovery(loci={"g": _loci([(1, 5, "x", 9)])}, truth=empty, kb=250,
                         omnibus_loci={"g": _loci([(1, 5, "x", 9), (2, 5, "y", 9)])})
    row = rec.iloc[0]
    assert row["false_positive_loci"] == 1 and row["omnibus_false_positive_loci"] == 2
    assert row["causal"] == 0 and row["omnibus_recovered"] == 0


def _group_sumstats(rng, *, k: int, m: int, planted: np.ndarray, shift: float):
    """K scans of M variants (one every 10 kb on chromosome 1..3); the planted ones carry a
    z-shift of ``shift`` on every phenotype; null z independent."""
    z = rng.normal(size=(m, k))
    z[planted] += shift
    chrom = np.repeat([1, 2, 3], m // 3 + 1)[:m]
    pos = (np.arange(m) % (m // 3 + 1)) * 10_000 + 1
    frames = []
    for j in range(k):
        nlp = -np.log10(2 * special.ndtr(-np.abs(z[:, j])))
        frames.append(pd.DataFrame({
            "chromosome": chrom, "base_pair_location": pos,
            "variant_id": [f"rs{i}" for i in range(m)], "effect_allele": "A",
            "other_allele": "G", "effect_allele_frequency": 0.3, "n": 1000,
            "beta": z[:, j] * 0.05, "standard_error": 0.05, "p_value": 10 ** -nlp,
            "neg_log10_p_value": nlp}))
    return frames, chrom, pos


def test_omnibus_recovers_shared_planted_loci_min_p_misses():
    rng = np.random.default_rng(2)
    k, m = 10, 6000
    planted = np.array([100, 2500, 4200])
    frames, chrom, pos = _group_sumstats(rng, k=k, m=m, planted=planted, shift=3.0)
    truth = pd.DataFrame({"trait": "t", "variant_id": [f"rs{i}" for i in planted],
                          "chromosome": chrom[planted], "position": pos[planted]})
    params = ClumpParams(p1=5e-8, kb=250)
    comb = GroupCombiner(name="g", n_phenotypes=k)
    for j, f in enumerate(frames):
        comb.add(f"PC{j + 1}", f)
    lt_min, _ = clump_table(comb.result(), params=params)
    lt_omni, _ = clump_table(omnibus_sumstats(frames), params=params)
    rec = truth_recovery(loci={"g": lt_min}, truth=truth, kb=250, omnibus_loci={"g": lt_omni})
    row = rec[rec["trait"] == "all traits"].iloc[0]
    # z = 3 on 10 phenotypes: omnibus chi2 ~ 100 on 10 df (p ~ 1e-16); min-P x 10 ~ 0.03
    assert row["omnibus_recovered"] == 3 and row["recovered"] == 0
    assert row["omnibus_false_positive_loci"] == 0 and row["false_positive_loci"] == 0
