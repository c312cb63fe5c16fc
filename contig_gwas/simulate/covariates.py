"""Covariates, standard phenotypes and the downstream task of the synthetic cohort.

- Demographics: sex (0 = female, 1 = male), age (40-70 years), assessment centre (categorical
  ``C1``..``C6``; each centre has its own fundus camera, a colour cast in the images).
- Genetic PCs: top principal components of the called genotypes (standardised, mean-imputed)
  of a panel of up to 5,000 evenly spaced common variants (MAF >= 5%), collected during the
  genotype pass (memory N x 5,000 bytes).
- Standard phenotypes: noisy clinical measurements in natural units of some latent traits, and
  of traits unrelated to the images, each with its own missingness.
- Downstream task: a 0-4 disease grade driven by latent image traits and age.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Demographics:
    """sex: int8 (N,), age: float64 (N,) years, centre: str (N,)."""

    sex: np.ndarray
    age: np.ndarray
    centre: np.ndarray


N_CENTRES = 6


def draw_demographics(*, rng: np.random.Generator, n: int) -> Demographics:
    sex = (rng.random(n) < 0.46).astype(np.int8)
    age = np.round(np.clip(rng.normal(56, 8, n), 40, 70), 1)
    w = np.array([0.3, 0.2, 0.15, 0.15, 0.1, 0.1])
    centre = np.array([f"C{k + 1}" for k in rng.choice(N_CENTRES, size=n, p=w)])
    return Demographics(sex=sex, age=age, centre=centre)


def pc_panel(*, founder_freq: np.ndarray, max_variants: int = 5000,
             maf_min: float = 0.05) -> np.ndarray:
    """Indices of the PC panel: variants with MAF >= ``maf_min``, evenly thinned (int64, (P,))."""
    ok = np.flatnonzero(np.minimum(founder_freq, 1 - founder_freq) >= maf_min)
    if len(ok) > max_variants:
        ok = ok[np.linspace(0, len(ok) - 1, max_variants).round().astype(np.int64)]
    return ok


def genetic_pcs(*, panel: np.ndarray, n_pcs: int = 10, rng: np.random.Generator,
                n_iter: int = 6) -> np.ndarray:
    """Top ``n_pcs`` eigenvectors of the genetic relationship matrix, shape (N, n_pcs).

    Args:
        panel: int8, shape (N, P), called genotypes of the PC panel, -1 where missing
            (mean-imputed after standardising).
    Unit-norm columns (as PLINK's ``--pca`` eigenvectors), sign fixed so the largest entry is
    positive; randomized subspace iteration with ``n_pcs + 10`` vectors.
    """
    x = panel.astype(np.float32)
    miss = panel < 0
    x[miss] = np.nan
    mu = np.nanmean(x, axis=0)
    sd = np.nanstd(x, axis=0)
    keep = sd > 0
    x = (x[:, keep] - mu[keep]) / sd[keep]
    x[np.isnan(x)] = 0.0
    n = x.shape[0]
    k = min(n_pcs + 10, n, x.shape[1])
    q, _ = np.linalg.qr(rng.standard_normal((n, k)).astype(np.float32))
    for _ in range(n_iter):
        q, _ = np.linalg.qr(x @ (x.T @ q))
    z = x @ (x.T @ q)
    vals, vecs = np.linalg.eigh((q.T @ z).astype(np.float64))
    order = np.argsort(vals)[::-1][:n_pcs]
    pcs = q.astype(np.float64) @ vecs[:, order]
    pcs /= np.linalg.norm(pcs, axis=0)
    flip = np.sign(pcs[np.argmax(np.abs(pcs), axis=0), np.arange(pcs.shape[1])])
    return pcs * flip


@dataclass(frozen=True)
class PhenotypeSpec:
    """A standard phenotype: ``mean + sd * (r * trait + sqrt(1 - r^2) * noise)`` (+ age/sex
    terms in natural units), rounded to ``decimals``, missing in a ``missing`` share."""

    name: str
    trait: str | None
    r: float
    mean: float
    sd: float
    decimals: int
    missing: float
    age_per_year: float = 0.0
    male_shift: float = 0.0


PHENOTYPES: tuple[PhenotypeSpec, ...] = (
    PhenotypeSpec("systolic_bp", "vessel", -0.6, 138, 18, 0, 0.05, age_per_year=0.6, male_shift=4),
    PhenotypeSpec("cup_disc_ratio", "disc", 0.7, 0.35, 0.1, 2, 0.25),
    PhenotypeSpec("hba1c", "lesion", 0.55, 36, 5, 1, 0.10, age_per_year=0.1),
    PhenotypeSpec("height", "height", 0.9, 168, 9, 1, 0.02, male_shift=13),
    PhenotypeSpec("ldl", "lipid", 0.8, 3.5, 0.9, 2, 0.15, age_per_year=0.01),
    PhenotypeSpec("grip_strength", None, 0.0, 30, 10, 0, 0.08, age_per_year=-0.3, male_shift=14),
)


def standard_phenotypes(*, rng: np.random.Generator, latent: pd.DataFrame, demo: Demographics,
                        specs: tuple[PhenotypeSpec, ...] = PHENOTYPES) -> pd.DataFrame:
    """Noisy measurements, shape (N, P), NaN where missing; index as ``latent``."""
    out = {}
    age_c = demo.age - demo.age.mean()
    for s in specs:
        z = latent[s.trait].to_numpy() / latent[s.trait].std() if s.trait else 0.0
        e = rng.standard_normal(len(latent))
        v = s.mean + s.sd * (s.r * z + np.sqrt(1 - s.r ** 2) * e)
        v = v + s.age_per_year * age_c + s.male_shift * (demo.sex - demo.sex.mean())
        v = np.round(v, s.decimals)
        v[rng.random(len(latent)) < s.missing] = np.nan
        out[s.name] = v
    return pd.DataFrame(out, index=latent.index)


# grade liability: weights on latent traits (SD units) and per-SD age
GRADE_WEIGHTS = {"lesion": 0.8, "vessel": -0.4, "disc": 0.3}
GRADE_AGE = 0.2
GRADE_CUTS = (0.0, 0.9, 1.6, 2.3)  # liability thresholds for grades 1..4


def downstream_grade(*, rng: np.random.Generator, latent: pd.DataFrame,
                     demo: Demographics) -> np.ndarray:
    """Disease grade 0-4 (int64, shape (N,)) from a liability of latent traits, age and noise."""
    z_age = (demo.age - demo.age.mean()) / demo.age.std()
    liab = GRADE_AGE * z_age + 0.5 * rng.standard_normal(len(latent))
    for name, w in GRADE_WEIGHTS.items():
        liab += w * latent[name].to_numpy() / latent[name].std()
    return np.searchsorted(np.array(GRADE_CUTS), liab, side="right").astype(np.int64)
