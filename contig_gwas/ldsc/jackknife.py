"""Block jackknife of a least-squares fit, and iteratively re-weighted least squares, as in ldsc.

ldsc ``ldscore/jackknife.py`` (``LstsqJackknifeFast``, ``Jackknife.jknife``,
``delete_values_to_pseudovalues``, ``get_separators``) and ``ldscore/irwls.py`` (``IRWLS``):

- separators: ``floor(linspace(0, n, n_blocks + 1))`` (contiguous blocks of rows);
- delete value of block b: ``(X'X - X_b'X_b)^-1 (X'y - X_b'y_b)``;
- pseudovalues: ``B est - (B - 1) delete_b``; jackknife covariance: the covariance of the
  pseudovalues (ddof 1) over B;
- IRWLS: rows weighted by sqrt(w) (normalised to sum 1), two updates of w from the fit, then
  the jackknife of the fit with the last weights.

Reference: Efron & Stein (1981) Ann Stat 9:586; Bulik-Sullivan et al. (2015) Nat Genet 47:291.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["Jackknife", "get_separators", "lstsq_jackknife", "irwls", "pseudovalue_cov"]


@dataclass
class Jackknife:
    """A block-jackknifed estimate of p parameters.

    Attributes:
        est: shape (p,): the whole-data estimate.
        delete_values: shape (B, p): the estimate without each block.
        separators: int, shape (B + 1,): block boundaries in rows.
        cov: shape (p, p): jackknife covariance of the estimate.
    """

    est: np.ndarray
    delete_values: np.ndarray
    separators: np.ndarray
    cov: np.ndarray

    @property
    def se(self) -> np.ndarray:
        """shape (p,)."""
        return np.sqrt(np.diag(self.cov))


def get_separators(n: int, n_blocks: int) -> np.ndarray:
    """Evenly spaced block boundaries over n rows, shape (n_blocks + 1,)."""
    if n_blocks > n:
        raise ValueError(f"more jackknife blocks ({n_blocks}) than data points ({n})")
    return np.floor(np.linspace(0, n, n_blocks + 1)).astype(np.int64)


def pseudovalue_cov(delete_values: np.ndarray, est: np.ndarray) -> np.ndarray:
    """Jackknife covariance, shape (p, p): ``cov(B est - (B - 1) delete) / B``."""
    nb = delete_values.shape[0]
    pseudo = nb * est[None, :] - (nb - 1) * delete_values
    return np.atleast_2d(np.cov(pseudo.T, ddof=1) / nb)


def lstsq_jackknife(x: np.ndarray, y: np.ndarray, *,
                    separators: np.ndarray) -> Jackknife:
    """Least squares ``y ~ x`` with its block jackknife (ldsc's ``LstsqJackknifeFast``).

    Args:
        x: shape (n, p); y: shape (n,); separators: block boundaries, shape (B + 1,).
    """
    sep = np.asarray(separators, dtype=np.int64)
    xtx = np.stack([x[a:b].T @ x[a:b] for a, b in zip(sep[:-1], sep[1:])])   # (B, p, p)
    xty = np.stack([x[a:b].T @ y[a:b] for a, b in zip(sep[:-1], sep[1:])])   # (B, p)
    tot_xtx, tot_xty = xtx.sum(axis=0), xty.sum(axis=0)
    est = np.linalg.solve(tot_xtx, tot_xty)
    delete = np.linalg.solve(tot_xtx[None] - xtx, (tot_xty[None] - xty)[..., None])[..., 0]
    return Jackknife(est=est, delete_values=delete, separators=sep,
                     cov=pseudovalue_cov(delete, est))


def _weighted(x: np.ndarray, sqrt_w: np.ndarray) -> np.ndarray:
    """Rows of x times sqrt_w normalised to sum 1 (ldsc ``IRWLS._weight``)."""
    if np.any(sqrt_w <= 0):
        raise ValueError("regression weights must be > 0")
    w = sqrt_w / float(np.sum(sqrt_w))
    return x * (w[:, None] if x.ndim == 2 else w)


def irwls(x: np.ndarray, y: np.ndarray, *, update: Callable[[np.ndarray], np.ndarray],
          w: np.ndarray, separators: np.ndarray) -> Jackknife:
    """Iteratively re-weighted least squares with a block jackknife (ldsc ``IRWLS.irwls``).

    Args:
        x: shape (n, p); y: shape (n,).
        update: coefficients, shape (p,) -> new weights (inverse-variance scale), shape (n,).
        w: initial weights (inverse-variance scale), shape (n,).
        separators: jackknife block boundaries.
    """
    sw = np.sqrt(w)
    for _ in range(2):
        coef = np.linalg.lstsq(_weighted(x, sw), _weighted(y, sw), rcond=None)[0]
        sw = np.sqrt(update(coef))
    return lstsq_jackknife(_weighted(x, sw), _weighted(y, sw), separators=separators)
