"""Image features from a trained encoder, streamed in batches.

Features of the chosen layer (default ``pooled``: the globally pooled backbone output, as the
paper's GWAS used; ``stem``, ``layer1``..``layer4`` are spatially mean-pooled; ``projection:<head>``
gives a projection head's output). Optional test-time augmentation averages (``mean``) or
concatenates (``concat``) the features of four deterministic views: the image, its horizontal
flip, and rotations by +-10 degrees. Memory is bounded by the batch size, plus the output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from ..errors import InputError
from ..pretrain.augment import Normalise
from ..pretrain.images import ImageDataset
from ..pretrain.models import ImageEncoder

TTA_MODES = ("mean", "concat")


@dataclass
class Features:
    """Features of the images that decoded.

    Attributes:
        values: float32 (M, D) features of the good images, in input order.
        index: int (M,) position of each row in the input ``paths``.
        bad: one message per image that is missing or does not decode (naming its path).
    """

    values: np.ndarray
    index: np.ndarray
    bad: list[str] = field(default_factory=list)


def tta_views(x: torch.Tensor) -> list[torch.Tensor]:
    """The four deterministic views of a normalised batch (B, 3, H, W)."""
    from kornia.geometry.transform import rotate

    angle = torch.full((x.shape[0],), 10.0, device=x.device, dtype=x.dtype)
    return [x, torch.flip(x, dims=[3]), rotate(x, angle), rotate(x, -angle)]


@torch.inference_mode()
def embed_batch(encoder: ImageEncoder, images: torch.Tensor, *, layer: str = "pooled",
                tta: str | None = None) -> torch.Tensor:
    """Features (B, D) of a uint8 (or normalised float) batch (B, 3, H, W); eval mode assumed."""
    x = Normalise().to(images.device)(images) if images.dtype == torch.uint8 else images
    if tta is None:
        return encoder.features(x, layer=layer).float()
    if tta not in TTA_MODES:
        raise InputError(f"--tta must be one of {list(TTA_MODES)}, got {tta!r}")
    feats = [encoder.features(v, layer=layer).float() for v in tta_views(x)]
    return torch.stack(feats).mean(0) if tta == "mean" else torch.cat(feats, dim=1)


def extract_features(*, encoder: ImageEncoder, paths: Sequence[str], image_size: int,
                     layer: str = "pooled", tta: str | None = None, batch_size: int = 64,
                     device: str | torch.device = "cpu", workers: int = 0,
                     max_bad_fraction: float = 0.01, progress: bool = False,
                     source: str = "manifest") -> Features:
    """Stream ``paths`` through ``encoder``; skip (and report) images that fail to load.

    More than ``max_bad_fraction`` bad images is an InputError naming the first few paths;
    raised as soon as the count is passed.
    """
    from tqdm.auto import tqdm

    if layer not in encoder.layer_names() and not (layer == "projection" and encoder.heads):
        raise InputError(f"unknown layer {layer!r}; this model has {encoder.layer_names()}")
    n = len(paths)
    encoder.eval()
    ds = ImageDataset(paths, size=image_size)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=False,
                                         num_workers=workers)
    out: np.ndarray | None = None
    ok = np.zeros(n, dtype=bool)
    bad: list[str] = []
    with tqdm(total=n, desc="embedding", unit="img", disable=not progress) as bar:
        for images, idx, errors in loader:
            good = np.array([e == "" for e in errors], dtype=bool)
            bad += [e for e in errors if e]
            if len(bad) > max_bad_fraction * n:
                shown = "; ".join(bad[:5])
                raise InputError(f"{source}: at least {len(bad)} of {n} images are missing or do "
                                 f"not decode (more than {max_bad_fraction:.1%}): {shown}")
            if good.any():
                sel = torch.from_numpy(np.flatnonzero(good))
                f = embed_batch(encoder, images.index_select(0, sel).to(device), layer=layer,
                                tta=tta).cpu().numpy()
                if out is None:
                    out = np.zeros((n, f.shape[1]), dtype=np.float32)
                rows = idx.numpy()[good]
                out[rows] = f
                ok[rows] = True
            bar.update(len(idx))
    if out is None:
        raise InputError(f"{source}: none of the {n} images could be read")
    keep = np.flatnonzero(ok)
    return Features(values=out[keep], index=keep, bad=bad)


@dataclass
class Aggregated:
    """Per-individual features after combining instances.

    Attributes:
        iid: str (N,); values: float32 (N, D'); instances: the instances used, in order;
        dropped: individuals without the required instances; partial: individuals averaged
        over fewer than all instances (``mean`` only).
    """

    iid: np.ndarray
    values: np.ndarray
    instances: list[str]
    dropped: int
    partial: int = 0


def parse_instances(spec: str, available: Sequence[str]) -> tuple[str, list[str]]:
    """Returns (how, instances) for ``--instances``.

    ``mean``: the average over the instances each individual has (any of the manifest's);
    ``concat``: every instance of the manifest concatenated (individuals lacking one dropped);
    ``a,b``: those instances concatenated in that order (one name = that instance only),
    individuals lacking one dropped.
    """
    avail = sorted(set(available))
    if spec in ("mean", "concat"):
        return spec, avail
    names = [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [s for s in names if s not in avail]
    if not names or unknown:
        raise InputError(f"--instances {spec!r}: unknown instance {unknown}; the manifest has "
                         f"{avail} (or use mean, concat)")
    return "concat", names


def aggregate_instances(*, iid: np.ndarray, instance: np.ndarray, values: np.ndarray,
                        how: str, instances: Sequence[str]) -> Aggregated:
    """Combine rows (one per image) into one row per individual, in first-seen order.

    ``how='mean'`` averages the instances present; ``'concat'`` needs all of ``instances``.
    """
    df = pd.DataFrame({"IID": iid, "instance": instance, "row": np.arange(len(iid))})
    df = df[df.instance.isin(list(instances))]
    wide = df.pivot(index="IID", columns="instance", values="row").reindex(columns=list(instances))
    wide = wide.reindex(pd.unique(df["IID"]))
    have = wide.notna().to_numpy()
    if how == "mean":
        keep = have.any(axis=1)
        out = np.zeros((int(keep.sum()), values.shape[1]), dtype=np.float64)
        rows = wide.to_numpy()[keep]
        cnt = have[keep].sum(axis=1)
        for j in range(rows.shape[1]):
            ok = ~np.isnan(rows[:, j])
            out[ok] += values[rows[ok, j].astype(np.int64)]
        out /= cnt[:, None]
        partial = int((cnt < len(instances)).sum())
    else:
        keep = have.all(axis=1)
        rows = wide.to_numpy()[keep].astype(np.int64)          # (N, n_instances)
        out = values[rows].reshape(len(rows), -1)
        partial = 0
    return Aggregated(iid=wide.index[keep].to_numpy(dtype=str), values=out.astype(np.float32),
                      instances=list(instances), dropped=int((~keep).sum()), partial=partial)
