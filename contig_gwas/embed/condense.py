"""PCA condensation of embeddings (as transferGWAS and the ContIG GWAS did).

Computed by the thin SVD of the column-centred matrix (features not scaled). Signs are fixed so
that the loading of largest absolute value of each component is positive (deterministic across
runs and platforms, as scikit-learn's ``svd_flip``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError


@dataclass
class PCAResult:
    """Principal components.

    Attributes:
        scores: (N, K) component scores, ``(X - mean) @ components.T``.
        components: (K, D) unit loadings.
        explained_variance: (K,) variance of each score (ddof=1).
        explained_variance_ratio: (K,) share of the total variance of X.
        mean: (D,) column means removed.
    """

    scores: np.ndarray
    components: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray
    mean: np.ndarray


def pca(x: np.ndarray, *, n_components: int) -> PCAResult:
    """PCA of ``x`` (N, D) to ``n_components``; InputError if there are too few rows/columns."""
    x = np.asarray(x, dtype=np.float64)
    n, d = x.shape
    kmax = min(n - 1, d)
    if n_components < 1 or n_components > kmax:
        raise InputError(f"cannot take {n_components} principal components of {n} individuals x "
                         f"{d} features (at most {kmax})")
    if not np.isfinite(x).all():
        raise InputError("embeddings contain non-finite values (NaN or inf)")
    mean = x.mean(axis=0)
    xc = x - mean
    u, s, vt = np.linalg.svd(xc, full_matrices=False)
    k = n_components
    u, s, vt = u[:, :k], s[:k], vt[:k]
    sign = np.sign(vt[np.arange(k), np.argmax(np.abs(vt), axis=1)])
    sign[sign == 0] = 1
    u, vt = u * sign, vt * sign[:, None]
    var = s ** 2 / (n - 1)
    total = (xc ** 2).sum() / (n - 1)
    return PCAResult(scores=u * s, components=vt, explained_variance=var,
                     explained_variance_ratio=var / total if total > 0 else np.zeros(k),
                     mean=mean)
