"""Image manifests: TSV with ``IID``, ``path`` and optional ``instance`` (e.g. left/right eye).

Relative paths resolve against the manifest's folder. Read as every table of the package
(``io.text``: gzip/zstd, CR LF; tab-separated, or any whitespace where tabs do not give the
header's width; a ``#`` before the header is dropped).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ..errors import InputError


def read_manifest(path: str | os.PathLike, *, check_files: bool = False) -> pd.DataFrame:
    """Return a DataFrame with ``IID`` (str), ``path`` (absolute str) and ``instance`` (str).

    Raises InputError naming the manifest for a missing file or columns, duplicate
    (IID, instance) pairs, or (with ``check_files``) image files that do not exist.
    """
    from .tables import split_fields
    from .text import read_lines

    path = Path(path)
    lines = read_lines(path, what="image manifest")
    if not lines:
        raise InputError(f"{path}: image manifest is empty")
    header = split_fields(lines[:1], width=0)[0]
    header[0] = header[0].lstrip("#")
    rows = split_fields(lines[1:], width=len(header))
    bad = [k for k, r in enumerate(rows) if len(r) != len(header)]
    if bad:
        raise InputError(f"{path}: data row {bad[0] + 1} has {len(rows[bad[0]])} columns but the "
                         f"header has {len(header)}")
    df = pd.DataFrame(rows, columns=header, dtype=str)
    for col in ("IID", "path"):
        if col not in df.columns:
            raise InputError(f"{path}: image manifest needs a {col!r} column (has "
                             f"{list(df.columns)})")
    if "instance" not in df.columns:
        df["instance"] = "0"
    df = df[["IID", "path", "instance"]].copy()
    base = path.parent.resolve()
    df["path"] = [str(p if Path(p).is_absolute() else base / p) for p in df["path"]]
    dup = df.duplicated(["IID", "instance"])
    if dup.any():
        r = df[dup].iloc[0]
        raise InputError(f"{path}: IID {r.IID} instance {r.instance} listed "
                         f"{int(dup.sum()) + 1} times")
    if check_files:
        absent = [p for p in df["path"] if not Path(p).exists()]
        if absent:
            raise InputError(f"{path}: {len(absent)} image files do not exist, e.g. {absent[0]}")
    return df.reset_index(drop=True)
