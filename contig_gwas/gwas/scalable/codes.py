"""Step-1 genotypes held in memory as 2-bit (or 8-bit) codes, and the batched kinship operator.

The step-1 (model) variants of one phenotype group are stored either

- ``bits=2`` (hard calls; the default for hard-call sources): the PLINK ``.bed`` layout
  (``packed``), ``M1 * ceil(N / 4)`` bytes, packed in memory or a memory map of the .bed
  itself. A block is decoded on the fly (``packed.decode``): each variant's four standardised
  values (``packed.value_tables``: calls 0, 1, 2 and 0.0 for a missing call, i.e. exact mean
  imputation) are expanded into a (256, 4) float32 table of every byte and gathered 16 bytes
  per input byte (``bench/step1_codes.py`` measures it against 8-bit codes); or
- ``bits=8``: ``uint8`` codes ``round(127 * dosage)`` (hard calls exactly, imputed dosages to
  within 1/254), column-major, ``N * M1`` bytes. A missing call is stored as the code of the
  variant's mean dosage (within 1/254 of it). Dosage sources keep this layout by default;
  ``bits=2`` hard-calls them (nearest integer), as BOLT-LMM's model genotypes are.

Each variant is standardised with the pysnptools ``Unit()`` mean and standard deviation of its
non-missing calls, exactly as the exact engine's similarity (``kinship.standardise_block``):
``z = a_j * code + b_j`` with ``a_j = 1 / (127 sd_j)`` and ``b_j = -mean_j / sd_j`` (the 8-bit
code ``127 x`` of a call ``x``; the 2-bit tables hold the same float32 values for the calls);
monomorphic variants get ``a = b = 0``.

The operator never forms an N x N matrix: for a matrix of vectors ``R`` (N, k) whose column
``i`` leaves out chromosome ``loco[i]`` (0: none),

    (K_{-c} R)[:, i] = s_c * sum_{j != c} Z_j (Z_j' R[:, i]),   s_c = N / sum_{j != c} ss_j,

with ``ss_j`` the per-variant sums of squares (the number of non-missing calls), i.e. the exact
engine's ``K = Z Z' * N / trace(Z Z')``. One application costs ``4 N M1 k`` flops (two
single-precision matrix products per block of variants) and reads the codes once.

References: Loh et al. (2015) Nat Genet 47:284 (BOLT-LMM; 2-bit genotypes in memory, kinship
never formed, one pass per conjugate-gradient iteration for all right-hand sides); Chang et al.
(2015) GigaScience 4:7 (the PLINK .bed layout).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..blas import sgemm_acc
from ..parallel import Workers
from ..qc import zero_filled
from .packed import CODE_SCALE, decode, hard_calls, pack_calls, unpack_calls, value_tables

__all__ = ["Step1Genotypes", "encode_block", "encode_calls", "default_block", "task_blocks",
           "CODE_SCALE", "CALL_OF_CODE"]

#: hard call of each 8-bit code (0, 127, 254 -> 0, 1, 2), -127 (missing) for any other code
CALL_OF_CODE = np.full(256, -127, np.int8)
CALL_OF_CODE[[0, int(CODE_SCALE), 2 * int(CODE_SCALE)]] = [0, 1, 2]


def encode_block(dosages: np.ndarray, *, bits: int = 8
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Encode one block of dosages.

    Args:
        dosages: shape (N, B), NaN where missing.
        bits: 8 (codes ``round(127 d)``) or 2 (the dosages hard-called to the nearest integer,
            ``hard_calls``, then ``encode_calls``).
    Returns:
        codes (uint8, (N, B); 2 bits: ``pack_calls``' (B, ceil(N / 4))), the affine
        coefficients ``a`` and ``b`` (float32, (B,)) and the per-variant sum of squares of the
        standardised column ``ss`` (float64, (B,)).
    """
    if bits == 2:
        return encode_calls(hard_calls(dosages), bits=2)
    d = np.asarray(dosages)
    miss = np.isnan(d)
    filled = zero_filled(d, miss)              # what np.nansum sums, without its copies
    n_ok = d.shape[0] - np.count_nonzero(miss, axis=0)
    safe_n = np.maximum(n_ok, 1)
    mean = np.where(n_ok > 0, filled.sum(axis=0, dtype=np.float64) / safe_n, 0.0)
    sq = (np.square(filled, dtype=np.float64) if d.dtype != np.float32
          else filled * filled).sum(axis=0, dtype=np.float64)
    scaled = filled * np.float32(CODE_SCALE)
    np.rint(scaled, out=scaled)
    if filled is not d:
        fill = np.rint(mean * CODE_SCALE).astype(scaled.dtype)
        np.copyto(scaled, np.broadcast_to(fill, scaled.shape), where=miss)
    codes = np.clip(scaled, 0, 255, out=scaled).astype(np.uint8)
    return (codes,) + _coefficients(n_ok=n_ok, mean=mean, mean_sq=sq / safe_n)


def _coefficients(*, n_ok: np.ndarray, mean: np.ndarray, mean_sq: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``a``, ``b`` and ``ss`` of ``encode_block`` from the calls, mean and mean square of each
    variant's non-missing dosages (monomorphic variants: ``a = b = ss = 0``)."""
    var = np.where(n_ok > 0, np.maximum(mean_sq - mean * mean, 0.0), 0.0)
    sd = np.sqrt(var)
    ok = sd > 1e-6 * max(1.0, float(np.max(sd, initial=0.0)))
    safe = np.where(ok, sd, 1.0)
    a = np.where(ok, 1.0 / (CODE_SCALE * safe), 0.0).astype(np.float32)
    b = np.where(ok, -mean / safe, 0.0).astype(np.float32)
    ss = np.where(ok, n_ok, 0).astype(np.float64)
    return a, b, ss


def default_block(n: int) -> int:
    """Variants standardised at once for N individuals: a float32 block of about 5 MB, so the
    second product of ``kinship_times`` reads it from cache (2.5x faster than 80 MB blocks at
    N = 5,000 and 10 columns), and at least 256 variants, which the products with 100 or more
    columns need (at N = 20,000 and 100 columns 64 variants are 1.4x slower than 256)."""
    return int(np.clip(1_280_000 // max(n, 1), 256, 1024))


def encode_calls(calls: np.ndarray, *, bits: int = 8
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``encode_block`` of int8 hard calls (negative where missing): the same codes and
    coefficients from genotype counts and one uint8 multiplication, without a floating-point
    copy (missing calls filled with ``copyto(where=)``: five times faster than a table lookup
    with boolean-mask assignment); ``bits=2``: the packed codes of ``pack_calls``; ``bits=0``:
    the coefficients only (codes of shape (0, 0): a memory map of the .bed holds them)."""
    g = np.asarray(calls)
    miss = g < 0
    n1 = np.count_nonzero(g == 1, axis=0)
    n2 = np.count_nonzero(g == 2, axis=0)
    n_miss = np.count_nonzero(miss, axis=0)
    n_ok = g.shape[0] - n_miss
    safe_n = np.maximum(n_ok, 1)
    mean = np.where(n_ok > 0, (n1 + 2.0 * n2) / safe_n, 0.0)
    if bits in (0, 2):
        codes = pack_calls(g) if bits else np.empty((0, 0), np.uint8)
        return (codes,) + _coefficients(n_ok=n_ok, mean=mean, mean_sq=(n1 + 4.0 * n2) / safe_n)
    codes = np.multiply(g.view(np.uint8), np.uint8(CODE_SCALE), dtype=np.uint8)
    if n_miss.any():
        fill = np.clip(np.rint(mean * CODE_SCALE), 0, 255).astype(np.uint8)
        np.copyto(codes, np.broadcast_to(fill, codes.shape), where=miss)
    return (codes,) + _coefficients(n_ok=n_ok, mean=mean, mean_sq=(n1 + 4.0 * n2) / safe_n)


@dataclass
class Step1Genotypes:
    """Model variants of one group, contiguous by chromosome.

    Attributes:
        codes: ``bits=8``: uint8, shape (N, M1), Fortran order; ``bits=2``: the packed codes
            (``pack_calls``), uint8, shape (rows, ceil(N / 4)), in memory or a read-only
            memory map of a PLINK .bed's variant records.
        a, b: float32 affine standardisation, shape (M1,).
        ss: per-variant sum of squares of the standardised column, shape (M1,).
        chromosome: int codes, shape (M1,), non-decreasing runs (one run per chromosome).
        block: variants standardised at once (memory ``4 N block`` bytes; ``default_block``).
        bits: 8 or 2 (module docstring).
        n_individuals: N (``bits=2``: the packed rows do not say it).
        rows: ``bits=2``: the row of ``codes`` of each model variant, shape (M1,) (None: row
            ``j`` holds variant ``j``; a .bed map: the variants' indices in the file).
    """

    codes: np.ndarray
    a: np.ndarray
    b: np.ndarray
    ss: np.ndarray
    chromosome: np.ndarray
    block: int = 256
    bits: int = 8
    n_individuals: int | None = None
    rows: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.bits not in (2, 8):
            raise ValueError(f"bits: 2 or 8, not {self.bits}")
        if self.bits == 2:
            if self.n_individuals is None:
                raise ValueError("2-bit codes need n_individuals")
            self.tables = value_tables(self.a, self.b)

    @classmethod
    def from_blocks(cls, blocks, *, n: int, m: int, block: int | None = None, bits: int = 8
                    ) -> "Step1Genotypes":
        """Build from an iterable of ``(dosages (N, B), chromosomes (B,))`` in chromosome runs
        (``bits=2``: the dosages are hard-called, ``encode_block``).

        ``m`` is an upper bound on the number of variants (the codes are truncated to those
        given, without a copy).
        """
        codes = (np.empty((n, m), dtype=np.uint8, order="F") if bits == 8 else
                 np.empty((m, -(-n // 4)), dtype=np.uint8))
        a = np.empty(m, np.float32)
        b = np.empty(m, np.float32)
        ss = np.empty(m)
        chrom = np.empty(m, np.int64)
        k = 0
        for d, c in blocks:
            w = d.shape[1]
            out = encode_block(d, bits=bits)
            if bits == 8:
                codes[:, k:k + w] = out[0]
            else:
                codes[k:k + w] = out[0]
            a[k:k + w], b[k:k + w], ss[k:k + w] = out[1:]
            chrom[k:k + w] = c
            k += w
        assert k <= m, (k, m)
        codes = codes[:, :k] if bits == 8 else codes[:k]
        a, b, ss, chrom = a[:k], b[:k], ss[:k], chrom[:k]
        if block is None:
            block = default_block(n)
        return cls(codes=codes, a=a, b=b, ss=ss, chromosome=chrom, block=block, bits=bits,
                   n_individuals=n)

    @property
    def n(self) -> int:
        return self.codes.shape[0] if self.bits == 8 else int(self.n_individuals or 0)

    @property
    def m(self) -> int:
        return len(self.a)

    @property
    def nbytes(self) -> int:
        """Bytes of codes held in memory (0 for a memory map of a file)."""
        return 0 if isinstance(self.codes, np.memmap) else int(self.codes.nbytes)

    def _packed(self, start: int, stop: int) -> np.ndarray:
        """The 2-bit codes of variants ``start:stop`` (B, ceil(N / 4))."""
        if self.rows is None:
            return self.codes[start:stop]
        r = self.rows[start:stop]
        if len(r) and r[-1] - r[0] == len(r) - 1:
            return self.codes[int(r[0]):int(r[-1]) + 1]
        return self.codes[r]

    def calls(self, columns: np.ndarray) -> np.ndarray:
        """int8 hard calls (-127 where missing) of the variants ``columns`` of hard-call codes
        (``encode_calls``), shape (N, B), column-major; 8 bits: exact except for a missing
        call whose fill code is a call's (``blocks.Step1Pass`` keeps those columns aside)."""
        cols = np.asarray(columns, dtype=np.int64)
        contiguous = len(cols) and cols[-1] - cols[0] == len(cols) - 1
        if self.bits == 2:
            if self.rows is not None or not contiguous:
                rows = cols if self.rows is None else self.rows[cols]
                return unpack_calls(self.codes[rows], self.n)
            return unpack_calls(self.codes[cols[0]:cols[-1] + 1] if len(cols) else
                                self.codes[:0], self.n)
        block = self.codes[:, cols[0]:cols[-1] + 1] if contiguous else self.codes[:, cols]
        return CALL_OF_CODE[block]

    def chromosomes(self) -> list[int]:
        return [int(c) for c in dict.fromkeys(self.chromosome.tolist())]

    def scale(self, leave_out: int) -> float:
        """``s_c = N / sum_{j not on c} ss_j`` (``leave_out`` 0: all variants)."""
        tot = float(self.ss.sum()) - (float(self.ss[self.chromosome == leave_out].sum())
                                      if leave_out else 0.0)
        if tot <= 0:
            raise ValueError("no polymorphic model variant left")
        return self.n / tot

    def standardised(self, start: int, stop: int) -> np.ndarray:
        """Standardised columns ``start:stop``, float32, shape (N, stop - start), column-major
        (8 bits: ``float32(code) * a + b``, the code converted in the multiplication, one pass;
        2 bits: ``decode``)."""
        if self.bits == 2:
            return decode(self._packed(start, stop), self.tables[start:stop], self.n)
        z = np.empty((self.n, stop - start), dtype=np.float32, order="F")
        np.multiply(self.codes[:, start:stop], self.a[start:stop], out=z, dtype=np.float32)
        z += self.b[start:stop]
        return z

    def _ranges(self):
        c = self.chromosome
        bounds = np.r_[0, np.flatnonzero(np.diff(c)) + 1, len(c)]
        for s, e in zip(bounds[:-1], bounds[1:]):
            for a in range(int(s), int(e), self.block):
                yield int(c[s]), a, min(a + self.block, int(e))

    def tasks(self) -> list[list[tuple[int, int, int]]]:
        """The blocks ``(chromosome, start, stop)`` grouped into the tasks of one pass:
        ``task_blocks`` consecutive blocks of one chromosome each. The grouping depends on the
        data only (never on the number of threads), so sums over tasks in task order are the
        same bits for any number of threads."""
        ranges = list(self._ranges())
        g = task_blocks(len(ranges))
        out: list[list[tuple[int, int, int]]] = []
        for r in ranges:
            if out and len(out[-1]) < g and out[-1][-1][0] == r[0]:
                out[-1].append(r)
            else:
                out.append([r])
        return out

    def kinship_times(self, R: np.ndarray, *, loco: np.ndarray,
                      workers: Workers | None = None) -> np.ndarray:
        """``K_{-loco[i]} R[:, i]`` for every column at once.

        Args:
            R: shape (N, k).
            loco: chromosome left out per column, shape (k,) (0: none).
            workers: the threads the tasks (``tasks``) run on (None: this thread).
        Returns:
            float64, shape (N, k).

        Each task sums ``Z_b (Z_b' R)`` over its blocks into its own float32 array (in place
        by the BLAS, ``beta = 1``, with the GIL released: ``gwas.blas``); the tasks' sums are
        added in task order, so the result is the same bits for any number of threads.
        """
        loco = np.asarray(loco)
        R32 = np.asarray(R, dtype=np.float32)
        drop = {c: loco == c for c in self.chromosomes()}

        def task(blocks: list[tuple[int, int, int]]) -> np.ndarray:
            out = np.empty(R.shape, dtype=np.float32, order="F")
            for i, (c, a, e) in enumerate(blocks):
                z = self.standardised(a, e)
                h = z.T @ R32                               # (B, k)
                h[:, drop[c]] = 0.0
                if i:
                    sgemm_acc(out, z, h)                    # out += z h, GIL released
                else:
                    np.matmul(z, h, out=out)
            return out

        total = _ordered_sum(task, self.tasks(), workers)
        scales = {int(c): self.scale(int(c)) for c in np.unique(loco)}
        out64 = total.astype(np.float64)
        del total
        out64 *= np.array([scales[int(c)] for c in loco])[None, :]
        return out64

    def chromosome_times(self, R: np.ndarray, *, workers: Workers | None = None) -> np.ndarray:
        """``Z_c Z_c' R`` for every chromosome ``c`` (in ``chromosomes()`` order) in one pass,
        float64, shape (C, N, k): each chromosome's unscaled share of ``K R`` (tasks summed in
        task order within each chromosome, as ``kinship_times``)."""
        R32 = np.asarray(R, dtype=np.float32)
        index = {c: i for i, c in enumerate(self.chromosomes())}
        out = np.zeros((len(index),) + R.shape)

        def task(blocks: list[tuple[int, int, int]]) -> tuple[int, np.ndarray]:
            acc = np.zeros(R.shape)
            for _, a, e in blocks:
                z = self.standardised(a, e)
                acc += z @ (z.T @ R32)
            return index[blocks[0][0]], acc

        def add(r: tuple[int, np.ndarray]) -> None:
            out[r[0]] += r[1]

        (workers or Workers(1)).reduce(task, self.tasks(), add)
        return out

    def cross(self, R: np.ndarray, *, workers: Workers | None = None) -> np.ndarray:
        """``Z' R`` for all model variants, float64, shape (M1, k) (each block's rows written by
        its task: no sum across tasks)."""
        R32 = np.asarray(R, dtype=np.float32)
        out = np.empty((self.m, R.shape[1]))

        def task(blocks: list[tuple[int, int, int]]) -> None:
            for _, a, e in blocks:
                out[a:e] = self.standardised(a, e).T @ R32

        for _ in (workers or Workers(1)).map(task, self.tasks()):
            pass
        return out


def task_blocks(n_blocks: int) -> int:
    """Blocks per task of a pass over ``n_blocks`` blocks: one while there are fewer than 256
    blocks (enough tasks to share among many threads), growing to 8 for large model sets (each
    task's sum costs one add of an N x k array in the thread that adds them up: larger tasks
    keep that add a small share of the work, under 1% at 8 blocks)."""
    return int(np.clip(n_blocks // 128, 1, 8))


def _ordered_sum(task, tasks: list, workers: Workers | None) -> np.ndarray:
    """The sum of ``task(t)`` over ``tasks``, added in task order (the first result is the
    accumulator)."""
    total: list[np.ndarray] = []

    def add(part: np.ndarray) -> None:
        if total:
            total[0] += part
        else:
            total.append(part)

    (workers or Workers(1)).reduce(task, tasks, add)
    return total[0]
