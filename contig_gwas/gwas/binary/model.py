"""Binary phenotypes of one group: null models and the test of a block (glue, arrays only).

``fit_nulls`` fits every phenotype's logistic null model: the covariates and, in mixed-model
runs, the phenotype's leave-one-out LOCO polygenic prediction (``loco_prediction``) as one
more covariate, whose fitted coefficient converts it from the 0/1 scale of the linear mixed
model to the log-odds scale; the fitted linear predictor is every variant's offset.

``associate_binary`` tests a block (the ``--binary-test`` contract):

- every variant: the score test (``score``); effect ``U / V``, se ``1 / sqrt(V)``;
- ``firth`` (default) / ``spa``: variants with score p < ``CORRECT_BELOW`` are re-tested by
  the approximate Firth penalised LRT (``firth``) or the saddle-point approximation
  (``spa``); their p-value replaces the score test's, and ``se = |beta| / sqrt(chi2)`` so that
  beta / se gives back the reported p-value (as REGENIE reports both);
- ``score``: no correction.

``associate_logistic`` is ``--linear``'s full per-variant logistic regression with the
covariates (Wald test of the variant's coefficient): PLINK 2 ``--glm firth`` (``firth``) or
``--glm no-firth`` (``logistic``).

Beta and se are per copy of the effect allele on the log-odds scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...io.sumstats import neg_log10_p_chi2, z_of_neg_log10_p
from ..association import AssociationResult
from .firth import firth_offset
from .logistic import fit_logistic, fit_logistic_batch
from .score import NullLogistic, prepare_null, project_block, score_block
from .spa import spa_neg_log10_p

__all__ = ["BINARY_TESTS", "CORRECT_BELOW", "fit_nulls", "associate_binary",
           "loco_mean_diagonal", "associate_logistic", "case_control_frequencies",
           "loco_prediction_rows", "NullSummary"]

BINARY_TESTS = ("firth", "spa", "score", "logistic")
#: variants with a score-test p-value below this are re-tested (REGENIE's default)
CORRECT_BELOW = 0.05
_NLP_CORRECT = -np.log10(CORRECT_BELOW)


@dataclass
class NullSummary:
    """One row of the null-model table for a binary phenotype."""

    n_cases: int
    n_controls: int
    loglik: float
    n_iter: int
    converged: bool
    prediction_coef: float
    prediction_used: bool


def _prediction_column(X: np.ndarray, pred: np.ndarray, y: np.ndarray,
                       rtol: float = 1e-6) -> np.ndarray | None:
    """``pred`` with the covariates projected out, scaled to unit standard deviation; None
    when its standard deviation is below ``rtol`` times the phenotype's (no polygenic signal:
    h2 at its lower bound, where the prediction is round-off)."""
    q = np.linalg.qr(X)[0]
    r = pred - q @ (q.T @ pred)
    sd = float(np.std(r))
    if not np.isfinite(sd) or sd <= rtol * float(np.std(y)):
        return None
    return r / sd


def fit_nulls(*, Y: np.ndarray, X: np.ndarray, predictions: np.ndarray | None,
              rtol: float = 1e-6) -> tuple[list[NullLogistic], list[NullSummary]]:
    """Every phenotype's logistic null model.

    Args:
        Y: 0/1 phenotypes, shape (N, P).
        X: covariates with intercept, shape (N, D).
        predictions: leave-one-out LOCO polygenic predictions on the 0/1 scale, shape (N, P)
            (None: no polygenic term, ``--linear``); a column of zeros: none for that
            phenotype (h2 at its lower bound).
        rtol: a prediction whose standard deviation (covariates projected out) is below
            ``rtol`` times the phenotype's is not used: it is the solver's error, not signal
            (round-off in the exact mode; the conjugate-gradient tolerance in the scalable
            mode, where the solves' relative error is ``cg_tol``).
    """
    nulls, rows = [], []
    for j in range(Y.shape[1]):
        y = Y[:, j]
        col = None if predictions is None else _prediction_column(X, predictions[:, j], y,
                                                                      rtol=rtol)
        Xa = X if col is None else np.column_stack([X, col])
        fit = fit_logistic(y=y, X=Xa)
        nulls.append(prepare_null(y=y, X=Xa, eta=fit.eta))
        rows.append(NullSummary(n_cases=int(np.sum(y == 1)), n_controls=int(np.sum(y == 0)),
                                loglik=fit.loglik, n_iter=fit.n_iter, converged=fit.converged,
                                prediction_coef=float(fit.beta[-1]) if col is not None
                                else float("nan"), prediction_used=col is not None))
    return nulls, rows


def loco_prediction_rows(*, Py: np.ndarray, u: np.ndarray, vinv_diag: np.ndarray | float
                         ) -> np.ndarray:
    """Leave-one-out prediction of the polygenic term on the 0/1 scale from a LOCO mixed model.

    With ``V = K + delta I``, the GLS residual ``r = y - X b`` and ``u = V^-1 r`` (which is
    ``Pi y``, the REML projection of ``y``), the random effect of individual ``i`` predicted
    from everyone else's phenotypes (the fixed effects held at ``b``) is
    ``r_i - u_i / (V^-1)_ii`` (the Gaussian leave-one-out identity). Unlike the in-sample
    BLUP ``r - delta u`` (for unrelated individuals a scaled copy of the phenotype itself), it
    holds no part of the individual's own phenotype; for unrelated individuals it is ~0 and
    for relatives it carries their phenotypes. The covariates' part of ``r`` is projected
    out by the null model (``Py`` may replace ``r``).

    Args:
        Py: phenotypes with the covariates projected out, shape (N, P).
        u: ``Pi y``, shape (N, P).
        vinv_diag: ``diag(V^-1)``, shape (N, P), or its mean, shape (P,) (the scalable mode,
            which has no diagonal: ``loco_mean_diagonal``; the individual's own phenotype
            then enters its prediction with the weight ``1 - (V^-1)_ii / mean``, a few
            percent for individuals with close relatives).
    """
    return Py - u / vinv_diag


def loco_mean_diagonal(*, Py: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The mean of ``diag(V^-1)`` per phenotype as ``u'u / y'u`` (shape (P,)).

    With ``u = V^-1 r`` (``Pi y``; ``y'u = r'u`` as ``X'u = 0``), ``E[r'V^-2 r] = tr(V^-1)``
    and ``E[r'V^-1 r] = N`` under the model, so the ratio estimates ``tr(V^-1) / N``. It is
    also the scalar ``d`` for which the prediction ``Py - u / d`` is orthogonal, in the
    sample, to the BLUP of the residuals (``delta u``): the individual's own noise is
    removed from the prediction whatever the solver's error in ``u``. The prediction
    ``Py - u / d`` is a small difference of two large terms (for h2 = 0.13 about a tenth
    of ``Py``): a 1% error in ``d`` leaks 10% of the own phenotype into it and inflates
    the test (measured: lambda 1.10 with the calibration factor ``rho``, which differs from
    the mean diagonal by 0.7%, against 0.98 with this estimate and with the exact
    diagonal; 1,200 individuals of whom 1,000 in sib pairs).
    """
    return np.sum(u * u, axis=0) / np.sum(Py * u, axis=0)


def case_control_frequencies(G: np.ndarray, miss: np.ndarray | None, y: np.ndarray
                             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Effect-allele frequency and non-missing calls in cases and in controls.

    Two matrix-vector products: the missing calls of ``G`` hold the column's mean over the
    non-missing ones (``association.impute_block``), which is subtracted back out.

    Args:
        G: imputed dosages, shape (N, B); miss: missing-call mask (N, B) or None.
        y: 0/1, shape (N,).
    Returns:
        af_cases, af_controls, n_cases, n_controls, each shape (B,).
    """
    yc = (y == 1).astype(np.float64)
    total = G.sum(axis=0)
    s_case = yc @ G
    n_all = np.full(G.shape[1], G.shape[0], dtype=np.int64)
    n_case = np.full(G.shape[1], int(yc.sum()), dtype=np.int64)
    if miss is not None:
        m_all = miss.sum(axis=0)
        m_case = yc @ miss
        mean = total / np.maximum(G.shape[0], 1)       # the imputed value: the mean
        s_case = s_case - m_case * mean
        total = total - m_all * mean
        n_all = n_all - m_all.astype(np.int64)
        n_case = n_case - np.rint(m_case).astype(np.int64)
    n_ctrl = n_all - n_case
    with np.errstate(invalid="ignore", divide="ignore"):
        return (s_case / n_case / 2.0, (total - s_case) / n_ctrl / 2.0, n_case, n_ctrl)


def associate_binary(nulls: list[NullLogistic], G: np.ndarray, *, test: str
                      ) -> AssociationResult:
    """Score test of every column of ``G`` (imputed dosages (N, B)) against every null model,
    corrected for score p < ``CORRECT_BELOW`` by ``test`` (the module docstring)."""
    b, p = G.shape[1], len(nulls)
    beta, se, chi2, nlp = (np.full((b, p), np.nan) for _ in range(4))
    for j, null in enumerate(nulls):
        sc = score_block(null, G)
        with np.errstate(invalid="ignore", divide="ignore"):
            beta[:, j] = sc.u / sc.v
            se[:, j] = 1.0 / np.sqrt(sc.v)
        chi2[:, j], nlp[:, j] = sc.chi2, sc.neg_log10_p
        sel = np.flatnonzero(sc.neg_log10_p > _NLP_CORRECT) if test in ("firth", "spa") \
            else np.zeros(0, dtype=np.intp)
        if len(sel) == 0:
            continue
        Gt = project_block(null, G[:, sel])
        if test == "firth":
            fr = firth_offset(y=null.y, eta0=null.eta, Gt=Gt, start=beta[sel, j])
            beta[sel, j], se[sel, j] = fr.beta, fr.se
            chi2[sel, j], nlp[sel, j] = fr.chi2, fr.neg_log10_p
        else:
            q = spa_neg_log10_p(s=sc.u[sel], v=sc.v[sel], eta=null.eta, mu=null.mu, Gt=Gt)
            c = _chi2_of_nlp(q)
            nlp[sel, j], chi2[sel, j] = q, c
            with np.errstate(invalid="ignore", divide="ignore"):
                se[sel, j] = np.abs(beta[sel, j]) / np.sqrt(c)
    return AssociationResult(beta=beta, se=se, chi2=chi2, neg_log10_p=nlp, dof=0)


def _chi2_of_nlp(nlp: np.ndarray) -> np.ndarray:
    """The 1-df chi-square whose p-value is ``10^-nlp``."""
    return np.square(z_of_neg_log10_p(nlp))


def associate_logistic(Y: np.ndarray, X: np.ndarray, G: np.ndarray, *, firth: bool,
                        sub_block: int = 64) -> AssociationResult:
    """``--linear``: logistic regression of every phenotype on the covariates and each
    variant; Wald test of the variant's coefficient (``beta / se`` standard normal), Firth's
    penalised fit when ``firth`` (PLINK 2 ``--glm firth`` / ``no-firth``).

    Args:
        Y: 0/1, shape (N, P); X: covariates with intercept (N, D); G: imputed dosages (N, B).
        sub_block: variants fitted at once (memory ``8 N sub_block (D + 1) * 4`` bytes).
    """
    b, p = G.shape[1], Y.shape[1]
    beta, se = np.full((b, p), np.nan), np.full((b, p), np.nan)
    poly = np.ptp(G, axis=0) > 0 if b else np.zeros(0, dtype=bool)
    for j in range(p):
        start = fit_logistic(y=Y[:, j], X=X).beta
        idx = np.flatnonzero(poly)
        for a in range(0, len(idx), sub_block):
            part = idx[a:a + sub_block]
            fit = fit_logistic_batch(y=Y[:, j], X=X, G=G[:, part], firth=firth, start=start)
            beta[part, j], se[part, j] = fit.beta, fit.se
    with np.errstate(invalid="ignore", divide="ignore"):
        chi2 = (beta / se) ** 2
    return AssociationResult(beta=beta, se=se, chi2=chi2, neg_log10_p=neg_log10_p_chi2(chi2),
                             dof=0)
