"""Dataset-level heritability and genetic correlation: samples, missingness, covariates, method.

Arrays in, dataclasses out: the caller (``contig_gwas.cli.h2``) reads files and aligns samples;
this layer takes the aligned phenotype table, covariates and a similarity matrix and returns
one ``H2Result`` per phenotype and one ``RGResult`` per requested pair.

- Missing phenotype values: each phenotype uses the individuals where it is observed;
  phenotypes with the same missingness share one eigendecomposition (REML) or one streamed
  pass (HE). A pair uses the individuals where both are observed.
- Covariates: an intercept is always included; columns that are constant or collinear within a
  subset are dropped for that subset (noted in ``notes``).
- Method: ``reml`` (eigendecomposition, the GWAS engine's null model plus SEs), ``he``
  (Haseman-Elston; no eigendecomposition: from genotype blocks with a variant-block jackknife
  when the similarity is built from genotypes, else from the streamed similarity with moment
  or individual-group jackknife SEs), or ``auto`` (REML up to ``reml_max_n`` individuals, HE
  above).
- Bad input: a similarity that is not finite, not symmetric, zero or carries no information
  beyond the covariates raises ``InputError``; a phenotype that is constant or has too few
  observations gets a flagged row (``constant_phenotype``, ``too_few_individuals``), never a
  bare NaN.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Iterator, Protocol, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from .bivariate import RGResult, bivariate_reml, rg_wald
from .grm_io import read_gcta_grm, read_gcta_grm_matrix
from .he import he_regression, he_traces, lower_rows_from_matrix
from .reml import H2Result, flagged_result, reml_h2

#: ``auto`` uses REML (an O(N^3) eigendecomposition) up to this many individuals.
REML_MAX_N = 10_000
#: HE moment SEs use exact traces up to this many individuals, Hutchinson estimates above.
HE_EXACT_TRACES_MAX_N = 3000
#: fewer observations than covariates + this is flagged ``too_few_individuals``.
MIN_EXTRA_N = 10

H2_COLUMNS = ["phenotype", "n", "h2", "se", "sg2", "se2", "method", "converged", "flag"]
RG_COLUMNS = ["pheno1", "pheno2", "rg", "se", "p", "n", "method", "flag"]


class Similarity(Protocol):
    """A similarity (kinship / GRM) over ``n`` individuals, addressable by index arrays."""

    n: int

    def matrix(self, idx: np.ndarray) -> np.ndarray: ...

    def lower_rows(self, idx: np.ndarray) -> Iterator[tuple[int, np.ndarray]]: ...


class DenseSimilarity:
    """An in-memory similarity matrix, shape (N, N)."""

    def __init__(self, K: np.ndarray, *, source: str = "similarity matrix") -> None:
        K = np.asarray(K, dtype=np.float64)
        check_similarity(K, source=source)
        self.K = K
        self.n = K.shape[0]
        self.source = source

    def matrix(self, idx: np.ndarray) -> np.ndarray:
        return self.K[np.ix_(idx, idx)]

    def lower_rows(self, idx: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        return lower_rows_from_matrix(self.matrix(idx))


class GenotypeSimilarity:
    """The GWAS engine's standardised kinship (``gwas.kinship.standardised_kinship``) of
    genotype rows ``rows``, computed for each requested subset of individuals: standardised
    over that subset, as contig-gwas does per phenotype group, so h2 here equals the h2 of its
    null-model table (without LOCO). One genotype pass per distinct subset (cached)."""

    def __init__(self, source, *, rows: np.ndarray, variants: np.ndarray | None = None) -> None:
        self.source_obj = source
        self.rows = np.asarray(rows, dtype=np.int64)
        self.variants = (np.arange(len(source.variants)) if variants is None
                         else np.asarray(variants, dtype=np.int64))
        self.n = len(self.rows)
        self.source = f"kinship of {source.path}"
        self._cache: dict[bytes, np.ndarray] = {}

    def matrix(self, idx: np.ndarray) -> np.ndarray:
        from ..gwas.kinship import standardised_kinship

        key = np.asarray(idx, dtype=np.int64).tobytes()
        if key not in self._cache:
            try:
                K = standardised_kinship(source=self.source_obj, samples=self.rows[idx],
                                         variants=self.variants)
            except ValueError as exc:
                raise InputError(f"{self.source_obj.path}: {exc}") from None
            check_similarity(K, source=self.source)
            self._cache = {key: K}  # keep one: N x N each
        return self._cache[key]

    def lower_rows(self, idx: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        return lower_rows_from_matrix(self.matrix(idx))

    def genotype_blocks(self, idx: np.ndarray, *, n_groups: int) -> Iterator[np.ndarray]:
        """Dosage blocks over the individuals ``idx`` (HE without an N x N matrix)."""
        m = len(self.variants)
        size = int(min(2000, max(1, -(-m // n_groups))))
        for block in self.source_obj.iter_blocks(samples=self.rows[idx], variants=self.variants,
                                                 block_size=size):
            yield block.dosages


class GctaGrmSimilarity:
    """A GCTA binary GRM on disk (``PREFIX.grm.bin``), streamed for HE, read whole for REML.

    ``index`` maps the caller's individuals (0..n-1) to rows of ``PREFIX.grm.id``.
    """

    def __init__(self, prefix: str | os.PathLike, *, index: np.ndarray) -> None:
        self.prefix = str(prefix)
        self.index = np.asarray(index, dtype=np.int64)
        self.n = len(self.index)
        self.source = self.prefix + ".grm.bin"

    def matrix(self, idx: np.ndarray) -> np.ndarray:
        K = read_gcta_grm_matrix(self.prefix, index=self.index[idx])
        check_similarity(K, source=self.source)
        return K

    def lower_rows(self, idx: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        return read_gcta_grm(self.prefix, index=self.index[idx])


def check_similarity(K: np.ndarray, *, source: str) -> None:
    """Raise InputError unless K is square, finite, symmetric and not zero."""
    if K.ndim != 2 or K.shape[0] != K.shape[1]:
        raise InputError(f"{source}: similarity matrix must be square, got shape {K.shape}")
    if not np.all(np.isfinite(K)):
        raise InputError(f"{source}: similarity matrix has {int((~np.isfinite(K)).sum())} "
                         f"non-finite entries")
    scale = float(np.max(np.abs(K))) if K.size else 0.0
    if scale == 0.0:
        raise InputError(f"{source}: similarity matrix is zero (no polymorphic variants?): "
                         f"h2 is not identifiable")
    asym = float(np.max(np.abs(K - K.T)))
    if asym > 1e-6 * scale:
        raise InputError(f"{source}: similarity matrix is not symmetric (max |K - K'| = "
                         f"{asym:.3g})")


@dataclass
class HeritabilityEstimate:
    """Heritability of every phenotype and genetic correlation of the requested pairs.

    Attributes:
        h2: one result per phenotype, in input order.
        rg: one result per pair.
        notes: what was done (subsets, dropped covariates, method chosen).
    """

    h2: list[H2Result]
    rg: list[RGResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def h2_frame(self) -> pd.DataFrame:
        """The ``.h2.tsv`` table: phenotype, n, h2, se, sg2, se2, method, converged, flag."""
        return pd.DataFrame([r.as_row() for r in self.h2], columns=None)[H2_COLUMNS]

    def rg_frame(self) -> pd.DataFrame:
        """The ``.rg.tsv`` table: pheno1, pheno2, rg, se, p, n, method, flag."""
        if not self.rg:
            return pd.DataFrame(columns=RG_COLUMNS)
        return pd.DataFrame([r.as_row() for r in self.rg])[RG_COLUMNS]

    def summary(self) -> str:
        lines = [r.summary() for r in self.h2] + [r.summary() for r in self.rg]
        return "\n".join(lines)


def choose_method(method: str, *, n: int, reml_max_n: int = REML_MAX_N) -> str:
    """``reml``, ``he``, or for ``auto`` REML up to ``reml_max_n`` individuals and HE above."""
    if method not in ("reml", "he", "auto"):
        raise InputError(f"--method must be reml, he or auto, got {method!r}")
    if method == "auto":
        return "reml" if n <= reml_max_n else "he"
    return method


def _design(covar: np.ndarray | None, covar_names: Sequence[str], idx: np.ndarray,
            notes: list[str], label: str) -> np.ndarray:
    """Intercept + covariates over ``idx``, constant/collinear ones dropped exactly as the GWAS
    engine drops them (``gwas.design.clean_covariates``), so the null model is the same."""
    from ..gwas.design import clean_covariates

    C = np.zeros((len(idx), 0)) if covar is None else covar[idx]
    X, _, dropped = clean_covariates(C, list(covar_names) if covar is not None else [])
    for d in dropped:
        notes.append(f"{label}: {d}")
    return X


def _residual_is_constant(y: np.ndarray, X: np.ndarray) -> bool:
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    r = y - X @ beta
    return bool(np.sum(r * r) <= 1e-20 * max(1.0, float(np.sum(y * y))))


def _check_informative(K: np.ndarray, X: np.ndarray, *, source: str) -> None:
    """The similarity must vary beyond the covariates: tr(P K) > 0 with P = I - X(X'X)^-1X'."""
    tr_k = float(np.trace(K))
    xtx_inv = np.linalg.pinv(X.T @ X)
    tr_pk = tr_k - float(np.sum(xtx_inv * (X.T @ K @ X)))
    if not tr_pk > 1e-8 * max(abs(tr_k), float(np.abs(K).max())):
        raise InputError(f"{source}: the similarity matrix carries no information beyond the "
                         f"covariates (tr(PK) = {tr_pk:.3g}; e.g. every pair equally "
                         f"related): h2 is not identifiable")


def estimate_heritability(*, Y: pd.DataFrame, similarity: Similarity,
                          covar: np.ndarray | None = None, covar_names: Sequence[str] = (),
                          method: str = "auto", rg_pairs: Sequence[tuple[str, str]] = (),
                          reml_max_n: int = REML_MAX_N, he_groups: int = 20,
                          he_se: str = "moments", seed: int = 0) -> HeritabilityEstimate:
    """h2 of every column of Y and rg of the requested pairs.

    Args:
        Y: phenotypes, shape (N, T), NaN where missing; rows are the similarity's individuals.
        similarity: the similarity over the same N individuals (``DenseSimilarity``,
            ``GenotypeSimilarity`` or ``GctaGrmSimilarity``).
        covar: covariates without intercept, shape (N, C), complete (the caller drops
            individuals with a missing covariate); ``None`` for none.
        covar_names: their names, length C.
        method: ``reml``, ``he`` or ``auto``.
        rg_pairs: pairs of column names of Y.
        reml_max_n: the ``auto`` threshold.
        he_groups: jackknife groups for HE.
        he_se: HE standard errors: ``moments`` (Gaussian moments with exact or Hutchinson
            traces; the better calibrated in our simulations) or ``jackknife`` (delete-a-group
            over individuals; robust to non-normal traits, slightly conservative).
        seed: seed of the HE jackknife groups and trace probes.
    Returns:
        ``HeritabilityEstimate``.
    Raises:
        InputError for an unusable similarity matrix, unknown pair names, or fewer than 3
        individuals.
    """
    n = similarity.n
    if Y.shape[0] != n:
        raise InputError(f"{Y.shape[0]} phenotype rows but the similarity matrix has {n}")
    if n < 3:
        raise InputError(f"only {n} individual(s) with genotypes, phenotypes and covariates: "
                         f"heritability needs many more")
    if covar is not None and np.isnan(covar).any():
        raise InputError("covariates have missing values; drop those individuals first")
    names = [str(c) for c in Y.columns]
    for a, b in rg_pairs:
        for x in (a, b):
            if x not in names:
                raise InputError(f"rg pair ({a}, {b}): no phenotype {x!r} (phenotypes are "
                                 f"{names})")
    if he_se not in ("moments", "jackknife"):
        raise InputError(f"HE standard error must be moments or jackknife, got {he_se!r}")
    values = Y.to_numpy(dtype=np.float64)
    observed = ~np.isnan(values)
    notes: list[str] = []
    chosen = choose_method(method, n=n, reml_max_n=reml_max_n)
    notes.append(f"method: {chosen} ({'chosen by size, ' if method == 'auto' else ''}"
                 f"{n} individuals)")

    # group phenotypes by missingness pattern
    groups: dict[bytes, list[int]] = {}
    for t in range(len(names)):
        groups.setdefault(observed[:, t].tobytes(), []).append(t)
    results: dict[int, H2Result] = {}
    # at most two subsets' eigendecompositions in memory (each N x N); rg pairs are visited
    # grouped by subset so that each is decomposed once
    cache: OrderedDict[bytes, dict] = OrderedDict()

    def prepare(mask: np.ndarray, label: str) -> dict:
        key = mask.tobytes()
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
        while len(cache) >= 2:
            cache.popitem(last=False)
        idx = np.flatnonzero(mask)
        X = _design(covar, covar_names, idx, notes, label)
        entry = {"idx": idx, "X": X}
        if chosen == "reml" and len(idx) >= X.shape[1] + MIN_EXTRA_N:
            K = similarity.matrix(idx)
            _check_informative(K, X, source=getattr(similarity, "source", "similarity"))
            S, U = np.linalg.eigh(K)
            entry.update(S=np.maximum(S, 0.0), U=U, UtX=U.T @ X)
        if chosen == "he" and he_se == "moments" and not hasattr(similarity, "genotype_blocks"):
            if len(idx) <= HE_EXACT_TRACES_MAX_N:
                entry["traces"] = _he(he_traces, K=similarity.matrix(idx))
            else:
                entry["traces"] = _he(he_traces,
                                      lower_rows_factory=lambda: similarity.lower_rows(idx),
                                      n=len(idx), seed=seed)
        cache[key] = entry
        return entry

    for key, cols in groups.items():
        mask = observed[:, cols[0]]
        m = int(mask.sum())
        label = f"phenotypes {[names[t] for t in cols][:5]}" + ("..." if len(cols) > 5 else "")
        p = 1 + (covar.shape[1] if covar is not None else 0)
        if m < p + MIN_EXTRA_N:
            for t in cols:
                results[t] = flagged_result(phenotype=names[t], n=m, method=chosen.upper(),
                                            flag="too_few_individuals")
            notes.append(f"{label}: {m} individuals observed, fewer than {p + MIN_EXTRA_N}; "
                         f"flagged")
            continue
        entry = prepare(mask, label)
        idx, X = entry["idx"], entry["X"]
        live = []
        for t in cols:
            y = values[idx, t]
            if _residual_is_constant(y, X):
                results[t] = flagged_result(phenotype=names[t], n=m, method=chosen.upper(),
                                            flag="constant_phenotype")
            else:
                live.append(t)
        if not live:
            continue
        if chosen == "reml":
            for t in live:
                y = values[idx, t]
                results[t] = reml_h2(S=entry["S"], UtX=entry["UtX"], Uty=entry["U"].T @ y,
                                     phenotype=names[t])
        else:
            fit = _he_fit(similarity, idx, Y=values[np.ix_(idx, live)], X=X,
                          names=[names[t] for t in live], n_groups=he_groups, seed=seed,
                          traces=entry.get("traces"), he_se=he_se)
            h2, se = fit.h2, fit.h2_se
            for k, t in enumerate(live):
                flags = [] if 0.0 <= h2[k] <= 1.0 else ["h2_outside_0_1"]
                results[t] = H2Result(phenotype=names[t], n=m, h2=float(h2[k]), se=float(se[k]),
                                      sg2=float(h2[k] * fit.var[k]),
                                      se2=float((1 - h2[k]) * fit.var[k]), method="HE",
                                      converged=True, flag=",".join(flags) or "ok",
                                      se_method=_se_label(fit, similarity))

    rg_results: list[RGResult | None] = [None] * len(rg_pairs)
    pair_idx = [(names.index(a), names.index(b)) for a, b in rg_pairs]

    def subset(k: int) -> bytes:
        ta, tb = pair_idx[k]
        return (observed[:, ta] & observed[:, tb]).tobytes()

    for k in sorted(range(len(rg_pairs)), key=subset):
        ta, tb = pair_idx[k]
        rg_results[k] = _pair(ta, tb, names=names, values=values, observed=observed,
                              results=results, prepare=prepare, chosen=chosen,
                              similarity=similarity, he_groups=he_groups, he_se=he_se,
                              seed=seed)
    return HeritabilityEstimate(h2=[results[t] for t in range(len(names))],
                                rg=[r for r in rg_results if r is not None], notes=notes)


def _he_fit(similarity, idx: np.ndarray, *, Y, X, names, n_groups, seed, traces, he_se):
    """HE from genotype blocks (no N x N matrix; SNP-block jackknife) when the similarity is
    built from genotypes, else from its lower-triangle row blocks."""
    if hasattr(similarity, "genotype_blocks"):
        from .he_genotypes import he_from_genotypes

        again = None
        if he_se == "moments":
            def again():
                return similarity.genotype_blocks(idx, n_groups=n_groups)
        return _he(he_from_genotypes, blocks=similarity.genotype_blocks(idx, n_groups=n_groups),
                   Y=Y, X=X, names=names, n_groups=n_groups, seed=seed, second_pass=again)
    return _he(Y=Y, X=X, lower_rows=similarity.lower_rows(idx), names=names, n_groups=n_groups,
               seed=seed, traces=traces)


def _se_label(fit, similarity) -> str:
    if fit.traces is None and hasattr(similarity, "genotype_blocks"):
        return "snp_jackknife"
    return fit.se_method


def _he(fn=he_regression, **kwargs):
    try:
        return fn(**kwargs)
    except ValueError as exc:
        raise InputError(f"HE regression: {exc}") from None


def _pair(ta: int, tb: int, *, names, values, observed, results, prepare, chosen, similarity,
          he_groups, he_se, seed) -> RGResult:
    a, b = names[ta], names[tb]
    nan = float("nan")
    mask = observed[:, ta] & observed[:, tb]
    m = int(mask.sum())

    def flagged(flag: str, n: int = m) -> RGResult:
        return RGResult(pheno1=a, pheno2=b, rg=nan, se=nan, p=nan, n=n, method=chosen.upper(),
                        h2_1=nan, h2_2=nan, gcov=nan, ecov=nan, converged=False, flag=flag)

    bad = [f for f in (results[ta].flag, results[tb].flag)
           if f in ("constant_phenotype", "too_few_individuals")]
    if bad:
        return flagged(bad[0])
    if ta == tb:
        return flagged("same_phenotype")
    entry = prepare(mask, f"pair ({a}, {b})")
    idx, X = entry["idx"], entry["X"]
    if m < X.shape[1] + MIN_EXTRA_N:
        return flagged("too_few_individuals")
    Y2 = values[np.ix_(idx, [ta, tb])]
    if any(_residual_is_constant(Y2[:, k], X) for k in (0, 1)):
        return flagged("constant_phenotype")
    if chosen == "reml":
        return bivariate_reml(S=entry["S"], UtX=entry["UtX"], UtY=entry["U"].T @ Y2,
                              pheno1=a, pheno2=b)
    fit = _he_fit(similarity, idx, Y=Y2, X=X, names=[a, b], n_groups=he_groups, seed=seed,
                  traces=entry.get("traces"), he_se=he_se)
    rg, se = fit.rg(0, 1)
    h2 = fit.h2
    flags = []
    if not (h2[0] > 0 and h2[1] > 0):
        flags.append("h2_not_positive")
    elif abs(rg) > 1:
        flags.append("rg_outside_-1_1")
    return RGResult(pheno1=a, pheno2=b, rg=rg, se=se, p=rg_wald(rg, se), n=m, method="HE",
                    h2_1=float(h2[0]), h2_2=float(h2[1]), gcov=float(fit.gcov[0, 1]), ecov=nan,
                    converged=True, flag=",".join(flags) or "ok")
