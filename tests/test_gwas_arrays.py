"""Array layer of the GWAS engine against independent references (pysnptools, fastlmm,
statsmodels, brute force)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from scipy import stats
from tolerances import (
    brent_xtol,
    gamma,
    kinship_roundoff,
    reml_h2_resolution,
    reml_loglik_roundoff,
)

from contig_gwas.gwas.association import associate_block, impute_block, prepare_group
from contig_gwas.gwas.kinship import KinshipAccumulator, standardised_kinship
from contig_gwas.gwas.lmm import lambda_gc
from contig_gwas.gwas.nullmodel import fit_null_model, lmm_loglik
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
    # two float64 implementations, each within kinship_roundoff of the exact matrix
    tol = 2 * kinship_roundoff(g)
    assert np.all(np.abs(standardised_kinship(dosages=g.astype(np.float32), block_size=64)
                         - ref) <= tol)
    acc = KinshipAccumulator(n=g.shape[0])
    for a in range(0, 300, 70):
        acc.add(g[:, a:a + 70], chromosomes=chrom[a:a + 70])
    loco = acc.finish()
    assert np.all(np.abs(loco.kernel() - ref) <= tol)
    ref2 = _snpdata(g, chrom)[:, chrom != 2].read_kernel(Unit()).standardize(DiagKtoN()).val
    # K_{-2} = (T - T_2) N / tr: the subtraction adds the round-off of T_2 to that of T
    tol2 = 2 * kinship_roundoff(g[:, chrom != 2]) + kinship_roundoff(g) * (
        np.trace(np.abs(ref)) / np.trace(np.abs(ref2)))
    assert np.all(np.abs(loco.kernel(leave_out=2) - ref2) <= tol2)
    assert loco.chrom_count == {1: 99, 2: 100, 3: 100}


def test_kinship_spills_to_disk(tmp_path):
    g = _genotypes(n=40, m=60)
    chrom = np.repeat([1, 2], 30)
    a1, a2 = KinshipAccumulator(n=40), KinshipAccumulator(n=40, spill_dir=tmp_path)
    for acc in (a1, a2):
        acc.add(g, chromosomes=chrom)
    k1, k2 = a1.finish(), a2.finish()
    assert list(tmp_path.glob("*.npy"))
    # the same products, one of them through a .npy file (exact): bitwise
    assert np.array_equal(k1.kernel(leave_out=1), k2.kernel(leave_out=1))


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
    UtX, Uty = U.T @ X, U.T @ y
    n, d = X.shape
    lmm = LMM(X=X, Y=y[:, None], K=K.copy(), inplace=False)

    def ll_tol(delta):
        """The same likelihood computed twice: the round-off of each evaluation (fastlmm's,
        covariates projected out first, is no less accurate than ours) plus the two
        eigendecompositions' backward errors (|dK| <= gamma_N ||K||_F), which move l by at
        most |dK| (N + dof) / (2 delta) (P <= I / delta)."""
        eig = 0.5 * gamma(n) * np.linalg.norm(K) * (n + n - d) / delta
        return 2 * reml_loglik_roundoff(S=S, UtX=UtX, Uty=Uty, delta=delta) + 2 * eig

    for h2 in (0.1, 0.5, 0.9):
        ours = lmm_loglik(np.log((1 - h2) / h2), S=S, UtX=UtX, Uty=Uty)
        tol = ll_tol((1 - h2) / h2)
        assert ours == pytest.approx(-float(lmm.nLLeval(h2=h2)["nLL"][0]), abs=tol)
    fit = fit_null_model(S=S, UtX=UtX, Uty=Uty, phenotype="y")
    ref = lmm.findH2()
    h2_ref = float(ref["h2"][0])
    # each optimiser stops within the resolution of the maximiser; fastlmm adds its Brent
    # bracket over h2
    res = reml_h2_resolution(S=S, UtX=UtX, Uty=Uty, h2=h2_ref)
    assert fit.h2 == pytest.approx(h2_ref, abs=2 * res + brent_xtol(h2_ref))
    assert fit.loglik >= -float(ref["nLL"][0]) - ll_tol(fit.delta)
    assert fit.converged and fit.reml and fit.n == len(y) and fit.beta.shape == (3,)
    assert fit.se2 == fit.delta * fit.sg2   # its definition (nullmodel.fit_null_model)


def test_ml_fit_maximises_ml_likelihood():
    _, K, X, y = _lmm_data(seed=3)
    S, U = np.linalg.eigh(K)
    fit = fit_null_model(S=S, UtX=U.T @ X, Uty=U.T @ y, reml=False)
    grid = np.linspace(-5, 5, 201)
    lls = [lmm_loglik(x, S=S, UtX=U.T @ X, Uty=U.T @ y, reml=False) for x in grid]
    # each computed value within eps of the exact one, and the fit within 2 eps of the exact
    # maximum (tolerances.reml_h2_resolution): 4 eps
    eps = reml_loglik_roundoff(S=S, UtX=U.T @ X, Uty=U.T @ y, delta=fit.delta, reml=False)
    assert fit.loglik >= max(lls) - 4 * eps and not fit.reml


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
    delta = np.array([f.delta for f in fits])
    model = prepare_group(S=S, U=U, X=X, Y=Y, delta=delta)
    G, af, n_ok = impute_block(g.astype(np.float32))
    res = associate_block(model, G)
    # fastlmm fits its own null model: its h2 lies within the resolution of the maximiser
    # (reml_h2_resolution, twice, plus its Brent bracket) of ours, so the statistics may
    # differ by what moving delta across that interval does to ours. A fit at the lower bound
    # (ours h2 = 1 / (1 + e^20), fastlmm's 0) spans up to h2 = 0, where they are OLS. Plus the
    # round-off of both: quadratic forms of N terms, relative gamma(4N) times the cancellation
    # y'Wy / y'Py, on the scale |beta| + se sqrt(dof) >= sqrt(y'Py / x'Px).
    def ours_at(j, d):
        m = prepare_group(S=None if d is None else S, U=None if d is None else U, X=X,
                          Y=Y[:, [j]], delta=None if d is None else np.array([d]))
        a = associate_block(m, G)
        return a.neg_log10_p[:, 0], a.beta[:, 0]

    for j, name in enumerate(["a", "b"]):
        f = fits[j]
        if f.at_bound:
            assert f.h2 < 1e-6               # noise: the lower bound
            ends = [ours_at(j, None)]
        else:
            r = (2 * reml_h2_resolution(S=S, UtX=U.T @ X, Uty=U.T @ Y[:, j], h2=f.h2)
                 + brent_xtol(f.h2)) / (f.h2 * (1 - f.h2))          # in log delta
            ends = [ours_at(j, f.delta * np.exp(sign * r)) for sign in (-1, 1)]
        nlp, beta = res.neg_log10_p[:, j], res.beta[:, j]
        rel = 2 * gamma(4 * len(y)) * (model.W[:, j] @ model.UtY[:, j] ** 2) / model.ypy[j]
        tol_nlp = np.max([np.abs(e[0] - nlp) for e in ends], axis=0) + rel * (1 + nlp)
        tol_beta = (np.max([np.abs(e[1] - beta) for e in ends], axis=0)
                    + rel * (np.abs(beta) + res.se[:, j] * np.sqrt(res.dof)))
        r = ref[ref.Pheno == name].sort_values("sid_index")
        assert np.all(np.abs(nlp + np.log10(r.PValue.to_numpy())) <= tol_nlp), name
        # fastlmm reports the effect of the standardised variant
        assert np.all(np.abs(beta * g.std(0) - r.SnpWeight.to_numpy()) <= tol_beta * g.std(0))
    ols = associate_block(prepare_group(S=None, U=None, X=X, Y=Y, delta=None), G)
    n = len(y)
    P = np.eye(n) - X @ np.linalg.solve(X.T @ X, X.T)
    for j in (0, 7, 123):
        f = sm.OLS(Y[:, 1], np.c_[X, G[:, j]]).fit()
        # two float64 least-squares solutions (normal equations, QR): relative round-off of
        # each at most gamma(4N) cond(X'X) times the cancellations x'x / x'Px and
        # |x|'|y| / |x'Py|; p moves by |d ln p / d ln t| times that
        x = G[:, j]
        rel = 2 * gamma(4 * n) * np.linalg.cond(X.T @ X) * (
            x @ x / (x @ P @ x) + np.abs(x) @ np.abs(Y[:, 1]) / abs(x @ P @ Y[:, 1]))
        t = abs(f.tvalues[-1])
        dlnp = 2 * t * stats.t.pdf(t, f.df_resid) / f.pvalues[-1]
        assert ols.beta[j, 1] == pytest.approx(f.params[-1], rel=rel)
        assert ols.se[j, 1] == pytest.approx(f.bse[-1], rel=rel)
        assert 10 ** -ols.neg_log10_p[j, 1] == pytest.approx(f.pvalues[-1],
                                                             rel=rel * (1 + dlnp))


def test_impute_block_mean_imputes():
    d = np.array([[0, 2], [np.nan, 2], [2, np.nan], [1, 1]], dtype=np.float32)
    G, af, n_ok = impute_block(d)
    assert G[1, 0] == 1.0 and G[2, 1] == pytest.approx(5 / 3)
    assert np.allclose(af, [0.5, 5 / 6]) and list(n_ok) == [3, 3]


def _hwe_brute(het, hom1, hom2):
    from math import comb, exp, factorial, log  # noqa: F401

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
        # both float64: exp of lgamma sums (relative error ~ u sum|lgamma| < 1e-12 for
        # n <= 100); 1e-6 is far above that and far below any missing or extra term
        assert p == pytest.approx(min(1.0, _hwe_brute(*c)), rel=1e-6)
    d = np.array([[0, 1, 0, 1], [0, 1, 1, np.nan], [0, 2, 2, np.nan], [0, 0, 1, 0]] * 5, float)
    qc = variant_qc(dosages=d, maf=0.2, geno=0.3)
    assert qc.counts()["monomorphic"] == 1 and qc.counts()["geno"] == 1
    assert list(qc.keep) == [False, True, True, False]


def test_lambda_gc_of_uniform_p_is_one():
    p = (np.arange(20000) + 0.5) / 20000
    # the median -log10 p is that of sqrt(0.499975 * 0.500025) = 0.5 (1 - 1.25e-9): lambda
    # is 1 + 1.25e-9 * 0.5 / (f(q) q) = 1 + 2.9e-9 (q = 0.455, the chi2(1) median, f its
    # density 0.472); chdtri is accurate to ~1e-14
    assert lambda_gc(-np.log10(p)) == pytest.approx(1.0, abs=1e-8)
