"""contig-simulate's binary diseases and gene annotation: the files agree with the liability
model and the truth they claim, and writing them changes no other file of a cohort.

Most tests read the session's ``tiny_cohort`` (400 individuals, seed 1, the default diseases
``disease_common`` (K 0.2, trait vessel) and ``disease_rare`` (K 0.02, trait lipid)); the
byte-identity and CLI tests simulate micro cohorts of their own.
"""

from __future__ import annotations

import filecmp
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_simulate import joint_fit
from tolerances import half_unit

from contig_gwas.io.genotypes import open_genotypes
from contig_gwas.io.tables import read_table

MICRO = dict(n_individuals=60, n_snps=300, n_chromosomes=2, image_size=16)
DISEASE_FILES = {"diseases.tsv", "disease_liability.tsv"}


def _tables(cohort: Path):
    status = read_table(cohort / "diseases.tsv").values
    liability = read_table(cohort / "disease_liability.tsv").values
    latent = read_table(cohort / "latent_traits.tsv").values
    return status, liability, latent


def test_status_follows_the_liability_threshold(tiny_cohort: Path,
                                                tiny_cohort_truth: dict) -> None:
    status, liability, latent = _tables(tiny_cohort)
    dis = tiny_cohort_truth["diseases"]
    assert list(dis) == ["disease_common", "disease_rare"] == list(status.columns)
    assert list(liability.columns) == [f"{d}_liability" for d in dis]
    n = tiny_cohort_truth["n_individuals"]
    assert len(status) == n and not status.isna().any().any()
    for name, info in dis.items():
        y = status[name].to_numpy()
        assert set(np.unique(y)) == {1.0, 2.0}  # PLINK's 1 = control, 2 = case
        assert info["coding"]["control"] == 1 and info["coding"]["case"] == 2
        # the case share is the prevalence, to one individual (the cohort's own quantile)
        cases = int((y == 2).sum())
        assert cases == info["n_cases"] == round(info["prevalence"] * n)
        assert info["n_controls"] == n - cases
        assert abs(info["sample_prevalence"] - cases / n) <= half_unit(cases / n)
        # cases are exactly the individuals above the threshold
        liab = liability[info["liability_column"]].to_numpy()
        thr = info["threshold"]
        assert (liab[y == 2] > thr - half_unit(thr)).all()
        assert (liab[y == 1] < thr + half_unit(thr)).all()
        # the liability has mean 0 and variance 1 (written to 8 digits: 1e-7 is generous)
        assert abs(liab.mean()) < 1e-7 and abs(liab.var() - 1) < 1e-6
        # L = a Y_t + e with e independent noise: regressing L on the trait recovers the slope
        # a within 4 standard errors
        x = latent.loc[liability.index, info["trait"]].to_numpy()
        slope, icpt = np.polyfit(x, liab, 1)
        resid = liab - slope * x - icpt
        se = np.sqrt(resid.var() / (n - 2) / x.var())
        assert abs(slope - info["liability_per_trait_unit"]) < 4 * se, (name, slope, se)


def test_truth_entries(tiny_cohort_truth: dict) -> None:
    """Each disease inherits its trait's planted variants and genes, effects times the
    liability per trait unit; its liability h2 is about loading^2 times the trait's (up to the
    sampling of the disease noise in 400 individuals: Var(e) and cov(e, Y) each scatter by
    about 0.36 sqrt(2/400) = 0.025 and 0.8 x 0.6 / 20 = 0.024)."""
    traits = tiny_cohort_truth["traits"]
    params = {d["name"]: d for d in tiny_cohort_truth["parameters"]["diseases"]}
    assert params == {"disease_common": {"name": "disease_common", "prevalence": 0.2,
                                         "trait": "vessel", "loading": 0.8},
                      "disease_rare": {"name": "disease_rare", "prevalence": 0.02,
                                       "trait": "lipid", "loading": 0.8}}
    for name, info in tiny_cohort_truth["diseases"].items():
        t = traits[info["trait"]]
        assert info["prevalence"] == params[name]["prevalence"]
        assert info["image_property"] == t["image_property"]
        a = info["liability_per_trait_unit"]
        assert [c["variant_id"] for c in info["causal_variants"]] == [
            c["variant_id"] for c in t["causal_variants"]] and info["causal_variants"]
        # truth.json writes 6 significant digits: each written number is within half a unit
        # of its 6th digit, a relative 5e-6 at most; a comparison of k written numbers is
        # exact to k such errors
        digit = 5e-6
        for c, ct in zip(info["causal_variants"], t["causal_variants"]):
            assert c["beta"] == pytest.approx(a * ct["beta"], rel=3 * digit)
            # variance explained: the trait's times a^2 Var(Y_t) / Var(L), Var(L) = 1
            assert c["variance_explained"] == pytest.approx(
                ct["variance_explained"] * a * a * t["variance"] / info["liability_variance"],
                rel=6 * digit)
        assert [g["gene"] for g in info["burden_genes"]] == [g["gene"] for g in t["burden_genes"]]
        h2 = info["realised_h2_liability"]
        assert abs(h2 - info["loading"] ** 2 * t["realised_h2"]) < 0.1
        assert h2 <= info["realised_h2_liability_given_covariates"] + 0.02
        assert 0 < info["expected_h2_observed_scale_given_covariates"] < h2
    assert tiny_cohort_truth["diseases"]["disease_common"]["image_property"] == "vessel_calibre"
    assert tiny_cohort_truth["diseases"]["disease_rare"]["image_property"] is None


def test_causal_variants_drive_the_liability(tiny_cohort: Path, tiny_cohort_truth: dict) -> None:
    """Joint regression of each liability on its disease's causal variants (plus ancestry)
    recovers the liability-scale betas within 4 standard errors (6 variants)."""
    _, liability, _ = _tables(tiny_cohort)
    plink = open_genotypes(bfile=str(tiny_cohort / "genotypes"))
    vid = pd.Index(plink.variants.variant_id)
    group_b = np.isin(plink.samples.IID, tiny_cohort_truth["ancestry"]["iid_B"]).astype(float)
    for name, info in tiny_cohort_truth["diseases"].items():
        cv = info["causal_variants"]
        x = plink.read(variants=vid.get_indexer([c["variant_id"] for c in cv])).dosages
        y = liability.loc[plink.samples.IID, info["liability_column"]].to_numpy()
        coef, se = joint_fit(x=x, y=y, group_b=group_b)
        beta = np.array([c["beta"] for c in cv])
        assert np.all(np.abs(coef - beta) < 4 * se), (name, coef, beta, se)


def test_gene_annotation_lists_the_burden_genes(tiny_cohort: Path,
                                                tiny_cohort_truth: dict) -> None:
    burden = tiny_cohort_truth["burden"]
    assert burden["gene_annotation"] == "genes.gtf"
    rows = [line.split("\t") for line in (tiny_cohort / "genes.gtf").read_text().splitlines()
            if not line.startswith("#")]
    assert [(int(r[0]), int(r[3]), int(r[4])) for r in rows] == [
        (g["chromosome"], g["start"], g["end"]) for g in burden["genes"]]
    names = [re.findall(r'gene_name "([^"]+)"', r[8])[0] for r in rows]
    assert names == [g["gene"] for g in burden["genes"]]
    assert names == read_table(tiny_cohort / "burden.tsv").columns


def test_diseases_change_no_other_file(tmp_path: Path) -> None:
    """The same seed with the default diseases, other diseases and none: every other file is
    byte-identical, and truth.json differs only in its disease entries."""
    from contig_gwas.simulate import simulate_cohort
    from contig_gwas.simulate.diseases import DiseaseSpec

    runs = {"default": {}, "none": {"diseases": ()},
            "other": {"diseases": (DiseaseSpec("glaucoma", 0.1, "disc", 0.9),)}}
    dirs = {}
    for name, kw in runs.items():
        simulate_cohort(out_dir=tmp_path / name, seed=2, progress=False, **MICRO, **kw)
        dirs[name] = tmp_path / name
    files = {name: sorted(str(p.relative_to(d)) for p in d.rglob("*") if p.is_file())
             for name, d in dirs.items()}
    common = [f for f in files["none"] if f != "truth.json"]
    assert set(files["default"]) == set(files["other"]) == set(files["none"]) | DISEASE_FILES
    assert "genes.gtf" in common
    for other in ("default", "other"):
        _, mismatch, errors = filecmp.cmpfiles(dirs["none"], dirs[other], common, shallow=False)
        assert not mismatch and not errors, (other, mismatch)
    truth = {name: json.loads((d / "truth.json").read_text()) for name, d in dirs.items()}
    assert truth["none"]["diseases"] == {} and truth["none"]["parameters"]["diseases"] == []
    assert list(truth["other"]["diseases"]) == ["glaucoma"]
    assert truth["other"]["diseases"]["glaucoma"]["n_cases"] == 6  # 10% of 60
    for name in ("default", "other"):
        for key in ("diseases", "parameters"):
            truth[name].pop(key)
        truth["none"].pop("diseases", None)
        truth["none"].pop("parameters", None)
        assert truth[name] == truth["none"], name


def test_null_cohort_diseases_carry_no_genetic_effect(tmp_path: Path) -> None:
    from contig_gwas.simulate import simulate_cohort

    t = simulate_cohort(out_dir=tmp_path / "c", seed=2, h2=0.0, progress=False, **MICRO).truth
    null = t["null_cohort"]
    assert set(null["diseases_without_genetic_effect"]) == set(t["diseases"])
    assert DISEASE_FILES <= set(null["files_without_genetic_effect"])
    for info in t["diseases"].values():
        assert info["realised_h2_liability"] == 0 and info["causal_variants"] == []
        assert info["expected_h2_observed_scale_given_covariates"] == 0


def test_cli_diseases_exclude_no_diseases(tmp_path: Path) -> None:
    from contig_gwas.cli import simulate

    with pytest.raises(SystemExit) as exc:  # argparse: usage error, exit 2
        simulate.main(["--out", str(tmp_path / "c"), "--diseases", "d=0.1:disc",
                       "--no-diseases"])
    assert exc.value.code == 2 and list(tmp_path.iterdir()) == []


def test_cli_diseases_and_no_diseases(tmp_path: Path) -> None:
    from contig_gwas.cli import simulate

    argv = ["--seed", "3", "--n-individuals", "60", "--n-snps", "300", "--n-chromosomes", "2",
            "--image-size", "16", "--no-progress"]
    assert simulate.main(["--out", str(tmp_path / "a"), *argv,
                          "--diseases", "glaucoma=0.05:disc", "amd=0.5:lesion:0.9"]) == 0
    truth = json.loads((tmp_path / "a" / "truth.json").read_text())
    assert {k: (v["prevalence"], v["trait"], v["loading"], v["n_cases"])
            for k, v in truth["diseases"].items()} == {"glaucoma": (0.05, "disc", 0.8, 3),
                                                       "amd": (0.5, "lesion", 0.9, 30)}
    assert read_table(tmp_path / "a" / "diseases.tsv").columns == ["glaucoma", "amd"]
    assert "disease glaucoma" in (tmp_path / "a" / "simulate.log").read_text()
    assert simulate.main(["--out", str(tmp_path / "b"), *argv, "--no-diseases"]) == 0
    assert not (tmp_path / "b" / "diseases.tsv").exists()
    assert (tmp_path / "b" / "genes.gtf").exists()
