"""Case-control phenotypes through the contig-gwas command line: --linear against PLINK 2
--glm firth / no-firth on the same files, the summary statistics' case-control columns, the
log's decisions, exact and scalable modes, and --binary none (the old behaviour)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from gwas_cohort import write_cohort
from tolerances import U32, gamma, half_unit

from contig_gwas.cli import _common, gwas
from contig_gwas.io.sumstats import COLUMNS, read_sumstats

EXTRA = ["n_cases", "n_controls", "effect_allele_frequency_cases",
         "effect_allele_frequency_controls"]


def _run(argv):
    return _common.run(gwas.main, argv + ["--no-progress"])


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """300 individuals (40 sib pairs), a 15%-prevalence disease coded 1/2 (PLINK) with a
    heritable liability and two causal variants, and a null disease coded 0/1."""
    rng = np.random.default_rng(21)
    n = 300
    d = tmp_path_factory.mktemp("bin")
    base = write_cohort(d / "base", n=n, m=600, n_chrom=2, seed=21, missing=0.0)
    t0 = pd.read_csv(base.pheno, sep="\t")["T0"].to_numpy()
    dis = np.where(t0 > np.quantile(t0, 0.85), 2.0, 1.0)
    null = (rng.random(n) < 0.2).astype(float)
    return write_cohort(d / "c", n=n, m=600, n_chrom=2, seed=21, missing=0.0,
                        extra_pheno={"DIS": dis, "NULLD": null})


@pytest.mark.reference
@pytest.mark.parametrize("test,modifier", [("firth", "firth"), ("logistic", "no-firth")])
def test_linear_matches_plink2(cohort, tmp_path, test, modifier):
    """PLINK 2's logistic and Firth regressions run in single precision and stop when the
    largest coefficient change is below 1e-4 (bailing out below 1e-3 when step halving
    stalls; plink2 glm_logistic.cc), so its log-odds ratio is within 1e-3 of the maximiser
    (ours, converged to 1e-8: tests/test_gwas_binary.py), its SE within the single-precision
    sums' ``gamma(N, U32)`` plus the SE's change over that coefficient error (d log se /
    d beta <= max |g| = 2, so 2e-3), and both are printed to 6 significant digits."""
    exe = shutil.which("plink2")
    if exe is None:
        pytest.skip("plink2 is not installed")
    out = str(tmp_path / "ours")
    assert _run(["--bfile", cohort.prefix, "--pheno", cohort.pheno, "--pheno-name", "DIS",
                 "--covar", cohort.covar, "--linear", "--binary-test", test, "--out", out]) == 0
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    subprocess.run([exe, "--bfile", cohort.prefix, "--pheno", cohort.pheno, "--pheno-name",
                    "DIS", "--covar", cohort.covar, "--glm", modifier, "hide-covar",
                    "cols=+a1freqcc", "--covar-variance-standardize", "--threads", "1",
                    "--out", str(tmp_path / "plink")], check=True, env=env, capture_output=True)
    suffix = "firth" if test == "firth" else "logistic"
    ref = pd.read_csv(tmp_path / f"plink.DIS.glm.{suffix}", sep="\t").set_index("ID")
    ours = read_sumstats(f"{out}.DIS.sumstats.tsv.gz").set_index("variant_id")
    assert list(ours.columns[-4:]) == EXTRA
    ref = ref.loc[ours.index]
    same = ref.A1.to_numpy() == ours.effect_allele.to_numpy()
    sign = np.where(same, 1.0, -1.0)
    OR = ref.OR.to_numpy()
    beta_ref = sign * np.log(OR)
    se_ref = ref["LOG(OR)_SE"].to_numpy()
    beta, se = ours.beta.to_numpy(), ours.standard_error.to_numpy()
    tol_b = 1e-3 + half_unit(OR) / OR + half_unit(beta)
    assert np.all(np.abs(beta - beta_ref) <= tol_b)
    tol_se = (gamma(cohort.n, U32) + 2e-3) * se_ref + half_unit(se_ref) + half_unit(se)
    assert np.all(np.abs(se - se_ref) <= tol_se)
    z_ref = ref.Z_STAT.to_numpy() * sign
    z = beta / se
    assert np.all(np.abs(z - z_ref) <= tol_b / se + np.abs(z) * tol_se / se
                  + half_unit(z_ref))
    # case and control frequencies: the same counts, printed to 6 digits by both
    for col, rcol in (("effect_allele_frequency_cases", "A1_CASE_FREQ"),
                      ("effect_allele_frequency_controls", "A1_CTRL_FREQ")):
        f_ref = np.where(same, ref[rcol].to_numpy(), 1 - ref[rcol].to_numpy())
        f = ours[col].to_numpy()
        assert np.all(np.abs(f - f_ref) <= half_unit(f) + 2 * half_unit(ref[rcol].to_numpy()))
    assert np.all(ours.n_cases + ours.n_controls == ours.n)


def test_modes_outputs_and_log(cohort, tmp_path):
    """Detection (1/2 and 0/1 codings) stated in the log with counts; the case-control
    columns in the binary phenotypes' files only; the exact and scalable modes agree."""
    outs = {}
    for mode in ("exact", "scalable"):
        out = str(tmp_path / mode)
        assert _run(["--bfile", cohort.prefix, "--pheno", cohort.pheno, "--pheno-name",
                     "DIS,NULLD,T1", "--covar", cohort.covar, "--mode", mode,
                     "--out", out]) == 0
        outs[mode] = out
        log = Path(out + ".log").read_text()
        assert "phenotype DIS: binary (coded 1/2), 45 cases and 255 controls" in log
        assert "phenotype NULLD: binary (coded 0/1)" in log
        assert "approximate Firth" in log
        for name in ("DIS", "NULLD"):
            t = read_sumstats(f"{out}.{name}.sumstats.tsv.gz")
            assert list(t.columns) == COLUMNS + EXTRA
            assert np.all(t.n_cases + t.n_controls == t.n)
            assert t.p_value.between(0, 1).all() and t.standard_error.gt(0).all()
        assert list(read_sumstats(f"{out}.T1.sumstats.tsv.gz").columns) == COLUMNS
    null = pd.read_csv(outs["exact"] + ".nullmodel.tsv", sep="\t")
    assert set(null.loc[null.phenotype == "DIS", "test"]) == {"firth"}
    # the modes' polygenic predictions differ only by the leave-one-out diagonal (exact vs
    # its mean, rho): the tests agree closely
    for name in ("DIS", "NULLD"):
        a = read_sumstats(outs["exact"] + f".{name}.sumstats.tsv.gz")
        b = read_sumstats(outs["scalable"] + f".{name}.sumstats.tsv.gz")
        assert np.corrcoef(a.neg_log10_p_value, b.neg_log10_p_value)[0, 1] > 0.99, name


def test_binary_none_and_explicit(cohort, tmp_path):
    out = str(tmp_path / "none")
    assert _run(["--bfile", cohort.prefix, "--pheno", cohort.pheno, "--pheno-name", "NULLD",
                 "--covar", cohort.covar, "--linear", "--binary", "none", "--out", out]) == 0
    t = read_sumstats(out + ".NULLD.sumstats.tsv.gz")
    assert list(t.columns) == COLUMNS            # the linear model on the 0/1 scale
    out = str(tmp_path / "named")
    assert _run(["--bfile", cohort.prefix, "--pheno", cohort.pheno, "--pheno-name",
                 "NULLD,T0", "--covar", cohort.covar, "--linear", "--binary", "NULLD",
                 "--spa", "--out", out]) == 0
    assert list(read_sumstats(out + ".NULLD.sumstats.tsv.gz").columns) == COLUMNS + EXTRA
    assert "saddle-point" in Path(out + ".log").read_text()
    assert _run(["--bfile", cohort.prefix, "--pheno", cohort.pheno, "--covar", cohort.covar,
                 "--linear", "--binary", "T0", "--out", str(tmp_path / "bad")]) == 2


@pytest.mark.parametrize("mode", ["exact", "scalable"])
def test_interrupted_binary_run_resumes_to_the_same_bytes(cohort, tmp_path, mode):
    from contig_gwas.gwas.engine import GwasOptions, run_gwas
    from contig_gwas.gwas.scalable.engine import run_gwas_scalable

    fn = run_gwas_scalable if mode == "scalable" else run_gwas
    opts = dict(pheno=cohort.pheno, bfile=cohort.prefix, covar=cohort.covar, block_size=100,
                pheno_names=["DIS", "T0"], progress=False)
    fn(GwasOptions(out=str(tmp_path / "fresh"), **opts))
    with pytest.raises(RuntimeError, match="injected failure"):
        fn(GwasOptions(out=str(tmp_path / "cut"), **opts), fail_after_chunks=2)
    fn(GwasOptions(out=str(tmp_path / "cut"), **opts))
    for name in ("DIS", "T0"):
        assert (tmp_path / f"fresh.{name}.sumstats.tsv.gz").read_bytes() == \
            (tmp_path / f"cut.{name}.sumstats.tsv.gz").read_bytes()
