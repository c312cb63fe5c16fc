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
        row.update(dict((extra or {}).get(g, {})))
        rows.append(row)
    return pd.DataFrame(rows)
