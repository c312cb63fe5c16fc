"""Phenotype and covariate tables in the PLINK / BOLT-LMM / REGENIE layout.

Read as PLINK 2 reads ``--pheno``/``--covar`` files:

- the ID columns come first: ``FID IID`` or ``IID`` alone, named in a header line that may start
  with ``#`` (``#FID IID``, ``#IID``: PLINK 2 ``.psam`` style); an ``SID`` column after them and
  ``.psam`` parent columns (``PAT MAT``) are skipped. A file whose first line is not such a
  header is read as PLINK 1 did: ``FID IID`` then values, named ``PHENO1, PHENO2, ...``
  (``COVAR1, ...`` in covariate tables);
- fields are separated by tabs or spaces, mixed freely (a tab-separated file may leave a
  field empty: missing); CR LF line endings; plain, gzip or zstd (``contig_gwas.io.text``);
- ``NA``, ``-9``, ``.``, ``nan`` and empty fields are missing.

In covariate tables a non-numeric column is categorical: it is one-hot encoded with its most
common level as the reference (dropped), so the design stays full rank.
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
    raw, fid = _parse_columns(path, kind=kind)
    if raw.shape[1] < 2:
        raise InputError(f"{path}: no {kind} columns after the ID columns")
    if raw.columns.duplicated().any():
        dup = raw.columns[raw.columns.duplicated()].tolist()
        raise InputError(f"{path}: duplicate column names {dup}")
    iid = raw["IID"].astype(str).to_numpy()
    dup = pd.Index(iid)[pd.Index(iid).duplicated()].unique().tolist()
    if dup:
        raise InputError(f"{path}: duplicate IID {dup[:5]} ({len(dup)} duplicated in total)")
    names = [c for c in raw.columns if c != "IID"]
    if columns is not None:
        names = resolve_columns(columns, names, source=str(path))
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
            notes.append(f"categorical covariate {name}: {len(counts)} levels, "
                         f"reference {reference!r}")
            continue
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(f"{path}: column {name} has non-numeric value {col.iloc[i]!r} "
                             f"(IID {iid[i]}, data row {i + 1}); {int(bad.sum())} such values")
        out[name] = num.to_numpy(dtype=np.float64)
    values = pd.DataFrame(out, index=pd.Index(iid, name="IID"))
    return Table(path=str(path), fid=fid, iid=iid, values=values, notes=notes)


def resolve_columns(requested: Sequence[str], available: Sequence[str], *,
                    source: str) -> list[str]:
    """The columns named by ``requested``, as PLINK 2's ``--pheno-name``/``--covar-name`` reads
    them: a name, or a dash range ``A-B`` of two column names meaning every column from ``A``
    to ``B`` in file order (``PC1-PC10``). A name that exists as written wins over a range
    reading of it. Duplicates are dropped (first kept).

    Raises:
        InputError naming ``source`` and the names that match no column.
    """
    avail = list(available)
    pos = {c: k for k, c in enumerate(avail)}
    out: list[str] = []
    missing: list[str] = []
    for item in requested:
        if item in pos:
            out.append(item)
            continue
        hits = [(a, b) for k in range(1, len(item)) if item[k] == "-"
                for a, b in [(item[:k], item[k + 1:])] if a in pos and b in pos]
        if len(hits) == 1 and pos[hits[0][0]] <= pos[hits[0][1]]:
            out.extend(avail[pos[hits[0][0]]:pos[hits[0][1]] + 1])
        else:
            missing.append(item)
    if missing:
        shown = ", ".join(avail[:12]) + (", ..." if len(avail) > 12 else "")
        raise InputError(f"{source}: no column {missing} (columns are {shown}; a range A-B "
                         f"needs both ends as columns, A first)")
    return list(dict.fromkeys(out))


#: ID columns a header may name before the values (PLINK 2 .psam: FID IID SID PAT MAT)
_ID_COLUMNS = ("FID", "IID", "SID", "PAT", "MAT")


def split_fields(lines: list[str], *, width: int) -> list[list[str]]:
    """Split lines into fields: by tabs where that gives ``width`` fields (empty fields kept),
    else by any run of spaces and tabs (PLINK's rule)."""
    rows = []
    for ln in lines:
        r = ln.split("\t")
        if len(r) != width:
            r = ln.split()
        rows.append([f.strip() for f in r])
    return rows


def _parse_columns(path: Path, *, kind: str) -> tuple[pd.DataFrame, np.ndarray]:
    """The table as string columns ``IID, trait...`` and the FID of each row (= IID where the
    file has no FID column)."""
    from .text import read_lines

    lines = read_lines(path, what=f"{kind} file")
    if not lines:
        raise InputError(f"{path}: {kind} file is empty")
    first = lines[0].split()
    names = [first[0].lstrip("#")] + first[1:]
    if names[:2] == ["FID", "IID"] or names[0] == "IID":
        n_id = 0
        while n_id < len(names) and names[n_id] in _ID_COLUMNS:
            n_id += 1
        header, body = names, lines[1:]
    else:
        if first[0].startswith("#"):
            raise InputError(f"{path}: header {lines[0].strip()[:60]!r} does not start with "
                             f"FID IID or IID (as PLINK 2 requires)")
        n_id = 2  # PLINK 1: FID IID then values, no header
        prefix = "COVAR" if kind == "covariate" else "PHENO"
        header, body = ["FID", "IID"] + [f"{prefix}{k}" for k in range(1, len(first) - 1)], lines
        if len(first) < 3:
            raise InputError(f"{path}: expected a header line starting with FID IID or IID, or "
                             f"FID IID and values per line (found {len(first)} fields)")
    rows = split_fields(body, width=len(header))
    for i, r in enumerate(rows):
        if len(r) != len(header):
            shown = " ".join(header[:6]) + (" ..." if len(header) > 6 else "")
            raise InputError(f"{path}: data row {i + 1} has {len(r)} columns but the header has "
                             f"{len(header)} ({shown})")
    df = pd.DataFrame(rows, columns=header, dtype=str) if rows else pd.DataFrame(columns=header)
    iid = df["IID"].astype(str).to_numpy()
    fid = df["FID"].astype(str).to_numpy() if "FID" in header[:n_id] else iid.copy()
    keep = ["IID"] + header[n_id:]
    return df[keep], fid


def write_table(path: str | os.PathLike, *, fid: Sequence[str] | np.ndarray,
                iid: Sequence[str] | np.ndarray, values: pd.DataFrame,
                float_format: str = "%.6g") -> None:
    """Write ``FID IID col...`` tab-separated with ``NA`` for missing (atomic)."""
    from ..outputs import atomic_path

    df = pd.DataFrame({"FID": np.asarray(fid, dtype=str), "IID": np.asarray(iid, dtype=str)})
    for c in values.columns:
        df[c] = np.asarray(values[c])
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", index=False, na_rep="NA", float_format=float_format)


def read_id_list(path: str | os.PathLike) -> np.ndarray:
    """Read a ``--keep``/``--remove`` file as PLINK 2 does: an optional header line (``#FID IID``,
    ``FID IID``, ``#IID``, ``IID``); without one, a single column is IID and two or more are
    ``FID IID ...`` (further columns ignored). Returns the IIDs."""
    from .text import read_lines

    lines = read_lines(path, what="sample list")
    rows = [ln.split() for ln in lines]
    id_col = None
    if rows:
        head = [rows[0][0].lstrip("#")] + rows[0][1:]
        if head[:2] == ["FID", "IID"] or head[0] == "IID":
            id_col = head.index("IID")
            rows = rows[1:]
        elif rows[0][0].startswith("#"):
            raise InputError(f"{path}: header {lines[0].strip()[:60]!r} does not start with "
                             f"FID IID or IID")
    if not rows:
        raise InputError(f"{path}: sample list is empty")
    if id_col is None:
        id_col = 0 if len(rows[0]) == 1 else 1
    short = [k for k, r in enumerate(rows) if len(r) <= id_col]
    if short:
        line = short[0] + 1 + (len(lines) - len(rows))
        raise InputError(f"{path}: line {line} has {len(rows[short[0]])} field(s); expected "
                         f"{'FID IID' if id_col else 'IID'}")
    return np.array([r[id_col] for r in rows], dtype=str)
