"""Array layer of the GWAS engine against independent references (pysnptools, fastlmm,
statsmodels, brute force)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from contig_gwas.gwas.association import associate_block, impute_block, prepare_group
from contig_gwas.gwas.kinship import KinshipAccumulator, standardised_kinship
from contig_gwas.gwas.lmm import lambda_gc
from contig_gwas.gwas.nullmodel import fit_null_model, reml_loglik
from contig_gwas.gwas.qc import hwe_exact_p, variant_qc


def _genotypes(n=150, m=300, seed=0, missing=0.02):
    rng = np.random.default_rng(seed)
    g = rng.binomial(2, rng.uniform(0.05, 0.5, m), (n, m)).astype(float)
    g[rng.random((n, m)) < missing] = np.nan
    return g


def _snpdata(g, chrom=None):
    from pysnptools.snpreader import SnpData

    n, m = g.shape
    chrom = np.ones(m) if chrom is None else chrom
    return SnpData(iid=[["f", str(i)] for i in range(n)], sid=[f"s{j}" for j in range(m)],
                   val=g.copy(), pos=np.c_[chrom, np.zeros(m), np.arange(m) + 1])


def test_kinship_matches_pysnptools_unit_diagktoN():
    from pysnptools.standardizer import DiagKtoN, Unit

    g = _genotypes()
    g[:, 3] = 1.0  # monomorphic
    chrom = np.repeat([1, 2, 3], 100)
    ref = _snpdata(g, chrom).read_kernel(Unit()).standardize(DiagKtoN()).val
    assert np.allclose(standardised_kinship(dosages=g.astype(np.float32), block_size=64), ref,
                       atol=1e-12)
    acc = KinshipAccumulator(n=g.shape[0])
    for a in range(0, 300, 70):
        acc.add(g[:, a:a + 70], chromosomes=chrom[a:a + 70])
    loco = acc.finish()
    assert np.allclose(loco.kernel(), ref, atol=1e-12)
    ref2 = _snpdata(g, chrom)[:, chrom != 2].read_kernel(Unit()).standardize(DiagKtoN()).val
    assert np.allclose(loco.kernel(leave_out=2), ref2, atol=1e-12)
    assert loco.chrom_count == {1: 99, 2: 100, 3: 100}


def test_kinship_spills_to_disk(tmp_path):
    g = _genotypes(n=40, m=60)
    chrom = np.repeat([1, 2], 30)
    a1, a2 = KinshipAccumulator(n=40), KinshipAccumulator(n=40, spill_dir=tmp_path)
    for acc in (a1, a2):
        acc.add(g, chromosomes=chrom)
    k1, k2 = a1.finish(), a2.finish()
    assert list(tmp_path.glob("*.npy"))
    assert np.allclose(k1.kernel(leave_out=1), k2.kernel(leave_out=1))


def _lmm_data(n=300, seed=1):
    rng = np.random.default_rng(seed)
    g = _genotypes(n=n, m=800, seed=seed, missing=0.0)
    z = (g - g.mean(0)) / g.std(0)
    K = z @ z.T / z.shape[1]
    X = np.c_[np.ones(n), rng.normal(size=(n, 2))]
    y = X @ [1.0, 0.5, -0.2] + z[:, :40] @ rng.normal(0, 0.12, 40) + rng.normal(size=n)
    return g, K, X, y


def test_reml_loglik_equals_fastlmm_nll():
    from fastlmm.inference.lmm_cov import LMM

    _, K, X, y = _lmm_data()
    S, U = np.linalg.eigh(K)
    lmm = LMM(X=X, Y=y[:, None], K=K.copy(), inplace=False)
    for h2 in (0.1, 0.5, 0.9):
        ours = reml_loglik(np.log((1 - h2) / h2), S=S, UtX=U.T @ X, Uty=U.T @ y)
        assert ours == pytest.approx(-float(lmm.nLLeval(h2=h2)["nLL"][0]), rel=1e-10)
    fit = fit_null_model(S=S, UtX=U.T @ X, Uty=U.T @ y, phenotype="y")
    ref = lmm.findH2()
    assert fit.h2 == pytest.approx(float(ref["h2"][0]), abs=1e-4)
    assert fit.loglik >= -float(ref["nLL"][0]) - 1e-6
    assert fit.converged and fit.reml and fit.n == len(y) and fit.beta.shape == (3,)
    assert fit.se2 == pytest.approx(fit.delta * fit.sg2)


def test_ml_fit_maximises_ml_likelihood():
    _, K, X, y = _lmm_data(seed=3)
    S, U = np.linalg.eigh(K)
    fit = fit_null_model(S=S, UtX=U.T @ X, Uty=U.T @ y, reml=False)
    grid = np.linspace(-5, 5, 201)
    lls = [reml_loglik(x, S=S, UtX=U.T @ X, Uty=U.T @ y, reml=False) for x in grid]
    assert fit.loglik >= max(lls) - 1e-9 and not fit.reml


def test_association_matches_fastlmm_single_snp_and_statsmodels():
    import statsmodels.api as sm
    from fastlmm.association import single_snp
    from pysnptools.snpreader import SnpData

    g, K, X, y = _lmm_data()
    rng = np.random.default_rng(5)
    Y = np.c_[y, rng.normal(size=len(y))]
    sd = _snpdata(g)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        ref = single_snp(sd, SnpData(iid=sd.iid, sid=["a", "b"], val=Y),
                         covar=SnpData(iid=sd.iid, sid=["c1", "c2"], val=X[:, 1:]),
                         count_A1=True, leave_out_one_chrom=False)
    finally:
        root.handlers[:], root.level = handlers, level
    S, U = np.linalg.eigh(K)
    fits = [fit_null_model(S=S, UtX=U.T @ X, Uty=U.T @ Y[:, j]) for j in range(2)]
    model = prepare_group(S=S, U=U, X=X, Y=Y, delta=np.array([f.delta for f in fits]))
    G, af, n_ok = impute_block(g.astype(np.float32))
    res = associate_block(model, G)
    for j, name in enumerate(["a", "b"]):
        r = ref[ref.Pheno == name].sort_values("sid_index")
        assert np.allclose(res.neg_log10_p[:, j], -np.log10(r.PValue.to_numpy()), atol=1e-5)
        assert np.allclose(res.beta[:, j] * g.std(0), r.SnpWeight.to_numpy(), rtol=1e-5,
                           atol=1e-8)
    ols = associate_block(prepare_group(S=None, U=None, X=X, Y=Y, delta=None), G)
    for j in (0, 7, 123):
        f = sm.OLS(Y[:, 1], np.c_[X, G[:, j]]).fit()
        assert ols.beta[j, 1] == pytest.approx(f.params[-1], rel=1e-9)
        assert ols.se[j, 1] == pytest.approx(f.bse[-1], rel=1e-9)
        assert 10 ** -ols.neg_log10_p[j, 1] == pytest.approx(f.pvalues[-1], rel=1e-7)


def test_impute_block_mean_imputes():
    d = np.array([[0, 2], [np.nan, 2], [2, np.nan], [1, 1]], dtype=np.float32)
    G, af, n_ok = impute_block(d)
    assert G[1, 0] == 1.0 and G[2, 1] == pytest.approx(5 / 3)
    assert np.allclose(af, [0.5, 5 / 6]) and list(n_ok) == [3, 3]


def _hwe_brute(het, hom1, hom2):
    from math import comb, factorial, log, exp  # noqa: F401

    n = het + hom1 + hom2
    rare = min(2 * hom1 + het, 2 * hom2 + het)

    def prob(h):
        hr = (rare - h) // 2
        hc = n - h - hr
        from math import lgamma
        return exp(lgamma(n + 1) - lgamma(hr + 1) - lgamma(h + 1) - lgamma(hc + 1) + h * log(2)
                   + lgamma(rare + 1) + lgamma(2 * n - rare + 1) - lgamma(2 * n + 1))
    p_obs = prob(het)
    return sum(prob(h) for h in range(rare % 2, rare + 1, 2) if prob(h) <= p_obs * (1 + 1e-7))


def test_hwe_exact_matches_brute_force_and_qc_counts():
    cases = [(50, 25, 25), (0, 50, 50), (10, 80, 10), (57, 14, 29), (1, 99, 0), (3, 0, 0)]
    got = hwe_exact_p(n_het=[c[0] for c in cases], n_hom1=[c[1] for c in cases],
                      n_hom2=[c[2] for c in cases])
    for c, p in zip(cases, got):
        assert p == pytest.approx(min(1.0, _hwe_brute(*c)), rel=1e-6)
    d = np.array([[0, 1, 0, 1], [0, 1, 1, np.nan], [0, 2, 2, np.nan], [0, 0, 1, 0]] * 5, float)
    qc = variant_qc(dosages=d, maf=0.2, geno=0.3)
    assert qc.counts()["monomorphic"] == 1 and qc.counts()["geno"] == 1
    assert list(qc.keep) == [False, True, True, False]


def test_lambda_gc_of_uniform_p_is_one():
    p = (np.arange(20000) + 0.5) / 20000
    assert lambda_gc(-np.log10(p)) == pytest.approx(1.0, abs=1e-3)
