"""2-bit genotype codes: the PLINK .bed layout, packed from int8 hard calls and decoded per
block into standardised float32 values through per-variant lookup tables.

Layout (Chang et al. 2015, GigaScience 4:7; the .bed variant-major records): 4 genotypes a
byte, low bits first, ``00`` two copies of the effect allele A1, ``01`` missing, ``10`` one,
``11`` none; a variant of N individuals takes ``ceil(N / 4)`` bytes, the last byte's unused
pairs ``00``. ``codes.Step1Genotypes`` holds step 1's model variants this way (``bits=2``):
packed in memory from the calls, or as a memory map of the .bed itself.

Decoding (``decode``): each variant's four standardised values (``value_tables``) are expanded
into a (256, 4) float32 table of every byte value (4 KiB, in cache), and one ``np.take`` per
variant gathers 16 bytes per input byte (``mode="wrap"``: uint8 indices need no bounds
check): as fast as converting 8-bit codes, which read four times the memory.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CODE_SCALE", "pack_calls", "unpack_calls", "value_tables", "byte_tables", "decode",
           "hard_calls"]

#: the 8-bit code of a call x is CODE_SCALE * x (``codes``); the 2-bit tables use the same
#: float32 arithmetic, so a call's standardised value is the same bits in both
CODE_SCALE = 127.0

#: 2-bit .bed code of each int8 call (as a byte): 2 -> 00, 1 -> 10, 0 -> 11, missing -> 01
_BED_OF_CALL = np.full(256, 1, np.uint8)
_BED_OF_CALL[[0, 1, 2]] = [3, 2, 0]
#: the four 2-bit codes of every byte, low bits first, shape (256, 4)
_EXPAND = (np.arange(256)[:, None] >> (2 * np.arange(4))[None, :] & 3).astype(np.intp)
#: the four int8 calls (-127 missing) of every byte, as one uint32 per byte (little-endian)
_CALLS_OF_BYTE = np.ascontiguousarray(np.array([2, -127, 1, 0], np.int8)[_EXPAND]
                                      ).view("<u4").reshape(256)
#: ``decode``: one ``np.take`` per variant from this many bytes a variant (N >= 8192) on, else
#: per group of variants with this many bytes of indices
_GATHER_LOOP = 2048
_GATHER_INDEX = 1 << 18
#: the 8-bit code of each 2-bit code's call (the missing code's value comes from the mean)
_CODE8_OF_BED = np.array([2 * CODE_SCALE, 0.0, CODE_SCALE, 0.0], np.float32)

def hard_calls(dosages: np.ndarray) -> np.ndarray:
    """int8 hard calls of dosages (N, B): the nearest integer in 0..2, -127 where NaN,
    column-major."""
    d = np.asarray(dosages)
    calls = np.full(d.shape, -127, np.int8, order="F")
    ok = ~np.isnan(d)
    np.copyto(calls, np.clip(np.rint(np.where(ok, d, 0)), 0, 2).astype(np.int8), where=ok)
    return calls


def pack_calls(calls: np.ndarray) -> np.ndarray:
    """2-bit codes (PLINK .bed layout, module docstring) of int8 calls (N, B) (negative where
    missing), variant-major: uint8, shape (B, ceil(N / 4)), the last byte's unused pairs 00."""
    g = np.asarray(calls)
    n, b = g.shape
    nb = -(-n // 4)
    codes = np.zeros((b, 4 * nb), np.uint8)
    # indexing, not np.take: take copies a uint8 index to intp first (8 bytes a genotype)
    codes[:, :n] = _BED_OF_CALL[g.T.view(np.uint8)]
    w = codes.view("<u4")                                  # bytes c0 c1 c2 c3 of each word
    w |= w >> 6
    w |= w >> 12                                           # c0 | c1 << 2 | c2 << 4 | c3 << 6
    return np.ascontiguousarray(w.view(np.uint8)[:, ::4])


def unpack_calls(codes: np.ndarray, n: int) -> np.ndarray:
    """int8 calls (-127 where missing) of 2-bit codes (B, ceil(n / 4)), shape (n, B),
    column-major (as ``io.plink.PlinkSource.read_calls`` gives them)."""
    b, nb = codes.shape
    out = _CALLS_OF_BYTE[np.asarray(codes)].view(np.int8)        # (B, 4 nb)
    return (out[:, :n] if 4 * nb == n else np.ascontiguousarray(out[:, :n])).T


def value_tables(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The standardised value of each 2-bit code per variant, float32, shape (M, 4): the 8-bit
    path's ``float32(127 x) * a + b`` for the calls (the same bits), 0.0 for a missing call
    (exact mean imputation)."""
    t = np.multiply(_CODE8_OF_BED[None, :], np.asarray(a, np.float32)[:, None],
                    dtype=np.float32)
    t += np.asarray(b, np.float32)[:, None]
    t[:, 1] = 0.0
    return t


def byte_tables(tables: np.ndarray) -> np.ndarray:
    """The four values of every byte per variant, float32, shape (B, 256, 4), from the
    variants' ``value_tables`` (B, 4): ``out[j, byte, k] = tables[j, (byte >> 2k) & 3]``, as
    four broadcast copies (a byte's pairs are the axes of a (4, 4, 4, 4) grid; 2 to 7 times
    faster than indexing with the (256, 4) expansion)."""
    t = np.asarray(tables, np.float32)
    out = np.empty((len(t), 4, 4, 4, 4, 4), np.float32)           # [j, c3, c2, c1, c0, k]
    out[..., 0] = t[:, None, None, None, :]
    out[..., 1] = t[:, None, None, :, None]
    out[..., 2] = t[:, None, :, None, None]
    out[..., 3] = t[:, :, None, None, None]
    return out.reshape(len(t), 256, 4)


def decode(codes: np.ndarray, tables: np.ndarray, n: int) -> np.ndarray:
    """Standardised genotypes of a block of 2-bit codes (B, ceil(n / 4)) with their
    ``value_tables`` (B, 4): float32, shape (n, B), column-major.

    Each variant's (256, 4) table of the four values of every byte (``byte_tables``, 4 KiB,
    in cache) is read by ``np.take`` of 16-byte items (``mode="wrap"``: no bounds check of
    uint8 indices): one call per variant from ``_GATHER_LOOP`` bytes a variant on (a uint8
    index, no copy), below that one call per group of variants with ``intp`` indices offset
    into the stacked tables (the per-call overhead shared)."""
    codes = np.asarray(codes)                        # a memory map's rows as a plain array
    b = codes.shape[0]
    full = n // 4
    per_byte = byte_tables(tables)                                  # (B, 256, 4)
    out = np.empty((b, n), np.float32)
    whole = out[:, :4 * full].view(np.complex128)                   # (B, full), 4 values each
    if full >= _GATHER_LOOP:
        items = per_byte.view(np.complex128).reshape(b, 256)
        for j in range(b):
            np.take(items[j], codes[j, :full], out=whole[j], mode="wrap")
    else:
        flat = per_byte.view(np.complex128).reshape(b * 256)
        step = int(np.clip(_GATHER_INDEX // max(8 * full, 1), 1, max(b, 1)))
        for j in range(0, b, step):
            idx = codes[j:j + step, :full].astype(np.intp)
            idx += (256 * np.arange(j, min(j + step, b), dtype=np.intp))[:, None]
            np.take(flat, idx, out=whole[j:j + step], mode="wrap")
    if n > 4 * full:
        out[:, 4 * full:] = per_byte[np.arange(b), codes[:, full], :n - 4 * full]
    return out.T
