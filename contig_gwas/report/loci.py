"""Loci by clumping, with PLINK 1.9 ``--clump`` semantics.

Index variants are those with p <= p1, taken in order of increasing p (ties in file order).
Each index variant not already in a clump starts a locus and absorbs every variant not yet in a
clump that lies on the same chromosome within ``kb`` kilobases, has p <= p2 and has r2 >= the
threshold with the index variant. As in PLINK 1.9 (``--clump`` and ``--ld``), r2 comes from
maximum-likelihood two-locus haplotype frequencies (EM over the phase of double
heterozygotes) of the hard calls, over the individuals called at both variants; it is read
from the genotypes only for the windows around index variants. (The squared correlation of
allele counts, :func:`pairwise_r2`, differs from it by a few hundredths.)
Without genotypes every variant in the window with p <= p2 is absorbed (distance-only clumping).

Significance is ranked on ``neg_log10_p_value`` so underflowed p-values (p = 0) keep their order.

References: Purcell et al. (2007) PLINK; Chang et al. (2015) PLINK 1.9, ``--clump``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io.source import GenotypeSource
from ..outputs import atomic_path

LOCI_COLUMNS = ["locus", "chromosome", "base_pair_location", "variant_id", "effect_allele",
                "other_allele", "beta", "standard_error", "p_value", "neg_log10_p_value",
                "phenotype", "n_variants", "start", "end", "members"]

R2Function = Callable[[int, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ClumpParams:
    """Clumping thresholds (PLINK 1.9 ``--clump-p1/-p2/-r2/-kb``)."""

    p1: float = 5e-8
    p2: float = 1e-5
    r2: float = 0.1
    kb: float = 250.0

    def __post_init__(self) -> None:
        for name in ("p1", "p2"):
            v = getattr(self, name)
            if not 0 < v <= 1:
                raise InputError(f"--clump-{name} must be in (0, 1], got {v}")
        if not 0 <= self.r2 <= 1:
            raise InputError(f"--clump-r2 must be in [0, 1], got {self.r2}")
        if self.kb <= 0:
            raise InputError(f"--clump-kb must be positive, got {self.kb}")

    def as_dict(self) -> dict[str, float]:
        return {"clump_p1": self.p1, "clump_p2": self.p2, "clump_r2": self.r2, "clump_kb": self.kb}


@dataclass
class ClumpResult:
    """Clumps over the rows of one table.

    Attributes:
        index: int, shape (L,): row of the lead (index) variant of each locus, most
            significant first.
        members: list of L int arrays: rows absorbed by each locus (lead excluded).
        assignment: int, shape (M,): locus number of every row, -1 for rows in no locus.
        ld_used: whether r2 came from genotypes (False: distance only).
    """

    index: np.ndarray
    members: list[np.ndarray]
    assignment: np.ndarray
    ld_used: bool


def clump(*, chromosome: np.ndarray, position: np.ndarray, neg_log10_p: np.ndarray,
          params: ClumpParams, r2: R2Function | None = None) -> ClumpResult:
    """Greedy clumping of M variants (arrays of shape (M,)).

    ``r2(i, js)`` returns the r2 between row ``i`` and rows ``js`` (shape (len(js),)), NaN where
    it cannot be computed (such rows are not absorbed); None means distance-only clumping.
    """
    chrom = np.asarray(chromosome, dtype=np.int64)
    pos = np.asarray(position, dtype=np.int64)
    nlp = np.asarray(neg_log10_p, dtype=np.float64)
    m = len(nlp)
    if not (len(chrom) == len(pos) == m):
        raise ValueError("chromosome, position and neg_log10_p must have the same length")
    t1, t2 = -np.log10(params.p1), -np.log10(params.p2)
    tol = 1e-9  # p-values printed to 6 significant digits must not fall off the threshold
    ok = ~np.isnan(nlp)
    is_index = ok & (nlp >= t1 - tol)
    is_member = ok & (nlp >= t2 - tol)
    cand = np.flatnonzero(is_index | is_member)
    assignment = np.full(m, -1, dtype=np.int64)
    # candidates sorted by (chromosome, position) for window look-ups
    cand = cand[np.lexsort((pos[cand], chrom[cand]))]
    c_chrom, c_pos = chrom[cand], pos[cand]
    order = np.flatnonzero(is_index)
    order = order[np.argsort(-nlp[order], kind="stable")]
    window = int(round(params.kb * 1000))
    leads: list[int] = []
    members: list[np.ndarray] = []
    for i in order:
        if assignment[i] != -1:
            continue
        lo = np.searchsorted(c_chrom, chrom[i], side="left")
        hi = np.searchsorted(c_chrom, chrom[i], side="right")
        a = lo + np.searchsorted(c_pos[lo:hi], pos[i] - window, side="left")
        b = lo + np.searchsorted(c_pos[lo:hi], pos[i] + window, side="right")
        js = cand[a:b]
        js = js[(js != i) & (assignment[js] == -1) & is_member[js]]
        if r2 is not None and len(js):
            r = np.asarray(r2(int(i), js), dtype=np.float64)
            js = js[~np.isnan(r) & (r >= params.r2 - 1e-12)]
        k = len(leads)
        assignment[i] = k
        assignment[js] = k
        leads.append(int(i))
        members.append(np.sort(js))
    return ClumpResult(index=np.asarray(leads, dtype=np.int64), members=members,
                       assignment=assignment, ld_used=r2 is not None)


def pairwise_r2(x: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Squared correlation of dosage vector ``x`` (N,) with each column of ``ys`` (N, K),
    over individuals called at both; NaN where a variant is monomorphic among them."""
    x = np.asarray(x, dtype=np.float64)[:, None]
    ys = np.asarray(ys, dtype=np.float64)
    both = ~np.isnan(x) & ~np.isnan(ys)
    n = both.sum(axis=0)
    xv = np.where(both, x, 0.0)
    yv = np.where(both, ys, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = xv.sum(axis=0) / n
        my = yv.sum(axis=0) / n
        cov = (xv * yv).sum(axis=0) / n - mx * my
        vx = (xv * xv).sum(axis=0) / n - mx * mx
        vy = (yv * yv).sum(axis=0) / n - my * my
        r2 = cov * cov / (vx * vy)
    r2[(vx <= 1e-12) | (vy <= 1e-12) | (n < 2)] = np.nan
    return np.clip(r2, 0.0, 1.0)


def haplotype_r2(x: np.ndarray, ys: np.ndarray, *, tol: float = 1e-12,
                 max_iter: int = 1000) -> np.ndarray:
    """r2 from EM haplotype frequencies between variant ``x`` (N,) and each column of ``ys``
    (N, K), as PLINK 1.9 computes it for ``--ld`` and ``--clump``.

    Dosages are rounded to hard calls 0/1/2; individuals missing either call are skipped.
    Haplotype counts are known except for double heterozygotes, whose phase is estimated by EM
    (Excoffier and Slatkin 1995). NaN where a variant is monomorphic among the individuals used.
    """
    gx = np.rint(np.asarray(x, dtype=np.float64))[:, None]
    gy = np.rint(np.asarray(ys, dtype=np.float64))
    ok = ~np.isnan(gx) & ~np.isnan(gy)
    n = {(i, j): np.sum(ok & (gx == i) & (gy == j), axis=0).astype(np.float64)
         for i in range(3) for j in range(3)}
    c11 = 2 * n[2, 2] + n[2, 1] + n[1, 2]
    c10 = 2 * n[2, 0] + n[2, 1] + n[1, 0]
    c01 = 2 * n[0, 2] + n[1, 2] + n[0, 1]
    c00 = 2 * n[0, 0] + n[1, 0] + n[0, 1]
    d = n[1, 1]
    total = c11 + c10 + c01 + c00 + 2 * d
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.full(len(d), 0.5)
        for _ in range(max_iter):
            f11, f00 = (c11 + d * w) / total, (c00 + d * w) / total
            f10, f01 = (c10 + d * (1 - w)) / total, (c01 + d * (1 - w)) / total
            num, den = f11 * f00, f11 * f00 + f10 * f01
            w_new = np.where(den > 0, num / np.where(den > 0, den, 1), 0.5)
            done = np.nanmax(np.abs(w_new - w)) if len(w) else 0.0
            w = w_new
            if not done > tol:
                break
        f11 = (c11 + d * w) / total
        f10 = (c10 + d * (1 - w)) / total
        f01 = (c01 + d * (1 - w)) / total
        pa, pb = f11 + f10, f11 + f01
        var = pa * (1 - pa) * pb * (1 - pb)
        r2 = (f11 - pa * pb) ** 2 / var
    r2[(var <= 1e-12) | ~np.isfinite(r2)] = np.nan
    return np.clip(r2, 0.0, 1.0)


@dataclass
class GenotypeLD:
    """r2 between rows of a summary-statistics table, from a genotype source.

    Only the variants of each window are read (never the whole matrix). Rows whose variant_id is
    absent from the genotypes get no r2 (they are not absorbed; as index variants they form
    a locus of their own). ``r2_function(x, ys)`` is :func:`haplotype_r2` (PLINK's ``--clump``
    r2) unless another is given (:func:`pairwise_r2`: the squared allele-count correlation).
    """

    source: GenotypeSource
    row_to_geno: np.ndarray  # int, shape (M,): column in the genotype source, -1 if absent
    n_read: int = field(default=0)
    block_size: int = 256
    r2_function: Callable[[np.ndarray, np.ndarray], np.ndarray] = haplotype_r2

    @classmethod
    def for_table(cls, *, source: GenotypeSource, variant_id: Sequence[str],
                  r2_function: Callable[[np.ndarray, np.ndarray], np.ndarray] = haplotype_r2
                  ) -> "GenotypeLD":
        ids = pd.Index(source.variants["variant_id"].astype(str))
        if not ids.is_unique:
            ids = ids.where(~ids.duplicated(keep="first"), None)
        rows = pd.Index(np.asarray(variant_id, dtype=str))
        return cls(source=source, row_to_geno=ids.get_indexer(rows), r2_function=r2_function)

    def __call__(self, i: int, js: np.ndarray) -> np.ndarray:
        out = np.full(len(js), np.nan)
        gi = self.row_to_geno[i]
        gj = self.row_to_geno[js]
        ok = np.flatnonzero(gj >= 0)
        if gi < 0 or not len(ok):
            return out
        x = self.source.read(variants=np.array([gi])).dosages[:, 0]
        self.n_read += 1
        # members in blocks, so memory stays N x block_size however dense the window
        for a in range(0, len(ok), self.block_size):
            k = ok[a:a + self.block_size]
            uniq, inv = np.unique(gj[k], return_inverse=True)
            dos = self.source.read(variants=uniq).dosages
            self.n_read += len(uniq)
            out[k] = self.r2_function(x, dos[:, inv])
        return out


def loci_table(table: pd.DataFrame, result: ClumpResult, *,
               phenotype: str | None = None) -> pd.DataFrame:
    """One row per locus: the lead variant's statistics, span and members (PLINK's SP2)."""
    rows = []
    vid = table["variant_id"].astype(str).to_numpy()
    pos = table["base_pair_location"].to_numpy()
    for k, (i, js) in enumerate(zip(result.index, result.members)):
        r = table.iloc[int(i)]
        allpos = np.concatenate([[pos[i]], pos[js]])
        rows.append({
            "locus": k + 1, "chromosome": int(r["chromosome"]),
            "base_pair_location": int(r["base_pair_location"]), "variant_id": vid[i],
            "effect_allele": r["effect_allele"], "other_allele": r["other_allele"],
            "beta": r["beta"], "standard_error": r["standard_error"], "p_value": r["p_value"],
            "neg_log10_p_value": r["neg_log10_p_value"],
            "phenotype": r["phenotype"] if "phenotype" in table.columns else (phenotype or ""),
            "n_variants": 1 + len(js), "start": int(allpos.min()), "end": int(allpos.max()),
            "members": ",".join(vid[js]) if len(js) else "NONE",
        })
    return pd.DataFrame(rows, columns=LOCI_COLUMNS)


def write_loci(path: str | os.PathLike, loci: pd.DataFrame, *, params: ClumpParams,
               ld_used: bool, source: str) -> None:
    """Write a loci TSV with the clumping parameters as ``#`` header lines."""
    header = [f"# loci of {source}",
              "# " + " ".join(f"{k}={v:g}" for k, v in params.as_dict().items()),
              "# r2 from genotypes" if ld_used else "# distance-only clumping (no genotypes given)"]
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write("\n".join(header) + "\n")
            loci.to_csv(fh, sep="\t", index=False, float_format="%.6g", na_rep="NA")


def read_loci(path: str | os.PathLike) -> pd.DataFrame:
    """Read a loci TSV written by :func:`write_loci`."""
    path = Path(path)
    try:
        return pd.read_csv(path, sep="\t", comment="#", dtype={"variant_id": str, "members": str})
    except Exception as exc:
        raise InputError(f"{path}: cannot read loci table ({exc})") from None


def clump_table(table: pd.DataFrame, *, params: ClumpParams, genotypes=None,
                phenotype: str | None = None) -> tuple[pd.DataFrame, dict]:
    """Clump one summary-statistics table (dataset level).

    Only rows with p <= max(p1, p2) take part (the others can be neither index nor member);
    with ``genotypes`` (a source from ``open_genotypes``) r2 comes from the windows read.
    Returns the loci table and counts: candidates, without_genotypes (candidates whose
    variant_id is not in the genotypes), variants_read.
    """
    nlp = table["neg_log10_p_value"].to_numpy(dtype=np.float64)
    t = -np.log10(max(params.p1, params.p2)) - 1e-9
    rows = np.flatnonzero(nlp >= t)
    sub = table.iloc[rows].reset_index(drop=True)
    ld = None
    info = {"candidates": len(rows), "without_genotypes": 0, "variants_read": 0}
    if genotypes is not None and len(sub):
        ld = GenotypeLD.for_table(source=genotypes, variant_id=sub["variant_id"].astype(str))
        info["without_genotypes"] = int(np.sum(ld.row_to_geno < 0))
    res = clump(chromosome=sub["chromosome"].to_numpy(),
                position=sub["base_pair_location"].to_numpy(),
                neg_log10_p=sub["neg_log10_p_value"].to_numpy(), params=params,
                r2=ld if genotypes is not None else None)
    if ld is not None:
        info["variants_read"] = ld.n_read
    return loci_table(sub, res, phenotype=phenotype), info


def loci_overlap(loci: dict[str, pd.DataFrame], *, kb: float) -> pd.DataFrame:
    """For each group A: its loci with a lead of another group within ``kb`` kb on the same
    chromosome (shared) and without (unique to A), against each other group B and against
    all other groups together (``other_group`` = "any")."""
    rows = []
    names = list(loci)
    for a in names:
        la = loci[a]
        c, p = la["chromosome"].to_numpy(), la["base_pair_location"].to_numpy()
        others = [b for b in names if b != a]
        for b in others + (["any"] if len(others) > 1 else []):
            ref = pd.concat([loci[o] for o in others]) if b == "any" else loci[b]
            near = near_any(c, p, ref_chromosome=ref["chromosome"].to_numpy(),
                            ref_position=ref["base_pair_location"].to_numpy(), kb=kb)
            rows.append({"group": a, "other_group": b, "loci": len(la), "shared": int(near.sum()),
                         "unique": int((~near).sum())})
    return pd.DataFrame(rows, columns=["group", "other_group", "loci", "shared", "unique"])


def near_any(chromosome: np.ndarray, position: np.ndarray, *, ref_chromosome: np.ndarray,
             ref_position: np.ndarray, kb: float) -> np.ndarray:
    """Boolean, shape (len(chromosome),): a reference point lies within ``kb`` kb on the
    same chromosome."""
    out = np.zeros(len(chromosome), dtype=bool)
    ref_chromosome = np.asarray(ref_chromosome)
    ref_position = np.asarray(ref_position)
    for k, (c, p) in enumerate(zip(chromosome, position)):
        same = ref_chromosome == c
        out[k] = bool(np.any(np.abs(ref_position[same] - p) <= kb * 1000))
    return out
