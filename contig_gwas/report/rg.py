"""Genetic correlations of learned with standard phenotypes (``contig-h2 --rg`` tables) as a
matrix and a heatmap: rows learned, columns standard, SE in the cell text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from .inputs import read_result_table

RG_REQUIRED = ["pheno1", "pheno2", "rg", "se"]
LEARNED = re.compile(r"(^|[_./])(PC_\d+|emb_\d+)$")   # as contig-h2 names learned phenotypes


def read_rg(paths: Sequence[Path]) -> pd.DataFrame:
    """Concatenate ``PREFIX.rg.tsv`` tables (pheno1, pheno2, rg, se[, p, n, method, flag])."""
    tables = []
    for p in paths:
        t = read_result_table(p, what="rg", required=RG_REQUIRED)
        if t is None:   # contig-h2 writes an empty .rg.tsv for an empty --rg-pairs file
            continue
        for c in ("rg", "se") + (("p",) if "p" in t.columns else ()):
            t[c] = pd.to_numeric(t[c], errors="coerce")
        t["pheno1"], t["pheno2"] = t["pheno1"].astype(str), t["pheno2"].astype(str)
        tables.append(t)
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=RG_REQUIRED)


@dataclass
class RgMatrix:
    """rg and its SE, shape (R, C): rows learned phenotypes, columns standard ones (NaN where
    the table has no pair)."""

    rows: list[str]
    columns: list[str]
    rg: np.ndarray
    se: np.ndarray

    def pairs(self) -> pd.DataFrame:
        """The matrix's cells with a value, as a table (learned, standard, rg, se)."""
        r, c = np.nonzero(~np.isnan(self.rg))
        return pd.DataFrame({"learned": [self.rows[i] for i in r],
                             "standard": [self.columns[j] for j in c],
                             "rg": self.rg[r, c], "se": self.se[r, c]})


#: report groups of measured phenotypes (the workflow's sets); the others are learned
STANDARD_GROUPS = ("standard", "diseases")


def standard_groups(groups: Mapping[str, Sequence[str]]) -> set[str]:
    """The groups of standard phenotypes: those called ``standard`` or ``diseases`` (the
    workflow's sets of measured traits and case-control traits), else the second group."""
    names = list(groups)
    found = {g for g in STANDARD_GROUPS if g in groups}
    return found or ({names[1]} if len(names) > 1 else set())


def group_aliases(groups: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Every name a member ``m`` of group ``g`` may carry in h2/rg tables -> ``g``: ``m``, its
    last path part, ``g_m`` and ``g.m`` (contig-h2 in the workflow names ``<set>_<column>``)."""
    alias: dict[str, str] = {}
    for g, members in groups.items():
        for m in members:
            base = m.rsplit("/", 1)[-1]
            for a in (m, base, f"{g}_{base}", f"{g}.{base}"):
                alias.setdefault(a, g)
    return alias


def learned_side(names: Sequence[str], *, groups: Mapping[str, Sequence[str]] | None = None
                 ) -> dict[str, bool]:
    """Whether each rg phenotype name is learned (True) or standard (False).

    With report groups: names of the standard groups (:func:`standard_groups`) are standard,
    names of any other group learned (matched through :func:`group_aliases`). Names no group
    claims, and all names without groups, are learned when they end in ``PC_<k>`` or
    ``emb_<k>``.
    """
    alias = group_aliases(groups) if groups else {}
    std = standard_groups(groups) if groups else set()
    return {n: alias[n] not in std if n in alias else bool(LEARNED.search(n)) for n in names}


def rg_matrix(table: pd.DataFrame, *, groups: Mapping[str, Sequence[str]] | None = None
              ) -> RgMatrix:
    """Learned x standard matrix of the pairs in ``table`` (rg is symmetric, so a pair given
    as standard, learned is transposed); pairs of two learned or two standard phenotypes are
    left out. Row and column order: first appearance in the table."""
    names = list(dict.fromkeys(list(table["pheno1"]) + list(table["pheno2"])))
    side = learned_side(names, groups=groups)
    rows: dict[str, int] = {}
    cols: dict[str, int] = {}
    cells = []
    for a, b, rg, se in table[["pheno1", "pheno2", "rg", "se"]].itertuples(index=False):
        if side[a] == side[b]:
            continue
        learned, standard = (a, b) if side[a] else (b, a)
        cells.append((rows.setdefault(learned, len(rows)), cols.setdefault(standard, len(cols)),
                      float(rg), float(se)))
    r = np.full((len(rows), len(cols)), np.nan)
    s = np.full_like(r, np.nan)
    for i, j, v, e in cells:
        r[i, j], s[i, j] = v, e
    return RgMatrix(rows=list(rows), columns=list(cols), rg=r, se=s)


def cell_text(rg: float, se: float) -> str:
    """The text of one heatmap cell: rg over its SE in brackets ('' for a missing pair)."""
    if not np.isfinite(rg):
        return ""
    return f"{rg:.2f}\n({se:.2f})" if np.isfinite(se) else f"{rg:.2f}"


def heatmap_size(m: RgMatrix) -> tuple[float, float]:
    """Figure size (inches) giving each cell room for its two lines of text."""
    longest = max((len(n) for n in m.rows), default=4)
    return (min(12.0, 1.6 + 0.055 * longest + 0.62 * max(len(m.columns), 1)),
            min(12.0, 1.5 + 0.42 * max(len(m.rows), 1)))


def rg_heatmap(*, ax: Axes, m: RgMatrix, colourbar: bool = True) -> Axes:
    """Heatmap of ``m.rg`` on [-1, 1] (blue negative, red positive), the SE in each cell's
    text, learned phenotypes down the rows and standard ones along the columns."""
    im = ax.imshow(np.ma.masked_invalid(m.rg), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto",
                   interpolation="nearest")
    for i in range(len(m.rows)):
        for j in range(len(m.columns)):
            v = m.rg[i, j]
            if np.isfinite(v):
                ax.text(j, i, cell_text(v, m.se[i, j]), ha="center", va="center", fontsize=6,
                        color="white" if abs(v) > 0.6 else "0.1")
    ax.set_xticks(np.arange(len(m.columns)))
    ax.set_xticklabels(m.columns, rotation=40, ha="right", rotation_mode="anchor")
    ax.set_yticks(np.arange(len(m.rows)))
    ax.set_yticklabels(m.rows)
    ax.set_xlabel("standard phenotype")
    ax.set_ylabel("learned phenotype")
    for s in ax.spines.values():
        s.set_visible(False)
    ax.tick_params(length=0)
    if colourbar:
        fig = ax.figure
        cb = fig.colorbar(im, ax=ax, fraction=0.05, pad=0.02)
        cb.set_label("genetic correlation rg")
    return ax
