"""Similarity matrices (kinship / GRM) for the heritability estimators, addressable by index
arrays over the caller's ``n`` individuals:

- ``DenseSimilarity``: a matrix in memory;
- ``GenotypeSimilarity``: the GWAS engine's standardised kinship of genotypes, built for each
  requested subset of individuals; it also gives the genotype blocks themselves
  (``from_genotypes``), from which Haseman-Elston regression needs no N x N matrix;
- ``GctaGrmSimilarity``: a GCTA binary GRM on disk, streamed in row blocks.

A similarity that is not square, finite, symmetric or is zero raises ``InputError``
(``check_similarity``).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import ClassVar

import numpy as np

from ..errors import InputError
from .grm_io import read_gcta_grm, read_gcta_grm_matrix
from .he import lower_rows_from_matrix

__all__ = ["Similarity", "DenseSimilarity", "GenotypeSimilarity", "GctaGrmSimilarity",
           "check_similarity"]


class Similarity(ABC):
    """A similarity over ``n`` individuals, addressable by index arrays.

    Attributes:
        n: individuals.
        source: what it was read or built from (for messages).
        from_genotypes: ``genotype_blocks`` gives the genotypes the similarity is built from:
            Haseman-Elston regression then runs from them, with no N x N matrix and a
            variant-block jackknife.
    """

    n: int
    source: str
    from_genotypes: ClassVar[bool] = False

    @abstractmethod
    def matrix(self, idx: np.ndarray) -> np.ndarray:
        """The similarity among the individuals ``idx``, shape (len(idx), len(idx))."""

    def lower_rows(self, idx: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """The lower triangle among ``idx`` in row blocks ``(first row, block)``
        (``he.lower_rows_from_matrix``), for Haseman-Elston regression."""
        return lower_rows_from_matrix(self.matrix(idx))

    def genotype_blocks(self, idx: np.ndarray, *, n_groups: int) -> Iterator[np.ndarray]:
        """Dosage blocks over the individuals ``idx`` (only when ``from_genotypes``)."""
        raise TypeError(f"{self.source}: not built from genotypes")


class DenseSimilarity(Similarity):
    """An in-memory similarity matrix, shape (N, N)."""

    def __init__(self, K: np.ndarray, *, source: str = "similarity matrix") -> None:
        K = np.asarray(K, dtype=np.float64)
        check_similarity(K, source=source)
        self.K = K
        self.n = K.shape[0]
        self.source = source

    def matrix(self, idx: np.ndarray) -> np.ndarray:
        return self.K[np.ix_(idx, idx)]


class GenotypeSimilarity(Similarity):
    """The GWAS engine's standardised kinship (``gwas.kinship.standardised_kinship``) of
    genotype rows ``rows``, computed for each requested subset of individuals: standardised
    over that subset, as contig-gwas does per phenotype group, so h2 here equals the h2 of its
    null-model table (without LOCO). One genotype pass per distinct subset; the last subset's
    matrix is kept.

    Args:
        source: a genotype source (``contig_gwas.io.genotypes``).
        rows: the caller's individuals' rows in it, shape (n,).
        variants: the variants to use (indices; None: all).
    """

    from_genotypes = True

    def __init__(self, source, *, rows: np.ndarray, variants: np.ndarray | None = None) -> None:
        self.source_obj = source
        self.rows = np.asarray(rows, dtype=np.int64)
        self.variants = (np.arange(len(source.variants)) if variants is None
                         else np.asarray(variants, dtype=np.int64))
        self.n = len(self.rows)
        self.source = f"kinship of {source.path}"
        self._last: tuple[bytes, np.ndarray] | None = None

    def matrix(self, idx: np.ndarray) -> np.ndarray:
        from ..gwas.kinship import standardised_kinship

        key = np.asarray(idx, dtype=np.int64).tobytes()
        if self._last is None or self._last[0] != key:
            try:
                K = standardised_kinship(source=self.source_obj, samples=self.rows[idx],
                                         variants=self.variants)
            except ValueError as exc:
                raise InputError(f"{self.source_obj.path}: {exc}") from None
            check_similarity(K, source=self.source)
            self._last = (key, K)  # keep one: N x N each
        return self._last[1]

    def genotype_blocks(self, idx: np.ndarray, *, n_groups: int) -> Iterator[np.ndarray]:
        """Dosage blocks over the individuals ``idx``, at least ``n_groups`` of them (the
        variant-block jackknife's groups) and at most 2000 variants each."""
        m = len(self.variants)
        size = int(min(2000, max(1, -(-m // n_groups))))
        for block in self.source_obj.iter_blocks(samples=self.rows[idx], variants=self.variants,
                                                 block_size=size):
            yield block.dosages


class GctaGrmSimilarity(Similarity):
    """A GCTA binary GRM on disk (``PREFIX.grm.bin``), streamed for HE, read whole for REML.

    ``index`` maps the caller's individuals (0..n-1) to rows of ``PREFIX.grm.id``.
    """

    def __init__(self, prefix: str | os.PathLike, *, index: np.ndarray) -> None:
        self.prefix = str(prefix)
        self.index = np.asarray(index, dtype=np.int64)
        self.n = len(self.index)
        self.source = self.prefix + ".grm.bin"

    def matrix(self, idx: np.ndarray) -> np.ndarray:
        K = read_gcta_grm_matrix(self.prefix, index=self.index[idx])
        check_similarity(K, source=self.source)
        return K

    def lower_rows(self, idx: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        return read_gcta_grm(self.prefix, index=self.index[idx])


def check_similarity(K: np.ndarray, *, source: str) -> None:
    """Raise InputError unless K is square, finite, symmetric and not zero."""
    if K.ndim != 2 or K.shape[0] != K.shape[1]:
        raise InputError(f"{source}: similarity matrix must be square, got shape {K.shape}")
    if not np.all(np.isfinite(K)):
        raise InputError(f"{source}: similarity matrix has {int((~np.isfinite(K)).sum())} "
                         f"non-finite entries")
    scale = float(np.max(np.abs(K))) if K.size else 0.0
    if scale == 0.0:
        raise InputError(f"{source}: similarity matrix is zero (no polymorphic variants?): "
                         f"h2 is not identifiable")
    asym = float(np.max(np.abs(K - K.T)))
    if asym > 1e-6 * scale:
        raise InputError(f"{source}: similarity matrix is not symmetric (max |K - K'| = "
                         f"{asym:.3g})")
