"""contig-gwas scalable mode (BOLT-LMM-inf, step 1 / step 2): agreement with the exact mode on
a cohort with relatives and population structure, calibration, power, step-1 save/reload,
resumability and bad input (the exact mode's behaviour). The BOLT-LMM comparison is in
bench/gwas_scalable.py (it needs the bolt binary and a larger cohort)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from test_gwas_data import simulate_genotypes, write_cohort
from tolerances import gamma, half_unit

from contig_gwas.errors import InputError
from contig_gwas.gwas.engine import GwasOptions, run_gwas
from contig_gwas.gwas.kinship import standardised_kinship
from contig_gwas.gwas.nullmodel import fit_null_model
from contig_gwas.gwas.scalable.codes import Step1Genotypes
from contig_gwas.gwas.scalable.engine import run_gwas_scalable
from contig_gwas.gwas.scalable.krylov import batched_cg, batched_lanczos
from contig_gwas.gwas.scalable.step1 import Step1Settings, fit_step1
from contig_gwas.io.genotypes import open_genotypes
from contig_gwas.io.sumstats import read_sumstats

N_NULL = 8


# ---- array layer: against dense linear algebra -------------------------------------------

def test_krylov_solvers_match_dense_solves():
    rng = np.random.default_rng(0)
    n = 120
    A = [np.cov(rng.normal(size=(n, 3 * n))) for _ in range(2)]
    B = rng.normal(size=(n, 4))
    which = np.array([0, 1, 0, 1])
    delta = np.array([0.1, 1.0, 3.0, 0.5])

    def apply(R, cols):
        return np.column_stack([A[which[c]] @ R[:, j] for j, c in enumerate(cols)])

    cg = batched_cg(apply, B, delta=delta, tol=1e-10)
    assert cg.converged.all()
    exact = [np.linalg.solve(A[which[j]] + delta[j] * np.eye(n), B[:, j]) for j in range(4)]
    eig = [np.linalg.eigvalsh(A[which[j]] + delta[j] * np.eye(n)) for j in range(4)]

    def cg_error(j, n_iter):
        # |x - x*| <= |r_true| / lambda_min: the stopping rule bounds the recursively updated
        # residual by tol |b|, which drifts from the true one by at most ~k n u |A| |x|
        # (Greenbaum 1997, Iterative Methods for Solving Linear Systems, ch. 7); the dense
        # solve adds gamma(3n) cond |x|
        lo, hi = eig[j][0], eig[j][-1]
        xn = np.linalg.norm(exact[j])
        return ((1e-10 * np.linalg.norm(B[:, j]) + gamma((n + 2) * (n_iter + 1)) * hi * xn) / lo
                + gamma(3 * n) * hi / lo * xn)

    for j in range(4):
        assert np.abs(cg.x[:, j] - exact[j]).max() <= cg_error(j, cg.n_iter[j])
    # a start near the solution (its residual given or computed) converges in fewer steps
    x0 = np.column_stack(exact) + 1e-3 * rng.normal(size=(n, 4))
    r0 = B - apply(x0, np.arange(4)) - delta * x0
    for warm in (batched_cg(apply, B, delta=delta, tol=1e-10, x0=x0.copy()),
                 batched_cg(apply, B, delta=delta, tol=1e-10, x0=x0.copy(), r0=r0.copy())):
        assert warm.converged.all() and (warm.n_iter < cg.n_iter).all()
        for j in range(4):
            assert (np.abs(warm.x[:, j] - cg.x[:, j]).max()
                    <= cg_error(j, cg.n_iter[j]) + cg_error(j, warm.n_iter[j]))
    q = batched_lanczos(apply, B, max_iter=200, tol=1e-12, ref_delta=0.1, keep=[0, 3],
                        keep_steps=200)
    for j in range(4):
        for d in (0.1, 2.0):
            exact = B[:, j] @ np.linalg.solve(A[which[j]] + d * np.eye(n), B[:, j])
            # the Gauss quadrature increases to b'(A + d)^-1 b; it stopped when it moved by
            # less than tol = 1e-12 (relative) over 2 steps at the slowest shift, so what is
            # left is below tol while the error shrinks by half or more in 2 steps (CG rate
            # ((sqrt(k) - 1) / (sqrt(k) + 1))^2 <= 0.26 per step at condition k <= 9.3 here)
            assert np.isclose(q.inverse(j, d)[0], exact, rtol=2e-12, atol=0)
    # the kept Lanczos vectors give the solutions at any shift; a capped basis gives the
    # conjugate-gradient iterate of that step
    q5 = batched_lanczos(apply, B, max_iter=200, tol=1e-12, ref_delta=0.1, keep=[1],
                         keep_steps=5)
    assert q5.basis[1].shape == (n, 5)
    cg5 = batched_cg(lambda R, cols: apply(R, cols + 1), B[:, [1]], delta=np.array([2.0]),
                     tol=0.0, max_iter=5)
    # the same iterate in exact arithmetic; two 5-step recurrences of n-vectors differ by
    # round-off: gamma(5 (n + 2)) times the condition number times |x|
    w1 = np.linalg.eigvalsh(A[1] + 2.0 * np.eye(n))
    tol5 = 2 * gamma(5 * (n + 2)) * w1[-1] / w1[0] * np.linalg.norm(cg5.x[:, 0])
    assert np.abs(q5.solve(1, 2.0) - cg5.x[:, 0]).max() <= tol5
    assert sorted(q.basis) == [0, 3]
    for j in (0, 3):
        for d in (0.1, 2.0):
            x = np.linalg.solve(A[which[j]] + d * np.eye(n), B[:, j])
            # the solution's error is the square root of the quadrature's: |x - x_k|_A^2 =
            # q - q_k <= 2 tol q_ref (as above, at the stopping shift 0.1, whose error is the
            # largest), and |e|_2 <= |e|_A / sqrt(lambda_min)
            w = np.linalg.eigvalsh(A[which[j]] + d * np.eye(n))
            q_ref = B[:, j] @ np.linalg.solve(A[which[j]] + 0.1 * np.eye(n), B[:, j])
            assert np.abs(q.solve(j, d) - x).max() <= np.sqrt(2e-12 * q_ref / w[0])
        ld = q.quad(j, np.log)[0]
        w, V = np.linalg.eigh(A[which[j]])
        # log is smooth on the spectrum [0.18, 2.5]: Gauss quadrature with the >= 20 nodes
        # the stopping rule took is exact to far below round-off (~ k n u cond ~ 1e-11);
        # 1e-5 only guards the comparison, it is not a measured value
        assert np.isclose(ld, (B[:, j] @ V) ** 2 @ np.log(w), rtol=1e-5)


def test_step1_matches_exact_reml_loco_solves_and_calibration():
    """Stochastic REML h2 vs the eigendecomposition REML (nullmodel), Pi_{-c} y vs a dense
    solve, and the calibration factor vs the exact mean of x'Pi x / |Px|^2."""
    rng = np.random.default_rng(5)
    n, m = 300, 1800
    g = simulate_genotypes(rng, n=n, m=m, sib_pairs=50, missing=0.005)
    chrom = np.repeat([1, 2, 3], m // 3)
    X = np.c_[np.ones(n), rng.normal(size=(n, 2))]
    z = np.nan_to_num((g - np.nanmean(g, 0)) / np.nanstd(g, 0))
    Y = np.column_stack([z @ rng.normal(0, np.sqrt(h / m), m) + rng.normal(0, np.sqrt(1 - h), n)
                         for h in (0.3, 0.7)]) + (X @ [1.0, 0.5, -0.2])[:, None]
    geno = Step1Genotypes.from_blocks([(g[:, chrom == c], np.full(m // 3, c)) for c in (1, 2, 3)],
                                      n=n, m=m)
    fit = fit_step1(genotypes=geno, X=X, Y=Y, names=["a", "b"], loco=True,
                    settings=Step1Settings(n_calibration=60))
    assert fit.converged.all()
    # one REML for all chromosomes (as BOLT-LMM): LOCO solves started from the genome-wide
    # solution, checked against dense solves at that shift
    shared = fit_step1(genotypes=geno, X=X, Y=Y, names=["a", "b"], loco=True,
                       settings=Step1Settings(n_calibration=60, loco_variance_components=False,
                                              cg_tol=1e-6))
    assert shared.converged.all() and list(shared.vc_loco) == [0]
    for ci, c in enumerate((1, 2, 3)):
        K = standardised_kinship(dosages=g[:, chrom != c])
        for j in range(2):
            Vi = np.linalg.inv(K + shared.delta[0, j] * np.eye(n))
            ViX = Vi @ X
            u = (Vi - ViX @ np.linalg.solve(X.T @ ViX, ViX.T)) @ Y[:, j]
            assert np.abs(shared.U[ci, :, j] - u).max() < 1e-3 * np.abs(u).max(), (c, j)
    for ci, c in enumerate((1, 2, 3)):
        K = standardised_kinship(dosages=g[:, chrom != c])
        S, U = np.linalg.eigh(K)
        xs = z[:, chrom == c][:, ::10]
        xt = xs - X @ np.linalg.lstsq(X, xs, rcond=None)[0]
        for j in range(2):
            ref = fit_null_model(S=S, UtX=U.T @ X, Uty=U.T @ Y[:, j])
            assert abs(fit.h2[ci, j] - ref.h2) < 0.03, (c, j, fit.h2[ci, j], ref.h2)
            Vi = np.linalg.inv(K + fit.delta[ci, j] * np.eye(n))
            ViX = Vi @ X
            Pi = Vi - ViX @ np.linalg.solve(X.T @ ViX, ViX.T)
            u = Pi @ Y[:, j]
            assert np.abs(fit.U[ci, :, j] - u).max() < 1e-3 * np.abs(u).max()
            assert np.isclose(fit.ypy[ci, j], Y[:, j] @ u, rtol=1e-4)
            ratio = np.einsum("ni,nm,mi->i", xs, Pi, xs) / (xt ** 2).sum(0)
            assert abs(fit.rho[ci, j] / ratio.mean() - 1) < 0.02, (fit.rho[ci, j], ratio.mean())


# ---- dataset layer on the simulator's cohort (relatives and population structure) --------

@pytest.fixture(scope="module")
def runs(tiny_cohort, tmp_path_factory):
    d = tmp_path_factory.mktemp("scalable")
    lt = pd.read_csv(tiny_cohort / "latent_traits.tsv", sep="\t")
    rng = np.random.default_rng(2024)
    for k in range(N_NULL):
        lt[f"null{k}"] = rng.normal(size=len(lt))
    lt.to_csv(d / "pheno.tsv", sep="\t", index=False)
    opts = dict(pheno=str(d / "pheno.tsv"), bfile=str(tiny_cohort / "genotypes"),
                covar=str(tiny_cohort / "covariates.tsv"), progress=False, block_size=500)
    names = [c for c in lt.columns if c not in ("FID", "IID")]
    exact = run_gwas(GwasOptions(out=str(d / "exact"), **opts))
    scal = run_gwas_scalable(GwasOptions(out=str(d / "scal"), **opts),
                             step1_out=str(d / "step1.npz"))
    return dict(d=d, opts=opts, names=names, exact=exact, scal=scal)


def _read(summary, name):
    return read_sumstats(summary.sumstats[name])


def test_agrees_with_exact_mode(runs):
    for name in runs["names"]:
        a, b = _read(runs["exact"], name), _read(runs["scal"], name)
        assert (a.variant_id.to_numpy() == b.variant_id.to_numpy()).all()
        r = np.corrcoef(a.neg_log10_p_value, b.neg_log10_p_value)[0, 1]
        assert r >= 0.99, (name, r)
        # the same hits at 5e-8, up to variants at the threshold (within a factor of 4)
        flip = (a.p_value < 5e-8) != (b.p_value < 5e-8)
        assert (np.maximum(a.p_value[flip], b.p_value[flip]) < 2e-7).all(), name
        assert flip.sum() <= max(1, 0.1 * (a.p_value < 5e-8).sum()), name
        assert np.allclose(a.effect_allele_frequency, b.effect_allele_frequency)
        assert (a.n == b.n).all()
    null = pd.read_csv(runs["scal"].nullmodel, sep="\t", keep_default_na=False)
    ex = pd.read_csv(runs["exact"].nullmodel, sep="\t", keep_default_na=False)
    m = null.merge(ex, on=["phenotype", "left_out_chromosome"], suffixes=("", "_exact"))
    assert len(m) == len(ex)
    assert (m.h2 - m.h2_exact).abs().max() < 0.05, m[["phenotype", "h2", "h2_exact"]]


def test_null_phenotypes_calibrated_and_power_kept(runs, tiny_cohort_truth):
    lam = [runs["scal"].lambda_gc[f"null{k}"] for k in range(N_NULL)]
    assert 0.95 <= np.mean(lam) <= 1.05, lam
    for k in range(N_NULL):
        assert (_read(runs["scal"], f"null{k}").p_value >= 5e-8).all()
    obs, ref = [], []
    for trait, t in tiny_cohort_truth["traits"].items():
        a = _read(runs["exact"], trait).set_index("variant_id")
        b = _read(runs["scal"], trait).set_index("variant_id")
        for c in t["causal_variants"]:
            ref.append(stats.chi2.isf(a.p_value[c["variant_id"]], 1))
            obs.append(stats.chi2.isf(b.p_value[c["variant_id"]], 1))
    obs, ref = np.array(obs), np.array(ref)
    diff = obs - ref
    # power at the planted variants: no worse than exact minus the sampling noise of the mean
    assert obs.mean() >= ref.mean() - 2 * diff.std() / np.sqrt(len(diff)) - 0.02 * ref.mean()
    assert ((obs > stats.chi2.isf(5e-8, 1)).sum()
            >= (ref > stats.chi2.isf(5e-8, 1)).sum() - 1)


def test_step1_reload_gives_identical_step2(runs):
    d, opts = runs["d"], runs["opts"]
    again = run_gwas_scalable(GwasOptions(out=str(d / "again"), **opts),
                              step1_in=str(d / "step1.npz"))
    # a reloaded step 1 (an exact .npz) runs the same step-2 code on the same values: bitwise
    for name in runs["names"]:
        a, b = _read(runs["scal"], name), _read(again, name)
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    # step 2 scattered over one chromosome reuses the same step 1 (blocks start at each
    # chromosome's first variant, so chromosome 2's blocks have the same shapes: bitwise)
    part = run_gwas_scalable(GwasOptions(out=str(d / "chr2"), chromosomes=[2], **opts),
                             step1_in=str(d / "step1.npz"))
    a = _read(runs["scal"], "null0")
    b = _read(part, "null0")
    pd.testing.assert_frame_equal(a[a.chromosome == 2].reset_index(drop=True), b,
                                  check_exact=True)
    # other phenotype values: refused, nothing written
    ph = pd.read_csv(opts["pheno"], sep="\t")
    ph["null0"] = ph["null0"] * 2
    ph.to_csv(d / "pheno2.tsv", sep="\t", index=False)
    with pytest.raises(InputError, match="differ"):
        run_gwas_scalable(GwasOptions(out=str(d / "bad"),
                                      **{**opts, "pheno": str(d / "pheno2.tsv")}),
                          step1_in=str(d / "step1.npz"))
    assert not list(d.glob("bad*"))
    with pytest.raises(InputError, match="not a contig-gwas step-1 file"):
        run_gwas_scalable(GwasOptions(out=str(d / "bad"), **opts), step1_in=opts["pheno"])


def test_warm_started_loco_solves_give_the_cold_results(runs):
    """One h2 per phenotype (as BOLT-LMM; the default from 7 chromosomes on): LOCO solves
    warm-started from the genome-wide solutions give the statistics of solves from zero."""
    d, opts = runs["d"], runs["opts"]
    out = {}
    for warm in (True, False):
        s = Step1Settings(loco_variance_components=False, warm_start=warm, cg_tol=1e-5)
        out[warm] = run_gwas_scalable(GwasOptions(out=str(d / f"warm{warm}"), **opts),
                                      settings=s)
    # every solve stops at relative residual cg_tol = 1e-5, so its solution is within
    # cond(K_-c + delta I) x 1e-5 (relative) of the exact one, in either run; chi2 takes that
    # twice from V^-1 y and once from the calibration factor, and -log10 p moves by the
    # relative change of chi2 times at most (1 + -log10 p); both files hold 6 digits
    null = pd.read_csv(out[True].nullmodel, sep="\t", keep_default_na=False)
    src = open_genotypes(bfile=opts["bfile"])
    chrom = src.variants.chromosome.to_numpy()
    g = src.read().dosages
    lmax = max(np.linalg.eigvalsh(standardised_kinship(dosages=g[:, chrom != c]))[-1]
               for c in np.unique(chrom))
    for name in runs["names"]:
        a, b = _read(out[True], name), _read(out[False], name)
        delta = null.loc[null.phenotype == name, "delta"].min()
        rel = 2 * 3 * (lmax + delta) / delta * 1e-5
        x, y = a.neg_log10_p_value.to_numpy(), b.neg_log10_p_value.to_numpy()
        assert np.all(np.abs(x - y) <= rel * (1 + y) + half_unit(x) + half_unit(y)), name


# ---- bad input and resumability: as the exact mode ---------------------------------------

@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return write_cohort(tmp_path_factory.mktemp("small_scalable"), n=150, m=360, n_chrom=3,
                        seed=3, sib_pairs=20)


def _both_fail(tmp_path: Path, expect: str, **kw):
    msgs = []
    for mode, fn in (("exact", run_gwas), ("scalable", run_gwas_scalable)):
        out = tmp_path / mode
        out.mkdir(parents=True)
        with pytest.raises(InputError, match=expect) as e:
            fn(GwasOptions(out=str(out / "run"), progress=False, **kw))
        assert list(out.iterdir()) == [], mode
        msgs.append(str(e.value))
    assert msgs[0] == msgs[1]


def test_bad_input_behaves_as_exact_mode(small, tmp_path):
    ph = pd.read_csv(small.pheno, sep="\t")
    p = tmp_path / "other.tsv"
    ph.assign(IID="x" + ph.IID, FID="x" + ph.FID).to_csv(p, sep="\t", index=False)
    _both_fail(tmp_path / "a", "do not overlap", bfile=small.prefix, pheno=str(p))
    one = write_cohort(tmp_path / "one", n=60, m=100, n_chrom=1, seed=4, sib_pairs=5)
    _both_fail(tmp_path / "b", "--no-loco", bfile=one.prefix, pheno=one.pheno)
    const = tmp_path / "const.tsv"
    ph.assign(T0=1.0)[["FID", "IID", "T0"]].to_csv(const, sep="\t", index=False)
    _both_fail(tmp_path / "c", "no usable phenotype", bfile=small.prefix, pheno=str(const))
    bed = Path(small.prefix + ".bed").read_bytes()
    trunc = tmp_path / "trunc"
    for ext in (".bim", ".fam"):
        trunc.with_suffix(ext).write_bytes(Path(small.prefix + ext).read_bytes())
    trunc.with_suffix(".bed").write_bytes(bed[:-50])
    _both_fail(tmp_path / "d", "truncated", bfile=str(trunc), pheno=small.pheno)


def test_skipped_phenotype_and_resume_identical(small, tmp_path):
    ph = pd.read_csv(small.pheno, sep="\t").assign(CONST=2.0)
    p = tmp_path / "p.tsv"
    ph.to_csv(p, sep="\t", index=False)
    opts = dict(bfile=small.prefix, pheno=str(p), covar=small.covar, progress=False,
                block_size=50)
    full = run_gwas_scalable(GwasOptions(out=str(tmp_path / "full"), **opts))
    assert "CONST" not in full.sumstats and "T0" in full.sumstats
    with pytest.raises(RuntimeError, match="injected"):
        run_gwas_scalable(GwasOptions(out=str(tmp_path / "cut"), **opts), fail_after_chunks=3)
    assert (tmp_path / "cut.chunks" / "step1.npz").exists()
    resumed = run_gwas_scalable(GwasOptions(out=str(tmp_path / "cut"), **opts))
    assert resumed.resumed_chunks == 3
    # the same code on the same inputs (step 1 saved exactly, one BLAS thread): bitwise
    for name in full.sumstats:
        pd.testing.assert_frame_equal(read_sumstats(full.sumstats[name]),
                                      read_sumstats(resumed.sumstats[name]), check_exact=True)


def test_no_loco_agrees_with_exact_mode(small, tmp_path):
    opts = dict(bfile=small.prefix, pheno=small.pheno, covar=small.covar, progress=False,
                loco=False)
    a = run_gwas(GwasOptions(out=str(tmp_path / "exact"), **opts))
    b = run_gwas_scalable(GwasOptions(out=str(tmp_path / "scal"), **opts))
    null = pd.read_csv(b.nullmodel, sep="\t", keep_default_na=False)
    assert set(null.left_out_chromosome) == {"all"}
    for name in a.sumstats:
        x, y = read_sumstats(a.sumstats[name]), read_sumstats(b.sumstats[name])
        r = np.corrcoef(x.neg_log10_p_value, y.neg_log10_p_value)[0, 1]
        assert r >= 0.99, (name, r)


def test_hard_call_fast_path_equals_dosage_path():
    """PLINK hard calls (int8) give the same QC, imputation and step-1 codes as the dosage
    path: monomorphic, all-missing, heterozygous-only and missing-heavy columns included."""
    from contig_gwas.gwas.association import impute_block, impute_calls
    from contig_gwas.gwas.qc import calls_qc, variant_qc
    from contig_gwas.gwas.scalable.codes import encode_block, encode_calls

    rng = np.random.default_rng(3)
    g = rng.binomial(2, rng.uniform(0.05, 0.5, 60), (300, 60)).astype(np.int8)
    g[:, 9] = rng.integers(0, 3, 300)                   # fails HWE
    g[rng.random(g.shape) < 0.05] = -127
    g[:, 3], g[:, 4], g[:, 6] = 1, 2, -127
    g[:150, 5], g[150:, 5] = 0, -127
    g[:, 7] = rng.integers(0, 2, 300)
    g[:, 8] = np.where(rng.random(300) < 0.6, -127, 2)
    g = np.asfortranarray(g)
    d = np.where(g < 0, np.nan, g).astype(np.float32)
    fast = calls_qc(calls=g, maf=0.01, geno=0.1, hwe=1e-6)
    slow = variant_qc(dosages=d, maf=0.01, geno=0.1, hwe=1e-6)
    # both paths count calls (sums of small integers: exact in float32 and float64) and
    # apply the same formulas to the counts; 1e-12 only allows another order of a division
    for f in ("effect_allele_frequency", "n_called", "missing_rate", "hwe_p", "keep"):
        assert np.allclose(getattr(fast, f), getattr(slow, f), rtol=1e-12, atol=0,
                           equal_nan=True), f
    assert all((fast.fail[k] == slow.fail[k]).all() for k in slow.fail)
    assert fast.fail["monomorphic"][[3, 4, 5, 6]].all() and fast.fail["hwe"][9]
    assert fast.keep.sum() > 40
    for x, y in zip(impute_calls(g), impute_block(d)):
        assert np.allclose(x, y, rtol=1e-12, atol=0)
    for x, y in zip(encode_calls(g), encode_block(d)):
        assert np.array_equal(x, y)


# ---- threads: the same bits for any number ------------------------------------------------

def _random_codes(n: int, m: int, *, block: int, seed: int = 5) -> Step1Genotypes:
    """Hard-call codes of ``m`` variants on 3 chromosomes, ``block`` variants per block."""
    from contig_gwas.gwas.scalable.codes import encode_calls

    rng = np.random.default_rng(seed)
    g = rng.binomial(2, rng.uniform(0.05, 0.5, m), (n, m)).astype(np.int8)
    g[rng.random(g.shape) < 0.01] = -127
    codes, a, b, ss = encode_calls(np.asfortranarray(g))
    chrom = np.repeat([1, 2, 3], -(-m // 3))[:m]
    return Step1Genotypes(codes=np.asfortranarray(codes), a=a, b=b, ss=ss, chromosome=chrom,
                          block=block)


def test_step1_passes_are_the_same_bits_for_any_thread_count():
    """The passes over the codes are sums of fixed tasks (``Step1Genotypes.tasks``, grouping
    several blocks here: 300 blocks) added in task order: 1, 2 and 4 threads give the same
    bits, and the sum is the dense product (float32 products)."""
    from contig_gwas.gwas.parallel import Workers
    from contig_gwas.gwas.scalable.codes import task_blocks

    geno = _random_codes(120, 600, block=2)
    assert task_blocks(len(list(geno._ranges()))) == 2 and len(geno.tasks()) == 150
    rng = np.random.default_rng(6)
    R = rng.normal(size=(120, 7))
    loco = np.array([0, 1, 2, 3, 1, 2, 3])
    out = {}
    for t in (1, 2, 4):
        with Workers(t) as w:
            out[t] = (geno.kinship_times(R, loco=loco, workers=w),
                      geno.chromosome_times(R, workers=w), geno.cross(R, workers=w))
    for t in (2, 4):
        for x, y in zip(out[1], out[t]):
            assert np.array_equal(x, y), t
    Z = geno.standardised(0, geno.m).astype(np.float64)
    for i, c in enumerate(loco):
        keep = geno.chromosome != c
        ref = geno.scale(int(c)) * Z[:, keep] @ (Z[:, keep].T @ R[:, i])
        # float32 products of 600 terms of size ~1: relative round-off a few 1e-6
        assert np.abs(out[1][0][:, i] - ref).max() < 1e-4 * np.abs(ref).max()
    assert np.allclose(out[1][1].sum(axis=0)[:, 0] * geno.scale(0), out[1][0][:, 0], rtol=1e-5,
                       atol=1e-5 * np.abs(out[1][0][:, 0]).max())
    # the step-1 fit on those passes: identical for 1 and 3 threads
    X = np.column_stack([np.ones(120), rng.normal(size=120)])
    Y = rng.normal(size=(120, 2))
    fits = []
    for t in (1, 3):
        with Workers(t) as w:
            fits.append(fit_step1(genotypes=geno, X=X, Y=Y, names=["a", "b"], workers=w))
    for f in ("U", "ypy", "delta", "rho", "loglik"):
        assert np.array_equal(getattr(fits[0], f), getattr(fits[1], f)), f


@pytest.mark.parametrize("bits", [2, 8])
def test_step2_reads_step1_codes_back_as_the_calls(tmp_path, monkeypatch, bits):
    """Step 2 reads the test genotypes from step 1's codes (``blocks.Step1Pass``): the calls
    the file holds, bit for bit, including (8 bits) variants whose missing calls get the code
    of a call (mean within 1/254 of 0, 1 or 2; 2-bit codes hold missing calls as such), and
    step 1's QC decisions."""
    import bed_reader

    from contig_gwas.gwas.parallel import Workers
    from contig_gwas.gwas.scalable.blocks import group_subsets, model_genotypes, take_rows
    from contig_gwas.runlog import NullLog

    rng = np.random.default_rng(8)
    n, m = 400, 90
    g = rng.binomial(2, rng.uniform(0.05, 0.5, m), (n, m)).astype(np.int8)
    g[rng.random(g.shape) < 0.03] = -127
    # over the analysed individuals (rows 5 on): mean 1, a missing call gets the code of a het
    g[5:, 10] = np.r_[np.zeros(195), np.full(195, 2), [-127] * 5]
    g[:, 11] = np.r_[np.zeros(399), [-127]]                          # monomorphic
    g[5:, 12] = np.r_[np.zeros(393), [1, -127]]                      # mean 1/394: code 0
    g[:, 13] = np.r_[np.full(120, -127), rng.integers(0, 3, 280)]    # 30% missing
    chrom = np.repeat([1, 2], m // 2)
    iid = np.array([f"i{k}" for k in range(n)])
    bed_reader.to_bed(tmp_path / "g.bed", g, properties={
        "fid": iid, "iid": iid, "sid": [f"v{j}" for j in range(m)],
        "chromosome": chrom.astype(str), "bp_position": np.arange(m) + 1,
        "allele_1": np.full(m, "A"), "allele_2": np.full(m, "G")})
    src = open_genotypes(bfile=str(tmp_path / "g"))
    rows = np.arange(5, n)                                         # the analysed individuals

    class Group:
        def __init__(self, r):
            self.rows, self.n = r, len(r)

    groups = [Group(np.arange(len(rows))), Group(np.arange(0, len(rows), 2))]
    qc = dict(maf=None, geno=0.2, hwe=None, min_info=None)
    with Workers(2) as w:
        genos, saved = model_genotypes(src=src, rows=rows, groups=groups, qc_thresholds=qc,
                                       block_size=16, max_variants=None, progress=False,
                                       log=NullLog(), workers=w, keep_calls=True, bits=bits)
    assert saved is not None and all(g.bits == bits for g in genos)
    if bits == 8:
        assert saved.column[10] in saved.odd[0] and saved.column[12] in saved.odd[0]
    else:
        assert saved.odd == [{}, {}]
    variants = np.arange(m)
    keep, fail = saved.qc(variants)
    ref = block_qc_of(src, rows, variants, qc)
    assert np.array_equal(keep, ref.keep) and all(np.array_equal(fail[k], ref.fail[k])
                                                  for k in ref.fail)
    assert fail["monomorphic"][11] and fail["geno"][13] and keep[[10, 12]].all()
    calls = src.read_calls(samples=rows, variants=variants[keep])
    for k, sub in enumerate(group_subsets(groups, len(rows))):
        got = saved.calls(variants[keep], k)
        want = take_rows(calls, sub)
        assert got.flags.f_contiguous == want.flags.f_contiguous
        assert np.array_equal(got, want), k
        part = variants[keep][3:9]                                 # a block inside
        assert np.array_equal(saved.calls(part, k), take_rows(
            src.read_calls(samples=rows, variants=part), sub))
    # nothing from thinned variants or --grm-bfile (no QC); QC decisions only from dosages
    for thin, q in ((50, qc), (None, None)):
        assert model_genotypes(src=src, rows=rows, groups=groups, qc_thresholds=q,
                               block_size=16, max_variants=thin, progress=False, log=NullLog(),
                               keep_calls=True)[1] is None
    monkeypatch.setattr(type(src), "hard_calls", False)
    dos = model_genotypes(src=src, rows=rows, groups=groups, qc_thresholds=qc, block_size=16,
                          max_variants=None, progress=False, log=NullLog(),
                          keep_calls=True)[1]
    assert dos is not None and not dos.has_calls
    assert np.array_equal(dos.reason, saved.reason)
    with pytest.raises(ValueError, match="dosages"):
        dos.calls(variants[keep], 0)


def block_qc_of(src, rows, variants, qc):
    from contig_gwas.gwas.scalable.blocks import block_qc, read_block

    calls, block = read_block(src, rows, variants)
    return block_qc(calls, block, qc)
