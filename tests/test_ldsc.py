"""LD-score regression (contig_gwas.ldsc): LD scores against a direct computation, the jackknife
against refitting, the estimator against a simulated truth, and the intercept of a polygenic
trait (near 1) against a stratified one (above 1) in the simulator's two ancestries, with and
without the principal components as covariates."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tolerances import gamma

from contig_gwas.errors import InputError
from contig_gwas.io.genotypes import open_genotypes
from contig_gwas.ldsc import LdScores, ld_scores, ldsc_for_sumstats, ldsc_regression
from contig_gwas.ldsc.jackknife import get_separators, lstsq_jackknife, pseudovalue_cov
from contig_gwas.ldsc.sumstats import sumstats_chi2

PCS = [f"PC{i}" for i in range(1, 11)]


def _cohort(tiny_cohort: Path, fmt: str = "bed"):
    source = (open_genotypes(bgen=str(tiny_cohort / "genotypes.bgen")) if fmt == "bgen"
              else open_genotypes(bfile=str(tiny_cohort / "genotypes")))
    iid = source.samples["IID"].to_numpy()
    truth = json.loads((tiny_cohort / "truth.json").read_text())
    group = np.isin(iid, truth["ancestry"]["iid_B"])
    cov = pd.read_csv(tiny_cohort / "covariates.tsv", sep="\t", dtype={"IID": str})
    pcs = cov.set_index("IID").loc[iid, PCS].to_numpy(dtype=np.float64)
    return source, group, pcs


def _direct_l2(x: np.ndarray, pos: np.ndarray, chrom: np.ndarray, window_bp: float,
               covariates: np.ndarray | None = None):
    """LD scores by the definition: mean-impute, (residualise,) np.corrcoef, bias-correct,
    sum over the window; and a bound on the round-off of this and of the streamed computation.

    Round-off (Higham, section 3.1, for any summation order): a standardised value is within
    ``dz = g ((|x| + |mean|) / sd + |z|)`` (g = gamma(n + 8)), so r = z'z / n is within
    ``dr = (|dz|'|z| + |z|'|dz|) / n + gamma(n) |z|'|z| / n``; r2_adj within
    ``(2 |r| dr + dr^2)(1 + 1 / (n - 2)) + gamma(4) (r^2 + 1)``; the window sum of W terms adds
    ``gamma(W) sum |r2_adj|``. Both computations obey the bound: their difference is within
    twice it. Residualising on K covariates adds a projection (K + n terms per entry), covered by
    g = gamma(n + 2 K + 8) there.
    """
    n = x.shape[0]
    x = np.where(np.isnan(x), np.nanmean(x, axis=0), x)
    keep = x.std(axis=0) > 1e-8
    x, pos, chrom = x[:, keep], pos[keep], chrom[keep]
    k = 0
    if covariates is not None:
        c = covariates - covariates.mean(axis=0)
        k = c.shape[1]
        xc = x - x.mean(axis=0)
        x = xc - c @ np.linalg.lstsq(c, xc, rcond=None)[0]
    n_bias = n - k
    l2 = np.zeros(x.shape[1])
    tol = np.zeros(x.shape[1])
    g = gamma(n + 2 * k + 8)
    for ch in np.unique(chrom):
        j = np.flatnonzero(chrom == ch)
        r = np.corrcoef(x[:, j], rowvar=False)
        r2 = r * r - (1 - r * r) / (n_bias - 2)
        mask = np.abs(pos[j][:, None] - pos[j][None, :]) <= window_bp
        l2[j] = (r2 * mask).sum(axis=1)
        xj = x[:, j]
        mean, sd = xj.mean(axis=0), xj.std(axis=0)
        z = np.abs((xj - mean) / sd)
        dz = g * ((np.abs(xj) + np.abs(mean)) / sd + z)
        dr = (dz.T @ z + z.T @ dz) / n + gamma(n) * (z.T @ z) / n
        d2 = (2 * np.abs(r) * dr + dr * dr) * (1 + 1 / (n_bias - 2)) + gamma(4) * (r * r + 1)
        w = mask.sum(axis=1)
        tol[j] = 2 * ((d2 * mask).sum(axis=1) + gamma(int(w.max())) * (np.abs(r2) * mask).sum(1))
    return keep, l2, tol


@pytest.mark.parametrize("window_kb, block_size, subset, adjust, stride, fmt", [
    (1000.0, 500, False, False, 1, "bed"),  # the default window: most of each chromosome
    (150.0, 97, False, False, 2, "bed"),    # small window, blocks not aligned with chromosomes,
                                            # every second variant (variant_ids)
    (300.0, 211, True, False, 1, "bed"),    # one ancestry only: its monomorphic variants drop out
    (1000.0, 333, False, True, 1, "bed"),   # covariate-adjusted (the ten PCs projected out)
    (500.0, 400, False, False, 1, "bgen"),  # BGEN: other sample order, the other allele counted
])
def test_ld_scores_equal_direct_computation(tiny_cohort, window_kb, block_size, subset, adjust,
                                            stride, fmt):
    source, group, pcs = _cohort(tiny_cohort, fmt)
    samples = np.flatnonzero(~group) if subset else None
    covariates = pcs[samples] if adjust and subset else (pcs if adjust else None)
    v = source.variants.iloc[::stride]
    got = ld_scores(source, window_kb=window_kb, progress=False, samples=samples,
                    covariates=covariates, block_size=block_size,
                    variant_ids=None if stride == 1 else list(v["variant_id"]))
    x = source.read(samples=samples).dosages[:, ::stride].astype(np.float64)
    keep, l2, tol = _direct_l2(x, v["position"].to_numpy(), v["chromosome"].to_numpy(),
                               window_kb * 1000, covariates)
    assert isinstance(got, LdScores)
    assert got.m == int(keep.sum()) and got.n_monomorphic == len(keep) - got.m
    assert got.n_individuals == x.shape[0]
    np.testing.assert_array_equal(got.variant_id, v["variant_id"].to_numpy()[keep])
    np.testing.assert_array_equal(got.base_pair_location, v["position"].to_numpy()[keep])
    err = np.abs(got.l2 - l2)
    assert np.all(err <= tol), f"max error {err.max():.3g}, bound there {tol[err.argmax()]:.3g}"
    if subset:
        assert got.n_monomorphic > 0      # variants private to the other ancestry
    p = np.nanmean(x[:, keep], axis=0) / 2
    np.testing.assert_allclose(got.maf, np.minimum(p, 1 - p), rtol=1e-12)


def test_centimorgan_window(tiny_cohort, tmp_path):
    """A window in cM over a genetic map of 1 cM per Mb equals the same window in kb; a .bim
    without a map (all 0, as the simulator writes) is refused."""
    source, _, _ = _cohort(tiny_cohort)
    with pytest.raises(InputError, match="no genetic map"):
        ld_scores(source, window_cm=1.0, progress=False)
    prefix = tmp_path / "mapped"
    for ext in (".bed", ".fam"):
        shutil.copy(tiny_cohort / f"genotypes{ext}", f"{prefix}{ext}")
    bim = pd.read_csv(tiny_cohort / "genotypes.bim", sep="\t", header=None, dtype=str)
    bim[2] = (bim[3].astype(np.int64) / 1e6).map(repr)
    bim.to_csv(f"{prefix}.bim", sep="\t", header=False, index=False)
    mapped = open_genotypes(bfile=str(prefix))
    # no pair is 250,000.5 bp apart, and 1e-16 relative round-off in pos / 1e6 cannot move a
    # pair across a boundary 5e-7 cM from every integer distance
    by_cm = ld_scores(mapped, window_cm=0.2500005, progress=False)
    by_kb = ld_scores(source, window_kb=250.0005, progress=False)
    assert by_cm.window() == "0.2500005 cM" and by_kb.window() == "250.0005 kb"
    np.testing.assert_array_equal(by_cm.l2, by_kb.l2)


def test_bad_windows_are_refused(tiny_cohort):
    source, _, _ = _cohort(tiny_cohort)
    for kw in (dict(window_kb=0.0), dict(window_cm=-1.0)):
        with pytest.raises(InputError, match="positive"):
            ld_scores(source, progress=False, **kw)
    with pytest.raises(InputError, match="none of the"):
        ld_scores(source, variant_ids=["not-there"], progress=False)


def test_jackknife_equals_refitting_without_each_block():
    """ldsc's fast delete values ((X'X - X_b'X_b)^-1 (X'y - X_b'y_b)) are the least-squares
    fits without block b (ldsc's LstsqJackknifeSlow); pseudovalue covariance by its formula."""
    rng = np.random.default_rng(3)
    x = np.column_stack([rng.gamma(2.0, 5.0, 1003), np.ones(1003)])
    y = x @ [0.2, 1.1] + rng.standard_normal(1003)
    sep = get_separators(1003, 17)
    jk = lstsq_jackknife(x, y, separators=sep)
    np.testing.assert_allclose(jk.est, np.linalg.lstsq(x, y, rcond=None)[0], rtol=1e-10)
    for b, (a, e) in enumerate(zip(sep[:-1], sep[1:])):
        rest = np.r_[0:a, e:1003]
        fit = np.linalg.lstsq(x[rest], y[rest], rcond=None)[0]
        np.testing.assert_allclose(jk.delete_values[b], fit, rtol=1e-9)
    pseudo = 17 * jk.est - 16 * jk.delete_values
    np.testing.assert_allclose(jk.cov, np.cov(pseudo.T) / 17, rtol=1e-12)
    np.testing.assert_allclose(pseudovalue_cov(jk.delete_values, jk.est), jk.cov)
    with pytest.raises(ValueError, match="more jackknife blocks"):
        get_separators(10, 11)


def _simulated_chi2(rng, l2, *, n, m, h2, a):
    """chi2 = z^2 with z ~ N(0, 1 + n a + n h2 l / m): the LD-score model (ldsc eq. 1)."""
    return rng.standard_normal(len(l2)) ** 2 * (1 + n * a + n * h2 * l2 / m)


def test_regression_recovers_simulated_truth_and_its_se():
    """Over replicates of the model, the estimates centre on the truth (within 3 SEs of their
    mean) and the mean jackknife SE matches their spread (within 3 SEs of a standard deviation
    over R replicates, relative SE 1 / sqrt(2 (R - 1)), plus 10% for the jackknife's own bias
    in 200 blocks). Mean chi2 about 1.6, so that few chi2 exceed the two-step cutoff of 30 (when
    many do, as at n = 5,000 here, dropping them from the intercept step raises the intercept
    by ~0.015: a known property of ldsc's two-step estimator)."""
    rng = np.random.default_rng(11)
    j, m, n, h2, a = 20_000, 20_000, 2_000, 0.4, 5e-5       # intercept 1 + n a = 1.1
    l2 = rng.gamma(2.0, 6.0, j) + 1.0
    reps = 120
    est = np.array([[r.intercept, r.intercept_se, r.h2, r.h2_se, r.ratio]
                    for r in (ldsc_regression(chi2=_simulated_chi2(rng, l2, n=n, m=m, h2=h2, a=a),
                                              l2=l2, n=n, m=m) for _ in range(reps))])
    truth = {0: 1 + n * a, 2: h2}
    band = 3 / np.sqrt(2 * (reps - 1)) + 0.10
    for col, value in truth.items():
        spread = est[:, col].std(ddof=1)
        assert abs(est[:, col].mean() - value) < 3 * spread / np.sqrt(reps)
        assert abs(est[:, col + 1].mean() / spread - 1) < band, (col, est[:, col + 1].mean(),
                                                                  spread)
    mean_chi2 = 1 + n * a + n * h2 * l2.mean() / m
    np.testing.assert_allclose(est[:, 4].mean(), n * a / (mean_chi2 - 1),
                               atol=3 * est[:, 4].std(ddof=1) / np.sqrt(reps))


def test_two_step_and_summary():
    """With every chi2 below the cutoff the two-step intercept is the one-step intercept (the
    same IRWLS on the same rows); large chi2 are left out of the intercept step only; the ratio
    and lambda GC follow their definitions; mean chi2 <= 1 gives no ratio."""
    rng = np.random.default_rng(5)
    l2 = rng.gamma(2.0, 6.0, 5000) + 1.0
    chi2 = _simulated_chi2(rng, l2, n=2000, m=5000, h2=0.3, a=0.0)
    chi2 = np.minimum(chi2, 29.0)
    one = ldsc_regression(chi2=chi2, l2=l2, n=2000, m=5000, two_step=None)
    two = ldsc_regression(chi2=chi2, l2=l2, n=2000, m=5000)
    np.testing.assert_allclose(two.intercept, one.intercept, rtol=1e-12)
    np.testing.assert_allclose(two.intercept_se, one.intercept_se, rtol=1e-12)
    assert two.ratio == pytest.approx((two.intercept - 1) / (two.mean_chi2 - 1), rel=1e-12)
    assert two.lambda_gc == pytest.approx(np.median(chi2) / 0.454936423119572, rel=1e-12)
    assert "Intercept:" in two.summary() and "Ratio" in two.summary()
    assert two.columns()["ldsc_intercept"] == two.intercept
    assert list(two.columns("x_")) == ["x_intercept", "x_intercept_se", "x_h2", "x_h2_se",
                                       "x_ratio", "x_ratio_se", "x_mean_chi2"]
    big = chi2.copy()
    big[::50] = 60.0
    assert ldsc_regression(chi2=big, l2=l2, n=2000, m=5000).n_variants == 5000
    assert ldsc_regression(chi2=big, l2=l2, n=2000, m=5000,
                           chi2_max=50).n_chi2_max_removed == 100
    low = ldsc_regression(chi2=np.full(5000, 0.9) + 1e-3 * l2, l2=l2, n=2000, m=5000)
    assert np.isnan(low.ratio) and np.isnan(low.ratio_se)
    assert "Ratio: NA" in low.summary()


def test_chi2_from_sumstats_columns():
    """(beta / se)^2 where both are given, else the chi-square(1) quantile of the p-value, also
    where p underflows (chi2 ~ 2 ln(1/p) - ln(2 ln(1/p)) - ln(pi/2)... checked by the
    Mills-ratio closed form of the normal tail)."""
    from scipy import stats

    df = pd.DataFrame({"beta": [0.5, np.nan, np.nan, np.nan],
                       "standard_error": [0.25, np.nan, np.nan, np.nan],
                       "neg_log10_p_value": [9.9, 1.0, 5.0, 400.0]})
    chi2 = sumstats_chi2(df)
    assert chi2[0] == 4.0
    np.testing.assert_allclose(chi2[1:3], stats.chi2.isf([0.1, 1e-5], 1), rtol=1e-10)
    # two-sided normal tail: p = 2 phi(z)/z (1 - 1/z^2 + ...); solve log p for z
    z = np.sqrt(chi2[3])
    log10_p = (np.log(2) + stats.norm.logpdf(z) - np.log(z) + np.log1p(-1 / z**2 + 3 / z**4)) \
        / np.log(10)
    assert log10_p == pytest.approx(-400.0, abs=1e-6)


def _run_linear(tiny_cohort: Path, pheno: Path, out: Path, covar: bool) -> None:
    from contig_gwas.cli import gwas

    argv = ["--bfile", str(tiny_cohort / "genotypes"), "--pheno", str(pheno), "--linear",
            "--no-progress", "--out", str(out)]
    if covar:
        argv += ["--covar", str(tiny_cohort / "covariates.tsv"), "--covar-name", "PC1-PC10"]
    assert gwas.main(argv) == 0


def test_intercept_polygenic_near_one_stratified_above(tiny_cohort, tmp_path):
    """The simulator's two ancestries (15% B). A polygenic trait (h2 0.5 over all variants,
    without a difference between the ancestries' means) and the same trait plus 1 SD in
    ancestry B, scanned by contig-gwas --linear without and with PC1-PC10 as covariates.
    LD scores with the PCs projected out (cov-LDSC), as the scores of a mixed sample otherwise
    carry the LD ancestry induces. Pass thresholds are multiples of the jackknife SE (over 30
    seeds of this set-up, (intercept - 1) / SE had SD 1.0-1.2 for the polygenic trait and
    the stratified one without PCs, and a minimum of 3.4 for the stratified one without PCs)."""
    source, group, pcs = _cohort(tiny_cohort)
    n = len(group)
    x = source.read().dosages.astype(np.float64)
    x = np.where(np.isnan(x), np.nanmean(x, axis=0), x)
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    rng = np.random.default_rng(2)
    g = z @ rng.normal(0.0, np.sqrt(0.5 / z.shape[1]), z.shape[1])
    for k in (False, True):
        g[group == k] -= g[group == k].mean()
    y = g + rng.normal(0.0, np.sqrt(0.5), n)
    pheno = tmp_path / "pheno.tsv"
    pd.DataFrame({"FID": source.samples["FID"], "IID": source.samples["IID"],
                  "polygenic": y, "stratified": y + 1.0 * group}).to_csv(pheno, sep="\t",
                                                                         index=False)
    scores = ld_scores(source, covariates=pcs, progress=False)
    from contig_gwas.io.sumstats import read_sumstats

    fits = {}
    for covar in (False, True):
        out = tmp_path / ("pcs" if covar else "none")
        _run_linear(tiny_cohort, pheno, out, covar)
        for trait in ("polygenic", "stratified"):
            ss = read_sumstats(f"{out}.{trait}.sumstats.tsv.gz")
            fits[trait, covar] = ldsc_for_sumstats(ss, scores)
    for key, fit in fits.items():
        zscore = (fit.intercept - 1) / fit.intercept_se
        if key == ("stratified", False):
            assert zscore > 3, (key, fit.summary())
            assert fit.ratio > 0.3, (key, fit.summary())
        else:
            assert abs(zscore) < 4, (key, fit.summary())
        assert fit.n_variants == scores.m
    strat, adjusted = fits["stratified", False], fits["stratified", True]
    assert strat.intercept - adjusted.intercept > 3 * np.hypot(strat.intercept_se,
                                                                adjusted.intercept_se)
    h2_true = g.var() / y.var()
    for covar in (False, True):
        fit = fits["polygenic", covar]
        assert abs(fit.h2 - h2_true) < 3 * fit.h2_se, fit.summary()
