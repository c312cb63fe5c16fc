"""Labels for highlighted points that never overlap each other or leave the axes.

Labels are placed greedily, most important first: each tries positions above (or below)
its point at growing offsets, sideways shifts, with a thin leader line when it moves away;
a label that fits nowhere is dropped (and counted) rather than drawn over another.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backend_bases import RendererBase
from matplotlib.text import Annotation, Text
from matplotlib.transforms import Bbox


def renderer_of(ax: Axes) -> RendererBase:
    fig = ax.figure
    get = getattr(fig.canvas, "get_renderer", None)
    if get is not None:
        return get()
    # Figure._get_renderer (matplotlib >= 3.6) is private, hence absent from the stubs
    return fig._get_renderer()  # type: ignore[union-attr]


def place_labels(*, ax: Axes, x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray,
                 texts: Sequence[str], fontsize: float = 6.5, below: bool = False,
                 pad_pts: float = 1.5, avoid: Sequence[Bbox] = ()) -> list[Annotation]:
    """Annotate points (x, y) with ``texts`` in the given order of priority.

    Returns the labels drawn; each carries ``contig_label = True`` so tests and callers can
    find them. The labelled markers and boxes in ``avoid`` (display coordinates) are kept
    clear too.
    """
    renderer = renderer_of(ax)
    axbox = ax.get_window_extent(renderer)
    placed: list[Bbox] = list(avoid)
    out: list[Annotation] = []
    sign = -1.0 if below else 1.0
    pts = ax.figure.dpi / 72.0
    pad = pad_pts * pts
    xy = ax.transData.transform(np.column_stack([np.asarray(x, float), np.asarray(y, float)]))
    r = 2.0 * pts   # keep labels off the labelled markers themselves
    placed += [Bbox.from_extents(px - r, py - r, px + r, py + r) for px, py in xy]
    for (px, py), xi, yi, t in zip(xy, x, y, texts):
        # the text's size once; candidate boxes are then computed, not drawn
        probe = ax.text(0, 0, t, fontsize=fontsize, transform=None)
        ext = probe.get_window_extent(renderer)
        probe.remove()
        w, h = ext.width, ext.height
        choice = None
        for dy in (4, 11, 18, 25, 32, 40, 48, 56, 64):
            for dx in (0, -18, 18, -36, 36, -54, 54):
                cx = px + dx * pts
                y0 = py + dy * pts if not below else py - dy * pts - h
                box = Bbox.from_extents(cx - w / 2 - pad, y0 - pad, cx + w / 2 + pad, y0 + h + pad)
                inside = (box.x0 >= axbox.x0 and box.x1 <= axbox.x1
                          and box.y0 >= axbox.y0 and box.y1 <= axbox.y1)
                if inside and not any(box.overlaps(b) for b in placed):
                    choice = (dx, dy, box)
                    break
            if choice:
                break
        if choice is None:
            continue
        dx, dy, box = choice
        ann = ax.annotate(
            t, xy=(xi, yi), xytext=(dx, sign * dy), textcoords="offset points",
            ha="center", va="top" if below else "bottom", fontsize=fontsize,
            annotation_clip=False,
            arrowprops=None if (dy <= 4 and dx == 0) else dict(
                arrowstyle="-", lw=0.4, color="0.35", shrinkA=0, shrinkB=1.5))
        setattr(ann, "contig_label", True)  # the marker label_boxes and tests look for
        placed.append(box)
        out.append(ann)
    return out


def label_boxes(ax: Axes) -> list[Bbox]:
    """Display-space boxes of the labels :func:`place_labels` drew on ``ax``."""
    r = renderer_of(ax)
    out = []
    for t in ax.texts:
        if isinstance(t, Annotation) and getattr(t, "contig_label", False):
            t.update_positions(r)
            out.append(Text.get_window_extent(t, r))   # the text only, not its leader line
    return out


def any_overlap(boxes: Sequence[Bbox]) -> bool:
    """True if any two boxes overlap."""
    b = list(boxes)
    return any(b[i].overlaps(b[j]) for i in range(len(b)) for j in range(i + 1, len(b)))


