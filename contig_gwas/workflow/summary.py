"""The study in one table, read from the report's tables.

For each group of phenotypes (one per trained model, plus the standard phenotypes): how many
phenotypes, the loci of the group's combined scan (minimum p over its phenotypes x their
number, clumped at the report's ``--clump-p1``, 5e-8 by default), and for a simulated cohort
the planted causal variants recovered (a lead variant within the clumping window) and the
false-positive loci (no causal variant within the window), plus the mean SNP heritability of
the group's phenotypes. Everything comes from ``contig-report``'s ``tables/*.tsv``; nothing is
recomputed here.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from ..errors import InputError

COLUMNS = ["method", "group", "phenotypes", "loci", "recovered", "causal", "false_positives",
           "mean_h2", "mean_h2_se", "mean_lambda_gc"]


def _read(path: Path, *, required: list[str]) -> pd.DataFrame:
    try:
        t = pd.read_csv(path, sep="\t", comment="#")
    except Exception as exc:  # noqa: BLE001 - re-raised as a user-facing error naming the file
        raise InputError(f"{path}: cannot read the report table ({exc})") from None
    missing = [c for c in required if c not in t.columns]
    if missing:
        raise InputError(f"{path}: report table lacks columns {missing} (has {list(t.columns)})")
    return t


def study_summary(*, report_dir: str | os.PathLike,
                  labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per report group (in the order of ``labels``, then the report's order).

    Args:
        report_dir: the ``contig-report --out`` folder (reads ``tables/summary.tsv`` and, where
            present, ``tables/truth_recovery.tsv``, ``tables/group_loci.tsv``, ``tables/h2.tsv``,
            ``tables/omnibus.tsv``: each group of two or more phenotypes then has a second
            row, ``<label> (omnibus)``, for the omnibus test of its phenotypes).
        labels: group name -> the name shown in ``method`` (default: the group name).
    Returns:
        DataFrame with ``COLUMNS``; ``recovered``/``causal``/``false_positives`` are NaN
        without a truth table, ``mean_h2`` NaN without h2 tables.
    """
    tables = Path(report_dir) / "tables"
    summ = _read(tables / "summary.tsv", required=["phenotype", "groups", "lambda_gc"])
    summ["groups"] = summ["groups"].fillna("").astype(str)
    members: dict[str, list[str]] = {}
    for rec in summ.itertuples(index=False):
        for g in filter(None, str(rec.groups).split(",")):
            members.setdefault(g, []).append(str(rec.phenotype))
    if not members:
        raise InputError(f"{tables / 'summary.tsv'}: the report has no groups (run contig-report "
                         "with --group NAME=GLOB)")
    labels = dict(labels or {})
    order = [g for g in labels if g in members] + [g for g in members if g not in labels]
    lam = summ.set_index(summ["phenotype"].astype(str))["lambda_gc"]

    recovery = None
    if (tables / "truth_recovery.tsv").exists():
        recovery = _read(tables / "truth_recovery.tsv",
                         required=["group", "trait", "loci", "false_positive_loci", "causal",
                                   "recovered"])
        recovery = recovery[recovery["trait"] == "all traits"].set_index("group")
    loci_counts: dict[str, int] = {}
    if (tables / "group_loci.tsv").exists():
        gl = _read(tables / "group_loci.tsv", required=["group"])
        loci_counts = gl["group"].astype(str).value_counts().to_dict()
    h2 = None
    if (tables / "h2.tsv").exists():
        h2 = _read(tables / "h2.tsv", required=["phenotype", "h2", "se"])
        h2 = h2.assign(phenotype=h2["phenotype"].astype(str)).drop_duplicates("phenotype")
        h2 = h2.set_index("phenotype")

    omnibus = None
    if (tables / "omnibus.tsv").exists():
        omnibus = _read(tables / "omnibus.tsv",
                        required=["group", "omnibus_loci", "omnibus_lambda"])
        omnibus = omnibus.assign(group=omnibus["group"].astype(str)).set_index("group")

    rows = []
    for g in order:
        ps = members[g]
        row = {"method": labels.get(g, g), "group": g, "phenotypes": len(ps),
               "loci": loci_counts.get(g, 0), "recovered": np.nan, "causal": np.nan,
               "false_positives": np.nan, "mean_h2": np.nan, "mean_h2_se": np.nan,
               "mean_lambda_gc": float(np.nanmean(lam.reindex(ps).to_numpy(dtype=float)))
               if len(ps) else np.nan}
        if recovery is not None and g in recovery.index:
            r = recovery.loc[g]
            row.update(loci=int(r["loci"]), recovered=int(r["recovered"]),
                       causal=int(r["causal"]), false_positives=int(r["false_positive_loci"]))
        if h2 is not None:
            hs = h2.reindex(ps)
            if hs["h2"].notna().any():
                row["mean_h2"] = float(np.nanmean(hs["h2"].to_numpy(dtype=float)))
                row["mean_h2_se"] = float(np.nanmean(hs["se"].to_numpy(dtype=float)))
        rows.append(row)
        if omnibus is not None and g in omnibus.index:
            rows.append(_omnibus_row(g, row, omnibus.loc[g],
                                     recovery.loc[g] if recovery is not None
                                     and g in recovery.index else None))
    return pd.DataFrame(rows, columns=COLUMNS)


def _omnibus_row(group: str, minp: dict, om: pd.Series, rec: pd.Series | None) -> dict:
    """The omnibus test's row under its group's min-P x K row: its loci, planted loci
    recovered and false positives (``truth_recovery.tsv``'s omnibus columns), and its
    inflation on its own scale (``omnibus_lambda``: median chi2 / median chi2 on K df)."""
    row = {**minp, "method": f"{minp['method']} (omnibus)", "group": f"{group}:omnibus",
           "loci": int(om["omnibus_loci"]), "recovered": np.nan, "causal": np.nan,
           "false_positives": np.nan, "mean_h2": np.nan, "mean_h2_se": np.nan,
           "mean_lambda_gc": float(om["omnibus_lambda"])}
    if rec is not None and "omnibus_recovered" in rec.index and pd.notna(rec["omnibus_loci"]):
        row.update(loci=int(rec["omnibus_loci"]), recovered=int(rec["omnibus_recovered"]),
                   causal=int(rec["causal"]),
                   false_positives=int(rec["omnibus_false_positive_loci"]))
    return row


def _fmt(x: float, spec: str) -> str:
    return "NA" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def format_summary(table: pd.DataFrame, *, p_threshold: float = 5e-8,
                   kb: float | None = None) -> str:
    """A fixed-width text rendering of :func:`study_summary` for the terminal, with a note
    on what the columns count (``kb``: the report's clumping window)."""
    head = ["method", "phenotypes", "loci", f"planted loci recovered (p<{p_threshold:g})",
            "false positives", "mean h2 (mean SE)", "mean lambda GC"]
    body = []
    for r in table.itertuples(index=False):
        rec = ("NA" if pd.isna(r.recovered) else f"{int(r.recovered)} / {int(r.causal)}")
        h2 = ("NA" if pd.isna(r.mean_h2) else f"{r.mean_h2:.3f} ({_fmt(r.mean_h2_se, '.3f')})")
        body.append([str(r.method), str(r.phenotypes), str(r.loci), rec,
                     "NA" if pd.isna(r.false_positives) else str(int(r.false_positives)), h2,
                     _fmt(r.mean_lambda_gc, ".3f")])
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    lines = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in
                       enumerate(zip(row, widths))) for row in [head, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    window = f"{kb:g} kb" if kb is not None else "the clumping window"
    lines += ["",
              f"loci: independent loci of each group's combined scan (minimum p over its "
              f"phenotypes x their number, p < {p_threshold:g});",
              f"planted loci recovered: causal variants of the simulation with a lead variant "
              f"within {window}; false positives: loci with no causal variant within {window};",
              "mean h2: mean REML SNP heritability of the group's phenotypes (mean of their SEs)."]
    if table["group"].astype(str).str.endswith(":omnibus").any():
        lines.append("(omnibus): the group's omnibus test (MOSTest, chi2 on K df over its K "
                     "phenotypes), clumped alike; its lambda is median chi2 / median chi2_K.")
    return "\n".join(lines)


def aggregate_seeds(per_seed: Mapping[int, pd.DataFrame]) -> pd.DataFrame:
    """Mean and SD over seeds of each method's summary (``study_summary`` tables by seed).

    Returns one row per method (first-seen order): ``seeds``, and ``<column>_mean`` /
    ``<column>_sd`` (sample SD, ddof 1; NaN for one seed) for loci, recovered,
    false_positives and mean_h2, plus ``causal_mean``.
    """
    if not per_seed:
        raise ValueError("no seeds to aggregate")
    long = pd.concat([t.assign(seed=s) for s, t in per_seed.items()], ignore_index=True)
    rows = []
    for method, sub in long.groupby("method", sort=False):
        row: dict[str, object] = {"method": method, "seeds": int(sub["seed"].nunique())}
        for col in ("loci", "recovered", "false_positives", "mean_h2"):
            x = pd.to_numeric(sub[col], errors="coerce").to_numpy(dtype=float)
            row[f"{col}_mean"] = float(np.nanmean(x)) if np.isfinite(x).any() else np.nan
            row[f"{col}_sd"] = (float(np.nanstd(x, ddof=1)) if np.isfinite(x).sum() > 1
                                else np.nan)
        row["causal_mean"] = float(pd.to_numeric(sub["causal"], errors="coerce").mean())
        rows.append(row)
    return pd.DataFrame(rows)
