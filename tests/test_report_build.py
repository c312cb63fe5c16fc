"""contig-report end to end on engine-like outputs, and report.html as a reader sees it
(headless chromium)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from contig_gwas.cli import _common
from contig_gwas.cli import report as cli
from contig_gwas.errors import InputError
from contig_gwas.io.sumstats import write_sumstats
from contig_gwas.report.inputs import phenotype_names, resolve_inputs
from contig_gwas.report.loci import read_loci
from contig_gwas.report.synthetic import Peak, ld_block_genotypes, synthetic_sumstats

CHROMIUM = next((shutil.which(c) for c in ("chromium", "chromium-browser") if shutil.which(c)),
                None)


def _study(root):
    """Engine-like outputs: PLINK genotypes in LD blocks, three phenotypes' summary statistics
    (two learned PCs, one standard trait with an underflowed p-value), h2, truth, highlight."""
    import bed_reader

    n_blocks, size = 40, 10
    dos = ld_block_genotypes(n_samples=300, block_sizes=[size] * n_blocks, seed=5)
    m = dos.shape[1]
    chrom = np.repeat([1, 2], m // 2)
    block = np.repeat(np.arange(n_blocks), size)
    pos = (block % (n_blocks // 2)) * 100_000 + np.tile(np.arange(size) * 2_000, n_blocks) + 5_000
    vid = np.array([f"rs{k + 1}" for k in range(m)])
    bed_reader.to_bed(str(root / "geno.bed"), dos, properties={
        "fid": [f"f{k}" for k in range(len(dos))], "iid": [f"i{k}" for k in range(len(dos))],
        "chromosome": [str(c) for c in chrom], "sid": vid, "bp_position": pos,
        "allele_1": ["A"] * m, "allele_2": ["G"] * m}, count_A1=True)
    variants = pd.DataFrame({"chromosome": chrom, "base_pair_location": pos, "variant_id": vid})
    gw = root / "gwas"
    gw.mkdir()
    specs = {"contig.PC_0": [Peak(1, 505_000, 80), Peak(2, 1_205_000, 60)],
             "contig.PC_1": [Peak(1, 1_505_000, 70)],
             "standard.height": [Peak(1, 505_000, 90), Peak(2, 305_000, 60)]}
    for k, (name, peaks) in enumerate(specs.items()):
        t = synthetic_sumstats(n_variants=0, variants=variants, peaks=peaks, seed=30 + k)
        if name == "standard.height":
            i = int(t["neg_log10_p_value"].idxmax())
            t.loc[i, ["p_value", "neg_log10_p_value"]] = [0.0, 400.0]
        write_sumstats(gw / f"{name}.sumstats.tsv.gz", t)
    def var(vid, c, p):
        return {"variant_id": vid, "chromosome": c, "position": p}

    (root / "truth.json").write_text(json.dumps({"seed": 1, "traits": {
        "shape": {"causal_variants": [var("rs56", 1, 505_000), var("rs999", 2, 1_205_000)]},
        "colour": {"causal_variants": [var("rs36", 2, 305_000)]}}}))
    pd.DataFrame({"phenotype": ["PC_0", "PC_1", "height"], "n": 300, "h2": [0.3, 0.2, 0.5],
                  "se": [0.05, 0.06, 0.04], "method": "reml"}).to_csv(root / "h2.tsv", sep="\t",
                                                                      index=False)
    (root / "highlight.txt").write_text("rs56\nrs300\n")
    # genes: one over the planted chromosome-1 locus (505 kb), one beside it
    (root / "genes.gtf").write_text(
        '1\tsim\tgene\t500000\t512000\t.\t+\t.\tgene_id "G1"; gene_name "GENE1";\n'
        '1\tsim\tgene\t540000\t560000\t.\t-\t.\tgene_id "G2"; gene_name "GENE2";\n')
    return root


def built_loci(out):
    return {p.name: read_loci(p) for p in (out / "loci").glob("group.*.loci.tsv")}


def _argv(root, out, *extra):
    return ["--sumstats", str(root / "gwas" / "*.sumstats.tsv.gz"),
            "--group", f"contig={root / 'gwas' / 'contig.*.sumstats.tsv.gz'}",
            "--group", f"standard={root / 'gwas' / 'standard.*.sumstats.tsv.gz'}",
            "--h2", str(root / "h2.tsv"), "--bfile", str(root / "geno"),
            "--truth", str(root / "truth.json"), "--highlight", str(root / "highlight.txt"),
            "--genes", str(root / "genes.gtf"), "--out", str(out), *extra]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = _study(tmp_path_factory.mktemp("study"))
    out = root / "report"
    assert cli.main(_argv(root, out)) == 0
    return root, out


def test_report_outputs(built):
    root, out = built
    html = (out / "report.html").read_text()
    log = (out / "report.log").read_text()
    assert "contig-report" in log and "finished" in log
    pngs = re.findall(r'<img src="([^"]+)"', html)
    n_loci = sum(len(v) for k, v in built_loci(out).items())
    # thumbnails of per phenotype Manhattan + QQ (3 x 2), per group min-P Manhattan (2) and
    # the learned group's omnibus Manhattan (the standard group has one phenotype), regional
    # plots (one per group locus); full size: Miami, loci counts, h2, inflation (lambda GC and
    # LDSC intercepts), Figure 1, and the learned group's min-P and omnibus Manhattan plots
    assert len(pngs) == 6 + 3 + n_loci + 5 + 2
    assert 'id="fig-inflation"' in html
    assert sum(p.startswith("figures/thumbs/") for p in pngs) == 9 + n_loci
    for rel in pngs:
        rel = rel.replace("thumbs/", "")
        png, pdf = out / rel, out / rel.replace(".png", ".pdf")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
        assert pdf.read_bytes()[:4] == b"%PDF"
    from PIL import Image
    with Image.open(out / "figures" / "manhattan.PC_0.png") as im:
        assert im.size == (2160, 780)            # 7.2 x 2.6 in at 300 dpi
        assert abs(im.info["dpi"][0] - 300) < 1
    # the learned group finds its two planted loci, the standard group its two
    loci = read_loci(out / "loci" / "group.contig.loci.tsv")
    assert sorted(loci["chromosome"].tolist()) == [1, 1, 2]
    header = (out / "loci" / "group.contig.loci.tsv").read_text().splitlines()[:3]
    assert any("clump_r2=0.1" in h for h in header) and any("genotypes" in h for h in header)
    std = read_loci(out / "loci" / "group.standard.loci.tsv")
    assert std["neg_log10_p_value"].max() == pytest.approx(400 - np.log10(1))
    assert "phenotype" in loci.columns and set(loci["phenotype"]) <= {"PC_0", "PC_1"}
    ov = pd.read_csv(out / "tables" / "overlap.tsv", sep="\t")
    row = ov[ov["group"] == "contig"].iloc[0]
    assert (row["loci"], row["shared"], row["unique"]) == (3, 1, 2)
    rec = pd.read_csv(out / "tables" / "truth_recovery.tsv", sep="\t")
    allc = rec[(rec["group"] == "contig") & (rec["trait"] == "all traits")].iloc[0]
    assert allc["causal"] == 3 and allc["recovered"] == 2 and allc["false_positive_loci"] == 1
    assert allc["omnibus_loci"] >= 2 and 0 <= allc["omnibus_power"] <= 1   # beside min-P
    summ = pd.read_csv(out / "tables" / "summary.tsv", sep="\t")
    assert summ["phenotype"].tolist() == ["PC_0", "PC_1", "height"]
    assert summ["lambda_gc"].between(0.8, 1.3).all()
    # LD-score regression from the clumping genotypes, beside lambda GC
    cols = list(summ.columns)
    assert cols[cols.index("lambda_gc") + 1:cols.index("lambda_gc") + 5] == [
        "ldsc_intercept", "ldsc_intercept_se", "ldsc_ratio", "ldsc_h2"]
    assert np.isfinite(summ["ldsc_intercept"]).all() and (summ["ldsc_intercept_se"] > 0).all()
    # ... and they are the regression of each file on the genotypes' LD scores
    from contig_gwas.io.genotypes import open_genotypes
    from contig_gwas.io.sumstats import read_sumstats
    from contig_gwas.ldsc import ld_scores, ldsc_for_sumstats
    from contig_gwas.omnibus import omnibus_sumstats

    scores = ld_scores(open_genotypes(bfile=str(root / "geno")), window_kb=1000.0,
                       progress=False)
    pcs = [read_sumstats(root / "gwas" / f"contig.PC_{k}.sumstats.tsv.gz") for k in (0, 1)]
    direct = ldsc_for_sumstats(pcs[0], scores)
    assert summ.loc[0, "ldsc_intercept"] == pytest.approx(direct.intercept, rel=1e-5)
    assert summ.loc[0, "ldsc_h2"] == pytest.approx(direct.h2, rel=1e-5)
    # the omnibus test of the learned group (2 phenotypes): loci, and its row beside min-P
    om = pd.read_csv(out / "tables" / "omnibus.tsv", sep="\t")
    assert om["group"].tolist() == ["contig"] and om["minp_loci"].iloc[0] == 3
    olt = read_loci(out / "loci" / "omnibus.contig.loci.tsv")
    assert len(olt) == om["omnibus_loci"].iloc[0] >= 2
    top = omnibus_sumstats(pcs)["neg_log10_p_value"].max()   # the test on the files at once
    assert olt["neg_log10_p_value"].max() == pytest.approx(top, rel=1e-5)
    # nearest genes on every loci table; the planted chromosome-1 locus lies in GENE1
    assert "GENE1" in set(loci["nearest_gene"]) and "nearest_gene" in olt.columns
    assert "nearest_gene" in read_loci(out / "loci" / "PC_0.loci.tsv").columns
    assert (out / "figures" / "regional.contig.locus1.png").exists()
    assert "no --genes" not in log


def test_report_refuses_overwrite_and_distance_only_warns(built, tmp_path, capsys):
    root, out = built
    with pytest.raises(InputError, match="overwrite"):
        cli.main(_argv(root, out))
    assert _common.run(cli.main, _argv(root, out)) == 2
    # one phenotype, no genotypes: distance-only clumping with a warning
    argv = ["--sumstats", str(root / "gwas" / "contig.PC_0.sumstats.tsv.gz"),
            "--out", str(tmp_path / "r2"), "--clump-kb", "150"]
    assert cli.main(argv) == 0
    log = (tmp_path / "r2" / "report.log").read_text()
    assert "distance only" in log
    assert "no --genes: regional plots without a gene track, loci without nearest genes" in log
    assert "distance-only" in (tmp_path / "r2" / "report.html").read_text()


def test_inputs_errors_name_the_file(tmp_path):
    with pytest.raises(InputError, match="nothing"):
        resolve_inputs(sumstats=[str(tmp_path / "nothing*.sumstats.tsv.gz")])
    bad = tmp_path / "x.tsv"
    bad.write_text("a\n")
    with pytest.raises(InputError, match="x.tsv"):
        resolve_inputs(sumstats=[str(bad)])
    p = [tmp_path / "run.a.b.sumstats.tsv.gz", tmp_path / "run.a.c.sumstats.tsv.gz"]
    assert list(phenotype_names([p])) == ["b", "c"]
    assert list(phenotype_names([[p[0]], [p[1]]])) == ["a.b", "a.c"]
    # the workflow's layout: <set>/<phenotype>.sumstats.tsv.gz, same phenotype in two sets
    q = [tmp_path / "contig" / "PC_0.sumstats.tsv.gz", tmp_path / "simclr" / "PC_0.sumstats.tsv.gz",
         tmp_path / "standard" / "height.sumstats.tsv.gz"]
    assert list(phenotype_names([q])) == ["contig/PC_0", "simclr/PC_0", "height"]


def _chromium(args, timeout=60):
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--disable-quic", "--no-first-run", "--disable-background-networking",
                           "--disable-component-update", "--disable-sync", *args],
                          capture_output=True, text=True, timeout=timeout)


CHECK = """<script>window.addEventListener('load', function () {
  var r = [];
  document.querySelectorAll('img').forEach(function (i) {
    r.push({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0, w: i.naturalWidth});
  });
  var t = document.querySelectorAll('table').length;
  var over = 0;  // how far any table runs past its box (horizontal scroll)
  document.querySelectorAll('.tablewrap').forEach(function (w) {
    over = Math.max(over, w.scrollWidth - w.clientWidth);
  });
  var page = document.documentElement.scrollWidth - window.innerWidth;
  var p = document.createElement('pre'); p.id = 'contig-check';
  p.textContent = JSON.stringify({images: r, tables: t, over: over, page: page});
  document.body.appendChild(p);
});</script>"""


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium; "
                                             ".ci/run installs it where it can)")
def test_report_html_in_headless_chromium(built, tmp_path):
    root, out = built
    html = (out / "report.html").read_text()
    # a test-only copy beside the original (same relative image paths) with a check script
    probe = out / "_browser_check.html"
    probe.write_text(html.replace("</body>", CHECK + "</body>"))
    profile = tmp_path / "profile"
    try:
        res = _chromium([f"--user-data-dir={profile}", "--virtual-time-budget=10000",
                         "--window-size=1280,3000", "--dump-dom", probe.as_uri()])
        shot = tmp_path / "shot.png"
        res2 = _chromium([f"--user-data-dir={profile}", f"--screenshot={shot}",
                          "--window-size=1200,3000", (out / "report.html").as_uri()])
    finally:
        probe.unlink()
    m = re.search(r'<pre id="contig-check">(.*?)</pre>', res.stdout, re.S)
    assert m, f"chromium gave no check output (rc {res.returncode}): {res.stderr[-500:]}"
    check = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    n_loci = sum(len(v) for v in built_loci(out).values())
    assert len(check["images"]) == 6 + 3 + n_loci + 5 + 2
    assert check["over"] <= 0 and check["page"] <= 0, check   # every table fits the page
    broken = [i["src"] for i in check["images"] if not i["ok"]]
    assert not broken, f"broken images: {broken}"
    assert check["tables"] >= 6        # parameters, summary, loci, overlap, truth, h2
    for key in ("table-summary", "table-group_loci", "table-overlap", "table-truth_recovery",
                "table-comparison", "parameters-table"):
        assert f'id="{key}"' in res.stdout
    assert res2.returncode == 0 and shot.exists(), res2.stderr[-500:]
    from PIL import Image
    with Image.open(shot) as im:
        px = np.asarray(im.convert("L"))
    assert px.shape[1] == 1200 and np.mean(px < 200) > 0.01   # the page shows content


def test_report_ldsc_covariates(tmp_path):
    """--covar: the LD scores are computed with the covariates projected out, over the
    genotyped individuals with every covariate (the report's columns equal the regression on
    those scores, and differ from the plain ones); the parameters section names the file."""
    from contig_gwas.io.genotypes import open_genotypes
    from contig_gwas.io.sumstats import read_sumstats
    from contig_gwas.ldsc import ld_scores, ldsc_for_sumstats

    root = _study(tmp_path)
    rng = np.random.default_rng(3)
    pc = rng.normal(size=(300, 2))
    cov = pd.DataFrame({"FID": [f"f{k}" for k in range(300)],
                        "IID": [f"i{k}" for k in range(300)], "PC1": pc[:, 0], "PC2": pc[:, 1]})
    cov.loc[7, "PC2"] = np.nan                          # one individual without every covariate
    cov.to_csv(root / "covar.tsv", sep="\t", index=False, na_rep="NA")
    out = root / "report_cov"
    argv = ["--sumstats", str(root / "gwas" / "contig.PC_0.sumstats.tsv.gz"),
            "--bfile", str(root / "geno"), "--covar", str(root / "covar.tsv"),
            "--covar-name", "PC1-PC2", "--no-omnibus", "--out", str(out)]
    assert cli.main(argv) == 0
    summ = pd.read_csv(out / "tables" / "summary.tsv", sep="\t")
    src = open_genotypes(bfile=str(root / "geno"))
    keep = np.flatnonzero(np.arange(300) != 7)
    scores = ld_scores(src, window_kb=1000.0, progress=False, samples=keep, covariates=pc[keep])
    table = read_sumstats(root / "gwas" / "contig.PC_0.sumstats.tsv.gz")
    direct = ldsc_for_sumstats(table, scores)
    plain = ldsc_for_sumstats(table, ld_scores(src, window_kb=1000.0, progress=False))
    assert summ.loc[0, "ldsc_intercept"] == pytest.approx(direct.intercept, rel=1e-5)
    assert summ.loc[0, "ldsc_h2"] == pytest.approx(direct.h2, rel=1e-5)
    assert direct.intercept != pytest.approx(plain.intercept, rel=1e-5)
    assert "covar.tsv: PC1, PC2" in (out / "report.html").read_text()
