"""Publication figures. Every function takes an Axes (``ax=``) and returns it.

Points are drawn from ``neg_log10_p_value`` (never from ``p_value``), so underflowed
p-values (p = 0, -log10 p in the hundreds) plot at their true height. Dense points far from
significance are thinned to one per half-point cell (see :mod:`.thin`) so millions of variants
plot in seconds with the same picture. Functions change no global matplotlib state; wrap
figure creation in :func:`figure_style` for the package's fonts and sizes.

qmplot (0.3.3) is not used for the scatter: its ``manhattanplot`` loops in Python per point
(45 s for 1M variants here, against 10 s for our 10M), replaces p = 0 by 1e-300 (so
-log10 p = 400 plots at 300), rewrites the caller's chromosome column, and labels only through
its own p threshold; its ``qqplot`` checks every value in Python and has no band.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

import matplotlib as mpl
import matplotlib.patches  # noqa: F401  (mpl.patches)
import matplotlib.ticker  # noqa: F401
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy import stats

from ..chrom import chromosome_label
from .labels import place_labels
from .thin import GenomeLayout, thin

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

COLOURS = ("#1f4e79", "#6baed6")          # alternating chromosome colours
GROUP_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
                 "#e377c2", "#17becf")
HIGHLIGHT = "#ff7f0e"
LEAD = "#d62728"
NLP = "\u2212log\u2081\u2080(p)"  # plain text: no mathtext fonts to embed in PDFs
STYLE: dict[RcKeyType, Any] = {
    "font.size": 8, "axes.titlesize": 9, "axes.labelsize": 8, "xtick.labelsize": 7,
    "ytick.labelsize": 7, "legend.fontsize": 7, "font.family": "DejaVu Sans",
    "pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "none",
    "axes.spines.top": False, "axes.spines.right": False, "savefig.dpi": 300,
    "figure.dpi": 100, "path.simplify": True,
}


@contextlib.contextmanager
def figure_style() -> Iterator[None]:
    """The package's figure style (fonts embedded as TrueType in PDFs), for this block only."""
    with mpl.rc_context(STYLE):
        yield


def _axes_size_pts(ax: Axes) -> tuple[float, float]:
    bbox = ax.get_position()
    fig = ax.figure
    assert isinstance(fig, Figure)  # our axes sit on figures, never on subfigures
    w, h = fig.get_size_inches()
    return bbox.width * w * 72.0, bbox.height * h * 72.0


def manhattan(*, ax: Axes, chromosome: np.ndarray, position: np.ndarray,
              neg_log10_p: np.ndarray, variant_id: Sequence[str] | None = None,
              leads: pd.DataFrame | None = None, highlight: Sequence[str] | None = None,
              layout: GenomeLayout | None = None, genomewide: float = 5e-8,
              suggestive: float | None = 1e-5, title: str | None = None,
              invert: bool = False, max_labels: int = 25, ymax: float | None = None,
              marker_size: float = 3.0, keep_above: float | None = None,
              ycap: float | None = None, ylabel: str | None = None) -> Axes:
    """Manhattan plot of M variants (arrays of shape (M,)).

    Args:
        leads: lead variants to label (columns chromosome, base_pair_location, variant_id,
            neg_log10_p_value), labelled most significant first without overlap.
        highlight: variant IDs drawn as orange diamonds (needs ``variant_id``).
        layout: shared x layout (Miami plots); built from the data if None.
        invert: draw downwards (bottom half of a Miami plot).
        ymax: upper y limit (shared across Miami halves); from the data if None.
        keep_above: -log10 p above which no point is thinned (default: the suggestive line,
            at most 3).
        ycap: draw points above this -log10 p at the cap as triangles (so one underflowed
            p-value does not flatten every other peak); capped leads show their value.
    """
    chrom = np.asarray(chromosome, dtype=np.int64)
    y_true = np.asarray(neg_log10_p, dtype=np.float64)
    capped = (y_true > ycap) if ycap is not None else np.zeros(len(y_true), dtype=bool)
    y = np.where(capped, ycap, y_true) if ycap is not None else y_true
    if layout is None:
        layout = GenomeLayout.from_positions(chromosome=chrom, position=position)
    x = layout.x(chromosome=chrom, position=position)
    gw = -np.log10(genomewide) if genomewide else None
    top = ymax if ymax is not None else _ymax(y, gw)
    xlim = layout.extent
    ylim = (0.0, top)
    ax.set_xlim(*xlim)
    ax.set_ylim(*((top, 0.0) if invert else ylim))
    colour = layout.index(chrom) % 2
    if keep_above is None:
        keep_above = min(3.0, -np.log10(suggestive)) if suggestive else 3.0
    idx = thin(x=x, y=y, colour=colour, xlim=xlim, ylim=ylim, size_pts=_axes_size_pts(ax),
               keep_above=keep_above)
    cols = np.asarray(COLOURS)[colour[idx]]
    plain = idx[~capped[idx]]
    ax.scatter(x[plain], y[plain], c=cols[~capped[idx]], s=marker_size, marker="o", linewidths=0,
               rasterized=len(plain) > 5000, zorder=2)
    if ycap is not None and capped.any():
        cp = np.flatnonzero(capped)
        ax.scatter(x[cp], y[cp], c=np.asarray(COLOURS)[colour[cp]], s=marker_size * 4,
                   marker="v" if invert else "^", linewidths=0, zorder=2)
        ax.axhline(ycap, color="0.3", lw=0.5, ls=":", zorder=1)
    if highlight is not None and variant_id is not None:
        hv = np.flatnonzero(pd.Index(np.asarray(variant_id, dtype=str)).isin(list(highlight)))
        if len(hv):
            ax.scatter(x[hv], y[hv], c=HIGHLIGHT, s=marker_size * 6, marker="D",
                       linewidths=0.3, edgecolors="k", zorder=3, label="highlighted")
    if suggestive:
        ax.axhline(-np.log10(suggestive), color="0.55", lw=0.6, ls="--", zorder=1)
    if gw is not None:
        ax.axhline(gw, color=LEAD, lw=0.7, ls="--", zorder=1)
    ax.set_xticks(layout.centres)
    ax.set_xticklabels([_tick(c, k) for k, c in enumerate(layout.chromosomes)])
    ax.tick_params(axis="x", length=0)
    ax.set_xlabel("Chromosome")
    ax.set_ylabel(ylabel or NLP)
    if title:
        ax.set_title(title, loc="left")
    if leads is not None and len(leads) and max_labels > 0:
        ld = leads.sort_values("neg_log10_p_value", ascending=False).head(max_labels)
        lx = layout.x(chromosome=ld["chromosome"].to_numpy(),
                      position=ld["base_pair_location"].to_numpy())
        ly = ld["neg_log10_p_value"].to_numpy(dtype=float)
        texts = ld["variant_id"].astype(str).tolist()
        if ycap is not None:
            texts = [t + (f" ({v:.0f})" if v > ycap else "") for t, v in zip(texts, ly)]
            ly = np.minimum(ly, ycap)
        ax.scatter(lx, ly, s=marker_size * 5, facecolors="none", edgecolors=LEAD,
                   linewidths=0.6, zorder=4)
        place_labels(ax=ax, x=lx, y=ly, texts=texts, below=invert)
    return ax


def auto_cap(lead_neg_log10_p: Sequence[float], *, genomewide: float = 5e-8) -> float | None:
    """A y cap when the strongest lead dwarfs the rest (e.g. an underflowed p-value): twice
    the next lead's height (at least 4x the genome-wide line); None when no cap is needed."""
    v = np.sort(np.asarray([x for x in lead_neg_log10_p if np.isfinite(x)], float))[::-1]
    gw = -np.log10(genomewide)
    if len(v) == 0 or v[0] < 50:
        return None
    ref = max(v[1] if len(v) > 1 else 0.0, gw)
    cap = max(2.0 * ref, 4.0 * gw)
    return float(cap) if v[0] > 1.5 * cap else None


def _tick(code: int, k: int) -> str:
    # label every chromosome up to 12, then every other one, so numbers never collide
    return chromosome_label(code) if (code <= 12 or k % 2 == 0 or code > 22) else ""


def _ymax(y: np.ndarray, gw: float | None) -> float:
    finite = y[np.isfinite(y)]
    top = float(finite.max()) if len(finite) else 1.0
    if gw is not None:
        top = max(top, gw)
    return top * 1.22 + 0.5   # head room for labels


def qq(*, ax: Axes, neg_log10_p: np.ndarray, label: str | None = None, colour: str | None = None,
       band: bool = True, ci: float = 0.95, show_lambda: bool = True,
       marker_size: float = 4.0, ycap: float | None = None) -> Axes:
    """QQ plot of observed against expected -log10 p under the uniform null.

    Call repeatedly on one Axes to overlay phenotypes (draw the band once). The band is the
    pointwise ``ci`` interval of the order statistics (Beta(i, M - i + 1)); lambda GC is added
    to the legend label. ``ycap`` draws observed values above it at the cap as triangles.
    """
    from .stats import lambda_gc

    y = np.asarray(neg_log10_p, dtype=np.float64)
    y = np.sort(y[~np.isnan(y)])[::-1]
    m = len(y)
    if m == 0:
        return ax
    e = -np.log10((np.arange(1, m + 1) - 0.5) / m)
    if band:
        ranks = np.unique(np.round(np.geomspace(1, m, num=min(m, 400))).astype(np.int64))
        a = (1 - ci) / 2
        lo = -np.log10(stats.beta.ppf(1 - a, ranks, m - ranks + 1))
        hi = -np.log10(stats.beta.ppf(a, ranks, m - ranks + 1))
        ex = -np.log10((ranks - 0.5) / m)
        ax.fill_between(ex, lo, hi, color="0.85", lw=0, zorder=0,
                        label=f"{int(round(ci * 100))}% band")
        ax.plot([0, e[0]], [0, e[0]], color="0.4", lw=0.7, ls="--", zorder=1)
    lam = lambda_gc(neg_log10_p=y)
    text = label or "observed"
    if show_lambda:
        text += f" (\u03bbGC = {lam:.3f})"
    old_x, old_y = (ax.get_xlim(), ax.get_ylim()) if ax.has_data() else ((0, 0), (0, 0))
    xlim = (0.0, max(e[0] * 1.04, old_x[1]))
    capped = y > ycap if ycap is not None else np.zeros(m, dtype=bool)
    y = np.where(capped, ycap, y) if ycap is not None else y
    ylim = (0.0, max(float(np.nanmax(y)) * (1.12 if capped.any() else 1.06), xlim[1], old_y[1]))
    idx = thin(x=e, y=y, xlim=xlim, ylim=ylim, size_pts=_axes_size_pts(ax), keep_above=np.inf,
               cell_pts=0.5)
    idx = idx[~capped[idx]]
    pts = ax.scatter(e[idx], y[idx], s=marker_size, c=colour, linewidths=0, label=text, zorder=2,
                     rasterized=len(idx) > 5000)
    if ycap is not None and capped.any():
        ax.scatter(e[capped], y[capped], s=marker_size * 3, marker="^", linewidths=0, zorder=2,
                   c=pts.get_facecolor()[:1])
        ax.hlines(ycap, xmin=0.9 * float(e[capped].min()), xmax=xlim[1], color="0.3", lw=0.5,
                  ls=":", zorder=1)   # only under the capped points, clear of the legend
        ax.text(0.98, 0.02, f"\u25b2 {int(capped.sum())} above {ycap:.0f} "
                f"(max {np.nanmax(neg_log10_p):.0f})", transform=ax.transAxes, ha="right",
                va="bottom", fontsize=6.5)   # lower right: below the diagonal, always empty
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel("Expected " + NLP)
    ax.set_ylabel("Observed " + NLP)
    ax.legend(loc="upper left", frameon=False, markerscale=2)
    return ax


def miami(*, ax_top: Axes, ax_bottom: Axes, top: dict, bottom: dict,
          genomewide: float = 5e-8, suggestive: float | None = 1e-5,
          highlight: Sequence[str] | None = None, ycap: float | None = None) -> tuple[Axes, Axes]:
    """Miami plot: ``top`` (learned group) upwards on ``ax_top``, ``bottom`` (standard group)
    downwards on ``ax_bottom``, with one x layout and one y scale.

    ``top`` and ``bottom`` hold the :func:`manhattan` data keywords (chromosome, position,
    neg_log10_p, variant_id, leads) and a ``title``, shown in the y label of its half.
    """
    top, bottom = dict(top), dict(bottom)
    names = top.pop("title", None), bottom.pop("title", None)
    lt = GenomeLayout.from_positions(chromosome=top["chromosome"], position=top["position"])
    lb = GenomeLayout.from_positions(chromosome=bottom["chromosome"], position=bottom["position"])
    layout = lt.merge(lb)
    gw = -np.log10(genomewide)
    ys = [np.asarray(d["neg_log10_p"], float) for d in (top, bottom)]
    if ycap is not None:
        ys = [np.minimum(y, ycap) for y in ys]
    ymax = max(_ymax(ys[0], gw), _ymax(ys[1], gw))
    lab = NLP
    manhattan(ax=ax_top, layout=layout, ymax=ymax, genomewide=genomewide, ycap=ycap,
              suggestive=suggestive, highlight=highlight,
              ylabel=f"{names[0]}\n{lab}" if names[0] else None, **top)
    manhattan(ax=ax_bottom, layout=layout, ymax=ymax, genomewide=genomewide, ycap=ycap,
              suggestive=suggestive, highlight=highlight, invert=True,
              ylabel=f"{names[1]}\n{lab}" if names[1] else None, **bottom)
    ax_top.set_xlabel("")
    ax_top.tick_params(axis="x", labelbottom=False)
    ax_bottom.spines["bottom"].set_visible(False)
    ax_bottom.spines["top"].set_visible(True)
    ax_bottom.xaxis.set_label_position("bottom")
    return ax_top, ax_bottom


def h2_bars(*, ax: Axes, table: pd.DataFrame,
            groups: Mapping[str, Sequence[str]] | None = None) -> Axes:
    """SNP heritability per phenotype with +-1 SE bars; one bar per (phenotype, method),
    coloured by the phenotype's group. ``table`` has columns phenotype, h2, se (method optional)."""
    t = table.reset_index(drop=True)
    methods = list(dict.fromkeys(t["method"].astype(str))) if "method" in t else [""]
    phen = list(dict.fromkeys(t["phenotype"].astype(str)))
    where: dict[str, str] = {}
    for g, members in (groups or {}).items():
        for p in members:
            where.setdefault(p, g)
    gnames = list(dict.fromkeys(where.get(p, "other") for p in phen))
    width = 0.8 / len(methods)
    hatches = ["", "///", "...", "xx"]
    for mi, method in enumerate(methods):
        sub = t[t["method"].astype(str) == method] if "method" in t else t
        xs = np.array([phen.index(p) for p in sub["phenotype"].astype(str)], dtype=float)
        xs = xs - 0.4 + width * (mi + 0.5)
        cols = [GROUP_COLOURS[gnames.index(where.get(p, "other")) % len(GROUP_COLOURS)]
                for p in sub["phenotype"].astype(str)]
        ax.bar(xs, sub["h2"].to_numpy(float), width=width * 0.92, color=cols,
               hatch=hatches[mi % len(hatches)], edgecolor="white", linewidth=0.3,
               yerr=sub["se"].to_numpy(float), ecolor="0.2", capsize=1.5,
               error_kw={"elinewidth": 0.6})
    ax.set_xticks(np.arange(len(phen)))
    # rotate names that would not fit side by side (about 4.5 pt per character at 7 pt)
    width_pts = _axes_size_pts(ax)[0]
    rotate = max(len(p) for p in phen) * 4.5 > 0.9 * width_pts / max(len(phen), 1)
    ax.set_xticklabels(phen, rotation=45 if rotate else 0, ha="right" if rotate else "center",
                       rotation_mode="anchor")
    ax.set_xlim(-0.6, len(phen) - 0.4)
    ax.set_ylabel("SNP heritability h\u00b2 (\u00b1 SE)")
    ax.axhline(0, color="0.3", lw=0.6)
    top = np.nanmax((t["h2"].astype(float) + t["se"].astype(float).fillna(0)).to_numpy(),
                    initial=0.0)
    if np.isfinite(top) and top > 0:   # headroom: the legend stays clear of the bars
        ax.set_ylim(top=top * (1.12 + 0.06 * (len(gnames) + (len(methods) > 1) * len(methods))))
    handles = [mpl.patches.Patch(color=GROUP_COLOURS[k % len(GROUP_COLOURS)], label=g)
               for k, g in enumerate(gnames)]
    if len(methods) > 1:
        handles += [mpl.patches.Patch(facecolor="white", edgecolor="0.3",
                                      hatch=hatches[k % len(hatches)], label=m)
                    for k, m in enumerate(methods)]
    ax.legend(handles=handles, frameon=False, loc="upper right")
    return ax


def loci_counts(*, ax: Axes, counts: pd.DataFrame) -> Axes:
    """Loci per group, split into loci shared with any other group (within the clumping
    window) and unique to the group. ``counts`` has columns group, loci, shared, unique."""
    c = counts.reset_index(drop=True)
    xs = np.arange(len(c))
    cols = [GROUP_COLOURS[k % len(GROUP_COLOURS)] for k in range(len(c))]
    ax.bar(xs, c["shared"], color="0.7", width=0.6)
    ax.bar(xs, c["unique"], bottom=c["shared"], color=cols, width=0.6)
    for x, n in zip(xs, c["loci"]):
        ax.text(float(x), n, f"{int(n)}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(xs)
    ax.set_xticklabels(c["group"].astype(str))
    ax.set_ylabel("Independent loci")
    ax.set_ylim(0, max(1, float(c["loci"].max()) * 1.3 + 0.5))
    ax.yaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
    ax.legend(handles=[mpl.patches.Patch(color="0.7", label="shared with another group"),
                       mpl.patches.Patch(facecolor="white", edgecolor="0.2", lw=0.6,
                                         label="unique (group colour)")],
              frameon=False, loc="upper left")
    return ax
