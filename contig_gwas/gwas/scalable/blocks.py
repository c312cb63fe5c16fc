"""Genotype blocks as the scalable mode reads them: int8 hard calls from sources that hold only
hard calls (PLINK .bed, PGEN without dosages), dosages otherwise; QC on either; the rows of a
phenotype group; and step 1's one pass over the model variants into 2-bit (hard calls) or
8-bit (dosages) codes per group (``model_genotypes``), whose QC decisions step 2 reuses when it
tests the same file, and whose codes it reads back as the hard calls they are (``Step1Pass``:
each hard call is read from the file once)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from ...errors import InputError
from ...io.genotypes import GenotypeBlock, GenotypeSource, variant_selection
from ...io.source import CallReader
from ...runlog import RunLog
from ..design import PhenotypeGroup
from ..parallel import Workers
from ..qc import QC_REASONS, VariantQC, calls_qc, variant_qc
from .codes import CALL_OF_CODE, Step1Genotypes, default_block, encode_block, encode_calls

__all__ = ["read_block", "read_blocks", "group_subsets", "take_rows", "block_qc",
           "model_genotypes", "Step1Pass", "calls_from_codes"]


def read_block(src: GenotypeSource, rows: np.ndarray,
               idx: np.ndarray) -> tuple[np.ndarray | None, GenotypeBlock | None]:
    """``(calls, block)`` of the variants ``idx``: int8 hard calls (``calls``, and ``block``
    None) from sources that have only them (``src.hard_calls``), else ``calls`` None and a
    dosage ``GenotypeBlock``. Thread-safe (PLINK and BGEN readers read in parallel; the PGEN
    reader one block at a time)."""
    sel = variant_selection(idx)
    if src.hard_calls:
        assert isinstance(src, CallReader), "a source of hard calls reads them"
        return src.read_calls(samples=rows, variants=sel), None
    return None, src.read(samples=rows, variants=sel)


def read_blocks(src: GenotypeSource, rows: np.ndarray, variants: np.ndarray,
                block_size: int) -> Iterator[tuple[np.ndarray, np.ndarray | None,
                                                   GenotypeBlock | None]]:
    """``(indices, calls, block)`` per block of ``variants`` (``read_block``)."""
    for a in range(0, len(variants), block_size):
        idx = variants[a:a + block_size]
        yield (idx,) + read_block(src, rows, idx)


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
                    progress: bool, log: RunLog, workers: Workers | None = None,
                    keep_calls: bool = False, bits: int | None = None, bed_map: bool = True
                    ) -> tuple[list[Step1Genotypes], Step1Pass | None]:
    """One pass over the model variants into 2-bit or 8-bit codes, per group.

    Args:
        src: the model genotypes (``--grm-bfile``, or the test genotypes); every variant is
            used (not only ``--chr``/``--range``), as the exact mode's similarity.
        rows: the analysed individuals' rows in ``src``.
        groups: phenotype groups (their ``rows`` index ``rows``).
        qc_thresholds: ``qc.variant_qc`` keywords, or None for no QC (``--grm-bfile``).
        max_variants: thin the variants evenly to at most this many (None or 0: all).
        workers: the threads that read, check and encode the blocks (one block per task; the
            codes are placed in file order, so they do not depend on the number of threads).
        keep_calls: also return the ``Step1Pass`` through which step 2 reuses the QC
            decisions and, for hard calls, reads the codes back as the calls (None where step 1
            did not pass over the test genotypes as step 2 does: thinned variants, no QC).
        bits: 2 (``codes``: ``ceil(N / 4)`` bytes a variant; dosages hard-called) or 8
            (``N`` bytes; dosages to within 1/254); None: 2 for hard-call sources, 8 for
            dosages (their statistics unchanged).
        bed_map: with 2 bits, a PLINK .bed source whose every individual is analysed in file
            order by a single group is not copied: the codes are a read-only memory map of the
            .bed (``bed_codes``), of which the pass keeps only the coefficients.
    Returns:
        the codes of every group, and the ``Step1Pass`` (or None).
    Raises:
        InputError when no polymorphic variant is left.
    """
    from tqdm import tqdm

    chrom = src.variants["chromosome"].to_numpy()
    variants = np.argsort(chrom, kind="stable")
    thinned = bool(max_variants and len(variants) > max_variants)
    if thinned:
        assert max_variants is not None
        pick = np.unique(np.linspace(0, len(variants) - 1, max_variants)
                         .round().astype(np.int64))
        variants = variants[pick]
        log.info(f"step 1: model variants thinned evenly to {len(variants)}")
    keep_calls = keep_calls and not thinned and qc_thresholds is not None
    if bits is None:
        bits = 2 if src.hard_calls else 8
    hard = keep_calls and bool(src.hard_calls)
    m = len(variants)
    subsets = group_subsets(groups, len(rows))
    single = len(subsets) == 1 and subsets[0] is None
    mapped = bed_codes(src, rows) if bits == 2 and bed_map and single else None
    buf: list[dict[str, Any]] = [
        dict(codes=None if mapped is not None else np.empty((g.n, m), np.uint8, order="F")
             if bits == 8 else np.empty((m, -(-g.n // 4)), np.uint8),
             a=np.empty(m, np.float32), b=np.empty(m, np.float32), ss=np.empty(m),
             chrom=np.empty(m, np.int64), odd={}, rows=np.empty(m, np.int64))
        for g in groups]
    reason = np.full(len(src.variants), -1, np.int8)
    column = np.full(len(src.variants), -1, np.int64)
    odd_calls = hard and bits == 8

    def task(idx: np.ndarray):
        calls, block = read_block(src, rows, idx)
        if calls is None:
            assert block is not None
            d = block.dosages
        else:
            d = calls
        fail = None
        if qc_thresholds is not None:
            qc = block_qc(calls, block, qc_thresholds)
            fail = qc.fail
            if not qc.keep.all():
                d, idx = d[:, qc.keep], idx[qc.keep]
        encode = encode_calls if calls is not None else encode_block
        coded = []
        for sub in subsets:
            dg = take_rows(d, sub)
            out = encode(dg, bits=0 if mapped is not None else bits)
            coded.append(out + (_odd_columns(dg, out[0]) if odd_calls else {},))
        return idx, fail, coded

    n_used = 0
    blocks = [variants[a:a + block_size] for a in range(0, m, block_size)]
    results = tqdm((workers or Workers(1)).map(task, blocks), total=len(blocks),
                   desc="step 1: model genotypes", unit="block", disable=not progress,
                   file=sys.stderr, leave=False)
    for (idx, fail, coded), asked in zip(results, blocks):
        if fail is not None:
            for r, name in enumerate(QC_REASONS):
                reason[asked[fail[name]]] = r
        w = len(idx)
        sl = slice(n_used, n_used + w)
        column[idx] = np.arange(n_used, n_used + w)
        for bf, (codes, a, b, ss, odd) in zip(buf, coded):
            if bf["codes"] is None:
                pass
            elif bits == 8:
                bf["codes"][:, sl] = codes
            else:
                bf["codes"][sl] = codes
            bf["a"][sl], bf["b"][sl], bf["ss"][sl] = a, b, ss
            bf["chrom"][sl], bf["rows"][sl] = chrom[idx], idx
            bf["odd"].update({n_used + j: c for j, c in odd.items()})
        n_used += w
    out = [Step1Genotypes(codes=mapped if mapped is not None else
                          bf["codes"][:, :n_used] if bits == 8 else bf["codes"][:n_used],
                          a=bf["a"][:n_used], b=bf["b"][:n_used], ss=bf["ss"][:n_used],
                          chromosome=bf["chrom"][:n_used], block=default_block(g.n), bits=bits,
                          n_individuals=g.n,
                          rows=bf["rows"][:n_used] if mapped is not None else None)
           for g, bf in zip(groups, buf)]
    if n_used == 0 or out[0].ss.sum() <= 0:
        raise InputError(f"{src.path}: no polymorphic variant to build the genetic similarity")
    held = (f"a memory map of {src.path}" if mapped is not None else
            f"{out[0].nbytes / 2**20:.0f} MiB of {bits}-bit codes per group")
    log.info(f"step 1: {n_used} model variants over {len(out[0].chromosomes())} chromosomes "
             f"(standardised, mean-imputed, FaST-LMM similarity), {held}")
    saved = Step1Pass(column=column, reason=reason, genotypes=out if hard else None,
                      odd=[bf["odd"] for bf in buf]) if keep_calls else None
    return out, saved


def bed_codes(src, rows: np.ndarray) -> np.ndarray | None:
    """A read-only memory map of the variant records of ``src``'s PLINK .bed, uint8, shape
    (M, ceil(N / 4)), where it holds the 2-bit codes of ``rows`` as ``codes.Step1Genotypes``
    wants them: a variant-major .bed whose every individual is analysed, in file order
    (else None: the codes are packed in memory)."""
    from ...io.plink import PlinkSource

    if not isinstance(src, PlinkSource):
        return None
    n_file, m_file = len(src.samples), len(src.variants)
    if len(rows) != n_file or not np.array_equal(rows, np.arange(n_file)):
        return None
    path = src.path if str(src.path).endswith(".bed") else f"{src.path}.bed"
    nb = -(-n_file // 4)
    try:
        with open(path, "rb") as fh:
            head = fh.read(3)
        mm = np.memmap(path, dtype=np.uint8, mode="r", offset=3, shape=(m_file, nb))
    except (OSError, ValueError):
        return None
    return mm if head == b"\x6c\x1b\x01" else None


def _odd_columns(calls: np.ndarray, codes: np.ndarray) -> dict[int, np.ndarray]:
    """The calls of the variants whose missing calls the codes cannot show: those whose mean
    (the code a missing call gets) rounds to the code of a call (within 1/254 of 0, 1 or 2).
    Column index in the block -> int8 calls."""
    miss = calls < 0
    first = np.argmax(miss, axis=0)                      # a missing call's row, where any
    fill = codes[first, np.arange(codes.shape[1])]
    odd = miss[first, np.arange(codes.shape[1])] & (CALL_OF_CODE[fill] >= 0)
    return {int(j): np.array(calls[:, j]) for j in np.flatnonzero(odd)}


def calls_from_codes(codes: np.ndarray) -> np.ndarray:
    """The int8 hard calls (-127 where missing) of hard-call codes (``encode_calls``), shape
    and memory order of ``codes``; exact except for the columns ``Step1Pass`` keeps aside."""
    return CALL_OF_CODE[codes]


@dataclass
class Step1Pass:
    """What step 1's pass over the test genotypes leaves for step 2 when both use the same
    file (no ``--grm-bfile``, no thinning): the QC decision of every variant (``block_qc``
    over the same individuals, so step 2 need not repeat it) and, for hard-call sources, the
    codes, which step 2 reads back as the calls they encode (a code is ``127 x`` the call, a
    missing call the code of the variant's mean): bitwise the calls the file holds, so step
    2's results equal those of reading the file again. Dosage sources are read again by step
    2: the codes round a dosage to 1/127.

    Attributes:
        column: column of the codes of every variant of the source, -1 where QC removed it,
            shape (M,).
        reason: the first QC reason (index into ``qc.QC_REASONS``) of every variant, -1 kept.
        genotypes: the codes of every group (None for a dosage source).
        odd: per group, the calls of the variants whose missing calls have a call's code
            (column -> int8 calls); a few of the variants with missing calls at most.
    """

    column: np.ndarray
    reason: np.ndarray
    genotypes: list[Step1Genotypes] | None
    odd: list[dict[int, np.ndarray]]

    @property
    def has_calls(self) -> bool:
        """The codes hold the test genotypes' calls (a hard-call source)."""
        return self.genotypes is not None

    def qc(self, variants: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``(keep, fail)`` of ``variants`` as ``block_qc`` decided them in step 1."""
        r = self.reason[variants]
        return r < 0, {name: r == k for k, name in enumerate(QC_REASONS)}

    def calls(self, variants: np.ndarray, group: int) -> np.ndarray:
        """The int8 calls of group ``group``'s individuals at ``variants`` (kept by QC), shape
        (N_g, B), column-major, as ``take_rows(read_block(...)[0], subset)`` gives them."""
        if self.genotypes is None:
            raise ValueError("step 1 coded dosages: read them from the file")
        cols = self.column[variants]
        calls = self.genotypes[group].calls(cols)
        for j, c in enumerate(cols.tolist()):
            if c in self.odd[group]:
                calls[:, j] = self.odd[group][c]
        return calls
