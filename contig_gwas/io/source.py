"""The genotype-source interface every reader implements, and the block iteration they share.

A source exposes its samples (``FID``, ``IID``), its variants (``chromosome`` as an int code,
``position``, ``variant_id``, ``effect_allele``, ``other_allele``) and streams dosages of the
effect allele as float32 blocks (individuals x variants, NaN for a missing call). Memory is
bounded by the block size: the whole matrix is never read unless asked for. Readers of hard
calls (PLINK .bed, PGEN) also offer ``read_calls``: int8 counts, -127 where missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from ..errors import InputError

VARIANT_COLUMNS = ["chromosome", "position", "variant_id", "effect_allele", "other_allele"]


@dataclass
class GenotypeBlock:
    """One block of dosages.

    Attributes:
        start: index of the first variant of the block in ``source.variants``.
        dosages: float32, shape (N, B), effect-allele dosage in [0, 2], NaN where missing.
        info: float64, shape (B,), imputation INFO (BGEN only; None for hard calls).
    """

    start: int
    dosages: np.ndarray
    info: np.ndarray | None = None

    @property
    def stop(self) -> int:
        return self.start + self.dosages.shape[1]


class GenotypeSource(Protocol):
    """What every reader provides. ``hard_calls``: the file holds hard calls only (PLINK .bed,
    a PGEN without dosages); such a source also has ``read_calls`` (int8 counts, -127 where
    missing), the 8-bit path of the scalable engine."""

    path: str
    samples: pd.DataFrame
    variants: pd.DataFrame
    has_info: bool
    hard_calls: bool

    def read(self, *, samples: np.ndarray | None = None,
             variants: np.ndarray | slice | None = None) -> GenotypeBlock: ...

    def iter_blocks(self, *, samples: np.ndarray | None = None, variants: np.ndarray | None = None,
                    block_size: int = 1000) -> Iterator[GenotypeBlock]: ...


@runtime_checkable
class CallReader(Protocol):
    """The extra method of a source of hard calls (``hard_calls`` True: PLINK .bed, a PGEN
    without dosages): int8 effect-allele counts, -127 where missing."""

    def read_calls(self, *, samples: np.ndarray | None = None,
                   variants: np.ndarray | slice | None = None) -> np.ndarray: ...


def variant_selection(idx: np.ndarray) -> np.ndarray | slice:
    """``idx`` as a slice when it is a contiguous ascending range (both readers read slices
    fastest), else unchanged."""
    if len(idx) and idx[-1] - idx[0] == len(idx) - 1 and np.all(np.diff(idx) == 1):
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return idx


def iter_blocks(source: "GenotypeSource", *, samples, variants, block_size: int):
    if block_size < 1:
        raise InputError(f"block size must be positive, got {block_size}")
    if variants is None:
        variants = np.arange(len(source.variants))
    variants = np.asarray(variants, dtype=np.int64)
    for a in range(0, len(variants), block_size):
        idx = variants[a:a + block_size]
        block = source.read(samples=samples, variants=variant_selection(idx))
        block.start = int(idx[0]) if len(idx) else 0
        yield block




class VariantSubset:
    """A source restricted to some of its variants (``--extract``/``--exclude``), in file order.

    Everything downstream sees only the kept variants, as after PLINK 2's ``--extract``: they
    are tested, and (without ``--grm-bfile``) they make the kinship or step-1 model.
    """

    def __init__(self, source: GenotypeSource, keep: np.ndarray) -> None:
        self._source = source
        self._keep = np.asarray(keep, dtype=np.int64)
        self.path = source.path
        self.samples = source.samples
        self.variants = source.variants.iloc[self._keep].reset_index(drop=True)
        self.has_info = source.has_info
        self.hard_calls = source.hard_calls

    def _map(self, variants: np.ndarray | slice | None) -> np.ndarray | slice:
        idx = self._keep if variants is None else self._keep[variants]
        return variant_selection(idx)

    def read(self, *, samples: np.ndarray | None = None,
             variants: np.ndarray | slice | None = None) -> GenotypeBlock:
        block = self._source.read(samples=samples, variants=self._map(variants))
        block.start = variants.start if isinstance(variants, slice) and variants.start else 0
        return block

    def read_calls(self, *, samples: np.ndarray | None = None,
                   variants: np.ndarray | slice | None = None) -> np.ndarray:
        source = self._source
        assert isinstance(source, CallReader), "read_calls of a source without hard calls"
        return source.read_calls(samples=samples, variants=self._map(variants))

    def iter_blocks(self, *, samples: np.ndarray | None = None, variants: np.ndarray | None = None,
                    block_size: int = 1000) -> Iterator[GenotypeBlock]:
        return iter_blocks(self, samples=samples, variants=variants, block_size=block_size)
