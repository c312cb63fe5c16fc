"""Tests of contig-simulate: the files agree with each other and with the truth they claim.

Most tests read the session's ``tiny_cohort`` (400 individuals, 3,000 variants, 3 chromosomes,
32-pixel images); the determinism, null-cohort and CLI tests simulate small cohorts of their
own.
"""

from __future__ import annotations

import filecmp
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tolerances import half_unit

from contig_gwas.errors import InputError
from contig_gwas.io.genotypes import open_genotypes
from contig_gwas.io.manifest import read_manifest
from contig_gwas.io.tables import read_table

MICRO = dict(n_individuals=60, n_snps=300, n_chromosomes=2, image_size=16)


def _sources(cohort: Path):
    plink = open_genotypes(bfile=str(cohort / "genotypes"))
    bgen = open_genotypes(bgen=str(cohort / "genotypes.bgen"))
    # BGEN rows in PLINK order, aligned by IID
    order = pd.Index(bgen.samples.IID).get_indexer(plink.samples.IID)
    assert (order >= 0).all()
    return plink, bgen, order


def test_layout_matches_contract(tiny_cohort: Path, tiny_cohort_truth: dict) -> None:
    for name in ["genotypes.bed", "genotypes.bim", "genotypes.fam", "genotypes.bgen",
                 "genotypes.sample", "manifest.tsv", "pgs.tsv", "burden.tsv", "covariates.tsv",
                 "phenotypes.tsv", "downstream.tsv", "latent_traits.tsv", "truth.json"]:
        assert (tiny_cohort / name).is_file(), name
    n = tiny_cohort_truth["n_individuals"]
    cov = read_table(tiny_cohort / "covariates.tsv", kind="covariate")
    assert len(cov.iid) == n
    assert {"sex", "age", "PC1", "PC10"} <= set(cov.columns)
    assert any(c.startswith("centre_") for c in cov.columns)  # categorical, one-hot encoded
    pgs = read_table(tiny_cohort / "pgs.tsv")
    burden = read_table(tiny_cohort / "burden.tsv")
    assert 0 < n - len(pgs.iid) < 0.2 * n and 0 < n - len(burden.iid) < 0.3 * n
    assert set(np.unique(burden.values.to_numpy())) <= {0.0, 1.0}
    phen = read_table(tiny_cohort / "phenotypes.tsv")
    assert phen.values.isna().any().all()  # every standard phenotype has some missing values
    grade = read_table(tiny_cohort / "downstream.tsv").values["grade"]
    assert set(grade.unique()) <= {0, 1, 2, 3, 4} and grade.nunique() >= 3
    man = read_manifest(tiny_cohort / "manifest.tsv", check_files=True)
    per = man.groupby("IID").size()
    assert (per == 2).any() and len(per) < n  # some have both eyes, some none
    assert set(man.instance) == {"left", "right"}


def test_bgen_and_plink_dosages_agree(tiny_cohort: Path, tiny_cohort_truth: dict) -> None:
    plink, bgen, order = _sources(tiny_cohort)
    assert not np.array_equal(order, np.arange(len(order)))  # different sample order
    pd.testing.assert_frame_equal(plink.variants, bgen.variants)
    assert (plink.variants.chromosome.unique() == [1, 2, 3]).all()
    a = plink.read().dosages
    b = bgen.read(samples=order).dosages
    assert a.shape == (tiny_cohort_truth["n_individuals"], tiny_cohort_truth["n_variants"])
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_array_equal(a, b)  # NaN == NaN for assert_array_equal
    miss = np.isnan(a).mean()
    assert 0.01 < miss < 0.04
    assert set(np.unique(a[~np.isnan(a)])) == {0.0, 1.0, 2.0}


@pytest.mark.parametrize("fmt", ["plink", "bgen"])
def test_blocks_equal_whole(tiny_cohort: Path, fmt: str) -> None:
    plink, bgen, order = _sources(tiny_cohort)
    src = plink if fmt == "plink" else bgen
    whole = src.read().dosages
    parts = [blk.dosages for blk in src.iter_blocks(block_size=700)]
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), whole)
    sub = np.array([5, 3, 200, 17])
    var = np.arange(100, 1900, 7)
    got = np.concatenate([b.dosages for b in src.iter_blocks(samples=sub, variants=var,
                                                              block_size=64)], axis=1)
    np.testing.assert_array_equal(got, whole[np.ix_(sub, var)])


def test_same_seed_same_bytes_different_seed_differs(tmp_path: Path) -> None:
    from contig_gwas.simulate import simulate_cohort

    dirs = []
    for name, seed in [("a", 5), ("b", 5), ("c", 6)]:
        simulate_cohort(out_dir=tmp_path / name, seed=seed, progress=False, **MICRO)
        dirs.append(tmp_path / name)
    files = sorted(str(p.relative_to(dirs[0])) for p in dirs[0].rglob("*") if p.is_file())
    assert files == sorted(str(p.relative_to(dirs[1])) for p in dirs[1].rglob("*") if p.is_file())
    match, mismatch, errors = filecmp.cmpfiles(dirs[0], dirs[1], files, shallow=False)
    assert not mismatch and not errors
    _, differ, _ = filecmp.cmpfiles(dirs[0], dirs[2], ["genotypes.bed", "genotypes.bgen",
                                                     "truth.json", "latent_traits.tsv"],
                                    shallow=False)
    assert len(differ) == 4


def _latent(cohort: Path) -> pd.DataFrame:
    return read_table(cohort / "latent_traits.tsv").values


def joint_fit(*, x: np.ndarray, y: np.ndarray, group_b: np.ndarray):
    """Least squares of ``y`` (N,) on an intercept, the ancestry group ``group_b`` (N,) and the
    dosages ``x`` (N, K) over the individuals with every call: the K coefficients of ``x`` and
    their standard errors."""
    ok = ~np.isnan(x).any(axis=1)
    design = np.column_stack([np.ones(ok.sum()), group_b[ok], x[ok]])
    coef, *_ = np.linalg.lstsq(design, y[ok], rcond=None)
    resid = y[ok] - design @ coef
    s2 = resid @ resid / (ok.sum() - design.shape[1])
    se = np.sqrt(np.diag(s2 * np.linalg.inv(design.T @ design)))[2:]
    return coef[2:], se


def test_causal_variants_explain_their_variance(tiny_cohort: Path, tiny_cohort_truth: dict) -> None:
    """Joint regression of each trait on its major causal variants (plus the ancestry group,
    which shifts some traits) recovers the planted betas within 4 standard errors (18 variants:
    a false alarm has probability ~1e-3), and the truth's variance explained matches."""
    plink = open_genotypes(bfile=str(tiny_cohort / "genotypes"))
    vid = pd.Index(plink.variants.variant_id)
    latent = _latent(tiny_cohort).loc[plink.samples.IID]
    group_b = np.isin(plink.samples.IID, tiny_cohort_truth["ancestry"]["iid_B"]).astype(float)
    for trait, info in tiny_cohort_truth["traits"].items():
        cv = info["causal_variants"]
        ea = plink.variants.effect_allele
        assert cv and all(c["effect_allele"] == ea[vid.get_loc(c["variant_id"])] for c in cv)
        x = plink.read(variants=vid.get_indexer([c["variant_id"] for c in cv])).dosages
        y = latent[trait].to_numpy()
        coef, se = joint_fit(x=x, y=y, group_b=group_b)
        beta = np.array([c["beta"] for c in cv])
        assert np.all(np.abs(coef - beta) < 4 * se), (trait, coef, beta, se)
        for j, c in enumerate(cv):
            xo = x[~np.isnan(x[:, j]), j]
            ve = c["beta"] ** 2 * xo.var() / y.var()
            assert 0.02 <= c["variance_explained"] <= 0.06
            assert abs(ve - c["variance_explained"]) < 0.25 * c["variance_explained"]
        assert abs(info["realised_h2"] - info["h2_target"]) < 0.1


def test_image_properties_track_traits(tiny_cohort: Path, tiny_cohort_truth: dict) -> None:
    """Each property measured from the PNGs correlates with its trait (rank correlation
    > 0.35 with ~500 images: the null SD is ~0.045) more than with the other image traits."""
    from PIL import Image
    from scipy.stats import spearmanr

    from contig_gwas.simulate.images import measure_properties

    man = read_manifest(tiny_cohort / "manifest.tsv")
    props = pd.DataFrame([measure_properties(np.asarray(Image.open(p))) for p in man.path])
    latent = _latent(tiny_cohort).loc[man.IID]
    mapping = {t: v["image_property"] for t, v in tiny_cohort_truth["traits"].items()
               if v["image_property"]}
    assert len(mapping) == 4
    for trait, prop in mapping.items():
        rho = {t: spearmanr(props[prop], latent[t]).statistic for t in mapping}
        assert rho[trait] > 0.35, (trait, rho)
        assert all(abs(rho[t]) < rho[trait] for t in mapping if t != trait), (trait, rho)


def _king_robust(x: np.ndarray, y: np.ndarray) -> float:
    """KING-robust kinship of two genotype vectors (0/1/2, NaN missing)."""
    ok = ~np.isnan(x) & ~np.isnan(y)
    x, y = x[ok], y[ok]
    het_both = np.sum((x == 1) & (y == 1))
    opposite = np.sum(np.abs(x - y) == 2)
    return (het_both - 2 * opposite) / (np.sum(x == 1) + np.sum(y == 1))


def test_siblings_have_kinship_a_quarter(tiny_cohort: Path, tiny_cohort_truth: dict) -> None:
    plink = open_genotypes(bfile=str(tiny_cohort / "genotypes"))
    g = plink.read().dosages
    pos = pd.Index(plink.samples.IID)
    pairs = tiny_cohort_truth["related_pairs"]
    assert len(pairs) == 20
    est = np.array([_king_robust(g[pos.get_loc(p["iid1"])], g[pos.get_loc(p["iid2"])])
                    for p in pairs])
    realised = np.array([p["realised_kinship"] for p in pairs])
    # 20 pairs; realised kinship varies (SD ~0.05 on 3 short chromosomes); the estimate from
    # 3,000 linked SNPs has SD ~0.04 around it
    assert abs(est.mean() - 0.25) < 0.06
    assert np.mean(np.abs(est - realised)) < 0.05 and np.max(np.abs(est - realised)) < 0.14
    # unrelated pairs within ancestry group A (KING-robust is negative across groups)
    related = {tuple(sorted((p["iid1"], p["iid2"]))) for p in pairs}
    in_a = np.flatnonzero(~np.isin(pos, tiny_cohort_truth["ancestry"]["iid_B"]))
    rng = np.random.default_rng(0)
    unrel = []
    for _ in range(200):
        i, j = rng.choice(in_a, 2, replace=False)
        if tuple(sorted((pos[i], pos[j]))) not in related:
            unrel.append(_king_robust(g[i], g[j]))
    # 3,000 linked SNPs: unrelated estimates scatter with SD ~0.06 around 0
    assert abs(np.mean(unrel)) < 0.03 and np.quantile(unrel, 0.95) < np.median(est)


def test_cli_end_to_end_and_refuses_to_overwrite(tmp_path: Path) -> None:
    from contig_gwas.cli import _common, simulate

    out = tmp_path / "cohort"
    argv = ["--out", str(out), "--seed", "3", "--n-individuals", "60", "--n-snps", "300",
            "--n-chromosomes", "2", "--image-size", "16", "--no-progress"]
    assert simulate.main(argv) == 0
    truth = json.loads((out / "truth.json").read_text())
    assert truth["parameters"]["n_individuals"] == 60 and truth["seed"] == 3
    log = (out / "simulate.log").read_text()
    assert "contig-simulate" in log and "finished" in log
    assert [p.name for p in tmp_path.iterdir()] == ["cohort"]  # no temporary left
    with pytest.raises(InputError, match="--overwrite"):
        simulate.main(argv)
    assert _common.run(simulate.main, argv) == 2
    assert simulate.main(argv + ["--overwrite", "--pgs-noise", "1.0"]) == 0
    assert json.loads((out / "truth.json").read_text())["pgs"]["estimation_noise_variance"] == 1.0
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not a simulated cohort"):
        simulate.main(["--out", str(other), "--overwrite", *argv[2:]])
    assert (other / "notes.txt").exists()
    with pytest.raises(InputError, match="at least 50"):
        simulate.main(["--out", str(tmp_path / "small"), "--n-individuals", "10"])
    assert not (tmp_path / "small").exists()
    with pytest.raises(InputError, match="--pgs-noise"):
        simulate.main(["--out", str(tmp_path / "small"), "--pgs-noise", "-1"])
    assert not (tmp_path / "small").exists()


@pytest.mark.reference
def test_plink2_reads_both_files_alike(tiny_cohort: Path, tmp_path: Path) -> None:
    """PLINK2 (an independent reader) sees the same ALT allele, frequency and call count in the
    .bed and the .bgen (second allele = ALT), and they match our reader's effect allele."""
    import os
    import shutil
    import subprocess

    plink2 = shutil.which("plink2")
    if plink2 is None:
        pytest.skip("plink2 not installed")
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    runs = {"bed": ["--bfile", str(tiny_cohort / "genotypes")],
            "bgen": ["--bgen", str(tiny_cohort / "genotypes.bgen"), "ref-first",
                     "--sample", str(tiny_cohort / "genotypes.sample")]}
    freq = {}
    for name, args in runs.items():
        subprocess.run([plink2, *args, "--freq", "--threads", "1", "--out", str(tmp_path / name)],
                       check=True, capture_output=True, env=env)
        freq[name] = pd.read_csv(tmp_path / f"{name}.afreq", sep="\t")
    pd.testing.assert_frame_equal(freq["bed"], freq["bgen"])
    plink = open_genotypes(bfile=str(tiny_cohort / "genotypes"))
    assert (freq["bed"]["ALT"].to_numpy() == plink.variants.effect_allele.to_numpy()).all()
    ours = np.nanmean(plink.read().dosages, axis=0) / 2
    # plink2 prints ALT_FREQS to 6 significant digits (half a unit in the last); our float32
    # sum of at most 400 calls of 0/1/2 is exact, the division rounds once (2^-24 relative)
    printed = freq["bed"]["ALT_FREQS"].to_numpy()
    assert np.all(np.abs(printed - ours) <= half_unit(printed) + 2.0 ** -24)


def test_modalities_and_covariates_carry_their_signal(tiny_cohort: Path,
                                                      tiny_cohort_truth: dict) -> None:
    """PGS predict their own trait, effect-gene carriers are shifted, standard phenotypes
    correlate with the trait they measure (as truth.json says), PC1 separates the ancestry
    groups. Thresholds are several null SDs (1/sqrt(400) = 0.05) away."""
    latent = _latent(tiny_cohort)
    traits = tiny_cohort_truth["traits"]
    pgs = read_table(tiny_cohort / "pgs.tsv").values
    for t, info in traits.items():
        r = np.corrcoef(pgs[f"PGS_{t}"], latent.loc[pgs.index, t])[0, 1]
        # expected about h2 / sqrt(h2 + pgs_noise) (h2 0.4-0.8 less the burden share, PGS noise
        # 0.2 of the trait variance): 0.5-0.75; truth.json's value is over every individual,
        # the file lacks about 5% of them
        assert r > 0.4, (t, r)
        assert abs(r - tiny_cohort_truth["pgs"]["correlation_with_trait"][t]) < 0.05, t
    assert tiny_cohort_truth["pgs"]["estimation_noise_variance"] == 0.2
    burden = read_table(tiny_cohort / "burden.tsv").values
    n_genes = 0
    for t, info in traits.items():
        for g in info["burden_genes"]:
            carriers = burden.index[burden[g["gene"]] == 1]
            shift = latent.loc[carriers, t].mean() - latent.loc[burden.index, t].mean()
            se = latent[t].std() / np.sqrt(len(carriers))
            assert np.sign(shift) == np.sign(g["effect"]) and abs(shift) > 1.5 * se, (t, g)
            n_genes += 1
    assert n_genes == 4
    phen = read_table(tiny_cohort / "phenotypes.tsv").values
    for name, info in tiny_cohort_truth["standard_phenotypes"].items():
        if info["measures_trait"]:
            ok = phen[name].notna()
            r = np.corrcoef(phen.loc[ok, name], latent.loc[ok[ok].index, info["measures_trait"]])
            assert abs(r[0, 1] - info["correlation_with_trait"]) < 1e-3
            assert abs(r[0, 1]) > 0.4
    cov = read_table(tiny_cohort / "covariates.tsv", kind="covariate").values
    in_b = cov.index.isin(tiny_cohort_truth["ancestry"]["iid_B"])
    pc1 = cov["PC1"].to_numpy()
    gap = abs(pc1[in_b].mean() - pc1[~in_b].mean()) / pc1.std()
    assert gap > 2.0, gap


def _planted_f(latent: pd.Series, x: np.ndarray, base: np.ndarray) -> float:
    """F statistic of ``x`` (N, K) added to the design ``base`` (N, B) in a regression of
    ``latent``, over the individuals with every call present."""
    ok = ~np.isnan(x).any(axis=1)
    y = latent.to_numpy()[ok]

    def rss(design: np.ndarray) -> float:
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        r = y - design @ coef
        return float(r @ r)

    small, full = base[ok], np.column_stack([base[ok], x[ok]])
    k, dof = x.shape[1], ok.sum() - full.shape[1]
    return (rss(small) - rss(full)) / k / (rss(full) / dof)


def test_null_cohort_has_no_genetic_effect(tmp_path: Path) -> None:
    """--h2 0: truth.json says null, nothing is planted, every genetic value is exactly 0. The
    same seed's non-null cohort (identical genotypes, PCs and burdens) is the positive control:
    its major causal variants explain its traits, the image traits among them (F > 8 with 3
    and ~390 degrees of freedom: p < 1e-4), but not the null cohort's (F < 5: p > 0.002), and
    its PGS correlate with the traits (> 0.4) where the null cohort's do not (< 0.2; null SD
    1/sqrt(400))."""
    from contig_gwas.report.truth import read_truth, truth_recovery
    from contig_gwas.simulate import simulate_cohort

    kw = {"seed": 5, "n_individuals": 400, "n_snps": 300, "n_chromosomes": 2, "image_size": 16,
          "progress": False}
    null = simulate_cohort(out_dir=tmp_path / "null", h2=0, **kw)
    alt = simulate_cohort(out_dir=tmp_path / "alt", **kw)
    truth = json.loads((tmp_path / "null" / "truth.json").read_text())
    assert truth == null.truth and truth["null"] is True and "null" not in alt.truth
    assert truth["parameters"]["n_causal"] == 0 and truth["parameters"]["h2"] == 0
    assert set(truth["null_cohort"]["image_traits_without_genetic_effect"]) == {
        t for t, v in truth["traits"].items() if v["image_property"]}
    assert set(truth["null_cohort"]["standard_phenotypes_without_genetic_effect"]) == set(
        truth["standard_phenotypes"])
    for t, info in truth["traits"].items():
        assert info["causal_variants"] == [] and info["burden_genes"] == []
        assert info["polygenic_variants"] == [] and info["polygenic_scale"] == 0
        assert info["h2_target"] == info["realised_h2"] == 0
        assert info["realised_h2_written_variants"] == info["realised_h2_given_covariates"] == 0
    assert set(null.realised_h2.values()) == {0.0}  # Var(G) is exactly 0
    assert null.causal.empty
    assert read_truth(tmp_path / "null" / "truth.json").empty
    # only the genetic effects differ between the two cohorts
    same = ["genotypes.bed", "genotypes.bim", "genotypes.fam", "genotypes.bgen",
            "genotypes.sample", "covariates.tsv", "burden.tsv"]
    _, mismatch, errors = filecmp.cmpfiles(tmp_path / "null", tmp_path / "alt", same,
                                           shallow=False)
    assert not mismatch and not errors
    differ = ["latent_traits.tsv", "phenotypes.tsv", "pgs.tsv", "manifest.tsv"]
    _, mismatch, _ = filecmp.cmpfiles(tmp_path / "null", tmp_path / "alt", differ, shallow=False)
    assert mismatch == differ[:3]  # the manifest (who has which eye) is the same

    plink = open_genotypes(bfile=str(tmp_path / "alt" / "genotypes"))
    vid = pd.Index(plink.variants.variant_id)
    cov = read_table(tmp_path / "alt" / "covariates.tsv", kind="covariate").values
    cov = cov.loc[plink.samples.IID]
    group_b = np.isin(plink.samples.IID, alt.truth["ancestry"]["iid_B"]).astype(float)
    base = np.column_stack([np.ones(len(cov)), group_b, cov["age"], cov["sex"]])
    lat = {name: _latent(tmp_path / name).loc[plink.samples.IID] for name in ("null", "alt")}
    pgs = {name: read_table(tmp_path / name / "pgs.tsv").values for name in ("null", "alt")}
    for t, info in alt.truth["traits"].items():
        x = plink.read(variants=vid.get_indexer(
            [c["variant_id"] for c in info["causal_variants"]])).dosages
        assert _planted_f(lat["alt"][t], x, base) > 8, t
        assert _planted_f(lat["null"][t], x, base) < 5, t
        r = {k: np.corrcoef(pgs[k][f"PGS_{t}"], lat[k].loc[pgs[k].index, t])[0, 1]
             for k in pgs}
        assert r["alt"] > 0.4 and abs(r["null"]) < 0.2, (t, r)
    # the standard phenotypes still measure their (now non-genetic) traits
    phen = read_table(tmp_path / "null" / "phenotypes.tsv").values
    assert phen.shape == (400, len(truth["standard_phenotypes"]))
    for name, info in truth["standard_phenotypes"].items():
        if info["measures_trait"]:
            assert abs(info["correlation_with_trait"]) > 0.4, name
    # the recovery table of a report on this cohort: nothing planted, every locus false
    loci = {"g": pd.DataFrame({"chromosome": [1, 2], "base_pair_location": [10_000, 20_000]})}
    rec = truth_recovery(loci=loci, truth=read_truth(tmp_path / "null" / "truth.json"), kb=250)
    assert len(rec) == 1
    row = rec.iloc[0]
    assert row["trait"] == "all traits" and row["causal"] == row["recovered"] == 0
    assert row["loci"] == row["false_positive_loci"] == 2 and row["true_positive_loci"] == 0
    assert np.isnan(row["power"])


def test_null_cohort_without_pgs_noise_writes_zero_pgs(tmp_path: Path) -> None:
    """--h2 0 --pgs-noise 0: every PGS is constant; written as 0, correlations null."""
    from contig_gwas.simulate import simulate_cohort

    t = simulate_cohort(out_dir=tmp_path / "c", seed=2, h2=0.0, pgs_noise=0, progress=False,
                        **MICRO)
    pgs = read_table(tmp_path / "c" / "pgs.tsv").values
    assert (pgs.to_numpy() == 0).all()
    assert set(t.truth["pgs"]["correlation_with_trait"].values()) == {None}


def test_cli_n_causal_zero_keeps_polygenic_background(tmp_path: Path) -> None:
    """--n-causal 0: no planted major variants, the polygenic background reaches --h2."""
    from contig_gwas.cli import simulate
    from contig_gwas.report.truth import read_truth

    out = tmp_path / "cohort"
    argv = ["--out", str(out), "--seed", "4", "--n-individuals", "60", "--n-snps", "300",
            "--n-chromosomes", "2", "--image-size", "16", "--no-progress"]
    assert simulate.main(argv + ["--n-causal", "0", "--h2", "0.5"]) == 0
    truth = json.loads((out / "truth.json").read_text())
    assert "null" not in truth and truth["parameters"]["n_causal"] == 0
    for t, info in truth["traits"].items():
        assert info["causal_variants"] == []
        assert len(info["polygenic_variants"]) > 0 and info["polygenic_scale"] > 0
        # the background is scaled so that Var(G) = h2 exactly (variance: ddof 1; both values
        # written to 6 significant digits, so their product to 1e-5)
        var_g = info["realised_h2"] * info["variance"] * (60 - 1) / 60
        assert var_g == pytest.approx(0.5, rel=1e-5 + 1e-12), t
    assert read_truth(out / "truth.json").empty
    # --h2 0 alone: --n-causal defaults to 0
    assert simulate.main(argv + ["--h2", "0", "--overwrite"]) == 0
    truth = json.loads((out / "truth.json").read_text())
    assert truth["null"] is True and truth["parameters"]["n_causal"] == 0


@pytest.mark.parametrize("extra, message", [
    (["--h2", "-0.1"], r"--h2 must be in \[0, 1\), got -0.1"),
    (["--h2", "1"], r"--h2 must be in \[0, 1\), got 1.0"),
    (["--h2", "1.5"], r"--h2 must be in \[0, 1\), got 1.5"),
    (["--h2", "nan"], r"--h2 must be in \[0, 1\), got nan"),
    (["--n-causal", "-1"], "--n-causal must be non-negative, got -1"),
    (["--h2", "0", "--n-causal", "2"], "--h2 0 .*no room for --n-causal 2"),
    (["--h2", "0.1", "--n-causal", "3"], "no room for a polygenic background under h2 = 0.1"),
    (["--diseases", "d=0.1"], "is not NAME=PREVALENCE:TRAIT"),
    (["--diseases", "d=x:vessel"], "must be numbers"),
    (["--diseases", "d=0:vessel"], r"prevalence must be in \(0, 1\), got 0.0"),
    (["--diseases", "d=1:vessel"], r"prevalence must be in \(0, 1\), got 1.0"),
    (["--diseases", "d=0.1:nope"], "no latent trait 'nope'"),
    (["--diseases", "d=0.1:disc:1.5"], r"loading must be in \(0, 1\]"),
    (["--diseases", "d=0.1:disc", "d=0.2:lipid"], "already used"),
    (["--diseases", "height=0.1:height"], "already used by another column"),
    (["--diseases", "1d=0.1:disc"], "starts with a letter"),
])
def test_cli_rejects_bad_options(tmp_path: Path, capsys, extra: list[str], message: str) -> None:
    from contig_gwas.cli import _common, simulate

    out = tmp_path / "cohort"
    assert _common.run(simulate.main, ["--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and re.search(message, err), err
    assert not out.exists() and list(tmp_path.iterdir()) == []
