"""Linear probe on frozen features (scikit-learn).

Features are standardised on the training rows. The model by label kind:

- ``class``: multinomial logistic regression, L2 penalty chosen by 3-fold cross-validation on
  the training rows (``LogisticRegressionCV``); predictions are the most probable class, scores
  the class probabilities.
- ``grade`` (ordinal levels): ridge regression of the grade (penalty by efficient leave-one-out,
  ``RidgeCV``); the prediction is the continuous score rounded to the nearest level and clipped
  to the levels seen in training (regression-and-round, as usual for retinopathy grading with
  quadratic-weighted kappa).
- ``continuous``: ridge regression (``RidgeCV``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

RIDGE_ALPHAS = np.logspace(-2, 5, 15)
LOGISTIC_CS = np.logspace(-4, 2, 7)


@dataclass
class Prediction:
    """Predictions for the test rows.

    Attributes:
        pred: (n,) predicted labels (class, grade) or values (continuous).
        scores: (n,) continuous scores (grade, continuous) or (n, C) class probabilities.
        classes: the class labels (column order of ``scores``) or the grade levels.
    """

    pred: np.ndarray
    scores: np.ndarray
    classes: np.ndarray | None = None


def round_to_levels(score: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Nearest level of each score (levels sorted; ties go to the lower level)."""
    levels = np.sort(np.asarray(levels, dtype=float))
    idx = np.abs(np.asarray(score, dtype=float)[:, None] - levels[None, :]).argmin(axis=1)
    return levels[idx]


def linear_probe(*, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, kind: str,
                 seed: int = 0) -> Prediction:
    """Fit on (``x_train`` (n, D), ``y_train`` (n,)); predict ``x_test`` (m, D)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegressionCV, RidgeCV
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x_train)
    xtr, xte = scaler.transform(x_train), scaler.transform(x_test)
    if kind == "class":
        classes, counts = np.unique(y_train, return_counts=True)
        if len(classes) < 2:
            raise ValueError("the training rows hold one class only")
        folds = int(min(3, counts.min())) if counts.min() >= 2 else 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", FutureWarning)     # sklearn API transitions
            if folds >= 2:
                clf = LogisticRegressionCV(Cs=LOGISTIC_CS, cv=folds, max_iter=2000,
                                           scoring="neg_log_loss", random_state=seed)
            else:
                from sklearn.linear_model import LogisticRegression
                clf = LogisticRegression(C=1.0, max_iter=2000, random_state=seed)
            clf.fit(xtr, y_train)
        proba = clf.predict_proba(xte)
        return Prediction(pred=clf.classes_[proba.argmax(1)], scores=proba,
                          classes=clf.classes_)
    reg = RidgeCV(alphas=RIDGE_ALPHAS).fit(xtr, np.asarray(y_train, dtype=float))
    score = reg.predict(xte)
    if kind == "grade":
        levels = np.unique(y_train)
        return Prediction(pred=round_to_levels(score, levels).astype(levels.dtype),
                          scores=score, classes=levels)
    return Prediction(pred=score, scores=score)
