"""Calibration harness: do the estimators recover a known h2 / rg with honest SEs?

Phenotypes are simulated on one fixed similarity ``K = Z Z' / m`` (``Z`` standardised
genotypes) with one eigendecomposition ``K = U diag(S) U'``, so replicates are cheap: a genetic
value ``g = Z b / sqrt(m)`` with ``b ~ N(0, I)`` has covariance K, a replicate costs
O(N M + N^2) (simulate, rotate) plus one REML fit, and REML never re-decomposes K.

The checks follow ldsc's calibration tests: over R replicates the mean estimate lies within
``z_max`` mean-SEs / sqrt(R) of the truth, and the mean reported SE is within ``ratio_tol`` of
the empirical SD of the estimates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bivariate import bivariate_reml
from .he import he_regression, lower_rows_from_matrix
from .reml import reml_h2


@dataclass
class Calibration:
    """Replicated estimates of one quantity with a known true value.

    Attributes:
        what: label (e.g. ``REML h2``).
        truth: the simulated value.
        estimates, ses: per replicate, shape (R,).
        flags: per replicate.
    """

    what: str
    truth: float
    estimates: np.ndarray
    ses: np.ndarray
    flags: list[str]

    @property
    def reps(self) -> int:
        return len(self.estimates)

    @property
    def mean(self) -> float:
        return float(np.mean(self.estimates))

    @property
    def mean_se(self) -> float:
        return float(np.mean(self.ses))

    @property
    def sd(self) -> float:
        return float(np.std(self.estimates, ddof=1))

    @property
    def bias_z(self) -> float:
        """(mean - truth) / (mean SE / sqrt(R))."""
        return (self.mean - self.truth) / (self.mean_se / np.sqrt(self.reps))

    @property
    def se_ratio(self) -> float:
        """mean reported SE / empirical SD."""
        return self.mean_se / self.sd

    def passes(self, *, z_max: float = 2.0, ratio_tol: float = 0.25) -> bool:
        return (abs(self.bias_z) <= z_max and abs(self.se_ratio - 1) <= ratio_tol
                and bool(np.all(np.isfinite(self.estimates)))
                and bool(np.all(np.isfinite(self.ses))))

    def summary(self) -> str:
        return (f"{self.what}: truth {self.truth:.3f}, mean {self.mean:.4f} over {self.reps} reps "
                f"(z = {self.bias_z:+.2f}), mean SE {self.mean_se:.4f}, SD {self.sd:.4f}, "
                f"SE/SD {self.se_ratio:.3f}")


def random_genotypes(*, n: int, m: int, seed: int,
                     maf: tuple[float, float] = (0.05, 0.5)) -> np.ndarray:
    """Standardised genotypes of ``n`` unrelated individuals at ``m`` random SNPs, shape (n, m'):
    every column has mean 0 and variance 1 (ddof 0); monomorphic columns are dropped."""
    rng = np.random.default_rng(seed)
    f = rng.uniform(*maf, size=m)
    G = rng.binomial(2, f, size=(n, m)).astype(np.float64)
    G -= G.mean(axis=0)
    sd = G.std(axis=0)
    return G[:, sd > 0] / sd[sd > 0]


def random_grm(*, n: int, m: int, seed: int, maf: tuple[float, float] = (0.05, 0.5)) -> np.ndarray:
    """A standardised GRM ``Z Z' / m`` of ``random_genotypes`` (mean diagonal exactly 1).

    Few SNPs relative to individuals give a strongly structured K (off-diagonal SD about
    1/sqrt(m)) and hence small SEs, which keeps small calibration runs informative.
    """
    Z = random_genotypes(n=n, m=m, seed=seed, maf=maf)
    return Z @ Z.T / Z.shape[1]


def simulate_traits(*, rng: np.random.Generator, Z: np.ndarray, X: np.ndarray,
                    sigma_g: np.ndarray, sigma_e: np.ndarray) -> np.ndarray:
    """Phenotypes ``Y = Z B / sqrt(m) + E + X b``, shape (n, T): genetic covariance
    ``sigma_g (x) K`` with ``K = Z Z' / m``, residual covariance ``sigma_e (x) I``.

    Simulated in the original basis (not the eigenbasis), so a replicate does not depend on the
    arbitrary basis LAPACK picks for repeated eigenvalues: results are reproducible across
    BLAS builds and thread counts.
    """
    n, m = Z.shape
    t = sigma_g.shape[0]
    B = rng.standard_normal((m, t)) @ np.linalg.cholesky(sigma_g).T
    E = rng.standard_normal((n, t)) @ np.linalg.cholesky(sigma_e).T
    b = np.linspace(0.3, 1.0, X.shape[1] * t).reshape(X.shape[1], t)
    return Z @ B / np.sqrt(m) + E + X @ b


def calibrate_reml_h2(*, Z: np.ndarray, U: np.ndarray, S: np.ndarray, X: np.ndarray,
                      h2: float, reps: int, seed: int) -> Calibration:
    """REML h2 (engine fit + curvature SE) over ``reps`` phenotypes simulated at ``h2`` on
    ``K = Z Z' / m = U diag(S) U'``."""
    rng = np.random.default_rng(seed)
    UtX = U.T @ X
    est, se, flags = [], [], []
    for _ in range(reps):
        y = simulate_traits(rng=rng, Z=Z, X=X, sigma_g=np.array([[h2]]),
                            sigma_e=np.array([[1 - h2]]))[:, 0]
        r = reml_h2(S=S, UtX=UtX, Uty=U.T @ y)
        est.append(r.h2)
        se.append(r.se)
        flags.append(r.flag)
    return Calibration(what="REML h2", truth=h2, estimates=np.array(est), ses=np.array(se),
                       flags=flags)


def _pair_cov(h2: tuple[float, float], rg: float, re: float) -> tuple[np.ndarray, np.ndarray]:
    g12 = rg * np.sqrt(h2[0] * h2[1])
    e12 = re * np.sqrt((1 - h2[0]) * (1 - h2[1]))
    return (np.array([[h2[0], g12], [g12, h2[1]]]),
            np.array([[1 - h2[0], e12], [e12, 1 - h2[1]]]))


def calibrate_reml_rg(*, Z: np.ndarray, U: np.ndarray, S: np.ndarray, X: np.ndarray,
                      h2: tuple[float, float], rg: float, re: float, reps: int,
                      seed: int) -> Calibration:
    """Bivariate REML rg over ``reps`` trait pairs with genetic correlation ``rg`` and
    residual correlation ``re``."""
    rng = np.random.default_rng(seed)
    sg, se_ = _pair_cov(h2, rg, re)
    UtX = U.T @ X
    est, se, flags = [], [], []
    for _ in range(reps):
        Y = simulate_traits(rng=rng, Z=Z, X=X, sigma_g=sg, sigma_e=se_)
        r = bivariate_reml(S=S, UtX=UtX, UtY=U.T @ Y)
        est.append(r.rg)
        se.append(r.se)
        flags.append(r.flag)
    return Calibration(what="REML rg", truth=rg, estimates=np.array(est), ses=np.array(se),
                       flags=flags)


def calibrate_he(*, Z: np.ndarray, X: np.ndarray, h2: tuple[float, float], rg: float,
                 re: float, reps: int, seed: int, traces=None) -> list[Calibration]:
    """HE h2 of both traits and HE rg over ``reps`` simulated pairs.

    Returns the jackknife calibrations (h2 of trait 1, of trait 2, rg) and, when ``traces``
    (``he.he_traces`` of K) is given, the moment-SE calibrations of the same replicates.
    """
    rng = np.random.default_rng(seed)
    sg, se_ = _pair_cov(h2, rg, re)
    K = Z @ Z.T / Z.shape[1]
    kinds = ["jackknife"] + ([] if traces is None else ["moment"])
    est: dict[str, list[float]] = {"h1": [], "h2": [], "rg": []}
    ses: dict[tuple[str, str], list[float]] = {(k, q): [] for k in kinds for q in est}
    for r in range(reps):
        Y = simulate_traits(rng=rng, Z=Z, X=X, sigma_g=sg, sigma_e=se_)
        fit = he_regression(Y=Y, X=X, lower_rows=lower_rows_from_matrix(K), seed=r)
        h = fit.h2
        g, g_se = fit.rg(0, 1)
        est["h1"].append(h[0])
        est["h2"].append(h[1])
        est["rg"].append(g)
        jk = fit.h2_se_jackknife
        ses[("jackknife", "h1")].append(jk[0])
        ses[("jackknife", "h2")].append(jk[1])
        ses[("jackknife", "rg")].append(g_se)
        if traces is not None:
            fit.traces = traces
            mo = fit.h2_se
            ses[("moment", "h1")].append(mo[0])
            ses[("moment", "h2")].append(mo[1])
            ses[("moment", "rg")].append(fit.rg(0, 1)[1])
    truth = {"h1": h2[0], "h2": h2[1], "rg": rg}
    return [Calibration(what=f"HE ({k} SE) {q}", truth=truth[q], estimates=np.array(est[q]),
                        ses=np.array(ses[(k, q)]), flags=["ok"] * reps)
            for k in kinds for q in est]
