"""The report page: answer first, small multiples, tables that fit, self-contained output, the
rg heatmap and Figure 1 (issue #19 parts 4 and 5)."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from contig_gwas.io.sumstats import write_sumstats
from contig_gwas.report import plots
from contig_gwas.report.build import build_report
from contig_gwas.report.figure1 import figure1, panel_letters
from contig_gwas.report.html import _CSS, format_p, format_value, is_p_column, render
from contig_gwas.report.inputs import resolve_inputs
from contig_gwas.report.loci import ClumpParams
from contig_gwas.report.page import by_measure
from contig_gwas.report.rg import cell_text, learned_side, rg_heatmap, rg_matrix
from contig_gwas.report.synthetic import Peak, synthetic_sumstats


def test_p_values_in_scientific_notation():
    assert format_p(3.14e-8) == "3.1e-08"
    assert format_p(0.5) == "5.0e-01"
    assert format_p(float("nan")) == "NA"
    # from -log10 p: exact where p underflowed to 0 (closed form 10^-400 = 1.0e-400)
    assert format_p(0.0, neg_log10_p=400.0) == "1.0e-400"
    assert format_p(0.0, neg_log10_p=7.5) == f"{10 ** -7.5:.1e}"
    for nlp in (0.0, 1.3, 12.001, 299.99):
        m, e = format_p(0.0, neg_log10_p=nlp).split("e")
        assert math.isclose(float(m) * 10.0 ** int(e), 10 ** -nlp, rel_tol=0.05)
    row = pd.Series({"p_value": 0.0, "neg_log10_p_value": 320.0})
    assert format_value("p_value", 0.0, row=row) == "1.0e-320"
    assert format_value("neg_log10_p_value", 320.0, row=row) == "320.00"
    assert format_value("max_neg_log10_p", 31.234) == "31.23"
    assert format_value("loci", 3.0) == "3" and format_value("beta", 0.123456) == "0.1235"
    assert is_p_column("p") and is_p_column("p_value") and is_p_column("omnibus_p")
    assert not is_p_column("max_neg_log10_p") and not is_p_column("phenotype")


def _rg_table():
    return pd.DataFrame({
        "pheno1": ["contig_PC_0", "contig_PC_0", "standard_bmi", "contig_PC_1", "contig_PC_0"],
        "pheno2": ["standard_height", "standard_bmi", "contig_PC_1", "standard_height",
                   "contig_PC_1"],
        "rg": [0.42, -0.71, 0.05, np.nan, 0.9], "se": [0.05, 0.12, 0.3, np.nan, 0.01],
        "p": [1e-5, 1e-3, 0.8, np.nan, 0.0]})


def test_rg_matrix_and_heatmap_equal_the_table():
    t = _rg_table()
    groups = {"contig": ["PC_0", "PC_1"], "standard": ["height", "bmi"]}
    side = learned_side(list(set(t["pheno1"]) | set(t["pheno2"])), groups=groups)
    assert side["contig_PC_0"] and not side["standard_bmi"]
    # without groups the names decide (PC_<k> / emb_<k> are learned)
    assert learned_side(["contig_PC_0", "standard_bmi"]) == {"contig_PC_0": True,
                                                            "standard_bmi": False}
    # the workflow's diseases group is standard too (learned x disease pairs are cells)
    with_diseases = {**groups, "diseases": ["glaucoma"]}
    assert learned_side(["diseases_glaucoma", "contig_PC_1"], groups=with_diseases) == {
        "diseases_glaucoma": False, "contig_PC_1": True}
    m = rg_matrix(t, groups=groups)
    assert m.rows == ["contig_PC_0", "contig_PC_1"]
    assert m.columns == ["standard_height", "standard_bmi"]
    # every learned x standard pair of the table, transposed where given standard first;
    # the learned x learned pair (PC_0, PC_1) is not a cell
    for a, b, rg, se in t[["pheno1", "pheno2", "rg", "se"]].itertuples(index=False):
        if side[a] == side[b]:
            continue
        i, j = (m.rows.index(a), m.columns.index(b)) if side[a] else (m.rows.index(b),
                                                                         m.columns.index(a))
        np.testing.assert_equal([m.rg[i, j], m.se[i, j]], [rg, se])
    with plots.figure_style():
        from contig_gwas.report.figures import new_figure

        fig, ax = new_figure("qq", size=(4, 3))
        rg_heatmap(ax=ax, m=m)
    shown = np.ma.filled(ax.images[0].get_array(), np.nan)
    np.testing.assert_array_equal(shown, m.rg)
    texts = sorted(t.get_text() for t in ax.texts)
    assert texts == sorted(cell_text(v, s) for v, s in zip(m.rg.ravel(), m.se.ravel())
                           if np.isfinite(v))
    assert "0.42\n(0.05)" in texts and "-0.71\n(0.12)" in texts and "0.05\n(0.30)" in texts
    assert [x.get_text() for x in ax.get_yticklabels()] == m.rows
    assert [x.get_text() for x in ax.get_xticklabels()] == m.columns
    assert ax.images[0].get_clim() == (-1, 1)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Two learned and two standard phenotypes (one binary), h2 and rg tables."""
    root = tmp_path_factory.mktemp("page")
    base = synthetic_sumstats(n_variants=4000, n_chromosomes=4, seed=1)
    variants = base[["chromosome", "base_pair_location", "variant_id"]]
    pos = variants.groupby("chromosome")["base_pair_location"].median().astype(int)
    specs = {"contig/PC_0": [Peak(1, pos[1], 80)], "contig/PC_1": [Peak(2, pos[2], 60)],
             "standard/height": [Peak(1, pos[1], 90)], "standard/glaucoma": [Peak(3, pos[3], 70)]}
    for k, (name, peaks) in enumerate(specs.items()):
        t = synthetic_sumstats(n_variants=0, variants=variants, peaks=peaks, seed=10 + k)
        if name.endswith("glaucoma"):
            t["n_cases"], t["n_controls"] = 300, 700
        (root / name).parent.mkdir(exist_ok=True)
        write_sumstats(root / f"{name}.sumstats.tsv.gz", t)
    pd.DataFrame({"phenotype": ["contig_PC_0", "contig_PC_1", "standard_height",
                                "standard_glaucoma"], "n": 500, "h2": [0.3, 0.2, 0.5, 0.1],
                  "se": 0.05, "method": "REML"}).to_csv(root / "h2.tsv", sep="\t", index=False)
    _rg_table().to_csv(root / "rg.tsv", sep="\t", index=False)
    inputs = resolve_inputs(sumstats=[str(root / "*" / "*.sumstats.tsv.gz")],
                            groups=[f"contig={root}/contig/*.sumstats.tsv.gz",
                                    f"standard={root}/standard/*.sumstats.tsv.gz"])
    out = root / "report"
    res = build_report(inputs=inputs, out_dir=out, params=ClumpParams(), h2_files=[root / "h2.tsv"],
                       rg_files=[root / "rg.tsv"],
                       parameters={"summary statistics": [str(p) for p in inputs.files.values()]})
    return root, out, res


def _targets(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


def test_page_leads_with_the_answer(study):
    root, out, res = study
    html = (out / "report.html").read_text()
    at = {k: html.index(k) for k in ('id="headline"', 'id="table-comparison"', 'id="fig-miami"',
                                      'id="fig-loci-counts"', 'id="fig-h2"', 'id="fig-rg-heatmap"',
                                      'id="table-rg"', 'id="table-omnibus"',
                                      'id="fig-manhattan-omnibus-contig"', 'id="fig-figure1"',
                                      'id="table-group_loci"', 'id="card-regional-contig-1"',
                                      'id="phenotypes"', 'id="card-pheno-', 'id="parameters"')}
    head = [at[k] for k in list(at)[:10]]
    assert max(head) < at['id="table-group_loci"'] < at['id="card-regional-contig-1"']
    assert at['id="card-regional-contig-1"'] < at['id="phenotypes"'] < at['id="card-pheno-']
    assert at['id="card-pheno-'] < at['id="parameters"']
    # the omnibus Manhattan plot sits beside the min-P one
    assert re.search(r'<div class="row"><div><figure id="fig-manhattan-group-contig"[^>]*>'
                     r'(?:(?!</div>).)*</figure></div><div><figure '
                     r'id="fig-manhattan-omnibus-contig"', html)
    assert at['id="table-comparison"'] < at['id="fig-miami"']
    # the long file paths are in the parameters section at the end, not in the tables
    first_path = html.index(str(root / "contig"))
    assert first_path > at['id="parameters"']
    comp = pd.read_csv(out / "tables" / "comparison.tsv", sep="\t")
    assert comp["group"].tolist() == ["contig", "standard"]
    assert comp["phenotypes"].tolist() == [2, 2]
    # h2 names <set>_<phenotype> are matched to the groups
    assert comp["mean_h2"].tolist() == pytest.approx([0.25, 0.3])
    # the binary phenotype is marked
    assert re.search(r"glaucoma<span class=\"tag\">binary</span>", html)
    assert "binary" in pd.read_csv(out / "tables" / "summary.tsv", sep="\t")["trait_type"].tolist()


def test_every_target_exists_and_thumbnails_open_full_size(study):
    _, out, res = study
    html = (out / "report.html").read_text()
    for t in _targets(html):
        if t.startswith("#"):
            assert f'id="{t[1:]}"' in html, t
        else:
            assert (out / t).is_file(), t
    cards = re.findall(r'<a href="([^"]+)" title="[^"]*"><img src="([^"]+)"', html)
    n_loci = sum(len(v) for k, v in res.loci.items() if k.startswith("group:"))
    # Manhattan + QQ per phenotype, min-P and omnibus Manhattan per group, regional per locus
    assert n_loci >= 3 and len(cards) == 4 * 2 + 2 * 2 + n_loci
    # the loci table links every locus to its regional plot
    assert len(re.findall(r'<a href="#card-regional-[^"]+">\d+</a>', html)) == n_loci
    from PIL import Image
    for full, thumb in cards:
        assert thumb.startswith("figures/thumbs/") and full == thumb.replace("thumbs/", "")
        with Image.open(out / thumb) as a, Image.open(out / full) as b:
            assert a.height == 150 and b.height > 4 * a.height
            assert abs(a.width / a.height - b.width / b.height) < 0.02


def test_self_contained_has_no_relative_targets(study):
    _, out, res = study
    text = render(res.page, root=out, self_contained=True)
    targets = _targets(text)
    assert targets and all(t.startswith(("data:image/png;base64,", "#")) for t in targets)
    for t in targets:
        if t.startswith("#"):
            assert f'id="{t[1:]}"' in text, t
    # each thumbnail opens its full-size figure in the page (CSS :target overlay)
    n_loci = sum(len(v) for k, v in res.loci.items() if k.startswith("group:"))
    assert text.count('class="lightbox"') == 4 * 2 + 2 * 2 + n_loci
    assert len(text) < 20e6


def test_tables_fit_the_page():
    """The CSS the tables rely on: full width, text cells that wrap between words (and inside
    a word longer than the column), numbers kept whole; wide columns of the TSVs (file paths,
    members) are not shown (the browser check in test_report_build measures the overflow)."""
    rules = re.sub(r"\s+", "", _CSS)
    assert "table.data{" in rules and "width:100%" in rules.split("table.data{")[1].split("}")[0]
    cell = rules.split("table.datath,table.datatd{")[1].split("}")[0]
    assert "overflow-wrap:break-word" in cell
    assert "table.datatd.n{white-space:nowrap}" in rules
    assert "max-width:1240px" in rules
    comp = pd.DataFrame({"group": ["contig", "standard"], "loci": [8, 6], "power": [0.44, 0.39]})
    t = by_measure(comp)
    assert list(t.columns) == ["measure", "contig", "standard"]
    assert t["measure"].tolist() == ["loci", "power"]
    assert t["contig"].tolist() == [8, 0.44] and pd.api.types.is_numeric_dtype(t["standard"])


def test_figure1_has_four_panels(study):
    _, out, res = study
    pdf = out / "figures" / "figure1.pdf"
    assert pdf.read_bytes()[:4] == b"%PDF"
    rng = np.random.default_rng(0)
    nlp = -np.log10(rng.uniform(size=2000))
    data = dict(chromosome=np.repeat([1, 2], 1000), position=np.tile(np.arange(1000) * 100, 2),
                neg_log10_p=nlp, variant_id=np.array([f"rs{k}" for k in range(2000)]),
                leads=pd.DataFrame(columns=["chromosome", "base_pair_location", "variant_id",
                                            "neg_log10_p_value"]))
    counts = pd.DataFrame({"group": ["a", "b"], "loci": [3, 2], "shared": [1, 1],
                           "unique": [2, 1]})
    h2 = pd.DataFrame({"phenotype": ["x", "y"], "h2": [0.2, 0.4], "se": [0.05, 0.05]})
    with plots.figure_style():
        fig = figure1(miami_top=dict(data, title="a"), miami_bottom=dict(data, title="b"),
                      qq_neg_log10_p=nlp, qq_label="x", counts=counts, h2=h2)
        assert panel_letters(fig) == ["A", "B", "C", "D"]
        assert len(fig.axes) == 5           # Miami's two halves are panel A
        no_h2 = figure1(miami_top=dict(data, title="a"), miami_bottom=dict(data, title="b"),
                        qq_neg_log10_p=nlp, qq_label="x", counts=counts)
        assert panel_letters(no_h2) == ["A", "B", "C"]


def test_rg_input_errors_name_the_file(tmp_path):
    from contig_gwas.errors import InputError
    from contig_gwas.report.rg import read_rg

    bad = tmp_path / "x.rg.tsv"
    bad.write_text("pheno1\tpheno2\tr\n a\tb\t0.1\n")
    with pytest.raises(InputError, match="x.rg.tsv.*lacks columns"):
        read_rg([bad])
    with pytest.raises(InputError, match="none.rg.tsv: rg file not found"):
        read_rg([tmp_path / "none.rg.tsv"])
    empty = tmp_path / "empty.rg.tsv"
    empty.write_text("")
    assert len(read_rg([empty])) == 0
