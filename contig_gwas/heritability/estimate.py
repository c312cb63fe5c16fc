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
- Binary phenotypes (exactly two levels, 0/1 or 1/2): estimated on the observed scale as any
  other; their case share, and given a prevalence their liability-scale h2
  (``liability.to_liability``), are in ``HeritabilityEstimate.liability``.
- Similarity: any ``similarity.Similarity`` (``DenseSimilarity``, ``GenotypeSimilarity``,
  ``GctaGrmSimilarity``; re-exported here).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..defaults import REML_MAX_N
from ..errors import InputError
from .bivariate import RGResult, bivariate_reml, rg_wald
from .he import HEFit, HETraces, he_regression, he_traces
from .liability import (
    LIABILITY_COLUMNS,
    LiabilityScale,
    liability_notes,
    resolve_prevalences,
    sample_prevalences,
    to_liability,
)
from .reml import H2Result, flagged_result, reml_h2
from .similarity import (
    DenseSimilarity,
    GctaGrmSimilarity,
    GenotypeSimilarity,
    Similarity,
    check_similarity,
)

__all__ = ["estimate_heritability", "HeritabilityEstimate", "choose_method", "HESettings",
           "Similarity", "DenseSimilarity", "GenotypeSimilarity", "GctaGrmSimilarity",
           "check_similarity", "REML_MAX_N", "HE_EXACT_TRACES_MAX_N", "MIN_EXTRA_N",
           "H2_COLUMNS", "RG_COLUMNS"]

#: ``auto`` uses REML (an O(N^3) eigendecomposition) up to this many individuals.

#: HE moment SEs use exact traces up to this many individuals, Hutchinson estimates above.
HE_EXACT_TRACES_MAX_N = 3000
#: fewer observations than covariates + this is flagged ``too_few_individuals``.
MIN_EXTRA_N = 10

H2_COLUMNS = ["phenotype", "n", "h2", "se", "sg2", "se2", "method", "converged", "flag"]
RG_COLUMNS = ["pheno1", "pheno2", "rg", "se", "p", "n", "method", "flag"]


@dataclass
class HeritabilityEstimate:
    """Heritability of every phenotype and genetic correlation of the requested pairs.

    Attributes:
        h2: one result per phenotype, in input order.
        rg: one result per pair.
        notes: what was done (subsets, dropped covariates, method chosen).
        liability: the binary phenotypes (two levels, 0/1 or 1/2) by name: case share and,
            given a prevalence, h2 on the liability scale.
    """

    h2: list[H2Result]
    rg: list[RGResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    liability: dict[str, LiabilityScale] = field(default_factory=dict)

    def h2_frame(self) -> pd.DataFrame:
        """The ``.h2.tsv`` table: phenotype, n, h2, se, sg2, se2, method, converged, flag, and
        when a phenotype is binary sample_prevalence, prevalence, h2_liability, se_liability
        (NA for the quantitative ones)."""
        frame = pd.DataFrame([r.as_row() for r in self.h2], columns=None)[H2_COLUMNS]
        if not self.liability:
            return frame
        nan = float("nan")
        extra = [self.liability[r.phenotype].as_row() if r.phenotype in self.liability
                 else dict.fromkeys(LIABILITY_COLUMNS, nan) for r in self.h2]
        return pd.concat([frame, pd.DataFrame(extra, columns=LIABILITY_COLUMNS)], axis=1)

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
                          he_se: str = "moments", seed: int = 0,
                          prevalence: Mapping[str | None, float] | None = None
                          ) -> HeritabilityEstimate:
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
        prevalence: population prevalence K of binary phenotypes (two levels, 0/1 or 1/2) by
            name, the key None for every other binary one (``liability.parse_prevalences``):
            their h2 is also given on the liability scale (``liability``).
    Returns:
        ``HeritabilityEstimate``.
    Raises:
        InputError for an unusable similarity matrix, unknown pair names, fewer than 3
        individuals, or a prevalence for a phenotype that is absent or not binary.
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
    shares = sample_prevalences(Y.to_numpy(dtype=np.float64), names)
    prev = resolve_prevalences(prevalence or {}, binary=list(shares), names=names)
    notes: list[str] = []
    chosen = choose_method(method, n=n, reml_max_n=reml_max_n)
    notes.append(f"method: {chosen} ({'chosen by size, ' if method == 'auto' else ''}"
                 f"{n} individuals)")
    est = _Estimator(similarity=similarity, values=Y.to_numpy(dtype=np.float64), names=names,
                     covar=covar, covar_names=covar_names, method=chosen,
                     he=HESettings(groups=he_groups, se=he_se, seed=seed), notes=notes)
    # phenotypes with the same missingness share one subset of individuals
    groups: dict[bytes, list[int]] = {}
    for t in range(len(names)):
        groups.setdefault(est.observed[:, t].tobytes(), []).append(t)
    results: dict[int, H2Result] = {}
    for cols in groups.values():
        results.update(est.h2(cols))
    # rg pairs visited grouped by subset, so that each subset is prepared once
    pair_idx = [(names.index(a), names.index(b)) for a, b in rg_pairs]
    rg_results: list[RGResult | None] = [None] * len(rg_pairs)
    for k in sorted(range(len(rg_pairs)), key=lambda k: est.pair_mask(*pair_idx[k]).tobytes()):
        ta, tb = pair_idx[k]
        rg_results[k] = est.rg(ta, tb, flags=(results[ta].flag, results[tb].flag))
    liability = {b: to_liability(phenotype=b, h2=results[names.index(b)].h2,
                                 se=results[names.index(b)].se, sample_prevalence=p,
                                 prevalence=prev.get(b)) for b, p in shares.items()}
    return HeritabilityEstimate(h2=[results[t] for t in range(len(names))],
                                rg=[r for r in rg_results if r is not None],
                                notes=notes + liability_notes(liability), liability=liability)


@dataclass
class HESettings:
    """Haseman-Elston settings: jackknife ``groups``, standard errors ``se`` (``moments`` or
    ``jackknife``) and the ``seed`` of the jackknife groups and trace probes."""

    groups: int = 20
    se: str = "moments"
    seed: int = 0


@dataclass
class Subset:
    """Individuals observed for some phenotypes, and what the method precomputes over them.

    Attributes:
        idx: the individuals (indices into the similarity), shape (n,).
        X: intercept and covariates over them (constant/collinear ones dropped), shape (n, D).
        S, U, UtX: REML: the similarity's eigenvalues (n,) (negatives set to 0) and
            eigenvectors (n, n) among them, and ``U' X``; None otherwise.
        traces: HE with moment SEs from a similarity matrix: its traces (``he.he_traces``).
    """

    idx: np.ndarray
    X: np.ndarray
    S: np.ndarray | None = None
    U: np.ndarray | None = None
    UtX: np.ndarray | None = None
    traces: HETraces | None = None


class _Estimator:
    """The estimates of one ``estimate_heritability`` call: phenotype ``values`` (N, T) with
    NaN where missing, covariates, the similarity and the chosen method, and the subsets of
    individuals prepared for them (``subset``; the last two are kept, each may hold an N x N
    eigendecomposition)."""

    def __init__(self, *, similarity: Similarity, values: np.ndarray, names: list[str],
                 covar: np.ndarray | None, covar_names: Sequence[str], method: str,
                 he: HESettings, notes: list[str]) -> None:
        self.similarity, self.values, self.names = similarity, values, names
        self.observed = ~np.isnan(values)
        self.covar, self.covar_names = covar, covar_names
        self.method, self.he, self.notes = method, he, notes
        self._subsets: OrderedDict[bytes, Subset] = OrderedDict()

    def subset(self, mask: np.ndarray, label: str) -> Subset:
        """The individuals of ``mask`` (N,) prepared for the method (``label`` names them in
        the notes)."""
        key = mask.tobytes()
        if key in self._subsets:
            self._subsets.move_to_end(key)
            return self._subsets[key]
        while len(self._subsets) >= 2:
            self._subsets.popitem(last=False)
        sim = self.similarity
        idx = np.flatnonzero(mask)
        sub = Subset(idx=idx, X=_design(self.covar, self.covar_names, idx, self.notes, label))
        if self.method == "reml" and len(idx) >= sub.X.shape[1] + MIN_EXTRA_N:
            K = sim.matrix(idx)
            _check_informative(K, sub.X, source=sim.source)
            S, U = np.linalg.eigh(K)
            sub.S, sub.U, sub.UtX = np.maximum(S, 0.0), U, U.T @ sub.X
        if self.method == "he" and self.he.se == "moments" and not sim.from_genotypes:
            if len(idx) <= HE_EXACT_TRACES_MAX_N:
                sub.traces = _he(he_traces, K=sim.matrix(idx))
            else:
                sub.traces = _he(he_traces, lower_rows_factory=lambda: sim.lower_rows(idx),
                                 n=len(idx), seed=self.he.seed)
        self._subsets[key] = sub
        return sub

    def h2(self, cols: list[int]) -> dict[int, H2Result]:
        """h2 of the phenotypes ``cols`` (column indices), observed for the same individuals."""
        names, values = self.names, self.values
        mask = self.observed[:, cols[0]]
        m = int(mask.sum())
        label = f"phenotypes {[names[t] for t in cols][:5]}" + ("..." if len(cols) > 5 else "")
        p = 1 + (self.covar.shape[1] if self.covar is not None else 0)
        if m < p + MIN_EXTRA_N:
            self.notes.append(f"{label}: {m} individuals observed, fewer than "
                              f"{p + MIN_EXTRA_N}; flagged")
            return {t: self._flagged_h2(t, m, "too_few_individuals") for t in cols}
        sub = self.subset(mask, label)
        out: dict[int, H2Result] = {}
        live = []
        for t in cols:
            if _residual_is_constant(values[sub.idx, t], sub.X):
                out[t] = self._flagged_h2(t, m, "constant_phenotype")
            else:
                live.append(t)
        if not live:
            return out
        if self.method == "reml":
            assert sub.S is not None and sub.U is not None and sub.UtX is not None
            for t in live:
                out[t] = reml_h2(S=sub.S, UtX=sub.UtX, Uty=sub.U.T @ values[sub.idx, t],
                                 phenotype=names[t])
            return out
        fit = self.he_fit(sub, values[np.ix_(sub.idx, np.asarray(live))], [names[t] for t in live])
        h2, se = fit.h2, fit.h2_se
        for k, t in enumerate(live):
            flags = [] if 0.0 <= h2[k] <= 1.0 else ["h2_outside_0_1"]
            out[t] = H2Result(phenotype=names[t], n=m, h2=float(h2[k]), se=float(se[k]),
                              sg2=float(h2[k] * fit.var[k]), se2=float((1 - h2[k]) * fit.var[k]),
                              method="HE", converged=True, flag=",".join(flags) or "ok",
                              se_method=self._se_label(fit))
        return out

    def pair_mask(self, ta: int, tb: int) -> np.ndarray:
        """The individuals observed for both phenotypes, shape (N,)."""
        return self.observed[:, ta] & self.observed[:, tb]

    def rg(self, ta: int, tb: int, *, flags: tuple[str, str]) -> RGResult:
        """rg of phenotypes ``ta`` and ``tb`` (``flags``: their h2 flags)."""
        a, b = self.names[ta], self.names[tb]
        nan = float("nan")
        mask = self.pair_mask(ta, tb)
        m = int(mask.sum())

        def flagged(flag: str) -> RGResult:
            return RGResult(pheno1=a, pheno2=b, rg=nan, se=nan, p=nan, n=m,
                            method=self.method.upper(), h2_1=nan, h2_2=nan, gcov=nan, ecov=nan,
                            converged=False, flag=flag)

        bad = [f for f in flags if f in ("constant_phenotype", "too_few_individuals")]
        if bad:
            return flagged(bad[0])
        if ta == tb:
            return flagged("same_phenotype")
        sub = self.subset(mask, f"pair ({a}, {b})")
        if m < sub.X.shape[1] + MIN_EXTRA_N:
            return flagged("too_few_individuals")
        Y2 = self.values[np.ix_(sub.idx, np.array([ta, tb]))]
        if any(_residual_is_constant(Y2[:, k], sub.X) for k in (0, 1)):
            return flagged("constant_phenotype")
        if self.method == "reml":
            assert sub.S is not None and sub.U is not None and sub.UtX is not None
            return bivariate_reml(S=sub.S, UtX=sub.UtX, UtY=sub.U.T @ Y2, pheno1=a, pheno2=b)
        fit = self.he_fit(sub, Y2, [a, b])
        rg, se = fit.rg(0, 1)
        h2 = fit.h2
        rg_flags = []
        if not (h2[0] > 0 and h2[1] > 0):
            rg_flags.append("h2_not_positive")
        elif abs(rg) > 1:
            rg_flags.append("rg_outside_-1_1")
        return RGResult(pheno1=a, pheno2=b, rg=rg, se=se, p=rg_wald(rg, se), n=m, method="HE",
                        h2_1=float(h2[0]), h2_2=float(h2[1]), gcov=float(fit.gcov[0, 1]),
                        ecov=nan, converged=True, flag=",".join(rg_flags) or "ok")

    def he_fit(self, sub: Subset, Y: np.ndarray, names: list[str]) -> HEFit:
        """HE of ``Y`` (n, T) over the subset: from genotype blocks (no N x N matrix; variant-
        block jackknife) when the similarity is built from genotypes, else from its
        lower-triangle row blocks."""
        sim, he, idx = self.similarity, self.he, sub.idx
        if sim.from_genotypes:
            from .he_genotypes import he_from_genotypes

            def blocks() -> Iterable[np.ndarray]:
                return sim.genotype_blocks(idx, n_groups=he.groups)

            return _he(he_from_genotypes, blocks=blocks(), Y=Y, X=sub.X, names=names,
                       n_groups=he.groups, seed=he.seed,
                       second_pass=blocks if he.se == "moments" else None)
        return _he(he_regression, Y=Y, X=sub.X, lower_rows=sim.lower_rows(idx), names=names,
                   n_groups=he.groups, seed=he.seed, traces=sub.traces)

    def _se_label(self, fit: HEFit) -> str:
        if fit.traces is None and self.similarity.from_genotypes:
            return "snp_jackknife"
        return fit.se_method

    def _flagged_h2(self, t: int, n: int, flag: str) -> H2Result:
        return flagged_result(phenotype=self.names[t], n=n, method=self.method.upper(),
                              flag=flag)


def _he(fn: Callable, **kwargs):
    try:
        return fn(**kwargs)
    except ValueError as exc:
        raise InputError(f"HE regression: {exc}") from None
