"""BGEN files (+ optional Oxford ``.sample``), decoded straight to dosages and INFO.

Conventions, as PLINK 2 reads BGEN (``plink2 --bgen FILE ref-first [--sample FILE]``):

Alleles
    The effect allele is the second allele of each variant: dosage = P(het) + 2 P(hom second),
    PLINK 2's ALT under ``ref-first`` (REGENIE counts the same allele). ``effect_allele`` always
    names the allele whose dosage is read. Which allele a writer puts second is its choice:
    ``plink2 --export bgen-1.2`` writes the .bim A2 (REF) second by default, so the dosage is
    of A2, while with ``ref-first`` it writes A1 (ALT) second.
Haploid calls
    A ploidy-1 call (PLINK 2 writes males on chrX so) is counted on the diploid scale as PLINK 2
    and PLINK 1 .bed do: dosage = 2 P(second allele), and for INFO the call is a homozygote.
Phased calls
    Layout 2 phased data stores P(first allele) per haplotype: the dosage is the sum over the
    haplotypes of P(second allele), and for INFO the haplotypes are independent.
Sample IDs
    A ``.sample`` given as ``sample=`` or lying beside the file (``X.bgen`` -> ``X.sample``)
    wins over IDs stored in the file, as ``--sample`` does in PLINK 2; its sample count must
    equal the file's. Without a ``.sample`` the file must store IDs (PLINK 2 also refuses).
    Accepted ``.sample`` forms: the original Oxford one (header ``ID_1 ID_2 missing ...``,
    type line ``0 0 0 ...``: FID = ID_1, IID = ID_2; an ID_1 of ``0`` is no FID, as in PLINK 2,
    and gives FID = IID) and the single-ID QCTOOL v2 one written by PLINK 2's ``sample-v2``
    (header ``ID ...``, type line ``0 ...``: FID = IID = ID); plain, gzip or zstd, any line
    ending, tabs or spaces (``io.text.read_lines``). IDs stored in the file are taken
    whole as IID, with FID = IID: ``plink2 --export bgen-1.2`` stores ``FID_IID`` pasted with
    ``_`` when FIDs are set, and PLINK 2 reading such a file without ``--id-delim`` also takes
    the whole ID as IID. Individuals are matched on IID everywhere, so keep the ``.sample``
    beside the file (or give IID-only tables with pasted IDs) for such files.
Variants
    Chromosome codes are normalised (``01``, ``chr1`` -> 1; ``X``, ``chrX``, ``23`` -> 23). The
    variant ID is the rsid field (PLINK 2's ID), or the SNP ID field where the rsid is empty
    (PLINK 2 refuses those). Only biallelic variants are read.
Layouts
    Layout 2 (BGEN 1.2/1.3) uncompressed, zlib or zstd, any bit depth 1-32, ploidy 1 or 2
    (higher ploidy is refused, as PLINK 2 refuses it), phased or not, with the missing flag
    of the ploidy byte read as a missing call. Layout 1 (BGEN 1.1), uncompressed or zlib:
    three 16-bit probabilities per call, a call whose probabilities are all zero is missing
    and the dosage is P(het) + 2 P(hom second) over their sum, as PLINK 2 reads it.
    An index beside the file (``.bgi`` from bgenix) is ignored, as PLINK 2 ignores it.

Reading: the variant headers are parsed once at open (a linear scan that seeks past each
genotype block by its stored length); nothing is written beside the file. A block of variants
is read with positional reads (``os.pread``, so several threads may read at once), each
variant is decompressed (``isal``, else ``zlib``; zstd through pyarrow) and decoded in numpy
from the stored integers: for unphased diploid calls at 8 bits, stored per sample as integers
a = 255 P(hom first) and b = 255 P(het), dosage = (510 - 2a - b) / 255 through a 65,536-entry
table indexed by the two bytes; INFO comes from the same integers in the same pass. No
N x M x 3 probability array is built.
"""

from __future__ import annotations

import mmap
import os
import struct
import threading
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from ..chrom import normalise_chromosomes
from ..errors import InputError
from .source import GenotypeBlock, iter_blocks
from .text import read_lines

try:
    from isal.isal_zlib import decompress as _zlib_decompress
except ImportError:  # pragma: no cover - isal is a dependency; stdlib fallback
    from zlib import decompress as _zlib_decompress

#: decompressed bytes decoded per vectorised step of ``BgenSource.read``
_CHUNK_BYTES = 1 << 20
#: a compressed span read with one ``pread`` may be this much larger than the blocks in it
_SPAN_SLACK = 1 << 20
_U16, _U32 = struct.Struct("<H").unpack_from, struct.Struct("<I").unpack_from
_U32_U16 = struct.Struct("<IH").unpack_from
_U32_U32 = struct.Struct("<II").unpack_from


class BgenSource:
    """BGEN file (+ optional ``.sample``): dosages of the second allele and INFO.

    See the module docstring for the conventions (effect allele, IDs, haploid and phased
    calls, layouts). Safe to ``read`` from several threads at once.

    Attributes:
        path: the BGEN file.
        samples: ``FID``, ``IID`` in file order.
        variants: ``chromosome`` (int code), ``position``, ``variant_id``, ``effect_allele``
            (second allele), ``other_allele`` (first allele), in file order.
    """

    has_info = True
    hard_calls = False

    def __init__(self, path: str | os.PathLike, *, sample: str | os.PathLike | None = None) -> None:
        path = Path(path)
        self.path = str(path)
        header = _read_header(path)
        if sample is None and path.with_suffix(".sample").exists():
            sample = path.with_suffix(".sample")
        if sample is None and not header.has_sample_ids:
            raise InputError(f"{path}: the BGEN file stores no sample IDs and no .sample file "
                             f"was given (none lies beside it as {path.with_suffix('.sample')})")
        fd = os.open(path, os.O_RDONLY)
        weakref.finalize(self, os.close, fd)
        self._fd = fd
        self._lock = None if hasattr(os, "pread") else threading.Lock()
        self._layout, self._compression = header.layout, header.compression
        self._n = header.n_samples
        with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as mm:
            index = _scan_variants(mm, header, path)
            stored_ids = _stored_sample_ids(mm, header, path) if sample is None else None
        self._start, self._clen, self._ulen = index.start, index.clen, index.ulen
        bad = np.flatnonzero(index.n_alleles != 2)
        if len(bad):
            raise InputError(f"{path}: {len(bad)} variants are not biallelic (first: variant "
                             f"{bad[0] + 1} has {index.n_alleles[bad[0]]} alleles); only "
                             f"biallelic variants are read")
        if sample is not None:
            self.samples = _read_sample_file(Path(sample), expected=header.n_samples, bgen=path)
        else:
            self.samples = pd.DataFrame({"FID": stored_ids, "IID": stored_ids})
        rsid, vid = pd.Series(index.rsid, dtype=object), pd.Series(index.snpid, dtype=object)
        self.variants = pd.DataFrame({
            "chromosome": normalise_chromosomes(index.chrom, source=str(path)),
            "position": index.position,
            "variant_id": rsid.where(rsid != "", vid).to_numpy(),
            "effect_allele": np.array(index.allele2, dtype=object),
            "other_allele": np.array(index.allele1, dtype=object),
        })

    def read(self, *, samples: np.ndarray | None = None,
             variants: np.ndarray | slice | None = None) -> GenotypeBlock:
        """Dosages (float32, (N, B), Fortran order, NaN = missing) and INFO (float64, (B,))
        of the selected variants, over the selected samples (rows of ``samples``)."""
        idx = self._variant_indices(variants)
        rows = None if samples is None else np.asarray(samples, dtype=np.intp).reshape(-1)
        if rows is not None and len(rows) and not (-self._n <= rows.min()
                                                    and rows.max() < self._n):
            raise IndexError(f"{self.path}: sample index out of range for {self._n} samples")
        n_out = self._n if rows is None else len(rows)
        out = np.empty((len(idx), n_out), dtype=np.float32)  # its transpose is (N, B) Fortran
        info = np.ones(len(idx))  # no sample: INFO 1, as for a monomorphic variant
        if len(idx) and n_out:
            step = max(1, _CHUNK_BYTES // max(1, int(self._ulen[idx].max())))
            scratch = _Scratch()
            for a in range(0, len(idx), step):
                part = idx[a:a + step]
                raws = self._inflate(part)
                self._decode(raws, part, rows, out[a:a + step], info[a:a + step], scratch)
        start = variants.start if isinstance(variants, slice) and variants.start else 0
        return GenotypeBlock(start=start, dosages=out.T, info=info)

    def iter_blocks(self, *, samples: np.ndarray | None = None, variants: np.ndarray | None = None,
                    block_size: int = 1000) -> Iterator[GenotypeBlock]:
        return iter_blocks(self, samples=samples, variants=variants, block_size=block_size)

    # -- reading -------------------------------------------------------------------------------

    def _variant_indices(self, variants) -> np.ndarray:
        m = len(self._start)
        if variants is None:
            return np.arange(m)
        if isinstance(variants, slice):
            return np.arange(*variants.indices(m))
        idx = np.asarray(variants)
        if idx.dtype == bool:
            return np.flatnonzero(idx)
        idx = idx.astype(np.int64).reshape(-1)
        if len(idx) and not (-m <= idx.min() and idx.max() < m):
            raise IndexError(f"{self.path}: variant index out of range for {m} variants")
        return np.where(idx < 0, idx + m, idx)

    def _pread(self, offset: int, size: int) -> bytes:
        if self._lock is None:
            data = os.pread(self._fd, size, offset)
        else:  # pragma: no cover - platforms without pread
            with self._lock:
                os.lseek(self._fd, offset, os.SEEK_SET)
                data = os.read(self._fd, size)
        if len(data) != size:
            raise InputError(f"{self.path}: file shorter than when it was opened (wanted {size} "
                             f"bytes at {offset}); was it rewritten?")
        return data

    def _inflate(self, part: np.ndarray) -> list:
        """The decompressed genotype blocks of variants ``part`` (bytes-like, in order)."""
        starts, lens = self._start[part], self._clen[part]
        lo, hi = int(starts.min()), int((starts + lens).max())
        if hi - lo <= 2 * int(lens.sum()) + _SPAN_SLACK:
            mv = memoryview(self._pread(lo, hi - lo))
            views: list[bytes | memoryview] = [mv[s - lo:s - lo + n]
                                               for s, n in zip(starts.tolist(), lens.tolist())]
        else:
            views = [self._pread(s, n) for s, n in zip(starts.tolist(), lens.tolist())]
        ulens = self._ulen[part].tolist()
        try:
            if self._compression == 1:
                raws: list[bytes | memoryview] = [_zlib_decompress(v, bufsize=u)
                                                  for v, u in zip(views, ulens)]
            elif self._compression == 2:
                import pyarrow as pa

                codec = pa.Codec("zstd")
                raws = [codec.decompress(v, decompressed_size=u, asbytes=True)
                        for v, u in zip(views, ulens)]
            else:
                raws = views
        except Exception as exc:  # noqa: BLE001 - a corrupt block is the user's input
            raise InputError(f"{self.path}: cannot decompress the genotypes of a variant among "
                             f"{part[0] + 1}-{part[-1] + 1} ({type(exc).__name__}: {exc}); the "
                             f"file may be corrupt") from None
        for j, (r, u) in enumerate(zip(raws, ulens)):
            if len(r) != u:
                raise InputError(f"{self.path}: variant {part[j] + 1}: the genotype block holds "
                                 f"{len(r)} bytes but its header says {u}; the file is corrupt")
        return raws

    def _decode(self, raws: list, part: np.ndarray, rows: np.ndarray | None, out: np.ndarray,
                info: np.ndarray, scratch: _Scratch) -> None:
        """Dosages of the variants ``part`` into ``out`` (B, n_out) and INFO into ``info``."""
        n = self._n
        if self._layout == 1:
            _decode_layout1(raws, n, rows, out, info, self.path, part)
            return
        done = np.zeros(len(raws), dtype=bool)
        head = struct.pack("<IHBB", n, 2, 2, 2)  # n samples, 2 alleles, ploidy 2 to 2
        for bits, decode in ((8, _decode_diploid8), (16, _decode_diploid16)):
            size, tail = 10 + n + n * bits // 4, bytes([0, bits])  # unphased, `bits` bits
            fast = [j for j, r in enumerate(raws) if len(r) == size and r[:8] == head
                    and r[8 + n:10 + n] == tail]
            if not fast:
                continue
            arr = np.frombuffer(b"".join(raws[j] for j in fast), np.uint8).reshape(len(fast), size)
            if len(fast) == len(raws):
                decode(arr, n, rows, out, info, self.path, part, scratch)
            else:
                o, i = np.empty((len(fast), out.shape[1]), np.float32), np.empty(len(fast))
                decode(arr, n, rows, o, i, self.path, part[fast], scratch)
                out[fast], info[fast] = o, i
            done[fast] = True
        for j in np.flatnonzero(~done):
            out[j], info[j] = _decode_layout2_one(raws[j], n, rows, self.path, int(part[j]))


# -- decoders: (stored integers) -> dosage rows and INFO ---------------------------------------


#: The INFO terms of an 8-bit call, 255 E[g] <= 510 and 255^2 Var[g] <= 65025, are packed as
#: 2^40 (255 E[g]) + 255^2 Var[g] in one int64; sums over _PACK_RUN calls stay exact (below
#: 2^29 under bit 40, below 2^22 above it).
_PACK_SHIFT, _PACK_RUN = 40, 8192


@lru_cache(maxsize=None)
def _tables8() -> tuple[np.ndarray, np.ndarray]:
    """Per 16-bit pair ``a + 256 b`` of an unphased diploid 8-bit call (a = 255 P(hom first),
    b = 255 P(het)): the dosage (float32; -1 for an invalid pair, a + b > 255) and the packed
    INFO terms (int64; 0 for an invalid pair)."""
    v = np.arange(1 << 16, dtype=np.int64)
    a, b = v & 255, v >> 8
    c = 255 - a - b
    e = b + 2 * c  # 255 E[g]
    var = 255 * (b + 4 * c) - e * e  # 255^2 Var[g], an integer in 0..65025
    valid = c >= 0
    dos = np.where(valid, e / 255.0, -1.0).astype(np.float32)
    packed = np.where(valid, (e << _PACK_SHIFT) + var, 0)
    dos.flags.writeable = packed.flags.writeable = False
    return dos, packed


#: the pair a = 255, b = 0 (a certain first-allele homozygote): E[g] = Var[g] = 0
_ZERO_TERMS8 = 255


class _Scratch:
    """Work buffers reused across the chunks of one ``read`` (fresh pages cost more than the
    decoding itself)."""

    def __init__(self) -> None:
        self._bufs: dict[str, np.ndarray] = {}

    def get(self, key: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        size = int(np.prod(shape))
        buf = self._bufs.get(key)
        if buf is None or buf.size < size or buf.dtype != dtype:
            buf = self._bufs[key] = np.empty(size, dtype)
        return buf[:size].reshape(shape)


def _missing_calls(pb: np.ndarray) -> np.ndarray | None:
    """Missing calls of diploid ploidy bytes ``pb`` (2, or 0x82 where missing); None if none."""
    miss = pb != 2
    return miss if miss.any() else None


def _decode_diploid8(arr, n, rows, out, info, path, part, scratch) -> None:
    """Unphased diploid 8-bit blocks, one per row of ``arr`` (all of the same layout)."""
    dos_t, packed_t = _tables8()
    g = len(arr)
    pair = scratch.get("bytes", (g, 2 * n), np.uint8)
    np.copyto(pair, arr[:, 10 + n:])
    pair = pair.view("<u2")  # a + 256 b per call
    pb = arr[:, 8:8 + n]
    if rows is not None:
        pair = np.take(pair, rows, axis=1, out=scratch.get("pair", (g, len(rows)), np.uint16))
        pb = pb[:, rows]
    miss = _missing_calls(pb)
    if miss is not None:  # whatever is stored there: adds 0 to the INFO sums, then NaN
        np.putmask(pair, miss, _ZERO_TERMS8)
    at = scratch.get("index", pair.shape, np.intp)  # np.take would convert on every call
    np.copyto(at, pair)
    np.take(dos_t, at, out=out, mode="clip")  # every uint16 is an index: no check needed
    _check_valid(out.min(axis=1) < 0, path, part)
    if miss is not None:
        np.putmask(out, miss, np.nan)
    terms = np.take(packed_t, at, mode="clip", out=scratch.get("terms", pair.shape, np.int64))
    runs = np.add.reduceat(terms, np.arange(0, terms.shape[1], _PACK_RUN), axis=1)
    s_e = (runs >> _PACK_SHIFT).sum(axis=1)
    s_var = (runs & ((1 << _PACK_SHIFT) - 1)).sum(axis=1)
    n_ok = pair.shape[1] - (0 if miss is None else miss.sum(axis=1))
    info[:] = _info_from_sums(s_e / 255.0, s_var / 255.0 ** 2, n_ok)


def _decode_diploid16(arr, n, rows, out, info, path, part, scratch) -> None:
    """Unphased diploid 16-bit blocks, one per row of ``arr``."""
    d, g = 65535, len(arr)
    x = scratch.get("bytes", (g, 4 * n), np.uint8)
    np.copyto(x, arr[:, 10 + n:])
    x = x.view("<u2").reshape(g, n, 2)  # a = 65535 P(hom first), b = 65535 P(het)
    pb = arr[:, 8:8 + n]
    if rows is not None:
        x = np.take(x, rows, axis=1, out=scratch.get("pair", (g, len(rows), 2), np.uint16))
        pb = pb[:, rows]
    a, b = x[..., 0], x[..., 1]
    e = scratch.get("e", a.shape, np.int32)  # b + 2 c = 2d - 2a - b = 65535 E[g]
    np.multiply(a, -2, out=e, dtype=np.int32)
    e += 2 * d
    e -= b
    miss = _missing_calls(pb)
    if miss is not None:  # adds 0 to every INFO sum
        np.putmask(e, miss, 0)
        np.putmask(b, miss, 0)
    _check_valid((e < b).any(axis=1), path, part)  # c < 0
    np.divide(e, np.float32(d), out=out, dtype=np.float32)
    if miss is not None:
        np.putmask(out, miss, np.nan)
    s_e = e.sum(axis=1, dtype=np.int64)
    s_f = 2 * s_e - b.sum(axis=1, dtype=np.int64)  # sum of b + 4 c
    ef = scratch.get("e64", e.shape, np.float64)
    np.copyto(ef, e)
    var_num = d * s_f - np.einsum("ij,ij->i", ef, ef)  # exact: integers below 2^53
    n_ok = e.shape[1] - (0 if miss is None else miss.sum(axis=1))
    info[:] = _info_from_sums(s_e / d, var_num / float(d) ** 2, n_ok)


def _decode_layout1(raws, n, rows, out, info, path, part) -> None:
    """Layout 1: three 16-bit probabilities per call over 32768; all zero = missing; the
    dosage is normalised by their sum (PLINK 2's reading)."""
    for j, r in enumerate(raws):
        if len(r) != 6 * n:
            raise InputError(f"{path}: variant {part[j] + 1}: a layout-1 genotype block of "
                             f"{len(r)} bytes for {n} samples (expected {6 * n}); the file is "
                             f"corrupt")
    x = np.frombuffer(b"".join(raws), "<u2").reshape(len(raws), n, 3)
    if rows is not None:
        x = x[:, rows]
    p = x.astype(np.float64)
    total = p.sum(axis=2)
    ok = total > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        out[:] = (p[..., 1] + 2 * p[..., 2]) / total
        het, hom = p[..., 1] / total, p[..., 2] / total
    info[:] = _info_from_calls(het, hom, ok)


def _decode_layout2_one(raw, n, rows, path, j) -> tuple[np.ndarray, float]:
    """Any layout-2 block (bit depth 1-32, ploidy 0-2 per call, phased or not): one variant."""
    where = f"{path}: variant {j + 1}"
    if len(raw) < 10 + n:
        raise InputError(f"{where}: genotype block of {len(raw)} bytes is too short for {n} "
                         f"samples; the file is corrupt")
    n_stored, k, _, pmax = struct.unpack_from("<IHBB", raw, 0)
    if n_stored != n or k != 2:
        raise InputError(f"{where}: the genotype block is for {n_stored} samples and {k} "
                         f"alleles, the file header for {n} samples and the variant for 2 "
                         f"alleles; the file is corrupt")
    if pmax > 2:
        raise InputError(f"{where}: ploidy up to {pmax}; only ploidy 1 and 2 are read (PLINK "
                         f"2 also refuses higher ploidy)")
    pb = np.frombuffer(raw, np.uint8, n, 8)
    phased, bits = raw[8 + n], raw[9 + n]
    if phased > 1 or not 1 <= bits <= 32:
        raise InputError(f"{where}: phased flag {phased}, {bits} bits per probability; the "
                         f"file is corrupt")
    ploidy = (pb & 63).astype(np.int64)
    if ploidy.max(initial=0) > 2:
        raise InputError(f"{where}: a sample has ploidy {ploidy.max()}; only ploidy 1 and 2 "
                         f"are read")
    nvals = int(ploidy.sum())  # biallelic: one value per haplotype (phased) or per ploidy
    vals = _unpack(raw, 10 + n, nvals, bits, where).astype(np.float64)
    d = float(2 ** bits - 1)
    first_at = np.cumsum(ploidy) - ploidy
    x1 = vals[np.minimum(first_at, max(nvals - 1, 0))] if nvals else np.zeros(n)
    x2 = vals[np.minimum(first_at + 1, max(nvals - 1, 0))] if nvals else np.zeros(n)
    dip = ploidy == 2
    ok = ((pb & 128) == 0) & (ploidy > 0)
    if phased:  # P(first allele) per haplotype; h = P(second allele)
        h1, h2 = (d - x1) / d, np.where(dip, (d - x2) / d, 0.0)
        dos = np.where(dip, (2 * d - x1 - x2) / d, 2 * h1)
        het = np.where(dip, h1 * (1 - h2) + h2 * (1 - h1), 0.0)
        hom = np.where(dip, h1 * h2, h1)
    else:  # P(hom first), P(het) for diploid calls; P(first) for haploid calls
        if np.any(ok & dip & (x1 + x2 > d)):
            raise InputError(f"{where}: genotype probabilities sum to more than 1; the file "
                             f"is corrupt")
        dos = np.where(dip, (2 * d - 2 * x1 - x2) / d, 2 * (d - x1) / d)
        het = np.where(dip, x2 / d, 0.0)
        hom = np.where(dip, (d - x1 - x2) / d, (d - x1) / d)
    dos = np.where(ok, dos, np.nan)
    if rows is not None:
        dos, het, hom, ok = dos[rows], het[rows], hom[rows], ok[rows]
    return dos.astype(np.float32), float(_info_from_calls(het[None], hom[None], ok[None])[0])


def _unpack(raw, start: int, count: int, bits: int, where: str) -> np.ndarray:
    """``count`` unsigned ``bits``-bit integers packed little-endian from byte ``start``."""
    nbytes = (count * bits + 7) // 8
    if len(raw) - start < nbytes:
        raise InputError(f"{where}: the genotype block holds {len(raw) - start} bytes of "
                         f"probabilities, {nbytes} are needed; the file is corrupt")
    if bits in (8, 16, 32):
        return np.frombuffer(raw, f"<u{bits // 8}", count, start)
    by = np.frombuffer(raw, np.uint8, nbytes, start)
    b = np.unpackbits(by, bitorder="little")[:count * bits].reshape(count, bits)
    return b.astype(np.uint64) @ (np.uint64(1) << np.arange(bits, dtype=np.uint64))


def _check_valid(bad: np.ndarray, path: str, part: np.ndarray) -> None:
    if bad.any():
        raise InputError(f"{path}: variant {part[np.flatnonzero(bad)[0]] + 1}: genotype "
                         f"probabilities sum to more than 1; the file is corrupt")


# -- INFO --------------------------------------------------------------------------------------


def info_score(probs: np.ndarray) -> np.ndarray:
    """IMPUTE-style INFO from genotype probabilities, shape (N, M, 3) -> (M,).

    INFO = 1 - sum_i (E[g_i^2] - E[g_i]^2) / (2 N theta (1 - theta)), theta = mean dosage / 2,
    over non-missing individuals; 1 for monomorphic variants (as IMPUTE2 reports).
    """
    p = np.asarray(probs, dtype=np.float64)
    return _info_from_calls(p[..., 1].T, p[..., 2].T, ~np.isnan(p[..., 1] + p[..., 2]).T)


def _info_from_calls(het: np.ndarray, hom: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """INFO per row of P(het), P(hom second), shape (M, N), over the calls where ``ok``."""
    e = het + 2 * hom
    var = het + 4 * hom - e * e
    return _info_from_sums(np.where(ok, e, 0.0).sum(axis=1), np.where(ok, var, 0.0).sum(axis=1),
                           ok.sum(axis=1))


def _info_from_sums(s_e, var_sum, n) -> np.ndarray:
    """INFO from the sums over the n non-missing calls of E[g] and of Var[g] (see
    ``info_score``)."""
    s_e, var_sum, n = (np.asarray(x, dtype=np.float64) for x in (s_e, var_sum, n))
    theta = np.where(n > 0, s_e / np.maximum(2 * n, 1), 0.0)
    denom = 2 * n * theta * (1 - theta)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 1e-12, 1 - var_sum / denom, 1.0)


# -- header, variant index, sample IDs ---------------------------------------------------------


@dataclass
class _Header:
    offset: int  # the first variant starts at byte offset + 4
    header_length: int
    n_variants: int
    n_samples: int
    compression: int  # 0 none, 1 zlib, 2 zstd
    layout: int
    has_sample_ids: bool


def _read_header(path: Path) -> _Header:
    """Parse and check the BGEN header block (spec: https://www.well.ox.ac.uk/~gav/bgen_format/)."""
    if not path.exists():
        raise InputError(f"{path}: BGEN file not found")
    if path.is_dir():
        raise InputError(f"{path}: BGEN file is a directory")
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(24)
        if len(head) < 24:
            raise InputError(f"{path}: {size} bytes is too short for a BGEN header; the file "
                             f"is truncated or not BGEN")
        offset, lh, m, n = struct.unpack_from("<4I", head, 0)
        if head[16:20] not in (b"bgen", b"\0\0\0\0") or not 20 <= lh <= offset:
            raise InputError(f"{path}: not a BGEN file (no 'bgen' magic number or a bad header "
                             f"length)")
        fh.seek(lh)  # the flags are the header block's last 4 bytes
        tail = fh.read(12)  # flags, then the sample ID block's length and count
    if size < offset + 4 or len(tail) < 4 or (m > 0 and size == offset + 4):
        raise InputError(f"{path}: truncated: the header announces {m} variants x {n} samples "
                         f"from byte {offset + 4}, but the file has {size} bytes")
    flags = struct.unpack_from("<I", tail, 0)[0]
    compression, layout, has_ids = flags & 3, (flags >> 2) & 15, bool(flags >> 31)
    if layout not in (1, 2) or compression > 2 or (layout == 1 and compression == 2):
        raise InputError(f"{path}: unknown BGEN layout {layout} / compression {compression} "
                         f"(flags 0x{flags:08x})")
    if has_ids and len(tail) == 12:
        n_block = struct.unpack_from("<I", tail, 8)[0]
        if n_block != n:
            raise InputError(f"{path}: the sample ID block lists {n_block} samples but the "
                             f"header says {n}; the file is corrupt")
    return _Header(offset=offset, header_length=lh, n_variants=m, n_samples=n,
                   compression=compression, layout=layout, has_sample_ids=has_ids)


@dataclass
class _Index:
    snpid: list[str]
    rsid: list[str]
    chrom: list[str]
    position: np.ndarray
    n_alleles: np.ndarray
    allele1: list[str]
    allele2: list[str]
    start: np.ndarray  # file offset of each variant's (compressed) genotype data
    clen: np.ndarray  # its stored length
    ulen: np.ndarray  # its decompressed length


def _scan_variants(mm, h: _Header, path: Path) -> _Index:
    """Parse every variant header, seeking past the genotype blocks by their stored length."""
    m, n, layout1, compressed = h.n_variants, h.n_samples, h.layout == 1, h.compression > 0
    snpid: list[bytes] = []
    rsid: list[bytes] = []
    chrom: list[bytes] = []
    allele1: list[bytes] = []
    allele2: list[bytes] = []
    position, n_alleles, start, clen, ulen = [], [], [], [], []
    size, p, j = len(mm), h.offset + 4, 0
    try:
        for j in range(m):
            if layout1:
                (n_var,) = _U32(mm, p)
                if n_var != n:
                    raise InputError(f"{path}: variant {j + 1} is for {n_var} samples but the "
                                     f"header says {n}; the file is corrupt")
                p += 4
            (ln,) = _U16(mm, p)
            snpid.append(mm[p + 2:p + 2 + ln])
            p += 2 + ln
            (ln,) = _U16(mm, p)
            rsid.append(mm[p + 2:p + 2 + ln])
            p += 2 + ln
            (ln,) = _U16(mm, p)
            chrom.append(mm[p + 2:p + 2 + ln])
            p += 2 + ln
            if layout1:
                (pos,), k = _U32(mm, p), 2
                p += 4
            else:
                pos, k = _U32_U16(mm, p)
                p += 6
            position.append(pos)
            n_alleles.append(k)
            for i in range(k):
                (ln,) = _U32(mm, p)
                if i < 2:
                    (allele1 if i == 0 else allele2).append(mm[p + 4:p + 4 + ln])
                p += 4 + ln
            if k < 2:
                allele2.append(b"")
                if k < 1:
                    allele1.append(b"")
            if layout1 and not compressed:
                c, u = 6 * n, 6 * n
            elif layout1:
                (c,), u = _U32(mm, p), 6 * n
                p += 4
            elif compressed:
                c, u = _U32_U32(mm, p)
                c, p = c - 4, p + 8
                if c < 0:
                    raise struct.error
            else:
                (c,) = _U32(mm, p)
                u, p = c, p + 4
            start.append(p)
            clen.append(c)
            ulen.append(u)
            p += c
    except struct.error:
        p = size + 1
    if p > size:
        raise InputError(f"{path}: truncated or corrupt: variant {j + 1} of {m} runs past the "
                         f"end of the file ({size} bytes)")

    return _Index(snpid=_texts(snpid, what="SNP ID of variant", path=path),
                  rsid=_texts(rsid, what="rsid of variant", path=path),
                  chrom=_texts(chrom, what="chromosome of variant", path=path),
                  position=np.array(position, dtype=np.int64),
                  n_alleles=np.array(n_alleles, dtype=np.int64),
                  allele1=_texts(allele1, what="first allele of variant", path=path),
                  allele2=_texts(allele2, what="second allele of variant", path=path),
                  start=np.array(start, dtype=np.int64),
                  clen=np.array(clen, dtype=np.int64), ulen=np.array(ulen, dtype=np.int64))


def _texts(xs: list[bytes], *, what: str, path: Path) -> list[str]:
    """UTF-8 strings, decoded in one call where no item holds a newline; InputError naming
    the item for bytes that are not UTF-8 (as ``io.text`` refuses them in tables)."""
    try:
        parts = b"\n".join(xs).decode("utf-8").split("\n")
        return parts if len(parts) == len(xs) else [x.decode("utf-8") for x in xs]
    except UnicodeDecodeError:
        i = next(i for i, x in enumerate(xs) if not _is_utf8(x))
        raise InputError(f"{path}: the {what} {i + 1} is not UTF-8 text ({bytes(xs[i][:40])!r});"
                         f" the file may be corrupt") from None


def _is_utf8(x: bytes) -> bool:
    try:
        x.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _stored_sample_ids(mm, h: _Header, path: Path) -> np.ndarray:
    """The sample IDs stored in the file (its sample identifier block)."""
    p, ids = h.header_length + 4 + 8, []
    try:
        for _ in range(h.n_samples):
            (ln,) = _U16(mm, p)
            ids.append(mm[p + 2:p + 2 + ln])
            p += 2 + ln
    except struct.error:
        p = len(mm) + 1
    if p > h.offset + 4:
        raise InputError(f"{path}: the sample ID block runs past the first variant; the file "
                         f"is corrupt")
    return np.array(_texts(ids, what="stored ID of sample", path=path), dtype=object)


def _read_sample_file(path: Path, *, expected: int, bgen: Path | None = None) -> pd.DataFrame:
    """Oxford ``.sample``: header line, type line, then one line per sample.

    ``ID_1 ID_2 ...`` / ``0 0 ...``: FID = ID_1 (IID where ID_1 is ``0``), IID = ID_2.
    ``ID ...`` / ``0 ...`` (QCTOOL v2, PLINK 2 ``sample-v2``): FID = IID = ID. ``expected`` is
    the BGEN file's sample count.
    """
    lines = read_lines(path, what=".sample file")
    if len(lines) < 2:
        raise InputError(f"{path}: an Oxford .sample file needs a header line and a type line "
                         f"(found {len(lines)} lines)")
    header = lines[0].split()
    names = [h.upper() for h in header]
    if names[:2] == ["ID_1", "ID_2"]:
        n_id = 2
    elif names[:1] == ["ID"]:
        n_id = 1
    else:
        raise InputError(f"{path}: line 1 should be an Oxford .sample header starting "
                         f"'ID_1 ID_2' (or 'ID'), found {' '.join(header[:4])!r}")
    types = lines[1].split()
    if len(types) < len(header) or any(t != "0" for t in types[:n_id]):
        raise InputError(f"{path}: line 2 should be the type line ('0' under each ID column, "
                         f"{len(header)} fields), found {lines[1].strip()!r}")
    rows = [ln.split() for ln in lines[2:]]
    for i, r in enumerate(rows):
        if len(r) < len(header):  # PLINK 2 refuses fewer fields and ignores extra ones
            raise InputError(f"{path}: line {i + 3} has {len(r)} fields but the header has "
                             f"{len(header)}")
    if len(rows) != expected:
        where = f"the BGEN file {bgen}" if bgen is not None else "the BGEN file"
        raise InputError(f"{path}: {len(rows)} samples but {where} has {expected}")
    iid = [r[n_id - 1] for r in rows]
    # ID_1 = 0 is a missing FID (PLINK 2 then keeps IID only): FID = IID, as for one ID column
    fid = [r[0] if n_id == 2 and r[0] != "0" else r[n_id - 1] for r in rows]
    return pd.DataFrame({"FID": fid, "IID": iid})


def write_sample_file(path: str | os.PathLike, *, fid: Sequence[str], iid: Sequence[str]) -> None:
    """Write an Oxford .sample file with ID_1 = FID and ID_2 = IID."""
    lines = ["ID_1 ID_2 missing", "0 0 0"] + [f"{f} {i} 0" for f, i in zip(fid, iid)]
    Path(path).write_text("\n".join(lines) + "\n")
