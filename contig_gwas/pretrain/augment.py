"""Augmentations on batches of uint8 image tensors, with kornia, on the training device.

ContIG's defaults (authors' code): rotation by up to 20 degrees, horizontal flip, ImageNet
normalisation. SimCLR adds a resized crop and colour jitter. Randomness comes from torch's
global generator, which the training loop seeds per epoch (so resumed runs repeat exactly).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..errors import InputError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
AUGMENTATIONS = ("rotate", "flip", "color", "crop")
DEFAULTS = {"contig": ("rotate", "flip"), "simclr": ("rotate", "flip", "color", "crop"),
            "none": ()}


class Normalise(nn.Module):
    """uint8 (B, 3, H, W) -> float, scaled to [0, 1] and normalised per channel."""

    mean: torch.Tensor  # buffers, registered in __init__
    std: torch.Tensor

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        return (x - self.mean) / self.std


def parse_augmentations(spec: str | Sequence[str] | None, *, method: str) -> tuple[str, ...]:
    """``"rotate,flip"`` -> ('rotate', 'flip'); None gives the method's defaults; ``none``: ()."""
    if spec is None:
        return DEFAULTS.get(method, ("rotate", "flip"))
    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    if items == ["none"]:
        return ()
    unknown = [s for s in items if s not in AUGMENTATIONS]
    if unknown:
        raise InputError(f"unknown augmentation {unknown}; choose from {list(AUGMENTATIONS)}")
    return tuple(items)


def build_augmentation(names: Sequence[str], *, image_size: int, rotation: float = 20.0
                       ) -> nn.Module:
    """A module mapping uint8 batches to augmented, normalised float batches."""
    import kornia.augmentation as K

    ops: list[nn.Module] = []
    if "crop" in names:
        ops.append(K.RandomResizedCrop((image_size, image_size), scale=(0.5, 1.0)))
    if "rotate" in names:
        ops.append(K.RandomRotation(degrees=rotation, p=1.0))
    if "flip" in names:
        ops.append(K.RandomHorizontalFlip(p=0.5))
    if "color" in names:
        ops.append(K.ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8))
    return _Pipeline(ops)


class _Pipeline(nn.Module):
    def __init__(self, ops: Sequence[nn.Module]) -> None:
        super().__init__()
        self.ops = nn.ModuleList(ops)
        self.norm = Normalise()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        for op in self.ops:
            x = op(x)
        return self.norm(x)
