"""PLINK 2 filesets ``PREFIX.pgen/.pvar/.psam``, read with pgenlib (the PLINK 2 authors' reader).

Effect allele: ALT (pgenlib's allele 1, as PLINK 2 counts it; ``plink2 --bfile X --make-pgen``
makes the .bed's A1 the ALT allele, so a converted fileset reads exactly as its .bed does).
Where the .pgen holds dosages they are read (multiples of 1/16384, as PLINK 2 stores them);
a file of hard calls only (``hard_calls``) also offers ``read_calls``, the 8-bit path of
``PlinkSource``.

The text files are read as PLINK 2 reads them (through ``contig_gwas.io.text``: plain, gzip or
zstd, any line ending):

- ``.psam``: a header line ``#FID IID ...`` or ``#IID ...`` (``#`` lines before it are
  comments; an FID-less file has FID ``0``, which PLINK 2 writes when it converts one back to a
  ``.fam``), or no header: a ``.fam`` (six or more columns, FID IID first).
- ``.pvar`` (or ``.pvar.zst``, from ``--make-pgen vzs``): ``##`` meta lines, then a header
  ``#CHROM POS ID REF ALT`` with columns in any order and any others (QUAL FILTER INFO CM)
  ignored; or no header: a ``.bim`` (CHROM ID CM POS ALT REF, or five columns without CM).
  Multi-allelic variants (an ALT list with a comma) are refused, as ``BgenSource`` refuses
  non-biallelic variants.
"""

from __future__ import annotations

import io
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from ..chrom import normalise_chromosomes
from ..errors import InputError
from .source import GenotypeBlock, iter_blocks
from .tables import split_fields
from .text import read_lines, read_text

#: pgenlib's code for a missing call or dosage
_MISSING = -9
#: variants per header block (``kPglVblockSize``) in the variable-width .pgen layout
_VBLOCK = 1 << 16


class PgenSource:
    """PLINK 2 fileset ``PREFIX.pgen/.pvar/.psam`` read with pgenlib.

    Attributes:
        path: the prefix.
        samples: ``FID``, ``IID`` in .psam order.
        variants: ``chromosome`` (int code), ``position``, ``variant_id``, ``effect_allele``
            (ALT), ``other_allele`` (REF), in .pvar order.
        hard_calls: True when the .pgen holds no dosage: ``read_calls`` then gives the data
            exactly, in a quarter of the memory of ``read``.
    """

    has_info = False

    def __init__(self, prefix: str | os.PathLike) -> None:
        prefix = str(prefix).removesuffix(".pgen")
        self.path = prefix
        pgen, psam = Path(prefix + ".pgen"), Path(prefix + ".psam")
        pvar = Path(prefix + ".pvar")
        if not pvar.exists() and Path(prefix + ".pvar.zst").exists():
            pvar = Path(prefix + ".pvar.zst")
        for p in (pgen, pvar, psam):
            if not p.exists():
                raise InputError(f"{p}: PLINK 2 {p.suffix} file not found (from --pfile {prefix})")
        self.samples = read_psam(psam)
        self.variants = read_pvar(pvar)
        n, m = len(self.samples), len(self.variants)
        if n == 0:
            raise InputError(f"{psam}: no samples")
        header = _read_header(pgen, n_samples=n, n_variants=m, psam=psam, pvar=pvar)
        self.hard_calls = not header.dosage
        self._pgen = pgen
        # a reader keeps its sample subset and buffers, so each thread has its own (pgenlib
        # releases the GIL: threads read in parallel); this one checks the file now
        self._local = threading.local()
        self._local.reader = self._open_reader()

    def read(self, *, samples: np.ndarray | None = None,
             variants: np.ndarray | slice | None = None) -> GenotypeBlock:
        """ALT dosages, float32, shape (N, B), column-major, NaN where missing."""
        x = self._read(samples, variants, np.float32)
        start = variants.start if isinstance(variants, slice) and variants.start else 0
        return GenotypeBlock(start=start, dosages=x)

    def read_calls(self, *, samples: np.ndarray | None = None,
                   variants: np.ndarray | slice | None = None) -> np.ndarray:
        """Hard calls as int8 (ALT counts 0/1/2, -127 where missing), shape (N, B),
        column-major, as ``PlinkSource.read_calls``. Only for files without dosages
        (``hard_calls``): elsewhere the hard calls would drop the dosages."""
        if not self.hard_calls:
            raise ValueError(f"{self._pgen}: holds dosages; read them with read()")
        return self._read(samples, variants, np.int8)

    def iter_blocks(self, *, samples: np.ndarray | None = None, variants: np.ndarray | None = None,
                    block_size: int = 1000) -> Iterator[GenotypeBlock]:
        return iter_blocks(self, samples=samples, variants=variants, block_size=block_size)

    def _open_reader(self):
        import pgenlib

        n, m = len(self.samples), len(self.variants)
        try:
            return pgenlib.PgenReader(os.fsencode(self._pgen), raw_sample_ct=n, variant_ct=m)
        except RuntimeError as exc:
            raise InputError(f"{self._pgen}: cannot read .pgen file ({_message(exc)})") from None

    def _reader(self):
        """This thread's reader (opened on its first read)."""
        r = getattr(self._local, "reader", None)
        if r is None:
            r = self._local.reader = self._open_reader()
        return r

    def _read(self, samples, variants, dtype) -> np.ndarray:
        """Read into a variant-major (B, K) buffer over the sorted distinct samples (pgenlib
        reads an increasing subset), then reorder: the transpose is the (N, B) column-major
        result."""
        n = len(self.samples)
        rows, order = _sample_subset(samples, n)
        first, stop, vidx = _variant_rows(variants, len(self.variants))
        b = stop - first if vidx is None else len(vidx)
        k = n if rows is None else len(rows)
        buf = np.empty((b, k), dtype=dtype)
        if b and k:
            dosage = dtype == np.float32
            r = self._reader()
            try:
                r.change_sample_subset(rows)  # None: every sample
                if vidx is None:
                    (r.read_dosages_range if dosage else r.read_range)(first, stop, buf)
                else:
                    (r.read_dosages_list if dosage else r.read_list)(vidx, buf)
            except RuntimeError as exc:
                raise InputError(f"{self._pgen}: cannot decode genotypes ({_message(exc)}); "
                                 f"the file is corrupt or truncated") from None
            buf[buf == _MISSING] = np.nan if dosage else -127
        if order is not None:
            buf = np.take(buf, order, axis=1)
        return buf.T


def _sample_subset(samples, n: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(sorted distinct uint32 rows to read or None for all, column order of the result over
    them or None when it is theirs)."""
    if samples is None:
        return None, None
    s = np.asarray(samples, dtype=np.int64).reshape(-1)
    if len(s) and (s.min() < -n or s.max() >= n):
        raise IndexError(f"sample index out of range for {n} samples")
    s = np.where(s < 0, s + n, s)
    rows, inverse = np.unique(s, return_inverse=True)
    order = None if len(rows) == len(s) and np.array_equal(rows, s) else inverse
    if len(rows) == n:
        return None, order
    return rows.astype(np.uint32), order


def _variant_rows(variants, m: int) -> tuple[int, int, np.ndarray | None]:
    """(start, stop, None) for a contiguous range, else (0, 0, uint32 indices)."""
    if variants is None:
        return 0, m, None
    if isinstance(variants, slice):
        start, stop, step = variants.indices(m)
        if step == 1:
            return start, max(start, stop), None
        variants = np.arange(start, stop, step)
    v = np.asarray(variants)
    if v.dtype == bool:
        v = np.flatnonzero(v)
    v = v.astype(np.int64).reshape(-1)
    if len(v) and (v.min() < -m or v.max() >= m):
        raise IndexError(f"variant index out of range for {m} variants")
    return 0, 0, np.where(v < 0, v + m, v).astype(np.uint32)


def _message(exc: RuntimeError) -> str:
    """pgenlib's error text (it raises some as bytes with a trailing newline)."""
    arg = exc.args[0] if exc.args else exc
    text = arg.decode(errors="replace") if isinstance(arg, bytes) else str(arg)
    return text.strip().rstrip(".")


# --- .pgen header --------------------------------------------------------------------------


@dataclass
class PgenHeader:
    """What the reader needs from a .pgen header.

    Attributes:
        mode: the storage mode byte (0x01 PLINK 1 .bed, 0x02 fixed-width hard calls, 0x03/0x04
            fixed-width dosages, 0x10/0x11 variable-width records).
        dosage: some variant record holds dosages.
    """

    mode: int
    dosage: bool


def _read_header(path: Path, *, n_samples: int, n_variants: int, psam: Path,
                 pvar: Path) -> PgenHeader:
    """Parse the header (layout: the PGEN specification in pgenlib_misc.h of plink-ng); check
    the counts against the .psam/.pvar and the size against the records it lists.

    Dosages are seen in the record types: 4-bit types (header control bit 2 unset) cannot
    carry them; 8-bit types do where bits 5-6 are set. pgenlib computes the same flag
    (``kfPgenGlobalDosagePresent``) but does not expose it.
    """
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 3 or head[:2] != b"\x6c\x1b":
            raise InputError(f"{path}: not a .pgen file (bad magic bytes)")
        mode = head[2]
        quarter = (n_samples + 3) // 4
        if mode == 0x01:
            expected = 3 + n_variants * quarter
            if size != expected:
                raise InputError(f"{path}: size {size} bytes but {n_samples} samples x "
                                 f"{n_variants} variants need {expected}: the file is "
                                 f"truncated or does not match its {pvar.name}/{psam.name}")
            return PgenHeader(mode=mode, dosage=False)
        if mode not in (0x02, 0x03, 0x04, 0x10, 0x11):
            raise InputError(f"{path}: unsupported .pgen storage mode 0x{mode:02x}")
        if len(head) < 12:
            raise InputError(f"{path}: truncated .pgen header ({size} bytes)")
        m, n = (int(x) for x in np.frombuffer(head[3:11], dtype="<u4"))
        if n != n_samples:
            raise InputError(f"{path}: {n} samples in the .pgen but {n_samples} in {psam}")
        if m != n_variants:
            raise InputError(f"{path}: {m} variants in the .pgen but {n_variants} in {pvar}")
        ctrl = head[11]
        if mode in (0x03, 0x04):
            return PgenHeader(mode=mode, dosage=True)
        if mode == 0x02:
            expected = 12 + (m + 7) // 8 * ((ctrl >> 6) == 3) + m * quarter
            dosage = False
        elif ctrl & 8:  # fused type-length codes of single-sample files; 12-15 carry dosages
            return PgenHeader(mode=mode, dosage=(ctrl & 15) >= 12)
        else:
            expected, dosage = _scan_vblocks(fh, ctrl, m, path)
    if size < expected:
        raise InputError(f"{path}: size {size} bytes but its header lists records up to byte "
                         f"{expected}: the file is truncated")
    return PgenHeader(mode=mode, dosage=dosage)


def _scan_vblocks(fh, ctrl: int, m: int, path: Path) -> tuple[int, bool]:
    """(end of the last record, any dosage) from the variable-width header: 8-byte offsets of
    each 65,536-variant block, then per block its record types (4 or 8 bits each), record
    lengths, ALT counts and non-REF flags (the last two optional)."""
    len_bytes = (ctrl & 3) + 1
    wide_types = bool(ctrl & 4)
    count_bytes = (ctrl >> 4) & 3
    nonref_explicit = (ctrl >> 6) == 3
    n_blocks = -(-m // _VBLOCK)
    raw = fh.read(8 * n_blocks)
    if len(raw) < 8 * n_blocks:
        raise InputError(f"{path}: truncated .pgen header")
    offsets = np.frombuffer(raw, dtype="<u8")
    dosage, end = False, 12 + 8 * n_blocks
    for b in range(n_blocks):
        bs = min(_VBLOCK, m - b * _VBLOCK)
        n_type = bs if wide_types else (bs + 1) // 2
        part = fh.read(n_type + bs * len_bytes)
        if len(part) < n_type + bs * len_bytes:
            raise InputError(f"{path}: truncated .pgen header")
        if wide_types and not dosage:
            dosage = bool(np.any(np.frombuffer(part[:n_type], dtype=np.uint8) & 0x60))
        if b == n_blocks - 1:
            lengths = np.frombuffer(part[n_type:], dtype=np.uint8).reshape(bs, len_bytes)
            lengths = lengths.astype(np.uint64) @ (np.uint64(256) ** np.arange(len_bytes,
                                                                            dtype=np.uint64))
            end = int(offsets[b]) + int(lengths.sum())
        fh.seek(bs * count_bytes + ((bs + 7) // 8 if nonref_explicit else 0), os.SEEK_CUR)
    return end, dosage


# --- .psam / .pvar -------------------------------------------------------------------------


def read_psam(path: str | os.PathLike) -> pd.DataFrame:
    """``FID``, ``IID`` of a .psam (or a .fam: no header); FID ``0`` where it has none."""
    path = Path(path)
    lines = read_lines(path, what=".psam file")
    start, names = 0, None
    while start < len(lines) and lines[start].startswith("#"):
        first = lines[start].split()
        start += 1
        if first[0] in ("#FID", "#IID"):
            names = [first[0][1:]] + first[1:]
            break
    body = lines[start:]
    if not body:
        raise InputError(f"{path}: no samples")
    if names is None:  # .fam layout
        fid_col: int | None
        width, need, fid_col, iid_col = 6, 6, 0, 1
        what = "a .psam without a #FID/#IID header is read as a .fam (FID IID PAT MAT SEX PHENO)"
    else:
        if "IID" not in names:
            raise InputError(f"{path}: no IID column in the header {' '.join(names)}")
        width = need = len(names)
        fid_col = names.index("FID") if "FID" in names else None
        iid_col = names.index("IID")
        what = f"the header names {width} columns"
    rows = split_fields(body, width=width)
    for i, r in enumerate(rows):
        if len(r) < need:
            raise InputError(f"{path}: sample line {i + 1} has {len(r)} fields but {what}")
    iid = np.array([r[iid_col] for r in rows], dtype=object).astype(str)
    fid = (np.full(len(rows), "0", dtype=object) if fid_col is None
           else np.array([r[fid_col] for r in rows], dtype=object)).astype(str)
    return pd.DataFrame({"FID": fid, "IID": iid})


#: .pvar columns read, and their positions in a header-less (.bim) file of 6 or 5 columns
_PVAR = ("CHROM", "POS", "ID", "REF", "ALT")
_BIM = {6: (0, 3, 1, 5, 4), 5: (0, 2, 1, 4, 3)}


def read_pvar(path: str | os.PathLike) -> pd.DataFrame:
    """The variant table of a .pvar (or a .bim: no header); ALT is the effect allele."""
    path = Path(path)
    text = read_text(path, what=".pvar file")
    pos, header = 0, None
    while text.startswith("#", pos):
        eol = text.find("\n", pos)
        line = text[pos:] if eol < 0 else text[pos:eol]
        pos = len(text) if eol < 0 else eol + 1
        if line.startswith("#CHROM"):
            header = line[1:].split()
            break
    body = text[pos:]
    if header is not None:
        missing = [c for c in _PVAR if c not in header]
        if missing:
            raise InputError(f"{path}: the header has no {', '.join(missing)} column")
        cols = tuple(header.index(c) for c in _PVAR)
    try:
        df = pd.read_csv(io.StringIO(body), sep=r"\s+", header=None, dtype=str, engine="c",
                         na_filter=False, usecols=None if header is None else sorted(cols))
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: no variants") from None
    except pd.errors.ParserError as exc:
        raise InputError(f"{path}: cannot parse ({exc})") from None
    if header is None:
        if df.shape[1] not in _BIM:
            raise InputError(f"{path}: no #CHROM header line, and {df.shape[1]} columns where a "
                             f".bim has 6 (CHROM ID CM POS ALT REF) or 5 (without CM)")
        cols = _BIM[df.shape[1]]
    short = (df[list(cols)] == "").any(axis=1).to_numpy()
    if short.any():
        raise InputError(f"{path}: variant line {int(np.flatnonzero(short)[0]) + 1} has fewer "
                         f"fields than the {'header' if header else '.bim layout'} names "
                         f"({int(short.sum())} such lines)")
    chrom, bp, vid, ref, alt = (df[c].to_numpy() for c in cols)
    try:
        position = bp.astype(np.int64)
    except ValueError:
        raise InputError(f"{path}: the POS column (base-pair position) is not an integer") \
            from None
    multi = pd.Series(alt).str.contains(",", regex=False).to_numpy()
    if multi.any():
        i = int(np.flatnonzero(multi)[0])
        raise InputError(f"{path}: {int(multi.sum())} multi-allelic variants (ALT with a comma, "
                         f"first {vid[i]} {ref[i]}>{alt[i]}); drop or split them first "
                         f"(plink2 --max-alleles 2, or bcftools norm -m-)")
    return pd.DataFrame({
        "chromosome": normalise_chromosomes(chrom, source=str(path)),
        "position": position,
        "variant_id": vid.astype(str),
        "effect_allele": alt.astype(str),
        "other_allele": ref.astype(str),
    })
