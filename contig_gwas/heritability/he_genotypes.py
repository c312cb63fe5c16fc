"""Haseman-Elston regression straight from genotype blocks: no N x N matrix, one pass.

For cohorts too large for the eigendecomposition (and for holding K), HE-CP (see ``he``) needs
only pair sums of the standardised kinship ``K = c Z Z'`` (``Z`` unit-standardised dosages,
``c = N / tr(Z Z')``, the GWAS engine's FaST-LMM semantics), and each is a sum over variant
blocks of small products:

- ``z_t' K z_u = c sum_b (Z_b' z_t)' (Z_b' z_u)`` (exact);
- ``1' K 1`` and the diagonal ``K_ii`` (exact);
- ``tr(K K)`` by Hutchinson's estimator ``E ||K u||^2`` with Rademacher probes ``u``,
  ``K u = c sum_b Z_b (Z_b' u)`` (randomised; ``n_probes`` controls its error).

Standard errors: delete-one-block jackknife over G contiguous groups of variants (the RHE-reg
scheme, Wu & Sankararaman 2018): each group's contributions are kept apart, so every
leave-one-group-out estimate comes from the same pass. Memory O(N (T + G q)).

References:
    Haseman & Elston (1972) Behav Genet 2:3; Sham & Purcell (2014) Nat Rev Genet 15:335.
    Wu & Sankararaman (2018) Am J Hum Genet 102:1146 (RHE-reg: randomised HE with a SNP-block
    jackknife). Hutchinson (1990) Commun Stat Simul Comput 19:433.
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

import numpy as np

from .he import HEFit, HETraces, check_pair_variation, standardised_residuals

__all__ = ["he_from_genotypes"]


def he_from_genotypes(*, blocks: Iterable[np.ndarray], Y: np.ndarray, X: np.ndarray,
                      names: Sequence[str] | None = None, n_groups: int = 20,
                      n_probes: int = 50, seed: int = 0,
                      second_pass: Callable[[], Iterable[np.ndarray]] | None = None) -> HEFit:
    """HE-CP of several phenotypes on the standardised kinship of streamed genotype blocks.

    Args:
        blocks: dosage blocks over the same N individuals, each shape (N, B), NaN where missing
            (mean-imputed after standardising, as the GWAS engine's kinship); in genome order.
        Y: phenotypes, shape (N, T), no missing values.
        X: covariates with intercept, shape (N, P).
        names: phenotype names.
        n_groups: jackknife groups of contiguous variant blocks (blocks are assigned in order,
            so pass blocks of about M / n_groups variants or smaller).
        n_probes: Rademacher probes for tr(K K).
        seed: seed of the probes.
        second_pass: returns a fresh iterator of the same blocks; given, a second pass
            estimates the traces for Gaussian-moment SEs (``he.he_moment_cov``), which stay
            honest where strong structure (relatives, ancestry, long-range LD) makes the
            variant-block jackknife too small.
    Returns:
        ``HEFit`` whose ``gcov_jk`` are the leave-one-variant-group-out estimates; with
        ``second_pass`` it carries ``traces`` and reports moment SEs.
    Raises:
        ValueError for shape mismatches, no polymorphic variant, or a similarity without
        variation between pairs.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # thin products per block: BLAS threads only cost
        return _he_from_genotypes(blocks=blocks, Y=Y, X=X, names=names, n_groups=n_groups,
                                  n_probes=n_probes, seed=seed, second_pass=second_pass)


def _he_from_genotypes(*, blocks, Y, X, names, n_groups, n_probes, seed, second_pass) -> HEFit:
    from ..gwas.kinship import standardise_block

    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim == 1:
        Y = Y[:, None]
    X = np.asarray(X, dtype=np.float64)
    n, t = Y.shape
    Zy, var, rank = standardised_residuals(Y, X)
    U = np.random.default_rng(seed).choice([-1.0, 1.0], size=(n, n_probes))
    rhs = np.hstack([Zy, np.ones((n, 1)), U])          # (N, T + 1 + q)

    # per block: (Z'rhs)' (Z'rhs) for the y/1 part, Z Z' U, diag(Z Z'), trace; grouped later
    blk_gram, blk_ku, blk_diag, blk_tr = [], [], [], []
    for d in blocks:
        if d.shape[0] != n:
            raise ValueError(f"genotype block has {d.shape[0]} rows, phenotypes {n}")
        z, ss = standardise_block(d)
        if not np.any(ss > 0):
            continue
        w = z.T @ rhs                                   # (B, T + 1 + q)
        yw = w[:, :t + 1]
        blk_gram.append(yw.T @ yw)                      # (T+1, T+1)
        blk_ku.append(z @ w[:, t + 1:])                 # (N, q)
        blk_diag.append(np.einsum("ij,ij->i", z, z))    # (N,)
        blk_tr.append(float(ss.sum()))
    nb = len(blk_tr)
    if nb == 0:
        raise ValueError("no polymorphic variant contributes to the genetic similarity")
    g = int(min(n_groups, nb))
    if g < 2:
        raise ValueError(f"the jackknife needs at least 2 variant blocks, got {nb}")
    group_of = np.arange(nb) * g // nb                  # contiguous groups of blocks
    gram = np.zeros((g, t + 1, t + 1))
    ku = np.zeros((g, n, n_probes))
    diag = np.zeros((g, n))
    tr = np.zeros(g)
    for b in range(nb):
        k = group_of[b]
        gram[k] += blk_gram[b]
        ku[k] += blk_ku[b]
        diag[k] += blk_diag[b]
        tr[k] += blk_tr[b]
    del blk_gram, blk_ku, blk_diag

    m = float(n * (n - 1))
    s = Zy.sum(axis=0)
    z_sum = np.outer(s, s) - Zy.T @ Zy                  # sum_{i != j} z_it z_ju

    def slope(gr: np.ndarray, kuv: np.ndarray, dg: np.ndarray, trace: float) -> np.ndarray:
        c = n / trace
        kdiag = c * dg
        k_sum = c * gr[t, t] - kdiag.sum()              # sum_{i != j} K_ij
        k2 = c * c * float(np.mean(np.sum(kuv * kuv, axis=0))) - float(np.sum(kdiag ** 2))
        kz = c * gr[:t, :t] - (Zy * kdiag[:, None]).T @ Zy
        denom = k2 - k_sum * k_sum / m
        if not denom > 1e-12 * max(abs(k2), 1e-300):
            raise ValueError("the similarity matrix has no variation between pairs of "
                             "individuals (every pair equally related): h2 is not identifiable")
        est = (kz - k_sum * z_sum / m) / denom
        return 0.5 * (est + est.T)

    tot = (gram.sum(axis=0), ku.sum(axis=0), diag.sum(axis=0), float(tr.sum()))
    gcov = slope(*tot)
    jk = np.stack([slope(tot[0] - gram[k], tot[1] - ku[k], tot[2] - diag[k], tot[3] - tr[k])
                   for k in range(g)])
    corr = (Zy.T @ Zy) / (n - rank)
    traces = None
    if second_pass is not None:
        c = n / tot[3]
        KU = c * tot[1]
        kdiag = c * tot[2]
        k_sum = c * tot[0][t, t] - kdiag.sum()
        sum_off2 = float(np.mean(np.sum(KU * KU, axis=0))) - float(np.sum(kdiag ** 2))
        traces = _traces(second_pass, U=U, KU=KU, kdiag=kdiag, k_sum=k_sum, sum_off2=sum_off2,
                         c=c)
    return HEFit(names=list(names) if names is not None else [f"y{i}" for i in range(t)], n=n,
                 var=var, corr=corr, gcov=gcov, gcov_jk=jk, n_groups=g, traces=traces,
                 dof=n - rank)


def _traces(blocks_fn: Callable[[], Iterable[np.ndarray]], *, U: np.ndarray, KU: np.ndarray,
            kdiag: np.ndarray, k_sum: float, sum_off2: float, c: float) -> HETraces:
    """Hutchinson traces for the moment SEs (as ``he.he_traces``), with one more pass
    computing ``K [A U, K U]``; A U is known after the first pass."""
    from ..gwas.kinship import standardise_block

    n, q = U.shape
    m = float(n * (n - 1))
    kbar = k_sum / m
    ss = sum_off2 - m * kbar * kbar
    check_pair_variation(ss, sum_off2)

    def apply_a(kv: np.ndarray, v: np.ndarray) -> np.ndarray:
        # A v = (K v - diag(K) v - kbar (1'v 1 - v)) / ss
        return (kv - kdiag[:, None] * v - kbar * (v.sum(axis=0)[None, :] - v)) / ss

    AU = apply_a(KU, U)
    W = np.hstack([AU, KU])
    out = np.zeros_like(W)
    for d in blocks_fn():
        z, s2 = standardise_block(d)
        if np.any(s2 > 0):
            out += z @ (z.T @ W)
    out *= c
    KAU, KKU = out[:, :q], out[:, q:]
    AKU = apply_a(KKU, KU)
    return HETraces(t0=1.0 / ss, t1=float(np.mean(np.sum(AU * KAU, axis=0))),
                    t2=float(np.mean(np.sum(KAU * AKU, axis=0))),
                    mean_diag=float(kdiag.mean()), exact=False,
                    t3=float(np.mean(np.sum(AU * KKU, axis=0))),
                    tk2=float(np.mean(np.sum(KU * KU, axis=0))), tk=float(kdiag.sum()), n=n)
