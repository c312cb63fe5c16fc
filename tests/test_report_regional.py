"""Regional plots: r2 with the lead against numpy on the tiny cohort, and the figure's artists
(points, lead, r2 colours, gene track with and without an annotation), not its pixels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from tolerances import gamma

from contig_gwas.io.genotypes import open_genotypes
from contig_gwas.report.genes import GENE_COLUMNS, GeneTable, read_genes
from contig_gwas.report.labels import renderer_of
from contig_gwas.report.loci import haplotype_r2
from contig_gwas.report.regional import (
    LEAD_COLOUR,
    NO_LD,
    R2_COLOURS,
    lead_r2,
    r2_bin,
    regional_figure,
    regional_plots,
)
from contig_gwas.report.synthetic import Peak, synthetic_sumstats


@pytest.fixture(scope="module")
def cohort_source(tiny_cohort):
    return open_genotypes(bfile=str(tiny_cohort / "genotypes"))


def test_lead_r2_matches_numpy_corrcoef(cohort_source):
    src = cohort_source
    v = src.variants
    lead = 40
    window = np.flatnonzero((v.chromosome == v.chromosome.iat[lead])
                            & (np.abs(v.position - v.position.iat[lead]) <= 100_000))
    ids = list(v.variant_id.iloc[window]) + ["not_in_genotypes"]
    got = lead_r2(src, lead_variant_id=v.variant_id.iat[lead], variant_ids=ids, method="dosage")
    dos = src.read(variants=np.r_[lead, window]).dosages.astype(np.float64)
    x = dos[:, 0]
    ref, bound = [], []
    for k in range(1, dos.shape[1]):
        ok = ~np.isnan(x) & ~np.isnan(dos[:, k])
        a, b = x[ok], dos[ok, k]
        ref.append(np.corrcoef(a, b)[0, 1] ** 2)
        # cov, var x, var y: sums of n products of values <= 2 (each <= 4), means subtracted,
        # so each is within 8 gamma(4n) of exact in any summation order; r2 = cov^2/(vx vy)
        # moves by at most d (2/sqrt(vx vy) + 1/vx + 1/vy) for errors d in them
        n, vx, vy = ok.sum(), a.var(), b.var()
        bound.append(8 * gamma(4 * n) * (2 / np.sqrt(vx * vy) + 1 / vx + 1 / vy))
    assert np.isnan(got[-1])
    np.testing.assert_array_less(np.abs(got[:-1] - np.array(ref)), np.array(bound))
    lead_pos = int(np.flatnonzero(window == lead)[0])
    assert got[lead_pos] == pytest.approx(1.0, abs=bound[lead_pos])
    # the default: the clumping's EM haplotype r2 of the same variants
    hap = lead_r2(src, lead_variant_id=v.variant_id.iat[lead], variant_ids=ids[:-1])
    np.testing.assert_array_equal(hap, haplotype_r2(x, dos[:, 1:]))


def test_lead_r2_lead_absent_all_nan(cohort_source):
    v = cohort_source.variants
    got = lead_r2(cohort_source, lead_variant_id="absent", variant_ids=v.variant_id.iloc[:5])
    assert np.isnan(got).all() and got.shape == (5,)


def test_r2_bins_locuszoom():
    assert r2_bin(np.array([0.0, 0.19, 0.2, 0.59, 0.6, 0.8, 1.0, np.nan])).tolist() == [
        0, 0, 1, 2, 3, 4, 4, -1]


def _region(n=60, seed=0):
    rng = np.random.default_rng(seed)
    pos = np.sort(rng.choice(np.arange(1_000_000, 1_500_000), n, replace=False))
    y = rng.exponential(1.0, n)
    y[n // 2] = 15.0
    return pd.DataFrame({"chromosome": 2, "base_pair_location": pos,
                         "variant_id": [f"rs{k}" for k in range(n)], "neg_log10_p_value": y})


def _genes(rows):
    f = pd.DataFrame(rows, columns=["chromosome", "start", "end", "gene_name", "strand"])
    f["gene_id"], f["biotype"] = f["gene_name"], ""
    return GeneTable(frame=f[GENE_COLUMNS], path="genes.bed", format="bed")


def _axes(fig):
    return {ax.get_label(): ax for ax in fig.axes}


def test_regional_figure_with_genes():
    region = _region()
    r2 = np.linspace(0, 1, len(region))
    r2[:3] = np.nan
    genes = _genes([(2, 1_100_000, 1_200_000, "LONGGENENAME1", "+"),
                    (2, 1_150_000, 1_160_000, "OVERLAPPING", "-"),
                    (2, 1_400_000, 1_401_000, "SHORT", "."),
                    (3, 1_100_000, 1_200_000, "OTHERCHROM", "+")])
    fig = regional_figure(region=region, r2=r2, lead="rs30", genes=genes, title="t",
                          window=(1_000_000, 1_500_000))
    axes = _axes(fig)
    assert set(axes) == {"association", "genes"}
    pts, lead = axes["association"].collections[:2]
    assert len(pts.get_offsets()) == len(region) - 1 and len(lead.get_offsets()) == 1
    assert to_hex(lead.get_facecolor()[0]) == LEAD_COLOUR
    assert tuple(lead.get_offsets()[0]) == (region.base_pair_location.iat[30] / 1e6, 15.0)
    colours = {to_hex(c) for c in pts.get_facecolor()}
    assert colours == set(R2_COLOURS) | {NO_LD}
    gax = axes["genes"]
    names = [t.get_text() for t in gax.texts]
    assert sorted(names) == ["LONGGENENAME1", "OVERLAPPING", "SHORT"]
    # gene names and bars never overlap one another
    fig.canvas.draw()
    renderer = renderer_of(gax)
    boxes = [t.get_window_extent(renderer) for t in gax.texts]
    boxes += [ln.get_window_extent(renderer) for ln in gax.lines if len(ln.get_xdata()) == 2]
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            assert not boxes[i].overlaps(boxes[j]), (i, j)


def test_regional_figure_without_genes_or_ld():
    region = _region()
    fig = regional_figure(region=region, r2=None, lead="rs30", genes=None, title="t")
    axes = _axes(fig)
    assert set(axes) == {"association"}
    pts = axes["association"].collections[0]
    assert {to_hex(c) for c in pts.get_facecolor()} == {NO_LD}
    with pytest.raises(ValueError, match="lead"):
        regional_figure(region=region, r2=None, lead="nope", genes=None, title="t")


def test_gene_track_too_many_genes_and_none():
    region = _region()
    many = _genes([(2, 1_200_000 + k * 100, 1_300_000, f"G{k}", "+") for k in range(6)])
    fig = regional_figure(region=region, r2=None, lead="rs30", genes=many, title="t",
                          max_gene_rows=2)
    texts = [t.get_text() for t in _axes(fig)["genes"].texts]
    assert sum(t.startswith("G") for t in texts) == 2 and "4 more genes\nnot shown" in texts
    fig = regional_figure(region=region, r2=None, lead="rs30", title="t",
                          genes=_genes([(5, 1, 10, "FAR", "+")]))
    assert [t.get_text() for t in _axes(fig)["genes"].texts] == ["no genes in this window"]


def test_regional_plots_files(tmp_path, tiny_cohort, cohort_source):
    v = cohort_source.variants
    table = synthetic_sumstats(n_variants=len(v), seed=2, variants=v.rename(
        columns={"position": "base_pair_location"}), peaks=[
        Peak(int(v.chromosome.iat[50]), int(v.position.iat[50]), chi2=80.0)])
    top = int(table.neg_log10_p_value.to_numpy().argmax())
    loci = pd.DataFrame({"locus": [1], "chromosome": [int(table.chromosome.iat[top])],
                         "base_pair_location": [int(table.base_pair_location.iat[top])],
                         "variant_id": [table.variant_id.iat[top]]})
    from contig_gwas.simulate.genes import write_gene_annotation
    truth_genes = pd.DataFrame({"gene": ["GENE001", "GENE002"], "gene_index": [0, 1],
                                "chromosome": [1, 1], "start": [10_000, 50_000],
                                "end": [20_000, 60_000]})
    write_gene_annotation(path=tmp_path / "genes.gtf", genes=truth_genes)
    genes = read_genes(tmp_path / "genes.gtf")
    assert genes.frame[["gene_name", "start", "end", "strand"]].to_numpy().tolist() == [
        ["GENE001", 10_000, 20_000, "+"], ["GENE002", 50_000, 60_000, "-"]]
    out = regional_plots(loci=loci, sumstats=table, source=cohort_source, genes=genes,
                         window_kb=250, out_dir=tmp_path / "fig", stem="a/b", progress=False)
    assert [p.png.name for p in out] == ["regional.a_b.locus1.png"]
    assert out[0].png.stat().st_size > 0 and out[0].pdf.exists()
    assert "genes from genes.gtf" in out[0].caption and "haplotype" in out[0].caption
    c, p = loci.chromosome.iat[0], loci.base_pair_location.iat[0]
    same = table[table.chromosome == c].base_pair_location
    near = same[(same >= p - 250_000) & (same <= p + 250_000)]
    assert out[0].n_variants == len(near)
    out = regional_plots(loci=loci, sumstats=table, source=None, genes=None, window_kb=250,
                         out_dir=tmp_path / "fig2", stem="a", progress=False)
    assert "no gene annotation" in out[0].caption and "no genotypes" in out[0].caption
