"""Figures of the explanations. Plot functions take an Axes (``ax=``) and return it; they change
no global matplotlib state (figures are built on :class:`matplotlib.figure.Figure`, without
pyplot, inside the package's :func:`contig_gwas.report.plots.figure_style` block).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.axes import Axes

BAR_COLOUR = "#1f4e79"
HIGHLIGHT = "#d62728"


def plot_importance(*, ax: Axes, features: Sequence[str], importance: np.ndarray,
                    top: int = 20, highlight: Sequence[str] = (), title: str = "") -> Axes:
    """Horizontal bars of the ``top`` most important features (largest at the top).

    ``highlight``: feature names drawn in red (e.g. the planted causal variants).
    """
    imp = np.asarray(importance, dtype=float)
    order = np.argsort(-imp, kind="stable")[:top]
    names = [str(features[i]) for i in order]
    hl = set(highlight)
    colours = [HIGHLIGHT if n in hl else BAR_COLOUR for n in names]
    y = np.arange(len(order))[::-1]
    ax.barh(y, imp[order], color=colours, height=0.7)
    ax.set_yticks(y, labels=names)
    ax.set_xlabel("mean |attribution|")
    if title:
        ax.set_title(title)
    ax.margins(y=0.01)
    return ax


def plot_map(*, ax: Axes, attribution: np.ndarray, image: np.ndarray | None = None,
             signed: bool = False, alpha: float = 0.6, title: str = "") -> Axes:
    """A map (S, S) over an image (S, S, 3; uint8 or [0, 1] floats), no axes ticks.

    ``signed``: diverging colours centred at 0; else the magnitude in a sequential map.
    """
    a = np.asarray(attribution, dtype=float)
    if image is not None:
        im = np.asarray(image)
        ax.imshow(im if im.dtype == np.uint8 else np.clip(im, 0, 1), interpolation="nearest")
    if signed:
        v = float(np.max(np.abs(a))) or 1.0
        ax.imshow(a, cmap="RdBu_r", vmin=-v, vmax=v, alpha=alpha if image is not None else 1.0,
                  interpolation="nearest")
    else:
        a = np.abs(a)
        ax.imshow(a, cmap="inferno", vmin=0, vmax=float(a.max()) or 1.0,
                  alpha=alpha if image is not None else 1.0, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax


def save_figure(fig, path_stem: Path) -> list[Path]:
    """Write ``path_stem``.png and .pdf; returns both paths."""
    out = []
    for ext in ("png", "pdf"):
        p = Path(f"{path_stem}.{ext}")
        fig.savefig(p, dpi=200 if ext == "png" else None, facecolor="white",
                    bbox_inches="tight")
        out.append(p)
    return out


def importance_figure(*, results: dict, path_stem: Path, top: int = 20,
                      highlight: Sequence[str] = ()) -> list[Path]:
    """One bar chart per modality, side by side; ``results``: modality -> GeneticAttributions."""
    from matplotlib.figure import Figure

    from ..report.plots import figure_style

    n = len(results)
    rows = max(min(top, max(len(r.features) for r in results.values())), 1)
    with figure_style():
        fig = Figure(figsize=(3.2 * n, 0.6 + 0.17 * rows), layout="constrained")
        axes = fig.subplots(1, n, squeeze=False)[0]
        for ax, (m, r) in zip(axes, results.items()):
            plot_importance(ax=ax, features=r.features, importance=r.importance, top=top,
                            highlight=highlight, title=f"{m} ({r.settings.get('n_people', 0)} "
                                                       "people)")
        return save_figure(fig, path_stem)


def maps_figure(*, maps, path_stem: Path, n_examples: int = 4) -> list[Path]:
    """Mean map over people (over the mean image) and example images with their maps."""
    from matplotlib.figure import Figure

    from ..report.plots import figure_style

    ex = maps.examples(min(n_examples, len(maps.iid)))
    cols = 2 + len(ex)
    with figure_style():
        fig = Figure(figsize=(1.6 * cols, 3.4), layout="constrained")
        axes = fig.subplots(2, cols, squeeze=False)
        plot_map(ax=axes[0, 0], attribution=maps.mean_abs, image=maps.mean_image,
                 title="mean |map|")
        plot_map(ax=axes[1, 0], attribution=maps.mean_abs, title="mean |map| alone")
        plot_map(ax=axes[0, 1], attribution=maps.mean_signed, image=maps.mean_image,
                 signed=True, title="mean signed")
        plot_map(ax=axes[1, 1], attribution=maps.corr, image=maps.mean_image, signed=True,
                 title="r(map, feature)")
        for j, i in enumerate(ex):
            mirrored = " (mirrored)" if maps.instance[i] in maps.settings.get("flip", []) else ""
            label = (f"{maps.iid[i]} {maps.instance[i]}{mirrored}\n"
                     f"{maps.feature}={maps.feature_value[i]:.2g}")
            axes[0, 2 + j].imshow(maps.images[i], interpolation="nearest")
            axes[0, 2 + j].set_xticks([])
            axes[0, 2 + j].set_yticks([])
            axes[0, 2 + j].set_title(label)
            plot_map(ax=axes[1, 2 + j], attribution=maps.maps[i], image=maps.images[i],
                     signed=True)
        fig.suptitle(f"{maps.modality}: {maps.feature} (integrated gradients, "
                     f"{maps.settings.get('baseline')} baseline)")
        return save_figure(fig, path_stem)
