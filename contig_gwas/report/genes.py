"""Gene annotations (GTF, GFF3, BED) and the genes near each locus.

``read_genes`` reads the annotation a user has, in one of three formats, into a ``GeneTable``
of 1-based, closed intervals (the GTF convention):

- GTF 2.2 (GENCODE, Ensembl): the ``gene`` lines, attributes ``gene_id``, ``gene_name`` and
  ``gene_type`` (GENCODE) or ``gene_biotype`` (Ensembl). A GTF without ``gene`` lines (some
  RefSeq and UCSC exports) is read from its ``transcript`` or ``exon`` lines, merged per
  ``gene_id`` (start = the smallest start, end = the largest end).
- GFF3 (GENCODE, Ensembl): ``gene``, ``ncRNA_gene`` and ``pseudogene`` lines; ``gene_id`` or
  ``ID`` (without a ``gene:`` prefix), ``Name`` or ``gene_name``, ``biotype`` or
  ``gene_type``; values percent-decoded.
- BED (3 to 12 columns): name in column 4, strand in column 6; ``track``, ``browser`` and
  ``#`` lines skipped. BED is 0-based and half-open, so ``start + 1`` .. ``end``; a gene of a
  BED file and the same gene of a GTF file get the same coordinates.

The format comes from the file name (``.gtf``, ``.gff``/``.gff3``, ``.bed``, before a ``.gz``,
``.bgz`` or ``.zst``), else from the content. Compression and line endings as everywhere
(``contig_gwas.io.text``). Chromosome names go through ``contig_gwas.chrom`` (``chr1``, ``1``,
``chrX``, ``X``, ``23``, ``chrM``), so ``chr1`` in the annotation meets ``1`` in the summary
statistics; lines on contigs without a code (``chr1_KI270706v1_random``, ``GL000220.1``) are
skipped and counted. A malformed line is an ``InputError`` naming the file and the line.

``annotate_loci`` adds the nearest gene of each lead variant and the genes overlapping each
locus span. The whole file is read into memory (GENCODE's comprehensive GTF: about 1.5 GB
uncompressed, read in seconds).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence
from urllib.parse import unquote

import numpy as np
import pandas as pd

from ..chrom import normalise_chromosome
from ..errors import InputError
from ..io.text import read_text

GENE_COLUMNS = ["chromosome", "start", "end", "gene_id", "gene_name", "strand", "biotype"]
GFF3_GENE_TYPES = {"gene", "ncRNA_gene", "pseudogene"}
_GTF_ATTR = re.compile(r'\s*([^\s";]+)\s+(?:"([^"]*)"|([^;\s]+))\s*;?')


@dataclass
class GeneTable:
    """Genes of an annotation file.

    Attributes:
        frame: one row per gene, columns ``GENE_COLUMNS``: chromosome (int code), start and end
            (1-based, closed), gene_id, gene_name (gene_id where the file gives none), strand
            (``+``, ``-`` or ``.``), biotype (``""`` where the file gives none); sorted by
            chromosome and start.
        path: the file read.
        format: ``gtf``, ``gff3`` or ``bed``.
        skipped_contigs: gene lines left out because their contig has no chromosome code.
    """

    frame: pd.DataFrame
    path: str
    format: str
    skipped_contigs: int = 0

    def __len__(self) -> int:
        return len(self.frame)


def detect_format(path: str | os.PathLike, text: str) -> str:
    """``gtf``, ``gff3`` or ``bed`` from the file name, else from the first data line."""
    name = Path(path).name.lower()
    for ext in (".gz", ".bgz", ".zst"):
        name = name.removesuffix(ext)
    for suffix, fmt in ((".gtf", "gtf"), (".gff3", "gff3"), (".gff", "gff3"), (".bed", "bed")):
        if name.endswith(suffix):
            return fmt
    if text.startswith("##gff-version 3"):
        return "gff3"
    for _, line in _data_lines(text):
        if line.startswith(("track", "browser")):
            continue
        f = line.split("\t")
        if len(f) == 9 and 'gene_id "' in f[8]:
            return "gtf"
        if len(f) == 9 and "=" in f[8]:
            return "gff3"
        return "bed"
    raise InputError(f"{path}: gene annotation has no data lines")


def read_genes(path: str | os.PathLike, *, biotypes: Sequence[str] | None = None) -> GeneTable:
    """Read a gene annotation (GTF, GFF3 or BED; see the module docstring).

    Args:
        biotypes: keep only genes of these biotypes (e.g. ``["protein_coding"]``); None keeps
            every gene. Genes without a biotype (BED) are kept only when None.
    """
    text = read_text(path, what="gene annotation")
    fmt = detect_format(path, text)
    reader = {"gtf": _read_gtf, "gff3": _read_gff3, "bed": _read_bed}[fmt]
    rows, skipped = reader(str(path), text)
    frame = pd.DataFrame(rows, columns=GENE_COLUMNS)
    if not len(frame):
        more = f" ({skipped} on contigs without a chromosome code)" if skipped else ""
        raise InputError(f"{path}: no genes in the gene annotation{more}")
    if biotypes is not None:
        frame = frame[frame["biotype"].isin(list(biotypes))]
    frame = frame.astype({"chromosome": np.int64, "start": np.int64, "end": np.int64})
    frame = frame.sort_values(["chromosome", "start", "end", "gene_id"], kind="stable")
    return GeneTable(frame=frame.reset_index(drop=True), path=str(path), format=fmt,
                     skipped_contigs=skipped)


def _data_lines(text: str) -> Iterator[tuple[int, str]]:
    """(1-based line number, line) of every non-blank line not starting with ``#``, without
    splitting the whole text into a list (annotations run to millions of lines)."""
    pos, lineno, n = 0, 0, len(text)
    while pos < n:
        end = text.find("\n", pos)
        if end < 0:
            end = n
        lineno += 1
        line = text[pos:end]
        pos = end + 1
        if line and not line.startswith("#") and line.strip():
            yield lineno, line


def _chrom(name: str) -> int | None:
    try:
        return normalise_chromosome(name)
    except InputError:
        return None


def _interval(path: str, lineno: int, start: str, end: str, *, bed: bool) -> tuple[int, int]:
    """1-based closed (start, end) from the two coordinate fields of a line."""
    try:
        s, e = int(start), int(end)
    except ValueError:
        raise InputError(f"{path}: line {lineno}: start and end must be integers, got "
                         f"{start!r} and {end!r}") from None
    if bed:
        s += 1
    if s < 1 or e < s:
        what = "0 <= start < end" if bed else "1 <= start <= end"
        raise InputError(f"{path}: line {lineno}: need {what}, got start {start}, end {end}")
    return s, e


def _strand(path: str, lineno: int, s: str) -> str:
    if s not in ("+", "-", "."):
        raise InputError(f"{path}: line {lineno}: strand must be +, - or ., got {s!r}")
    return s


def _nine_columns(path: str, lineno: int, line: str, fmt: str) -> list[str]:
    f = line.split("\t")
    if len(f) != 9:
        raise InputError(f"{path}: line {lineno}: {fmt} needs 9 tab-separated columns, found "
                         f"{len(f)}")
    return f


def gtf_attributes(field: str) -> dict[str, str]:
    """The ``key "value";`` pairs of a GTF attribute column (unquoted values allowed)."""
    return {m.group(1): m.group(2) if m.group(2) is not None else m.group(3)
            for m in _GTF_ATTR.finditer(field)}


def _read_gtf(path: str, text: str) -> tuple[list[tuple], int]:
    genes: list[tuple] = []
    merged: dict[str, list] = {}  # gene_id -> [chrom, start, end, name, strand, biotype]
    skipped = 0
    for lineno, line in _data_lines(text):
        f = _nine_columns(path, lineno, line, "GTF")
        feature = f[2]
        if feature != "gene" and (genes or feature not in ("transcript", "exon")):
            continue
        s, e = _interval(path, lineno, f[3], f[4], bed=False)
        strand = _strand(path, lineno, f[6])
        attrs = gtf_attributes(f[8])
        gid = attrs.get("gene_id")
        if not gid:
            raise InputError(f"{path}: line {lineno}: GTF {feature} line without a gene_id "
                             "attribute")
        code = _chrom(f[0])
        if code is None:
            skipped += feature == "gene"
            continue
        name = attrs.get("gene_name") or gid
        biotype = attrs.get("gene_type") or attrs.get("gene_biotype") or ""
        if feature == "gene":
            genes.append((code, s, e, gid, name, strand, biotype))
        elif gid in merged:
            m = merged[gid]
            m[1], m[2] = min(m[1], s), max(m[2], e)
        else:
            merged[gid] = [code, s, e, name, strand, biotype]
    if not genes and merged:
        genes = [(c, s, e, gid, n, st, b) for gid, (c, s, e, n, st, b) in merged.items()]
    return genes, skipped


def _read_gff3(path: str, text: str) -> tuple[list[tuple], int]:
    genes: list[tuple] = []
    skipped = 0
    for lineno, line in _data_lines(text):
        f = _nine_columns(path, lineno, line, "GFF3")
        if f[2] not in GFF3_GENE_TYPES:
            continue
        s, e = _interval(path, lineno, f[3], f[4], bed=False)
        strand = _strand(path, lineno, f[6])
        attrs = {}
        for item in f[8].strip().strip(";").split(";"):
            if not item.strip():
                continue
            if "=" not in item:
                raise InputError(f"{path}: line {lineno}: GFF3 attribute {item!r} is not "
                                 "key=value")
            k, v = item.split("=", 1)
            attrs[k.strip()] = unquote(v.strip())
        gid = attrs.get("gene_id") or attrs.get("ID", "").removeprefix("gene:")
        if not gid:
            raise InputError(f"{path}: line {lineno}: GFF3 gene line without an ID or gene_id")
        code = _chrom(f[0])
        if code is None:
            skipped += 1
            continue
        name = attrs.get("Name") or attrs.get("gene_name") or gid
        biotype = attrs.get("biotype") or attrs.get("gene_type") or attrs.get("gene_biotype", "")
        genes.append((code, s, e, gid, name, strand, biotype))
    return genes, skipped


def _read_bed(path: str, text: str) -> tuple[list[tuple], int]:
    genes: list[tuple] = []
    skipped = 0
    for lineno, line in _data_lines(text):
        if line.startswith(("track", "browser")):
            continue
        f = line.split("\t") if "\t" in line else line.split()
        if len(f) < 3:
            raise InputError(f"{path}: line {lineno}: BED needs at least 3 columns (chrom, "
                             f"start, end), found {len(f)}")
        s, e = _interval(path, lineno, f[1], f[2], bed=True)
        strand = _strand(path, lineno, f[5]) if len(f) >= 6 else "."
        code = _chrom(f[0])
        if code is None:
            skipped += 1
            continue
        gid = f[3] if len(f) >= 4 and f[3] not in ("", ".") else f"{f[0]}:{s}-{e}"
        genes.append((code, s, e, gid, gid, strand, ""))
    return genes, skipped


def genes_in_window(genes: GeneTable, chromosome: int, start: int, end: int) -> pd.DataFrame:
    """The genes of ``genes`` overlapping ``start..end`` (1-based, closed) on ``chromosome``."""
    g = genes.frame
    keep = ((g["chromosome"] == int(chromosome)) & (g["start"] <= int(end))
            & (g["end"] >= int(start)))
    return g[keep.to_numpy()].reset_index(drop=True)


def gene_distance(position: int, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Base pairs from ``position`` to each interval ``start..end`` (0 inside it)."""
    return np.maximum(np.maximum(start - position, position - end), 0)


def annotate_loci(loci: pd.DataFrame, genes: GeneTable) -> pd.DataFrame:
    """``loci`` (columns chromosome, base_pair_location, start, end as ``loci_table`` writes
    them) with three columns added:

    - ``nearest_gene``: the gene nearest to the lead variant (distance 0 inside a gene); genes
      tied at the smallest distance are all given, comma-separated in genome order; NA when
      the chromosome has no gene;
    - ``nearest_gene_distance_kb``: that distance in kb (0 inside the gene; NaN with NA);
    - ``genes_overlapping``: the genes overlapping the locus span ``start..end``,
      comma-separated in genome order; ``NONE`` when none (as ``members``).
    """
    g = genes.frame
    by_chrom = {int(c): sub for c, sub in g.groupby("chromosome", sort=False)}
    nearest: list[object] = []
    dist_kb: list[float] = []
    overlapping: list[str] = []
    for c, pos, s, e in zip(loci["chromosome"], loci["base_pair_location"], loci["start"],
                            loci["end"]):
        sub = by_chrom.get(int(c))
        if sub is None or not len(sub):
            nearest.append(pd.NA)
            dist_kb.append(np.nan)
            overlapping.append("NONE")
            continue
        gs, ge = sub["start"].to_numpy(), sub["end"].to_numpy()
        names = sub["gene_name"].to_numpy()
        d = gene_distance(int(pos), gs, ge)
        best = d.min()
        nearest.append(",".join(names[d == best]))
        dist_kb.append(float(best) / 1000.0)
        ov = names[(gs <= int(e)) & (ge >= int(s))]
        overlapping.append(",".join(ov) if len(ov) else "NONE")
    out = loci.copy()
    out["nearest_gene"] = pd.Series(nearest, index=loci.index, dtype=object)
    out["nearest_gene_distance_kb"] = np.asarray(dist_kb, dtype=np.float64)
    out["genes_overlapping"] = overlapping
    return out
