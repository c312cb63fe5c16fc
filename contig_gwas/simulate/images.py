"""Retinal fundus images rendered from the latent traits.

The template is the real CC0 fundus photograph shipped in scikit-image
(``skimage.data.retina()``, offline). Each image trait drives one visible property:

==================  ===============  =========================================================
trait               property         rendering (t = the latent trait, clipped to [-3, 3])
==================  ===============  =========================================================
vessel              vessel_calibre   vessels widened (0-2 px dilation at 2x size, 1 + 0.6 t)
                                     and darkened (contrast 0.35 + 0.1 t)
disc                disc_size        a bright optic disc of radius r0 exp(0.2 t), brightness
                                     0.35 + 0.05 t
pigment             pigmentation     fundus hue: channel gains (1 + 0.03 t, 1 - 0.08 t,
                                     1 - 0.12 t)
lesion              lesion_spots     Poisson(exp(1.4 + 0.7 t)) yellow exudate spots
==================  ===============  =========================================================

Nuisance factors: rotation (N(0, 8) degrees), eye side (right eyes mirrored), illumination
(log-normal gain, linear gradient of random direction), the camera of the assessment centre
(colour cast) with per-image jitter, and sensor noise. Images are rendered at twice the output
size and averaged down. ``measure_properties`` reads the four properties back from pixels.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np

IMAGE_TRAITS = ("vessel", "disc", "pigment", "lesion")
PROPERTIES = {"vessel": "vessel_calibre", "disc": "disc_size", "pigment": "pigmentation",
              "lesion": "lesion_spots"}
DESCRIPTIONS = {
    "vessel": "vessel calibre and contrast: wider, darker vessels for higher values",
    "disc": "optic disc size and brightness: larger, brighter disc for higher values",
    "pigment": "fundus pigmentation hue: redder, more orange (less green and blue) for "
               "higher values",
    "lesion": "number of yellow lesion spots (exudates): more for higher values",
}


@dataclass
class RetinaTemplate:
    """The fundus photograph prepared at render size W (= 2 x output size).

    Attributes:
        size: the output size S (W = 2 S).
        base: float32, shape (W, W, 3), RGB in [0, 1], zero outside the fundus.
        mask: float32, shape (W, W), 1 inside the fundus disc.
        vessels: float32, shape (3, W, W), vessel coverage at dilation 0, 1 and 2 px.
        disc_yx: (row, col) of the optic disc; disc_r0: its baseline radius (px);
            disc_dist: float32, shape (W, W), distance of each pixel from the disc centre.
        yy, xx: float32, shape (W, W), pixel coordinates.
    """

    size: int
    base: np.ndarray
    mask: np.ndarray
    vessels: np.ndarray
    disc_yx: tuple[float, float]
    disc_r0: float
    disc_dist: np.ndarray
    yy: np.ndarray
    xx: np.ndarray


@functools.lru_cache(maxsize=1)
def _retina_512() -> np.ndarray:
    """The fundus photograph, float32 RGB in [0, 1], shape (512, 512, 3) (cached)."""
    from skimage import data, transform

    rgb = data.retina().astype(np.float32) / 255.0
    return transform.resize(rgb, (512, 512, 3), anti_aliasing=True, order=1).astype(np.float32)


@functools.lru_cache(maxsize=4)
def make_template(*, image_size: int) -> RetinaTemplate:
    """Prepare the template for ``image_size`` pixel output (deterministic; cached, treat as
    read-only)."""
    from scipy import ndimage
    from skimage import transform

    w = 2 * image_size
    hi = _retina_512()
    green = hi[..., 1]
    bg = ndimage.gaussian_filter(green, 6)
    mask_hi = (hi.mean(axis=2) > 0.08).astype(np.float32)
    mask_hi = ndimage.binary_erosion(mask_hi, iterations=6).astype(np.float32)
    vess_hi = (np.clip((bg - green) / np.maximum(bg, 1e-3), 0, None) > 0.07) * mask_hi
    base = transform.resize(hi, (w, w, 3), anti_aliasing=True, order=1).astype(np.float32)
    mask = (transform.resize(mask_hi, (w, w), anti_aliasing=True, order=1) > 0.5)
    v0 = transform.resize(vess_hi.astype(np.float32), (w, w), anti_aliasing=True, order=1)
    v0 = np.clip(v0 * 1.5, 0, 1) * mask
    v1 = ndimage.grey_dilation(v0, size=(2, 2))
    v2 = ndimage.grey_dilation(v0, size=(3, 3))
    lum = ndimage.gaussian_filter(base.mean(axis=2), w / 40)
    dy, dx = np.unravel_index(int(np.argmax(lum)), lum.shape)
    yy, xx = np.mgrid[0:w, 0:w].astype(np.float32)
    base = base * mask[..., None]
    return RetinaTemplate(size=image_size, base=base,
                          mask=mask.astype(np.float32),
                          vessels=np.stack([v0, v1, v2]).astype(np.float32),
                          disc_yx=(float(dy), float(dx)), disc_r0=w * 0.065,
                          disc_dist=np.hypot(yy - dy, xx - dx).astype(np.float32), yy=yy, xx=xx)


@dataclass
class Nuisance:
    """Non-genetic image factors of one image (see the module docstring)."""

    angle: float
    right_eye: bool
    gain: float
    gradient: float
    gradient_dir: float
    cast: np.ndarray  # shape (3,), channel gains


def draw_nuisance(*, rng: np.random.Generator, right_eye: bool,
                  camera_cast: np.ndarray) -> Nuisance:
    """Draw one image's nuisance factors; ``camera_cast`` (3,) is its centre's camera."""
    return Nuisance(angle=float(rng.normal(0, 8)), right_eye=right_eye,
                    gain=float(np.exp(rng.normal(0, 0.12))),
                    gradient=float(rng.uniform(0, 0.25)),
                    gradient_dir=float(rng.uniform(0, 2 * np.pi)),
                    cast=camera_cast * np.exp(rng.normal(0, 0.015, 3)))


def camera_casts(*, rng: np.random.Generator, n_centres: int) -> np.ndarray:
    """Channel gains of each centre's camera, shape (n_centres, 3)."""
    return np.exp(rng.normal(0, 0.04, (n_centres, 3)))


def render_eye(*, template: RetinaTemplate, traits: dict[str, float], nuisance: Nuisance,
               rng: np.random.Generator) -> np.ndarray:
    """Render one eye; returns uint8, shape (S, S, 3)."""
    tp = template
    t = {k: float(np.clip(traits[k], -3, 3)) for k in IMAGE_TRAITS}
    # pigmentation (channel gains) and vessels (calibre interpolates dilation levels, contrast
    # darkens) in one product
    gains = np.array([1 + 0.03 * t["pigment"], 1 - 0.08 * t["pigment"],
                      1 - 0.12 * t["pigment"]], dtype=np.float32)
    c = np.clip(1 + 0.6 * t["vessel"], 0, 2)
    lo = int(min(np.floor(c), 1))
    v = (1 - (c - lo)) * tp.vessels[lo] + (c - lo) * tp.vessels[lo + 1]
    contrast = np.float32(np.clip(0.35 + 0.1 * t["vessel"], 0.05, 0.8))
    img = tp.base * (1 - contrast * v)[..., None] * gains
    # optic disc
    dy, dx = tp.disc_yx
    r = tp.disc_r0 * np.exp(0.2 * t["disc"])
    z = np.minimum((tp.disc_dist - np.float32(r)) / np.float32(0.12 * tp.disc_r0), 50)
    blob = 1 / (1 + np.exp(z))
    bright = 0.35 + 0.05 * t["disc"]
    img += blob[..., None] * (bright * np.array([1.0, 0.95, 0.7], dtype=np.float32))
    # lesion spots, away from the disc and the rim
    w = tp.base.shape[0]
    n_spots = int(rng.poisson(np.exp(1.4 + 0.7 * t["lesion"])))
    cand = rng.uniform(0, w, (4 * n_spots + 8, 2))
    ok = ((np.hypot(cand[:, 0] - w / 2, cand[:, 1] - w / 2) <= 0.38 * w)
          & (np.hypot(cand[:, 0] - dy, cand[:, 1] - dx) >= 2.2 * r))
    spots = cand[ok][:n_spots]
    radii = rng.uniform(0.6, 1.0, len(spots)) * max(w / 64, 2.0)
    colour = np.array([0.45, 0.42, 0.05], dtype=np.float32)
    for (y, x), rad in zip(spots, radii):
        y0, x0 = max(int(y - 4 * rad), 0), max(int(x - 4 * rad), 0)
        sl = (slice(y0, int(y + 4 * rad) + 1), slice(x0, int(x + 4 * rad) + 1))
        g = np.exp(-((tp.yy[sl] - y) ** 2 + (tp.xx[sl] - x) ** 2) / (2 * rad ** 2))
        img[sl] += g[..., None] * colour
    img *= tp.mask[..., None]
    s = tp.size
    img = 0.25 * (img[0::2, 0::2] + img[1::2, 0::2] + img[0::2, 1::2] + img[1::2, 1::2])
    # nuisance: side, rotation, illumination, camera (at output size)
    if nuisance.right_eye:
        img = img[:, ::-1]
    img = _rotate(img, nuisance.angle)
    yy, xx = tp.yy[:s, :s] / s - 0.5, tp.xx[:s, :s] / s - 0.5
    grad = np.cos(nuisance.gradient_dir) * xx + np.sin(nuisance.gradient_dir) * yy
    img *= (nuisance.gain * (1 + nuisance.gradient * 2 * grad))[..., None]
    img *= nuisance.cast.astype(np.float32)
    img += rng.normal(0, 0.008, img.shape)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def _rotate(img: np.ndarray, angle_deg: float) -> np.ndarray:
    """Rotate (S, S, 3) about the centre with bilinear interpolation, zero outside."""
    s, ch = img.shape[0], img.shape[2]
    c = (s - 1) / 2
    th = np.deg2rad(angle_deg)
    yy, xx = _centred_grid(s)
    ys = np.clip(np.cos(th) * yy - np.sin(th) * xx + c + 1, 0, s + 0.999)  # +1: zero padding
    xs = np.clip(np.sin(th) * yy + np.cos(th) * xx + c + 1, 0, s + 0.999)
    pad = np.zeros((s + 2, s + 2, ch), dtype=np.float32)
    pad[1:-1, 1:-1] = img
    flat = pad.reshape(-1, ch)
    y0, x0 = ys.astype(np.intp), xs.astype(np.intp)
    fy, fx = (ys - y0)[..., None], (xs - x0)[..., None]
    i00 = y0 * (s + 2) + x0
    out = ((1 - fy) * ((1 - fx) * flat[i00] + fx * flat[i00 + 1])
           + fy * ((1 - fx) * flat[i00 + s + 2] + fx * flat[i00 + s + 3]))
    return out.astype(np.float32)


_GRIDS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _centred_grid(s: int) -> tuple[np.ndarray, np.ndarray]:
    if s not in _GRIDS:
        yy, xx = np.mgrid[0:s, 0:s].astype(np.float64) - (s - 1) / 2
        _GRIDS[s] = (yy, xx)
    return _GRIDS[s]


def write_png(*, path: str | os.PathLike, image: np.ndarray) -> None:
    """Write an RGB uint8 image as PNG with no metadata (byte-identical for the same pixels)."""
    from PIL import Image

    Image.fromarray(image, mode="RGB").save(path, format="PNG", compress_level=1)


def measure_properties(image: np.ndarray) -> dict[str, float]:
    """Read the four image properties back from an RGB image (uint8 or float, (S, S, 3)).

    Illumination is normalised by the median fundus luminance, so the measures are gains- and
    gradient-robust proxies:
      vessel_calibre: share of fundus pixels darker than 0.72 x the median;
      disc_size: share of fundus pixels brighter than 1.6 x the median;
      pigmentation: - median green / red ratio over the fundus;
      lesion_spots: pixels whose green / red ratio exceeds its 5 x 5 median by 0.1 (yellow
        spots raise it; vessels and illumination scale all channels alike).
    """
    from scipy import ndimage

    img = np.asarray(image, dtype=np.float64)
    if img.max() > 1.5:
        img = img / 255.0
    lum = img.mean(axis=2)
    fundus = lum > 0.06
    fundus = ndimage.binary_erosion(fundus, iterations=2)
    med = float(np.median(lum[fundus]))
    rel = lum / med
    chroma = img[..., 1] / (img[..., 0] + 0.02)
    spots = fundus & ((chroma - ndimage.median_filter(chroma, size=5)) > 0.1) & (rel < 1.4)
    ratio = img[..., 1][fundus] / np.maximum(img[..., 0][fundus], 1e-3)
    return {
        "vessel_calibre": float(np.mean(rel[fundus] < 0.72)),
        "disc_size": float(np.mean(rel[fundus] > 1.6)),
        "pigmentation": float(-np.median(ratio)),
        "lesion_spots": float(spots.sum()),
    }
