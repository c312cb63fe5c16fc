"""Gene annotations: the GTF, GFF3 and BED parsers against small hand-written files (known
coordinates), and the nearest / overlapping genes of loci on hand-built cases."""
# ruff: noqa: E501  (the annotation lines are copied as GENCODE and Ensembl write them)

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from contig_gwas.errors import InputError
from contig_gwas.report.genes import (
    GENE_COLUMNS,
    GeneTable,
    annotate_loci,
    genes_in_window,
    gtf_attributes,
    read_genes,
)

# GENCODE style: chr names, #! header, gene + transcript + exon lines, quoted attributes
GENCODE_GTF = """\
#!genome-build GRCh38.p14
#!genome-version GRCh38
##description: evidence-based annotation of the human genome
chr1\tHAVANA\tgene\t11869\t14409\t.\t+\t.\tgene_id "ENSG00000290825.1"; gene_type "lncRNA"; gene_name "DDX11L2"; level 2;
chr1\tHAVANA\ttranscript\t11869\t14409\t.\t+\t.\tgene_id "ENSG00000290825.1"; transcript_id "ENST00000456328.2"; gene_type "lncRNA"; gene_name "DDX11L2";
chr1\tHAVANA\texon\t11869\t12227\t.\t+\t.\tgene_id "ENSG00000290825.1"; transcript_id "ENST00000456328.2"; exon_number 1; gene_name "DDX11L2";
chr1\tHAVANA\tgene\t65419\t71585\t.\t+\t.\tgene_id "ENSG00000186092.7"; gene_type "protein_coding"; gene_name "OR4F5"; level 2; tag "basic";
chrX\tHAVANA\tgene\t100000\t100500\t.\t-\t.\tgene_id "ENSG0000X"; gene_type "protein_coding"; gene_name "XGENE";
chr1_KI270706v1_random\tHAVANA\tgene\t1\t500\t.\t+\t.\tgene_id "ENSG0000R"; gene_name "RND";
"""

# Ensembl style: no chr prefix, gene_biotype, unquoted numbers
ENSEMBL_GTF = """\
#!genome-build GRCh38.p14
1\tensembl_havana\tgene\t65419\t71585\t.\t+\t.\tgene_id "ENSG00000186092"; gene_version "7"; gene_name "OR4F5"; gene_source "ensembl_havana"; gene_biotype "protein_coding";
1\tensembl_havana\ttranscript\t65419\t71585\t.\t+\t.\tgene_id "ENSG00000186092"; transcript_id "ENST00000641515"; gene_biotype "protein_coding";
X\tensembl\tgene\t100000\t100500\t.\t-\t.\tgene_id "ENSGX"; gene_biotype "protein_coding";
GL000220.1\tensembl\tgene\t105424\t118780\t.\t+\t.\tgene_id "ENSGGL"; gene_biotype "rRNA";
"""

GFF3 = """\
##gff-version 3
##sequence-region 1 1 248956422
1\tensembl_havana\tgene\t65419\t71585\t.\t+\t.\tID=gene:ENSG00000186092;Name=OR4F5;biotype=protein_coding;gene_id=ENSG00000186092
1\tensembl_havana\tmRNA\t65419\t71585\t.\t+\t.\tID=transcript:ENST00000641515;Parent=gene:ENSG00000186092
chr1\tHAVANA\tgene\t11869\t14409\t.\t+\t.\tID=ENSG00000290825.1;gene_type=lncRNA;gene_name=DDX11L2
1\tensembl\tncRNA_gene\t200000\t200100\t.\t-\t.\tID=gene:ENSGNC;Name=A%3BB;biotype=snRNA
"""

# the same two chr1 genes as GENCODE_GTF, 0-based half-open
BED6 = """\
browser position chr1:11869-71585
track name=genes description="two genes"
# a comment
chr1\t11868\t14409\tDDX11L2\t0\t+
chr1\t65418\t71585\tOR4F5\t0\t+
"""


def _write(tmp_path, name, text, *, gz=False, crlf=False):
    if crlf:
        text = text.replace("\n", "\r\n")
    p = tmp_path / name
    p.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    return p


def test_gencode_gtf_gene_lines(tmp_path):
    g = read_genes(_write(tmp_path, "gencode.gtf", GENCODE_GTF))
    assert isinstance(g, GeneTable) and g.format == "gtf"
    assert list(g.frame.columns) == GENE_COLUMNS
    f = g.frame
    # gene lines only (transcript/exon ignored), sorted, chrX -> 23, random contig skipped
    assert f["gene_name"].tolist() == ["DDX11L2", "OR4F5", "XGENE"]
    assert f["chromosome"].tolist() == [1, 1, 23]
    assert f[["start", "end"]].to_numpy().tolist() == [[11869, 14409], [65419, 71585],
                                                       [100000, 100500]]
    assert f["biotype"].tolist() == ["lncRNA", "protein_coding", "protein_coding"]
    assert f["strand"].tolist() == ["+", "+", "-"]
    assert f["gene_id"].iat[0] == "ENSG00000290825.1"
    assert g.skipped_contigs == 1
    assert len(read_genes(tmp_path / "gencode.gtf", biotypes=["protein_coding"])) == 2


def test_ensembl_gtf_gzip_crlf_same_as_gencode(tmp_path):
    g = read_genes(_write(tmp_path, "ens.gtf.gz", ENSEMBL_GTF, gz=True, crlf=True))
    f = g.frame
    assert f["chromosome"].tolist() == [1, 23]
    assert f["gene_name"].tolist() == ["OR4F5", "ENSGX"]   # no gene_name: gene_id
    assert f["biotype"].tolist() == ["protein_coding", "protein_coding"]
    gencode = read_genes(_write(tmp_path, "g.gtf", GENCODE_GTF)).frame
    a = gencode[gencode.gene_name == "OR4F5"][["chromosome", "start", "end", "strand"]]
    b = f[f.gene_name == "OR4F5"][["chromosome", "start", "end", "strand"]]
    assert a.to_numpy().tolist() == b.to_numpy().tolist()


def test_gtf_without_gene_lines_merges_transcripts_and_exons(tmp_path):
    text = "\n".join([
        'chr2\tRefSeq\texon\t1000\t1100\t.\t-\t.\tgene_id "G1"; transcript_id "t1";',
        'chr2\tRefSeq\texon\t1500\t1700\t.\t-\t.\tgene_id "G1"; transcript_id "t1";',
        'chr2\tRefSeq\ttranscript\t900\t1600\t.\t-\t.\tgene_id "G1"; transcript_id "t2";',
        'chr2\tRefSeq\texon\t5000\t5100\t.\t+\t.\tgene_id "G2"; gene_name "TWO";',
    ]) + "\n"
    f = read_genes(_write(tmp_path, "refseq.gtf", text)).frame
    assert f[["gene_id", "start", "end", "strand"]].to_numpy().tolist() == [
        ["G1", 900, 1700, "-"], ["G2", 5000, 5100, "+"]]
    assert f["gene_name"].tolist() == ["G1", "TWO"]


def test_gff3(tmp_path):
    g = read_genes(_write(tmp_path, "ann.gff3", GFF3))
    f = g.frame
    assert g.format == "gff3"
    assert f["gene_id"].tolist() == ["ENSG00000290825.1", "ENSG00000186092", "ENSGNC"]
    assert f["gene_name"].tolist() == ["DDX11L2", "OR4F5", "A;B"]   # percent-decoded
    assert f["biotype"].tolist() == ["lncRNA", "protein_coding", "snRNA"]
    assert f[["start", "end"]].to_numpy().tolist() == [[11869, 14409], [65419, 71585],
                                                       [200000, 200100]]


def test_bed_is_zero_based_same_genes_as_gtf(tmp_path):
    bed = read_genes(_write(tmp_path, "genes.bed.gz", BED6, gz=True)).frame
    gtf = read_genes(_write(tmp_path, "g.gtf", GENCODE_GTF)).frame
    cols = ["chromosome", "start", "end", "gene_name", "strand"]
    assert bed[cols].to_numpy().tolist() == gtf[gtf.chromosome == 1][cols].to_numpy().tolist()


def test_bed3_and_content_sniffing(tmp_path):
    # no .bed suffix: recognised from the content; BED3 has no name and no strand
    p = _write(tmp_path, "genes.txt", "track name=x\n1\t99\t200\nchrX\t0\t10\n")
    g = read_genes(p)
    assert g.format == "bed"
    assert g.frame[["chromosome", "start", "end", "gene_id", "strand"]].to_numpy().tolist() == [
        [1, 100, 200, "1:100-200", "."], [23, 1, 10, "chrX:1-10", "."]]
    assert read_genes(_write(tmp_path, "noext", GENCODE_GTF)).format == "gtf"
    assert read_genes(_write(tmp_path, "noext3", GFF3)).format == "gff3"


@pytest.mark.parametrize("name,text,line,what", [
    ("bad.gtf", GENCODE_GTF.replace("\t+\t.\tgene_id \"ENSG00000186092.7\"",
                                    "\t+\tgene_id \"ENSG00000186092.7\""), 7, "9 tab-separated"),
    ("bad2.gtf", 'chr1\tx\tgene\t10\tfive\t.\t+\t.\tgene_id "A";\n', 1, "integers"),
    ("bad3.gtf", '#c\nchr1\tx\tgene\t10\t5\t.\t+\t.\tgene_id "A";\n', 2, "start <= end"),
    ("bad4.gtf", 'chr1\tx\tgene\t10\t50\t.\t+\t.\tgene_name "A";\n', 1, "gene_id"),
    ("bad5.gtf", 'chr1\tx\tgene\t10\t50\t.\t*\t.\tgene_id "A";\n', 1, "strand"),
    ("bad.bed", "track x\nchr1\t5\t10\nchr1\t20\n", 3, "at least 3 columns"),
    ("bad2.bed", "chr1\t10\t10\tA\n", 1, "start < end"),
    ("bad.gff3", "##gff-version 3\n1\tx\tgene\t1\t9\t.\t+\t.\tID=a;oops\n", 2, "key=value"),
])
def test_malformed_lines_name_file_and_line(tmp_path, name, text, line, what):
    p = _write(tmp_path, name, text)
    with pytest.raises(InputError) as e:
        read_genes(p)
    msg = str(e.value)
    assert str(p) in msg and f"line {line}:" in msg and what in msg


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_genes(tmp_path / "none.gtf")
    with pytest.raises(InputError, match="no genes"):
        read_genes(_write(tmp_path, "x.gtf", 'GL1.1\tx\tgene\t1\t9\t.\t+\t.\tgene_id "A";\n'))


def test_gtf_attributes():
    assert gtf_attributes('gene_id "A"; exon_number 3; tag "basic"; gene_name "B C";') == {
        "gene_id": "A", "exon_number": "3", "tag": "basic", "gene_name": "B C"}


def _genes(rows):
    f = pd.DataFrame(rows, columns=["chromosome", "start", "end", "gene_name"])
    f["gene_id"], f["strand"], f["biotype"] = f["gene_name"], "+", ""
    return GeneTable(frame=f[GENE_COLUMNS].sort_values(["chromosome", "start"])
                     .reset_index(drop=True), path="test", format="bed")


def test_annotate_loci_known_answers():
    genes = _genes([(1, 1000, 2000, "A"), (1, 5000, 6000, "B"), (1, 1500, 1800, "A2"),
                    (2, 10_000, 20_000, "C"), (2, 30_000, 40_000, "D")])
    loci = pd.DataFrame({
        "locus": [1, 2, 3, 4, 5, 6],
        "chromosome": [1, 1, 2, 2, 3, 1],
        "base_pair_location": [1600, 3000, 25_000, 15_000, 100, 2500],
        "start": [1600, 2500, 19_000, 15_000, 100, 2100],
        "end": [1600, 5200, 31_000, 15_000, 100, 4900],
    })
    out = annotate_loci(loci, genes)
    # 1: inside A and A2 (both at distance 0); 2: 1 kb from A, 2 kb from B; 3: tie between
    # C (5 kb) and D (5 kb); 4: inside C; 5: chromosome without genes; 6: between, span
    # touching no gene
    assert out["nearest_gene"].iloc[[0, 1, 2, 3, 5]].tolist() == ["A,A2", "A", "C,D", "C", "A"]
    assert pd.isna(out["nearest_gene"].iat[4])
    np.testing.assert_array_equal(out["nearest_gene_distance_kb"].to_numpy(),
                                  [0.0, 1.0, 5.0, 0.0, np.nan, 0.5])
    assert out["genes_overlapping"].tolist() == ["A,A2", "B", "C,D", "C", "NONE", "NONE"]
    assert list(out.columns[:5]) == list(loci.columns)    # input columns kept, in order


def test_genes_in_window():
    genes = _genes([(1, 1000, 2000, "A"), (1, 5000, 6000, "B"), (2, 1000, 2000, "C")])
    assert genes_in_window(genes, 1, 2000, 4999)["gene_name"].tolist() == ["A"]
    assert genes_in_window(genes, 1, 2001, 4999).empty
    assert genes_in_window(genes, 1, 0, 10_000)["gene_name"].tolist() == ["A", "B"]
