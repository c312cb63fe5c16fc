"""contig-h2 against independent references on the tiny simulated cohort: fastlmm's REML h2
(similarity and covariates built independently with pysnptools and pandas), the GWAS engine's
null-model table (one implementation), the simulator's truth, and BGEN vs PLINK input."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from tolerances import brent_xtol, half_unit, reml_h2_resolution

from contig_gwas.cli import h2 as cli


def _run(tmp_path, name, argv):
    out = str(tmp_path / name)
    assert cli.main(argv + ["--out", out]) == 0
    return pd.read_csv(out + ".h2.tsv", sep="\t").set_index("phenotype")


def _rotated(d, name, *, maf=None):
    """The rotated data (S, U'X, U'y) of the tiny cohort's REML fit of ``name`` with all
    covariates, as contig-h2 and contig-gwas build it: the kinship of the variants passing
    ``--maf`` over all individuals, standardised over those with the phenotype. Only for
    tolerances (tolerances.reml_h2_resolution)."""
    from contig_gwas.gwas.kinship import standardised_kinship
    from contig_gwas.gwas.qc import variant_qc
    from contig_gwas.io.genotypes import open_genotypes
    from contig_gwas.io.tables import read_table

    src = open_genotypes(bfile=str(d / "genotypes"))
    iid = src.samples["IID"].to_numpy(dtype=str)
    cov = read_table(str(d / "covariates.tsv"), kind="covariate").values.reindex(iid)
    y = pd.read_csv(d / "phenotypes.tsv", sep="\t").set_index("IID")[name].reindex(iid)
    rows = np.flatnonzero(y.notna().to_numpy() & cov.notna().all(axis=1).to_numpy())
    variants = None
    if maf is not None:
        variants = np.flatnonzero(variant_qc(dosages=src.read().dosages, maf=maf).keep)
    S, U = np.linalg.eigh(standardised_kinship(source=src, samples=rows, variants=variants))
    X = np.column_stack([np.ones(len(rows)), cov.to_numpy(dtype=np.float64)[rows]])
    return np.maximum(S, 0.0), U.T @ X, U.T @ y.to_numpy()[rows], variants


def _same_fit_tolerance(a: float, b: float, *, S, UtX, Uty) -> float:
    """|a - b| allowed between two REML fits of one likelihood, each written with 6
    significant digits (%.6g): half a unit in the 6th digit of each, plus how far each
    optimiser may stop from the exact maximiser (tolerances.reml_h2_resolution: the
    likelihood's round-off, which the uncentred phenotype inflates, and Brent's xatol).
    The two programs build K with different accumulation orders; that moves the maximiser
    by O(u), far below the resolution."""
    res = reml_h2_resolution(S=S, UtX=UtX, Uty=Uty, h2=b)
    return float(half_unit(a) + half_unit(b)) + 2 * res


@pytest.fixture(scope="module")
def standard_h2(tiny_cohort, tmp_path_factory):
    d = tiny_cohort
    return _run(tmp_path_factory.mktemp("h2ref"), "std",
                ["--bfile", str(d / "genotypes"), "--pheno", str(d / "phenotypes.tsv"),
                 "--pheno-name", "height", "ldl", "--covar", str(d / "covariates.tsv"),
                 "--method", "reml"])


def test_h2_agrees_with_fastlmm(tiny_cohort, standard_h2):
    """fastlmm.inference.LMM REML h2 with pysnptools' Unit-standardised, DiagKtoN-scaled
    kinship and pandas-encoded covariates (fastlmm's est_h2 is broken under numpy 2.4)."""
    from fastlmm.inference import LMM
    from pysnptools.snpreader import Bed

    d = tiny_cohort
    bed = Bed(str(d / "genotypes"), count_A1=True)
    iid = bed.iid[:, 1].astype(str)
    pheno = pd.read_csv(d / "phenotypes.tsv", sep="\t", index_col="IID")
    cov = pd.read_csv(d / "covariates.tsv", sep="\t", index_col="IID").drop(columns="FID")
    ref = cov["centre"].value_counts().sort_index().idxmax()
    cov = pd.get_dummies(cov, columns=["centre"], dtype=float).drop(columns=f"centre_{ref}")
    for name in ("height", "ldl"):
        y = pheno[name].reindex(iid)
        keep = y.notna().to_numpy() & cov.reindex(iid).notna().all(axis=1).to_numpy()
        snps = bed[np.flatnonzero(keep), :].read(dtype="float64").standardize()
        G = snps.val
        K = G @ G.T
        K *= len(K) / np.trace(K)
        X = np.column_stack([np.ones(keep.sum()), cov.reindex(iid[keep]).to_numpy()])
        lmm = LMM()
        lmm.setK(K)
        lmm.setX(X)
        lmm.sety(y.to_numpy()[keep])
        h2_ref = float(lmm.findH2(REML=True)["h2"])
        ours = standard_h2.loc[name]
        assert ours["n"] == keep.sum()
        # ours is written with 6 significant digits; each optimiser stops within the
        # round-off resolution of the maximiser (fastlmm evaluates the same sums over the
        # same rotation), plus its Brent bracket (fastlmm: scipy brent over h2)
        S, U = np.linalg.eigh(K)
        res = reml_h2_resolution(S=S, UtX=U.T @ X, Uty=U.T @ y.to_numpy()[keep], h2=h2_ref)
        tol = float(half_unit(ours["h2"])) + 2 * res + brent_xtol(h2_ref)
        assert abs(ours["h2"] - h2_ref) <= tol, (name, ours["h2"], h2_ref, tol)


def test_h2_is_the_gwas_null_model_h2(tiny_cohort, standard_h2, tmp_path):
    from contig_gwas.gwas.engine import GwasOptions, run_gwas

    d = tiny_cohort
    summary = run_gwas(GwasOptions(out=str(tmp_path / "gw"), pheno=str(d / "phenotypes.tsv"),
                                   pheno_names=["height", "ldl"], bfile=str(d / "genotypes"),
                                   covar=str(d / "covariates.tsv"), loco=False, progress=False))
    null = pd.read_csv(summary.nullmodel, sep="\t").set_index("phenotype")
    for name in ("height", "ldl"):
        assert null.loc[name, "n"] == standard_h2.loc[name, "n"]
        S, UtX, Uty, _ = _rotated(d, name)
        tol = _same_fit_tolerance(null.loc[name, "h2"], standard_h2.loc[name, "h2"], S=S,
                                  UtX=UtX, Uty=Uty)
        assert null.loc[name, "h2"] == pytest.approx(standard_h2.loc[name, "h2"], abs=tol)


def test_known_h2_recovered_on_cohort_genotypes(tiny_cohort):
    """Traits simulated on the cohort's own (LD-structured, related, two-ancestry) genotypes
    with a known realised h2: over 12 replicates the mean REML estimate is within 2 mean-SEs /
    sqrt(12) of the mean realised h2 and every estimate within 3 SEs of its own truth."""
    from contig_gwas.gwas.kinship import standardised_kinship
    from contig_gwas.heritability.reml import reml_h2
    from contig_gwas.io.genotypes import open_genotypes

    src = open_genotypes(bfile=str(tiny_cohort / "genotypes"))
    K = standardised_kinship(source=src)
    S, U = np.linalg.eigh(K)
    S = np.maximum(S, 0.0)
    D = src.read().dosages.astype(np.float64)
    D = np.where(np.isnan(D), np.nanmean(D, axis=0), D)
    sd = D.std(axis=0)
    Z = (D[:, sd > 0] - D[:, sd > 0].mean(axis=0)) / sd[sd > 0]
    rng = np.random.default_rng(7)
    UtX = U.T @ np.ones((len(K), 1))
    est, ses, real = [], [], []
    for _ in range(12):
        idx = rng.choice(Z.shape[1], 300, replace=False)
        g = Z[:, idx] @ rng.normal(size=300)
        g *= np.sqrt(0.5 / g.var())
        y = g + rng.normal(size=len(g)) * np.sqrt(0.5)
        r = reml_h2(S=S, UtX=UtX, Uty=U.T @ y)
        est.append(r.h2)
        ses.append(r.se)
        real.append(g.var() / y.var())
    est, ses, real = map(np.array, (est, ses, real))
    assert abs(est.mean() - real.mean()) < 2 * ses.mean() / np.sqrt(len(est))
    assert np.all(np.abs(est - real) < 3 * ses)


def test_truth_json_h2_of_latent_traits(tiny_cohort, tiny_cohort_truth, tmp_path):
    """The simulator's latent traits, adjusted for every covariate of the cohort (sex, age,
    centre, ten genetic PCs), recover truth.json's ``realised_h2_given_covariates``
    (Var(G) / Var(G + noise): the estimand of REML with the non-genetic effects as covariates)
    within 2 SE. (``realised_h2`` = Var(G) / Var(Y) keeps the age, sex and ancestry effects in
    the denominator, and REML with covariates sits above it by design.)"""
    d = tiny_cohort
    res = _run(tmp_path, "latent", ["--bfile", str(d / "genotypes"), "--pheno",
                                    str(d / "latent_traits.tsv"), "--covar",
                                    str(d / "covariates.tsv")])
    traits = tiny_cohort_truth["traits"]
    assert set(res.index) == set(traits)
    for name, t in traits.items():
        row = res.loc[name]
        assert row["flag"] == "ok"
        assert abs(row["h2"] - t["realised_h2_given_covariates"]) < 2 * row["se"], (
            name, row["h2"], row["se"], t["realised_h2_given_covariates"])


def test_bgen_input_gives_the_plink_answer(tiny_cohort, standard_h2, tmp_path):
    d = tiny_cohort
    res = _run(tmp_path, "bgen", ["--bgen", str(d / "genotypes.bgen"), "--sample",
                                  str(d / "genotypes.sample"), "--pheno",
                                  str(d / "phenotypes.tsv"), "--pheno-name", "height",
                                  "--covar", str(d / "covariates.tsv"), "--method", "reml"])
    for name in ("height",):
        assert res.loc[name, "n"] == standard_h2.loc[name, "n"]
        # the BGEN holds the same hard calls (8-bit probabilities 0 and 1 are exact), in
        # another sample order: the same likelihood up to round-off
        S, UtX, Uty, _ = _rotated(d, name)
        tol = _same_fit_tolerance(res.loc[name, "h2"], standard_h2.loc[name, "h2"], S=S,
                                  UtX=UtX, Uty=Uty)
        assert res.loc[name, "h2"] == pytest.approx(standard_h2.loc[name, "h2"], abs=tol)


def test_he_from_genotypes_agrees_with_he_from_the_grm(tiny_cohort, tmp_path):
    """--method he with --bfile (one pass over genotype blocks, no N x N matrix) against the
    same kinship written as a GCTA GRM and streamed (exact traces)."""
    from contig_gwas.gwas.kinship import standardised_kinship
    from contig_gwas.heritability.grm_io import write_gcta_grm
    from contig_gwas.io.genotypes import open_genotypes

    d = tiny_cohort
    src = open_genotypes(bfile=str(d / "genotypes"))
    write_gcta_grm(tmp_path / "grm", K=standardised_kinship(source=src),
                   fid=src.samples["FID"], iid=src.samples["IID"])
    common = ["--pheno", str(d / "latent_traits.tsv"), "--pheno-name", "disc", "lipid",
              "--method", "he"]
    geno = _run(tmp_path, "geno", ["--bfile", str(d / "genotypes"), *common])
    grm = _run(tmp_path, "grm", ["--grm", str(tmp_path / "grm"), *common])
    for name in ("disc", "lipid"):
        assert geno.loc[name, "method"] == "HE" and geno.loc[name, "flag"] == "ok"
        assert geno.loc[name, "h2"] == pytest.approx(grm.loc[name, "h2"], rel=0.1)
        assert geno.loc[name, "se"] == pytest.approx(grm.loc[name, "se"], rel=0.2)


def test_variant_qc_and_grm_bfile_match_contig_gwas(tiny_cohort, tmp_path):
    """--maf filters the kinship variants exactly as contig-gwas does (same null-model h2);
    --grm-bfile (PLINK genotypes for the similarity, no QC) equals --bfile without QC."""
    from contig_gwas.gwas.engine import GwasOptions, run_gwas

    d = tiny_cohort
    common = ["--pheno", str(d / "phenotypes.tsv"), "--pheno-name", "height", "--covar",
              str(d / "covariates.tsv"), "--method", "reml"]
    qc = _run(tmp_path, "maf", ["--bfile", str(d / "genotypes"), "--maf", "0.2", *common])
    summary = run_gwas(GwasOptions(out=str(tmp_path / "gw"), pheno=str(d / "phenotypes.tsv"),
                                   pheno_names=["height"], bfile=str(d / "genotypes"),
                                   covar=str(d / "covariates.tsv"), maf=0.2, loco=False,
                                   progress=False))
    null = pd.read_csv(summary.nullmodel, sep="\t").set_index("phenotype")
    S, UtX, Uty, kept = _rotated(d, "height", maf=0.2)
    # the same kinship variants: counted exactly (the h2 tolerance below is wider than the
    # effect of some single variants)
    log = (tmp_path / "maf.log").read_text()
    assert int(re.search(r"kinship variant QC: (\d+) of", log).group(1)) == len(kept)
    assert summary.n_variants_tested == len(kept)   # --maf also selects the kinship variants
    tol = _same_fit_tolerance(null.loc["height", "h2"], qc.loc["height", "h2"], S=S, UtX=UtX,
                              Uty=Uty)
    assert null.loc["height", "h2"] == pytest.approx(qc.loc["height", "h2"], abs=tol)
    a = _run(tmp_path, "grmb", ["--grm-bfile", str(d / "genotypes"), *common])
    b = _run(tmp_path, "bfile", ["--bfile", str(d / "genotypes"), *common])
    # --grm-bfile and --bfile without QC run the same code on the same genotypes: bitwise
    assert a.loc["height", "h2"] == b.loc["height", "h2"] != qc.loc["height", "h2"]
