"""The answer first: one row per group comparing learned with standard phenotypes (loci,
shared and unique loci, recovery of planted variants, inflation, heritability)."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .rg import group_aliases


def comparison_table(*, groups: Mapping[str, Sequence[str]], summary: pd.DataFrame,
                     group_loci: Mapping[str, pd.DataFrame],
                     overlap: pd.DataFrame | None = None, recovery: pd.DataFrame | None = None,
                     h2: pd.DataFrame | None = None,
                     extra: Mapping[str, Mapping[str, object]] | None = None) -> pd.DataFrame:
    """One row per group.

    Columns: group, phenotypes, loci (of the combined scan), shared / unique (with any other
    group, from ``overlap``), causal / recovered / power / false_positive_loci (all traits,
    from ``recovery``), median lambda_gc over the group's phenotypes, median ldsc_intercept
    where ``summary`` has it, mean and max h2 (phenotypes of ``h2`` matched to the group), and
    any ``extra`` columns per group (e.g. omnibus loci).
    """
    rows = []
    alias = group_aliases(groups)
    for g, members in groups.items():
        row: dict[str, object] = {"group": g, "phenotypes": len(members),
                                  "loci": len(group_loci.get(g, ()))}
        if overlap is not None and len(overlap):
            o = overlap[(overlap["group"] == g) & (overlap["other_group"] == "any")]
            if not len(o):
                o = overlap[overlap["group"] == g]
            if len(o):
                row["shared"], row["unique"] = int(o["shared"].iloc[0]), int(o["unique"].iloc[0])
        row.update(dict((extra or {}).get(g, {})))
        if recovery is not None and len(recovery):
            r = recovery[(recovery["group"] == g) & (recovery["trait"] == "all traits")]
            if len(r):
                for c in ("causal", "recovered", "power", "false_positive_loci",
                          "omnibus_recovered", "omnibus_power"):
                    if c in r.columns:
                        row[c] = r[c].iloc[0]
        s = summary[summary["phenotype"].isin(list(members))]
        row["median_lambda_gc"] = float(np.median(s["lambda_gc"])) if len(s) else np.nan
        if "ldsc_intercept" in s.columns:
            v = pd.to_numeric(s["ldsc_intercept"], errors="coerce").dropna()
            row["median_ldsc_intercept"] = float(np.median(v)) if len(v) else np.nan
        if h2 is not None and len(h2):
            mine = h2[[alias.get(str(p)) == g for p in h2["phenotype"]]]
            v = pd.to_numeric(mine["h2"], errors="coerce").dropna()
            if len(v):
                row["mean_h2"], row["max_h2"] = float(v.mean()), float(v.max())
        rows.append(row)
    return pd.DataFrame(rows)


def inflation_plot(*, ax, summary: pd.DataFrame,
                   groups: Mapping[str, Sequence[str]] | None = None):
    """Genomic inflation per phenotype: lambda GC (circles) beside the LD-score-regression
    intercept with +-1 SE (squares), coloured by group, with the null value 1 dashed. An
    intercept near 1 under a lambda GC above 1 reads as polygenic signal, not confounding.
    ``summary`` has columns phenotype, lambda_gc, ldsc_intercept, ldsc_intercept_se."""
    import matplotlib.lines as mlines

    from .plots import GROUP_COLOURS

    where = {p: g for g, ps in (groups or {}).items() for p in ps}
    gnames = list(dict.fromkeys(where.get(p, "other") for p in summary["phenotype"]))
    colour = [GROUP_COLOURS[gnames.index(where.get(p, "other")) % len(GROUP_COLOURS)]
              for p in summary["phenotype"]]
    x = np.arange(len(summary), dtype=float)
    ax.axhline(1.0, color="0.4", lw=0.7, ls="--", zorder=0)
    ax.scatter(x - 0.15, summary["lambda_gc"].to_numpy(float), c=colour, s=14, marker="o",
               zorder=2)
    if "ldsc_intercept" in summary.columns:
        y = summary["ldsc_intercept"].to_numpy(float)
        se = summary["ldsc_intercept_se"].to_numpy(float)
        ax.errorbar(x + 0.15, y, yerr=se, fmt="none", ecolor="0.3", elinewidth=0.6, zorder=1)
        ax.scatter(x + 0.15, y, c=colour, s=14, marker="s", zorder=2, edgecolors="0.2",
                   linewidths=0.4)
    ax.set_xticks(x)
    ax.set_xticklabels(summary["phenotype"].astype(str), rotation=45, ha="right",
                       rotation_mode="anchor")
    ax.set_xlim(-0.6, len(summary) - 0.4)
    ax.set_ylabel("inflation")
    handles = [mlines.Line2D([], [], ls="", marker="o", color="0.3", label="\u03bbGC"),
               mlines.Line2D([], [], ls="", marker="s", color="0.3",
                             label="LDSC intercept (\u00b1 SE)")]
    handles += [mlines.Line2D([], [], ls="", marker="o", color=GROUP_COLOURS[k % 8], label=g)
                for k, g in enumerate(gnames) if g != "other"]
    ax.legend(handles=handles, frameon=False, fontsize=6.5, loc="upper left", ncol=2)
    lo = np.nanmin([summary["lambda_gc"].min(), summary.get("ldsc_intercept", np.nan).min()
                    if "ldsc_intercept" in summary else np.nan, 1.0])
    hi = np.nanmax([summary["lambda_gc"].max(), 1.0])
    if "ldsc_intercept" in summary.columns:
        hi = np.nanmax([hi, np.nanmax(summary["ldsc_intercept"] + summary["ldsc_intercept_se"])])
    pad = max(0.02, 0.15 * (hi - lo))
    ax.set_ylim(lo - pad, hi + 2.5 * pad)   # room for the legend above the points
    return ax
