"""contig-gwas against reference engines on the same files: fastlmm single_snp (LOCO, several
phenotypes, covariates), statsmodels OLS and PLINK2 --glm for --linear."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from gwas_cohort import write_cohort
from tolerances import brent_xtol, gamma, half_unit, reml_h2_resolution

from contig_gwas.cli import _common, gwas
from contig_gwas.gwas.kinship import standardised_kinship
from contig_gwas.io.sumstats import read_sumstats


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return write_cohort(tmp_path_factory.mktemp("ref"), n=300, m=1500, n_chrom=3, seed=11)


def _run(argv):
    return _common.run(gwas.main, argv + ["--no-progress"])


def _fastlmm_loco(c):
    from fastlmm.association import single_snp
    from pysnptools.snpreader import Bed, SnpData

    bed = Bed(c.prefix, count_A1=True)
    ph = pd.read_csv(c.pheno, sep="\t")
    cv = pd.read_csv(c.covar, sep="\t")
    iid = np.array(ph[["FID", "IID"]].astype(str).to_numpy(), dtype=str)
    names = [n for n in ph.columns[2:]]
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:  # fastlmm's LOCO replaces the root logger's handlers: isolate it
        return single_snp(bed, SnpData(iid=iid, sid=names, val=ph[names].to_numpy()),
                          covar=SnpData(iid=iid, sid=["age", "sex"],
                                        val=cv[["age", "sex"]].to_numpy()),
                          leave_out_one_chrom=True, count_A1=True), names
    finally:
        root.handlers[:], root.level = handlers, level


def _nlp_at(delta, *, S, U, X, Y, G):
    """Our -log10 p of the variants G at ``delta`` (None: OLS, the limit h2 = 0), and the
    group model."""
    from contig_gwas.gwas.association import associate_block, prepare_group

    m = prepare_group(S=None if delta is None else S, U=None if delta is None else U, X=X, Y=Y,
                      delta=None if delta is None else np.array([delta]))
    return associate_block(m, G).neg_log10_p[:, 0], m


def _loco_tolerances(c, null):
    """Per phenotype, the tolerances of our LOCO results against fastlmm's (both fit the same
    REML likelihood per left-out chromosome): h2 (``tolerances.reml_h2_resolution`` for each
    optimiser plus fastlmm's Brent bracket) and each variant's -log10 p (twice what moving
    delta across that interval, widened by the 6 digits delta is written with, does to our
    statistic, plus both statistics' round-off: relative gamma(4N) y'Wy / y'Py). A phenotype
    at the lower bound (h2 ~ 0) spans up to h2 = 0, where the statistics are OLS's."""
    from contig_gwas.gwas.association import impute_block
    from contig_gwas.io.genotypes import open_genotypes

    src = open_genotypes(bfile=c.prefix)
    g = src.read().dosages.astype(np.float64)
    chrom = src.variants.chromosome.to_numpy()
    ph = pd.read_csv(c.pheno, sep="\t")
    cv = pd.read_csv(c.covar, sep="\t")
    X = np.column_stack([np.ones(len(cv)), cv[["age", "sex"]].to_numpy()])
    n = len(X)
    h2_tol, nlp_tol = {}, {}
    for name in ph.columns[2:]:
        Y = ph[[name]].to_numpy()
        nlp_tol[name] = pd.Series(np.nan, index=src.variants.variant_id)
        for cc in np.unique(chrom):
            S, U = np.linalg.eigh(standardised_kinship(dosages=g[:, chrom != cc]))
            S = np.maximum(S, 0.0)
            row = null[(null.phenotype == name) & (null.left_out_chromosome == int(cc))]
            h2, delta = float(row.h2.iloc[0]), float(row.delta.iloc[0])
            G, _, _ = impute_block(g[:, chrom == cc])
            here, m = _nlp_at(delta, S=S, U=U, X=X, Y=Y, G=G)
            if h2 < 1e-6:                    # lower bound: fastlmm's h2 may be 0 (OLS)
                h2_tol[(name, int(cc))] = None
                ends = [_nlp_at(None, S=S, U=U, X=X, Y=Y, G=G)[0]]
            else:
                res = reml_h2_resolution(S=S, UtX=U.T @ X, Uty=U.T @ Y[:, 0], h2=h2)
                h2_tol[(name, int(cc))] = half_unit(h2) + 2 * res + brent_xtol(h2)
                r = (2 * res + brent_xtol(h2)) / (h2 * (1 - h2)) + half_unit(delta) / delta
                ends = [_nlp_at(delta * np.exp(s * r), S=S, U=U, X=X, Y=Y, G=G)[0]
                        for s in (-1, 1)]
            rel = 2 * gamma(4 * n) * (m.W[:, 0] @ m.UtY[:, 0] ** 2) / m.ypy[0]   # both
            spread = np.max([np.abs(e - here) for e in ends], axis=0)
            nlp_tol[name].iloc[np.flatnonzero(chrom == cc)] = 2 * spread + rel * (1 + here)
    return h2_tol, nlp_tol


def test_lmm_loco_agrees_with_fastlmm_single_snp(cohort, tmp_path):
    out = str(tmp_path / "lmm")
    assert _run(["--bfile", cohort.prefix, "--pheno", cohort.pheno, "--covar", cohort.covar,
                 "--out", out, "--block-size", "300"]) == 0
    ref, names = _fastlmm_loco(cohort)
    null = pd.read_csv(out + ".nullmodel.tsv", sep="\t", keep_default_na=False)
    h2_tol, nlp_tol = _loco_tolerances(cohort, null)
    for name in names:
        ours = read_sumstats(f"{out}.{name}.sumstats.tsv.gz").set_index("variant_id")
        r = ref[ref.Pheno == name].set_index("SNP").loc[ours.index]
        theirs = -np.log10(r.PValue.to_numpy())
        corr = np.corrcoef(ours.neg_log10_p_value.to_numpy(), theirs)[0, 1]
        assert corr >= 0.999, (name, corr)
        # ours is written with 6 significant digits
        nlp = ours.neg_log10_p_value.to_numpy()
        tol = half_unit(nlp) + nlp_tol[name].loc[ours.index].to_numpy()
        assert np.all(np.abs(nlp - theirs) <= tol), name
        # the same hits at 5e-8, but for variants within the tolerance of the threshold
        clear = np.abs(theirs + np.log10(5e-8)) > tol
        sig_ours = set(ours.index[(ours.p_value < 5e-8).to_numpy() & clear])
        sig_ref = set(r.index[(r.PValue < 5e-8).to_numpy() & clear])
        assert sig_ours == sig_ref, name
        if name != "NULL":
            assert sig_ours, f"{name}: planted causal variants not found"
            causal = {f"rs{j}" for j in cohort.causal[name]}
            assert sig_ours <= causal, (name, sig_ours, causal)   # no LD: hits are causal
        # null-model h2 per left-out chromosome as fastlmm's Nullh2
        for c, h2 in r.groupby("Chr").Nullh2.first().items():
            ours_h2 = null[(null.phenotype == name) & (null.left_out_chromosome == int(c))].h2
            tol = h2_tol[(name, int(c))]
            if tol is None:   # both at the lower bound: fastlmm's is 0, ours 1 / (1 + e^20)
                assert h2 < 1e-6 and float(ours_h2.iloc[0]) < 1e-6, (name, c, h2)
            else:
                assert float(ours_h2.iloc[0]) == pytest.approx(h2, abs=tol), (name, c)


def _ols(c, name, rows=None):
    import statsmodels.api as sm

    from contig_gwas.io.genotypes import open_genotypes

    src = open_genotypes(bfile=c.prefix)
    g = src.read().dosages.astype(float)
    ph = pd.read_csv(c.pheno, sep="\t")
    cv = pd.read_csv(c.covar, sep="\t")
    X = sm.add_constant(cv[["age", "sex"]].to_numpy())
    y = ph[name].to_numpy()
    out = {}
    for j in rows:
        x = g[:, j]
        x = np.where(np.isnan(x), np.nanmean(x), x)
        f = sm.OLS(y, np.c_[X, x]).fit()
        out[src.variants.variant_id[j]] = (f.params[-1], f.bse[-1], f.pvalues[-1])
    return out


def test_linear_matches_statsmodels_ols(cohort, tmp_path):
    out = str(tmp_path / "ols")
    assert _run(["--bfile", cohort.prefix, "--pheno", cohort.pheno, "--pheno-name", "T1",
                 "--covar", cohort.covar, "--linear", "--out", out]) == 0
    assert not Path(out + ".nullmodel.tsv").exists()
    ours = read_sumstats(out + ".T1.sumstats.tsv.gz").set_index("variant_id")
    rows = list(range(0, 1500, 37))
    for vid, (b, se, p) in _ols(cohort, "T1", rows).items():
        # the file holds 6 significant digits (half a unit in the last); the two least-squares
        # solutions differ by round-off far below 1e-9 relative (bounded in test_gwas_arrays)
        for got, want in ((ours.beta[vid], b), (ours.standard_error[vid], se),
                          (ours.p_value[vid], p)):
            assert abs(got - want) <= half_unit(got) + 1e-9 * abs(want), (vid, got, want)


@pytest.mark.reference
def test_linear_matches_plink2_glm(tmp_path):
    exe = shutil.which("plink2")
    if exe is None:
        pytest.skip("plink2 is not installed")
    c = write_cohort(tmp_path / "c", n=250, m=400, n_chrom=2, seed=5, missing=0.0)
    out = str(tmp_path / "ols")
    assert _run(["--bfile", c.prefix, "--pheno", c.pheno, "--pheno-name", "T0,NULL",
                 "--covar", c.covar, "--linear", "--out", out]) == 0
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    subprocess.run([exe, "--bfile", c.prefix, "--pheno", c.pheno, "--pheno-name", "T0,NULL",
                    "--covar", c.covar, "--glm", "hide-covar", "--covar-variance-standardize",
                    "--threads", "1", "--out", str(tmp_path / "plink")], check=True, env=env,
                   capture_output=True)
    for name in ("T0", "NULL"):
        ref = pd.read_csv(tmp_path / f"plink.{name}.glm.linear", sep="\t").set_index("ID")
        ours = read_sumstats(f"{out}.{name}.sumstats.tsv.gz").set_index("variant_id")
        ref = ref.loc[ours.index]
        sign = np.where(ref.A1.to_numpy() == ours.effect_allele.to_numpy(), 1.0, -1.0)
        # both files print 6 significant digits: half a unit in the last digit of each (P's
        # relative half unit moves -log10 P by at most that / ln 10), plus the two
        # least-squares solutions' round-off (far below 1e-9 relative, see test_gwas_arrays)
        for a, b in ((ours.beta.to_numpy(), sign * ref.BETA.to_numpy()),
                     (ours.standard_error.to_numpy(), ref.SE.to_numpy())):
            assert np.all(np.abs(a - b) <= half_unit(a) + half_unit(b) + 1e-9 * np.abs(b))
        P = ref.P.to_numpy()
        nlp = ours.neg_log10_p_value.to_numpy()
        tol = half_unit(nlp) + half_unit(P) / P / np.log(10) + 1e-9 * (1 + nlp)
        assert np.all(np.abs(nlp + np.log10(P)) <= tol)
