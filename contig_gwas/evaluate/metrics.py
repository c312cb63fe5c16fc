"""Downstream metrics in closed form (checked against scikit-learn in the tests).

- accuracy: share of exact predictions.
- AUROC: the Mann-Whitney U statistic / (n_pos n_neg), ties counted one half (average ranks);
  several classes: the unweighted mean of one-vs-rest AUROCs over classes present (macro, as
  ``roc_auc_score(..., multi_class='ovr', average='macro')``).
- quadratic-weighted kappa (Cohen 1968): ``1 - sum(W O) / sum(W E)`` with ``W_ij = (i - j)^2``,
  ``O`` the confusion matrix and ``E`` the outer product of its margins / n, over the levels
  seen in either vector.
- R2: ``1 - SS_res / SS_tot``.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

KINDS = ("class", "grade", "continuous")
PRIMARY = {"class": "auroc", "grade": "qwk", "continuous": "r2"}


def accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    y, pred = np.asarray(y), np.asarray(pred)
    return float(np.mean(y == pred)) if len(y) else float("nan")


def auroc_binary(y: np.ndarray, score: np.ndarray) -> float:
    """AUROC of ``score`` for ``y`` in {0, 1} (bool); NaN if one class is absent."""
    y = np.asarray(y).astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    r = rankdata(np.asarray(score, dtype=float))
    return float((r[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def auroc(y: np.ndarray, scores: np.ndarray, *, classes: np.ndarray | None = None) -> float:
    """Binary (``scores`` shape (n,) for the larger class, or (n, 2)) or macro one-vs-rest
    (``scores`` (n, C) with columns in ``classes`` order, default the sorted labels)."""
    y = np.asarray(y)
    s = np.asarray(scores, dtype=float)
    classes = np.unique(y) if classes is None else np.asarray(classes)
    if s.ndim == 1:
        return auroc_binary(y == classes[-1], s)
    if s.shape[1] == 2:
        return auroc_binary(y == classes[1], s[:, 1])
    vals = [auroc_binary(y == c, s[:, j]) for j, c in enumerate(classes) if np.any(y == c)]
    vals = [v for v in vals if not np.isnan(v)]
    return float(np.mean(vals)) if vals else float("nan")


def quadratic_weighted_kappa(y: np.ndarray, pred: np.ndarray) -> float:
    """Cohen's kappa with quadratic weights over the union of levels (integers or labels)."""
    y, pred = np.asarray(y), np.asarray(pred)
    levels = np.unique(np.concatenate([y, pred]))
    k = len(levels)
    if k < 2:
        return float("nan")
    yi, pi = np.searchsorted(levels, y), np.searchsorted(levels, pred)
    obs = np.zeros((k, k))
    np.add.at(obs, (yi, pi), 1.0)
    exp = np.outer(obs.sum(1), obs.sum(0)) / obs.sum()
    idx = np.arange(k)
    w = (idx[:, None] - idx[None, :]) ** 2
    den = float((w * exp).sum())
    return float(1.0 - (w * obs).sum() / den) if den > 0 else float("nan")


def r2(y: np.ndarray, pred: np.ndarray) -> float:
    y, pred = np.asarray(y, dtype=float), np.asarray(pred, dtype=float)
    ss_tot = float(((y - y.mean()) ** 2).sum())
    if ss_tot == 0:
        return float("nan")
    return float(1.0 - ((y - pred) ** 2).sum() / ss_tot)


def compute_metrics(*, kind: str, y: np.ndarray, pred: np.ndarray,
                    scores: np.ndarray | None = None,
                    classes: np.ndarray | None = None) -> dict[str, float]:
    """The metrics fit for ``kind``: class -> accuracy, auroc; grade -> qwk, accuracy, r2 (of
    the continuous ``scores``); continuous -> r2, pearson_r."""
    if kind == "class":
        if scores is None:
            raise ValueError("class metrics need the class scores (AUROC)")
        return {"auroc": auroc(y, scores, classes=classes), "accuracy": accuracy(y, pred)}
    if kind == "grade":
        out = {"qwk": quadratic_weighted_kappa(y, pred), "accuracy": accuracy(y, pred)}
        if scores is not None:
            out["r2"] = r2(y, scores)
        return out
    if kind == "continuous":
        p = np.asarray(pred, dtype=float)
        r = float(np.corrcoef(y, p)[0, 1]) if np.std(p) > 0 and np.std(y) > 0 else float("nan")
        return {"r2": r2(y, p), "pearson_r": r}
    raise ValueError(f"unknown kind {kind!r}; choose from {KINDS}")
