"""LD scores from a genotype source, with ldsc's estimator, streamed over variant blocks.

The LD score of variant j is ``l_j = sum_k r2_adj(j, k)`` over the variants k on the same
chromosome within the window (``|c_k - c_j| <= window``, in base pairs or centimorgans;
k = j included, whose r2_adj is 1), with the bias-corrected squared correlation

    r2_adj = r2 - (1 - r2) / (n - 2)

(ldsc ``ldscore/ldscore.py``: ``l2_unbiased``; Bulik-Sullivan et al. 2015, Supplementary Note:
E[r2_hat] ~ r2 + (1 - r2) / (n - 2) for n individuals). As in ldsc's ``PlinkBEDFile``, each
variant is standardised over all n individuals after filling its missing calls with the mean
of its called ones (population standard deviation), and ``r = z_j' z_k / n``; monomorphic
variants are left out (they have no LD score and add nothing to others'). The window is
``getBlockLefts``' rule: k is in j's window when ``|c_k - c_j| <= max_dist``.

Memory is O(N x (window + block)): a block of standardised columns is compared with itself and
with the buffered columns of the window to its left, then joins the buffer; columns that fall
out of reach of the next block leave it. Each pair is computed once and added to both
variants' scores.

References:
    Bulik-Sullivan et al. (2015) Nat Genet 47:291 (LD score regression);
    ldsc: github.com/bulik/ldsc, ``ldscore/ldscore.py`` (``getBlockLefts``, ``l2_unbiased``,
    ``PlinkBEDFile._nextSNPs``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io.source import GenotypeSource

__all__ = ["LdScores", "ld_scores", "standardise_ldsc", "windowed_l2", "l2_unbiased"]


@dataclass
class LdScores:
    """LD scores of the M polymorphic variants of a genotype source, in file order.

    Attributes:
        variant_id: str, shape (M,).
        chromosome: int code, shape (M,).
        base_pair_location: int64, shape (M,).
        l2: float64, shape (M,): windowed sums of r2_adj (the variant itself included).
        maf: float64, shape (M,): minor-allele frequency over the called genotypes.
        n_individuals: individuals the correlations were computed over.
        window_kb: the window in kilobases, or None when ``window_cm`` was used.
        window_cm: the window in centimorgans, or None.
        n_monomorphic: variants left out as monomorphic.
    """

    variant_id: np.ndarray
    chromosome: np.ndarray
    base_pair_location: np.ndarray
    l2: np.ndarray
    maf: np.ndarray
    n_individuals: int
    window_kb: float | None
    window_cm: float | None
    n_monomorphic: int = 0

    @property
    def m(self) -> int:
        """Number of variants the scores sum over (ldsc's M)."""
        return len(self.l2)

    @property
    def m_5_50(self) -> int:
        """Variants with MAF > 5% (ldsc's ``M_5_50``)."""
        return int(np.sum(self.maf > 0.05))

    def window(self) -> str:
        """The window in words, e.g. ``1000 kb``."""
        return (f"{self.window_cm:.12g} cM" if self.window_cm is not None
                else f"{self.window_kb:.12g} kb")

    def to_frame(self) -> pd.DataFrame:
        """Columns chromosome, base_pair_location, variant_id, l2, maf (ldsc's .l2.ldscore
        columns CHR BP SNP L2 under the project's names, plus MAF)."""
        return pd.DataFrame({"chromosome": self.chromosome,
                             "base_pair_location": self.base_pair_location,
                             "variant_id": self.variant_id, "l2": self.l2, "maf": self.maf})


def l2_unbiased(r: np.ndarray, n: int) -> np.ndarray:
    """ldsc's bias-corrected r2: ``r^2 - (1 - r^2) / (n - 2)`` (``n - 2`` replaced by ``n``
    when n <= 2, as ldsc does). Any shape."""
    denom = n - 2 if n > 2 else n
    sq = np.square(r)
    return sq - (1.0 - sq) / denom


def standardise_ldsc(dosages: np.ndarray, *, basis: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standardise a block as ldsc's ``PlinkBEDFile._nextSNPs``: missing calls set to the mean
    of the called ones, then ``(x - mean) / sd`` with the population sd over all n.

    Args:
        dosages: shape (N, B), NaN where missing.
        basis: orthonormal columns, shape (N, K), to project out of the centred genotypes
            before scaling (covariate-adjusted LD scores); None for ldsc's standardisation.
    Returns:
        ``Z`` float64 shape (N, B') of the polymorphic columns, ``keep`` bool shape (B,) (which
        columns are polymorphic), ``maf`` float64 shape (B,) (NaN where no call).
    """
    x = np.array(dosages, dtype=np.float64, copy=True)
    miss = np.isnan(x)
    n_ok = (~miss).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n_ok > 0, np.where(miss, 0.0, x).sum(axis=0) / np.maximum(n_ok, 1),
                        np.nan)
    if miss.any():
        x = np.where(miss, mean[None, :], x)
    x -= mean
    sd = np.sqrt(np.mean(x * x, axis=0))
    freq = mean / 2.0
    maf = np.minimum(freq, 1.0 - freq)
    keep = (n_ok > 0) & (sd > 1e-8)   # calls are on a 0-2 scale: a real variant has sd >= ~1/n
    x = x[:, keep]
    if basis is not None:
        x -= basis @ (basis.T @ x)
        res = np.sqrt(np.mean(x * x, axis=0))
        fixed = res > 1e-8 * sd[keep]   # a variant the covariates explain has no residual LD
        keep[np.flatnonzero(keep)[~fixed]] = False
        return x[:, fixed] / res[fixed], keep, maf
    return x / sd[keep], keep, maf


def windowed_l2(blocks: Iterable[tuple[np.ndarray, np.ndarray]], *, n: int, max_dist: float,
                size: int, n_bias: int | None = None) -> np.ndarray:
    """Windowed sums of ``l2_unbiased(z_j' z_k / n, n_bias)`` over one chromosome, streamed.

    Args:
        blocks: pairs ``(Z, coords)`` in genome order: standardised columns, shape (N, B), and
            their coordinates, shape (B,), non-decreasing over all blocks.
        n: individuals (the N of every block).
        max_dist: pairs with ``|c_j - c_k| <= max_dist`` are summed.
        size: at least the total number of columns over all blocks.
        n_bias: the n of the bias correction (default n; ``n - K`` after projecting out K
            covariates).
    Returns:
        float64, shape (total columns,): the LD score of each column, in order.
    """
    nb = n if n_bias is None else n_bias
    l2 = np.zeros(size, dtype=np.float64)
    buf_z = np.empty((n, 0))
    buf_c = np.empty(0)
    buf_start = 0                      # output index of the first buffered column
    k = 0
    for z, c in blocks:
        b = z.shape[1]
        if b == 0:
            continue
        c = np.asarray(c, dtype=np.float64)
        drop = int(np.searchsorted(buf_c, c[0] - max_dist, side="left"))
        buf_z, buf_c, buf_start = buf_z[:, drop:], buf_c[drop:], buf_start + drop
        if buf_c.size:
            r2 = l2_unbiased(buf_z.T @ z / n, nb)                       # (K, B)
            r2 *= np.abs(c[None, :] - buf_c[:, None]) <= max_dist
            l2[buf_start:k] += r2.sum(axis=1)
            l2[k:k + b] += r2.sum(axis=0)
        r2 = l2_unbiased(z.T @ z / n, nb)                               # (B, B), diagonal ~1
        r2 *= np.abs(c[None, :] - c[:, None]) <= max_dist
        l2[k:k + b] += r2.sum(axis=1)
        buf_z = np.hstack([buf_z, z])
        buf_c = np.concatenate([buf_c, c])
        k += b
    return l2[:k]


def ld_scores(source: GenotypeSource, *, window_kb: float = 1000.0,
              window_cm: float | None = None, variant_ids: Sequence[str] | None = None,
              progress: bool | None = None, samples: np.ndarray | None = None,
              covariates: np.ndarray | None = None, block_size: int = 500) -> LdScores:
    """LD scores of a genotype source (one pass over its blocks, per chromosome).

    Args:
        source: from ``contig_gwas.io.genotypes.open_genotypes``; variants sorted by position
            within each chromosome.
        window_kb: window in kilobases (ldsc ``--ld-wind-kb``), used unless ``window_cm``.
        window_cm: window in centimorgans (ldsc ``--ld-wind-cm``), from the third column of a
            PLINK .bim (which must hold a genetic map: not all zero).
        variant_ids: score only these variants, and sum only over them (ldsc ``--extract``).
        progress: progress bar (None: only on a terminal).
        samples: indices of the individuals to correlate over (default all). LD scores
            belong to one homogeneous population (ldsc uses a reference panel of one
            ancestry): in a sample of several, the LD that ancestry induces between
            differentiated variants enters the scores, and stratification then raises the
            slope instead of the intercept (see ``covariates``).
        covariates: shape (n, K) over the individuals used (e.g. the principal components):
            projected out of every variant before correlating (covariate-adjusted LD scores,
            cov-LDSC, Luo et al. 2021 Hum Mol Genet 30:1521), which removes the LD that
            ancestry induces in a structured sample; the bias correction uses n - K.
        block_size: variants read per block.
    Returns:
        ``LdScores`` of the polymorphic variants.
    Raises:
        InputError: unsorted positions, no genetic map for ``window_cm``, no variant left.
    """
    from tqdm import tqdm

    v = source.variants
    chrom = v["chromosome"].to_numpy(dtype=np.int64)
    pos = v["position"].to_numpy(dtype=np.int64)
    ids = v["variant_id"].to_numpy(dtype=str)
    if window_cm is not None:
        if not window_cm > 0:
            raise InputError(f"the LD-score window must be positive, got {window_cm} cM")
        coord = _genetic_map(source).astype(np.float64)
        max_dist = float(window_cm)
    else:
        if not window_kb > 0:
            raise InputError(f"the LD-score window must be positive, got {window_kb} kb")
        coord = pos.astype(np.float64)
        max_dist = float(window_kb) * 1000.0
    selected = np.ones(len(ids), dtype=bool)
    if variant_ids is not None:
        selected = pd.Index(ids).isin(pd.Index(list(variant_ids), dtype=str))
        if not selected.any():
            raise InputError(f"{source.path}: none of the {len(variant_ids)} requested variants "
                             f"is in the genotypes")
    rows_s = None if samples is None else np.asarray(samples, dtype=np.int64)
    n = len(source.samples) if rows_s is None else len(rows_s)
    if n < 3:
        raise InputError(f"{source.path}: LD scores need at least 3 individuals, got {n}")
    basis, n_bias = _covariate_basis(covariates, n, source.path)
    out_idx: list[np.ndarray] = []
    out_l2: list[np.ndarray] = []
    out_maf: list[np.ndarray] = []
    bar = tqdm(total=int(selected.sum()), disable=None if progress is None else not progress,
               leave=False, desc="LD scores", unit="variant")
    with bar:
        for c in pd.unique(chrom[selected]):
            idx = np.flatnonzero(selected & (chrom == c))
            if np.any(np.diff(coord[idx]) < 0):
                raise InputError(f"{source.path}: variants of chromosome {c} are not sorted by "
                                 f"position; sort them (plink2 --sort-vars) first")
            kept: list[np.ndarray] = []
            mafs: list[np.ndarray] = []
            blocks = _standardised(source, idx, coord, block_size, kept, mafs, bar, rows_s,
                                   basis)
            l2 = windowed_l2(blocks,
                             n=n, max_dist=max_dist, size=len(idx), n_bias=n_bias)
            out_idx.append(np.concatenate(kept))
            out_l2.append(l2)
            out_maf.append(np.concatenate(mafs))
    rows = np.concatenate(out_idx) if out_idx else np.empty(0, dtype=np.int64)
    if len(rows) == 0:
        raise InputError(f"{source.path}: no polymorphic variant to compute LD scores from")
    return LdScores(variant_id=ids[rows], chromosome=chrom[rows], base_pair_location=pos[rows],
                    l2=np.concatenate(out_l2), maf=np.concatenate(out_maf), n_individuals=n,
                    window_kb=None if window_cm is not None else float(window_kb),
                    window_cm=None if window_cm is None else float(window_cm),
                    n_monomorphic=int(selected.sum()) - len(rows))


def _standardised(source: GenotypeSource, idx: np.ndarray, coord: np.ndarray, block_size: int,
                  kept: list, mafs: list, bar,
                  samples: np.ndarray | None,
                  basis: np.ndarray | None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Standardised polymorphic columns of the variants ``idx`` and their coordinates, block by
    block; appends the kept variant rows and their MAF to ``kept`` and ``mafs``."""
    a = 0
    for block in source.iter_blocks(samples=samples, variants=idx, block_size=block_size):
        b = block.dosages.shape[1]
        rows = idx[a:a + b]
        a += b
        z, keep, maf = standardise_ldsc(block.dosages, basis=basis)
        kept.append(rows[keep])
        mafs.append(maf[keep])
        bar.update(b)
        yield z, coord[rows[keep]]


def _covariate_basis(covariates: np.ndarray | None, n: int,
                     path: str) -> tuple[np.ndarray | None, int]:
    """Orthonormal basis of the centred covariates, shape (n, K), and the n of the bias
    correction (n - K); (None, n) without covariates."""
    if covariates is None:
        return None, n
    c = np.asarray(covariates, dtype=np.float64)
    c = c[:, None] if c.ndim == 1 else c
    if c.shape[0] != n or not np.all(np.isfinite(c)):
        raise InputError(f"{path}: LD-score covariates must be finite, one row per individual "
                         f"({n}), got shape {c.shape}")
    c = c - c.mean(axis=0)
    u, sv, _ = np.linalg.svd(c, full_matrices=False)
    basis = u[:, sv > sv.max(initial=0.0) * max(c.shape) * np.finfo(np.float64).eps]
    if n - basis.shape[1] < 3:
        raise InputError(f"{path}: {basis.shape[1]} covariates leave too few degrees of freedom "
                         f"for LD scores of {n} individuals")
    return basis, n - basis.shape[1]


def _genetic_map(source: GenotypeSource) -> np.ndarray:
    """Centimorgan positions of the source's variants, from the third column of its .bim."""
    bim = Path(str(source.path) + ".bim")
    if not bim.exists():
        raise InputError(f"{source.path}: a centimorgan window needs a PLINK .bim with a genetic "
                         f"map; use a kilobase window")
    df = pd.read_csv(bim, sep=r"\s+", header=None, usecols=[1, 2], dtype={1: str, 2: np.float64})
    cm = pd.Series(df[2].to_numpy(), index=df[1].to_numpy())
    if not cm.index.is_unique:
        raise InputError(f"{bim}: variant IDs are not unique; centimorgan positions cannot be "
                         f"matched to variants")
    ids = source.variants["variant_id"].to_numpy(dtype=str)
    values = cm.reindex(ids).to_numpy(dtype=np.float64)
    if np.isnan(values).any() or not np.any(values != 0):
        raise InputError(f"{bim}: no genetic map (the centimorgan column is all 0); use a "
                         f"kilobase window (--ld-wind-kb)")
    return values
