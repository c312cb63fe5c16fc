"""The report's inputs: summary-statistics files and their phenotype names, groups, h2
tables and highlight lists."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from ..errors import InputError
from ..io.text import read_lines

SUFFIX = ".sumstats.tsv.gz"


@dataclass
class SumstatsInputs:
    """Phenotype name -> file, in input order, and group name -> phenotype names."""

    files: dict[str, Path]
    groups: dict[str, list[str]]


def expand(patterns: Sequence[str], *, what: str) -> list[Path]:
    """Files named or matched by glob ``patterns`` (sorted per pattern, duplicates dropped)."""
    out: list[Path] = []
    for pat in patterns:
        if glob.has_magic(pat):
            hits = sorted(glob.glob(pat))
        else:
            hits = [pat] if Path(pat).exists() else []
        if not hits:
            raise InputError(f"{pat}: no {what} file matches")
        out.extend(Path(h) for h in hits)
    return list(dict.fromkeys(out))


def phenotype_names(batches: Sequence[Sequence[Path]]) -> dict[str, Path]:
    """Phenotype name of each ``PREFIX.<phenotype>.sumstats.tsv.gz``.

    ``batches`` are the files of each pattern given (a glob or a file). Within a batch the
    prefix is the longest dot-ended prefix the file stems share (a single file: everything up to
    its first dot). A file in several batches takes its shortest name; names that would
    collide keep their full stem (or ``folder/stem`` when the stems collide too).
    """
    names: dict[Path, str] = {}
    stems: dict[Path, str] = {}
    for batch in batches:
        for p in batch:
            if not p.name.endswith(SUFFIX):
                raise InputError(f"{p}: expected a summary-statistics file named "
                                 f"PREFIX.<phenotype>{SUFFIX}")
            stems[p] = p.name[: -len(SUFFIX)]
        ss = [stems[p] for p in batch]
        if not ss:
            continue
        prefix = os.path.commonprefix(ss) if len(ss) > 1 else ss[0].split(".", 1)[0] + "."
        prefix = prefix[: prefix.rfind(".") + 1] if "." in prefix else ""
        for p, s in zip(batch, ss):
            name = s[len(prefix):] or s
            if p not in names or len(name) < len(names[p]):
                names[p] = name
    counts = pd.Series(list(names.values())).value_counts()
    full = pd.Series([stems[p] for p in names]).value_counts()
    out: dict[str, Path] = {}
    for p, n in names.items():
        if counts[n] > 1:   # e.g. PC_0 of two models: the full stem, or folder/stem
            n = stems[p] if full[stems[p]] == 1 else f"{p.parent.name}/{stems[p]}"
        if n in out:
            raise InputError(f"{p}: phenotype name {n!r} also used by {out[n]}")
        out[n] = p
    return out


def resolve_inputs(*, sumstats: Sequence[str], groups: Sequence[str] = ()) -> SumstatsInputs:
    """Expand ``--sumstats`` and ``--group NAME=GLOB`` into files and group memberships.

    Group files not listed in ``--sumstats`` are added to the study.
    """
    batches = [expand([pat], what="summary statistics") for pat in sumstats]
    spec: dict[str, list[Path]] = {}
    for g in groups:
        if "=" not in g:
            raise InputError(f"--group {g!r}: expected NAME=GLOB")
        name, pat = g.split("=", 1)
        name = name.strip()
        if not name:
            raise InputError(f"--group {g!r}: empty group name")
        if name in spec:
            raise InputError(f"--group {name}: given twice")
        spec[name] = expand([pat], what=f"group {name} summary statistics")
    batches += list(spec.values())
    seen: dict[Path, Path] = {}
    for batch in batches:  # one Path object per file, however it was spelled
        batch[:] = [seen.setdefault(p.resolve(), p) for p in batch]
    by_name = phenotype_names(batches)
    by_path = {p.resolve(): n for n, p in by_name.items()}
    return SumstatsInputs(files=by_name,
                          groups={g: [by_path[p.resolve()] for p in ps] for g, ps in spec.items()})


H2_REQUIRED = ["phenotype", "h2", "se"]


def read_result_table(path: Path, *, what: str, required: Sequence[str]) -> pd.DataFrame | None:
    """A TSV of results (``#`` comment lines allowed) with the ``required`` columns; None for
    an empty file. InputError names the file when it is missing, unreadable or incomplete."""
    try:
        t = pd.read_csv(path, sep="\t", comment="#")
    except FileNotFoundError:
        raise InputError(f"{path}: {what} file not found") from None
    except pd.errors.EmptyDataError:
        return None
    except Exception as exc:
        raise InputError(f"{path}: cannot read {what} table ({exc})") from None
    missing = [c for c in required if c not in t.columns]
    if missing:
        raise InputError(f"{path}: {what} table lacks columns {missing} (has {list(t.columns)})")
    return t


def read_h2(paths: Sequence[Path]) -> pd.DataFrame:
    """Concatenate h2 TSVs (phenotype, n, h2, se, ..., method); ``method`` defaults to the
    file name."""
    tables = []
    for p in paths:
        t = read_result_table(p, what="h2", required=H2_REQUIRED)
        if t is None:
            raise InputError(f"{p}: h2 file is empty")
        for c in ("h2", "se"):
            t[c] = pd.to_numeric(t[c], errors="coerce")
        if "method" not in t.columns:
            t["method"] = Path(p).name
        t["phenotype"] = t["phenotype"].astype(str)
        tables.append(t)
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=H2_REQUIRED)


def read_highlight(path: str | os.PathLike) -> list[str]:
    """Variant IDs to highlight: one per line, or a table with a ``variant_id`` column."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: highlight file not found")
    lines = [ln.strip() for ln in read_lines(path, what="highlight file")
             if not ln.startswith("#")]
    if not lines:
        return []
    head = lines[0].split()
    if "variant_id" in head and len(head) > 1:
        k = head.index("variant_id")
        return [ln.split()[k] for ln in lines[1:] if len(ln.split()) > k]
    if head == ["variant_id"]:
        lines = lines[1:]
    return [ln.split()[0] for ln in lines]
