"""GCTA binary GRM files: ``PREFIX.grm.bin`` (float32 lower triangle with the diagonal, row by
row), ``PREFIX.grm.N.bin`` (SNP counts, same layout) and ``PREFIX.grm.id`` (FID IID).

Read as lower-triangle row blocks (what ``he.he_regression`` consumes, O(rows x N) memory) or
as a dense matrix (for REML); written from a dense matrix.

Reference: Yang, Lee, Goddard & Visscher (2011) Am J Hum Genet 88:76 (GCTA).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..errors import InputError
from ..io.text import read_lines


def read_gcta_grm_ids(prefix: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """FID and IID of a GCTA binary GRM (``PREFIX.grm.id``)."""
    path = Path(str(prefix) + ".grm.id")
    if not path.exists():
        raise InputError(f"{path}: GRM id file not found (from --grm-bfile {prefix})")
    rows = [ln.split() for ln in read_lines(path, what="GRM id file")]
    if not rows or any(len(r) < 2 for r in rows):
        raise InputError(f"{path}: expected FID IID on every line")
    return np.array([r[0] for r in rows]), np.array([r[1] for r in rows])


def read_gcta_grm(prefix: str | os.PathLike, *, index: np.ndarray | None = None,
                  block_rows: int = 512) -> Iterator[tuple[int, np.ndarray]]:
    """Stream a GCTA binary GRM (``PREFIX.grm.bin``: float32 lower triangle with diagonal, row
    by row) as lower-triangle row blocks over the individuals ``index`` (rows of .grm.id, in
    the wanted order; default all).

    Memory is O(block_rows x N). When ``index`` reorders individuals, the file is read once per
    output block (rows are gathered from their stored positions), so keep the stored order
    where possible.

    Yields:
        ``(r0, L)`` with ``L`` shape (B, r0 + B), as ``he_regression`` expects.
    """
    path = Path(str(prefix) + ".grm.bin")
    fid, _ = read_gcta_grm_ids(prefix)
    n_file = len(fid)
    if not path.exists():
        raise InputError(f"{path}: GRM file not found (from --grm-bfile {prefix})")
    expected = n_file * (n_file + 1) // 2 * 4
    if path.stat().st_size != expected:
        raise InputError(f"{path}: {path.stat().st_size} bytes, but {n_file} individuals in "
                         f".grm.id need {expected} (float32 lower triangle)")
    idx = np.arange(n_file) if index is None else np.asarray(index, dtype=np.int64)
    mm = np.memmap(path, dtype="<f4", mode="r")
    n = len(idx)
    for r0 in range(0, n, block_rows):
        r1 = min(n, r0 + block_rows)
        L = np.empty((r1 - r0, r1))
        for k, i in enumerate(idx[r0:r1]):
            cols = idx[:r1]
            # K[i, c] is stored in row max(i, c) at column min(i, c)
            hi = np.maximum(cols, i)
            lo = np.minimum(cols, i)
            L[k] = mm[hi * (hi + 1) // 2 + lo]
        yield r0, L


def read_gcta_grm_matrix(prefix: str | os.PathLike, *,
                         index: np.ndarray | None = None) -> np.ndarray:
    """The full GRM over ``index`` as a dense float64 array, shape (N, N) (for REML)."""
    fid, _ = read_gcta_grm_ids(prefix)
    n_file = len(fid)
    idx = np.arange(n_file) if index is None else np.asarray(index, dtype=np.int64)
    K = np.zeros((len(idx), len(idx)))
    for r0, L in read_gcta_grm(prefix, index=idx):
        b = L.shape[0]
        K[r0:r0 + b, :r0 + b] = L
    il = np.tril_indices(len(idx), -1)
    K[il[1], il[0]] = K[il]
    return K


def write_gcta_grm(prefix: str | os.PathLike, *, K: np.ndarray, fid: Sequence[str],
                   iid: Sequence[str], n_snps: int = 0) -> None:
    """Write ``PREFIX.grm.bin`` (float32 lower triangle), ``.grm.N.bin`` and ``.grm.id``."""
    K = np.asarray(K)
    il = np.tril_indices(K.shape[0])
    # GCTA stores row by row: (0,0), (1,0), (1,1), (2,0), ... = row-major lower triangle
    K[il].astype("<f4").tofile(str(prefix) + ".grm.bin")
    np.full(len(il[0]), float(n_snps), dtype="<f4").tofile(str(prefix) + ".grm.N.bin")
    Path(str(prefix) + ".grm.id").write_text(
        "".join(f"{f}\t{i}\n" for f, i in zip(fid, iid)))
