"""contig-h2 on binary phenotypes: detection, the liability-scale conversion (Lee et al. 2011)
against closed forms and a simulation with known truth, the table, the log and bad input."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
from tolerances import gamma, half_unit, reml_h2_resolution

from contig_gwas.errors import InputError
from contig_gwas.heritability import grm_io
from contig_gwas.heritability.calibration import random_genotypes
from contig_gwas.heritability.estimate import H2_COLUMNS, DenseSimilarity, estimate_heritability
from contig_gwas.heritability.liability import (
    LIABILITY_COLUMNS,
    binary_coding,
    liability_factor,
    parse_prevalences,
    resolve_prevalences,
)

# --- the conversion factor ----------------------------------------------------------------

def test_factor_at_half_is_pi_over_2():
    # K = P = 1/2: the threshold is 0, z = 1/sqrt(2 pi): (1/16) / ((1/4) / (2 pi)) = pi / 2;
    # a handful of roundings (gamma(8)) between the two
    assert liability_factor(prevalence=0.5, sample_prevalence=0.5) == pytest.approx(
        math.pi / 2, rel=gamma(8), abs=0)


@pytest.mark.parametrize("k, p", [(0.2, 0.2), (0.02, 0.02), (0.01, 0.5), (0.3, 0.1)])
def test_factor_against_scipy_and_ascertainment_form(k, p):
    from scipy.stats import norm

    z = norm.pdf(norm.isf(k))
    lee = k ** 2 * (1 - k) ** 2 / (p * (1 - p) * z ** 2)  # Lee et al. 2011, eq. 23
    # two implementations of the normal quantile (AS241 in statistics, cephes in scipy), each
    # within a few ulps; z^2 amplifies the quantile's error by 2 |t| <= 5: 1e-12 is generous
    assert liability_factor(prevalence=k, sample_prevalence=p) == pytest.approx(lee, rel=1e-12)
    # the ascertainment correction is the random-sample factor times K(1-K) / (P(1-P))
    random = liability_factor(prevalence=k, sample_prevalence=k)
    assert liability_factor(prevalence=k, sample_prevalence=p) == pytest.approx(
        random * k * (1 - k) / (p * (1 - p)), rel=1e-12)


@pytest.mark.parametrize("k", [0.5, 0.2, 0.02])
def test_random_sample_factor_is_the_dempster_lerner_slope(k):
    """Independent derivation by numerical integration: for a normal genetic value G (variance
    h2) and Y = 1[G + E > t], the additive (linear) genetic variance of Y is
    cov(Y, G)^2 / Var(G); divided by Var(Y) = K(1-K) it is h2_O, and h2_L / h2_O must be the
    factor at P = K (quad's absolute error is about 1e-10 here)."""
    from scipy import integrate
    from scipy.stats import norm

    h2 = 0.4
    t = norm.isf(k)
    sg, se = math.sqrt(h2), math.sqrt(1 - h2)
    cov, _ = integrate.quad(lambda g: g * norm.sf((t - g) / se) * norm.pdf(g, scale=sg),
                            -12 * sg, 12 * sg, epsabs=1e-13)
    h2_obs = cov ** 2 / h2 / (k * (1 - k))
    assert h2_obs * liability_factor(prevalence=k, sample_prevalence=k) == pytest.approx(
        h2, rel=1e-7)


# --- detection and parsing --------------------------------------------------------------------

def test_binary_coding():
    nan = np.nan
    assert binary_coding(np.array([0, 1, 1, nan, 0])) == (0.0, 1.0)
    assert binary_coding(np.array([2, 1, 1, nan])) == (1.0, 2.0)
    for y in ([0, 2, 2], [1, 3], [0, 1, 2], [1, 1, nan], [0.5, 1.0]):
        assert binary_coding(np.array(y, dtype=float)) is None, y


def test_parse_and_resolve_prevalences():
    assert parse_prevalences(["a=0.2", "0.05"]) == {"a": 0.2, None: 0.05}
    got = resolve_prevalences({"a": 0.2, None: 0.05}, binary=["a", "b"], names=["a", "b", "q"])
    assert got == {"a": 0.2, "b": 0.05}
    assert resolve_prevalences({"a": 0.2}, binary=["a", "b"], names=["a", "b"]) == {"a": 0.2}
    for bad, msg in [(["a=0"], "in \\(0, 1\\)"), (["a=1"], "in \\(0, 1\\)"),
                     (["a=-0.1"], "in \\(0, 1\\)"), (["a=x"], "not a number"),
                     (["a=0.1", "a=0.2"], "twice"), (["a=b=0.1"], "NAME=K"),
                     (["0.1", "0.2"], "twice")]:
        with pytest.raises(InputError, match=msg):
            parse_prevalences(bad)
    with pytest.raises(InputError, match="no phenotype 'z'"):
        resolve_prevalences({"z": 0.1}, binary=["a"], names=["a", "q"])
    with pytest.raises(InputError, match="'q' is not a binary phenotype"):
        resolve_prevalences({"q": 0.1}, binary=["a"], names=["a", "q"])
    with pytest.raises(InputError, match="no phenotype is binary"):
        resolve_prevalences({None: 0.1}, binary=[], names=["q"])


# --- a simulation with known truth --------------------------------------------------------------

N, M, REPS = 600, 200, 20


@pytest.fixture(scope="module")
def genotypes():
    Z = random_genotypes(n=N, m=M, seed=11)
    return Z, Z @ Z.T / M


@pytest.fixture(autouse=True)
def one_blas_thread():
    """One BLAS thread: these small eigendecompositions gain nothing from more on a shared
    machine."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def _liability_traits(Z, *, h2, k, reps, seed):
    """``reps`` case/control traits of a random sample: liability sqrt(h2) G + sqrt(1-h2) E
    with G ~ N(0, K) (K = Z Z'/M), cases above the threshold of prevalence ``k``."""
    rng = np.random.default_rng(seed)
    t = NormalDist().inv_cdf(1 - k)
    cols = {}
    for r in range(reps):
        g = Z @ rng.standard_normal(Z.shape[1]) / math.sqrt(Z.shape[1])
        liab = math.sqrt(h2) * g + math.sqrt(1 - h2) * rng.standard_normal(Z.shape[0])
        cols[f"d{r}"] = (liab > t).astype(np.float64)
    return pd.DataFrame(cols)


@pytest.mark.parametrize("h2, k", [(0.5, 0.2), (0.3, 0.5), (0.6, 0.05)])
def test_liability_h2_recovers_the_simulated_truth(genotypes, h2, k):
    """REML on 0/1 traits of a random sample (P about K), converted: the mean of 20 replicates is
    within 4 of its standard errors (the reported SEs / sqrt(20); in our runs they are slightly
    conservative for binary traits) of the liability h2 simulated, and the replicates scatter
    as the SEs say (their SD within [0.5, 1.5] x the mean SE: a 20-replicate SD is known to
    about 16%)."""
    Z, K = genotypes
    Y = _liability_traits(Z, h2=h2, k=k, reps=REPS, seed=int(100 * h2 + 1000 * k))
    est = estimate_heritability(Y=Y, similarity=DenseSimilarity(K), method="reml",
                                prevalence={None: k})
    lia = [est.liability[c] for c in Y.columns]
    hl = np.array([x.h2 for x in lia])
    se = np.array([x.se for x in lia])
    obs = {r.phenotype: r for r in est.h2}
    for x in lia:
        assert x.prevalence == k and x.sample_prevalence == Y[x.phenotype].mean()
        f = liability_factor(prevalence=k, sample_prevalence=x.sample_prevalence)
        assert x.h2 == obs[x.phenotype].h2 * f and x.se == obs[x.phenotype].se * f
    # the observed-scale estimates are much lower for rare diseases: the conversion matters
    assert np.mean([r.h2 for r in est.h2]) < 0.75 * h2  # factor 1/0.64 (K = 0.5) or more
    assert abs(hl.mean() - h2) < 4 * se.mean() / math.sqrt(REPS), (hl.mean(), se.mean())
    assert 0.5 * se.mean() < hl.std() < 1.5 * se.mean(), (hl.std(), se.mean())


def test_one_two_coding_gives_the_zero_one_numbers(genotypes):
    """REML is invariant to a shift of the phenotype (the intercept absorbs it): the 1/2 coded
    trait gives the 0/1 coded one's h2 within both fits' resolution, and the same case share."""
    Z, K = genotypes
    y = _liability_traits(Z, h2=0.5, k=0.2, reps=1, seed=7)["d0"].to_numpy()
    Y = pd.DataFrame({"zero_one": y, "one_two": y + 1})
    est = estimate_heritability(Y=Y, similarity=DenseSimilarity(K), method="reml",
                                prevalence={None: 0.2})
    a, b = est.liability["zero_one"], est.liability["one_two"]
    assert a.sample_prevalence == b.sample_prevalence == y.mean()
    S, U = np.linalg.eigh(K)
    S = np.maximum(S, 0.0)
    UtX = U.T @ np.ones((N, 1))
    res = sum(reml_h2_resolution(S=S, UtX=UtX, Uty=U.T @ v, h2=r.h2)
              for v, r in zip((y, y + 1), est.h2))
    f = liability_factor(prevalence=0.2, sample_prevalence=y.mean())
    assert abs(a.h2 - b.h2) <= f * res


# --- the table, rg, the log and the command line ------------------------------------------------

def test_table_columns_notes_and_rg(genotypes):
    Z, K = genotypes
    n = 300
    rng = np.random.default_rng(3)
    Y = _liability_traits(Z[:n], h2=0.5, k=0.2, reps=2, seed=9)
    Y["q"] = Z[:n, :20].sum(axis=1) / 5 + rng.standard_normal(n)
    Y.loc[:9, "d1"] = np.nan
    sim = DenseSimilarity(K[:n, :n])
    plain = estimate_heritability(Y=Y[["q"]], similarity=sim, method="reml")
    assert list(plain.h2_frame().columns) == H2_COLUMNS and plain.liability == {}
    without = estimate_heritability(Y=Y, similarity=sim, method="reml",
                                    rg_pairs=[("d0", "q"), ("d0", "d1")])
    withk = estimate_heritability(Y=Y, similarity=sim, method="reml",
                                  rg_pairs=[("d0", "q"), ("d0", "d1")],
                                  prevalence={"d0": 0.2})
    frame = withk.h2_frame().set_index("phenotype")
    assert list(frame.reset_index().columns) == H2_COLUMNS + LIABILITY_COLUMNS
    assert frame.loc["q", LIABILITY_COLUMNS].isna().all()
    assert frame.loc["d1", "sample_prevalence"] == Y["d1"].dropna().mean()  # observed only
    assert np.isnan(frame.loc["d1", "h2_liability"])  # binary, no prevalence: observed scale
    assert frame.loc["d0", "h2_liability"] > frame.loc["d0", "h2"]
    # the observed-scale columns and rg do not depend on --prevalence
    pd.testing.assert_frame_equal(without.h2_frame()[H2_COLUMNS], withk.h2_frame()[H2_COLUMNS])
    assert [r.as_row() for r in without.rg] == [r.as_row() for r in withk.rg]
    notes = " ".join(withk.notes)
    assert "observed 0/1 scale" in notes and "Lee et al. 2011" in notes
    assert "['d1']" in notes and "rg is the same on the observed and the liability scale" in notes
    with pytest.raises(InputError, match="'q' is not a binary"):
        estimate_heritability(Y=Y, similarity=sim, method="reml", prevalence={"q": 0.2})


def test_cli_prevalence(genotypes, tmp_path, capsys):
    from contig_gwas.cli import _common
    from contig_gwas.cli import h2 as cli

    Z, K = genotypes
    n = 300
    Kn = K[:n, :n]
    iid = np.array([f"s{k}" for k in range(n)])
    grm_io.write_gcta_grm(tmp_path / "grm", K=Kn, fid=iid, iid=iid)
    Y = _liability_traits(Z[:n], h2=0.5, k=0.2, reps=2, seed=5) + 1  # PLINK's 1/2 coding
    pd.DataFrame({"FID": iid, "IID": iid, "dis_a": Y["d0"], "dis_b": Y["d1"],
                  "qt": np.random.default_rng(1).standard_normal(n)}).to_csv(
        tmp_path / "pheno.tsv", sep="\t", index=False)
    base = ["--grm", str(tmp_path / "grm"), "--pheno", str(tmp_path / "pheno.tsv"),
            "--method", "reml"]
    out = str(tmp_path / "res")
    assert cli.main(base + ["--prevalence", "dis_a=0.2", "--out", out]) == 0
    h2 = pd.read_csv(out + ".h2.tsv", sep="\t").set_index("phenotype")
    assert list(h2.columns[-4:]) == LIABILITY_COLUMNS
    assert h2.loc["dis_a", "prevalence"] == 0.2 and np.isnan(h2.loc["dis_b", "prevalence"])
    p_b = (Y["d1"] == 2).mean()
    assert abs(h2.loc["dis_b", "sample_prevalence"] - p_b) <= half_unit(p_b)  # %.6g
    log = (tmp_path / "res.log").read_text()
    assert "no --prevalence for ['dis_b']" in log and "liability-scale h2 = " in log
    for bad, msg in [(["dis_a=1.5"], "in (0, 1)"), (["nope=0.1"], "no phenotype 'nope'"),
                     (["qt=0.1"], "'qt' is not a binary phenotype")]:
        name = bad[0].split("=")[0]
        assert _common.run(cli.main, base + ["--prevalence", *bad,
                                             "--out", str(tmp_path / name)]) == 2
        assert msg in capsys.readouterr().err
        assert not (tmp_path / f"{name}.h2.tsv").exists()
