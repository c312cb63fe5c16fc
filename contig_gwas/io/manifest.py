"""Image manifests: TSV with ``IID``, ``path`` and optional ``instance`` (e.g. left/right eye).

Relative paths resolve against the manifest's folder.
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
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: image manifest not found")
    try:
        df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: image manifest is empty") from None
    for col in ("IID", "path"):
        if col not in df.columns:
            raise InputError(f"{path}: image manifest needs a {col!r} column (has {list(df.columns)})")
    if "instance" not in df.columns:
        df["instance"] = "0"
    df = df[["IID", "path", "instance"]].copy()
    base = path.parent.resolve()
    df["path"] = [str(p if Path(p).is_absolute() else base / p) for p in df["path"]]
    dup = df.duplicated(["IID", "instance"])
    if dup.any():
        r = df[dup].iloc[0]
        raise InputError(f"{path}: IID {r.IID} instance {r.instance} listed {int(dup.sum()) + 1} times")
    if check_files:
        absent = [p for p in df["path"] if not Path(p).exists()]
        if absent:
            raise InputError(f"{path}: {len(absent)} image files do not exist, e.g. {absent[0]}")
    return df.reset_index(drop=True)
