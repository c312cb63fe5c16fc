"""Image-space attribution maps for one genetic feature: which regions tie an image to it.

For feature ``k`` of modality ``m`` the model's genetic side defines a direction in the shared
space: the mean change of the L2-normalised genetic projection when the feature moves from low
to high in people's own genetics (0 -> 1 for a binary feature such as a gene burden, mean - SD
-> mean + SD otherwise),

    d_k = mean_i [ n(g(x_i with x_ik = high)) - n(g(x_i with x_ik = low)) ]

The image score ``s_k(img) = n(z(img)) . d_k / T`` is the change of the image-genetics similarity
(a logit of the contrastive loss) that the feature brings for this image. Integrated gradients
of ``s_k`` with respect to the pixels, from a baseline image (``mean``: the cohort's mean image,
so attributions follow where this image differs from the average eye; ``black``; ``blur``: the
image Gaussian-blurred), summed over colour channels, is the map. Maps of instances named in
``flip`` (right eyes, which are mirror images of left eyes) are flipped horizontally so that
anatomy lines up before averaging over people.

The mean |map| shows where the model looks (with the mean-image baseline: where an image differs
from the average eye), for any feature alike; the per-pixel correlation over people between the
signed map and the person's feature value (``ImageMaps.corr``) is the feature-specific view.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from .attributions import images_tensor, integrated_gradients

if TYPE_CHECKING:
    from ..pretrain.models import ContIGModel

IMAGE_BASELINES = ("mean", "black", "blur")


class ImageScore(nn.Module):
    """``forward(images) -> n(head_m(backbone(images))) . direction / T``, shape (n,)."""

    direction: torch.Tensor  # a buffer, registered in __init__

    def __init__(self, model: ContIGModel, *, modality: str, direction: torch.Tensor,
                 temperature: float) -> None:
        super().__init__()
        self.backbone = model.image_encoder.backbone
        self.head = model.image_encoder.heads[modality]
        self.register_buffer("direction", direction.float())
        self.temperature = temperature

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        z = F.normalize(self.head(self.backbone(images)).float(), dim=1)
        return z @ self.direction / self.temperature


@torch.no_grad()
def feature_direction(encoder: nn.Module, *, x: torch.Tensor, feature_index: int) -> torch.Tensor:
    """``d_k`` (D,) of the module docstring over the genetic inputs ``x`` (n, F)."""
    col = x[:, feature_index]
    values = torch.unique(col)
    if len(values) <= 2 and bool(((values == 0) | (values == 1)).all()):
        low, high = 0.0, 1.0
    else:
        mu, sd = float(col.mean()), float(col.std())
        low, high = mu - (sd or 1.0), mu + (sd or 1.0)
    x_lo, x_hi = x.clone(), x.clone()
    x_lo[:, feature_index] = low
    x_hi[:, feature_index] = high
    return (F.normalize(encoder(x_hi).float(), dim=1)
            - F.normalize(encoder(x_lo).float(), dim=1)).mean(0)


def find_feature(columns: dict[str, list[str]], name: str) -> tuple[str, int]:
    """``(modality, index)`` of feature ``name`` (``NAME`` or ``MODALITY:NAME``)."""
    mod, _, feat = name.partition(":") if name.split(":")[0] in columns else ("", "", name)
    hits = [(m, cols.index(feat)) for m, cols in columns.items()
            if (not mod or m == mod) and feat in cols]
    if not hits:
        raise InputError(f"--feature {name!r}: no such feature in the model's modalities "
                         f"{list(columns)} (e.g. {[c[0] for c in columns.values() if c][:3]})")
    if len(hits) > 1:
        raise InputError(f"--feature {name!r} is in several modalities {[h[0] for h in hits]}; "
                         "write MODALITY:NAME")
    return hits[0]


@dataclass
class ImageMaps:
    """Maps of one feature over a set of images (aligned: ``flip`` instances mirrored).

    Attributes:
        modality, feature: the genetic feature explained.
        iid, instance: str (n,) of each image; feature_value: (n,) the person's value.
        images: uint8 (n, S, S, 3) the images as analysed (aligned).
        maps: float32 (n, S, S) channel-summed attributions (aligned).
        mean_abs: (S, S) mean |map| over people (each person's images averaged first);
            mean_signed: (S, S) the same, signed.
        corr: (S, S) Pearson correlation over people between the signed map at each pixel and
            the person's feature value: where the attribution tracks the feature (a feature
            that drives a region makes the images of high and low carriers differ there in
            opposite directions); about N(0, 1/people) where it does not.
        mean_image: float (S, S, 3) mean aligned image in [0, 1].
        score, baseline_score, delta: (n,) s_k at the image and the baseline; IG's
            completeness error.
        settings: steps, baseline, counts.
    """

    modality: str
    feature: str
    iid: np.ndarray
    instance: np.ndarray
    feature_value: np.ndarray
    images: np.ndarray
    maps: np.ndarray
    mean_abs: np.ndarray
    mean_signed: np.ndarray
    corr: np.ndarray
    mean_image: np.ndarray
    score: np.ndarray
    baseline_score: np.ndarray
    delta: np.ndarray
    settings: dict = field(default_factory=dict)

    def examples(self, k: int = 4) -> np.ndarray:
        """Indices of ``k`` example images: the highest and lowest feature values."""
        order = np.argsort(self.feature_value, kind="stable")
        lo, hi = order[: k // 2], order[::-1][: k - k // 2]
        return np.concatenate([hi, lo])


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    r = max(1, int(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=x.dtype)
    k = torch.exp(-t ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).repeat(c, 1, 1, 1),
                 groups=c)
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"),
                    k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def image_maps(*, cohort, feature: str, steps: int = 32, baseline: str = "mean",
               max_images: int = 200, flip: tuple[str, ...] = ("right",), seed: int = 42,
               people: np.ndarray | None = None, chunk: int = 32) -> ImageMaps:
    """Integrated-gradients maps of feature ``feature`` (see the module docstring).

    Images of people with the feature's modality (``people``: bool (N,) restricts them), at most
    ``max_images`` (seeded subset).
    """
    from ..pretrain.augment import IMAGENET_MEAN, IMAGENET_STD, Normalise

    if baseline not in IMAGE_BASELINES:
        raise InputError(f"--map-baseline must be one of {list(IMAGE_BASELINES)}, "
                         f"got {baseline!r}")
    model, data = cohort.model, cohort.data
    model.eval()
    cols = {m: list(data.modalities[m].columns) for m in cohort.modalities}
    m, k = find_feature(cols, feature)
    mod = data.modalities[m]
    ind = data.image_individual
    x_all = torch.from_numpy(mod.features.astype(np.float32))
    d = feature_direction(model.genetic_encoders[m], x=x_all[torch.from_numpy(mod.present)],
                          feature_index=k)
    scorer = ImageScore(model, modality=m, direction=d, temperature=cohort.temperature)
    rng = np.random.default_rng([seed, 7])
    rows = np.flatnonzero(mod.present[ind] & (True if people is None else people[ind]))
    if len(rows) == 0:
        raise InputError(f"--feature {feature}: no images of people with modality {m}")
    if len(rows) > max_images:
        rows = np.sort(rng.choice(rows, size=max_images, replace=False))
    flipped = np.isin(data.image_instance[rows], list(flip))
    mean_img = _mean_image(data, rows, flipped)
    norm = Normalise()
    base_mean = norm(torch.from_numpy(mean_img.transpose(2, 0, 1)[None] / 255.0).float())
    attrs, deltas, s_x, s_b, imgs = [], [], [], [], []
    for s in range(0, len(rows), chunk):
        r = rows[s:s + chunk]
        x = images_tensor(data, r)
        fl = torch.from_numpy(flipped[s:s + chunk])
        x = torch.where(fl[:, None, None, None], x.flip(3), x)   # align, then explain
        if baseline == "mean":
            b = base_mean.expand_as(x).contiguous()
        elif baseline == "black":
            b = norm(torch.zeros_like(x)).contiguous()
        else:
            b = _blur(x, sigma=max(1.0, x.shape[-1] / 16))
        a, dl = integrated_gradients(scorer, inputs=x, baselines=b, steps=steps,
                                     internal_batch_size=max(chunk * 4, 64))
        with torch.no_grad():
            s_x.append(scorer(x))
            s_b.append(scorer(b))
        attrs.append(a.sum(dim=1))
        deltas.append(dl)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        imgs.append(((x * std + mean).clamp(0, 1) * 255 + 0.5).to(torch.uint8))
    maps = torch.cat(attrs).numpy().astype(np.float32)
    people_rows = ind[rows]
    uniq, inv = np.unique(people_rows, return_inverse=True)
    cnt = np.bincount(inv).astype(np.float64)
    per = np.zeros((len(uniq),) + maps.shape[1:])
    np.add.at(per, inv, maps)
    per /= cnt[:, None, None]
    corr = _pixel_correlation(per, x_all[uniq, k].numpy().astype(np.float64))
    return ImageMaps(
        modality=m, feature=cols[m][k], iid=data.iid[people_rows],
        instance=data.image_instance[rows], feature_value=x_all[people_rows, k].numpy(),
        images=torch.cat(imgs).permute(0, 2, 3, 1).numpy(), maps=maps,
        mean_abs=np.abs(per).mean(0), mean_signed=per.mean(0), corr=corr,
        mean_image=mean_img / 255.0,
        score=torch.cat(s_x).numpy(), baseline_score=torch.cat(s_b).numpy(),
        delta=torch.cat(deltas).numpy(),
        settings={"steps": steps, "baseline": baseline, "n_images": len(rows),
                  "n_people": len(uniq), "flip": list(flip), "seed": seed,
                  "direction_norm": float(d.norm())})


def _pixel_correlation(maps: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Pearson r (S, S) between ``maps`` (n, S, S) and ``value`` (n,); 0 where either is
    constant."""
    v = value - value.mean()
    m = maps - maps.mean(0)
    den = np.sqrt((m ** 2).sum(0) * (v ** 2).sum())
    num = np.tensordot(v, m, axes=(0, 0))
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def _mean_image(data, rows: np.ndarray, flipped: np.ndarray) -> np.ndarray:
    """Mean aligned image, float (S, S, 3) on the 0-255 scale."""
    acc = np.zeros((3, data.image_size, data.image_size))
    ds = None if data.cache is not None else data.dataset()
    for r, f in zip(rows, flipped):
        im = data.cache[r] if ds is None else ds[int(r)][0].numpy()
        acc += im[:, :, ::-1] if f else im
    return (acc / max(len(rows), 1)).transpose(1, 2, 0)


def concentration(attribution: np.ndarray, region: np.ndarray) -> dict[str, float]:
    """How much of a map's mass lies in ``region`` (bool, same shape).

    Returns ``mass_share`` (share of sum |map| inside), ``area_share`` (share of pixels inside)
    and ``enrichment`` = mass_share / area_share (1 = no concentration).
    """
    a = np.abs(np.asarray(attribution, dtype=np.float64))
    region = np.asarray(region, dtype=bool)
    if a.shape != region.shape:
        raise ValueError(f"map shape {a.shape} != region shape {region.shape}")
    total = a.sum()
    mass = float(a[region].sum() / total) if total > 0 else 0.0
    area = float(region.mean())
    return {"mass_share": mass, "area_share": area,
            "enrichment": mass / area if area > 0 else float("nan")}
