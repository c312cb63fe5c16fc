"""Binary diseases of the synthetic cohort: a liability threshold on a latent trait.

Each disease has a latent liability, scaled (``c``) to mean 0 and variance 1 in the cohort,

    L = c (r * Y_t / SD(Y_t) + sqrt(1 - r^2) * e),     e ~ N(0, 1),

where ``Y_t`` is the disease's latent trait (``traits.TRAITS``: its genetic value, age, sex,
ancestry and noise) and ``r`` the disease's ``loading``; the ``round(K N)`` individuals of
highest liability are the cases (Falconer's liability-threshold model, Falconer 1965, Ann Hum
Genet 29:51, with the threshold at the cohort's own ``1 - K`` quantile: the cohort is a random
sample of a population of prevalence ``K`` whose case share is exactly ``K``, to one
individual; a threshold at ``Phi^-1(1 - K)`` would add binomial scatter, and more where the
trait's burden genes thicken its tails). The liability heritability is about ``r^2`` times the
trait's (``Var(c r G_t / SD(Y_t))`` in the cohort), and the disease's causal variants are the
trait's, with per-copy effects ``c r beta / SD(Y_t)`` on the liability.

Coding (``diseases.tsv``): PLINK's case/control coding, 1 = control, 2 = case (``NA`` never
occurs: every individual has a status); ``disease_liability.tsv`` holds ``L`` itself (truth;
columns ``<name>_liability``).
Each disease draws its noise from its own stream (``rng_for(seed, "diseases", k)``), so adding
diseases leaves every other file of a cohort unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InputError

#: case/control codes of ``diseases.tsv`` (PLINK 1/2 coding, as ``plink2 --glm`` reads it)
CONTROL, CASE = 1, 2
#: the files written (only when the cohort has diseases)
STATUS_FILE = "diseases.tsv"
LIABILITY_FILE = "disease_liability.tsv"


@dataclass(frozen=True)
class DiseaseSpec:
    """A binary disease: its ``name`` (a column of ``diseases.tsv``), population
    ``prevalence`` K in (0, 1), the latent ``trait`` it is driven by, and the ``loading`` r
    of its liability on that (standardised) trait, in (0, 1]."""

    name: str
    prevalence: float
    trait: str
    loading: float = 0.8


#: The default diseases: a common one driven by an image trait (the learned phenotypes of the
#: images should find its loci and correlate with it genetically), and a rare one driven by a
#: trait that is not in the images (a negative control for the learned phenotypes, and a test of
#: the liability-scale conversion at a low prevalence).
DISEASES: tuple[DiseaseSpec, ...] = (
    DiseaseSpec("disease_common", 0.2, "vessel"),
    DiseaseSpec("disease_rare", 0.02, "lipid"),
)

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.]*$")


def parse_disease(text: str) -> DiseaseSpec:
    """``NAME=K:TRAIT`` or ``NAME=K:TRAIT:LOADING`` (as ``--diseases`` takes it) -> spec.

    Raises:
        InputError for a malformed specification (the values are checked by ``check_diseases``).
    """
    m = re.fullmatch(r"([^=:\s]+)=([^:\s]+):([^:\s]+)(?::([^:\s]+))?", text.strip())
    if m is None:
        raise InputError(f"--diseases: {text!r} is not NAME=PREVALENCE:TRAIT[:LOADING] "
                         f"(e.g. disease_common=0.2:vessel)")
    name, k, trait, r = m.groups()
    try:
        prevalence = float(k)
        loading = 0.8 if r is None else float(r)
    except ValueError:
        raise InputError(f"--diseases: {text!r}: prevalence and loading must be numbers") \
            from None
    return DiseaseSpec(name=name, prevalence=prevalence, trait=trait, loading=loading)


def check_diseases(specs: tuple[DiseaseSpec, ...], *, traits: list[str],
                   reserved: list[str]) -> None:
    """InputError for diseases the simulator cannot honour (``reserved``: column names of the
    other tables, which a disease may not reuse)."""
    seen: set[str] = set()
    for s in specs:
        what = f"--diseases {s.name}"
        if not _NAME.match(s.name):
            raise InputError(f"{what}: a name starts with a letter and holds letters, digits, "
                             f"'_' and '.' only")
        if s.name in seen or s.name in reserved:
            raise InputError(f"{what}: the name is already used"
                             + (" by another column of the cohort" if s.name in reserved else ""))
        seen.add(s.name)
        if not 0 < s.prevalence < 1:
            raise InputError(f"{what}: prevalence must be in (0, 1), got {s.prevalence}")
        if s.trait not in traits:
            raise InputError(f"{what}: no latent trait {s.trait!r} (traits are {traits})")
        if not 0 < s.loading <= 1:
            raise InputError(f"{what}: loading must be in (0, 1], got {s.loading}")


@dataclass
class Diseases:
    """The simulated diseases, D of them over N individuals.

    Attributes:
        specs: the diseases, length D.
        liability: float64, shape (N, D), L.
        status: int8, shape (N, D), ``CONTROL`` or ``CASE``.
        threshold: float64, shape (D,), the liability threshold (midway between the lowest
            case and the highest control).
        scale: float64, shape (D,), c r / SD(Y_t): the liability per unit of the trait.
        realised_h2: float64, shape (D,), Var(r G_t / SD(Y_t)) / Var(L) in the cohort.
        h2_given_covariates: float64, shape (D,), the same once the trait's age, sex and
            ancestry effects are removed: Var(g) / Var(g + c r N_t / SD(Y_t) + c sqrt(1 - r^2) e)
            (N_t the trait's noise), what a covariate-adjusted estimate converts to.
    """

    specs: tuple[DiseaseSpec, ...]
    liability: np.ndarray
    status: np.ndarray
    threshold: np.ndarray
    scale: np.ndarray
    realised_h2: np.ndarray
    h2_given_covariates: np.ndarray

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.specs]

    def status_frame(self) -> pd.DataFrame:
        """``diseases.tsv``'s values, shape (N, D)."""
        return pd.DataFrame(self.status, columns=self.names)


def simulate_diseases(*, rngs: list[np.random.Generator], specs: tuple[DiseaseSpec, ...],
                      latent: pd.DataFrame, genetic: np.ndarray,
                      noise: np.ndarray) -> Diseases:
    """Liabilities and case/control status of ``specs`` (one generator per disease).

    Args:
        latent: the latent traits Y, shape (N, T), columns the trait names.
        genetic: their genetic values G, shape (N, T) (``LatentTraits.genetic``).
        noise: their Gaussian noise N_t, shape (N, T) (the environment less age, sex and
            ancestry; ``LatentTraits.noise``).
    """
    n, d = len(latent), len(specs)
    names = list(latent.columns)
    liability = np.zeros((n, d))
    status = np.empty((n, d), dtype=np.int8)
    threshold, scale = np.zeros(d), np.zeros(d)
    h2, h2_cov = np.zeros(d), np.zeros(d)
    for k, (s, rng) in enumerate(zip(specs, rngs)):
        t = names.index(s.trait)
        y = latent.iloc[:, t].to_numpy()
        e = np.sqrt(1 - s.loading ** 2) * rng.standard_normal(n)
        raw = s.loading * y / y.std() + e
        unit = 1 / raw.std()  # the liability has mean 0 and variance 1 in the cohort
        scale[k] = unit * s.loading / y.std()
        e = unit * e
        g = scale[k] * genetic[:, t]
        liab = scale[k] * y + e
        liab = liab - liab.mean()
        liability[:, k] = liab
        n_cases = int(min(max(round(s.prevalence * n), 1), n - 1))
        order = np.argsort(-liab, kind="stable")
        status[:, k] = CONTROL
        status[order[:n_cases], k] = CASE
        threshold[k] = (liab[order[n_cases - 1]] + liab[order[n_cases]]) / 2
        h2[k] = g.var() / liab.var()
        h2_cov[k] = g.var() / (g + scale[k] * noise[:, t] + e).var()
    return Diseases(specs=tuple(specs), liability=liability, status=status,
                    threshold=threshold, scale=scale, realised_h2=h2, h2_given_covariates=h2_cov)


def disease_truth(*, diseases: Diseases, traits: dict) -> dict:
    """truth.json's ``diseases``: one entry per disease (``traits``: truth.json's ``traits``,
    whose causal variants and burden genes the diseases inherit, effects rescaled to the
    liability)."""
    from ..heritability.liability import liability_factor
    from .truth import _r

    out = {}
    for k, s in enumerate(diseases.specs):
        t = traits[s.trait]
        a = diseases.scale[k]
        var_l = float(diseases.liability[:, k].var())
        cases = diseases.status[:, k] == CASE
        p = float(cases.mean())
        causal = [{**c, "beta": _r(a * c["beta"]),
                   "variance_explained": _r(c["variance_explained"] * t["variance"] * a * a
                                            / var_l)}
                  for c in t["causal_variants"]]
        genes = [{"gene": g["gene"], "effect": _r(a * g["effect"]),
                  "carrier_frequency": g["carrier_frequency"],
                  "variance_explained": _r(g["variance_explained"] * t["variance"] * a * a
                                           / var_l)}
                 for g in t["burden_genes"]]
        out[s.name] = {
            "file": STATUS_FILE, "column": s.name,
            "coding": {"control": CONTROL, "case": CASE, "missing": "NA (none missing)"},
            "liability_file": LIABILITY_FILE, "liability_column": f"{s.name}_liability",
            "prevalence": s.prevalence,
            "sample_prevalence": _r(p),
            "n_cases": int(cases.sum()), "n_controls": int((~cases).sum()),
            "threshold": _r(diseases.threshold[k]),
            "trait": s.trait, "loading": s.loading,
            "image_property": t["image_property"],
            "liability_per_trait_unit": _r(a),
            "realised_h2_liability": _r(diseases.realised_h2[k]),
            "realised_h2_liability_given_covariates": _r(diseases.h2_given_covariates[k]),
            # Lee et al. 2011 (AJHG 88:294) eq. 23, solved for the observed scale
            "expected_h2_observed_scale_given_covariates": _r(
                diseases.h2_given_covariates[k]
                / liability_factor(prevalence=s.prevalence, sample_prevalence=p)),
            "liability_variance": _r(var_l),
            "causal_variants": causal,
            "burden_genes": genes,
            "polygenic_variants": f"those of traits.{s.trait}.polygenic_variants, each beta "
                                  f"times liability_per_trait_unit",
        }
    return out
