"""Sample alignment across genotypes, phenotypes, covariates, keep/remove lists and manifests.

Individuals are matched on IID. The result is the intersection, in the order of the first
source (the genotypes, by convention), with an index into every source and a report of how many
individuals each source lost and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError


@dataclass
class Alignment:
    """Aligned samples.

    Attributes:
        iid: str array, shape (N,), the kept individuals in the order of the first source.
        index: per source name, int array shape (N,): the row of each kept individual there.
        report: one line per source and filter: how many were present, kept, and why lost.
    """

    iid: np.ndarray
    index: dict[str, np.ndarray]
    report: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.iid)


def align_samples(sources: Mapping[str, Sequence[str] | np.ndarray], *,
                  keep: Sequence[str] | np.ndarray | None = None,
                  remove: Sequence[str] | np.ndarray | None = None, min_overlap: int = 2,
                  min_fraction: float = 0.0) -> Alignment:
    """Intersect the IIDs of several sources.

    Args:
        sources: name (a file path or label used in messages) -> IIDs in that source's order.
            The first source fixes the output order.
        keep, remove: optional IID lists (PLINK ``--keep``/``--remove``).
        min_overlap: fewer aligned individuals than this is an error.
        min_fraction: an error if fewer than this fraction of the first source remain.
    Raises:
        InputError for duplicate IDs within a source, no overlap, or overlap below threshold.
    """
    if not sources:
        raise InputError("no sample sources to align")
    ids = {}
    for name, seq in sources.items():
        arr = np.asarray(seq, dtype=str)
        idx = pd.Index(arr)
        if idx.has_duplicates:
            dup = idx[idx.duplicated()].unique().tolist()
            raise InputError(f"{name}: duplicate IID {dup[:5]} ({len(dup)} duplicated in total)")
        ids[name] = arr
    names = list(ids)
    first = names[0]
    common = pd.Index(ids[first])
    report = [f"{first}: {len(common)} individuals"]
    for name in names[1:]:
        before = len(common)
        common = common[common.isin(ids[name])]
        report.append(f"{name}: {len(ids[name])} individuals; {before - len(common)} of the "
                      f"remaining {before} are absent from it and were dropped")
    if keep is not None:
        before = len(common)
        common = common[common.isin(np.asarray(keep, dtype=str))]
        report.append(f"--keep: {before - len(common)} dropped (not in the keep list)")
    if remove is not None:
        before = len(common)
        common = common[~common.isin(np.asarray(remove, dtype=str))]
        report.append(f"--remove: {before - len(common)} dropped (in the remove list)")
    report.append(f"aligned: {len(common)} individuals in all sources")
    if len(common) == 0:
        raise InputError("no individual is present in all of: " + ", ".join(names)
                         + " (IIDs do not overlap; check the IID columns)")
    if len(common) < min_overlap:
        raise InputError(f"only {len(common)} individuals overlap across {', '.join(names)}; "
                         f"at least {min_overlap} are needed")
    if len(common) < min_fraction * len(ids[first]):
        raise InputError(f"only {len(common)} of {len(ids[first])} individuals of {first} are "
                         f"in all sources (below {min_fraction:.0%})")
    index = {name: pd.Index(ids[name]).get_indexer(common).astype(np.int64) for name in names}
    return Alignment(iid=common.to_numpy(dtype=str), index=index, report=report)
