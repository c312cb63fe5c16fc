"""Latent traits: planted causal variants, a polygenic background, burden genes, environment.

Each latent trait is ``Y = G + E`` on a scale where ``Var(Y)`` is about 1:

- ``G`` = major causal variants (each with a chosen share of variance, ``causal_variance``)
  + carriers of an effect gene (gene burden) + a polygenic background of ``n_polygenic``
  small normal effects, scaled so that ``Var(G) = h2`` in the simulated cohort;
- ``E`` = age, sex and an ancestry-group shift (so that covariates and genetic PCs matter)
  + Gaussian noise, with ``Var(E) = 1 - h2``.

With ``h2 = 0`` (a null cohort) the caller plants nothing (no majors, no polygenic background,
no effect genes): ``G`` is exactly 0 and ``Y = E``.

Effects (``beta``) are per copy of the effect allele (the dosage scale of the written files).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class TraitSpec:
    """A latent trait: default heritability, the image property it drives (None: not in the
    images), and non-genetic effects in trait SD units (age per SD of age, male vs female,
    population B vs A)."""

    name: str
    h2: float
    image_property: str | None
    age_effect: float = 0.0
    sex_effect: float = 0.0
    ancestry_shift: float = 0.0


#: The latent traits. The image traits' heritabilities follow twin studies of the fundus
#: properties they stand for (retinal vessel calibre about 0.7-0.8, optic disc area about
#: 0.6-0.8, fundus and iris pigmentation about 0.8 or more, lesion-type retinopathy features
#: lower); with them (and a PGS from a well-powered external GWAS, ``pgs_noise`` 0.2) the images
#: share enough information with the genetics for ContIG to learn from 2,000 individuals: the
#: PGS correlate about 0.55-0.77 with the image traits (0.25-0.46 with the earlier heritabilities
#: 0.35-0.6 and ``pgs_noise`` 1, which bounded the contrastive gain to about 0.26 nats).
TRAITS: tuple[TraitSpec, ...] = (
    TraitSpec("vessel", 0.7, "vessel_calibre", age_effect=-0.25, sex_effect=0.1),
    TraitSpec("disc", 0.75, "disc_size"),
    TraitSpec("pigment", 0.8, "pigmentation", ancestry_shift=0.8),
    TraitSpec("lesion", 0.5, "lesion_spots", age_effect=0.3, sex_effect=0.15),
    TraitSpec("height", 0.6, None, sex_effect=0.35, ancestry_shift=0.3),
    TraitSpec("lipid", 0.4, None, age_effect=0.2),
)


@dataclass
class TraitEffects:
    """Per-variant effects of every trait on the written variants.

    Attributes:
        names: trait names, length T.
        major: int64, shape (T, K): indices (into the written variants) of the major causal
            variants of each trait.
        beta_major: float64, shape (M, T), zero except at the majors.
        beta_poly: float64, shape (M, T), the unscaled polygenic background.
        pgs_noise: float64, shape (M, T), estimation error of the external GWAS behind the PGS.
    """

    names: list[str]
    major: np.ndarray
    beta_major: np.ndarray
    beta_poly: np.ndarray
    pgs_noise: np.ndarray


def choose_majors(*, rng: np.random.Generator, variants: pd.DataFrame, n_traits: int,
                  n_causal: int, spacing_bp: int, maf_min: float = 0.1) -> np.ndarray:
    """Distinct common variants, at least ``spacing_bp`` apart (halved until they fit).

    Returns int64, shape (n_traits, n_causal), indices into ``variants`` (no columns and no
    random draws when ``n_causal`` is 0).
    """
    if n_causal == 0:
        return np.zeros((n_traits, 0), dtype=np.int64)
    p = variants["founder_freq"].to_numpy()
    cand = np.flatnonzero(np.minimum(p, 1 - p) >= maf_min)
    if len(cand) < n_traits * n_causal:
        cand = np.arange(len(variants))
    cand = rng.permutation(cand)
    chrom = variants["chromosome"].to_numpy()
    pos = variants["position"].to_numpy()
    need = n_traits * n_causal
    spacing = spacing_bp
    while True:
        chosen: list[int] = []
        for i in cand:
            same = [j for j in chosen if chrom[j] == chrom[i]]
            if all(abs(pos[j] - pos[i]) >= spacing for j in same):
                chosen.append(int(i))
                if len(chosen) == need:
                    return np.array(chosen, dtype=np.int64).reshape(n_traits, n_causal)
        spacing //= 2


def draw_effects(*, rng: np.random.Generator, variants: pd.DataFrame, names: list[str],
                 n_causal: int, causal_variance: float, n_polygenic: int, spacing_bp: int,
                 pgs_noise: float) -> TraitEffects:
    """Draw majors (``beta^2 2p(1-p) = causal_variance``, random sign), the polygenic
    background (normal effects on ``n_polygenic`` other variants per trait, scaled to unit
    expected variance) and the PGS estimation error (variance ``pgs_noise`` in total)."""
    m, t = len(variants), len(names)
    p = variants["founder_freq"].to_numpy()
    het = 2 * p * (1 - p)
    major = choose_majors(rng=rng, variants=variants, n_traits=t, n_causal=n_causal,
                          spacing_bp=spacing_bp)
    beta_major = np.zeros((m, t))
    beta_poly = np.zeros((m, t))
    is_major = np.zeros(m, dtype=bool)
    is_major[major.ravel()] = True
    others = np.flatnonzero(~is_major)
    k_poly = min(n_polygenic, len(others))
    for k in range(t):
        sign = rng.choice([-1.0, 1.0], size=n_causal)
        beta_major[major[k], k] = sign * np.sqrt(causal_variance / het[major[k]])
        idx = rng.choice(others, size=k_poly, replace=False)
        beta_poly[idx, k] = rng.standard_normal(k_poly) / np.sqrt(k_poly * het[idx])
    noise = rng.standard_normal((m, t)) * np.sqrt(pgs_noise / (m * het))[:, None]
    return TraitEffects(names=list(names), major=major, beta_major=beta_major,
                        beta_poly=beta_poly, pgs_noise=noise)


@dataclass
class LatentTraits:
    """The realised latent traits.

    Attributes:
        values: float64 DataFrame, shape (N, T), the latent traits (columns = names).
        genetic: float64, shape (N, T), G.
        poly_scale: float64, shape (T,), factor applied to ``beta_poly``.
        realised_h2: float64, shape (T,), Var(G) / Var(Y) in the cohort.
        h2_common: float64, shape (T,), Var(G from written variants) / Var(Y).
        h2_adjusted: float64, shape (T,), Var(G) / Var(G + noise): the heritability given the
            non-genetic covariates (age, sex, ancestry), which is what REML with those
            covariates estimates.
    """

    values: pd.DataFrame
    genetic: np.ndarray
    poly_scale: np.ndarray
    realised_h2: np.ndarray
    h2_common: np.ndarray
    h2_adjusted: np.ndarray
    noise: np.ndarray


def nongenetic_design(*, specs: list[TraitSpec], age: np.ndarray, sex: np.ndarray,
                      group: np.ndarray) -> np.ndarray:
    """Age, sex and ancestry effects, shape (N, T), centred."""
    z_age = (age - age.mean()) / age.std()
    out = np.empty((len(age), len(specs)))
    for k, s in enumerate(specs):
        out[:, k] = s.age_effect * z_age + s.sex_effect * sex + s.ancestry_shift * group
    return out - out.mean(axis=0)


def finalize_traits(*, rng: np.random.Generator, specs: list[TraitSpec], h2: np.ndarray,
                    g_major: np.ndarray, g_poly: np.ndarray, g_burden: np.ndarray,
                    nongenetic: np.ndarray, index: pd.Index) -> LatentTraits:
    """Scale the polygenic part so that Var(G) = h2, then add environment with Var 1 - h2.

    All ``g_*`` inputs: shape (N, T), centred genetic values from the cohort's complete dosages.
    """
    n, t = g_major.shape
    scale = np.zeros(t)
    for k in range(t):
        a = g_major[:, k] + g_burden[:, k]
        va, vp, cov = a.var(), g_poly[:, k].var(), np.mean((a - a.mean()) * g_poly[:, k])
        disc = cov ** 2 - vp * (va - h2[k])
        scale[k] = (-cov + np.sqrt(disc)) / vp if vp > 0 and disc >= 0 else 0.0
        scale[k] = max(scale[k], 0.0)
    genetic = g_major + g_burden + g_poly * scale
    env = np.empty((n, t))
    noise = np.empty((n, t))
    for k in range(t):
        c = nongenetic[:, k]
        resid = max(1 - h2[k] - c.var(), 0.05 * (1 - h2[k]))
        noise[:, k] = rng.standard_normal(n) * np.sqrt(resid)
        env[:, k] = c + noise[:, k]
    y = genetic + env
    y = y - y.mean(axis=0)
    common = g_major + g_poly * scale
    return LatentTraits(values=pd.DataFrame(y, index=index, columns=[s.name for s in specs]),
                        genetic=genetic, poly_scale=scale,
                        realised_h2=genetic.var(axis=0) / y.var(axis=0),
                        h2_common=common.var(axis=0) / y.var(axis=0),
                        h2_adjusted=genetic.var(axis=0) / (genetic + noise).var(axis=0),
                        noise=noise)
