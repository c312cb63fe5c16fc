"""BGEN 1.2 files (+ optional Oxford ``.sample``), read with bgen-reader; dosages and INFO.

Effect allele: the second allele of each variant (dosage = P(het) + 2 P(hom second), as PLINK2
and REGENIE count BGEN ALT alleles).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

from ..chrom import normalise_chromosomes
from ..errors import InputError
from .source import GenotypeBlock, iter_blocks


class BgenSource:
    """BGEN 1.2 file (+ optional ``.sample``) read with bgen-reader; dosages and INFO."""

    has_info = True

    def __init__(self, path: str | os.PathLike, *, sample: str | os.PathLike | None = None) -> None:
        from bgen_reader import open_bgen

        path = Path(path)
        self.path = str(path)
        if not path.exists():
            raise InputError(f"{path}: BGEN file not found")
        if sample is None and path.with_suffix(".sample").exists():
            sample = path.with_suffix(".sample")
        metadata = _bgen_metadata_path(path)
        if not metadata.exists():
            _index_bgen_isolated(path, metadata)
        try:
            self._bgen = open_bgen(path, samples_filepath=sample, metadata_filepath=metadata,
                                   allow_complex=False, verbose=False)
            nalleles = np.asarray(self._bgen.nalleles)
        except InputError:
            raise
        except Exception as exc:  # the reader's errors are not user-facing
            raise InputError(f"{path}: cannot read BGEN file ({type(exc).__name__}: {exc})") from None
        if np.any(nalleles != 2):
            raise InputError(f"{path}: {int(np.sum(nalleles != 2))} variants are not biallelic")
        ids = np.asarray(self._bgen.samples).astype(str)
        if sample is not None:
            self.samples = _read_sample_file(Path(sample), expected=len(ids))
        else:
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
        except Exception as exc:
            raise InputError(f"{self.path}: cannot decode genotype probabilities "
                             f"({type(exc).__name__}: {exc}); the file may be corrupt") from None
        finally:
            threading.excepthook = previous
        if thread_errors:
            exc = thread_errors[0]
            raise InputError(f"{self.path}: cannot decode genotype probabilities "
                             f"({type(exc).__name__}: {exc}); the file may be corrupt")
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


def _bgen_metadata_path(path: Path) -> Path:
    beside = Path(str(path) + ".metadata2.mmm")
    if beside.exists() or os.access(path.parent, os.W_OK):
        return beside
    cache = Path(os.environ.get("BGEN_READER_CACHE_HOME", tempfile.gettempdir())) / "contig-gwas"
    cache.mkdir(parents=True, exist_ok=True)
    st = path.stat()
    return cache / f"{path.name}.{st.st_size}.{int(st.st_mtime)}.metadata2.mmm"


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
                         capture_output=True, text=True)
    if res.returncode != 0:
        for p in (metadata, Path(str(metadata) + ".temp")):
            p.unlink(missing_ok=True)
        lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
        detail = (f"the reader crashed with signal {-res.returncode}" if res.returncode < 0
                  else (lines[-1] if lines else f"exit status {res.returncode}"))
        raise InputError(f"{path}: cannot read BGEN file ({detail}); the file may be corrupt "
                         f"or truncated")


def _read_sample_file(path: Path, *, expected: int) -> pd.DataFrame:
    """Oxford .sample: header line, type line (0 0 0 ...), then ID_1 ID_2 ... per sample."""
    if not path.exists():
        raise InputError(f"{path}: .sample file not found")
    df = pd.read_csv(path, sep=r"\s+", dtype=str)
    if df.shape[1] < 2 or len(df) < 1:
        raise InputError(f"{path}: expected a header, a type line and ID_1 ID_2 columns")
    df = df.iloc[1:]  # type line
    if len(df) != expected:
        raise InputError(f"{path}: {len(df)} samples but the BGEN file has {expected}")
    return pd.DataFrame({"FID": df.iloc[:, 0].to_numpy(), "IID": df.iloc[:, 1].to_numpy()})


def write_sample_file(path: str | os.PathLike, *, fid: Sequence[str], iid: Sequence[str]) -> None:
    """Write an Oxford .sample file with ID_1 = FID and ID_2 = IID."""
    lines = ["ID_1 ID_2 missing", "0 0 0"] + [f"{f} {i} 0" for f, i in zip(fid, iid)]
    Path(path).write_text("\n".join(lines) + "\n")
