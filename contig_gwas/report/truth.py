"""Recovery of planted causal variants (simulated cohorts: ``truth.json``).

The reader accepts the layouts a simulator is likely to write: ``traits`` as a mapping
``{trait: {...}}`` or a list of objects with a ``name``; causal variants under ``causal_variants``
(or ``causal``, ``major``, ``variants``) as a list of objects or as parallel lists, with the
keys ``variant_id``/``chromosome``/``position`` (or common aliases). Anything else is an
InputError naming the file. Empty lists are a cohort with no planted variants (``contig-simulate
--n-causal 0`` or a null cohort, ``--h2 0``): the table then has no rows, and every locus is a
false positive.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..chrom import normalise_chromosome
from ..errors import InputError
from .loci import near_any

_CAUSAL_KEYS = ("causal_variants", "causal", "major_variants", "major", "causal_snps", "variants")
_ALIASES = {
    "variant_id": ("variant_id", "id", "snp", "rsid", "sid", "variant"),
    "chromosome": ("chromosome", "chrom", "chr"),
    "position": ("position", "base_pair_location", "pos", "bp", "bp_position"),
}


def read_truth(path: str | os.PathLike) -> pd.DataFrame:
    """Causal variants of a simulated cohort: columns trait, variant_id, chromosome, position
    (no rows when every trait lists none)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: truth file not found")
    try:
        doc = json.loads(path.read_text())
    except ValueError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    traits = doc.get("traits") if isinstance(doc, dict) else None
    if isinstance(traits, dict):
        items = [(str(k), v) for k, v in traits.items()]
    elif isinstance(traits, list):
        items = [(str(t.get("name", t.get("trait", k))) if isinstance(t, dict) else str(k), t)
                 for k, t in enumerate(traits)]
    else:
        raise InputError(f"{path}: no 'traits' mapping or list with causal variants")
    if not items:
        raise InputError(f"{path}: 'traits' is empty")
    rows = []
    for name, spec in items:
        if not isinstance(spec, dict):
            raise InputError(f"{path}: trait {name!r} is not an object")
        causal = next((spec[k] for k in _CAUSAL_KEYS if k in spec), None)
        if causal is None:
            raise InputError(f"{path}: trait {name!r} lists no causal variants "
                             f"(looked for {', '.join(_CAUSAL_KEYS)})")
        for rec in _records(causal, path=path, trait=name):
            rows.append({"trait": name, **rec})
    cols = ["trait", "variant_id", "chromosome", "position"]
    if not rows:  # no planted variants
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("trait", "variant_id") else
                                          np.int64) for c in cols})
    return pd.DataFrame(rows, columns=cols)


def _records(causal, *, path: Path, trait: str) -> list[dict]:
    if isinstance(causal, dict):  # parallel lists
        cols = {k: _pick(causal, k) for k in _ALIASES}
        if any(v is None for v in cols.values()):
            raise InputError(f"{path}: trait {trait!r}: causal variants need variant_id, "
                             f"chromosome and position")
        n = len(cols["variant_id"])
        causal = [{k: cols[k][i] for k in cols} for i in range(n)]
    if not isinstance(causal, list):
        raise InputError(f"{path}: trait {trait!r}: causal variants are neither a list nor a table")
    out = []
    for rec in causal:
        if not isinstance(rec, dict):
            raise InputError(f"{path}: trait {trait!r}: causal variant {rec!r} is not an object")
        vals = {k: _pick(rec, k) for k in _ALIASES}
        if vals["chromosome"] is None or vals["position"] is None:
            raise InputError(f"{path}: trait {trait!r}: causal variant {rec} lacks chromosome "
                             f"or position")
        out.append({"variant_id": str(vals["variant_id"]),
                    "chromosome": normalise_chromosome(vals["chromosome"], source=str(path)),
                    "position": int(vals["position"])})
    return out


def _pick(d: dict, key: str):
    for k in _ALIASES[key]:
        if k in d:
            return d[k]
    return None


def truth_recovery(*, loci: dict[str, pd.DataFrame], truth: pd.DataFrame, kb: float,
                   omnibus_loci: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """Per group: loci whose lead lies within ``kb`` of a causal variant (true positives), the
    others (false positives), causal variants with a lead within ``kb`` (recovered) and
    power = recovered / causal. Causal variants are the union over traits, plus one row per
    (group, trait) for the per-trait power.

    With ``omnibus_loci`` (group -> loci of its omnibus scan, ``contig_gwas.omnibus``, clumped
    at the same threshold), the same counts of the omnibus test sit beside those of ``loci``
    (the min-P x K scan) in the columns ``omnibus_loci``, ``omnibus_true_positive_loci``,
    ``omnibus_false_positive_loci``, ``omnibus_recovered`` and ``omnibus_power`` (NaN for a
    group without omnibus loci); without it the table is as before.
    """
    causal = truth.drop_duplicates(["chromosome", "position"])
    rows = []
    for g, lt in loci.items():
        rows += _recovery_rows(g, lt, truth=truth, causal=causal, kb=kb)
    cols = ["group", "trait", "loci", "true_positive_loci", "false_positive_loci", "causal",
            "recovered", "power"]
    out = pd.DataFrame(rows).reindex(columns=cols)
    if omnibus_loci is None:
        return out
    extra = ["loci", "true_positive_loci", "false_positive_loci", "recovered", "power"]
    omni = [r for g, lt in omnibus_loci.items()
            for r in _recovery_rows(g, lt, truth=truth, causal=causal, kb=kb)]
    o = pd.DataFrame(omni).reindex(columns=["group", "trait"] + extra)
    o = o.rename(columns={c: f"omnibus_{c}" for c in extra})
    return out.merge(o, on=["group", "trait"], how="left")


def _recovery_rows(g: str, lt: pd.DataFrame, *, truth: pd.DataFrame, causal: pd.DataFrame,
                   kb: float) -> list[dict]:
    c = lt["chromosome"].to_numpy()
    p = lt["base_pair_location"].to_numpy()
    tp = near_any(c, p, ref_chromosome=causal["chromosome"].to_numpy(),
                  ref_position=causal["position"].to_numpy(), kb=kb)
    rows = []
    for trait, sub in [("all traits", causal)] + list(truth.groupby("trait", sort=False)):
        rec = near_any(sub["chromosome"].to_numpy(), sub["position"].to_numpy(),
                       ref_chromosome=c, ref_position=p, kb=kb)
        row = {"group": g, "trait": trait, "causal": len(sub), "recovered": int(rec.sum()),
               "power": float(rec.mean()) if len(sub) else np.nan}
        if trait == "all traits":
            row.update(loci=len(lt), true_positive_loci=int(tp.sum()),
                       false_positive_loci=int((~tp).sum()))
        rows.append(row)
    return rows
