"""Haseman-Elston regression (HE-CP) for h2 and genetic covariance, with a block jackknife SE.

For phenotypes adjusted for the covariates (OLS residuals) and scaled to unit variance, the
cross-product of two individuals has expectation ``E[y_i y_j] = h2 K_ij`` (i != j), so h2 is the
slope of ``y_i y_j`` on ``K_ij`` over all pairs, with an intercept (HE-CP: Haseman & Elston
1972; Sham & Purcell 2014). The same regression of ``(y1_i y2_j + y2_i y1_j) / 2`` on ``K_ij``
gives the genetic covariance of two standardised traits, and ``rg = gcov / sqrt(h2_1 h2_2)``
(bivariate HE: Ni et al. 2018). No eigendecomposition is needed: the slope needs only five
pair sums (pairs, sum K, sum K^2, sum z, sum K z), accumulated from the lower triangle of K
streamed in row blocks, so memory is O(rows x N) and the similarity can come from a GCTA binary
GRM file too large to hold.

Standard errors: delete-one-group jackknife over G random groups of individuals (deleting a
group removes every pair it touches). The pair sums of each deletion are obtained in the same
single pass: for a pair statistic ``F = sum_{i != j} f_ij``,
``F_{-g} = F - 2 R_g + W_g`` where ``R_g`` sums the pairs with one member in g and ``W_g`` those
with both. The covariate adjustment and scaling are held fixed across deletions.

References:
    Haseman & Elston (1972) Behav Genet 2:3.
    Sham & Purcell (2014) Nat Rev Genet 15:335 (HE-CP).
    Ni et al. (2018) Am J Hum Genet 102:1185 (bivariate HE for rg).
    Quenouille (1956), Efron & Stein (1981) (delete-a-group jackknife).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import numpy as np


@dataclass
class HEFit:
    """HE regression of T phenotypes on one similarity matrix.

    Attributes:
        names: phenotype names, length T.
        n: individuals.
        var: residual variance of each phenotype after the covariates, shape (T,).
        corr: residual correlations, shape (T, T).
        gcov: slope estimates, shape (T, T): diagonal = h2, off-diagonal = genetic covariance of
            the standardised traits.
        gcov_jk: leave-one-group-out estimates, shape (G, T, T).
        n_groups: G.
        traces: for the moment SEs (``he_traces``); None: jackknife SEs only.
    """

    names: list[str]
    n: int
    var: np.ndarray
    corr: np.ndarray
    gcov: np.ndarray
    gcov_jk: np.ndarray
    n_groups: int
    traces: "HETraces | None" = None
    dof: int | None = None

    @property
    def se_method(self) -> str:
        """``moments`` (Gaussian moments with the traces) or ``jackknife``."""
        return "jackknife" if self.traces is None else "moments"

    @property
    def h2(self) -> np.ndarray:
        """Heritabilities, shape (T,)."""
        return np.diag(self.gcov).copy()

    @property
    def h2_se(self) -> np.ndarray:
        """SEs of the heritabilities, shape (T,) (``se_method``)."""
        if self.traces is None:
            return self.h2_se_jackknife
        t = len(self.names)
        return np.array([np.sqrt(he_moment_cov(gcov=self.gcov, corr=self.corr,
                                               traces=self.traces, entries=[(i, i)],
                                               dof=self.dof)[0, 0])
                         for i in range(t)])

    @property
    def h2_se_jackknife(self) -> np.ndarray:
        """Delete-one-group jackknife SEs of the heritabilities, shape (T,)."""
        return jackknife_se(np.diagonal(self.gcov_jk, axis1=1, axis2=2))

    def rg(self, t: int, u: int) -> tuple[float, float]:
        """Genetic correlation of phenotypes t and u and its SE (NaN if an h2 <= 0).

        SE: delta method on the moment covariance of (b_tt, b_tu, b_uu), or the jackknife.
        """
        def ratio(g: np.ndarray) -> np.ndarray:
            with np.errstate(invalid="ignore", divide="ignore"):
                return g[..., t, u] / np.sqrt(g[..., t, t] * g[..., u, u])
        est = float(ratio(self.gcov))
        if self.traces is None or not np.isfinite(est):
            return est, float(jackknife_se(ratio(self.gcov_jk)))
        from .bivariate import rg_delta_se
        cov = he_moment_cov(gcov=self.gcov, corr=self.corr, traces=self.traces,
                            entries=[(t, t), (t, u), (u, u)], dof=self.dof)
        g = np.array([self.gcov[t, t], self.gcov[t, u], self.gcov[u, u]])
        return est, rg_delta_se(g, cov)

    def summary(self) -> str:
        """One line per phenotype."""
        se = self.h2_se
        return "\n".join(f"{name}: h2 = {h:.4f} (se {s:.4f}, HE, n = {self.n})"
                         for name, h, s in zip(self.names, self.h2, se))


def jackknife_se(estimates: np.ndarray) -> np.ndarray:
    """Delete-one-group jackknife SE over axis 0: ``sqrt((G-1)/G sum (t_g - mean)^2)``."""
    est = np.asarray(estimates, dtype=np.float64)
    g = est.shape[0]
    return np.sqrt((g - 1) / g * np.sum((est - est.mean(axis=0)) ** 2, axis=0))


LowerRows = Iterable[tuple[int, np.ndarray]]


def lower_rows_from_matrix(K: np.ndarray, *,
                           block_rows: int = 512) -> Iterator[tuple[int, np.ndarray]]:
    """Stream an in-memory similarity matrix as lower-triangle row blocks.

    Yields ``(r0, L)`` with ``L`` of shape (B, r0 + B): row ``r0 + k`` of K up to and including
    the diagonal (entries right of the diagonal are ignored by the consumer).
    """
    n = K.shape[0]
    for r0 in range(0, n, block_rows):
        r1 = min(n, r0 + block_rows)
        yield r0, np.asarray(K[r0:r1, :r1], dtype=np.float64)


def standardised_residuals(Y: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """OLS residuals of the phenotypes on the covariates, scaled to unit variance.

    Args:
        Y: phenotypes, shape (N, T); X: covariates with intercept, shape (N, P).
    Returns:
        ``Z`` (N, T), the residual variances (T,) with ``N - rank(X)`` degrees of freedom, and
        ``rank(X)``.
    Raises:
        ValueError when a phenotype is constant after the covariates.
    """
    beta, *_ = np.linalg.lstsq(X, Y, rcond=None)
    R = Y - X @ beta
    rank = int(np.linalg.matrix_rank(X))
    var = np.sum(R * R, axis=0) / (Y.shape[0] - rank)
    if np.any(var <= 0):
        raise ValueError("a phenotype is constant after adjusting for the covariates")
    return R / np.sqrt(var), var, rank


def he_regression(*, Y: np.ndarray, X: np.ndarray, lower_rows: LowerRows,
                  names: Sequence[str] | None = None, n_groups: int = 20,
                  seed: int = 0, traces: "HETraces | None" = None) -> HEFit:
    """HE-CP regression of several phenotypes on one similarity matrix, with jackknife.

    Args:
        Y: phenotypes, shape (N, T), no missing values (the caller subsets individuals).
        X: covariates including the intercept, shape (N, P).
        lower_rows: the similarity matrix over the same N individuals in the same order, as
            ``(r0, L)`` blocks with ``L[k, j] = K[r0 + k, j]`` for ``j < r0 + k`` (see
            ``lower_rows_from_matrix`` and ``grm_io.read_gcta_grm``); every row exactly once, in
            order.
        names: phenotype names (default y0, y1, ...).
        n_groups: jackknife groups of individuals (random, seeded).
        seed: seed of the group assignment.
        traces: ``he_traces`` of the same similarity, for moment SEs (default: jackknife SEs).
    Returns:
        ``HEFit`` with the slopes for every phenotype and pair.
    Raises:
        ValueError for inconsistent shapes or fewer than 3 individuals per group.
    """
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim == 1:
        Y = Y[:, None]
    X = np.asarray(X, dtype=np.float64)
    n, t = Y.shape
    if X.shape[0] != n:
        raise ValueError(f"Y has {n} rows but X has {X.shape[0]}")
    n_groups = int(min(n_groups, n // 3))
    if n_groups < 2:
        raise ValueError(f"HE regression with a jackknife needs at least 6 individuals, got {n}")
    names = list(names) if names is not None else [f"y{i}" for i in range(t)]
    Z, var, rank = standardised_residuals(Y, X)
    labels = np.random.default_rng(seed).permutation(n) % n_groups

    # K-weighted sums over pairs i > j: totals, per-group "one member" and "both members" sums.
    # statistics: K, K^2, and K z_tu for the T*T products (symmetrised at the end)
    row_k = np.zeros(n)            # sum_{j<i} K_ij, per row i
    col_k = np.zeros(n)            # sum_{i>j} K_ij, per column j
    row_k2 = np.zeros(n)
    col_k2 = np.zeros(n)
    P = np.zeros((n, t))           # sum_{j<i} K_ij z_j
    Q = np.zeros((n, t))           # sum_{i>j} K_ij z_i
    same_k = np.zeros(n_groups)
    same_k2 = np.zeros(n_groups)
    Psame = np.zeros((n, t))       # sum_{j<i, same group} K_ij z_j
    seen = 0
    for r0, L in lower_rows:
        L = np.asarray(L, dtype=np.float64)
        b, width = L.shape
        if r0 != seen or width < r0 + b - 1 or r0 + b > n:
            raise ValueError(f"similarity rows out of order or wrong shape at row {r0}")
        seen = r0 + b
        L = L[:, :r0 + b]
        rows = np.arange(r0, r0 + b)
        L = np.where(np.arange(r0 + b)[None, :] < rows[:, None], L, 0.0)  # strictly lower
        if not np.all(np.isfinite(L)):
            raise ValueError(f"non-finite similarity values in rows {r0}..{r0 + b - 1}")
        L2 = L * L
        row_k[rows] = L.sum(axis=1)
        row_k2[rows] = L2.sum(axis=1)
        col_k[:r0 + b] += L.sum(axis=0)
        col_k2[:r0 + b] += L2.sum(axis=0)
        P[rows] = L @ Z[:r0 + b]
        Q[:r0 + b] += L.T @ Z[rows]
        same = labels[rows][:, None] == labels[None, :r0 + b]
        Ls = L * same
        Psame[rows] = Ls @ Z[:r0 + b]
        np.add.at(same_k, labels[rows], Ls.sum(axis=1))
        np.add.at(same_k2, labels[rows], (Ls * L).sum(axis=1))
    if seen != n:
        raise ValueError(f"similarity matrix has {seen} rows, phenotypes {n}")

    onehot = np.zeros((n, n_groups))
    onehot[np.arange(n), labels] = 1.0

    def by_group(v: np.ndarray) -> np.ndarray:
        return onehot.T @ v

    # ordered-pair sums (i != j) = 2 x lower-triangle sums; for deletion of group g:
    # F_{-g} = F - 2 R_g + W_g with R_g = one-member sums, W_g = both-member sums
    def leave_out(total: np.ndarray, one: np.ndarray, both: np.ndarray) -> np.ndarray:
        return 2 * total - 2 * one + 2 * both

    sk = (row_k.sum(), by_group(row_k + col_k), same_k)
    sk2 = (row_k2.sum(), by_group(row_k2 + col_k2), same_k2)
    # K z_tu with z_tu(i, j) = (z_it z_ju + z_iu z_jt) / 2, lower pairs i > j:
    # sum_{i>j} K_ij z_it z_ju = sum_i z_it P_iu ; symmetrised over (t, u)
    zp = Z[:, :, None] * P[:, None, :]          # (N, T, T): z_it P_iu (row member i)
    zq = Z[:, :, None] * Q[:, None, :]          # z_jt Q_ju (column member j)
    zs = Z[:, :, None] * Psame[:, None, :]
    kz_total = zp.sum(axis=0)
    kz_one = np.einsum("ng,ntu->gtu", onehot, zp + zq)
    kz_both = np.einsum("ng,ntu->gtu", onehot, zs)
    sym = lambda a: 0.5 * (a + np.swapaxes(a, -1, -2))  # noqa: E731
    kz = (sym(kz_total), sym(kz_one), sym(kz_both))

    # K-free sums: sum_{i != j} z_it z_ju = S_t S_u - sum_i z_it z_iu, and pair counts
    def z_sums(mask: np.ndarray) -> tuple[float, np.ndarray]:
        m = mask.sum()
        s = Z[mask].sum(axis=0)
        cross = Z[mask].T @ Z[mask]
        return float(m * (m - 1)), np.outer(s, s) - cross

    def slope(npairs, k, k2, z, kzv) -> np.ndarray:
        return (kzv - k * z / npairs) / (k2 - k * k / npairs)

    full_pairs, full_z = z_sums(np.ones(n, dtype=bool))
    k_var = 2 * sk2[0] - (2 * sk[0]) ** 2 / full_pairs
    if not k_var > 1e-12 * max(2 * sk2[0], 1e-300):
        raise ValueError("the similarity matrix has no variation between pairs of individuals "
                         "(every pair equally related): h2 is not identifiable")
    gcov = slope(full_pairs, 2 * sk[0], 2 * sk2[0], full_z, 2 * kz[0])
    jk = np.empty((n_groups, t, t))
    for g in range(n_groups):
        npairs, zg = z_sums(labels != g)
        keep = labels != g
        # re-standardise on the kept individuals: z -> z / sqrt(c), slopes scale by 1/sqrt(c c')
        c = np.sqrt(np.sum(Z[keep] ** 2, axis=0) / (keep.sum() - rank))
        jk[g] = slope(npairs, leave_out(sk[0], sk[1][g], sk[2][g]),
                      leave_out(sk2[0], sk2[1][g], sk2[2][g]), zg,
                      leave_out(kz[0], kz[1][g], kz[2][g])) / np.outer(c, c)
    corr = (Z.T @ Z) / (n - rank)
    return HEFit(names=names, n=n, var=var, corr=corr, gcov=gcov, gcov_jk=jk, n_groups=n_groups,
                 traces=traces, dof=n - rank)


def matmul_lower(lower_rows: LowerRows, V: np.ndarray) -> np.ndarray:
    """``K @ V`` for a similarity streamed as lower-triangle row blocks (with diagonal).

    Args:
        lower_rows: ``(r0, L)`` blocks as for ``he_regression``.
        V: shape (N, Q).
    Returns:
        shape (N, Q).
    """
    out = np.zeros_like(V, dtype=np.float64)
    for r0, L in lower_rows:
        b = L.shape[0]
        rows = np.arange(r0, r0 + b)
        L = np.asarray(L, dtype=np.float64)[:, :r0 + b]
        diag = L[np.arange(b), rows]
        Ls = np.where(np.arange(r0 + b)[None, :] < rows[:, None], L, 0.0)
        out[rows] += Ls @ V[:r0 + b] + diag[:, None] * V[rows]
        out[:r0 + b] += Ls.T @ V[rows]
    return out


@dataclass
class HETraces:
    """Traces of the HE weight matrix A (``A_ij = (K_ij - kbar) / SS`` off the diagonal, 0 on
    it) with K: ``t0 = tr(A A)``, ``t1 = tr(A K A)``, ``t2 = tr(A K A K)``, ``t3 = tr(A K K)``,
    ``tk2 = tr(K K)``, ``tk = tr(K)`` and the mean diagonal of K; ``exact`` is False when the
    traces with two or more factors of K are Hutchinson estimates."""

    t0: float
    t1: float
    t2: float
    mean_diag: float
    exact: bool
    t3: float = 0.0    # tr(A K K)
    tk2: float = 0.0   # tr(K K)
    tk: float = 0.0    # tr(K)
    n: int = 0


def he_traces(*, K: np.ndarray | None = None, lower_rows_factory=None, n: int | None = None,
              n_probes: int = 64, seed: int = 0) -> HETraces:
    """Traces for the moment standard errors of HE regression.

    Exact from a dense K (two O(N^3) products), or estimated with ``n_probes`` Rademacher probes
    and two streamed passes over the similarity (``lower_rows_factory()`` returns a fresh
    iterator of lower-triangle blocks): ``u'AKAu`` and ``(KAu)'(AKu)`` are unbiased for t1 and
    t2 (Hutchinson 1990).
    """
    if K is not None:
        K = np.asarray(K, dtype=np.float64)
        n = K.shape[0]
        off = ~np.eye(n, dtype=bool)
        kbar = K[off].mean()
        A = np.where(off, K - kbar, 0.0)
        ss = float(np.sum(A * A))
        check_pair_variation(ss, float(np.sum(K[off] ** 2)))
        A /= ss
        AK = A @ K
        return HETraces(t0=1.0 / ss, t1=float(np.sum((A @ A) * K)),
                        t2=float(np.sum(AK * AK.T)), mean_diag=float(np.mean(np.diag(K))),
                        exact=True, t3=float(np.sum(AK * K)), tk2=float(np.sum(K * K)),
                        tk=float(np.trace(K)), n=n)
    assert lower_rows_factory is not None and n is not None
    rng = np.random.default_rng(seed)
    U = rng.choice([-1.0, 1.0], size=(n, n_probes))
    ones = np.ones((n, 1))
    ku = matmul_lower(lower_rows_factory(), np.hstack([U, ones]))
    # diagonal, off-diagonal mean and sum of squares from one more streamed pass
    diag = np.zeros(n)
    sum_off = 0.0
    sum_off2 = 0.0
    for r0, L in lower_rows_factory():
        b = L.shape[0]
        rows = np.arange(r0, r0 + b)
        L = np.asarray(L, dtype=np.float64)[:, :r0 + b]
        diag[rows] = L[np.arange(b), rows]
        Ls = np.where(np.arange(r0 + b)[None, :] < rows[:, None], L, 0.0)
        sum_off += 2 * Ls.sum()
        sum_off2 += 2 * (Ls * Ls).sum()
    npairs = n * (n - 1)
    kbar = sum_off / npairs
    ss = sum_off2 - npairs * kbar * kbar
    check_pair_variation(ss, sum_off2)

    def apply_a(kv: np.ndarray, v: np.ndarray) -> np.ndarray:
        # A v = (K v - diag(K) v - kbar (1'v 1 - v)) / ss
        return (kv - diag[:, None] * v - kbar * (v.sum(axis=0)[None, :] - v)) / ss

    KU = ku[:, :n_probes]
    AU = apply_a(KU, U)
    AKU = None
    second = matmul_lower(lower_rows_factory(), np.hstack([AU, KU]))
    KAU, KKU = second[:, :n_probes], second[:, n_probes:]
    AKU = apply_a(KKU, KU)
    t1 = float(np.mean(np.sum(AU * KAU, axis=0)))
    t2 = float(np.mean(np.sum(KAU * AKU, axis=0)))
    t3 = float(np.mean(np.sum(AU * KKU, axis=0)))
    tk2 = float(np.mean(np.sum(KU * KU, axis=0)))
    return HETraces(t0=1.0 / ss, t1=t1, t2=t2, mean_diag=float(diag.mean()), exact=False,
                    t3=t3, tk2=tk2, tk=float(diag.sum()), n=n)


def check_pair_variation(ss: float, sum_sq: float) -> None:
    """Raise ValueError unless the off-diagonal similarities vary: ``ss``, their sum of squared
    deviations from their mean, is not negligible against ``sum_sq``, their sum of squares."""
    if not ss > 1e-12 * max(sum_sq, 1e-300):
        raise ValueError("the similarity matrix has no variation between pairs of individuals "
                         "(every pair equally related): h2 is not identifiable")


def he_moment_cov(*, gcov: np.ndarray, corr: np.ndarray, traces: HETraces,
                  entries: Sequence[tuple[int, int]], dof: int | None = None) -> np.ndarray:
    """Gaussian-moment covariance of HE slopes of standardised traits.

    The slope for traits (t, u) is ``b_tu = r_t' A r_u / (s_t s_u)`` with ``s_t^2`` the sample
    residual variance; to first order ``b_tu = Q_tu - b_tu (V_tt + V_uu) / 2 + const`` with
    ``Q_tu = z_t' A z_u`` and ``V_tt = z_t' z_t / dof`` on the true scale, so the covariance is a
    sum of covariances of quadratic forms. With ``cov(z_t, z_u) = S_tu = G_tu K + E_tu I``
    (``E = corr - G * mean diag K``), Isserlis' theorem gives
    ``cov(z_a' M z_b, z_c' N z_d) = tr(M S_ac N S_bd) + tr(M S_ad N S_bc)`` for M, N in
    {A, I / dof}, and every such trace is a combination of the traces in ``traces``.

    Args:
        gcov: slope estimates, shape (T, T); corr: residual correlations, shape (T, T).
        traces: from ``he_traces``.
        entries: the (t, u) slopes wanted, length Q.
        dof: residual degrees of freedom (default N).
    Returns:
        shape (Q, Q).
    """
    G = np.asarray(gcov, dtype=np.float64)
    E = np.asarray(corr, dtype=np.float64) - G * traces.mean_diag
    dof = traces.n if dof is None else dof

    def tr(m: str, x: tuple[float, float], nn: str, y: tuple[float, float]) -> float:
        """tr(M (aK + bI) N (cK + dI)) for M, N in {"A", "I"} (I meaning I / dof)."""
        (a, b), (c, d) = x, y
        if m == "A" and nn == "A":
            return a * c * traces.t2 + (a * d + b * c) * traces.t1 + b * d * traces.t0
        if m == "I" and nn == "I":
            return (a * c * traces.tk2 + (a * d + b * c) * traces.tk + b * d * traces.n) / dof ** 2
        # tr(A (aK + bI)(cK + dI)) with tr(AK) = 1 and tr(A) = 0
        return (a * c * traces.t3 + (a * d + b * c)) / dof

    def s(t: int, u: int) -> tuple[float, float]:
        return G[t, u], E[t, u]

    def terms(t: int, u: int) -> list[tuple[float, str, int, int]]:
        return [(1.0, "A", t, u), (-0.5 * G[t, u], "I", t, t), (-0.5 * G[t, u], "I", u, u)]

    q = len(entries)
    out = np.zeros((q, q))
    for i, (t, u) in enumerate(entries):
        for j, (v, w) in enumerate(entries):
            for c1, m1, a1, b1 in terms(t, u):
                for c2, m2, a2, b2 in terms(v, w):
                    out[i, j] += c1 * c2 * (tr(m1, s(a1, a2), m2, s(b1, b2))
                                            + tr(m1, s(a1, b2), m2, s(b1, a2)))
    return out
