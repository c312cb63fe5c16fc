"""Synthetic inputs for tests, benchmarks and examples of contig-report (seeded).

Not a simulator of biology: genome-wide null p-values with planted peaks, and small PLINK
filesets with blocks of strong LD, so clumping has known answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from ..io.sumstats import neg_log10_p_chi2


@dataclass
class Peak:
    """A planted association: chi2 at the centre, decaying with distance (Gaussian, width bp)."""

    chromosome: int
    position: int
    chi2: float
    width: float = 20_000.0


def synthetic_sumstats(*, n_variants: int, peaks: Sequence[Peak] = (), n_chromosomes: int = 22,
                       seed: int = 0, chromosome_length: float = 5e6, n: int = 1000,
                       variants: pd.DataFrame | None = None) -> pd.DataFrame:
    """A table in the summary-statistics schema: null chi2(1) plus planted peaks.

    ``variants`` (chromosome, base_pair_location, variant_id) fixes the variant set (so several
    phenotypes share it); otherwise positions are spread over ``n_chromosomes`` chromosomes.
    """
    rng = np.random.default_rng(seed)
    if variants is None:
        chrom = np.sort(rng.integers(1, n_chromosomes + 1, n_variants))
        pos = np.empty(n_variants, dtype=np.int64)
        for c in np.unique(chrom):
            k = np.flatnonzero(chrom == c)
            pos[k] = np.sort(rng.choice(int(chromosome_length), size=len(k), replace=False)) + 1
        vid = np.char.add("rs", np.arange(1, n_variants + 1).astype(str))
    else:
        chrom = variants["chromosome"].to_numpy()
        pos = variants["base_pair_location"].to_numpy()
        vid = variants["variant_id"].to_numpy()
        n_variants = len(chrom)
    z = rng.standard_normal(n_variants)
    signal = np.zeros(n_variants)
    for pk in peaks:
        on = chrom == pk.chromosome
        bump = np.sqrt(pk.chi2) * np.exp(-0.5 * ((pos - pk.position) / pk.width) ** 2)
        signal += np.where(on, bump, 0.0)
    z = z + signal
    chi2 = z ** 2
    nlp = neg_log10_p_chi2(chi2)
    maf = rng.uniform(0.05, 0.5, n_variants)
    se = 1.0 / np.sqrt(2 * maf * (1 - maf) * n)
    return pd.DataFrame({
        "chromosome": chrom, "base_pair_location": pos, "variant_id": vid,
        "effect_allele": "A", "other_allele": "G", "effect_allele_frequency": maf, "n": n,
        "beta": z * se, "standard_error": se, "p_value": np.power(10.0, -nlp),
        "neg_log10_p_value": nlp,
    })


def ld_block_genotypes(*, n_samples: int, block_sizes: list[int], seed: int = 0,
                       noise: float = 0.08) -> np.ndarray:
    """Dosages (N, sum(block_sizes)) in blocks: variants of a block copy one haplotype pair
    with a small flip rate (r2 high within a block), blocks independent (r2 near 0)."""
    rng = np.random.default_rng(seed)
    cols = []
    for size in block_sizes:
        freq = rng.uniform(0.2, 0.5)
        h1 = rng.random(n_samples) < freq
        h2 = rng.random(n_samples) < freq
        for _ in range(size):
            a = h1 ^ (rng.random(n_samples) < noise)
            b = h2 ^ (rng.random(n_samples) < noise)
            cols.append(a.astype(np.float32) + b.astype(np.float32))
    return np.column_stack(cols)
