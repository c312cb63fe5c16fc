"""Genotype sources: PLINK 1 .bed/.bim/.fam, PLINK 2 .pgen/.pvar/.psam and BGEN 1.2 behind one
interface.

The interface (``GenotypeSource``, ``GenotypeBlock``) lives in ``source``; each format has its
own module (``plink``, ``pgen``, ``bgen``). ``open_genotypes`` opens whichever the user named,
with ``--extract``/``--exclude`` applied.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .bgen import BgenSource, info_score, write_sample_file
from .plink import PlinkSource
from .source import (
    VARIANT_COLUMNS,
    GenotypeBlock,
    GenotypeSource,
    VariantSubset,
    iter_blocks,
    variant_selection,
)
from .text import read_lines

__all__ = ["BgenSource", "GenotypeBlock", "GenotypeSource", "PlinkSource", "VARIANT_COLUMNS",
           "info_score", "iter_blocks", "open_genotypes", "read_variant_list",
           "variant_selection", "write_sample_file"]


def open_genotypes(*, bfile: str | None = None, pfile: str | None = None,
                   bgen: str | None = None, sample: str | None = None,
                   extract: str | None = None, exclude: str | None = None) -> GenotypeSource:
    """Open PLINK 1 (``bfile`` prefix), PLINK 2 (``pfile`` prefix) or BGEN (``bgen`` path,
    optional ``sample``) genotypes, restricted to the variants of ``extract`` and without those
    of ``exclude`` (files of variant IDs, first column; PLINK 2 semantics)."""
    given = [f for f, v in (("--bfile", bfile), ("--pfile", pfile), ("--bgen", bgen)) if v]
    if len(given) != 1:
        raise InputError("give exactly one of --bfile, --pfile and --bgen"
                         + (f" (got {' and '.join(given)})" if given else ""))
    if sample is not None and bgen is None:
        raise InputError("--sample goes with --bgen")
    source: GenotypeSource
    if bfile is not None:
        source = PlinkSource(bfile)
    elif pfile is not None:
        from .pgen import PgenSource

        source = PgenSource(pfile)
    else:
        assert bgen is not None  # exactly one of the three is given
        source = BgenSource(bgen, sample=sample)
    if extract is not None or exclude is not None:
        source = _subset(source, extract=extract, exclude=exclude)
    unplaced = int((source.variants["chromosome"].to_numpy() == 0).sum())
    if unplaced:
        raise InputError(f"{source.path}: {unplaced} variants on chromosome 0 (unplaced): they "
                         f"can be neither tested nor left out by chromosome; drop them with "
                         f"--exclude (or plink2 --not-chr 0)")
    return source


def _subset(source: GenotypeSource, *, extract: str | None,
            exclude: str | None) -> GenotypeSource:
    ids = source.variants["variant_id"].to_numpy(dtype=str)
    mask = np.ones(len(ids), dtype=bool)
    if extract is not None:
        mask &= np.isin(ids, read_variant_list(extract))
    if exclude is not None:
        mask &= ~np.isin(ids, read_variant_list(exclude))
    if not mask.any():
        raise InputError(f"{extract or exclude}: no variant of {source.path} is left after "
                         f"--extract/--exclude (IDs are matched on the variant ID column)")
    return VariantSubset(source, np.flatnonzero(mask))


def read_variant_list(path: str) -> np.ndarray:
    """Variant IDs of an ``--extract``/``--exclude`` file: the first field of each line (as
    PLINK 2, REGENIE and BOLT-LMM read them); plain, gzip or zstd."""
    ids = [ln.split()[0] for ln in read_lines(path, what="variant list")]
    if not ids:
        raise InputError(f"{path}: variant list is empty")
    return np.unique(np.asarray(ids, dtype=str))
