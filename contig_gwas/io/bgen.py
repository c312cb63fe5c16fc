"""BGEN 1.2/1.3 files (+ optional Oxford ``.sample``), read with bgen-reader; dosages and INFO.

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
    Layout 2 with zlib (BGEN 1.2) or zstd (BGEN 1.3, ``plink2 --export bgen-1.3``) compression,
    any bit depth. An index beside the file (``.bgi`` from bgenix) is ignored. Layout 1
    (BGEN 1.1) and uncompressed layout 2, which PLINK 2 also reads, are refused with an
    InputError that says how to convert them: bgen-reader cannot decode them.
"""

from __future__ import annotations

import os
import struct
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..chrom import normalise_chromosomes
from ..errors import InputError
from .source import GenotypeBlock, iter_blocks
from .text import read_lines

_CONVERT = "convert it with plink2 --bgen FILE ref-first --export bgen-1.2 (or bgen-1.3)"


class BgenSource:
    """BGEN 1.2/1.3 file (+ optional ``.sample``) read with bgen-reader; dosages and INFO.

    See the module docstring for the conventions (effect allele, IDs, haploid calls).
    """

    has_info = True
    hard_calls = False

    def __init__(self, path: str | os.PathLike, *, sample: str | os.PathLike | None = None) -> None:
        from bgen_reader import open_bgen

        path = Path(path)
        self.path = str(path)
        header = _read_header(path)
        if sample is None and path.with_suffix(".sample").exists():
            sample = path.with_suffix(".sample")
        if sample is None and not header.has_sample_ids:
            raise InputError(f"{path}: the BGEN file stores no sample IDs and no .sample file "
                             f"was given (none lies beside it as {path.with_suffix('.sample')})")
        # bgen-reader builds its index in a temporary working directory: absolute paths only
        absolute = path.resolve()
        metadata = _bgen_metadata_path(absolute)
        if not metadata.exists() or metadata.stat().st_mtime < absolute.stat().st_mtime:
            _index_bgen_isolated(absolute, metadata)
        try:
            self._bgen = open_bgen(absolute, metadata_filepath=metadata, allow_complex=False,
                                   verbose=False)
            nalleles = np.asarray(self._bgen.nalleles)
        except Exception as exc:  # noqa: BLE001 - the reader's errors are not user-facing
            raise InputError(f"{path}: cannot read BGEN file ({type(exc).__name__}: "
                             f"{exc})") from None
        if np.any(nalleles != 2):
            bad = np.flatnonzero(nalleles != 2)
            raise InputError(f"{path}: {len(bad)} variants are not biallelic (first: variant "
                             f"{bad[0] + 1} has {nalleles[bad[0]]} alleles); only biallelic "
                             f"variants are read")
        if sample is not None:
            self.samples = _read_sample_file(Path(sample), expected=header.n_samples,
                                             bgen=path)
        else:
            ids = np.asarray(self._bgen.samples).astype(str)
            self.samples = pd.DataFrame({"FID": ids, "IID": ids})
        alleles = pd.Series(np.asarray(self._bgen.allele_ids)).str.split(",", expand=True)
        rsid = pd.Series(np.asarray(self._bgen.rsids).astype(str))
        vid = pd.Series(np.asarray(self._bgen.ids).astype(str))
        self.variants = pd.DataFrame({
            "chromosome": normalise_chromosomes(self._bgen.chromosomes, source=str(path)),
            "position": np.asarray(self._bgen.positions, dtype=np.int64),
            "variant_id": rsid.where(rsid != "", vid).to_numpy(),
            "effect_allele": alleles[1].to_numpy(),
            "other_allele": alleles[0].to_numpy(),
        })

    def read(self, *, samples: np.ndarray | None = None,
             variants: np.ndarray | slice | None = None) -> GenotypeBlock:
        rows = slice(None) if samples is None else np.asarray(samples, dtype=np.intp)
        cols = slice(None) if variants is None else variants
        import threading

        # bgen-reader decodes in worker threads whose exceptions are only printed (and the
        # block comes back with wrong values): catch them through the thread excepthook
        thread_errors: list[BaseException] = []
        previous = threading.excepthook
        threading.excepthook = lambda args: thread_errors.append(args.exc_value)
        try:
            p = self._bgen.read(index=np.s_[rows, cols], dtype=np.float32, num_threads=1)
        except Exception as exc:  # noqa: BLE001 - a corrupt file is the user's input
            raise InputError(f"{self.path}: cannot decode genotype probabilities "
                             f"({type(exc).__name__}: {exc}); the file may be corrupt") from None
        finally:
            threading.excepthook = previous
        if thread_errors:
            exc = thread_errors[0]
            raise InputError(f"{self.path}: cannot decode genotype probabilities "
                             f"({type(exc).__name__}: {exc}); the file may be corrupt")
        p = _haploid_as_homozygous(p)
        dos = p[..., 1] + 2.0 * p[..., 2]
        start = variants.start if isinstance(variants, slice) and variants.start else 0
        return GenotypeBlock(start=start, dosages=np.asarray(dos, dtype=np.float32),
                             info=info_score(p))

    def iter_blocks(self, *, samples: np.ndarray | None = None, variants: np.ndarray | None = None,
                    block_size: int = 1000) -> Iterator[GenotypeBlock]:
        return iter_blocks(self, samples=samples, variants=variants, block_size=block_size)


def info_score(probs: np.ndarray) -> np.ndarray:
    """IMPUTE-style INFO from genotype probabilities, shape (N, M, 3) -> (M,).

    INFO = 1 - sum_i (E[g_i^2] - E[g_i]^2) / (2 N theta (1 - theta)), theta = mean dosage / 2,
    over non-missing individuals; 1 for monomorphic variants (as IMPUTE2 reports).
    """
    p = np.asarray(probs, dtype=np.float64)
    e = p[..., 1] + 2 * p[..., 2]
    f = p[..., 1] + 4 * p[..., 2]
    ok = ~np.isnan(e)
    n = ok.sum(axis=0)
    theta = np.where(n > 0, np.nansum(e, axis=0) / np.maximum(2 * n, 1), 0.0)
    denom = 2 * n * theta * (1 - theta)
    var_sum = np.nansum(f - e ** 2, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        info = np.where(denom > 1e-12, 1 - var_sum / denom, 1.0)
    return info


def _haploid_as_homozygous(p: np.ndarray) -> np.ndarray:
    """Probabilities (N, M, 3) with ploidy-1 calls ([P(first), P(second), NaN] from
    bgen-reader) recoded as diploid homozygotes [P(first), 0, P(second)]."""
    hap = np.isnan(p[..., 2]) & ~np.isnan(p[..., 1])
    if not hap.any():
        return p
    p = p.copy()
    p[..., 2] = np.where(hap, p[..., 1], p[..., 2])
    p[..., 1] = np.where(hap, 0.0, p[..., 1])
    return p


@dataclass
class _Header:
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
    if layout == 1:
        raise InputError(f"{path}: BGEN layout 1 (v1.1) is not supported by the BGEN reader "
                         f"(bgen-reader); {_CONVERT}")
    if layout != 2 or compression > 2:
        raise InputError(f"{path}: unknown BGEN layout {layout} / compression {compression} "
                         f"(flags 0x{flags:08x})")
    if compression == 0:
        raise InputError(f"{path}: uncompressed BGEN genotype blocks are not supported by the "
                         f"BGEN reader (bgen-reader); {_CONVERT}")
    if has_ids and len(tail) == 12:
        n_block = struct.unpack_from("<I", tail, 8)[0]
        if n_block != n:
            raise InputError(f"{path}: the sample ID block lists {n_block} samples but the "
                             f"header says {n}; the file is corrupt")
    return _Header(n_variants=m, n_samples=n, compression=compression, layout=layout,
                   has_sample_ids=has_ids)


def _bgen_metadata_path(path: Path) -> Path:
    """bgen-reader's index: beside the file where it is fresh or can be written, else in a
    cache keyed on the file's name, size and modification time."""
    beside = Path(str(path) + ".metadata2.mmm")
    fresh = beside.exists() and beside.stat().st_mtime >= path.stat().st_mtime
    if fresh or os.access(path.parent, os.W_OK):
        return beside
    cache = Path(os.environ.get("BGEN_READER_CACHE_HOME", tempfile.gettempdir())) / "contig-gwas"
    cache.mkdir(parents=True, exist_ok=True)
    st = path.stat()
    return (cache / f"{path.name}.{st.st_size}.{int(st.st_mtime)}.metadata2.mmm").resolve()


def _index_bgen_isolated(path: Path, metadata: Path) -> None:
    """Build bgen-reader's index in a child process.

    bgen-reader's native code can crash (segmentation fault) on a corrupt or truncated file
    while indexing it; in a child process that becomes an InputError instead of killing the
    caller. A failed attempt leaves no index behind.
    """
    import subprocess
    import sys

    code = ("import sys; from bgen_reader import open_bgen; "
            "b = open_bgen(sys.argv[1], metadata_filepath=sys.argv[2], allow_complex=False, "
            "verbose=False); b.nalleles")
    res = subprocess.run([sys.executable, "-c", code, str(path), str(metadata)],
                         check=False, capture_output=True, text=True)
    if res.returncode != 0:
        for p in (metadata, Path(str(metadata) + ".temp")):
            p.unlink(missing_ok=True)
        lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
        detail = (f"the reader crashed with signal {-res.returncode}" if res.returncode < 0
                  else (lines[-1] if lines else f"exit status {res.returncode}"))
        raise InputError(f"{path}: cannot read BGEN file ({detail}); the file may be corrupt "
                         f"or truncated")


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
