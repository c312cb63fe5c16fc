"""The multivariate omnibus test (contig_gwas.omnibus) against closed forms and null cohorts.

References: chi2 = z' C^-1 z computed directly (np.linalg.solve), the chi-square / uniform null
distribution of the p-values (Kolmogorov-Smirnov critical value at alpha = 1e-3, binomial
bounds), a Monte-Carlo truncated bivariate normal, and the spread of independent replicates
for every estimate (tolerances = a few of their standard errors, never a printed value).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from tolerances import U64, gamma

from contig_gwas.genomic_control import lambda_gc
from contig_gwas.omnibus import (
    aligned_z,
    lambda_df,
    null_correlation,
    omnibus_sumstats,
    omnibus_test,
    truncated_correlation,
    z_scores,
)
from contig_gwas.report.stats import combine_min_p

K = 5
C_TRUE = np.array([[1.0, 0.5, 0.2, 0.0, -0.3],
                   [0.5, 1.0, 0.3, 0.1, 0.0],
                   [0.2, 0.3, 1.0, 0.4, 0.1],
                   [0.0, 0.1, 0.4, 1.0, 0.2],
                   [-0.3, 0.0, 0.1, 0.2, 1.0]])


def ks_critical(n: int, alpha: float = 1e-3) -> float:
    """Asymptotic one-sample Kolmogorov-Smirnov critical value sqrt(-ln(alpha / 2) / (2n))."""
    return math.sqrt(-math.log(alpha / 2) / (2 * n))


def ks_uniform(p: np.ndarray) -> float:
    p = np.sort(p)
    n = len(p)
    i = np.arange(1, n + 1)
    return float(max(np.max(i / n - p), np.max(p - (i - 1) / n)))


def test_statistic_is_the_closed_form_and_uniform_under_the_null():
    rng = np.random.default_rng(11)
    m = 20000
    z = rng.multivariate_normal(np.zeros(K), C_TRUE, size=m)
    res = omnibus_test(z, correlation=C_TRUE)
    direct = np.einsum("ij,ij->i", z, np.linalg.solve(C_TRUE, z.T).T)
    # two solves of a K x K system and a K-term sum: relative error of both within
    # gamma(4K) cond(C) of z'z / lambda_min (Higham 2002, sections 3.1 and 7.1)
    lam = np.linalg.eigvalsh(C_TRUE)
    bound = gamma(4 * K) * (lam[-1] / lam[0]) * np.sum(z * z, axis=1) / lam[0]
    assert np.all(np.abs(res.chi2 - direct) <= bound + 4 * U64 * direct)
    assert res.df == K and np.all(res.df_variant == K)
    p = np.power(10.0, -res.neg_log10_p)
    assert ks_uniform(p) < ks_critical(m)
    hits = int(np.sum(p < 0.05))          # binomial(m, 0.05): within 5 SD of its mean
    assert abs(hits - 0.05 * m) < 5 * math.sqrt(m * 0.05 * 0.95)
    # z inflated by c = 1.2: lambda_df reads c; the 1-df lambda GC of the p-values far more.
    # The median of M chi2_K has SE sqrt(1/4M) / f(median), f the chi2_K density
    from scipy import stats

    inflated = omnibus_test(z * math.sqrt(1.2), correlation=C_TRUE)
    med = stats.chi2.median(K)
    se = 1.2 * 0.5 / math.sqrt(m) / stats.chi2.pdf(med, K) / med
    assert abs(lambda_df(chi2=inflated.chi2, df=inflated.df_variant) - 1.2) < 5 * se
    assert lambda_gc(inflated.neg_log10_p) > 1.4


def test_truncated_correlation_matches_monte_carlo():
    rng = np.random.default_rng(3)
    for rho, a, b in ((0.5, 2.0, 2.0), (-0.7, 1.5, 3.0), (0.0, 2.0, 2.0)):
        x = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=400000)
        keep = (np.abs(x[:, 0]) < a) & (np.abs(x[:, 1]) < b)
        u, v = x[keep, 0], x[keep, 1]
        r = np.dot(u, v) / np.sqrt(np.dot(u, u) * np.dot(v, v))
        se = (1 - r * r) / math.sqrt(keep.sum() - 3) * 1.5   # Fisher's SE; 1.5: non-normal
        assert abs(truncated_correlation(rho, a=a, b=b) - r) < 5 * se
    assert truncated_correlation(0.5, a=2.0, b=2.0) < 0.45   # the shrinkage that is undone


def test_null_correlation_is_unbiased_within_its_sampling_error():
    rng = np.random.default_rng(5)
    reps, m = 10, 10000
    est, raw = [], []
    for _ in range(reps):
        z = rng.multivariate_normal(np.zeros(K), C_TRUE, size=m)
        z[:20] += 8.0                   # a few strongly associated variants: left out
        est.append(null_correlation(z))
        raw.append(null_correlation(z, correct=False))
    est_a, raw_a = np.array(est), np.array(raw)
    sd = est_a.std(axis=0, ddof=1) + np.eye(K)
    se_mean = sd / math.sqrt(reps)
    # t(9) beyond 5 SE has probability 7e-4 per entry
    assert np.all(np.abs(est_a.mean(axis=0) - C_TRUE) < 5 * se_mean)
    assert np.all(np.abs(est_a[0] - C_TRUE) < 5 * sd)
    # without the correction the truncation shrinks rho = 0.5 towards 0, far beyond the SE
    assert C_TRUE[0, 1] - raw_a[:, 0, 1].mean() > 10 * se_mean[0, 1]


def test_singular_correlation_uses_the_effective_df():
    rng = np.random.default_rng(7)
    base = rng.multivariate_normal(np.zeros(3), C_TRUE[:3, :3], size=20000)
    z = np.column_stack([base, base[:, 0]])          # phenotype 4 duplicates phenotype 1
    res = omnibus_test(z)
    assert res.df == 3                                 # one eigenvalue ~ 0 dropped
    direct = np.einsum("ij,ij->i", base, np.linalg.solve(C_TRUE[:3, :3], base.T).T)
    # the estimated C differs from the true one by its sampling error (~1/sqrt(M)): the
    # statistics agree on average to a few of those errors
    assert abs(np.mean(res.chi2) - np.mean(direct)) < 0.1
    assert ks_uniform(np.power(10.0, -res.neg_log10_p)) < ks_critical(len(z))


def test_missing_phenotypes_use_the_sub_matrix():
    rng = np.random.default_rng(8)
    z = rng.multivariate_normal(np.zeros(K), C_TRUE, size=500)
    z[:50, 2] = np.nan
    z[50:60, :] = np.nan
    res = omnibus_test(z, correlation=C_TRUE)
    sub = [0, 1, 3, 4]
    direct = np.einsum("ij,ij->i", z[:50][:, sub],
                       np.linalg.solve(C_TRUE[np.ix_(sub, sub)], z[:50][:, sub].T).T)
    np.testing.assert_allclose(res.chi2[:50], direct, rtol=1e-10)
    assert np.all(res.df_variant[:50] == 4) and np.all(res.df_variant[60:] == K)
    assert np.all(np.isnan(res.chi2[50:60])) and np.all(res.df_variant[50:60] == 0)


def _null_scan(tiny_cohort, reps: int, k: int):
    """Linear scans of the tiny cohort's genotypes against correlated phenotypes drawn
    independently of them, one scan per permutation of the individuals."""
    from contig_gwas.gwas.association import associate_block, impute_block, prepare_group
    from contig_gwas.io.plink import PlinkSource

    src = PlinkSource(tiny_cohort / "genotypes")
    g, _, _ = impute_block(src.read().dosages.astype(np.float64))
    n = g.shape[0]
    rng = np.random.default_rng(13)
    c = 0.6 ** np.abs(np.subtract.outer(np.arange(k), np.arange(k)))    # AR(1) correlation
    y = rng.multivariate_normal(np.zeros(k), c, size=n)
    x = np.column_stack([np.ones(n), rng.normal(size=n)])
    for _ in range(reps):
        model = prepare_group(S=None, U=None, X=x, Y=y[rng.permutation(n)], delta=None)
        r = associate_block(model, g)
        yield z_scores(beta=r.beta, standard_error=r.se, neg_log10_p=r.neg_log10_p), r, c


def test_omnibus_is_calibrated_on_a_null_cohort(tiny_cohort):
    """Phenotypes independent of the genotypes: the omnibus lambda GC is within the sampling
    error of one scan of 1, and no variant reaches 5e-8.

    The tiny cohort's 3,000 variants lie in long LD blocks (few independent ones), so C,
    estimated from them, is off by up to ~0.1 per entry and the omnibus lambda is raised by a
    few per cent (measured: 1.10 +- 0.03 over 48 permutations; 1.05 with the exact in-sample
    C; 1.01 with C estimated from 3,000 unlinked variants): the bound is the SD of one scan's
    lambda, not the SE of the mean, and the mean chi2 per degree of freedom (first moment,
    barely moved by the error in C) is held to its SE.
    """
    reps, k = 16, 6
    lam_omni, mean_chi2, top = [], [], 0.0
    for z, r, c in _null_scan(tiny_cohort, reps, k):
        res = omnibus_test(z)
        lam_omni.append(lambda_gc(res.neg_log10_p))
        mean_chi2.append(np.nanmean(res.chi2) / res.df)
        top = max(top, float(np.nanmax(res.neg_log10_p)))
        # the z-scores correlate as the phenotypes do (sample overlap): C is not I
        assert res.correlation[0, 1] > 0.3
    lam_a, chi_a = np.array(lam_omni), np.array(mean_chi2)
    assert abs(lam_a.mean() - 1.0) < lam_a.std(ddof=1)
    # t(15) beyond 5 SE: p < 2e-4 (the t statistics' variance dof / (dof - 2) ~ 1.005 aside)
    assert abs(chi_a.mean() - 1.0) < 5 * chi_a.std(ddof=1) / math.sqrt(reps) + 0.01
    assert top < -math.log10(5e-8)                         # no variant at 5e-8


def test_omnibus_beats_min_p_on_shared_effects():
    # closed form: z = 3 on each of 8 independent phenotypes
    z = np.full((1, 8), 3.0)
    omni = omnibus_test(z, correlation=np.eye(8)).neg_log10_p[0]
    minp = combine_min_p(neg_log10_p=-np.log10(2 * 0.5 * math.erfc(3 / math.sqrt(2)))
                         * np.ones((1, 8)))[0][0]
    assert omni > 10 and minp < 2                          # p ~ 1e-11 vs 0.02
    # simulated: shared effects of random size over K correlated phenotypes
    rng = np.random.default_rng(21)
    m, planted = 20000, 200
    z = rng.multivariate_normal(np.zeros(K), C_TRUE, size=m)
    z[:planted] += rng.normal(2.5, 0.5, size=(planted, 1)) * np.ones(K)
    res = omnibus_test(z)
    nlp_single = -np.log10(special_two_sided(z))
    minp = combine_min_p(neg_log10_p=nlp_single)[0]
    better = np.sum(res.neg_log10_p[:planted] > minp[:planted])
    assert better > 0.75 * planted       # not all: an effect along a high-variance direction of C
    assert np.sum(res.neg_log10_p[:planted] > 5) > 2 * np.sum(minp[:planted] > 5)


def special_two_sided(z: np.ndarray) -> np.ndarray:
    from scipy import special

    return 2 * special.ndtr(-np.abs(z))


def _frame(rng, m, z, *, flip=None):
    vid = [f"rs{i}" for i in range(m)]
    ea, oa = np.array(["A"] * m, dtype=object), np.array(["G"] * m, dtype=object)
    beta = z * 0.1
    if flip is not None:
        ea[flip], oa[flip] = "G", "A"
        beta = np.where(flip, -beta, beta)
    se = np.full(m, 0.1)
    nlp = -np.log10(special_two_sided(z))
    return pd.DataFrame({"chromosome": 1, "base_pair_location": np.arange(m) * 100 + 1,
                         "variant_id": vid, "effect_allele": ea, "other_allele": oa,
                         "effect_allele_frequency": 0.3, "n": rng.integers(900, 1000, m),
                         "beta": beta, "standard_error": se, "p_value": 10 ** -nlp,
                         "neg_log10_p_value": nlp})


def test_omnibus_sumstats_aligns_tables_and_keeps_the_schema():
    from contig_gwas.io.sumstats import COLUMNS

    rng = np.random.default_rng(4)
    m = 3000
    z = rng.multivariate_normal(np.zeros(3), C_TRUE[:3, :3], size=m)
    frames = [_frame(rng, m, z[:, 0]), _frame(rng, m, z[:, 1], flip=rng.random(m) < 0.3),
              _frame(rng, m, z[:, 2]).sample(frac=1.0, random_state=1)]
    out = omnibus_sumstats(frames)
    assert list(out.columns[:len(COLUMNS)]) == COLUMNS and "df" in out.columns
    _, za = aligned_z(frames)
    np.testing.assert_allclose(za, z, rtol=1e-9, atol=1e-9)   # flips and order undone
    ref = omnibus_test(z)
    np.testing.assert_allclose(out["neg_log10_p_value"], ref.neg_log10_p, rtol=1e-9)
    assert out["beta"].isna().all() and out["standard_error"].isna().all()
    assert np.all(out["n"].to_numpy() == np.min([f.set_index("variant_id").loc[
        out["variant_id"], "n"].to_numpy() for f in frames], axis=0))


@pytest.mark.parametrize("bad", [np.zeros(3), np.zeros((2, 2, 2))])
def test_bad_shapes(bad):
    with pytest.raises(ValueError):
        omnibus_test(bad)


def test_streaming_combiner_equals_the_table_function():
    from contig_gwas.omnibus import OmnibusCombiner

    rng = np.random.default_rng(6)
    m = 1000
    z = rng.multivariate_normal(np.zeros(3), C_TRUE[:3, :3], size=m)
    frames = [_frame(rng, m, z[:, j]) for j in range(3)]
    extra = _frame(rng, m + 5, np.r_[z[:, 2], np.zeros(5)])   # 5 variants the first lacks
    extra["variant_id"] = [f"rs{i}" for i in range(m + 5)]
    comb = OmnibusCombiner(name="g")
    for j, f in enumerate(frames[:2] + [extra]):
        comb.add(f"PC{j}", f)
    table, res = comb.result()
    assert comb.n_dropped == 5 and comb.phenotypes == ["PC0", "PC1", "PC2"]
    np.testing.assert_allclose(table["neg_log10_p_value"],
                               omnibus_sumstats(frames)["neg_log10_p_value"], rtol=1e-12)
    assert res.df == 3 and len(table) == m
