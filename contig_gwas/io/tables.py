"""Phenotype and covariate tables in the PLINK / BOLT-LMM / REGENIE layout.

``FID IID`` first, then one column per trait, whitespace- or tab-separated, with a header line
(a leading ``#`` on ``#FID`` is accepted). ``NA``, ``-9``, ``.``, ``nan`` and empty fields are
missing. In covariate tables a non-numeric column is categorical: it is one-hot encoded with
its most common level as the reference (dropped), so the design stays full rank.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import InputError

MISSING = ["NA", "-9", ".", "nan", "NaN", ""]


@dataclass
class Table:
    """A numeric table keyed by individual.

    Attributes:
        path: the file it came from.
        fid, iid: str arrays, shape (N,).
        values: float64 DataFrame, shape (N, K), NaN where missing, columns in file order.
        notes: what the reader did (e.g. categorical columns encoded).
    """

    path: str
    fid: np.ndarray
    iid: np.ndarray
    values: pd.DataFrame
    notes: list[str]

    @property
    def columns(self) -> list[str]:
        return list(self.values.columns)


def read_table(path: str | os.PathLike, *, kind: str = "phenotype",
               columns: Sequence[str] | None = None, categorical: Sequence[str] = ()) -> Table:
    """Read a phenotype (``kind='phenotype'``) or covariate (``kind='covariate'``) table.

    Args:
        path: the file.
        kind: phenotypes must be numeric; covariates may be categorical.
        columns: keep only these trait columns (in this order); error if one is absent.
        categorical: covariate columns to one-hot encode even if their values look numeric.
    Raises:
        InputError naming the file for a missing file, no FID/IID header, wrong column count,
        duplicate IIDs, or non-numeric phenotype values.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: {kind} file not found")
    raw = _parse_columns(path, kind=kind)
    raw.columns = [c.lstrip("#") for c in raw.columns]
    if list(raw.columns[:2]) != ["FID", "IID"]:
        raise InputError(f"{path}: the first two columns must be FID and IID, found "
                         f"{list(raw.columns[:2])}")
    if raw.shape[1] < 3:
        raise InputError(f"{path}: no {kind} columns after FID and IID")
    if raw.columns.duplicated().any():
        dup = raw.columns[raw.columns.duplicated()].tolist()
        raise InputError(f"{path}: duplicate column names {dup}")
    iid = raw["IID"].astype(str).to_numpy()
    dup = pd.Index(iid)[pd.Index(iid).duplicated()].unique().tolist()
    if dup:
        raise InputError(f"{path}: duplicate IID {dup[:5]} ({len(dup)} duplicated in total)")
    names = [c for c in raw.columns[2:]]
    if columns is not None:
        missing = [c for c in columns if c not in names]
        if missing:
            raise InputError(f"{path}: no column {missing} (columns are {names})")
        names = list(columns)
    notes: list[str] = []
    out: dict[str, np.ndarray] = {}
    for name in names:
        col = raw[name].astype(str).str.strip()
        is_missing = col.isin(MISSING)
        num = pd.to_numeric(col.where(~is_missing), errors="coerce")
        bad = num.isna() & ~is_missing
        if kind == "covariate" and (name in categorical or bad.any()):
            levels = col[~is_missing]
            counts = levels.value_counts()
            if len(counts) < 2:
                notes.append(f"categorical covariate {name} has one level; dropped")
                continue
            ordered = sorted(counts.index, key=lambda v: (-counts[v], v))
            reference = ordered[0]
            for level in sorted(ordered[1:]):
                vals = (col == level).astype(float).to_numpy()
                vals[is_missing.to_numpy()] = np.nan
                out[f"{name}_{level}"] = vals
            notes.append(f"categorical covariate {name}: {len(counts)} levels, reference {reference!r}")
            continue
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(f"{path}: column {name} has non-numeric value {col.iloc[i]!r} "
                             f"(IID {iid[i]}, data row {i + 1}); {int(bad.sum())} such values")
        out[name] = num.to_numpy(dtype=np.float64)
    values = pd.DataFrame(out, index=pd.Index(iid, name="IID"))
    return Table(path=str(path), fid=raw["FID"].astype(str).to_numpy(), iid=iid, values=values,
                 notes=notes)


def _parse_columns(path: Path, *, kind: str) -> pd.DataFrame:
    """Split a table into string columns: tab-separated if the header has a tab, else whitespace."""
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    if not lines:
        raise InputError(f"{path}: {kind} file is empty")
    tabbed = "\t" in lines[0]
    rows = [ln.rstrip("\r").split("\t") if tabbed else ln.split() for ln in lines]
    header, body = [h.strip() for h in rows[0]], rows[1:]
    for i, r in enumerate(body):
        if len(r) != len(header):
            raise InputError(f"{path}: data row {i + 1} has {len(r)} columns but the header has "
                             f"{len(header)}")
    return pd.DataFrame(body, columns=header, dtype=str) if body else pd.DataFrame(columns=header)


def write_table(path: str | os.PathLike, *, fid: Sequence[str], iid: Sequence[str],
                values: pd.DataFrame, float_format: str = "%.6g") -> None:
    """Write ``FID IID col...`` tab-separated with ``NA`` for missing (atomic)."""
    from ..outputs import atomic_path

    df = pd.DataFrame({"FID": np.asarray(fid, dtype=str), "IID": np.asarray(iid, dtype=str)})
    for c in values.columns:
        df[c] = np.asarray(values[c])
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", index=False, na_rep="NA", float_format=float_format)


def read_id_list(path: str | os.PathLike) -> np.ndarray:
    """Read a ``--keep``/``--remove`` file: ``FID IID`` (or a single IID column) per line."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: sample list not found")
    rows = [ln.split() for ln in path.read_text().splitlines() if ln.strip()]
    if rows and rows[0][:2] in (["FID", "IID"], ["#FID", "IID"]) or rows and rows[0] == ["IID"]:
        rows = rows[1:]
    if not rows:
        raise InputError(f"{path}: sample list is empty")
    widths = {len(r) for r in rows}
    if widths - {1, 2} and not all(len(r) >= 2 for r in rows):
        raise InputError(f"{path}: expected FID IID (or IID) per line")
    return np.array([r[1] if len(r) >= 2 else r[0] for r in rows], dtype=str)
