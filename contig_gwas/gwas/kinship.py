"""Standardised genetic similarity (FaST-LMM semantics), streamed in variant blocks.

For each variant, over the individuals of the analysis: mean and standard deviation (ddof 0)
of the non-missing dosages; the dosage is standardised ``(x - mean) / sd`` and a missing call
becomes 0 (mean imputation); a monomorphic variant contributes nothing (pysnptools ``Unit()``).
With ``Z`` the standardised N x M matrix, ``K = Z Z' * N / trace(Z Z')`` so that the diagonal
averages 1 (pysnptools ``DiagKtoN()``, which fastlmm's ``single_snp`` applies). This equals
``Z Z' / M`` when no call is missing.

Leave one chromosome out: the unscaled products ``T_c = Z_c Z_c'`` are accumulated per
chromosome in one pass; ``K_{-c} = (T - T_c) * N / trace(T - T_c)`` needs no re-reading.
The per-chromosome products are held in memory or, given ``spill_dir``, written there as
``.npy`` files (memory then stays at two N x N matrices plus one block); ``LocoKinship.save``
and ``LocoKinship.load`` keep a similarity across runs (the resumable chunk directory).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

__all__ = ["standardise_block", "standardised_kinship", "LocoKinship", "KinshipAccumulator",
           "tiled_syrk_add", "TILE"]


def standardise_block(dosages: np.ndarray, *, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """Unit-standardise a block of dosages as pysnptools ``Unit()`` does.

    Args:
        dosages: shape (N, B), NaN where missing.
        dtype: output float type.
    Returns:
        ``Z`` shape (N, B) (missing and monomorphic entries 0) and the per-variant sum of
        squares ``diag(Z'Z)`` shape (B,) (the number of non-missing calls, 0 if monomorphic).
    """
    z = np.array(dosages, dtype=dtype, copy=True)
    miss = np.isnan(z)
    any_miss = miss.any()
    if any_miss:
        n_ok = (~miss).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(n_ok > 0, np.nansum(z, axis=0) / np.maximum(n_ok, 1), 0.0)
        z[miss] = 0.0
        z -= mean
        z[miss] = 0.0
        var = (z * z).sum(axis=0) / np.maximum(n_ok, 1)
    else:
        z -= z.mean(axis=0)
        var = (z * z).mean(axis=0)
    sd = np.sqrt(var)
    ok = sd > 1e-12 * max(1.0, float(np.max(sd, initial=0.0)))
    z[:, ok] /= sd[ok]
    z[:, ~ok] = 0.0
    if any_miss:
        z[miss] = 0.0
    ss = (z * z).sum(axis=0)
    return z, ss


def _scale(t: np.ndarray, trace: float) -> np.ndarray:
    n = t.shape[0]
    if trace <= 0:
        raise ValueError("no polymorphic variant contributes to the genetic similarity")
    return t * (n / trace)


def standardised_kinship(*, dosages: np.ndarray | None = None, source=None,
                         samples: np.ndarray | None = None, variants: np.ndarray | None = None,
                         block_size: int = 2000) -> np.ndarray:
    """The standardised similarity ``K`` (mean diagonal 1), from an array or a genotype source.

    Args:
        dosages: shape (N, M), NaN where missing; or None to stream from ``source``.
        source: a ``contig_gwas.io.genotypes`` source (``iter_blocks``), with optional
            ``samples`` (row indices, shape (N,)) and ``variants`` (indices) to use.
        block_size: variants per block when streaming.
    Returns:
        K, float64, shape (N, N).
    """
    if (dosages is None) == (source is None):
        raise ValueError("give exactly one of dosages and source")
    if dosages is not None:
        blocks: Iterable[np.ndarray] = (dosages[:, a:a + block_size]
                                        for a in range(0, dosages.shape[1], block_size))
        n = dosages.shape[0]
    else:
        blocks = (b.dosages for b in source.iter_blocks(samples=samples, variants=variants,
                                                         block_size=block_size))
        n = len(source.samples) if samples is None else len(samples)
    t = np.zeros((n, n))
    trace = 0.0
    for d in blocks:
        z, ss = standardise_block(d)
        _syrk_add(t, z)
        trace += float(ss.sum())
    _symmetrise(t)
    return _scale(t, trace)


def _syrk_add(t: np.ndarray, z: np.ndarray) -> None:
    """Add ``z z'`` to the lower triangle of ``t`` in place (BLAS syrk); see _symmetrise."""
    from scipy.linalg import blas

    if z.shape[1] == 0:
        return
    zf = np.asfortranarray(z, dtype=np.float64)
    if t.flags.f_contiguous:
        out = blas.dsyrk(1.0, zf, beta=1.0, c=t, lower=1, overwrite_c=1)
        target = t
    else:  # a C-ordered t is an F-ordered t.T: its upper triangle is t's lower one
        out = blas.dsyrk(1.0, zf, beta=1.0, c=t.T, lower=0, overwrite_c=1)
        target = t.T
    if not np.shares_memory(out, target):  # pragma: no cover - BLAS made a copy
        target[...] = out


#: rows and columns of a tile of ``Z Z'`` (``tiled_syrk_add``): 512 x 512 float64 products of
#: about 1 GFLOP per 2,000 variants, large enough for full BLAS speed on one thread, many enough
#: (N = 3,000: 21 tiles) to share among threads
TILE = 512


def tiled_syrk_add(t: np.ndarray, z: np.ndarray, workers=None) -> None:
    """Add ``z z'`` to the lower triangle of ``t`` (N, N) in place, as tiles of ``TILE`` rows
    and columns computed on ``workers`` (None: this thread): ``z_I z_J'`` for ``I > J`` and
    the lower triangle of ``z_I z_I'`` (BLAS syrk) on the diagonal. The tiles depend on N only
    and each is added by one thread, so ``t`` is the same bits for any number of threads."""
    from .blas import dsyrk_lower_acc
    from .parallel import Workers

    n = t.shape[0]
    if z.shape[1] == 0:
        return
    cuts = list(range(0, n, TILE)) + [n]
    tiles = [(i, j) for i in range(len(cuts) - 1) for j in range(i + 1)]

    def tile(ij: tuple[int, int]) -> None:
        i, j = ij
        a, b, c, d = cuts[i], cuts[i + 1], cuts[j], cuts[j + 1]
        if i == j:
            tile = np.zeros((b - a, b - a), order="F")
            dsyrk_lower_acc(tile, np.asfortranarray(z[a:b]))   # GIL released (gwas.blas)
            t[a:b, a:b] += tile
        else:
            t[a:b, c:d] += z[a:b] @ z[c:d].T

    for _ in (workers or Workers(1)).map(tile, tiles):
        pass


def _symmetrise(t: np.ndarray) -> None:
    """Copy the lower triangle of ``t`` onto its upper triangle, in place, blockwise."""
    n = t.shape[0]
    step = 1024
    for a in range(0, n, step):
        b = min(a + step, n)
        blk = t[a:b, a:b]
        blk[...] = np.tril(blk) + np.tril(blk, -1).T
        if b < n:
            t[a:b, b:] = t[b:, a:b].T


@dataclass
class LocoKinship:
    """Per-chromosome accumulated similarity, giving the kernel with any chromosome left out.

    Attributes:
        n: individuals, N.
        total: ``T = Z Z'`` over all variants, shape (N, N), symmetric.
        trace: ``trace(T)``.
        chrom_trace: per chromosome code, ``trace(T_c)``.
        chrom_count: per chromosome code, number of polymorphic variants.
        chrom_store: per chromosome code, ``T_c`` (array) or the ``.npy`` path holding it.
    """

    n: int
    total: np.ndarray
    trace: float
    chrom_trace: dict[int, float] = field(default_factory=dict)
    chrom_count: dict[int, int] = field(default_factory=dict)
    chrom_store: dict[int, np.ndarray | str | Path] = field(default_factory=dict)

    @property
    def n_variants(self) -> int:
        return int(sum(self.chrom_count.values()))

    def chrom_product(self, chromosome: int) -> np.ndarray:
        """``T_c`` of one chromosome (zeros if it had no variant), shape (N, N)."""
        stored = self.chrom_store.get(int(chromosome))
        if stored is None:
            return np.zeros((self.n, self.n))
        if isinstance(stored, (str, Path)):
            return np.load(stored, mmap_mode="r")
        return stored

    def kernel(self, *, leave_out: int | None = None) -> np.ndarray:
        """The standardised K (mean diagonal 1), optionally without one chromosome: (N, N).

        Raises:
            ValueError if no polymorphic variant remains.
        """
        if leave_out is None or int(leave_out) not in self.chrom_store:
            return _scale(self.total.copy(), self.trace)
        k = self.total - self.chrom_product(leave_out)
        return _scale(k, self.trace - self.chrom_trace[int(leave_out)])

    def save(self, path: str | os.PathLike) -> None:
        """Write this similarity to ``path`` (JSON, atomically) for ``load``.

        The JSON holds N, the traces, the variant counts and, per chromosome, the ``.npy``
        file of ``T_c``: a product spilled by ``KinshipAccumulator(spill_dir=...)`` is
        referenced where it lies; one held in memory is written beside ``path`` as
        ``<path without .json>.chr<c>.npy``. ``total`` is not written: ``load`` sums it.
        """
        from ..outputs import atomic_path

        path = Path(path)
        store = {}
        for c, stored in self.chrom_store.items():
            if not isinstance(stored, (str, Path)):
                target = path.with_name(f"{path.stem}.chr{c}.npy")
                with atomic_path(target) as tmp:
                    with open(tmp, "wb") as fh:
                        np.save(fh, stored)
                stored = target
            store[str(c)] = str(stored)
        meta = {"n": self.n, "trace": self.trace, "store": store,
                "chrom_trace": {str(c): v for c, v in self.chrom_trace.items()},
                "chrom_count": {str(c): v for c, v in self.chrom_count.items()}}
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(meta))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "LocoKinship":
        """Read a similarity written by ``save``. The per-chromosome products stay on disk
        (memory-mapped when used); ``total`` is their sum, added in the saved order (the
        accumulator's), so the kernels are the saved run's to the last bit."""
        meta = json.loads(Path(path).read_text())
        n = int(meta["n"])
        kin = cls(n=n, total=np.zeros((n, n)), trace=meta["trace"])
        for c, stored in meta["store"].items():
            kin.chrom_store[int(c)] = stored
            kin.chrom_trace[int(c)] = meta["chrom_trace"][c]
            kin.chrom_count[int(c)] = meta["chrom_count"][c]
            kin.total += np.load(stored)
        return kin


class KinshipAccumulator:
    """Accumulate ``Z_c Z_c'`` per chromosome over streamed blocks (one genotype pass).

    Usage::

        acc = KinshipAccumulator(n=N, spill_dir=tmp)
        for block in source.iter_blocks(...):
            acc.add(block.dosages, chromosomes=chrom[block.start:block.stop])
        loco = acc.finish()
    """

    def __init__(self, *, n: int, spill_dir: str | os.PathLike | None = None,
                 prefix: str = "kin") -> None:
        self.n = n
        self.spill_dir = None if spill_dir is None else Path(spill_dir)
        self.prefix = prefix
        self._total = np.zeros((n, n))
        self._trace = 0.0
        self._current: int | None = None
        self._cur = np.zeros((n, n))
        self._cur_trace = 0.0
        self._cur_count = 0
        self._out = LocoKinship(n=n, total=self._total, trace=0.0)

    def add(self, dosages: np.ndarray, *, chromosomes: np.ndarray, workers=None) -> None:
        """Add one block. Args: dosages (N, B) NaN-missing; chromosomes (B,) int codes;
        workers: the threads of the tiles of the product (``tiled_syrk_add``; None: this
        thread)."""
        chromosomes = np.asarray(chromosomes)
        if dosages.shape[0] != self.n or dosages.shape[1] != len(chromosomes):
            raise ValueError("block shape does not match the accumulator")
        start = 0
        while start < len(chromosomes):
            c = int(chromosomes[start])
            stop = start + int(np.argmax(chromosomes[start:] != c)) if np.any(
                chromosomes[start:] != c) else len(chromosomes)
            if c != self._current:
                self._flush()
                if c in self._out.chrom_store:
                    raise ValueError(f"variants of chromosome {c} are not contiguous")
                self._current = c
            z, ss = standardise_block(dosages[:, start:stop])
            tiled_syrk_add(self._cur, z, workers)
            self._cur_trace += float(ss.sum())
            self._cur_count += int((ss > 0).sum())
            start = stop

    def _flush(self) -> None:
        if self._current is None:
            return
        c = self._current
        _symmetrise(self._cur)
        self._total += self._cur
        self._trace += self._cur_trace
        self._out.chrom_trace[c] = self._cur_trace
        self._out.chrom_count[c] = self._cur_count
        if self.spill_dir is not None:
            self.spill_dir.mkdir(parents=True, exist_ok=True)
            path = self.spill_dir / f"{self.prefix}.chr{c}.npy"
            np.save(path, self._cur)
            self._out.chrom_store[c] = path
            self._cur[:] = 0.0
        else:
            self._out.chrom_store[c] = self._cur
            self._cur = np.zeros((self.n, self.n))
        self._cur_trace = 0.0
        self._cur_count = 0
        self._current = None

    def finish(self) -> LocoKinship:
        """Close the last chromosome and return the LocoKinship."""
        self._flush()
        self._cur = np.zeros((0, 0))  # free the last chromosome's product
        self._out.trace = self._trace
        return self._out
