"""Loci (clumping), lambda GC, the ContIG min-p combination, overlap and truth recovery."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from tolerances import gamma, half_unit

from contig_gwas.errors import InputError
from contig_gwas.io.genotypes import open_genotypes
from contig_gwas.report.loci import (
    ClumpParams,
    GenotypeLD,
    clump,
    clump_table,
    loci_overlap,
    pairwise_r2,
    read_loci,
    write_loci,
)
from contig_gwas.report.stats import CHI2_MEDIAN, GroupCombiner, combine_min_p, lambda_gc
from contig_gwas.report.synthetic import ld_block_genotypes
from contig_gwas.report.truth import read_truth, truth_recovery

PLINK = shutil.which("plink1.9")


# ---------------------------------------------------------------- constructed clumping cases

def test_clump_constructed_case_known_loci():
    # chromosome 1: A (index, p 1e-20) at 100 kb; B at 150 kb in LD with A (absorbed);
    # C at 180 kb independent of A, p 1e-10 (own locus); D at 500 kb, p 1e-6 (member-level
    # only, outside A's window: in no locus); chromosome 2: E p 1e-9 alone.
    chrom = np.array([1, 1, 1, 1, 2])
    pos = np.array([100_000, 150_000, 180_000, 500_000, 100_000])
    p = np.array([1e-20, 1e-12, 1e-10, 1e-6, 1e-9])
    r2 = np.eye(5)
    r2[0, 1] = r2[1, 0] = 0.8
    r2[0, 2] = r2[2, 0] = 0.05
    r2[1, 2] = r2[2, 1] = 0.5   # B-C in LD, but B is already in A's clump when C is processed
    res = clump(chromosome=chrom, position=pos, neg_log10_p=-np.log10(p),
                params=ClumpParams(p1=5e-8, p2=1e-5, r2=0.1, kb=250),
                r2=lambda i, js: r2[i, js])
    assert res.index.tolist() == [0, 2, 4]
    assert [m.tolist() for m in res.members] == [[1], [], []]
    assert res.assignment.tolist() == [0, 0, 1, -1, 2]
    # distance only: everything within 250 kb of A with p <= p2 is absorbed
    res = clump(chromosome=chrom, position=pos, neg_log10_p=-np.log10(p),
                params=ClumpParams(), r2=None)
    assert res.index.tolist() == [0, 4]
    assert res.members[0].tolist() == [1, 2]


def test_clump_window_and_thresholds():
    chrom = np.ones(4, dtype=int)
    pos = np.array([1_000_000, 1_000_000 + 249_000, 1_000_000 + 251_000, 1_000_000 + 10_000])
    p = np.array([1e-10, 1e-6, 1e-6, 1e-3])   # last: above p2, never absorbed
    res = clump(chromosome=chrom, position=pos, neg_log10_p=-np.log10(p), params=ClumpParams())
    assert res.index.tolist() == [0]
    assert res.members[0].tolist() == [1]
    assert res.assignment.tolist() == [0, 0, -1, -1]


def test_clump_underflowed_p_ranks_first():
    nlp = np.array([20.0, 400.0, np.nan, 350.0])
    res = clump(chromosome=np.array([1, 1, 1, 2]), position=np.array([1, 2, 3, 4]),
                neg_log10_p=nlp, params=ClumpParams())
    assert res.index.tolist() == [1, 3]
    assert res.members[0].tolist() == [0]


def test_pairwise_r2_matches_numpy_with_missing():
    rng = np.random.default_rng(1)
    g = rng.integers(0, 3, size=(200, 4)).astype(float)
    g[:, 1] = np.clip(g[:, 0] + rng.integers(-1, 2, 200) * (rng.random(200) < 0.2), 0, 2)
    g[5, 0] = np.nan
    g[7, 2] = np.nan
    r2 = pairwise_r2(g[:, 0], g[:, 1:])
    for k in range(1, 4):
        ok = ~np.isnan(g[:, 0]) & ~np.isnan(g[:, k])
        # two float64 correlations: each within gamma(4N) times the cancellation
        # sum |x y| / |sum x y| (centred) of the exact one; r2 doubles the relative error
        x, y = g[ok, 0] - g[ok, 0].mean(), g[ok, k] - g[ok, k].mean()
        rel = 2 * 2 * gamma(4 * ok.sum()) * np.abs(x) @ np.abs(y) / abs(x @ y)
        assert r2[k - 1] == pytest.approx(np.corrcoef(g[ok, 0], g[ok, k])[0, 1] ** 2, rel=rel)


# ---------------------------------------------------------------- PLINK 1.9 reference

def _ld_study(tmp_path, seed=3):
    """Two chromosomes of LD blocks 60 kb apart (several blocks per 250 kb window), p-values
    planted per block, written as PLINK files; returns (prefix, sumstats table)."""
    import bed_reader

    rng = np.random.default_rng(seed)
    n_blocks, size = 16, 12
    dos = ld_block_genotypes(n_samples=600, block_sizes=[size] * n_blocks, seed=seed, noise=0.06)
    m = dos.shape[1]
    chrom = np.repeat([1, 2], m // 2)
    block = np.repeat(np.arange(n_blocks), size)
    pos = (block % (n_blocks // 2)) * 60_000 + np.tile(np.arange(size) * 3_000, n_blocks) + 10_000
    vid = np.array([f"v{k}" for k in range(m)])
    prefix = tmp_path / "ld"
    bed_reader.to_bed(str(prefix) + ".bed", dos, properties={
        "fid": [f"f{k}" for k in range(len(dos))], "iid": [f"i{k}" for k in range(len(dos))],
        "chromosome": [str(c) for c in chrom], "sid": vid, "bp_position": pos,
        "allele_1": ["A"] * m, "allele_2": ["G"] * m}, count_A1=True)
    # block strengths: strong, weak-but-index, member-only, null, ...
    strength = rng.choice([0.0, 0.0, 6.0, 9.0, 15.0, 30.0], size=n_blocks)
    nlp = np.empty(m)
    for b in range(n_blocks):
        k = block == b
        top = strength[b]
        nlp[k] = rng.uniform(0, 2, k.sum()) if top == 0 else top - rng.uniform(0, 4, k.sum())
    nlp = np.maximum(nlp, 0.01)
    p = 10.0 ** -nlp
    table = pd.DataFrame({"chromosome": chrom, "base_pair_location": pos, "variant_id": vid,
                          "effect_allele": "A", "other_allele": "G",
                          "effect_allele_frequency": 0.3, "n": 600, "beta": 0.1,
                          "standard_error": 0.02, "p_value": p, "neg_log10_p_value": -np.log10(p)})
    return prefix, table


def test_clump_with_genotypes_reads_only_windows(tmp_path):
    prefix, table = _ld_study(tmp_path)
    geno = open_genotypes(bfile=str(prefix))
    loci, info = clump_table(table, params=ClumpParams(), genotypes=geno)
    # only candidate variants (p <= p2) are ever read, not the whole matrix
    assert 0 < info["variants_read"]
    assert info["candidates"] < len(table)
    # every lead is the most significant variant of its LD block
    blocks = table["variant_id"].str[1:].astype(int) // 12
    for _, r in loci.iterrows():
        b = int(r["variant_id"][1:]) // 12
        best = table.loc[blocks == b, "neg_log10_p_value"].max()
        assert r["neg_log10_p_value"] == pytest.approx(best)
    # with LD, adjacent independent blocks inside one window stay separate loci;
    # distance-only merges them
    dist, _ = clump_table(table, params=ClumpParams(), genotypes=None)
    assert len(dist) < len(loci)


@pytest.mark.reference
@pytest.mark.skipif(PLINK is None, reason="plink1.9 not installed (apt-get install plink1.9)")
@pytest.mark.parametrize("seed,p1,p2,r2,kb", [
    (3, 5e-8, 1e-5, 0.1, 250), (3, 1e-6, 1e-4, 0.5, 100),
    (7, 5e-8, 1e-7, 0.1, 150), (11, 1e-5, 1e-3, 0.45, 250)])
def test_clump_matches_plink19(tmp_path, seed, p1, p2, r2, kb):
    prefix, table = _ld_study(tmp_path, seed=seed)
    assoc = tmp_path / "assoc.txt"
    table.rename(columns={"variant_id": "SNP", "p_value": "P"})[["SNP", "P"]].to_csv(
        assoc, sep="\t", index=False, float_format="%.10g")
    out = tmp_path / "ref"
    subprocess.run([PLINK, "--bfile", str(prefix), "--clump", str(assoc), "--clump-p1", str(p1),
                    "--clump-p2", str(p2), "--clump-r2", str(r2), "--clump-kb", str(kb),
                    "--out", str(out), "--threads", "1"], check=True, capture_output=True,
                   env={"OPENBLAS_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    ref = pd.read_csv(str(out) + ".clumped", sep=r"\s+")
    ours, _ = clump_table(table, params=ClumpParams(p1=p1, p2=p2, r2=r2, kb=kb),
                          genotypes=open_genotypes(bfile=str(prefix)))
    assert len(ref) >= 2
    assert sorted(ours["variant_id"]) == sorted(ref["SNP"])          # same index variants
    ref_members = {r.SNP: set() if r.SP2 == "NONE" else {s.split("(")[0] for s in r.SP2.split(",")}
                   for r in ref.itertuples()}
    for r in ours.itertuples():                                       # and the same members
        mine = set() if r.members == "NONE" else set(r.members.split(","))
        assert mine == ref_members[r.variant_id], r.variant_id


# ---------------------------------------------------------------- lambda and combination

@pytest.mark.parametrize("m", [1001, 1000])
def test_lambda_gc_equals_definition(m):
    rng = np.random.default_rng(m)
    chi2 = rng.chisquare(1, m) * 1.1
    p = stats.chi2.sf(chi2, 1)
    expected = np.median(stats.chi2.isf(p, 1)) / 0.45493642311957
    got = lambda_gc(neg_log10_p=np.concatenate([-np.log10(p), [np.nan]]))
    assert got == pytest.approx(expected, rel=1e-9)
    assert CHI2_MEDIAN == pytest.approx(0.454936423119573, rel=1e-12)


def test_lambda_gc_null_near_one_and_empty():
    rng = np.random.default_rng(0)
    assert lambda_gc(neg_log10_p=-np.log10(rng.uniform(size=200_000))) == pytest.approx(1, abs=0.02)
    assert np.isnan(lambda_gc(neg_log10_p=np.array([np.nan])))


def test_combine_min_p_bonferroni():
    p = np.array([[0.01, 0.2, 0.5],
                  [0.5, 0.9, 0.4],         # 3 x 0.4 = 1.2 -> capped at 1
                  [1e-10, np.nan, 1e-12],  # NaN ignored, K stays 3
                  [np.nan, np.nan, np.nan]])
    comb, arg = combine_min_p(neg_log10_p=-np.log10(p))
    np.testing.assert_allclose(10 ** -comb[:3], [0.03, 1.0, 3e-12], rtol=1e-12)
    assert arg.tolist() == [0, 2, 2, -1]
    assert np.isnan(comb[3])
    # underflowed inputs stay exact on the log scale
    comb, _ = combine_min_p(neg_log10_p=np.array([[400.0, 3.0]]))
    assert comb[0] == pytest.approx(400 - np.log10(2))


def test_group_combiner_matches_array_and_aligns_by_id():
    rng = np.random.default_rng(2)
    m = 50
    base = pd.DataFrame({"chromosome": 1, "base_pair_location": np.arange(m) + 1,
                         "variant_id": [f"v{k}" for k in range(m)], "effect_allele": "A",
                         "other_allele": "G", "effect_allele_frequency": 0.2, "n": 100,
                         "standard_error": 0.1})
    tables = []
    for k in range(3):
        t = base.assign(beta=rng.normal(size=m), neg_log10_p_value=rng.exponential(size=m))
        tables.append(t)
    comb = GroupCombiner(name="g", n_phenotypes=3)
    comb.add("a", tables[0])
    comb.add("b", tables[1].iloc[::-1])         # another order: aligned by variant_id
    comb.add("c", tables[2])
    out = comb.result()
    nlp = np.column_stack([t["neg_log10_p_value"] for t in tables])
    expected, arg = combine_min_p(neg_log10_p=nlp)
    np.testing.assert_allclose(out["neg_log10_p_value"], expected)
    assert out["phenotype"].tolist() == [["a", "b", "c"][k] for k in arg]
    betas = np.column_stack([t["beta"] for t in tables])
    np.testing.assert_allclose(out["beta"], betas[np.arange(m), arg])


# ---------------------------------------------------------------- overlap, truth, files

def _loci(rows):
    return pd.DataFrame(rows, columns=["chromosome", "base_pair_location", "variant_id",
                                       "neg_log10_p_value"])


def test_loci_overlap_within_window():
    a = _loci([(1, 1_000_000, "a1", 10), (2, 5_000_000, "a2", 9), (3, 100, "a3", 8)])
    b = _loci([(1, 1_200_000, "b1", 10), (2, 5_300_000, "b2", 9)])
    ov = loci_overlap({"A": a, "B": b}, kb=250)
    ra = ov[ov["group"] == "A"].iloc[0]
    assert (ra["loci"], ra["shared"], ra["unique"]) == (3, 1, 2)
    rb = ov[ov["group"] == "B"].iloc[0]
    assert (rb["loci"], rb["shared"], rb["unique"]) == (2, 1, 1)


@pytest.mark.parametrize("layout", ["dict", "list", "columns"])
def test_truth_layouts_and_recovery(tmp_path, layout):
    causal = [{"variant_id": "c1", "chromosome": 1, "position": 1_000_000},
              {"variant_id": "c2", "chromosome": 2, "position": 2_000_000}]
    other = [{"variant_id": "c3", "chrom": "chr3", "pos": 500}]
    if layout == "dict":
        doc = {"seed": 1, "traits": {"t1": {"causal_variants": causal, "h2": 0.3},
                                     "t2": {"causal_variants": other}}}
    elif layout == "list":
        doc = {"traits": [{"name": "t1", "causal": causal}, {"name": "t2", "causal": other}]}
    else:
        doc = {"traits": {"t1": {"causal_variants": {
            "variant_id": ["c1", "c2"], "chromosome": [1, 2], "position": [1_000_000, 2_000_000]}},
            "t2": {"causal_variants": other}}}
    path = tmp_path / "truth.json"
    path.write_text(json.dumps(doc))
    truth = read_truth(path)
    assert truth["trait"].tolist() == ["t1", "t1", "t2"]
    assert truth["chromosome"].tolist() == [1, 2, 3]
    loci = {"g": _loci([(1, 1_100_000, "x", 10), (5, 1, "y", 9)])}
    rec = truth_recovery(loci=loci, truth=truth, kb=250)
    allrow = rec[rec["trait"] == "all traits"].iloc[0]
    assert allrow["true_positive_loci"] == 1 and allrow["false_positive_loci"] == 1
    assert allrow["recovered"] == 1 and allrow["power"] == pytest.approx(1 / 3)
    assert rec[rec["trait"] == "t1"]["power"].iloc[0] == pytest.approx(0.5)


def test_truth_bad_file_names_it(tmp_path):
    path = tmp_path / "truth.json"
    path.write_text(json.dumps({"traits": {"t": {"h2": 0.1}}}))
    with pytest.raises(InputError, match="truth.json"):
        read_truth(path)


def test_loci_file_has_parameters_header(tmp_path):
    loci = pd.DataFrame({"locus": [1], "variant_id": ["rs1"]})
    write_loci(tmp_path / "x.loci.tsv", loci, params=ClumpParams(p2=1e-7, kb=150), ld_used=True,
               source="s")
    text = (tmp_path / "x.loci.tsv").read_text()
    assert "clump_p2=1e-07" in text and "clump_kb=150" in text
    assert read_loci(tmp_path / "x.loci.tsv")["variant_id"].tolist() == ["rs1"]


def test_genotype_ld_missing_variant_gives_nan(tmp_path):
    prefix, table = _ld_study(tmp_path)
    ld = GenotypeLD.for_table(source=open_genotypes(bfile=str(prefix)),
                              variant_id=["v0", "v1", "absent"])
    r = ld(0, np.array([1, 2]))
    assert r[0] > 0.3 and np.isnan(r[1])


@pytest.mark.reference
@pytest.mark.skipif(PLINK is None, reason="plink1.9 not installed (apt-get install plink1.9)")
def test_haplotype_r2_matches_plink_ld(tmp_path):
    from contig_gwas.report.loci import haplotype_r2

    prefix, _ = _ld_study(tmp_path)
    geno = open_genotypes(bfile=str(prefix)).read(variants=np.arange(12)).dosages
    out = tmp_path / "ld"
    subprocess.run([PLINK, "--bfile", str(prefix), "--r2", "--ld-window-r2", "0", "--ld-window",
                    "12", "--chr", "1", "--out", str(out)], check=True, capture_output=True)
    ld = pd.read_csv(str(out) + ".ld", sep=r"\s+")
    ld = ld[ld["SNP_A"] == "v0"].set_index("SNP_B")["R2"]
    # PLINK --r2 reports the allele-count correlation ...
    corr = pairwise_r2(geno[:, 0], geno[:, 1:])
    # PLINK prints 6 significant digits (half a unit in the last); ours is a float64
    # correlation of N values (round-off gamma(4N) relative to 1)
    ref = ld.loc[[f"v{k}" for k in range(1, 12)]].to_numpy()
    assert np.all(np.abs(corr - ref) <= half_unit(ref) + gamma(4 * len(geno)))
    # ... and --ld the EM haplotype r2 that --clump uses
    res = subprocess.run([PLINK, "--bfile", str(prefix), "--ld", "v5", "v8", "--out",
                          str(tmp_path / "ld2")], check=True, capture_output=True, text=True)
    ref = float(res.stdout.split("R-sq =")[1].split()[0])
    # PLINK prints 6 significant digits; our EM stops when the haplotype frequencies move by
    # less than 1e-12 in a step: even at a slow contraction (0.99 a step) within 1e-10 of the
    # fixed point; r2 = D^2 / (p (1 - p) q (1 - q)) with allele frequencies 0.26 and 0.25
    # here has |d r2 / d freq| < 10, so r2 within 1e-9
    got = haplotype_r2(geno[:, 5], geno[:, [8]])[0]
    assert got == pytest.approx(ref, abs=float(half_unit(ref)) + 1e-9)
