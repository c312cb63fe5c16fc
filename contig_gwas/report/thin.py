"""Genome coordinates for Manhattan plots and thinning of points that cannot be told apart.

Thinning keeps every point at or above ``keep_above`` (-log10 p) and, below it, one point per
cell of a grid finer than the plotted marker (half a typographic point by default, at the
axes' final size), per chromosome colour. Points sharing a cell overlap on the page, so the
picture is unchanged while 10 million variants become a few tens of thousands of markers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class GenomeLayout:
    """Chromosomes laid end to end on one x axis.

    Attributes:
        chromosomes: int codes in plotting order, shape (C,).
        offsets: x of each chromosome's position 0, shape (C,).
        lengths: largest position seen per chromosome, shape (C,).
    """

    chromosomes: np.ndarray
    offsets: np.ndarray
    lengths: np.ndarray
    gap: float

    @classmethod
    def from_positions(cls, *, chromosome: np.ndarray, position: np.ndarray,
                       gap_fraction: float = 0.004) -> "GenomeLayout":
        chrom = np.asarray(chromosome, dtype=np.int64)
        pos = np.asarray(position, dtype=np.float64)
        codes = np.unique(chrom)
        lengths = np.zeros(len(codes))
        if len(chrom):
            mx = _max_by(np.searchsorted(codes, chrom), pos, len(codes))
            lengths = mx
        lengths = np.maximum(lengths, 1.0)
        gap = gap_fraction * float(lengths.sum())
        offsets = np.concatenate([[0.0], np.cumsum(lengths + gap)[:-1]])
        return cls(chromosomes=codes, offsets=offsets, lengths=lengths, gap=gap)

    def merge(self, other: "GenomeLayout") -> "GenomeLayout":
        """A layout covering the chromosomes and lengths of both (for Miami plots)."""
        codes = np.union1d(self.chromosomes, other.chromosomes)
        lengths = np.array([max(_get(self, c), _get(other, c)) for c in codes])
        gap = max(self.gap, other.gap)
        offsets = np.concatenate([[0.0], np.cumsum(lengths + gap)[:-1]])
        return GenomeLayout(chromosomes=codes, offsets=offsets, lengths=lengths, gap=gap)

    def x(self, *, chromosome: np.ndarray, position: np.ndarray) -> np.ndarray:
        chrom = np.asarray(chromosome, dtype=np.int64)
        k = np.searchsorted(self.chromosomes, chrom)
        k = np.clip(k, 0, len(self.chromosomes) - 1)
        return self.offsets[k] + np.asarray(position, dtype=np.float64)

    def index(self, chromosome: np.ndarray) -> np.ndarray:
        """Position of each chromosome in the layout (for alternating colours)."""
        return np.searchsorted(self.chromosomes, np.asarray(chromosome, dtype=np.int64))

    @property
    def extent(self) -> tuple[float, float]:
        end = float(self.offsets[-1] + self.lengths[-1]) if len(self.offsets) else 1.0
        return (-self.gap, end + self.gap)

    @property
    def centres(self) -> np.ndarray:
        return self.offsets + self.lengths / 2


def _get(layout: GenomeLayout, code: int) -> float:
    k = np.flatnonzero(layout.chromosomes == code)
    return float(layout.lengths[k[0]]) if len(k) else 1.0


def _max_by(key: np.ndarray, val: np.ndarray, n: int) -> np.ndarray:
    """Maximum of ``val`` per integer ``key`` in [0, n)."""
    out = np.zeros(n)
    order = np.argsort(key, kind="stable")
    ks, vs = key[order], val[order]
    starts = np.concatenate([[0], np.flatnonzero(np.diff(ks)) + 1])
    out[ks[starts]] = np.maximum.reduceat(vs, starts)
    return out


def thin(*, x: np.ndarray, y: np.ndarray, colour: np.ndarray | None = None,
         xlim: tuple[float, float], ylim: tuple[float, float], size_pts: tuple[float, float],
         keep_above: float = 3.0, cell_pts: float = 0.5) -> np.ndarray:
    """Indices of the points to draw.

    Args:
        x, y: data coordinates, shape (M,).
        colour: small int class per point (points of different colours never share a cell).
        xlim, ylim: the axes limits the points will be drawn with.
        size_pts: axes width and height in typographic points.
        keep_above: every point with y >= this is kept.
        cell_pts: grid cell side in points (markers are larger, so merged points overlap).
    Returns:
        int64 indices, sorted.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    finite = np.isfinite(x) & np.isfinite(y)
    keep = finite & (y >= keep_above)
    low = np.flatnonzero(finite & ~keep)
    nx = max(int(size_pts[0] / cell_pts), 1)
    ny = max(int(size_pts[1] / cell_pts), 1)
    fx = (x[low] - xlim[0]) / max(xlim[1] - xlim[0], 1e-300)
    fy = (y[low] - ylim[0]) / max(ylim[1] - ylim[0], 1e-300)
    ix = np.clip((fx * nx).astype(np.int64), 0, nx - 1)
    iy = np.clip((fy * ny).astype(np.int64), 0, ny - 1)
    key = ix * ny + iy
    ncol = 1
    if colour is not None:
        c = np.asarray(colour, dtype=np.int64)[low]
        ncol = int(c.max()) + 1 if len(c) else 1
        key = key * ncol + c
    cells = np.full(nx * ny * ncol, -1, dtype=np.int64)
    # fancy assignment keeps one writer per cell; which one does not matter for the picture
    cells[key] = low
    kept_low = cells[cells >= 0]
    return np.sort(np.concatenate([np.flatnonzero(keep), kept_low]))
