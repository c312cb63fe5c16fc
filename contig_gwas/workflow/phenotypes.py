"""One phenotype table for the whole study: every embedding's PCs and the standard phenotypes.

The GWAS engine reads the genotypes once per run for all phenotypes, and phenotypes with the
same missingness share every sample-level matrix, so the workflow runs one GWAS per region over
all phenotypes of all phenotype sets (one set per trained model, plus the standard phenotypes)
rather than one per set. Columns are renamed ``<set>_<column>`` so that names stay unique across
sets (``contig_PC_0``, ``simclr_PC_0``, ``standard_ldl``); a table ``phenotype set column file``
records where each came from, for the gather step and the report's groups.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io.tables import read_table, write_table
from ..outputs import atomic_path

SET_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
SETS_COLUMNS = ["phenotype", "set", "column", "file", "n"]


@dataclass
class PhenotypeSource:
    """One phenotype set: a ``FID IID ...`` table and the columns to take (None: all)."""

    path: Path
    columns: Sequence[str] | None = None


@dataclass
class MergedPhenotypes:
    """The merged table (``values`` indexed by IID, columns renamed) and its sets table."""

    fid: np.ndarray
    iid: np.ndarray
    values: pd.DataFrame
    sets: pd.DataFrame


def phenotype_name(set_name: str, column: str) -> str:
    """``<set>_<column>`` with characters other than letters, digits, ``_`` and ``-`` as ``_``."""
    return f"{set_name}_{re.sub(r'[^A-Za-z0-9_-]+', '_', column).strip('_') or 'x'}"


def merge_phenotypes(sources: Mapping[str, PhenotypeSource]) -> MergedPhenotypes:
    """Outer-join phenotype tables on IID, renaming columns ``<set>_<column>``.

    Individuals appear in the order of first appearance (the first set's order first); FID is
    taken from the first table that has the individual. An individual absent from a set is
    missing (NaN) for that set's phenotypes.

    Raises:
        InputError for a set name that is not alphanumeric (it becomes part of file names and
        is split off phenotype names at the first ``_``), or two columns that map to one name.
    """
    if not sources:
        raise InputError("no phenotype sets to merge")
    fid_of: dict[str, str] = {}
    frames: list[pd.DataFrame] = []
    rows = []
    for set_name, src in sources.items():
        if not SET_NAME.match(set_name):
            raise InputError(f"phenotype set name {set_name!r}: use letters and digits only, "
                             "starting with a letter")
        table = read_table(src.path, kind="phenotype", columns=src.columns)
        for f, i in zip(table.fid, table.iid):
            fid_of.setdefault(i, f)
        renamed = {c: phenotype_name(set_name, c) for c in table.columns}
        frame = table.values.rename(columns=renamed)
        for c in table.columns:
            rows.append({"phenotype": renamed[c], "set": set_name, "column": c,
                         "file": str(src.path), "n": int(table.values[c].notna().sum())})
        frames.append(frame)
    sets = pd.DataFrame(rows, columns=SETS_COLUMNS)
    dup = sets["phenotype"][sets["phenotype"].duplicated()].tolist()
    if dup:
        raise InputError(f"phenotype names {dup} are produced twice after renaming; rename the "
                         "columns in " + ", ".join(sorted(set(sets.loc[sets['phenotype'].isin(dup),
                                                                        'file']))))
    iid = np.array(list(fid_of), dtype=str)
    values = pd.concat([f.reindex(iid) for f in frames], axis=1)
    values.index.name = "IID"
    fid = np.array([fid_of[i] for i in iid], dtype=str)
    return MergedPhenotypes(fid=fid, iid=iid, values=values, sets=sets)


def write_merged(merged: MergedPhenotypes, *, table: str | os.PathLike,
                 sets: str | os.PathLike) -> None:
    """Write the merged ``FID IID ...`` table and the sets table (both atomically)."""
    write_table(table, fid=merged.fid, iid=merged.iid, values=merged.values,
                float_format="%.8g")
    with atomic_path(sets) as tmp:
        merged.sets.to_csv(tmp, sep="\t", index=False)


def rg_pairs(sets: pd.DataFrame, *, reference: Sequence[str] = ("standard", "diseases")
             ) -> list[tuple[str, str]]:
    """Phenotype pairs for genetic correlations: every phenotype of another set against every
    phenotype of the ``reference`` sets (learned against standard phenotypes and diseases);
    without those sets, every pair of phenotypes from two different sets."""
    is_ref = sets["set"].isin(list(reference))
    ref = sets.loc[is_ref, "phenotype"].tolist()
    other = sets.loc[~is_ref, ["phenotype", "set"]].to_numpy().tolist()
    if ref:
        return [(a, b) for a, _ in other for b in ref]
    return [(a, b) for i, (a, sa) in enumerate(other) for b, sb in other[i + 1:] if sa != sb]


def write_rg_pairs(path: str | os.PathLike, pairs: Sequence[tuple[str, str]]) -> None:
    """``pheno1 pheno2`` lines (contig-h2 --rg-pairs), atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text("".join(f"{a} {b}\n" for a, b in pairs))


def read_sets(path: str | os.PathLike) -> pd.DataFrame:
    """Read a sets table written by :func:`write_merged`."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: phenotype sets table not found")
    df = pd.read_csv(path, sep="\t", dtype=str)
    missing = [c for c in ("phenotype", "set") if c not in df.columns]
    if missing:
        raise InputError(f"{path}: not a phenotype sets table; missing columns {missing}")
    return df
