"""Genotypes of the synthetic cohort: a coalescent simulation (msprime) plus sibling pairs.

Founders are diploid samples of a two-population model (an ancestral population that splits
into ``A`` and ``B``, each with recent exponential growth), simulated per chromosome with a
uniform recombination map. Cohort individuals are either founders (unrelated) or sibling pairs
whose two parents are founders not in the cohort: each child inherits one recombinant
haplotype from each parent, with crossovers drawn at the real chromosome's genetic length.

Only sites with exactly one mutation (biallelic) are kept. Common sites (founder minor-allele
frequency >= ``maf_min``) form the written genotype panel; rare sites inside gene intervals feed
the gene-burden modality and are not written. The effect allele is the derived allele.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import msprime

MUTATION_RATE = 1.25e-8
RECOMBINATION_RATE = 1e-8
# GRCh38 lengths (Mb) of chromosomes 1-22: the simulated segments are proportional to them and
# sibling meioses use their genetic length (about 1 Morgan per 100 Mb).
HUMAN_MB = [248, 242, 198, 190, 181, 171, 159, 145, 138, 134, 135, 133, 114, 107, 102, 90, 83,
            80, 59, 64, 47, 51]
# common sites (MAF >= 1%) per base pair under this demography, measured (2.3e-3). The genome
# is made 3x longer than needed and thinned to n_snps (one variant per ~1.3 kb): more
# independent LD blocks, so a polygenic background inflates marginal tests less.
COMMON_SITES_PER_BP = 2.3e-3
LENGTH_MARGIN = 3.0


@dataclass
class Pedigree:
    """Who the cohort individuals are, in cohort order.

    Attributes:
        n_founders_a, n_founders_b: founders sampled from populations A and B; founder f < n_a
            is in A. Founder f's haplotypes are msprime sample nodes 2f and 2f+1.
        group: int8, shape (N,), 0 = population A, 1 = population B.
        founder: int64, shape (N,), the founder an unrelated individual is, -1 for a sibling.
        sib_parents: int64, shape (N, 2), the father and mother founders of a sibling, -1 else.
        sib_pairs: int64, shape (P, 2), cohort indices of the two siblings of each family.
    """

    n_founders_a: int
    n_founders_b: int
    group: np.ndarray
    founder: np.ndarray
    sib_parents: np.ndarray
    sib_pairs: np.ndarray

    @property
    def n(self) -> int:
        return len(self.group)


def plan_pedigree(*, rng: np.random.Generator, n_individuals: int, related_share: float,
                  b_share: float) -> Pedigree:
    """Draw who is related and who belongs to which population (cohort order is shuffled)."""
    n_pairs = int(round(n_individuals * related_share / 2))
    n_unrel = n_individuals - 2 * n_pairs
    unrel_b = rng.random(n_unrel) < b_share
    fam_b = rng.random(n_pairs) < b_share
    # founders: unrelated ones, then two parents per family; A founders numbered first
    f_group = np.concatenate([unrel_b, np.repeat(fam_b, 2)]).astype(np.int8)
    order = np.argsort(f_group, kind="stable")
    fid_of = np.empty_like(order)
    fid_of[order] = np.arange(len(order))
    n_a = int((f_group == 0).sum())
    group = np.concatenate([unrel_b, np.repeat(fam_b, 2)]).astype(np.int8)
    founder = np.concatenate([fid_of[:n_unrel], np.full(2 * n_pairs, -1)])
    parents = np.full((n_individuals, 2), -1, dtype=np.int64)
    for k in range(n_pairs):
        pa = fid_of[n_unrel + 2 * k: n_unrel + 2 * k + 2]
        parents[n_unrel + 2 * k] = pa
        parents[n_unrel + 2 * k + 1] = pa
    perm = rng.permutation(n_individuals)  # cohort order: siblings scattered
    inv = np.empty_like(perm)
    inv[perm] = np.arange(n_individuals)
    pairs = np.array([[inv[n_unrel + 2 * k], inv[n_unrel + 2 * k + 1]] for k in range(n_pairs)],
                     dtype=np.int64).reshape(-1, 2)
    return Pedigree(n_founders_a=n_a, n_founders_b=len(f_group) - n_a, group=group[perm],
                    founder=founder[perm].astype(np.int64), sib_parents=parents[perm],
                    sib_pairs=pairs)


def demography() -> msprime.Demography:
    """Two populations split 1,500 generations ago from an ancestral Ne of 10,000; A grows from
    10,000 to 40,000 and B from a 2,500 bottleneck to 20,000 over the last 400 generations."""
    import msprime

    dem = msprime.Demography()
    dem.add_population(name="A", initial_size=40_000, growth_rate=np.log(4.0) / 400)
    dem.add_population(name="B", initial_size=20_000, growth_rate=np.log(8.0) / 400)
    dem.add_population(name="ANC", initial_size=10_000)
    for pop, size in (("A", 10_000), ("B", 2_500)):
        dem.add_population_parameters_change(time=400, initial_size=size, growth_rate=0,
                                             population=pop)
    dem.add_population_split(time=1_500, derived=["A", "B"], ancestral="ANC")
    dem.add_symmetric_migration_rate_change(time=0, populations=["A", "B"], rate=1e-5)
    dem.add_symmetric_migration_rate_change(time=1_500, populations=["A", "B"], rate=0)
    dem.sort_events()
    return dem


def chromosome_lengths(*, n_snps: int, n_chromosomes: int) -> list[int]:
    """Simulated lengths (bp), proportional to human chromosomes 1..C, enough for n_snps."""
    rel = np.array([HUMAN_MB[i % len(HUMAN_MB)] for i in range(n_chromosomes)], dtype=float)
    total = n_snps / COMMON_SITES_PER_BP * LENGTH_MARGIN
    return [int(max(50_000, round(total * r / rel.sum()))) for r in rel]


@dataclass
class ChromosomeSites:
    """Selected sites of one simulated chromosome, stored as a tree sequence file.

    ``variants`` (the common sites, as written): chromosome, position, variant_id
    (``chrom:pos:other:effect``), effect_allele (derived), other_allele (ancestral),
    founder_freq (effect-allele frequency among the simulated founders).
    """

    chromosome: int
    length: int
    tree_file: Path
    positions: np.ndarray          # 1-based bp of all kept sites (common panel + rare), sorted
    is_common: np.ndarray          # bool, the site is in the written panel
    gene: np.ndarray               # gene index of a rare site, -1 for common
    variants: pd.DataFrame = field(repr=False)  # the common sites, as written


def simulate_chromosome(*, chromosome: int, length: int, pedigree: Pedigree, n_common: int,
                        genes: pd.DataFrame, maf_min: float, seed_ancestry: int,
                        seed_mutations: int, seed_thin: int, work_dir: Path) -> ChromosomeSites:
    """Simulate one chromosome and keep ``n_common`` common sites and the rare sites in genes.

    Args:
        genes: rows with ``start``, ``end`` (1-based, inclusive) and ``gene_index`` on this
            chromosome.
        work_dir: where the pruned tree sequence is stored for the streaming pass.
    """
    import msprime
    import tskit

    ts = msprime.sim_ancestry(
        samples={"A": pedigree.n_founders_a, "B": pedigree.n_founders_b},
        demography=demography(), sequence_length=length,
        recombination_rate=RECOMBINATION_RATE, random_seed=seed_ancestry)
    ts = msprime.sim_mutations(ts, rate=MUTATION_RATE, random_seed=seed_mutations)
    n_hap = ts.num_samples
    tables = ts.tables
    mut_site = tables.mutations.site
    single = np.bincount(mut_site, minlength=ts.num_sites) == 1
    first_mut = np.searchsorted(mut_site, np.arange(ts.num_sites))
    node = tables.mutations.node[np.minimum(first_mut, max(len(mut_site) - 1, 0))]
    site_pos = tables.sites.position
    bounds = np.searchsorted(site_pos, ts.breakpoints(as_array=True))
    count = np.zeros(ts.num_sites, dtype=np.int64)
    for tree in ts.trees():
        for sid in range(bounds[tree.index], bounds[tree.index + 1]):
            if single[sid]:
                count[sid] = tree.num_samples(node[sid])
    freq = count / n_hap
    maf = np.minimum(freq, 1 - freq)
    pos = ts.tables.sites.position.astype(np.int64) + 1
    common = np.flatnonzero(single & (maf >= maf_min))
    rng = np.random.default_rng(seed_thin)
    if len(common) > n_common:
        common = np.sort(rng.choice(common, size=n_common, replace=False))
    gene_of = np.full(ts.num_sites, -1, dtype=np.int64)
    for g in genes.itertuples():
        lo, hi = np.searchsorted(pos, [g.start, g.end + 1])
        gene_of[lo:hi] = g.gene_index
    rare = np.flatnonzero(single & (count > 0) & (maf < maf_min) & (gene_of >= 0))
    keep = np.union1d(common, rare)
    pruned = ts.delete_sites(np.setdiff1d(np.arange(ts.num_sites), keep), record_provenance=False)
    tree_file = Path(work_dir) / f"chr{chromosome}.trees"
    pruned.dump(tree_file)
    anc_all = tskit.unpack_strings(tables.sites.ancestral_state,
                                   tables.sites.ancestral_state_offset)
    der_all = tskit.unpack_strings(tables.mutations.derived_state,
                                   tables.mutations.derived_state_offset)
    anc = np.array(anc_all, dtype=object)[common]
    der = np.array(der_all, dtype=object)[first_mut[common]]
    variants = pd.DataFrame({
        "chromosome": chromosome,
        "position": pos[common],
        "variant_id": [f"{chromosome}:{p}:{a}:{d}" for p, a, d in zip(pos[common], anc, der)],
        "effect_allele": der.astype(str),
        "other_allele": anc.astype(str),
        "founder_freq": freq[common],
    })
    is_common = np.isin(keep, common)
    return ChromosomeSites(chromosome=chromosome, length=length, tree_file=tree_file,
                           positions=pos[keep], is_common=is_common,
                           gene=np.where(is_common, -1, gene_of[keep]), variants=variants)


@dataclass
class Meioses:
    """Crossovers of the sibling meioses on one chromosome.

    ``start[i, p]`` is which of parent p's haplotypes child i starts with, ``crossovers[i][p]``
    the sorted crossover positions (bp); entries only for siblings.
    """

    start: np.ndarray
    crossovers: list[list[np.ndarray]]

    def source(self, i: int, p: int, positions: np.ndarray) -> np.ndarray:
        """Which parental haplotype (0/1) child i got from parent p at each position."""
        n_x = np.searchsorted(self.crossovers[i][p], positions, side="right")
        return (self.start[i, p] + n_x) % 2


def draw_meioses(*, rng: np.random.Generator, pedigree: Pedigree, chromosome: int,
                 length: int) -> Meioses:
    """Crossovers: Poisson with the real chromosome's genetic length (Morgans), uniform in bp."""
    morgans = HUMAN_MB[(chromosome - 1) % len(HUMAN_MB)] / 100.0
    n = pedigree.n
    start = rng.integers(0, 2, size=(n, 2))
    xo: list[list[np.ndarray]] = []
    for i in range(n):
        if pedigree.sib_parents[i, 0] < 0:
            xo.append([np.empty(0), np.empty(0)])
            continue
        xo.append([np.sort(rng.uniform(0, length, rng.poisson(morgans))) for _ in range(2)])
    return Meioses(start=start, crossovers=xo)


def sibling_sources(*, pedigree: Pedigree, meioses: Meioses, positions: np.ndarray) -> np.ndarray:
    """Which parental haplotype each sibling copies, int64, shape (S, 2, B) for the siblings
    ``np.flatnonzero(pedigree.founder < 0)`` (parent 0 = father, 1 = mother)."""
    sibs = np.flatnonzero(pedigree.founder < 0)
    src = np.empty((len(sibs), 2, len(positions)), dtype=np.int64)
    for k, i in enumerate(sibs):
        for p in range(2):
            src[k, p] = meioses.source(int(i), p, positions)
    return src


@dataclass
class SiteBlock:
    """One block of a chromosome's kept sites, streamed in position order.

    Attributes:
        chromosome: int code.
        site_index: int64, shape (B,), index into the chromosome's kept sites.
        dosages: int8, shape (N, B), complete derived-allele counts of the cohort.
        shared: float32, shape (P, B) per sibling pair, parental haplotypes shared IBD (0-2).
    """

    chromosome: int
    site_index: np.ndarray
    dosages: np.ndarray
    shared: np.ndarray


def iter_site_blocks(*, sites: ChromosomeSites, pedigree: Pedigree, meioses: Meioses,
                     block_size: int) -> Iterator[SiteBlock]:
    """Stream the cohort's dosages of a chromosome's kept sites in blocks (memory ~ N x B)."""
    import tskit

    ts = tskit.load(sites.tree_file)
    assert ts.num_sites == len(sites.positions)
    buf = np.empty((min(block_size, max(ts.num_sites, 1)), ts.num_samples), dtype=np.int8)
    k0 = 0
    k = 0
    for var in ts.variants(copy=False):
        buf[k] = var.genotypes
        k += 1
        if k == len(buf) or k0 + k == ts.num_sites:
            yield _make_block(sites, pedigree, meioses, buf[:k], k0)
            k0 += k
            k = 0


def _make_block(sites: ChromosomeSites, pedigree: Pedigree, meioses: Meioses, hap: np.ndarray,
                k0: int) -> SiteBlock:
    site_index = np.arange(k0, k0 + len(hap))
    positions = sites.positions[site_index]
    hap_t = np.ascontiguousarray(hap.T)  # (2F, B)
    dos = np.empty((pedigree.n, len(hap)), dtype=np.int8)
    unrel = pedigree.founder >= 0
    f = pedigree.founder[unrel]
    dos[unrel] = hap_t[2 * f] + hap_t[2 * f + 1]
    sibs = np.flatnonzero(~unrel)
    src = sibling_sources(pedigree=pedigree, meioses=meioses, positions=positions)
    if len(sibs):
        rows = 2 * pedigree.sib_parents[sibs][:, :, None] + src  # (S, 2, B)
        dos[sibs] = np.take_along_axis(hap_t, rows.reshape(-1, len(hap)), axis=0) \
            .reshape(len(sibs), 2, -1).sum(axis=1)
    pairs = pedigree.sib_pairs
    if len(pairs):
        where = np.full(pedigree.n, -1)
        where[sibs] = np.arange(len(sibs))
        a, b = src[where[pairs[:, 0]]], src[where[pairs[:, 1]]]
        shared = (a == b).sum(axis=1).astype(np.float32)
    else:
        shared = np.zeros((0, len(hap)), dtype=np.float32)
    return SiteBlock(chromosome=sites.chromosome, site_index=site_index, dosages=dos,
                     shared=shared)


def missing_mask(*, rng: np.random.Generator, n: int, b: int, rate: float) -> np.ndarray:
    """Missing calls, shape (N, B): per-variant rates ~ Gamma(mean ``rate``) per call."""
    if rate <= 0:
        return np.zeros((n, b), dtype=bool)
    per_variant = np.clip(rng.gamma(2.0, rate / 2.0, size=b), 0, 0.5)
    return rng.random((n, b)) < per_variant[None, :]
