"""Genotype blocks as the scalable mode reads them: int8 hard calls from sources that hold only
hard calls (PLINK .bed, PGEN without dosages), dosages otherwise; QC on either; the rows of a
phenotype group; and step 1's one pass over the model variants into 8-bit codes per group
(``model_genotypes``)."""

from __future__ import annotations

import sys
from typing import Iterator

import numpy as np

from ...errors import InputError
from ...io.genotypes import variant_selection
from ...runlog import RunLog
from ..design import PhenotypeGroup
from ..qc import VariantQC, calls_qc, variant_qc
from .codes import Step1Genotypes, default_block, encode_block, encode_calls

__all__ = ["read_blocks", "group_subsets", "take_rows", "block_qc", "model_genotypes"]


def read_blocks(src, rows: np.ndarray, variants: np.ndarray,
                block_size: int) -> Iterator[tuple[np.ndarray, np.ndarray | None, object]]:
    """``(indices, calls, block)`` per block of ``variants``: int8 hard calls (``calls``, and
    ``block`` None) from sources that have only them (``src.hard_calls``), else ``calls`` None
    and a dosage ``GenotypeBlock``."""
    hard = src.hard_calls
    for a in range(0, len(variants), block_size):
        idx = variants[a:a + block_size]
        sel = variant_selection(idx)
        if hard:
            yield idx, src.read_calls(samples=rows, variants=sel), None
        else:
            yield idx, None, src.read(samples=rows, variants=sel)


def group_subsets(groups: list[PhenotypeGroup], n: int) -> list[np.ndarray | None]:
    """Each group's rows among the ``n`` analysed individuals (None: all, in order)."""
    return [None if len(g.rows) == n and (np.diff(g.rows) == 1).all() else g.rows
            for g in groups]


def take_rows(a: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
    """``a[rows]`` (None: ``a``), column-major when ``a`` is (a genotype block read by
    variant): four times faster than fancy indexing, and the encoding reads columns."""
    if rows is None:
        return a
    if a.flags.f_contiguous:
        return np.take(a.T, rows, axis=1).T
    return a[rows]


def block_qc(calls: np.ndarray | None, block, thresholds: dict) -> VariantQC:
    """Variant QC of a block from ``read_blocks`` (``thresholds``: ``qc.variant_qc``
    keywords; hard calls carry no INFO)."""
    if calls is not None:
        return calls_qc(calls=calls, maf=thresholds["maf"], geno=thresholds["geno"],
                        hwe=thresholds["hwe"])
    return variant_qc(dosages=block.dosages, info=block.info, **thresholds)


def model_genotypes(*, src, rows: np.ndarray, groups: list[PhenotypeGroup],
                    qc_thresholds: dict | None, block_size: int, max_variants: int | None,
                    progress: bool, log: RunLog) -> list[Step1Genotypes]:
    """One pass over the model variants into 8-bit codes, per group.

    Args:
        src: the model genotypes (``--grm-bfile``, or the test genotypes); every variant is
            used (not only ``--chr``/``--range``), as the exact mode's similarity.
        rows: the analysed individuals' rows in ``src``.
        groups: phenotype groups (their ``rows`` index ``rows``).
        qc_thresholds: ``qc.variant_qc`` keywords, or None for no QC (``--grm-bfile``).
        max_variants: thin the variants evenly to at most this many (None or 0: all).
    Raises:
        InputError when no polymorphic variant is left.
    """
    from tqdm import tqdm

    chrom = src.variants["chromosome"].to_numpy()
    variants = np.argsort(chrom, kind="stable")
    if max_variants and len(variants) > max_variants:
        pick = np.unique(np.linspace(0, len(variants) - 1, max_variants)
                         .round().astype(np.int64))
        variants = variants[pick]
        log.info(f"step 1: model variants thinned evenly to {len(variants)}")
    m = len(variants)
    buf = [dict(codes=np.empty((g.n, m), np.uint8, order="F"), a=np.empty(m, np.float32),
                b=np.empty(m, np.float32), ss=np.empty(m), chrom=np.empty(m, np.int64))
           for g in groups]
    n_used = 0
    subsets = group_subsets(groups, len(rows))
    blocks = tqdm(read_blocks(src, rows, variants, block_size),
                  total=-(-m // block_size), desc="step 1: model genotypes", unit="block",
                  disable=not progress, file=sys.stderr, leave=False)
    for idx, calls, block in blocks:
        d = calls if calls is not None else block.dosages
        if qc_thresholds is not None:
            keep = block_qc(calls, block, qc_thresholds).keep
            if not keep.all():
                d, idx = d[:, keep], idx[keep]
        w = len(idx)
        encode = encode_calls if calls is not None else encode_block
        for sub, bf in zip(subsets, buf):
            sl = slice(n_used, n_used + w)
            bf["codes"][:, sl], bf["a"][sl], bf["b"][sl], bf["ss"][sl] = encode(
                take_rows(d, sub))
            bf["chrom"][sl] = chrom[idx]
        n_used += w
    out = [Step1Genotypes(codes=bf["codes"][:, :n_used], a=bf["a"][:n_used],
                          b=bf["b"][:n_used], ss=bf["ss"][:n_used],
                          chromosome=bf["chrom"][:n_used],
                          block=default_block(g.n))
           for g, bf in zip(groups, buf)]
    if n_used == 0 or out[0].ss.sum() <= 0:
        raise InputError(f"{src.path}: no polymorphic variant to build the genetic similarity")
    log.info(f"step 1: {n_used} model variants over {len(out[0].chromosomes())} chromosomes "
             f"(standardised, mean-imputed, FaST-LMM similarity), {out[0].codes.nbytes / 2**20:.0f}"
             f" MiB of 8-bit codes per group")
    return out
