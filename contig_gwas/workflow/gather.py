"""Gather the per-region GWAS outputs into one summary-statistics file per phenotype.

Each region is one ``contig-gwas --chr/--range ... --out <region prefix>`` run writing
``<region prefix>.<phenotype>.sumstats.tsv.gz`` and ``<region prefix>.nullmodel.tsv``. The gather
concatenates a phenotype's regions (one phenotype in memory at a time), checks that no variant
was tested in two regions, sorts by chromosome and position and writes
``<out>/<set>/<phenotype>.sumstats.tsv.gz`` in the one schema of ``contig_gwas.io.sumstats``.
A phenotype the engine skipped in every region (e.g. constant after alignment; the engine warns)
is left out with a warning; one present in some regions only is an error, since its genome
would be incomplete.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from ..errors import InputError
from ..io.sumstats import read_sumstats, write_sumstats
from ..outputs import atomic_path

SUFFIX = ".sumstats.tsv.gz"
INDEX_COLUMNS = ["phenotype", "set", "file", "variants", "regions"]


@dataclass
class GatherResult:
    """What was gathered: one row per phenotype written (``INDEX_COLUMNS``) and warnings."""

    index: pd.DataFrame
    nullmodel: pd.DataFrame | None
    warnings: list[str] = field(default_factory=list)


def region_file(prefix: str | os.PathLike, phenotype: str) -> Path:
    """``<prefix>.<phenotype>.sumstats.tsv.gz``."""
    return Path(f"{prefix}.{phenotype}{SUFFIX}")


def concat_regions(paths: Sequence[Path]) -> pd.DataFrame:
    """Concatenate summary statistics of disjoint regions, sorted by chromosome and position.

    Raises:
        InputError if a variant (chromosome, position, id, alleles) appears in two regions.
    """
    parts = []
    for k, p in enumerate(paths):
        t = read_sumstats(p)
        t["_region"] = k
        parts.append(t)
    table = pd.concat(parts, ignore_index=True)
    key = ["chromosome", "base_pair_location", "variant_id", "effect_allele", "other_allele"]
    dup = table.duplicated(key, keep=False)
    if dup.any():
        first = table.loc[dup].iloc[0]
        regions = sorted({str(paths[k]) for k in table.loc[dup & (table["variant_id"] ==
                                                                 first["variant_id"]), "_region"]})
        raise InputError(f"variant {first['variant_id']} (chromosome {first['chromosome']}, "
                         f"position {first['base_pair_location']}) is in more than one region: "
                         f"{', '.join(regions)}; {int(dup.sum())} rows duplicated; regions must "
                         "not overlap")
    table = table.sort_values(["chromosome", "base_pair_location", "_region"], kind="mergesort")
    return table.drop(columns="_region").reset_index(drop=True)


def gather_sumstats(*, regions: Mapping[str, str | os.PathLike], sets: pd.DataFrame,
                    out_dir: str | os.PathLike, log=None) -> GatherResult:
    """Gather every phenotype of ``sets`` (columns ``phenotype``, ``set``) over the regions.

    Args:
        regions: region name -> the ``--out`` prefix of its ``contig-gwas`` run.
        sets: which phenotypes to gather and the set each belongs to.
        out_dir: the folder to write into.
        log: a RunLog (or None).

    Writes ``<out_dir>/<set>/<phenotype>.sumstats.tsv.gz`` for each phenotype and returns the
    index of what was written, plus the regions' null-model tables concatenated (column
    ``region`` first) where the regions wrote them.
    """
    out = Path(out_dir)
    prefixes = [Path(p) for p in regions.values()]
    if not prefixes:
        raise InputError("no GWAS regions to gather")
    warnings: list[str] = []

    def say(msg: str, warn: bool = False) -> None:
        if warn:
            warnings.append(msg)
        if log is not None:
            (log.warning if warn else log.info)(msg)

    rows = []
    for rec in sets.itertuples(index=False):
        paths = [region_file(p, rec.phenotype) for p in prefixes]
        present = [p for p in paths if p.exists()]
        if not present:
            say(f"phenotype {rec.phenotype}: no summary statistics in any region (skipped by "
                "the GWAS engine? see the region logs); left out", warn=True)
            continue
        if len(present) < len(paths):
            absent = [str(p) for p in paths if not p.exists()]
            raise InputError(f"phenotype {rec.phenotype}: summary statistics missing for "
                             f"{len(absent)} of {len(paths)} regions: {', '.join(absent[:5])}")
        table = concat_regions(paths)
        dest = out / rec.set / f"{rec.phenotype}{SUFFIX}"
        write_sumstats(dest, table)
        rows.append({"phenotype": rec.phenotype, "set": rec.set, "file": str(dest),
                     "variants": len(table), "regions": len(paths)})
        say(f"phenotype {rec.phenotype}: {len(table)} variants from {len(paths)} regions -> {dest}")
    if not rows:
        raise InputError("no phenotype has summary statistics in the GWAS regions "
                         f"({', '.join(str(p) for p in prefixes[:3])} ...)")
    nulls = []
    for name, p in regions.items():
        f = Path(f"{p}.nullmodel.tsv")
        if f.exists():
            t = pd.read_csv(f, sep="\t", comment="#")
            t.insert(0, "region", name)
            nulls.append(t)
    nullmodel = pd.concat(nulls, ignore_index=True) if nulls else None
    return GatherResult(index=pd.DataFrame(rows, columns=INDEX_COLUMNS), nullmodel=nullmodel,
                        warnings=warnings)


def write_table_tsv(path: str | os.PathLike, frame: pd.DataFrame) -> None:
    """A plain TSV, atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, sep="\t", index=False, na_rep="NA", float_format="%.6g")
