"""Small PLINK cohorts for the contig-gwas tests (written with bed_reader.to_bed).

``write_cohort`` makes unrelated individuals plus sibling pairs (siblings share a random half
of their parents' alleles per variant), a few planted causal variants per trait, a polygenic
background, covariates with an effect, and missing calls; it returns the truth.
``simulate_genotypes`` is its genotype step alone. A helper module, not a test module: the
test modules import it (tests/test_gwas_data.py tests it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass
class Cohort:
    prefix: str
    pheno: str
    covar: str
    causal: dict[str, np.ndarray]   # phenotype -> indices of its planted causal variants
    n: int
    m: int


def simulate_genotypes(rng: np.random.Generator, *, n: int, m: int, sib_pairs: int,
                       missing: float) -> np.ndarray:
    """Dosages (N, M) in {0,1,2} with NaN missing; the last 2*sib_pairs rows are sib pairs."""
    af = rng.uniform(0.05, 0.5, m)
    n_unrel = n - 2 * sib_pairs
    g = np.empty((n, m))
    g[:n_unrel] = rng.binomial(2, af, (n_unrel, m))
    par = rng.binomial(1, af, (sib_pairs, 4, m))          # 4 parental haplotypes per family
    for k in range(2):                                    # each sib: one of each parent's pair
        pick_a = rng.integers(0, 2, (sib_pairs, m))
        pick_b = rng.integers(0, 2, (sib_pairs, m))
        a = np.take_along_axis(par[:, 0:2, :], pick_a[:, None, :], axis=1)[:, 0]
        b = np.take_along_axis(par[:, 2:4, :], pick_b[:, None, :], axis=1)[:, 0]
        g[n_unrel + k::2][:sib_pairs] = a + b
    if missing:
        g[rng.random((n, m)) < missing] = np.nan
    return g


def write_cohort(directory: Path, *, n: int = 300, m: int = 1500, n_chrom: int = 3,
                 seed: int = 0, sib_pairs: int = 40, missing: float = 0.005,
                 n_traits: int = 3, causal_beta: float = 0.6, h2_poly: float = 0.3,
                 extra_pheno: dict[str, np.ndarray] | None = None) -> Cohort:
    """Write ``directory/geno.{bed,bim,fam}``, ``pheno.tsv``, ``covar.tsv``.

    Traits ``T0..`` have 2 planted causal variants each (effect ``causal_beta`` per
    standardised genotype) plus a polygenic term of heritability ``h2_poly``; ``NULL`` has no
    genetic effect at all. Covariates ``age`` and ``sex`` affect every trait.
    """
    import bed_reader

    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    g = simulate_genotypes(rng, n=n, m=m, sib_pairs=sib_pairs, missing=missing)
    chrom = np.repeat(np.arange(1, n_chrom + 1), -(-m // n_chrom))[:m]
    pos = np.concatenate([np.arange(1, (chrom == c).sum() + 1) * 1000 for c in
                          range(1, n_chrom + 1)])
    iid = np.array([f"id{i}" for i in range(n)])
    fid = iid.copy()
    sib0 = n - 2 * sib_pairs
    fid[sib0:] = [f"fam{(i - sib0) // 2}" for i in range(sib0, n)]
    prefix = str(directory / "geno")
    bed_reader.to_bed(prefix + ".bed", g.astype(np.float32), properties={
        "fid": fid, "iid": iid, "sid": [f"rs{j}" for j in range(m)],
        "chromosome": chrom.astype(str), "bp_position": pos,
        "allele_1": np.where(np.arange(m) % 2, "A", "C"),
        "allele_2": np.where(np.arange(m) % 2, "G", "T")})
    z = np.where(np.isnan(g), np.nanmean(g, axis=0), g)
    z = (z - z.mean(0)) / np.where(z.std(0) > 0, z.std(0), 1.0)
    age = rng.normal(50, 8, n)
    sex = rng.integers(0, 2, n).astype(float)
    poly = z @ rng.normal(0, 1, m)
    poly = (poly - poly.mean()) / poly.std()
    pheno = {}
    causal = {}
    for t in range(n_traits):
        idx = rng.choice(m, 2, replace=False)
        causal[f"T{t}"] = idx
        y = z[:, idx] @ np.full(2, causal_beta) + np.sqrt(h2_poly) * poly \
            + np.sqrt(1 - h2_poly) * rng.normal(size=n) + 0.02 * age + 0.3 * sex
        pheno[f"T{t}"] = y
    pheno["NULL"] = rng.normal(size=n) + 0.02 * age
    for k, v in (extra_pheno or {}).items():
        pheno[k] = v
    pd.DataFrame({"FID": fid, "IID": iid, **pheno}).to_csv(directory / "pheno.tsv", sep="\t",
                                                          index=False, na_rep="NA")
    pd.DataFrame({"FID": fid, "IID": iid, "age": age, "sex": sex}).to_csv(
        directory / "covar.tsv", sep="\t", index=False, na_rep="NA")
    return Cohort(prefix=prefix, pheno=str(directory / "pheno.tsv"),
                  covar=str(directory / "covar.tsv"), causal=causal, n=n, m=m)
