"""contig-gwas on the simulator's tiny cohort: calibration under the null, power at the planted
causal variants as truth.json predicts, BGEN input (with INFO) and corrupt BGEN."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from tolerances import half_unit

from contig_gwas.cli import _common, gwas
from contig_gwas.io.sumstats import read_sumstats

N_NULL = 10


def _run(argv):
    return _common.run(gwas.main, list(argv) + ["--no-progress"])


@pytest.fixture(scope="module")
def tiny_run(tiny_cohort, tmp_path_factory):
    """One LMM run: the latent traits plus N_NULL null phenotypes, all covariates."""
    d = tmp_path_factory.mktemp("tiny_gwas")
    lt = pd.read_csv(tiny_cohort / "latent_traits.tsv", sep="\t")
    rng = np.random.default_rng(2024)
    for k in range(N_NULL):
        lt[f"null{k}"] = rng.normal(size=len(lt))
    lt.to_csv(d / "pheno.tsv", sep="\t", index=False)
    out = d / "run"
    assert _run(["--bfile", str(tiny_cohort / "genotypes"), "--pheno", str(d / "pheno.tsv"),
                 "--covar", str(tiny_cohort / "covariates.tsv"), "--out", str(out)]) == 0
    return out


@pytest.mark.slow
def test_null_phenotypes_are_calibrated(tiny_run):
    lam = []
    for k in range(N_NULL):
        s = read_sumstats(f"{tiny_run}.null{k}.sumstats.tsv.gz")
        lam.append(np.median(stats.chi2.isf(s.p_value, 1)) / stats.chi2.ppf(0.5, 1))
        assert (s.p_value < 5e-8).sum() == 0
    assert 0.95 <= np.mean(lam) <= 1.05, lam
    assert all(0.8 <= x <= 1.2 for x in lam), lam
    log = Path(f"{tiny_run}.log").read_text()
    assert "lambda GC null0" in log


@pytest.mark.slow
def test_causal_variants_have_the_power_truth_predicts(tiny_run, tiny_cohort_truth):
    """Mean chi-square at the planted variants vs 1 + NCP, NCP = N q^2 / (1 - q^2) (OLS,
    a lower bound) or N q^2 / (1 - h2) (all polygenic variance removed, an upper bound)."""
    n = tiny_cohort_truth["n_individuals"]
    obs, lo, hi, expected_hits, hits = [], [], [], 0.0, 0
    thr = stats.chi2.isf(5e-8, 1)
    for trait, t in tiny_cohort_truth["traits"].items():
        s = read_sumstats(f"{tiny_run}.{trait}.sumstats.tsv.gz").set_index("variant_id")
        causal = {c["variant_id"]: c for c in t["causal_variants"]}
        for vid, c in causal.items():
            q2 = c["variance_explained"] / t["variance"]
            obs.append(stats.chi2.isf(s.p_value[vid], 1))
            lo.append(1 + n * q2 / (1 - q2))
            hi.append(1 + n * q2 / (1 - t["realised_h2"]))
            expected_hits += stats.ncx2.sf(thr, 1, lo[-1] - 1)
            hits += s.p_value[vid] < 5e-8
        sig = s.index[s.p_value < 5e-8]
        # every genome-wide hit is a planted variant or near one (LD) on its chromosome
        for vid in sig:
            near = [c for c in causal.values() if c["chromosome"] == s.chromosome[vid]
                    and abs(c["position"] - s.base_pair_location[vid]) < 300_000]
            assert near, (trait, vid)
    assert 0.6 * np.mean(lo) <= np.mean(obs) <= 1.5 * np.mean(hi), (np.mean(obs), lo, hi)
    assert hits >= np.floor(expected_hits - 2 * np.sqrt(expected_hits)), (hits, expected_hits)


@pytest.mark.slow
def test_bgen_input_matches_plink_and_reports_info(tiny_cohort, tmp_path):
    common = ["--pheno", str(tiny_cohort / "phenotypes.tsv"), "--pheno-name", "height",
              "--covar", str(tiny_cohort / "covariates.tsv"), "--covar-name", "sex,age",
              "--linear", "--chr", "1"]
    bgen = tmp_path / "g.bgen"
    shutil.copy(tiny_cohort / "genotypes.bgen", bgen)
    shutil.copy(tiny_cohort / "genotypes.sample", tmp_path / "g.sample")
    assert _run(["--bgen", str(bgen), "--sample", str(tmp_path / "g.sample"), *common,
                 "--info", "0.3", "--out", str(tmp_path / "bgen")]) == 0
    assert _run(["--bfile", str(tiny_cohort / "genotypes"), *common,
                 "--out", str(tmp_path / "bed")]) == 0
    a = read_sumstats(tmp_path / "bgen.height.sumstats.tsv.gz")
    b = read_sumstats(tmp_path / "bed.height.sumstats.tsv.gz")
    assert "info" in a.columns and "info" not in b.columns
    assert a["info"].between(0.3, 1.0 + 1e-6).all()
    m = a.merge(b, on=["chromosome", "base_pair_location"], suffixes=("", "_bed"))
    # the BGEN holds the same hard calls (8-bit probabilities 0 and 1 are exact, INFO 1, so
    # --info 0.3 removes none), in another sample order: the same statistics up to round-off,
    # each file with 6 significant digits (half a unit in the last of each; the two
    # least-squares solutions' round-off is far below 1e-9 relative, see test_gwas_arrays)
    assert len(m) == len(b)
    same = m.effect_allele == m.effect_allele_bed
    assert same.all()
    for col in ("beta", "standard_error", "neg_log10_p_value"):
        x, y = m[col].to_numpy(), m[f"{col}_bed"].to_numpy()
        assert np.all(np.abs(x - y) <= half_unit(x) + half_unit(y) + 1e-9 * np.abs(y)), col

    # corrupt BGEN: zeros over variant headers (the index cannot be built; bgen-reader may
    # crash natively there), or a few bytes of compressed genotype data (fails on decoding)
    for k, (frac, patch) in enumerate([(0.5, bytes(4000)), (0.2, b"\xff" * 8)]):
        data = bytearray(bgen.read_bytes())
        at = int(len(data) * frac)
        data[at:at + len(patch)] = patch
        bad = tmp_path / f"bad{k}"
        bad.mkdir()
        (bad / "g.bgen").write_bytes(bytes(data))
        shutil.copy(tmp_path / "g.sample", bad / "g.sample")
        out = bad / "out"
        out.mkdir()
        rc = _run(["--bgen", str(bad / "g.bgen"), "--sample", str(bad / "g.sample"), *common,
                   "--out", str(out / "run")])
        assert rc == 2
        assert [p.name for p in out.iterdir()] == ["run.log"]
        assert "corrupt" in (out / "run.log").read_text()
