"""Figure 1 for a manuscript: one multi-panel figure of the learned-versus-standard result.

Panels: (A) Miami plot of the first two groups' combined scans, (B) QQ plot of the learned
phenotype with the most loci, (C) loci per group (shared / unique), (D) SNP heritability
(when h2 tables are given). Written as a vector PDF (dense points rasterized) and a PNG.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from . import plots

PANEL_LETTERS = "ABCD"


def panel_label(ax: Axes, letter: str) -> None:
    """Bold panel letter at the upper left, outside the axes."""
    ax.text(-0.07 if ax.get_position().width > 0.6 else -0.2, 1.04, letter,
            transform=ax.transAxes, fontsize=11, fontweight="bold", va="bottom", ha="left")


def figure1(*, miami_top: dict, miami_bottom: dict, qq_neg_log10_p: np.ndarray, qq_label: str,
            counts: pd.DataFrame, h2: pd.DataFrame | None = None,
            groups: Mapping[str, Sequence[str]] | None = None, genomewide: float = 5e-8,
            ycap: float | None = None, max_labels: int = 10) -> Figure:
    """The multi-panel figure (7.2 in wide: a two-column page).

    Args:
        miami_top, miami_bottom: :func:`plots.miami` data keywords of the two scans (title,
            chromosome, position, neg_log10_p, variant_id, leads).
        qq_neg_log10_p: -log10 p of the QQ panel's phenotype, shape (M,).
        counts: loci per group (group, loci, shared, unique).
        h2: h2 table (phenotype, h2, se[, method]); None leaves panel D out.
    Returns:
        the figure; its panel axes carry the letters A-D (Miami's two halves are panel A).
    """
    with_h2 = h2 is not None and len(h2) > 0
    fig = Figure(figsize=(7.2, 8.6 if with_h2 else 6.4))
    FigureCanvasAgg(fig)
    ratios = [1.0, 1.0, 1.45] + ([1.35] if with_h2 else [])
    gs = fig.add_gridspec(len(ratios), 2, height_ratios=ratios, width_ratios=[1.0, 1.25],
                          hspace=0.1, wspace=0.32, left=0.09, right=0.985, top=0.965,
                          bottom=0.1 if with_h2 else 0.08)
    top, bottom = fig.add_subplot(gs[0, :]), fig.add_subplot(gs[1, :])
    ax_qq, ax_n = fig.add_subplot(gs[2, 0]), fig.add_subplot(gs[2, 1])
    # the third row sits lower than the Miami pair: room for the Miami's x labels
    for ax in (ax_qq, ax_n):
        p = ax.get_position()
        ax.set_position((p.x0, p.y0, p.width, p.height * 0.8))
    plots.miami(ax_top=top, ax_bottom=bottom, top=dict(miami_top, max_labels=max_labels),
                bottom=dict(miami_bottom, max_labels=max_labels), genomewide=genomewide,
                ycap=ycap)
    plots.qq(ax=ax_qq, neg_log10_p=qq_neg_log10_p, label=qq_label, ycap=ycap)
    plots.loci_counts(ax=ax_n, counts=counts)
    panels = [top, ax_qq, ax_n]
    if with_h2:
        assert h2 is not None
        ax_h = fig.add_subplot(gs[3, :])
        p = ax_h.get_position()
        ax_h.set_position((p.x0, p.y0, p.width, p.height * 0.78))
        plots.h2_bars(ax=ax_h, table=h2, groups=dict(groups or {}))
        panels.append(ax_h)
    for ax, letter in zip(panels, PANEL_LETTERS):
        panel_label(ax, letter)
    return fig


def panel_letters(fig: Figure) -> list[str]:
    """The panel letters drawn on ``fig`` (for checks)."""
    return [t.get_text() for ax in fig.axes for t in ax.texts
            if t.get_text() in PANEL_LETTERS and t.get_fontweight() == "bold"]
