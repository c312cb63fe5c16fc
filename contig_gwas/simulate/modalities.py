"""Genetic modalities as ContIG uses them: polygenic scores and gene burdens.

- Polygenic scores: for each latent trait, ``PGS = sum_j betahat_j x_j`` over the written
  variants, where ``betahat`` = the true effect + the estimation error of an external GWAS
  (``TraitEffects.pgs_noise``, total variance ``pgs_noise``, default 0.2 of the trait variance:
  a well-powered external GWAS); standardised to mean 0, SD 1. With the default heritabilities
  a PGS correlates about 0.55-0.77 with its image trait (``truth.json``:
  ``pgs.correlation_with_trait``), the information that ContIG's PGS encoder can align images
  with. In a null cohort (``h2 = 0``) a PGS is the estimation error alone: no signal about the
  traits.
- Gene burdens: genes are intervals on the simulated chromosomes; an individual carries a gene
  (1) when it has at least one rare allele (founder MAF < ``maf_min``) inside it. Rare sites are
  not in the written genotype files (as exome burdens beside array genotypes). A few genes
  ("effect genes") shift one latent trait each in carriers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


def draw_genes(*, rng: np.random.Generator, chrom_lengths: dict[int, int],
               n_genes: int) -> pd.DataFrame:
    """Gene intervals, spread over chromosomes in proportion to length.

    Returns columns ``gene`` (``GENE001``...), ``gene_index``, ``chromosome``, ``start``,
    ``end`` (1-based, inclusive; 3-12 kb long), in genome order.
    """
    chroms = np.array(sorted(chrom_lengths))
    lengths = np.array([chrom_lengths[c] for c in chroms], dtype=float)
    which = np.sort(rng.choice(chroms, size=n_genes, p=lengths / lengths.sum()))
    rows = []
    for c in chroms:
        k = int((which == c).sum())
        glen = rng.integers(3_000, 12_001, size=k)
        starts = np.sort(rng.integers(1, max(2, chrom_lengths[c] - 12_000), size=k))
        rows += [(int(c), int(s), int(s + g - 1)) for s, g in zip(starts, glen)]
    width = max(3, len(str(n_genes)))
    return pd.DataFrame({
        "gene": [f"GENE{i + 1:0{width}d}" for i in range(len(rows))],
        "gene_index": np.arange(len(rows)),
        "chromosome": [r[0] for r in rows],
        "start": [r[1] for r in rows],
        "end": [r[2] for r in rows],
    })


@dataclass
class BurdenEffects:
    """Effect genes: ``gene_index`` (shape (E,)), ``trait_index`` (E,), ``effect`` (E,) in
    trait SD units per carrier, and the resulting centred genetic values ``values`` (N, T)."""

    gene_index: np.ndarray
    trait_index: np.ndarray
    effect: np.ndarray
    values: np.ndarray


def burden_effects(*, rng: np.random.Generator, carriers: np.ndarray, trait_index: list[int],
                   n_traits: int, effect_size: float, min_freq: float = 0.01) -> BurdenEffects:
    """Pick one effect gene per trait in ``trait_index`` among genes carried by >= min_freq.

    Args:
        carriers: bool, shape (N, G), carrier status of every cohort individual.
    """
    freq = carriers.mean(axis=0)
    cand = np.flatnonzero(freq >= min_freq)
    if len(cand) < len(trait_index):
        cand = np.argsort(-freq, kind="stable")[:max(len(trait_index), 1)]
    genes = rng.choice(cand, size=min(len(trait_index), len(cand)), replace=False)
    traits = np.array(trait_index[:len(genes)], dtype=np.int64)
    effect = rng.choice([-1.0, 1.0], size=len(genes)) * effect_size
    values = np.zeros((carriers.shape[0], n_traits))
    for g, k, e in zip(genes, traits, effect):
        x = carriers[:, g].astype(float)
        values[:, k] += e * (x - x.mean())
    return BurdenEffects(gene_index=np.asarray(genes, dtype=np.int64), trait_index=traits,
                         effect=effect, values=values)


def polygenic_scores(*, g_major: np.ndarray, g_poly: np.ndarray, poly_scale: np.ndarray,
                     g_noise: np.ndarray) -> np.ndarray:
    """PGS from noisy estimates, shape (N, T): (major + scaled polygenic + error), standardised;
    0 for a trait whose score is constant (no genetic effect and ``pgs_noise`` 0)."""
    s = g_major + g_poly * poly_scale + g_noise
    sd = s.std(axis=0)
    return np.divide(s - s.mean(axis=0), sd, out=np.zeros_like(s), where=sd > 0)


def absent_rows(*, rng: np.random.Generator, n: int, share: float) -> np.ndarray:
    """bool, shape (N,): individuals without this modality (about ``share`` of them)."""
    return rng.random(n) < share
