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

from contig_gwas.cli import _common, gwas
from contig_gwas.io.sumstats import read_sumstats
from test_gwas_data import write_cohort


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


def test_lmm_loco_agrees_with_fastlmm_single_snp(cohort, tmp_path):
    out = str(tmp_path / "lmm")
    assert _run(["--bfile", cohort.prefix, "--pheno", cohort.pheno, "--covar", cohort.covar,
                 "--out", out, "--block-size", "300"]) == 0
    ref, names = _fastlmm_loco(cohort)
    null = pd.read_csv(out + ".nullmodel.tsv", sep="\t", keep_default_na=False)
    for name in names:
        ours = read_sumstats(f"{out}.{name}.sumstats.tsv.gz").set_index("variant_id")
        r = ref[ref.Pheno == name].set_index("SNP").loc[ours.index]
        theirs = -np.log10(r.PValue.to_numpy())
        corr = np.corrcoef(ours.neg_log10_p_value.to_numpy(), theirs)[0, 1]
        assert corr >= 0.999, (name, corr)
        assert np.max(np.abs(ours.neg_log10_p_value.to_numpy() - theirs)) < 1e-3
        sig_ours = set(ours.index[ours.p_value < 5e-8])
        sig_ref = set(r.index[r.PValue < 5e-8])
        assert sig_ours == sig_ref, name
        if name != "NULL":
            assert sig_ours, f"{name}: planted causal variants not found"
            causal = {f"rs{j}" for j in cohort.causal[name]}
            assert sig_ours <= causal, (name, sig_ours, causal)   # no LD: hits are causal
        # null-model h2 per left-out chromosome as fastlmm's Nullh2
        for c, h2 in r.groupby("Chr").Nullh2.first().items():
            ours_h2 = null[(null.phenotype == name) & (null.left_out_chromosome == int(c))].h2
            assert float(ours_h2.iloc[0]) == pytest.approx(h2, abs=2e-3)


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
        # the file holds 6 significant digits: relative rounding error at most 5e-6
        assert ours.beta[vid] == pytest.approx(b, rel=6e-6)
        assert ours.standard_error[vid] == pytest.approx(se, rel=6e-6)
        assert ours.p_value[vid] == pytest.approx(p, rel=1e-5)


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
        # both files print 6 significant digits
        assert np.allclose(ours.beta.to_numpy(), sign * ref.BETA.to_numpy(), rtol=1e-5, atol=0)
        assert np.allclose(ours.standard_error.to_numpy(), ref.SE.to_numpy(), rtol=1e-5, atol=0)
        assert np.allclose(ours.neg_log10_p_value.to_numpy(), -np.log10(ref.P.to_numpy()),
                           rtol=1e-4, atol=1e-5)
