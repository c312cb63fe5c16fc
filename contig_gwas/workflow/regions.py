"""The regions a GWAS is scattered over: whole chromosomes, groups of chromosomes, or regions.

A region spec is one of
- a chromosome: ``7``, ``"X"``, ``"chr7"``  -> ``contig-gwas --chr 7``
- a range of chromosomes: ``"1-3"``          -> ``--chr 1,2,3``
- a list: ``"1,4,X"``                         -> ``--chr 1,4,23``
- a region: ``"6:25000000-35000000"``         -> ``--range 6:25000000-35000000``

Region names are safe as Snakemake wildcards and file names (``chr7``, ``chr1-3``, ``chr1_4_23``,
``chr6_25000000-35000000``). Regions must not overlap: the gather step concatenates them and a
variant tested twice would appear twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from ..chrom import normalise_chromosome
from ..errors import InputError

_REGION = re.compile(r"^\s*([^:\s]+):(\d+)-(\d+)\s*$")
_CHR_RANGE = re.compile(r"^\s*([^,\s-]+)-([^,\s-]+)\s*$")


@dataclass(frozen=True)
class Region:
    """One GWAS job: its name and the ``contig-gwas`` arguments that select its variants.

    Attributes:
        name: wildcard- and file-safe name.
        chromosomes: chromosome codes the region touches.
        start, end: the base-pair interval (inclusive) for a region, else None.
    """

    name: str
    chromosomes: tuple[int, ...]
    start: int | None = None
    end: int | None = None

    @property
    def args(self) -> list[str]:
        """``contig-gwas`` arguments selecting the region's variants."""
        if self.start is not None:
            return ["--range", f"{self.chromosomes[0]}:{self.start}-{self.end}"]
        return ["--chr", ",".join(str(c) for c in self.chromosomes)]


def _chrom(value: object, *, where: str) -> int:
    return normalise_chromosome(str(value).strip(), source=where)


def parse_region(spec: object, *, where: str = "gwas.regions") -> Region:
    """One region from its spec (see the module docstring)."""
    text = str(spec).strip()
    if not text:
        raise InputError(f"{where}: empty region")
    m = _REGION.match(text)
    if m:
        c, start, end = _chrom(m.group(1), where=where), int(m.group(2)), int(m.group(3))
        if end < start:
            raise InputError(f"{where}: region {text!r} ends before it starts")
        return Region(name=f"chr{c}_{start}-{end}", chromosomes=(c,), start=start, end=end)
    m = _CHR_RANGE.match(text)
    if m:
        a, b = _chrom(m.group(1), where=where), _chrom(m.group(2), where=where)
        if b < a:
            raise InputError(f"{where}: chromosome range {text!r} runs backwards")
        return Region(name=f"chr{a}-{b}", chromosomes=tuple(range(a, b + 1)))
    codes = tuple(_chrom(part, where=where) for part in text.split(",") if part.strip())
    if len(set(codes)) != len(codes):
        raise InputError(f"{where}: region {text!r} names a chromosome twice")
    return Region(name="chr" + "_".join(str(c) for c in codes), chromosomes=codes)


def plan_regions(specs: Sequence[object] | None, *, chromosomes: Iterable[object],
                where: str = "gwas.regions") -> dict[str, Region]:
    """The regions of a study, by name.

    Args:
        specs: region specs from the config; None or empty for one region per chromosome.
        chromosomes: the study's chromosomes (used when ``specs`` is empty).
    Raises:
        InputError if two regions overlap (a chromosome twice, or overlapping regions).
    """
    if specs:
        planned = [parse_region(s, where=where) for s in specs]
    else:
        codes = sorted({_chrom(c, where="cohort chromosomes") for c in chromosomes})
        if not codes:
            raise InputError("no chromosomes to scatter the GWAS over")
        planned = [Region(name=f"chr{c}", chromosomes=(c,)) for c in codes]
    whole: dict[int, str] = {}
    ranged: dict[int, list[tuple[str, int, int]]] = {}  # (name, start, end) per chromosome
    for ch in planned:
        for c in ch.chromosomes:
            if ch.start is None:
                if c in whole or c in ranged:
                    other = whole.get(c) or ranged[c][0][0]
                    raise InputError(f"{where}: regions {other} and {ch.name} both cover "
                                     f"chromosome {c}")
                whole[c] = ch.name
            else:
                assert ch.end is not None  # a region has both ends or neither
                if c in whole:
                    raise InputError(f"{where}: region {ch.name} lies in region {whole[c]}")
                for name, start, end in ranged.get(c, []):
                    if ch.start <= end and start <= ch.end:
                        raise InputError(f"{where}: regions {name} and {ch.name} overlap")
                ranged.setdefault(c, []).append((ch.name, ch.start, ch.end))
    out: dict[str, Region] = {}
    for ch in planned:
        if ch.name in out:
            raise InputError(f"{where}: region {ch.name} given twice")
        out[ch.name] = ch
    return out
