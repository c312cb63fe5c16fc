"""Rank-based inverse-normal transform (Blom) of phenotypes, with or without covariates.

- ``marginal``: INT of each column.
- ``adjusted``: each column is regressed on the covariates (with an intercept) by least squares
  and the residuals are INT-transformed, as the ContIG GWAS and transferGWAS did. Because the
  INT is nonlinear it reintroduces a small correlation with the covariates (McCaw et al., 2020,
  Biometrics 76:1262); by default (``reproject=True``) the covariates are regressed out of the
  transformed values once more and the result restandardised, so the output is exactly
  uncorrelated with every covariate in the sample and still close to normal.
  ``reproject=False`` gives the paper's transform unchanged.

INT: ``Phi^-1((r - 3/8) / (n - 3/4 + 1))`` with ranks ``r`` (ties averaged) over the non-missing
values; the result is then standardised to mean 0 and variance 1 (ddof=1), which keeps the
rank order. Missing values (NaN, or any missing covariate with ``adjusted``) stay missing.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from ..errors import InputError

BLOM_C = 3.0 / 8.0


def inverse_normal(x: np.ndarray, *, c: float = BLOM_C, standardise: bool = True) -> np.ndarray:
    """Rank-based inverse-normal transform of a vector (NaN kept)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.full(x.shape, np.nan)
    ok = ~np.isnan(x)
    n = int(ok.sum())
    if n == 0:
        return out
    r = stats.rankdata(x[ok])
    z = stats.norm.ppf((r - c) / (n - 2 * c + 1))
    if standardise and n > 1 and z.std(ddof=1) > 0:
        z = (z - z.mean()) / z.std(ddof=1)
    out[ok] = z
    return out


def residualise(y: np.ndarray, *, covariates: np.ndarray) -> np.ndarray:
    """Residuals of each column of ``y`` (N, K) on ``covariates`` (N, C) plus an intercept.

    Rows with a missing covariate or value give NaN in that column.
    """
    y = np.asarray(y, dtype=np.float64)
    c = np.asarray(covariates, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if c.ndim == 1:
        c = c[:, None]
    if len(c) != len(y):
        raise InputError(f"covariates have {len(c)} rows, phenotypes {len(y)}")
    design = np.column_stack([np.ones(len(y)), c])
    res = np.full(y.shape, np.nan)
    row_ok = np.isfinite(design).all(axis=1)
    for k in range(y.shape[1]):
        ok = row_ok & np.isfinite(y[:, k])
        if ok.sum() <= np.linalg.matrix_rank(design[ok]):
            raise InputError(f"too few individuals with all covariates ({int(ok.sum())}) to "
                             f"regress {design.shape[1] - 1} covariates out")
        beta, *_ = np.linalg.lstsq(design[ok], y[ok, k], rcond=None)
        res[ok, k] = y[ok, k] - design[ok] @ beta
    return res


def transform_phenotypes(y: np.ndarray, *, mode: str, covariates: np.ndarray | None = None,
                         reproject: bool = True) -> np.ndarray:
    """Apply ``mode`` (``adjusted``, ``marginal`` or ``none``) to every column of ``y`` (N, K)."""
    y = np.asarray(y, dtype=np.float64)
    if mode == "none":
        return y.copy()
    if mode == "adjusted":
        if covariates is None:
            raise InputError("--int adjusted needs --covar")
        y = residualise(y, covariates=covariates)
    elif mode != "marginal":
        raise InputError(f"--int must be adjusted, marginal or none, got {mode!r}")
    z = np.column_stack([inverse_normal(y[:, k]) for k in range(y.shape[1])])
    if mode == "adjusted" and reproject:
        assert covariates is not None  # --int adjusted without covariates is refused above
        z = residualise(z, covariates=covariates)
        z = (z - np.nanmean(z, axis=0)) / np.nanstd(z, axis=0, ddof=1)
    return z
