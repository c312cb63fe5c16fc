"""Image files: decoding, up-front checks, and torch datasets of uint8 tensors.

Images are decoded with Pillow, converted to RGB and resized (bilinear) to ``size`` x ``size``;
tensors are uint8 (3, H, W). Normalisation and augmentation happen later, on batches
(see :mod:`contig_gwas.pretrain.augment`), on whatever device trains.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..errors import InputError


class BadImageError(Exception):
    """An image file that does not exist or does not decode."""


def load_image(path: str, *, size: int) -> np.ndarray:
    """Decode ``path`` to uint8 (3, size, size); BadImageError naming the path if it fails."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise BadImageError(f"{path}: image file does not exist")
    try:
        with Image.open(p) as im:
            rgb = im.convert("RGB")
            if rgb.size != (size, size):
                rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
            arr = np.asarray(rgb, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise BadImageError(f"{path}: image does not decode ({type(exc).__name__}: {exc})") \
            from None
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


@dataclass
class ImageCheck:
    """Result of :func:`check_images`.

    Attributes:
        ok: bool, shape (N,), True where the image exists (and decodes, if decoded).
        bad: one message per bad image, naming its path and the problem.
        cache: uint8 (N, 3, size, size) decoded images when ``cache`` was asked for, else None.
    """

    ok: np.ndarray
    bad: list[str] = field(default_factory=list)
    cache: np.ndarray | None = None


def check_images(paths: Sequence[str], *, size: int, decode: bool = True, cache: bool = False,
                 max_bad_fraction: float = 0.01, source: str = "manifest") -> ImageCheck:
    """Check every image up front: exists and (with ``decode``) decodes.

    Bad images are skipped; more than ``max_bad_fraction`` of them is an InputError that names
    the first few paths. With ``cache`` the decoded images are kept (N, 3, size, size) uint8.
    """
    n = len(paths)
    ok = np.ones(n, dtype=bool)
    bad: list[str] = []
    store = np.zeros((n, 3, size, size), dtype=np.uint8) if cache else None
    for i, p in enumerate(paths):
        try:
            if decode or cache:
                img = load_image(p, size=size)
                if store is not None:
                    store[i] = img
            elif not Path(p).is_file():
                raise BadImageError(f"{p}: image file does not exist")
        except BadImageError as exc:
            ok[i] = False
            bad.append(str(exc))
    if n and len(bad) > max_bad_fraction * n:
        shown = "; ".join(bad[:5]) + (f"; and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise InputError(f"{source}: {len(bad)} of {n} images are missing or do not decode "
                         f"(more than {max_bad_fraction:.1%}): {shown}")
    return ImageCheck(ok=ok, bad=bad, cache=store)


class ImageDataset(torch.utils.data.Dataset):
    """Images by index as uint8 tensors (3, size, size), from a cache or decoded on demand.

    ``__getitem__`` returns ``(image, index, error)``; a bad image gives zeros and its error
    message (so a long run never crashes on one file; callers drop flagged rows).
    """

    def __init__(self, paths: Sequence[str], *, size: int, cache: np.ndarray | None = None) -> None:
        self.paths = list(paths)
        self.size = size
        self.cache = cache

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        if self.cache is not None:
            return torch.from_numpy(self.cache[i]), i, ""
        try:
            return torch.from_numpy(load_image(self.paths[i], size=self.size)), i, ""
        except BadImageError as exc:
            return torch.zeros(3, self.size, self.size, dtype=torch.uint8), i, str(exc)
