"""Writers for the simulated genotypes: PLINK 1 (bed-reader) and BGEN 1.2 (the ``bgen`` package).

Both writers take blocks of hard-called dosages of the effect allele (individuals x variants,
NaN for a missing call) in the cohort's sample order, and write identical dosages:

- PLINK ``.bed/.bim/.fam`` with A1 (fifth .bim column) = effect allele, samples in cohort order;
- BGEN 1.2, layout 2, zlib, 8-bit probabilities, alleles ``[other, effect]`` so the dosage of
  the second allele is the effect-allele dosage; missing calls are stored as missing (read back
  as NaN probabilities); samples in a different (permuted) order, also listed in the ``.sample``
  file (ID_1 = FID, ID_2 = IID). No ``.bgi`` index is kept (the ``bgen`` writer stamps it with
  the time, which would break byte-identical output; ``bgenix -index`` makes one).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pandas as pd

from ..io.genotypes import write_sample_file


class PlinkWriter:
    """Stream variants into ``PREFIX.bed/.bim/.fam`` (variant-major) with bed-reader."""

    def __init__(self, prefix: Path, *, fid: np.ndarray, iid: np.ndarray,
                 variants: pd.DataFrame) -> None:
        from bed_reader import create_bed

        props = {
            "fid": list(fid), "iid": list(iid),
            "father": ["0"] * len(iid), "mother": ["0"] * len(iid),
            "sex": [0] * len(iid), "pheno": ["-9"] * len(iid),
            "chromosome": [str(int(c)) for c in variants["chromosome"]],
            "sid": list(variants["variant_id"]),
            "cm_position": [0.0] * len(variants),
            "bp_position": [int(p) for p in variants["position"]],
            "allele_1": list(variants["effect_allele"]),
            "allele_2": list(variants["other_allele"]),
        }
        self._cm = create_bed(Path(str(prefix) + ".bed"), len(iid), len(variants),
                              properties=props, count_A1=True)
        self._writer = self._cm.__enter__()

    def write(self, dosages: np.ndarray) -> None:
        """dosages: float32, shape (N, B), NaN missing, in cohort sample order."""
        for row in np.ascontiguousarray(dosages.T):
            self._writer.write(row)

    def close(self) -> None:
        self._cm.__exit__(None, None, None)


class BgenFileWriter:
    """Stream variants into a BGEN 1.2 file with samples in ``order`` (cohort indices)."""

    def __init__(self, path: Path, *, fid: np.ndarray, iid: np.ndarray, order: np.ndarray,
                 variants: pd.DataFrame) -> None:
        from bgen import BgenWriter

        self.path = Path(path)
        self.order = np.asarray(order)
        self.variants = variants
        write_sample_file(self.path.with_suffix(".sample"), fid=fid[self.order],
                          iid=iid[self.order])
        self._writer = BgenWriter(str(self.path), len(iid), samples=list(iid[self.order]),
                                  compression="zlib", layout=2)
        self._ids = [str(v) for v in variants["variant_id"]]
        self._chrom = [str(int(c)) for c in variants["chromosome"]]
        self._pos = [int(p) for p in variants["position"]]
        self._alleles = [[str(a), str(b)] for a, b in zip(variants["other_allele"],
                                                          variants["effect_allele"])]
        self._next = 0

    def write(self, dosages: np.ndarray) -> None:
        """dosages: float32, shape (N, B), NaN missing, in cohort sample order."""
        d = np.ascontiguousarray(dosages[self.order].T)  # (B, N)
        levels = np.arange(3, dtype=np.float32)
        for col in d:
            probs = np.equal.outer(col, levels).astype(np.float64)  # (N, 3)
            probs[np.isnan(col)] = np.nan
            k = self._next
            self._writer.add_variant(varid=self._ids[k], rsid=self._ids[k], chrom=self._chrom[k],
                                     pos=self._pos[k], alleles=self._alleles[k],
                                     genotypes=probs, bit_depth=8)
            self._next += 1

    def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(FileNotFoundError):
            Path(str(self.path) + ".bgi").unlink()
