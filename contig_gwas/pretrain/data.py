"""The pretraining cohort: images from the manifest, genetic modalities, presence masks, split.

Modalities (each optional):
- ``raw``: genotype dosages of a chosen (``snps``) or strided (``snp_stride``) subset of
  variants, read through :mod:`contig_gwas.io.genotypes`; missing calls set to the column mode
  (of the individuals kept), not standardised (as the authors' code).
- ``pgs``: polygenic scores (``FID IID PGS...``), z-scored over the individuals present;
  missing single values set to 0 (the mean).
- ``burden``: gene burden table (``FID IID gene...``, 0/1); missing values set to the mode.

Individuals come from the manifest; several images per individual (two eyes) are separate
samples with shared genetics. ``aggregate='inner'`` keeps individuals with every modality;
``'outer'`` keeps those with at least one and records per-modality presence masks. The split
into training and validation is by individual, seeded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from ..errors import InputError
from ..io.genotypes import open_genotypes
from ..io.manifest import read_manifest
from ..io.tables import read_table
from .images import ImageDataset, check_images

MODALITIES = ("raw", "pgs", "burden")
#: default cap on the automatic raw-SNP feature count (stride chosen to stay below it)
MAX_AUTO_SNPS = 10_000


@dataclass
class Modality:
    """One genetic modality over the kept individuals.

    Attributes:
        name: raw | pgs | burden.
        features: float16/float32 array (N, F), zero rows where absent.
        present: bool (N,).
        columns: feature names, length F.
    """

    name: str
    features: np.ndarray
    present: np.ndarray
    columns: list[str]


@dataclass
class PretrainData:
    """Everything the training loop needs.

    Attributes:
        iid: str (N,) individuals; split: str (N,) 'train' or 'val'.
        image_paths: (I,) absolute paths of the good images; image_individual: int (I,) row
            in ``iid``; image_instance: str (I,).
        modalities: name -> :class:`Modality` (rows aligned with ``iid``).
        cache: uint8 (I, 3, S, S) decoded images, or None (decoded on demand).
        report: what was read, kept and dropped; bad_images: one message per skipped image.
    """

    iid: np.ndarray
    split: np.ndarray
    image_paths: list[str]
    image_individual: np.ndarray
    image_instance: np.ndarray
    modalities: dict[str, Modality]
    image_size: int
    cache: np.ndarray | None = None
    report: list[str] = field(default_factory=list)
    bad_images: list[str] = field(default_factory=list)

    def images_of(self, split: str) -> np.ndarray:
        """Indices of the images whose individual is in ``split``."""
        return np.flatnonzero(self.split[self.image_individual] == split)

    def dataset(self) -> ImageDataset:
        return ImageDataset(self.image_paths, size=self.image_size, cache=self.cache)

    def genetics(self, individuals: torch.Tensor, *, device: torch.device | str = "cpu"
                 ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Genetic inputs (float32) and presence masks (bool) of rows ``individuals``."""
        idx = individuals.cpu().numpy()
        x, m = {}, {}
        for name, mod in self.modalities.items():
            x[name] = torch.from_numpy(mod.features[idx].astype(np.float32)).to(device)
            m[name] = torch.from_numpy(mod.present[idx]).to(device)
        return x, m


def _mode_impute(x: np.ndarray) -> np.ndarray:
    """Replace NaN in each column by that column's most common (rounded) value."""
    nan = np.isnan(x)
    if not nan.any():
        return x
    r = np.rint(np.where(nan, -1, x)).astype(np.int64)
    counts = np.stack([(r == k).sum(axis=0) for k in range(3)])  # dosages 0, 1, 2
    mode = counts.argmax(axis=0).astype(x.dtype)
    return np.where(nan, mode[None, :], x)


def _select_variants(variants: pd.DataFrame, *, snps: str | None, stride: int | None,
                     report: list[str]) -> np.ndarray:
    m = len(variants)
    if snps is not None:
        from ..io.text import read_lines

        wanted = [ln.split()[0] for ln in read_lines(snps, what="SNP list")]
        idx = pd.Index(variants["variant_id"]).get_indexer(wanted)
        absent = [w for w, i in zip(wanted, idx) if i < 0]
        if len(absent) == len(wanted):
            raise InputError(f"{snps}: none of its {len(wanted)} variant IDs are in the genotypes")
        report.append(f"raw: {len(wanted) - len(absent)} of {len(wanted)} listed variants found"
                      + (f" ({len(absent)} absent, e.g. {absent[0]})" if absent else ""))
        return np.sort(idx[idx >= 0])
    if stride is None:
        stride = max(1, -(-m // MAX_AUTO_SNPS))
    if stride < 1:
        raise InputError(f"--snp-stride must be positive, got {stride}")
    sel = np.arange(0, m, stride)
    report.append(f"raw: variant stride {stride} over {m} variants: {len(sel)} features")
    return sel


def load_raw(*, iid: np.ndarray, bfile: str | None, bgen: str | None, sample: str | None,
             snps: str | None, snp_stride: int | None, report: list[str],
             pfile: str | None = None) -> Modality:
    src = open_genotypes(bfile=bfile, pfile=pfile, bgen=bgen, sample=sample)
    rows = pd.Index(src.samples["IID"].astype(str)).get_indexer(iid)
    present = rows >= 0
    sel = _select_variants(src.variants, snps=snps, stride=snp_stride, report=report)
    feats = np.zeros((len(iid), len(sel)), dtype=np.float16)
    if present.any():
        take = rows[present]
        order = np.argsort(take)   # read in file order, put back in ours
        cols = []
        for block in src.iter_blocks(samples=take[order], variants=sel, block_size=2000):
            cols.append(_mode_impute(block.dosages))
        x = np.concatenate(cols, axis=1)
        out = np.empty_like(x)
        out[order] = x
        feats[present] = out.astype(np.float16)
    report.append(f"raw: {int(present.sum())} of {len(iid)} individuals in {src.path}")
    return Modality("raw", feats, present, list(src.variants["variant_id"].iloc[sel]))


def load_table_modality(name: str, path: str, *, iid: np.ndarray, zscore: bool,
                        report: list[str]) -> Modality:
    table = read_table(path, kind="phenotype")
    vals = table.values.reindex(pd.Index(iid)).to_numpy(dtype=np.float64)
    present = ~np.all(np.isnan(vals), axis=1)
    x = vals[present]
    if zscore:
        mu = np.nanmean(x, axis=0)
        sd = np.nanstd(x, axis=0)
        sd = np.where(sd > 0, sd, 1.0)
        x = np.nan_to_num((x - mu) / sd, nan=0.0)
    else:
        x = _mode_impute(x)
    feats = np.zeros((len(iid), vals.shape[1]), dtype=np.float32)
    feats[present] = x
    report.append(f"{name}: {int(present.sum())} of {len(iid)} individuals in {path} "
                  f"({vals.shape[1]} features)")
    return Modality(name, feats, present, table.columns)


def load_pretrain_data(*, manifest: str, modalities: Sequence[str] = (), bfile: str | None = None,
                       pfile: str | None = None, bgen: str | None = None, sample: str | None = None,
                       snps: str | None = None, snp_stride: int | None = None,
                       pgs: str | None = None, burden: str | None = None,
                       aggregate: str = "inner", image_size: int = 224,
                       val_fraction: float = 0.1, seed: int = 42,
                       max_bad_fraction: float = 0.01,
                       cache_limit_bytes: int = 2 << 30) -> PretrainData:
    """Read and align the cohort (see the module docstring). InputError for bad input."""
    report: list[str] = []
    man = read_manifest(manifest)
    iid = pd.unique(man["IID"].to_numpy(dtype=str))
    report.append(f"{manifest}: {len(man)} images of {len(iid)} individuals")
    mods: dict[str, Modality] = {}
    for name in modalities:
        if name not in MODALITIES:
            raise InputError(f"unknown modality {name!r}; choose from {list(MODALITIES)}")
        if name == "raw":
            if bfile is None and pfile is None and bgen is None:
                raise InputError("modality raw needs --bfile, --pfile or --bgen")
            mods[name] = load_raw(iid=iid, bfile=bfile, pfile=pfile, bgen=bgen, sample=sample,
                                  snps=snps, snp_stride=snp_stride, report=report)
        else:
            path = pgs if name == "pgs" else burden
            if path is None:
                raise InputError(f"modality {name} needs --{name}")
            mods[name] = load_table_modality(name, path, iid=iid, zscore=(name == "pgs"),
                                             report=report)
    if aggregate not in ("inner", "outer"):
        raise InputError(f"--aggregate must be inner or outer, got {aggregate!r}")
    keep = np.ones(len(iid), dtype=bool)
    if mods:
        pres = np.stack([m.present for m in mods.values()], axis=1)
        keep = np.all(pres, axis=1) if aggregate == "inner" else np.any(pres, axis=1)
        report.append(f"aggregate {aggregate}: {int(keep.sum())} of {len(iid)} individuals kept "
                      f"({'every' if aggregate == 'inner' else 'at least one'} modality)")
    if keep.sum() < 2:
        raise InputError(f"{manifest}: only {int(keep.sum())} individuals have images and the "
                         f"genetic modalities {list(mods)} ({aggregate}); at least 2 are needed")
    row = pd.Series(np.arange(len(iid)), index=iid)
    img_ind = row.reindex(man["IID"].to_numpy(dtype=str)).to_numpy()
    take = keep[img_ind]
    paths = man["path"].to_numpy(dtype=str)[take]
    n_bytes = len(paths) * 3 * image_size * image_size
    check = check_images(list(paths), size=image_size, cache=n_bytes <= cache_limit_bytes,
                         max_bad_fraction=max_bad_fraction, source=str(manifest))
    if check.bad:
        report.append(f"{len(check.bad)} images skipped (missing or undecodable), e.g. "
                      f"{check.bad[0]}")
    # re-index individuals to the kept ones that still have a good image
    ind_old = img_ind[take][check.ok]
    kept_ids = np.unique(ind_old)
    new_row = np.full(len(iid), -1)
    new_row[kept_ids] = np.arange(len(kept_ids))
    for m in mods.values():
        m.features, m.present = m.features[kept_ids], m.present[kept_ids]
    iid = iid[kept_ids]
    rng = np.random.default_rng(seed)
    n = len(iid)
    n_val = int(round(val_fraction * n)) if val_fraction > 0 else 0
    n_val = min(max(n_val, 1 if val_fraction > 0 else 0), n - 2)
    split = np.full(n, "train", dtype=object)
    split[rng.permutation(n)[:n_val]] = "val"
    report.append(f"split by individual (seed {seed}): {n - n_val} train, {n_val} validation")
    cache = check.cache[check.ok] if check.cache is not None else None
    return PretrainData(iid=iid, split=split.astype(str), image_paths=list(paths[check.ok]),
                        image_individual=new_row[ind_old],
                        image_instance=man["instance"].to_numpy(dtype=str)[take][check.ok],
                        modalities=mods, image_size=image_size, cache=cache, report=report,
                        bad_images=check.bad)


def make_loader(data: PretrainData, images: np.ndarray, *, batch_size: int, shuffle: bool,
                seed: int, epoch: int, workers: int = 0, drop_last: bool = False
                ) -> torch.utils.data.DataLoader:
    """A loader over image indices ``images``; the order depends only on (seed, epoch)."""
    order = images
    if shuffle:
        order = images[np.random.default_rng([seed, epoch]).permutation(len(images))]
    return torch.utils.data.DataLoader(
        data.dataset(), batch_size=batch_size, sampler=[int(i) for i in order],
        num_workers=workers, drop_last=drop_last, persistent_workers=False,
        pin_memory=False)
