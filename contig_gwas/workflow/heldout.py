"""The held-out individuals of pretraining: the GWAS sample of ``gwas.individuals: held_out``.

``contig-pretrain`` splits the individuals it trains on into ``train`` and ``val`` (its
``--val-fraction``, by ``--seed``) and writes the split to ``<out>/split.tsv`` (``IID split``).
The ContIG paper ran its GWAS on the held-out split, so that no encoder saw the individuals
whose embeddings are tested. With several models the held-out individuals are those no
trained model trained on: listed in some model's split and in no model's ``train`` split.

Each model draws its split from the individuals it keeps (a ContIG model with ``--aggregate
inner`` keeps only those with every genetic modality), so models that keep different
individuals draw different splits, and the individuals none of them trained on are fewer than
any one model's validation split (on the tiny test cohort, val_fraction 0.5: ContIG 114 of 229,
SimCLR 138 of 275, trained on by neither 85). Models that keep the same individuals with the
same seed and fraction share one split.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from ..errors import InputError
from ..outputs import atomic_path

SPLITS = ("train", "val")


@dataclass
class HeldOut:
    """The held-out individuals (``iid``) and, per model, ``(individuals in its split, of them
    in its validation split)``."""

    iid: np.ndarray
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)


def read_split(path: str | os.PathLike) -> pd.DataFrame:
    """A ``split.tsv`` of contig-pretrain: columns ``IID`` and ``split`` (train or val)."""
    try:
        t = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"{path}: cannot read the split table: {exc}") from exc
    if list(t.columns[:2]) != ["IID", "split"]:
        raise InputError(f"{path}: expected the columns IID split (contig-pretrain's "
                         f"split.tsv), found {list(t.columns)[:4]}")
    bad = sorted(set(t["split"]) - set(SPLITS))
    if bad:
        raise InputError(f"{path}: unknown split value(s) {bad[:3]}; expected train or val")
    if t["IID"].duplicated().any():
        raise InputError(f"{path}: individual {t['IID'][t['IID'].duplicated()].iloc[0]!r} "
                         f"is listed twice")
    return t


def held_out_individuals(splits: Mapping[str, str | os.PathLike]) -> HeldOut:
    """The individuals of ``splits`` (model -> split.tsv) that no model trained on: in some
    table, and in no table's ``train`` split; in order of first appearance.

    Raises:
        InputError when a table is malformed or every individual was trained on.
    """
    if not splits:
        raise InputError("no split table given")
    order: dict[str, None] = {}
    trained: set[str] = set()
    sizes: dict[str, tuple[int, int]] = {}
    for name, path in splits.items():
        t = read_split(path)
        iid = t["IID"].to_numpy(dtype=str)
        is_train = t["split"].to_numpy() == "train"
        order.update(dict.fromkeys(iid))
        trained.update(iid[is_train])
        sizes[name] = (len(t), int((~is_train).sum()))
    keep = np.array([i for i in order if i not in trained], dtype=str)
    if len(keep) == 0:
        detail = ", ".join(f"{k}: {v[1]} of {v[0]}" for k, v in sizes.items())
        raise InputError(f"every individual was trained on by some model ({detail}); set "
                         f"pretrain.val_fraction > 0 and give the models the same seed")
    return HeldOut(iid=keep, sizes=sizes)


def write_keep(path: str | os.PathLike, iid: np.ndarray) -> None:
    """A ``--keep`` file (header ``IID``, one individual a line)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text("IID\n" + "".join(f"{i}\n" for i in iid))
