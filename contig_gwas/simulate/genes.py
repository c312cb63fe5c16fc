"""The simulated burden genes as a gene annotation (GTF), so that ``contig-report --genes``
can draw them under the regional plots of a simulated cohort.

One ``gene`` line per gene of ``modalities.draw_genes`` in GENCODE-style GTF 2.2 (1-based,
closed coordinates, the same as ``draw_genes``): ``gene_id``, ``gene_name`` (both the
``GENE001`` name of ``burden.tsv`` and ``truth.json``) and ``gene_type "protein_coding"``.
Chromosome names are written as the genotypes' codes (``1``..``22``, ``X``; Ensembl style).
The simulator draws no strand; the file gives even-numbered genes (``gene_index`` 0, 2, ...)
``+`` and odd ones ``-`` so both orientations appear, without drawing from the random streams
(the cohort stays identical). Plain text, byte-identical for a given seed.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..chrom import chromosome_label
from ..outputs import atomic_path

GENE_ANNOTATION_NAME = "genes.gtf"


def gene_annotation_lines(genes: pd.DataFrame) -> list[str]:
    """GTF lines (without newline) for ``genes`` (columns ``gene``, ``gene_index``,
    ``chromosome``, ``start``, ``end`` as ``draw_genes`` returns them), with two ``#!``
    header lines first."""
    lines = ["#!description: contig-simulate burden genes (simulated, not a real annotation)",
             "#!format: GTF 2.2, 1-based closed coordinates"]
    for g in genes.itertuples(index=False):
        strand = "+" if int(g.gene_index) % 2 == 0 else "-"
        attrs = (f'gene_id "{g.gene}"; gene_type "protein_coding"; gene_name "{g.gene}";')
        lines.append("\t".join([chromosome_label(int(g.chromosome)), "contig-simulate", "gene",
                                str(int(g.start)), str(int(g.end)), ".", strand, ".", attrs]))
    return lines


def write_gene_annotation(*, path: Path, genes: pd.DataFrame) -> None:
    """Write ``genes`` (the ``draw_genes`` table) to ``path`` as GTF (see the module
    docstring); atomic, so a failed run leaves no file."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text("\n".join(gene_annotation_lines(genes)) + "\n", encoding="utf-8")
