"""A labelled downstream task: people with a label and images, the label's kind, splits."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import InputError
from .metrics import KINDS

#: at most this many integer levels make a label a grade (more: continuous)
MAX_GRADE_LEVELS = 10


@dataclass
class TaskData:
    """People with a label and at least one image.

    Attributes:
        iid: str (P,); y: (P,) labels (int for class/grade, float for continuous).
        kind: class | grade | continuous; label: the column name.
        image_paths: (I,) absolute paths; image_person: int (I,) row in ``iid``;
            image_instance: str (I,).
        manifest: the manifest's path (named in errors about images).
        report: what was read and kept.
    """

    iid: np.ndarray
    y: np.ndarray
    kind: str
    label: str
    image_paths: list[str]
    image_person: np.ndarray
    image_instance: np.ndarray
    manifest: str = ""
    report: list[str] = field(default_factory=list)


def infer_kind(y: np.ndarray) -> str:
    """class (2 levels or non-integer-free labels), grade (3-10 integer levels), else continuous."""
    y = np.asarray(y, dtype=float)
    levels = np.unique(y)
    integer = np.all(np.isclose(levels, np.round(levels)))
    if len(levels) <= 2:
        return "class"
    if integer and len(levels) <= MAX_GRADE_LEVELS:
        return "grade"
    return "continuous"


def load_task(*, manifest: str, task: str, label: str | None = None,
              kind: str | None = None) -> TaskData:
    """Read the task table (``FID IID label...``, NA missing) and the image manifest.

    ``label`` defaults to the table's only column (InputError if it has several); ``kind``
    defaults to :func:`infer_kind`. InputError naming the file for a missing column, a label
    with fewer than 2 levels, or fewer than 10 people with both a label and an image.
    """
    from ..io.manifest import read_manifest
    from ..io.tables import read_table

    table = read_table(task, kind="phenotype")
    if label is None:
        if len(table.columns) != 1:
            raise InputError(f"{task}: several label columns {table.columns}; choose one with "
                             "--label")
        label = table.columns[0]
    if label not in table.columns:
        raise InputError(f"{task}: no column {label!r} (columns are {table.columns})")
    col = table.values[label].dropna()
    report = [f"{task}: {len(table.values)} people, {len(col)} with {label}"]
    man = read_manifest(manifest)
    man = man[man["IID"].isin(col.index)]
    iid = pd.unique(man["IID"].to_numpy(dtype=str))
    report.append(f"{manifest}: {len(man)} images of {len(iid)} labelled people")
    if len(iid) < 10:
        raise InputError(f"{task}: only {len(iid)} people have both {label} and an image in "
                         f"{manifest}; at least 10 are needed")
    y = col.reindex(pd.Index(iid)).to_numpy(dtype=float)
    if len(np.unique(y)) < 2:
        raise InputError(f"{task}: column {label} has a single value among the people with "
                         "images")
    kind = kind or infer_kind(y)
    if kind not in KINDS:
        raise InputError(f"--kind must be one of {list(KINDS)}, got {kind!r}")
    if kind in ("class", "grade"):
        if not np.allclose(y, np.round(y)):
            raise InputError(f"{task}: column {label} has non-integer values; --kind {kind} "
                             "needs integer labels")
        y = np.round(y).astype(np.int64)
        counts = pd.Series(y).value_counts().sort_index()
        report.append(f"{label} ({kind}): " + ", ".join(f"{k}: {v}" for k, v in counts.items()))
    else:
        report.append(f"{label} (continuous): mean {y.mean():.4g}, SD {y.std():.4g}")
    row = pd.Series(np.arange(len(iid)), index=iid)
    return TaskData(iid=iid, y=y, kind=kind, label=label,
                    image_paths=list(man["path"].to_numpy(dtype=str)),
                    image_person=row.reindex(man["IID"].to_numpy(dtype=str)).to_numpy(),
                    image_instance=man["instance"].to_numpy(dtype=str), manifest=str(manifest),
                    report=report)


def split_people(*, y: np.ndarray, kind: str, seed: int, test_fraction: float = 0.3
                 ) -> np.ndarray:
    """bool (P,): True for test people. Stratified by label for class/grade where every level
    has at least 2 people (else plain random); seeded."""
    from sklearn.model_selection import train_test_split

    if not 0 < test_fraction < 1:
        raise InputError(f"--test-fraction must be in (0, 1), got {test_fraction}")
    idx = np.arange(len(y))
    strat = None
    if kind in ("class", "grade"):
        _, counts = np.unique(y, return_counts=True)
        if counts.min() >= 2:
            strat = y
    try:
        _, test = train_test_split(idx, test_size=test_fraction, random_state=seed,
                                   stratify=strat)
    except ValueError:
        _, test = train_test_split(idx, test_size=test_fraction, random_state=seed)
    mask = np.zeros(len(y), dtype=bool)
    mask[test] = True
    return mask
