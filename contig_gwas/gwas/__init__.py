"""GWAS engine: QC, standardised kinship, null model, batched association, LOCO, lambda GC.

Array layer: ``kinship``, ``nullmodel``, ``association``, ``qc`` (arrays in, dataclasses out).
Dataset layer: ``engine`` (files, sample alignment, missingness groups, chunked resumable
output). Importing this package has no side effects.
"""
