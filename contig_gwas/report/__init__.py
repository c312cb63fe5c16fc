"""contig-report: loci by clumping, genomic inflation, the ContIG group combination, figures
(Manhattan, QQ, Miami, heritability, loci counts) and a static report page.

Array-level functions: :func:`.loci.clump`, :func:`.stats.lambda_gc`,
:func:`.stats.combine_min_p`; plots in :mod:`.plots` (each takes and returns an Axes);
the dataset-level builder is :func:`.build.build_report`.
"""

from .loci import ClumpParams, ClumpResult, clump, clump_table, loci_overlap
from .stats import combine_min_p, lambda_gc

__all__ = ["ClumpParams", "ClumpResult", "clump", "clump_table", "loci_overlap",
           "combine_min_p", "lambda_gc"]
