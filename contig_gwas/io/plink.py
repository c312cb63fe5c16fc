"""PLINK 1 binary filesets ``PREFIX.bed/.bim/.fam``, read with bed-reader.

Effect allele: A1 (the fifth .bim column; counted as PLINK 1.9 and fastlmm's ``count_A1=True``
do). A ``.fam`` may carry more than six columns (GEMMA, BOLT-LMM and PLINK 1 keep phenotypes
there): as PLINK 1.9 and 2 do, only the first six are read.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from ..chrom import normalise_chromosomes
from ..errors import InputError
from .source import GenotypeBlock, iter_blocks
from .text import read_lines


class PlinkSource:
    """PLINK 1 binary fileset ``PREFIX.bed/.bim/.fam`` read with bed-reader."""

    has_info = False
    hard_calls = True

    def __init__(self, prefix: str | os.PathLike) -> None:
        import bed_reader

        prefix = str(prefix)
        if prefix.endswith(".bed"):
            prefix = prefix[:-4]
        self.path = prefix
        files = {ext: Path(prefix + ext) for ext in (".bed", ".bim", ".fam")}
        for ext, p in files.items():
            if not p.exists():
                raise InputError(f"{p}: PLINK {ext} file not found (from --bfile {prefix})")
        self.samples = _read_fam(files[".fam"])
        self.variants = _read_bim(files[".bim"])
        n, m = len(self.samples), len(self.variants)
        with open(files[".bed"], "rb") as fh:
            magic = fh.read(3)
        if magic == b"\x6c\x1b\x00":
            raise InputError(f"{files['.bed']}: an individual-major (PLINK 1 'mode 0') .bed; "
                             f"rewrite it variant-major with plink --bfile {prefix} --make-bed")
        if magic != b"\x6c\x1b\x01":
            raise InputError(f"{files['.bed']}: not a PLINK 1 .bed file (bad magic bytes)")
        expected = 3 + m * ((n + 3) // 4)
        size = files[".bed"].stat().st_size
        if size != expected:
            raise InputError(f"{files['.bed']}: size {size} bytes but {n} samples x {m} variants "
                             f"need {expected}: the file is truncated or does not match its "
                             f".bim/.fam")
        self._bed = bed_reader.open_bed(files[".bed"], iid_count=n, sid_count=m, count_A1=True,
                                        num_threads=1)

    def read(self, *, samples: np.ndarray | None = None,
             variants: np.ndarray | slice | None = None) -> GenotypeBlock:
        rows = slice(None) if samples is None else np.asarray(samples, dtype=np.intp)
        cols = slice(None) if variants is None else variants
        x = self._bed.read(index=np.s_[rows, cols], dtype="float32", order="F", num_threads=1)
        start = variants.start if isinstance(variants, slice) and variants.start else 0
        return GenotypeBlock(start=start, dosages=x)

    def read_calls(self, *, samples: np.ndarray | None = None,
                   variants: np.ndarray | slice | None = None) -> np.ndarray:
        """Hard calls as int8 (effect-allele counts 0/1/2, -127 where missing), shape (N, B),
        column-major: a quarter of the memory of ``read`` and no NaN handling downstream."""
        rows = slice(None) if samples is None else np.asarray(samples, dtype=np.intp)
        cols = slice(None) if variants is None else variants
        return self._bed.read(index=np.s_[rows, cols], dtype="int8", order="F", num_threads=1)

    def iter_blocks(self, *, samples: np.ndarray | None = None, variants: np.ndarray | None = None,
                    block_size: int = 1000) -> Iterator[GenotypeBlock]:
        return iter_blocks(self, samples=samples, variants=variants, block_size=block_size)


def _read_fam(path: Path) -> pd.DataFrame:
    """FID and IID of a .fam: the first six fields of each line are read, further ones (GEMMA
    and BOLT-LMM phenotypes, any number per line) ignored, as PLINK 1.9 and 2 do."""
    rows = [ln.split() for ln in read_lines(path, what=".fam file")]
    if not rows:
        raise InputError(f"{path}: file is empty")
    short = [k for k, r in enumerate(rows) if len(r) < 6]
    if short:
        raise InputError(f"{path}: line {short[0] + 1} has {len(rows[short[0]])} columns; a .fam "
                         f"line needs 6 (FID IID father mother sex phenotype)")
    df = pd.DataFrame([r[:2] for r in rows])
    return pd.DataFrame({"FID": df[0].astype(str).to_numpy(), "IID": df[1].astype(str).to_numpy()})


def _read_bim(path: Path) -> pd.DataFrame:
    df = _read_ws(path, ncols=6)
    try:
        pos = df[3].astype(np.int64).to_numpy()
    except ValueError:
        raise InputError(f"{path}: column 4 (base-pair position) is not an integer") from None
    return pd.DataFrame({
        "chromosome": normalise_chromosomes(df[0].to_numpy(), source=str(path)),
        "position": pos,
        "variant_id": df[1].astype(str).to_numpy(),
        "effect_allele": df[4].astype(str).to_numpy(),
        "other_allele": df[5].astype(str).to_numpy(),
    })


def _read_ws(path: Path, *, ncols: int) -> pd.DataFrame:
    """Whitespace-separated columns without a header, exactly ``ncols`` of them."""
    try:
        df = pd.read_csv(path, sep=r"\s+", header=None, dtype=str, engine="c")
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: file is empty") from None
    except pd.errors.ParserError as exc:
        raise InputError(f"{path}: cannot parse ({exc}); expected {ncols} columns") from None
    if df.shape[1] != ncols:
        raise InputError(f"{path}: expected {ncols} columns, found {df.shape[1]}")
    if df.isna().any().any():
        row = int(np.flatnonzero(df.isna().any(axis=1).to_numpy())[0])
        raise InputError(f"{path}: line {row + 1} has fewer than {ncols} columns")
    return df


