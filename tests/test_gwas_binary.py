"""Case-control phenotypes, array layer: detection rules, the logistic null model and the
--linear per-variant fits against statsmodels, the score test against statsmodels' GLM score
test, the approximate Firth and the batched Firth fits against a direct maximisation of the
penalised likelihood (scipy), and the saddle-point approximation against the exact tail of
the score by enumeration."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, special

from contig_gwas.errors import InputError
from contig_gwas.gwas.binary.detect import decide_binary
from contig_gwas.gwas.binary.firth import firth_offset
from contig_gwas.gwas.binary.logistic import fit_logistic, fit_logistic_batch
from contig_gwas.gwas.binary.model import associate_binary, fit_nulls
from contig_gwas.gwas.binary.score import prepare_null, project_block, score_block
from contig_gwas.gwas.binary.spa import spa_neg_log10_p

sm = pytest.importorskip("statsmodels.api")


def _data(n=600, b=12, prevalence=0.1, seed=0):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.integers(0, 2, n)])
    off = rng.normal(0, 0.3, n)
    eta = np.log(prevalence / (1 - prevalence)) + 0.4 * X[:, 1] + off
    y = (rng.random(n) < special.expit(eta)).astype(float)
    af = rng.uniform(0.02, 0.4, b)
    G = rng.binomial(2, af, (n, b)).astype(float)
    return X, off, y, G


# --- detection ---------------------------------------------------------------------------

def test_detection_rules():
    nan = np.nan
    Y = np.array([[0, 1, 1, 0.3, 0, 5],
                  [1, 2, 2, 1.7, 1, 5],
                  [0, 1, 0, 2.2, 2, 5],
                  [nan, 2, 1, 0.1, 1, 5],
                  [1, nan, 2, 0.9, 0, 5]], dtype=float)
    names = ["d01", "d12", "d12z", "learned", "count", "const"]
    out, dec = decide_binary(Y, names, spec="auto")
    by = {d.name: d for d in dec}
    assert by["d01"].binary and by["d01"].coding == "0/1"
    assert (by["d01"].n_cases, by["d01"].n_controls) == (2, 2)
    assert by["d12"].binary and (by["d12"].n_cases, by["d12"].n_controls) == (2, 2)
    np.testing.assert_array_equal(out[:, 1], [0, 1, 0, 1, nan])
    # three levels {0, 1, 2}: quantitative under auto, with a note naming --binary
    assert not by["d12z"].binary and "--binary d12z" in by["d12z"].note
    assert not by["learned"].binary and not by["count"].binary and not by["const"].binary
    # explicit: 1/2 with 0 as missing (PLINK)
    out, dec = decide_binary(Y, names, spec=["d12z"])
    assert [d.name for d in dec if d.binary] == ["d12z"]
    np.testing.assert_array_equal(out[:, 2], [0, 1, nan, 0, 1])
    # none: nothing is binary, values untouched
    out, dec = decide_binary(Y, names, spec="none")
    assert not any(d.binary for d in dec)
    np.testing.assert_array_equal(out[:, 1], Y[:, 1])
    with pytest.raises(InputError, match="not case-control"):
        decide_binary(Y, names, spec=["learned"])
    with pytest.raises(InputError, match="not among"):
        decide_binary(Y, names, spec=["absent"])


# --- null model and score test -------------------------------------------------------------

def test_null_model_matches_statsmodels_with_offset():
    X, off, y, _ = _data()
    fit = fit_logistic(y=y, X=X, offset=off)
    ref = sm.GLM(y, X, family=sm.families.Binomial(), offset=off).fit(tol=1e-12)
    # both stop at a relative step of ~1e-10/1e-12: Newton's quadratic convergence leaves
    # an error far below the tolerance
    np.testing.assert_allclose(fit.beta, ref.params, rtol=1e-7, atol=1e-9)
    assert abs(fit.loglik - ref.llf) <= 1e-8 * abs(ref.llf)


def test_score_test_matches_statsmodels():
    X, off, y, G = _data(seed=1)
    fit = fit_logistic(y=y, X=X, offset=off)
    null = prepare_null(y=y, X=X, eta=fit.eta)
    sc = score_block(null, G)
    for j in range(G.shape[1]):
        mod = sm.GLM(y, np.column_stack([X, G[:, j]]), family=sm.families.Binomial(),
                     offset=off)
        chi2 = float(np.ravel(mod.score_test(np.r_[fit.beta, 0.0], k_constraints=1)[0])[0])
        # statsmodels' score test uses the same expected information (canonical link):
        # the difference is the null fit's convergence (relative 1e-9)
        assert abs(sc.chi2[j] - chi2) <= 1e-6 * (1 + chi2), j


def test_linear_logistic_matches_statsmodels():
    X, _, y, G = _data(seed=2)
    res = fit_logistic_batch(y=y, X=X, G=G, firth=False)
    for j in range(G.shape[1]):
        ref = sm.Logit(y, np.column_stack([X, G[:, j]])).fit(disp=0, method="newton",
                                                               tol=1e-12, maxiter=100)
        assert abs(res.beta[j] - ref.params[-1]) <= 1e-6 * (1 + abs(ref.params[-1]))
        assert abs(res.se[j] - ref.bse[-1]) <= 1e-6 * ref.bse[-1]


def _neg_penalised(c, A, y):
    eta = A @ c
    mu = special.expit(eta)
    info = A.T @ (A * (mu * (1 - mu))[:, None])
    return -(np.sum(y * eta - np.logaddexp(0, eta)) + 0.5 * np.linalg.slogdet(info)[1])


def test_batched_firth_maximises_the_penalised_likelihood():
    X, _, y, G = _data(n=300, prevalence=0.05, seed=3)
    res = fit_logistic_batch(y=y, X=X, G=G, firth=True)
    for j in range(4):
        A = np.column_stack([X, G[:, j]])
        ref = optimize.minimize(_neg_penalised, np.zeros(A.shape[1]), args=(A, y),
                                method="BFGS", options={"gtol": 1e-9})
        # BFGS stops at a gradient of 1e-9: the maximiser within ~1e-9 / curvature
        assert abs(res.beta[j] - ref.x[-1]) <= 1e-5, (j, res.beta[j], ref.x[-1])


def test_approximate_firth_is_the_one_parameter_penalised_lrt():
    X, off, y, G = _data(n=400, prevalence=0.03, seed=4)
    fit = fit_logistic(y=y, X=X, offset=off)
    null = prepare_null(y=y, X=X, eta=fit.eta)
    Gt = project_block(null, G)
    fr = firth_offset(y=y, eta0=null.eta, Gt=Gt)
    for j in range(G.shape[1]):
        g = Gt[:, j]

        def neg(b, g=g):
            eta = null.eta + b * g
            mu = special.expit(eta)
            return -(np.sum(y * eta - np.logaddexp(0, eta))
                     + 0.5 * np.log(np.sum(mu * (1 - mu) * g * g)))

        ref = optimize.minimize_scalar(neg, bounds=(-15, 15), method="bounded",
                                       options={"xatol": 1e-10})
        assert abs(fr.beta[j] - ref.x) <= 1e-5, j
        lrt = 2 * (neg(0.0) - ref.fun)
        assert abs(fr.chi2[j] - lrt) <= 1e-6 * (1 + lrt), j


# --- saddle-point approximation ------------------------------------------------------------

def test_spa_tail_close_to_exact_where_normal_fails():
    """A rare variant (3 carriers) among 16 individuals at ~4% prevalence: the exact null
    distribution of the score by enumerating all 2^16 outcomes. The score is a lattice
    variable, so the continuous saddle-point tail is compared with the exact mid-p
    ``P(|S| > |s|) + P(|S| = |s|) / 2`` (the continuity convention of a continuous
    approximation): within a factor 10^0.2 = 1.6, where the normal approximation is off by
    more than two orders of magnitude."""
    rng = np.random.default_rng(5)
    n = 16
    mu = rng.uniform(0.01, 0.08, n)
    g = np.zeros(n)
    g[:3] = [1, 2, 1]
    w = mu * (1 - mu)
    gt = g - np.sum(w * g) / np.sum(w)         # the intercept projected out (W metric)
    v = np.sum(w * gt * gt)
    outcomes = ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1).astype(float)
    S = (outcomes - mu) @ gt
    prob = np.exp(outcomes @ np.log(mu) + (1 - outcomes) @ np.log(1 - mu))
    eta = np.log(mu / (1 - mu))
    for cases in ([0, 1], [1]):
        yv = np.zeros(n)
        yv[cases] = 1
        s = np.sum(gt * (yv - mu))
        mid = (prob[np.abs(S) >= abs(s) - 1e-9].sum() + prob[np.abs(S) > abs(s) + 1e-9].sum()) / 2
        spa = 10 ** -spa_neg_log10_p(s=np.array([s]), v=np.array([v]), eta=eta, mu=mu,
                                     Gt=gt[:, None])[0]
        normal = special.erfc(abs(s) / np.sqrt(2 * v))
        assert abs(np.log10(normal) - np.log10(mid)) > 1.0, cases
        assert abs(np.log10(spa) - np.log10(mid)) < 0.2, (cases, spa, mid)


def test_corrections_applied_only_below_threshold_and_calibrated_shapes():
    X, off, y, G = _data(n=500, prevalence=0.05, seed=6)
    nulls, _ = fit_nulls(Y=y[:, None], X=X, predictions=None)
    plain = associate_binary(nulls, G, test="score")
    for test in ("firth", "spa"):
        r = associate_binary(nulls, G, test=test)
        big = plain.neg_log10_p[:, 0] <= -np.log10(0.05)
        np.testing.assert_array_equal(r.neg_log10_p[big, 0], plain.neg_log10_p[big, 0])
        # beta / se gives back the reported p-value
        ok = np.isfinite(r.se[:, 0]) & (r.se[:, 0] > 0)
        chi2 = (r.beta[ok, 0] / r.se[ok, 0]) ** 2
        nlp = -np.log10(special.chdtrc(1, chi2))
        np.testing.assert_allclose(nlp, r.neg_log10_p[ok, 0], rtol=1e-6, atol=1e-9)


def test_calibration_at_one_percent_prevalence():
    """A null phenotype at 1% prevalence (30 cases in 3,000) and 6,000 variants of minor-allele
    frequency 0.5-2%: the uncorrected score test's type-1 error at alpha = 1e-3 is far above
    nominal (its normal approximation fails in the skewed tail); Firth and SPA are within the
    binomial 99.99% upper bound of nominal."""
    from scipy import stats

    rng = np.random.default_rng(7)
    n, b, alpha = 3000, 6000, 1e-3
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    y = (rng.random(n) < 0.01).astype(float)
    G = rng.binomial(2, rng.uniform(0.005, 0.02, b), (n, b)).astype(float)
    nulls, _ = fit_nulls(Y=y[:, None], X=X, predictions=None)
    hi = stats.binom.ppf(0.9999, b, alpha)
    counts = {t: int(np.sum(associate_binary(nulls, G, test=t).neg_log10_p[:, 0]
                            > -np.log10(alpha))) for t in ("score", "firth", "spa")}
    assert counts["score"] > 2 * hi, counts
    assert counts["firth"] <= hi and counts["spa"] <= hi, counts


def test_case_control_frequencies_with_missing_calls():
    from contig_gwas.gwas.association import impute_block
    from contig_gwas.gwas.binary.model import case_control_frequencies

    rng = np.random.default_rng(8)
    D = rng.binomial(2, 0.3, (200, 50)).astype(float)
    D[rng.random(D.shape) < 0.1] = np.nan
    y = (rng.random(200) < 0.3).astype(float)
    G, _, _ = impute_block(D)
    a1, a0, n1, n0 = case_control_frequencies(G, np.isnan(D), y)
    # sums of at most 200 numbers in {0, 1, 2} (exact) less the imputed means: a few roundings
    np.testing.assert_allclose(a1, np.nanmean(D[y == 1], axis=0) / 2, rtol=1e-14)
    np.testing.assert_allclose(a0, np.nanmean(D[y == 0], axis=0) / 2, rtol=1e-14)
    np.testing.assert_array_equal(n1, (~np.isnan(D[y == 1])).sum(axis=0))
    np.testing.assert_array_equal(n0, (~np.isnan(D[y == 0])).sum(axis=0))
