"""Step 1: the infinitesimal (BOLT-LMM-inf) whole-genome model of every phenotype of a group.

Model, per phenotype (FaST-LMM / exact-mode semantics): ``y = X b + g + e``,
``g ~ N(0, sg2 K)``, ``e ~ N(0, se2 I)``, ``delta = se2 / sg2``, with ``K`` the standardised
similarity of the model variants (mean diagonal 1). Covariates are projected out: with ``Q``
an orthonormal basis of ``X`` and ``P = I - Q Q'``, ``ty = P y`` and ``A = P K P``; the REML
projection is ``Pi = P (A + delta I)^+ P``, so everything is solved in the complement of ``X``
(dimension ``n' = N - D``), where the restricted log-likelihood is

    l(delta) = -1/2 [ n' log(ty'(A + delta I)^-1 ty / n') + log det(A + delta I) ] + const.

1. Variance components (stochastic REML, linear in N and M). One batched Lanczos run gives,
   for every shift at once, ``ty'(A + delta)^-1 ty`` (Gauss quadrature on ``ty``) and
   ``log det(A + delta)`` (stochastic Lanczos quadrature on ``n_probes`` projected Rademacher
   vectors, with the control variate ``n' log(1 + delta) + (tr A - n') / (1 + delta)`` whose
   trace ``tr A = N - tr(Q'KQ)`` is exact); ``delta`` maximises ``l`` over a grid refined by
   Brent's method. One ``delta`` per phenotype from all model variants, as BOLT-LMM.
2. Calibration of the step-2 statistic (BOLT-LMM-inf's, Loh et al. 2015, Supplementary Note
   section 2), in the same Lanczos batch (the same passes over the genotypes):
   ``n_calibration`` random model variants ``x`` give the exact ``x' Pi_{-c} x`` under their
   own leave-one-chromosome-out kernel for every phenotype's ``delta``; step 2 uses
   ``x' Pi_{-c} x ~ rho_p * |P x|^2`` with ``rho_p`` the mean ratio (no conjugate-gradient
   solve per tested variant).
3. LOCO solves: ``u_{c,p} = Pi_{-c} y_p`` for every left-out chromosome ``c`` and phenotype
   ``p`` by one batched conjugate-gradient run with ``C * P`` right-hand sides (each its own
   chromosome and shift), to BOLT-LMM's tolerance 5e-4. With one ``delta`` per phenotype they
   start from the genome-wide solution (from the phenotype's kept Lanczos vectors, no solve)
   with its exact LOCO residual (one pass for every chromosome's share ``Z_c Z_c' u``):
   leaving one chromosome of many out moves the solution little, so 2 to 3 iterations
   replace 4 to 5. Step 2 needs only ``u`` and ``y_p' Pi_{-c} y_p``.

Cost: ``4 N M1 (P + n_probes + n_calibration) I_L + 4 N M1 (P + C P I_CG)`` flops (``I`` the
iterations, 5 to 8 and 2 to 3 in the benchmarks), one read of the codes per iteration.
Memory: ``ceil(N / 4) M1`` bytes of 2-bit codes (``N M1`` at 8 bits) plus
``8 N (9 C P + 4 (P + n_probes + n_calibration) + 10 P)`` bytes of vectors (at most 10 Lanczos
vectors kept per phenotype; an upper bound: the conjugate gradients hold 4 to 6 ``N x C P``
arrays, the operator's results projected in place) plus ``4 N * block`` for the standardised
block (``memory.peak_memory_bytes``).

References: Loh P-R et al. (2015) Nat Genet 47:284-290 (BOLT-LMM); Patterson and Thompson
(1971) Biometrika 58:545 (REML); Ubaru, Chen and Saad (2017) SIAM J Matrix Anal Appl 38:1075
(stochastic Lanczos quadrature).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

from ...defaults import SCALABLE_GRID_POINTS, SCALABLE_H2_BOUNDS, log_delta_bounds
from ..parallel import Workers
from .codes import Step1Genotypes
from .krylov import batched_cg, batched_lanczos

__all__ = ["Step1Settings", "Step1Fit", "fit_step1", "LOCO_VC_SHARE"]

LOCO_VC_SHARE = 0.15


@dataclass
class Step1Settings:
    """Numerical settings of step 1 (defaults as used in the tests and benchmarks).

    Attributes:
        n_probes: random probes for the stochastic log-determinant.
        n_calibration: model variants sampled for the calibration of the statistic.
        cg_tol: relative residual at which a conjugate-gradient column stops (BOLT-LMM's 5e-4;
            -log10 p within 0.002 of a 1e-8 reference on the 5,000 x 50,000 benchmark).
        lanczos_tol: relative change of the quadrature at which a phenotype's Lanczos column
            stops (its restricted likelihood).
        lanczos_tol_calibration: the same for the calibration variants (their ratio's spread
            over variants, 0.1-0.3% in the benchmarks, is larger).
        lanczos_tol_aux: the same for the probe columns, whose own sampling error (the
            stochastic trace) is far larger.
        max_iter: iteration limit of both solvers.
        h2_bounds: range searched for the REML h2 (``delta = (1 - h2) / h2``).
        seed: seeds the probes and the calibration variants.
        loco_variance_components: estimate the variance components for every left-out
            chromosome, as the exact mode does (True), or once from all model variants, as
            BOLT-LMM does (False; cheaper by ``(C - 1) (P + n_probes)`` Lanczos columns).
            None (auto): per chromosome only when one chromosome carries more than
            ``LOCO_VC_SHARE`` of the model variants (few chromosomes, where leaving one out
            changes h2 materially); a human genome (largest share ~8%) gets one estimate.
        max_model_variants: thin the model variants to at most this many (evenly spaced per
            chromosome; None: all variants that pass QC).
        warm_start: start the LOCO solves from the genome-wide solutions when the variance
            components are shared (False: from zero, 4-5 iterations instead of 2-3).
    """

    n_probes: int = 20
    n_calibration: int = 30
    cg_tol: float = 5e-4
    lanczos_tol: float = 1e-5
    lanczos_tol_aux: float = 1e-4
    lanczos_tol_calibration: float = 1e-3
    max_iter: int = 300
    h2_bounds: tuple[float, float] = SCALABLE_H2_BOUNDS
    seed: int = 1
    loco_variance_components: bool | None = None
    max_model_variants: int | None = None
    warm_start: bool = True


@dataclass
class Step1Fit:
    """Step-1 result of one phenotype group.

    Attributes:
        names: phenotype names, length P.
        loco: left-out chromosome code per solve, shape (C,) (``[0]`` without LOCO).
        U: ``Pi_{-c} y_p``, shape (C, N, P).
        ypy: ``y_p' Pi_{-c} y_p``, shape (C, P).
        vc_loco: left-out chromosome of each row of the variance components, shape (R,):
            ``loco`` (per-LOCO REML, as the exact mode) or ``[0]`` (one REML, as BOLT-LMM).
        delta, h2, sg2, se2, loglik: REML estimates, shape (R, P).
        rho: calibration factor, shape (R, P) (``x' Pi x ~ rho |P x|^2``).
        rho_cv: coefficient of variation of the ratio over the calibration variants, (R, P).
        n_iter_lanczos: Lanczos steps for the phenotypes, shape (R, P).
        n_iter_cg: largest CG iteration count over the LOCO solves, shape (P,).
        converged: CG converged for every LOCO solve, shape (P,).
        n_model_variants: M1; n_covariates: D.
    """

    names: list[str]
    loco: np.ndarray
    U: np.ndarray
    ypy: np.ndarray
    delta: np.ndarray
    h2: np.ndarray
    sg2: np.ndarray
    se2: np.ndarray
    loglik: np.ndarray
    rho: np.ndarray
    rho_cv: np.ndarray
    vc_loco: np.ndarray
    n_iter_lanczos: np.ndarray
    n_iter_cg: np.ndarray
    converged: np.ndarray
    n_model_variants: int
    n_covariates: int

    def solve_index(self, chromosome: int) -> int:
        """Row of ``U`` to use for a tested variant on ``chromosome``."""
        if len(self.loco) == 1 and self.loco[0] == 0:
            return 0
        hit = np.flatnonzero(self.loco == chromosome)
        if len(hit) == 0:
            raise KeyError(chromosome)
        return int(hit[0])

    def vc_index(self, chromosome: int) -> int:
        """Row of the variance components (and ``rho``) for a variant on ``chromosome``."""
        return 0 if len(self.vc_loco) == 1 else self.solve_index(chromosome)


def _reml(quad, i_y: int, probes: range, *, n_eff: int, trace_a: float,
          bounds: tuple[float, float]) -> tuple[float, float, int]:
    """Maximise the stochastic REML log-likelihood of column ``i_y`` over log delta."""
    lo, hi = log_delta_bounds(bounds)

    def loglik(log_delta: np.ndarray) -> np.ndarray:
        d = np.exp(np.atleast_1d(log_delta))
        q = quad.inverse(i_y, d)
        g = np.zeros_like(d)
        for j in probes:
            g += quad.quad(j, lambda t: np.log(np.maximum(t, 0.0) + d)
                           - np.log1p(d) - (t - 1.0) / (1.0 + d))
        logdet = n_eff * np.log1p(d) + (trace_a - n_eff) / (1.0 + d) + g / max(len(probes), 1)
        return -0.5 * (n_eff * np.log(q / n_eff) + logdet)

    grid = np.linspace(lo, hi, SCALABLE_GRID_POINTS)
    ll = loglik(grid)
    k = int(np.argmax(ll))
    a, b = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    res = minimize_scalar(lambda x: -float(loglik(x)[0]), bounds=(a, b), method="bounded",
                          options={"xatol": 1e-6})
    x = float(res.x) if -res.fun >= ll[k] else float(grid[k])
    return float(np.exp(x)), float(loglik(np.array([x]))[0]), int(res.nfev) + len(grid)


def _loco_start(genotypes: Step1Genotypes, ty: np.ndarray, u: np.ndarray, delta: np.ndarray,
                loco_codes: np.ndarray, proj, workers: Workers | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Starting solutions of the LOCO solves (shared variance components): the genome-wide
    solution ``u ~ (A + delta)^-1 ty`` of every phenotype (from the REML Lanczos vectors) and,
    from one pass giving every chromosome's share ``T_c = Z_c Z_c' u``, the exact residuals of
    ``u`` under each LOCO operator, ``ty - delta u - s_c P (sum_j T_j - T_c)``. Leaving out one
    chromosome of many changes the solution little, so conjugate gradients from ``u`` stop
    after a few iterations where ``C P`` solves from zero need the full count."""
    p = ty.shape[1]
    T = genotypes.chromosome_times(u, workers=workers)                 # (C, N, P)
    total = T.sum(axis=0)
    order = {ch: i for i, ch in enumerate(genotypes.chromosomes())}
    x0 = np.tile(u, (1, len(loco_codes)))
    r0 = np.empty_like(x0)
    for i, ch in enumerate(loco_codes):
        r0[:, i * p:(i + 1) * p] = ty - delta * u - genotypes.scale(int(ch)) * proj(
            total - T[order[int(ch)]])
    return x0, r0


def fit_step1(*, genotypes: Step1Genotypes, X: np.ndarray, Y: np.ndarray, names: list[str],
              loco: bool = True, settings: Step1Settings | None = None,
              progress: bool = False, workers: Workers | None = None) -> Step1Fit:
    """Fit step 1 for one group.

    Args:
        genotypes: model variants of the group's individuals (N rows).
        X: covariates with intercept, shape (N, D), full column rank.
        Y: phenotypes, shape (N, P), no missing values.
        names: phenotype names, length P.
        loco: one solve per left-out chromosome (else one solve with all variants).
        settings: numerical settings.
        workers: the threads of the passes over the codes (None: this thread); the result is
            the same bits for any number of threads (``Step1Genotypes.kinship_times``).
    Returns:
        Step1Fit.
    """
    s = settings or Step1Settings()
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    n, d = X.shape
    p = Y.shape[1]
    n_eff = n - d
    Q, _ = np.linalg.qr(X)

    def proj(R: np.ndarray) -> np.ndarray:
        return R - Q @ (Q.T @ R)

    def proj_own(R: np.ndarray) -> np.ndarray:
        """``proj`` of an array nobody else holds (an operator's result), in place."""
        R -= Q @ (Q.T @ R)
        return R

    rng = np.random.default_rng(s.seed)
    chroms = genotypes.chromosomes()
    loco_codes = np.array(chroms if loco else [0], dtype=np.int64)
    # variance components per left-out chromosome (as the exact mode) or once (as BOLT-LMM)
    per_loco = s.loco_variance_components
    if per_loco is None:
        share = max(float(genotypes.ss[genotypes.chromosome == c].sum()) for c in chroms)
        per_loco = share > LOCO_VC_SHARE * float(genotypes.ss.sum())
    vc_codes = loco_codes if (loco and per_loco) else np.array([0])
    r_vc = len(vc_codes)

    # 1: one Lanczos batch, every shift of the REML search at once: per vc kernel the
    # phenotypes and the probes (variance components), and the calibration variants under
    # their own LOCO kernel; the phenotypes' Lanczos vectors are kept when one genome-wide
    # solution per phenotype starts the LOCO solves
    poly = np.flatnonzero(genotypes.ss > 0)
    n_cal = min(s.n_calibration, len(poly))
    cal = np.sort(rng.choice(poly, n_cal, replace=False))
    probes = proj(rng.choice([-1.0, 1.0], size=(n, s.n_probes)))
    ty = proj(Y)
    width = p + s.n_probes
    Zc = np.column_stack([genotypes.standardised(int(j), int(j) + 1)[:, 0] for j in cal]
                         ) if n_cal else np.empty((n, 0))
    cal_loco = genotypes.chromosome[cal] if loco else np.zeros(n_cal, np.int64)
    start = np.column_stack([np.tile(np.column_stack([ty, probes]), (1, r_vc)),
                             proj(Zc.astype(np.float64))])
    col_loco = np.r_[np.repeat(vc_codes, width), cal_loco]
    # tr(Q' K_{-c} Q) = s_c sum_{j not on c} |Z_j' Q|^2 (half a pass)
    zq = (genotypes.cross(Q, workers=workers) ** 2).sum(axis=1)
    trace_a = np.array([n - genotypes.scale(int(c)) * float(zq[genotypes.chromosome != c].sum())
                        for c in vc_codes])
    ref = (1 - s.h2_bounds[1]) / s.h2_bounds[1]
    warm = s.warm_start and loco and len(loco_codes) > 1 and r_vc == 1
    quad = batched_lanczos(lambda R, cols: proj_own(genotypes.kinship_times(
                               R, loco=col_loco[cols], workers=workers)),
                           start, max_iter=s.max_iter, ref_delta=ref,
                           tol=np.r_[np.tile(np.r_[np.full(p, s.lanczos_tol),
                                                   np.full(s.n_probes, s.lanczos_tol_aux)], r_vc),
                                     np.full(n_cal, s.lanczos_tol_calibration)],
                           keep=np.arange(p) if warm else None, check_every=1,
                           progress=progress, desc="step 1: REML and calibration (Lanczos)")
    delta, loglik, sg2 = np.empty((r_vc, p)), np.empty((r_vc, p)), np.empty((r_vc, p))
    for r in range(r_vc):
        probe_cols = range(r * width + p, (r + 1) * width)
        for j in range(p):
            delta[r, j], loglik[r, j], _ = _reml(quad, r * width + j, probe_cols, n_eff=n_eff,
                                                 trace_a=trace_a[r], bounds=s.h2_bounds)
            sg2[r, j] = quad.inverse(r * width + j, delta[r, j])[0] / n_eff
    h2 = 1.0 / (1.0 + delta)
    se2 = delta * sg2
    # 2: calibration: x' Pi_{-c} x / |P x|^2 at every phenotype's fitted shift
    rho = np.ones((r_vc, p))
    rho_cv = np.zeros((r_vc, p))
    if n_cal:
        base = r_vc * width
        ratios = np.stack([np.stack([quad.inverse(base + k, delta[r]) / quad.norm2[base + k]
                                     for k in range(n_cal)], axis=-1)
                           for r in range(r_vc)])                     # (R, P, n_cal)
        rho = ratios.mean(axis=-1)
        rho_cv = ratios.std(axis=-1) / rho
    n_lanczos = quad.n_iter[:r_vc * width].reshape(r_vc, width)[:, :p]

    # 3: LOCO solves, C * P right-hand sides
    c = len(loco_codes)
    cg_loco = np.repeat(loco_codes, p)
    cg_delta = np.tile(delta, (c // r_vc, 1)).reshape(-1)
    x0 = r0 = None
    rhs: np.ndarray | None = None
    if warm:
        u = proj(np.column_stack([quad.solve(j, float(delta[0, j])) if j in quad.basis
                                  else np.zeros(n) for j in range(p)]))
        x0, r0 = _loco_start(genotypes, ty, u, delta[0], loco_codes, proj, workers)
    else:
        rhs = np.tile(ty, (1, c))                                     # column c*p + j
    cg = batched_cg(lambda R, cols: proj_own(genotypes.kinship_times(R, loco=cg_loco[cols],
                                                                     workers=workers)), rhs,
                    delta=cg_delta, tol=s.cg_tol, max_iter=s.max_iter, x0=x0, r0=r0,
                    b_norm=np.tile(np.sqrt((ty * ty).sum(axis=0)), c),
                    progress=progress, desc="step 1: LOCO solves (CG)")
    del rhs, x0, r0
    U = proj_own(cg.x).reshape(n, c, p).transpose(1, 0, 2).copy()      # (C, N, P)
    ypy = np.einsum("cnp,np->cp", U, ty)
    return Step1Fit(names=list(names), loco=loco_codes, U=U, ypy=ypy, delta=delta, h2=h2,
                    sg2=sg2, se2=se2, loglik=loglik, rho=np.asarray(rho, dtype=np.float64),
                    rho_cv=np.asarray(rho_cv, dtype=np.float64), vc_loco=vc_codes,
                    n_iter_lanczos=n_lanczos,
                    n_iter_cg=cg.n_iter.reshape(c, p).max(axis=0),
                    converged=np.asarray(cg.converged.reshape(c, p).all(axis=0)),
                    n_model_variants=genotypes.m, n_covariates=d)
