"""Binary phenotypes: detection, and heritability on the liability scale.

A case/control phenotype coded 0/1 or 1/2 (control/case, as PLINK reads them) is analysed as
it is, by REML or HE on the 0/1 (observed) scale. Under the liability-threshold model (a
normal liability, cases above the threshold of population prevalence ``K``) the observed-scale
heritability converts to the liability scale by Lee et al. (2011), AJHG 88:294, eq. 23:

    h2_L = h2_O K^2 (1 - K)^2 / (P (1 - P) z^2),    z = phi(Phi^-1(1 - K)),

with ``P`` the case share of the analysed sample; with ``P != K`` (an ascertained case/control
sample) the same expression corrects for the ascertainment. The standard error scales by the
same factor. The 1/2 coding gives the same h2_O as 0/1 (a shift leaves every variance
component unchanged).

Genetic correlations need no conversion: the transformation to the liability scale multiplies
each trait's genetic and residual (co)variances by constants, which cancel in
``rg = cov_g / sqrt(var_g1 var_g2)``; the rg of a binary phenotype is its liability-scale rg.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from ..errors import InputError

#: columns added to ``.h2.tsv`` when a phenotype is binary (NA for quantitative ones)
LIABILITY_COLUMNS = ["sample_prevalence", "prevalence", "h2_liability", "se_liability"]
#: the codings recognised as case/control: (control, case)
CODINGS = ((0.0, 1.0), (1.0, 2.0))


def binary_coding(y: np.ndarray) -> tuple[float, float] | None:
    """``(control, case)`` when the observed values of ``y`` (shape (N,), NaN missing) are
    exactly two levels 0/1 or 1/2; else None (quantitative, or constant)."""
    levels = np.unique(y[~np.isnan(y)])
    if len(levels) != 2:
        return None
    pair = (float(levels[0]), float(levels[1]))
    return pair if pair in CODINGS else None


def liability_factor(*, prevalence: float, sample_prevalence: float) -> float:
    """``K^2 (1 - K)^2 / (P (1 - P) z^2)``: h2_L / h2_O (Lee et al. 2011, eq. 23)."""
    k, p = prevalence, sample_prevalence
    if not (0 < k < 1 and 0 < p < 1):
        raise ValueError(f"prevalence {k} and sample prevalence {p} must be in (0, 1)")
    z = NormalDist().pdf(NormalDist().inv_cdf(1 - k))
    return k * k * (1 - k) ** 2 / (p * (1 - p) * z * z)


@dataclass
class LiabilityScale:
    """A binary phenotype's heritability on the liability scale.

    Attributes:
        phenotype: its name.
        sample_prevalence: P, the case share of the individuals analysed.
        prevalence: K, the population prevalence given (NaN: none given, the h2 stays on the
            observed scale).
        h2, se: h2_L and its standard error (NaN without K, or when h2_O is NaN).
    """

    phenotype: str
    sample_prevalence: float
    prevalence: float = float("nan")
    h2: float = float("nan")
    se: float = float("nan")

    def as_row(self) -> dict:
        """The liability columns of the ``.h2.tsv`` row."""
        return {"sample_prevalence": self.sample_prevalence, "prevalence": self.prevalence,
                "h2_liability": self.h2, "se_liability": self.se}

    def summary(self) -> str:
        if np.isnan(self.prevalence):
            return (f"{self.phenotype}: binary (case share {self.sample_prevalence:.4g}); h2 on "
                    f"the observed 0/1 scale (no --prevalence given)")
        return (f"{self.phenotype}: binary (case share {self.sample_prevalence:.4g}, prevalence "
                f"{self.prevalence:.4g}): liability-scale h2 = {self.h2:.4f} (se {self.se:.4f})")


def to_liability(*, phenotype: str, h2: float, se: float, sample_prevalence: float,
                 prevalence: float | None) -> LiabilityScale:
    """The liability-scale h2 of an observed-scale ``h2`` (± ``se``); NaN without prevalence."""
    if prevalence is None:
        return LiabilityScale(phenotype=phenotype, sample_prevalence=sample_prevalence)
    f = liability_factor(prevalence=prevalence, sample_prevalence=sample_prevalence)
    return LiabilityScale(phenotype=phenotype, sample_prevalence=sample_prevalence,
                          prevalence=prevalence, h2=h2 * f, se=se * f)


def parse_prevalences(items: Sequence[str]) -> dict[str | None, float]:
    """``NAME=K`` items (and at most one bare ``K`` for every other binary phenotype; key
    None) -> prevalences. InputError for a malformed item, a repeated name, or K outside
    (0, 1)."""
    out: dict[str | None, float] = {}
    for item in items:
        m = re.fullmatch(r"(?:([^=\s]+)=)?([^=\s]+)", item.strip())
        if m is None:
            raise InputError(f"--prevalence: {item!r} is not NAME=K or K")
        name, value = m.groups()
        try:
            k = float(value)
        except ValueError:
            raise InputError(f"--prevalence: {item!r}: the prevalence {value!r} is not a "
                             f"number") from None
        if not 0 < k < 1:
            raise InputError(f"--prevalence: {item!r}: the prevalence must be in (0, 1)")
        if name in out:
            raise InputError(f"--prevalence: {'a bare K' if name is None else name!r} given "
                             f"twice")
        out[name] = k
    return out


def resolve_prevalences(given: Mapping[str | None, float], *, binary: Sequence[str],
                        names: Sequence[str]) -> dict[str, float]:
    """The prevalence of each binary phenotype: by name, else the bare value (key None).

    Raises:
        InputError for a name that is not a phenotype, or not a binary one.
    """
    for name in given:
        if name is None:
            continue
        if name not in names:
            raise InputError(f"--prevalence {name}: no phenotype {name!r} (phenotypes are "
                             f"{list(names)})")
        if name not in binary:
            raise InputError(f"--prevalence {name}: {name!r} is not a binary phenotype (two "
                             f"levels, 0/1 or 1/2); binary phenotypes: {list(binary) or 'none'}")
    if None in given and not binary:
        raise InputError("--prevalence: no phenotype is binary (two levels, 0/1 or 1/2)")
    out = {}
    for b in binary:
        k = given.get(b, given.get(None))
        if k is not None:
            out[b] = k
    return out


def sample_prevalences(values: np.ndarray, names: Sequence[str]) -> dict[str, float]:
    """The binary columns of ``values`` (shape (N, T), NaN missing) and their case shares over
    the individuals where each is observed, in column order."""
    out = {}
    for t, name in enumerate(names):
        y = values[:, t]
        coding = binary_coding(y)
        if coding is not None:
            obs = y[~np.isnan(y)]
            out[name] = float(np.mean(obs == coding[1]))
    return out


def liability_notes(scales: Mapping[str, LiabilityScale]) -> list[str]:
    """What ``estimate_heritability`` did with the binary phenotypes, for the log."""
    if not scales:
        return []
    conv = [n for n, s in scales.items() if not np.isnan(s.prevalence)]
    obs = [n for n, s in scales.items() if np.isnan(s.prevalence)]
    notes = [f"binary phenotypes (two levels, 0/1 or 1/2): {list(scales)}; h2 is estimated on "
             f"the observed 0/1 scale"]
    if conv:
        notes.append(f"liability-scale h2 (Lee et al. 2011, AJHG 88:294, eq. 23; from the "
                     f"prevalence and each phenotype's case share) for {conv}")
    if obs:
        notes.append(f"no --prevalence for {obs}: their h2 stays on the observed scale, which "
                     f"depends on the case share (give the population prevalence for the "
                     f"liability scale)")
    notes.append("genetic correlations of binary phenotypes are reported as estimated: rg is "
                 "the same on the observed and the liability scale")
    return notes
