"""contig-h2: REML SEs and boundaries, bivariate REML, HE regression, dataset layer, CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits
from tolerances import U32, gamma

from contig_gwas.errors import InputError
from contig_gwas.heritability import bivariate as bv
from contig_gwas.heritability import grm_io, he
from contig_gwas.heritability.calibration import random_grm
from contig_gwas.heritability.estimate import DenseSimilarity, estimate_heritability
from contig_gwas.heritability.reml import (
    expected_information_h2,
    profile_curvature_log_delta,
    reml_h2,
)


@pytest.fixture(scope="module")
def grm():
    n = 300
    K = random_grm(n=n, m=150, seed=5)
    S, U = np.linalg.eigh(K)
    rng = np.random.default_rng(6)
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    return K, np.maximum(S, 0.0), U, X


def _pheno(S, U, X, h2, seed):
    rng = np.random.default_rng(seed)
    g = U @ (np.sqrt(S) * rng.normal(size=len(S)))
    return np.sqrt(h2) * g + np.sqrt(1 - h2) * rng.normal(size=len(S)) + X @ [1.0, 0.5]


# --- REML on top of the engine's null model ---------------------------------------------------

def test_reml_h2_is_the_engine_fit_and_se_matches_fisher_information(grm):
    from contig_gwas.gwas.nullmodel import fit_null_model

    K, S, U, X = grm
    y = _pheno(S, U, X, 0.5, 1)
    UtX, Uty = U.T @ X, U.T @ y
    res = reml_h2(S=S, UtX=UtX, Uty=Uty, phenotype="y")
    # one implementation: the same code on the same data with one BLAS thread, as reml_h2
    # runs it (another thread count may sum in another order), is bitwise the same
    with threadpool_limits(limits=1):
        fit = fit_null_model(S=S, UtX=UtX, Uty=Uty, reml=True)
        curv = profile_curvature_log_delta(np.log(fit.delta), S=S, UtX=UtX, Uty=Uty)
    assert res.h2 == fit.h2 and res.sg2 == fit.sg2 and res.se2 == fit.se2
    assert res.flag == "ok" and res.se_method == "curvature" and res.converged
    # observed (curvature, delta method) and expected information agree in the interior
    se_expected = 1 / np.sqrt(expected_information_h2(res.h2, S=S, UtX=UtX))
    assert res.se == pytest.approx(se_expected, rel=0.15)
    # delta method: se(h2) = h2 (1 - h2) / sqrt(-l''), the same expression (bitwise)
    assert res.se == res.h2 * (1 - res.h2) / np.sqrt(-curv)
    assert "h2 = " in res.summary()


def test_expected_information_by_brute_force(grm):
    K, S, U, X = grm
    UtX = U.T @ X
    h2 = 0.3
    # 0.5 tr(P Vi P Vj) with explicit P, sp2 profiled out
    w = h2 * S + 1 - h2
    Vi = np.diag(1 / w)
    P = Vi - Vi @ UtX @ np.linalg.inv(UtX.T @ Vi @ UtX) @ UtX.T @ Vi
    Vh, Vs = np.diag(S - 1), np.diag(w)
    i_hh = 0.5 * np.trace(P @ Vh @ P @ Vh)
    i_hs = 0.5 * np.trace(P @ Vh @ P @ Vs)
    i_ss = 0.5 * np.trace(P @ Vs @ P @ Vs)
    # round-off of either side: each trace a chain of N-term sums, within gamma(4N) of the
    # trace of the absolute values (|P| <= |Vi| + |Vi X| |M| |X' Vi|, M the small inverse)
    M = np.linalg.inv(UtX.T @ Vi @ UtX)
    Pa = np.abs(Vi) + np.abs(Vi @ UtX) @ np.abs(M) @ np.abs(UtX.T @ Vi)
    Ha, Sa = np.abs(Vh), np.abs(Vs)
    t_hh, t_hs, t_ss = (0.5 * np.trace(Pa @ A @ Pa @ B) for A, B in ((Ha, Ha), (Ha, Sa), (Sa, Sa)))
    err = gamma(4 * len(S)) * (t_hh + 2 * abs(i_hs) / i_ss * t_hs + (i_hs / i_ss) ** 2 * t_ss)
    assert expected_information_h2(h2, S=S, UtX=UtX) == pytest.approx(i_hh - i_hs ** 2 / i_ss,
                                                                       abs=2 * err)


def test_boundary_h2_zero_is_flagged_with_finite_se(grm):
    K, S, U, X = grm
    rng = np.random.default_rng(2)
    # rotated variance decreasing in S: the likelihood is maximised at h2 = 0
    Uty = rng.normal(size=len(S)) * (1.2 - S / S.max()) + U.T @ X @ [1.0, 0.5]
    res = reml_h2(S=S, UtX=U.T @ X, Uty=Uty, phenotype="noise")
    assert res.flag.startswith("boundary_h2_0")
    assert res.h2 < 1e-3 and np.isfinite(res.se) and res.se > 0
    assert res.se_method == "expected_information"


def test_boundary_h2_one_is_flagged_not_nan(grm):
    K, S, U, X = grm
    rng = np.random.default_rng(3)
    Uty = np.sqrt(S) * rng.normal(size=len(S)) + U.T @ X @ [1.0, 0.5]  # purely genetic
    res = reml_h2(S=S, UtX=U.T @ X, Uty=Uty, phenotype="genetic")
    assert "boundary_h2_1" in res.flag
    assert res.h2 > 0.99 and np.isfinite(res.se)


# --- bivariate REML -----------------------------------------------------------------------

def test_bivariate_gradient_matches_finite_differences(grm):
    K, S, U, X = grm
    rng = np.random.default_rng(4)
    Y = rng.normal(size=(len(S), 2))
    theta = np.array([0.5, 0.2, 0.4, 0.5, 0.1, 0.6])
    ll, grad = bv.bivariate_reml_loglik(theta, S=S, UtX=U.T @ X, UtY=Y, gradient=True)
    h = 1e-6
    num = [(bv.bivariate_reml_loglik(theta + h * e, S=S, UtX=U.T @ X, UtY=Y)
            - bv.bivariate_reml_loglik(theta - h * e, S=S, UtX=U.T @ X, UtY=Y)) / (2 * h)
           for e in np.eye(6)]
    # central differences: truncation h^2 |l'''| / 6 < 2e-9 here (|l'''| < 1e4), round-off
    # eps / h with eps <= gamma(4N) x (sum of |terms| of l, a few hundred): about 5e-5. Every
    # gradient entry here is >= 12 in size, so rtol 1e-5 plus atol 1e-5 (>= 1.3e-4) covers it
    assert np.abs(grad).min() >= 12
    np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-5)


def test_bivariate_rg_scale_invariant_and_sign(grm):
    K, S, U, X = grm
    y1 = _pheno(S, U, X, 0.6, 10)
    y2 = 0.7 * y1 + _pheno(S, U, X, 0.4, 11)
    UtX = U.T @ X
    r = bv.bivariate_reml(S=S, UtX=UtX, UtY=U.T @ np.column_stack([y1, y2]), pheno1="a",
                          pheno2="b")
    assert r.flag == "ok" and r.converged and 0.3 < r.rg <= 1 and 0 < r.se < 0.5
    assert 0 <= r.p < 0.05
    r2 = bv.bivariate_reml(S=S, UtX=UtX, UtY=U.T @ np.column_stack([5 * y1, -0.1 * y2]))
    # the fit scales each trait to unit residual variance (the rescaled data are equal up to
    # rounding) and stops when its Newton step is below 1e-6 in every covariance parameter:
    # (g11, g12, g22) within 1e-6 of the optimum in each fit, g_kk ~ h2_k on that scale, so
    # rg moves by at most 2e-6 |d rg / d g|_1
    assert r2.converged
    g11, g22 = r.h2_1, r.h2_2
    tol = 2e-6 * (1 + abs(r.rg) * (g11 + g22) / (2 * np.sqrt(g11 * g22))) / np.sqrt(g11 * g22)
    assert r2.rg == pytest.approx(-r.rg, abs=tol)
    # the SE moves with those parameters (relative ~ 2e-6 / g ~ 1e-5) and with the central
    # differences of the observed information (step 1e-5: ~1e-7 relative): 1e-4
    assert r2.se == pytest.approx(r.se, rel=1e-4)
    # the joint fit's h2 of each trait is close to the univariate REML h2
    u1 = reml_h2(S=S, UtX=UtX, Uty=U.T @ y1)
    assert r.h2_1 == pytest.approx(u1.h2, abs=0.05)


# --- Haseman-Elston ---------------------------------------------------------------------

def _pair_slope(K, z1, z2, keep):
    idx = np.flatnonzero(keep)
    Ks = K[np.ix_(idx, idx)]
    off = ~np.eye(len(idx), dtype=bool)
    zz = 0.5 * (np.outer(z1[idx], z2[idx]) + np.outer(z2[idx], z1[idx]))
    return np.polyfit(Ks[off], zz[off], 1)[0]


def test_he_slopes_and_jackknife_match_brute_force():
    n = 60
    K = random_grm(n=n, m=30, seed=1)
    rng = np.random.default_rng(2)
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    Y = rng.normal(size=(n, 2)) + K @ rng.normal(size=(n, 2)) * 0.3
    fit = he.he_regression(Y=Y, X=X, lower_rows=he.lower_rows_from_matrix(K, block_rows=7),
                           n_groups=5, seed=3)
    R = Y - X @ np.linalg.lstsq(X, Y, rcond=None)[0]
    Z = R / np.sqrt(np.sum(R * R, axis=0) / (n - 2))
    allk = np.ones(n, dtype=bool)
    assert fit.gcov[0, 0] == pytest.approx(_pair_slope(K, Z[:, 0], Z[:, 0], allk))
    assert fit.gcov[0, 1] == pytest.approx(_pair_slope(K, Z[:, 0], Z[:, 1], allk))
    labels = np.random.default_rng(3).permutation(n) % 5
    for g in range(5):
        keep = labels != g
        c = np.sqrt(np.sum(Z[keep] ** 2, axis=0) / (keep.sum() - 2))
        want = _pair_slope(K, Z[:, 0] / c[0], Z[:, 1] / c[1], keep)
        assert fit.gcov_jk[g, 0, 1] == pytest.approx(want)


def test_gcta_grm_roundtrip_streams_the_same_answer(tmp_path):
    n = 50
    K = random_grm(n=n, m=40, seed=7)
    iid = np.array([f"i{k}" for k in range(n)])
    grm_io.write_gcta_grm(tmp_path / "g", K=K, fid=iid, iid=iid)
    fid, got_iid = grm_io.read_gcta_grm_ids(tmp_path / "g")
    assert list(got_iid) == list(iid)
    order = np.random.default_rng(0).permutation(n)[:40]
    # the .grm.bin holds float32: each entry within half a float32 ulp (2^-24 relative)
    np.testing.assert_allclose(grm_io.read_gcta_grm_matrix(tmp_path / "g", index=order),
                               K[np.ix_(order, order)], rtol=U32, atol=0)
    rng = np.random.default_rng(1)
    Y = rng.normal(size=(40, 1))
    X = np.ones((40, 1))
    rows = grm_io.read_gcta_grm(tmp_path / "g", index=order, block_rows=9)
    a = he.he_regression(Y=Y, X=X, lower_rows=rows)
    b = he.he_regression(Y=Y, X=X, lower_rows=he.lower_rows_from_matrix(K[np.ix_(order, order)]))
    # HE's slope b = sum kc zzc / sum kc^2 over pairs (kc, zzc centred) moves by at most
    # sum |dk| |zzc - 2 b kc| / sum kc^2 when each k moves by |dk| <= 2^-24 |k| (float32),
    # plus both computations' round-off (sums of n^2 terms)
    Ko = K[np.ix_(order, order)]
    off = ~np.eye(len(order), dtype=bool)
    z = (Y[:, 0] - Y[:, 0].mean()) / Y[:, 0].std(ddof=1)
    k, zz = Ko[off], np.outer(z, z)[off]
    kc, zzc = k - k.mean(), zz - zz.mean()
    tol = (np.sum(U32 * np.abs(k) * (np.abs(zzc) + 2 * abs(b.h2[0]) * np.abs(kc)))
           + 2 * gamma(len(k)) * np.sum(np.abs(kc * zzc))) / np.sum(kc ** 2)
    assert a.h2[0] == pytest.approx(b.h2[0], abs=tol)


def test_he_traces_hutchinson_close_to_exact():
    K = random_grm(n=200, m=80, seed=8)
    exact = he.he_traces(K=K)
    approx = he.he_traces(lower_rows_factory=lambda: he.lower_rows_from_matrix(K, block_rows=64),
                          n=200, n_probes=64, seed=1)
    assert approx.t0 == pytest.approx(exact.t0)
    for name in ("t1", "t2", "t3", "tk2"):
        assert getattr(approx, name) == pytest.approx(getattr(exact, name), rel=0.1), name


# --- dataset layer: missingness, bad input ------------------------------------------------

def test_estimate_flags_bad_phenotypes_and_handles_missingness(grm):
    K, S, U, X = grm
    n = K.shape[0]
    y = _pheno(S, U, X, 0.5, 20)
    y_missing = y.copy()
    y_missing[:40] = np.nan
    sparse = np.full(n, np.nan)
    sparse[:5] = 1.0
    Y = pd.DataFrame({"a": y, "b": y_missing, "const": np.full(n, 3.0), "sparse": sparse})
    est = estimate_heritability(Y=Y, similarity=DenseSimilarity(K), covar=X[:, 1:],
                                covar_names=["c1"], method="reml",
                                rg_pairs=[("a", "b"), ("a", "const")])
    rows = {r.phenotype: r for r in est.h2}
    assert rows["a"].flag == "ok" and rows["a"].n == n
    assert rows["b"].n == n - 40 and np.isfinite(rows["b"].h2)
    assert rows["const"].flag == "constant_phenotype" and np.isnan(rows["const"].h2)
    assert rows["sparse"].flag == "too_few_individuals"
    frame = est.h2_frame()
    assert list(frame.columns) == ["phenotype", "n", "h2", "se", "sg2", "se2", "method",
                                   "converged", "flag"]
    # never a silent NaN: every NaN row carries a flag
    assert (frame.loc[frame.h2.isna() | frame.se.isna(), "flag"] != "ok").all()
    rg = {(r.pheno1, r.pheno2): r for r in est.rg}
    assert rg[("a", "b")].rg == pytest.approx(1.0, abs=0.02)  # same trait, fewer individuals
    assert rg[("a", "const")].flag == "constant_phenotype"
    assert "h2 = " in est.summary()


def test_he_method_agrees_with_reml_roughly(grm):
    K, S, U, X = grm
    Y = pd.DataFrame({"a": _pheno(S, U, X, 0.5, 21), "b": _pheno(S, U, X, 0.5, 22)})
    r = estimate_heritability(Y=Y, similarity=DenseSimilarity(K), covar=X[:, 1:],
                              covar_names=["c1"], method="reml").h2
    for se in ("moments", "jackknife"):
        h = estimate_heritability(Y=Y, similarity=DenseSimilarity(K), covar=X[:, 1:],
                                  covar_names=["c1"], method="he", he_groups=10, he_se=se,
                                  rg_pairs=[("a", "b")])
        for a, b in zip(r, h.h2):
            assert b.method == "HE" and b.se_method == se and b.se > 0
            assert abs(a.h2 - b.h2) < 2.5 * max(a.se, b.se)
        assert np.isfinite(h.rg[0].rg) and np.isfinite(h.rg[0].se) and h.rg[0].method == "HE"


@pytest.mark.parametrize("bad, message", [
    (lambda K: np.zeros_like(K), "zero"),
    (lambda K: np.ones_like(K), "no information beyond the covariates"),
    (lambda K: np.where(np.eye(len(K), dtype=bool), np.nan, K), "non-finite"),
    (lambda K: K + np.triu(np.ones_like(K), 1), "not symmetric"),
])
def test_singular_similarity_is_a_clear_error(grm, bad, message):
    K, S, U, X = grm
    Y = pd.DataFrame({"a": _pheno(S, U, X, 0.5, 30)})
    with pytest.raises(InputError, match=message):
        estimate_heritability(Y=Y, similarity=DenseSimilarity(bad(K)), method="reml")


def test_singular_similarity_he_is_a_clear_error(grm):
    K, S, U, X = grm
    Y = pd.DataFrame({"a": _pheno(S, U, X, 0.5, 31)})
    with pytest.raises(InputError, match="every pair equally related"):
        estimate_heritability(Y=Y, similarity=DenseSimilarity(np.ones_like(K)), method="he")


def test_rank_deficient_similarity_is_fine(grm):
    """Fewer SNPs than individuals (rank < N) is the usual case, not an error."""
    K = random_grm(n=120, m=20, seed=9)
    assert np.linalg.matrix_rank(K) < 120
    rng = np.random.default_rng(0)
    Y = pd.DataFrame({"a": rng.normal(size=120)})
    r = estimate_heritability(Y=Y, similarity=DenseSimilarity(K), method="reml").h2[0]
    assert np.isfinite(r.h2) and np.isfinite(r.se)


def test_one_individual_is_a_clear_error():
    with pytest.raises(InputError, match="only 1 individual"):
        estimate_heritability(Y=pd.DataFrame({"a": [1.0]}),
                              similarity=DenseSimilarity(np.ones((1, 1))), method="reml")


# --- command line -------------------------------------------------------------------------

def _write_inputs(tmp_path, K, X, ys: dict[str, np.ndarray]):
    n = K.shape[0]
    iid = np.array([f"s{k}" for k in range(n)])
    grm_io.write_gcta_grm(tmp_path / "grm", K=K, fid=iid, iid=iid)
    ph = pd.DataFrame({"FID": iid, "IID": iid, **ys})
    ph.to_csv(tmp_path / "pheno.tsv", sep="\t", index=False, na_rep="NA")
    cv = pd.DataFrame({"FID": iid[::-1], "IID": iid[::-1], "age": X[::-1, 1]})
    cv.to_csv(tmp_path / "covar.tsv", sep="\t", index=False)


def test_cli_writes_tables_and_log(grm, tmp_path):
    from contig_gwas.cli import _common
    from contig_gwas.cli import h2 as cli

    K, S, U, X = grm
    y = _pheno(S, U, X, 0.5, 40)
    _write_inputs(tmp_path, K, X, {"PC_0": y, "height": 0.5 * y + _pheno(S, U, X, 0.3, 41),
                                   "flat": np.ones(len(y))})
    out = str(tmp_path / "res")
    argv = ["--grm", str(tmp_path / "grm"), "--pheno", str(tmp_path / "pheno.tsv"),
            "--covar", str(tmp_path / "covar.tsv"), "--method", "reml", "--rg", "--out", out]
    assert cli.main(argv) == 0
    h2 = pd.read_csv(out + ".h2.tsv", sep="\t")
    assert list(h2.columns) == ["phenotype", "n", "h2", "se", "sg2", "se2", "method",
                                "converged", "flag"]
    assert list(h2.phenotype) == ["PC_0", "height", "flat"]
    assert h2.set_index("phenotype").loc["flat", "flag"] == "constant_phenotype"
    rg = pd.read_csv(out + ".rg.tsv", sep="\t")
    assert list(rg.columns[:5]) == ["pheno1", "pheno2", "rg", "se", "p"]
    # default pairs: the learned phenotype (PC_0) against every other phenotype
    assert set(zip(rg.pheno1, rg.pheno2)) == {("PC_0", "height"), ("PC_0", "flat")}
    log = (tmp_path / "res.log").read_text()
    assert "PC_0: h2 = " in log and "aligned: 300 individuals" in log
    # refuses to overwrite; --overwrite replaces
    assert _common.run(cli.main, argv) == 2
    assert cli.main(argv + ["--overwrite", "--method", "he"]) == 0
    assert set(pd.read_csv(out + ".h2.tsv", sep="\t").method) == {"HE"}


def test_cli_bad_inputs_exit_cleanly(grm, tmp_path, capsys):
    from contig_gwas.cli import _common
    from contig_gwas.cli import h2 as cli

    K, S, U, X = grm
    _write_inputs(tmp_path, K, X, {"a": _pheno(S, U, X, 0.5, 50)})
    one = pd.DataFrame({"FID": ["s0"], "IID": ["s0"], "a": [1.0]})
    one.to_csv(tmp_path / "one.tsv", sep="\t", index=False)
    code = _common.run(cli.main, ["--grm", str(tmp_path / "grm"), "--pheno",
                                  str(tmp_path / "one.tsv"), "--out", str(tmp_path / "x")])
    assert code == 2 and "individuals overlap" in capsys.readouterr().err
    (tmp_path / "pairs.txt").write_text("a nope\n")
    code = _common.run(cli.main, ["--grm", str(tmp_path / "grm"), "--pheno",
                                  str(tmp_path / "pheno.tsv"), "--rg-pairs",
                                  str(tmp_path / "pairs.txt"), "--out", str(tmp_path / "y")])
    assert code == 2 and "no phenotype 'nope'" in capsys.readouterr().err


def test_he_from_genotype_blocks_matches_the_dense_path():
    from contig_gwas.gwas.kinship import standardised_kinship
    from contig_gwas.heritability.he_genotypes import he_from_genotypes

    n, m = 200, 300
    rng = np.random.default_rng(3)
    G = rng.binomial(2, rng.uniform(0.05, 0.5, size=m), size=(n, m)).astype(float)
    G[rng.random(G.shape) < 0.01] = np.nan                      # missing calls
    K = standardised_kinship(dosages=G)
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    Y = K @ rng.normal(size=(n, 2)) * 0.4 + rng.normal(size=(n, 2))

    def blocks():
        return (G[:, a:a + 15] for a in range(0, m, 15))

    dense = he.he_regression(Y=Y, X=X, lower_rows=he.lower_rows_from_matrix(K),
                             traces=he.he_traces(K=K))
    stream = he_from_genotypes(blocks=blocks(), Y=Y, X=X, n_probes=200, second_pass=blocks)
    np.testing.assert_allclose(stream.gcov, dense.gcov, rtol=0.05, atol=0.01)
    np.testing.assert_allclose(stream.h2_se, dense.h2_se, rtol=0.15)
    assert stream.se_method == "moments" and stream.n_groups == 20
    jk = he_from_genotypes(blocks=blocks(), Y=Y, X=X)           # variant-block jackknife
    assert jk.se_method == "jackknife" and np.all(jk.h2_se > 0)
