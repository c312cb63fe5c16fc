"""The cohort a checkpoint is explained on: the model, its settings and the genetic inputs laid
out exactly as the model was trained on them (same features, same order, same scaling).

Built on :func:`contig_gwas.pretrain.data.load_pretrain_data`; raw SNPs are re-selected by the
variant IDs stored in the checkpoint's ``config.json`` (not by stride, so another genotype file
with the same variants works), table modalities are reordered to the stored column order.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError


@dataclass
class ExplainCohort:
    """A ContIG model with the cohort it is explained on.

    Attributes:
        model: :class:`contig_gwas.pretrain.models.ContIGModel` in eval mode.
        config: the checkpoint's ``config.json``.
        data: :class:`contig_gwas.pretrain.data.PretrainData` (every individual ``train``).
        modalities: the modalities explained (in the model's order).
        temperature, alpha: the loss settings the model was trained with.
        split: str (N,) ``train``/``val``/``unknown`` of each individual in the checkpoint's
            ``split.tsv``.
        report: what was read and kept.
    """

    model: object
    config: dict
    data: object
    modalities: list[str]
    temperature: float
    alpha: float
    split: np.ndarray
    report: list[str] = field(default_factory=list)


def load_explain_cohort(*, checkpoint: str | os.PathLike, manifest: str,
                        bfile: str | None = None, pfile: str | None = None,
                        bgen: str | None = None,
                        sample: str | None = None, pgs: str | None = None,
                        burden: str | None = None, modalities: list[str] | None = None,
                        weights: str = "model.pt", max_bad_fraction: float = 0.01
                        ) -> ExplainCohort:
    """Load checkpoint directory ``checkpoint`` and its genetic inputs (see module docstring).

    ``modalities`` defaults to the model's modalities whose inputs are given. InputError for a
    checkpoint that is not ContIG, a modality without inputs, or inputs that lack features the
    model was trained on (naming the file and the first missing features).
    """
    from ..pretrain.checkpoint import load_config, load_model
    from ..pretrain.data import load_pretrain_data

    ck = Path(checkpoint)
    if not ck.is_dir():
        raise InputError(f"{ck}: not a contig-pretrain checkpoint directory (contig-explain needs "
                         "the genetic encoders, so a bare weights file does not do)")
    config = load_config(ck)
    spec = config.get("model", {})
    if spec.get("method") != "contig":
        raise InputError(f"{ck}: checkpoint method is {spec.get('method')!r}; contig-explain "
                         "needs a ContIG checkpoint (with genetic encoders)")
    trained = list(spec["modalities"])
    given = {"raw": bool(bfile or pfile or bgen), "pgs": bool(pgs), "burden": bool(burden)}
    for m, ok in given.items():
        if ok and m not in trained:
            raise InputError(f"{ck}: the model has no {m} encoder (modalities {trained}); "
                             f"drop the {m} input")
    mods = list(modalities) if modalities else [m for m in trained if given[m]]
    if not mods:
        raise InputError(f"{ck}: give the inputs of at least one of the model's modalities "
                         f"{trained} (--bfile/--pfile/--bgen, --pgs, --burden)")
    for m in mods:
        if m not in trained:
            raise InputError(f"{ck}: the model has no {m} encoder (modalities {trained})")
        if not given[m]:
            raise InputError(f"modality {m} needs its input (--{'bfile' if m == 'raw' else m})")
    features = config["data"]["features"]
    report: list[str] = []
    with tempfile.TemporaryDirectory(prefix="contig-explain-") as tmp:
        snps = None
        if "raw" in mods:
            snps = str(Path(tmp) / "snps.txt")
            Path(snps).write_text("\n".join(features["raw"]) + "\n")
        data = load_pretrain_data(
            manifest=manifest, modalities=mods, bfile=bfile, pfile=pfile, bgen=bgen,
            sample=sample, snps=snps, pgs=pgs, burden=burden, aggregate="outer",
            image_size=int(config["data"]["image_size"]), val_fraction=0.0,
            max_bad_fraction=max_bad_fraction)
    sources = {"raw": bfile or pfile or bgen, "pgs": pgs, "burden": burden}
    for m in mods:
        _match_features(data.modalities[m], features[m], source=str(sources[m]))
    report += data.report
    split = _read_split(ck / "split.tsv", data.iid)
    model = load_model(ck, weights=weights)
    tr = config.get("training", {})
    return ExplainCohort(model=model, config=config, data=data, modalities=mods,
                         temperature=float(tr.get("temperature", 0.1)),
                         alpha=float(tr.get("alpha", 0.75)), split=split, report=report)


def _match_features(mod, wanted: list[str], *, source: str) -> None:
    """Reorder ``mod``'s columns to ``wanted`` (in place); InputError if some are absent."""
    have = pd.Index(mod.columns)
    idx = have.get_indexer(wanted)
    if (idx < 0).any():
        absent = [w for w, i in zip(wanted, idx) if i < 0]
        raise InputError(f"{source}: {len(absent)} of the {len(wanted)} {mod.name} features the "
                         f"model was trained on are absent, e.g. {absent[:3]}")
    mod.features = mod.features[:, idx]
    mod.columns = list(wanted)


def _read_split(path: Path, iid: np.ndarray) -> np.ndarray:
    if not path.exists():
        return np.full(len(iid), "unknown")
    df = pd.read_csv(path, sep="\t", dtype=str)
    s = pd.Series(df["split"].to_numpy(), index=df["IID"].to_numpy())
    return s.reindex(pd.Index(iid)).fillna("unknown").to_numpy(dtype=str)
