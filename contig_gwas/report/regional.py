"""Regional (LocusZoom-style) plots: one figure per locus.

The upper panel shows -log10 p against position (Mb) for the variants within ``window_kb`` of
the lead, coloured by r2 with the lead in LocusZoom's bins (0-0.2, 0.2-0.4, 0.4-0.6,
0.6-0.8, 0.8-1; grey where r2 is unknown), the lead a purple diamond and the genome-wide
line dashed. r2 comes from the genotypes that clumped the loci (``--bfile/--pfile/--bgen``),
by default the same EM haplotype r2 (PLINK 1.9 ``--clump``/``--ld``,
:func:`.loci.haplotype_r2`) that decided locus membership, so a variant drawn at r2 >= the
clumping threshold is one the locus could absorb. The lower panel (only with a gene
annotation) draws the genes overlapping the window as bars with a triangle at their 3' end
(pointing right on ``+``, left on ``-``) and their name below, rows staggered so that no two
genes or names overlap.

References: Pruim et al. (2010) LocusZoom, Bioinformatics 26:2336 (layout and palette).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.textpath import TextPath

from ..chrom import chromosome_label
from ..outputs import atomic_path, file_stem
from .genes import GeneTable, genes_in_window
from .loci import GenotypeLD, haplotype_r2, pairwise_r2
from .plots import NLP, figure_style

R2_EDGES = (0.2, 0.4, 0.6, 0.8)
R2_COLOURS = ("#357ebd", "#46b8da", "#5cb85c", "#eea236", "#d43f3a")  # LocusZoom's palette
R2_LABELS = ("0.0\u20130.2", "0.2\u20130.4", "0.4\u20130.6", "0.6\u20130.8", "0.8\u20131.0")
NO_LD = "#b8b8b8"
LEAD_COLOUR = "#9632b8"
GENE_COLOUR = "#1f4e79"
WIDTH_IN, LEFT_IN, RIGHT_IN = 7.2, 0.6, 1.25     # figure width, left margin, legend margin
TOP_IN, BOTTOM_IN, SCATTER_IN, ROW_IN = 0.3, 0.45, 2.4, 0.34
GENE_FONT = 6.0


def lead_r2(source, *, lead_variant_id: str, variant_ids: Sequence[str],
            method: Literal["haplotype", "dosage"] = "haplotype") -> np.ndarray:
    """r2 of each of ``variant_ids`` (K,) with the lead, from a genotype source.

    ``method``: ``haplotype`` (EM haplotype r2 of the hard calls, as the clumping) or
    ``dosage`` (squared correlation of the dosages). Returns float64, shape (K,): NaN where a
    variant (or the lead) is not in the genotypes or is monomorphic; 1 for the lead itself.
    Only the lead and the K variants are read, in blocks (:class:`.loci.GenotypeLD`).
    """
    fn = haplotype_r2 if method == "haplotype" else pairwise_r2
    ids = [str(lead_variant_id)] + [str(v) for v in variant_ids]
    ld = GenotypeLD.for_table(source=source, variant_id=ids, r2_function=fn)
    return ld(0, np.arange(1, len(ids)))


def r2_bin(r2: np.ndarray) -> np.ndarray:
    """LocusZoom bin of each r2 (0: [0, 0.2), ..., 4: [0.8, 1]); -1 for NaN."""
    r2 = np.asarray(r2, dtype=np.float64)
    return np.where(np.isnan(r2), -1, np.digitize(np.nan_to_num(r2), R2_EDGES))


def _text_width_pts(s: str, size: float) -> float:
    path = TextPath((0, 0), s, size=size, prop=FontProperties(family="DejaVu Sans",
                                                               style="italic"))
    return float(path.get_extents().width)


def gene_rows(genes: pd.DataFrame, *, xlim: tuple[float, float], width_pts: float,
              max_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Row of each gene (-1: not drawn, no room) and its label centre (Mb), so that no two
    bars or names on one row come within 4 points; first-fit in genome order."""
    lo, hi = xlim
    per_pt = (hi - lo) / width_pts
    rows = np.full(len(genes), -1)
    centre = np.zeros(len(genes))
    ends: list[float] = []
    for k, g in enumerate(genes.itertuples(index=False)):
        a, b = max(g.start / 1e6, lo), min(g.end / 1e6, hi)
        half = _text_width_pts(str(g.gene_name), GENE_FONT) / 2 * per_pt
        c = min(max((a + b) / 2, lo + half), hi - half)
        left, right = min(a, c - half), max(b, c + half)
        for r, e in enumerate(ends):
            if left > e + 4 * per_pt:
                ends[r] = right
                rows[k] = r
                break
        else:
            if len(ends) < max_rows:
                rows[k] = len(ends)
                ends.append(right)
        centre[k] = c
    return rows, centre


def regional_figure(*, region: pd.DataFrame, r2: np.ndarray | None, lead: str,
                    genes: GeneTable | None, title: str, window: tuple[int, int] | None = None,
                    genomewide: float = 5e-8, max_gene_rows: int = 8) -> Figure:
    """One regional plot.

    Args:
        region: the summary-statistics rows of the window (columns chromosome,
            base_pair_location, variant_id, neg_log10_p_value), one chromosome.
        r2: float, shape (len(region),): r2 with the lead (NaN unknown); None: no genotypes
            (every point grey, noted in the legend).
        lead: variant_id of the lead (a row of ``region``).
        genes: the annotation; None draws no gene track.
        window: (start, end) in bp shown; the region's extent if None.
    """
    pos = region["base_pair_location"].to_numpy(dtype=np.int64)
    y = region["neg_log10_p_value"].to_numpy(dtype=np.float64)
    vid = region["variant_id"].astype(str).to_numpy()
    is_lead = vid == str(lead)
    if not is_lead.any():
        raise ValueError(f"lead {lead!r} is not among the region's variants")
    chrom = int(region["chromosome"].iloc[0])
    lo, hi = window if window is not None else (int(pos.min()), int(pos.max()))
    pad = max(hi - lo, 1) * 0.01
    xlim = ((lo - pad) / 1e6, (hi + pad) / 1e6)
    ax_w = WIDTH_IN - LEFT_IN - RIGHT_IN
    in_window = genes_in_window(genes, chrom, lo, hi) if genes is not None else None
    rows = centre = None
    n_rows = 0
    if in_window is not None:
        rows, centre = gene_rows(in_window, xlim=xlim, width_pts=ax_w * 72,
                                 max_rows=max_gene_rows)
        n_rows = max(1, int(rows.max()) + 1 if len(rows) else 1)
    gene_h = (n_rows * ROW_IN + 0.1) if in_window is not None else 0.0
    height = TOP_IN + SCATTER_IN + gene_h + (0.08 if gene_h else 0) + BOTTOM_IN
    fig = Figure(figsize=(WIDTH_IN, height))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((LEFT_IN / WIDTH_IN, (height - TOP_IN - SCATTER_IN) / height,
                       ax_w / WIDTH_IN, SCATTER_IN / height))
    ax.set_xlim(*xlim)
    _scatter(ax, x=pos / 1e6, y=y, r2=r2, is_lead=is_lead, lead=str(lead),
             genomewide=genomewide)
    ax.set_title(title, loc="left")
    bottom_ax = ax
    if in_window is not None and rows is not None and centre is not None:
        gax = fig.add_axes((LEFT_IN / WIDTH_IN, BOTTOM_IN / height, ax_w / WIDTH_IN,
                            gene_h / height), sharex=ax)
        gax.set_label("genes")
        _gene_track(gax, in_window, rows=rows, centre=centre, n_rows=n_rows, xlim=xlim)
        ax.tick_params(labelbottom=False)
        bottom_ax = gax
    bottom_ax.set_xlabel(f"Position on chromosome {chromosome_label(chrom)} (Mb)")
    return fig


def _scatter(ax: Axes, *, x: np.ndarray, y: np.ndarray, r2: np.ndarray | None,
             is_lead: np.ndarray, lead: str, genomewide: float) -> None:
    ax.set_label("association")
    b = r2_bin(r2) if r2 is not None else np.full(len(x), -1)
    colours = np.where(b < 0, NO_LD, np.asarray(R2_COLOURS)[np.clip(b, 0, 4)])
    rest = np.flatnonzero(~is_lead)
    rest = rest[np.argsort(b[rest], kind="stable")]  # strong LD drawn on top
    ax.scatter(x[rest], y[rest], c=colours[rest], s=14, marker="o", edgecolors="0.2",
               linewidths=0.3, zorder=2, rasterized=len(rest) > 5000)
    li = np.flatnonzero(is_lead)[0]
    ax.scatter([x[li]], [y[li]], c=LEAD_COLOUR, s=48, marker="D", edgecolors="k",
               linewidths=0.5, zorder=4, label="lead")
    lo, hi = ax.get_xlim()
    frac = (x[li] - lo) / (hi - lo) if hi > lo else 0.5
    ha, dx = ("right", 4) if frac > 0.85 else ("left", -4) if frac < 0.15 else ("center", 0)
    ax.annotate(lead, (x[li], y[li]), xytext=(dx, 7), textcoords="offset points",
                ha=ha, va="bottom", fontsize=7, zorder=5)
    gw = -np.log10(genomewide)
    ax.axhline(gw, color="0.45", lw=0.7, ls="--", zorder=1)
    top = max(float(np.nanmax(y)) if len(y) else 0.0, gw)
    ax.set_ylim(0, top * 1.15 + 0.5)
    ax.set_ylabel(NLP)
    handles = [Line2D([], [], ls="", marker="D", mfc=LEAD_COLOUR, mec="k", ms=5,
                      label="lead")]
    if r2 is not None:
        handles += [Line2D([], [], ls="", marker="o", mfc=c, mec="0.2", mew=0.3, ms=5, label=t)
                    for c, t in zip(R2_COLOURS[::-1], R2_LABELS[::-1])]
    if (b < 0).any():
        handles.append(Line2D([], [], ls="", marker="o", mfc=NO_LD, mec="0.2", mew=0.3, ms=5,
                              label="r\u00b2 unknown" if r2 is not None else "no genotypes"))
    ax.legend(handles=handles, title="r\u00b2 with lead", loc="upper left",
              bbox_to_anchor=(1.01, 1.0), frameon=False, borderaxespad=0.0)


def _gene_track(ax: Axes, genes: pd.DataFrame, *, rows: np.ndarray, centre: np.ndarray,
                n_rows: int, xlim: tuple[float, float]) -> None:
    lo, hi = xlim
    for g, r, c in zip(genes.itertuples(index=False), rows, centre):
        if r < 0:
            continue
        a, b = max(g.start / 1e6, lo), min(g.end / 1e6, hi)
        ax.plot([a, b], [-r, -r], color=GENE_COLOUR, lw=3, solid_capstyle="butt", zorder=2)
        if g.strand in ("+", "-"):
            tip = b if g.strand == "+" else a
            ax.plot([tip], [-r], ls="", marker=">" if g.strand == "+" else "<", ms=4,
                    color=GENE_COLOUR, zorder=3)
        ax.text(c, -r - 0.18, str(g.gene_name), ha="center", va="top", fontsize=GENE_FONT,
                style="italic", zorder=3)
    hidden = int((rows < 0).sum())
    if not len(genes):
        ax.text(0.5, 0.5, "no genes in this window", transform=ax.transAxes, ha="center",
                va="center", fontsize=GENE_FONT, color="0.4")
    elif hidden:
        ax.text(1.01, 0.0, f"{hidden} more genes\nnot shown", transform=ax.transAxes,
                ha="left", va="bottom", fontsize=GENE_FONT, color="0.4")
    ax.set_ylim(-(n_rows - 1) - 0.75, 0.45)
    ax.set_yticks([])
    ax.spines["left"].set_visible(False)
    ax.spines["right"].set_visible(False)
    ax.spines["top"].set_visible(False)


@dataclass
class RegionalPlot:
    """One written regional plot: ``png``/``pdf`` paths, its locus number and lead, and a
    caption for the report."""

    locus: int
    variant_id: str
    png: Path
    pdf: Path
    n_variants: int
    caption: str


def regional_plots(*, loci: pd.DataFrame, sumstats: pd.DataFrame, source, genes: GeneTable | None,
                   window_kb: float, out_dir: Path, stem: str, genomewide: float = 5e-8,
                   r2_method: Literal["haplotype", "dosage"] = "haplotype",
                   progress: bool | None = None) -> list[RegionalPlot]:
    """Write ``out_dir/regional.<stem>.locus<k>.png`` and ``.pdf`` for every locus.

    The window is the lead +- ``window_kb``, cut at the chromosome's first and last variant.

    Args:
        loci: a loci table (``loci_table``: locus, chromosome, base_pair_location, variant_id).
        sumstats: the summary statistics the loci came from (chromosome as int codes).
        source: the genotype source for r2 (None: points uncoloured).
        genes: the gene annotation (None: no gene track).
        window_kb: half-width of the window around the lead (the clumping ``kb``).
        stem: the phenotype or group name (titles; ``file_stem`` of it in file names).
        progress: tqdm bar (None: only on a terminal).
    """
    from tqdm import tqdm

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    chrom = sumstats["chromosome"].to_numpy(dtype=np.int64)
    pos = sumstats["base_pair_location"].to_numpy(dtype=np.int64)
    order = np.lexsort((pos, chrom))
    s_chrom, s_pos = chrom[order], pos[order]
    w = int(round(window_kb * 1000))
    ld_text = ({"haplotype": "EM haplotype r\u00b2 (as for clumping)",
                "dosage": "squared dosage correlation"}[r2_method] + " from the genotypes"
               if source is not None else "no genotypes given, so no r\u00b2")
    out: list[RegionalPlot] = []
    bar = tqdm(total=len(loci), desc=f"regional plots {stem}", unit="locus", leave=False,
               disable=None if progress is None else not progress)
    with figure_style(), bar:
        for row in loci.itertuples(index=False):
            c, p, lead = int(row.chromosome), int(row.base_pair_location), str(row.variant_id)
            a = np.searchsorted(s_chrom, c, side="left")
            b = np.searchsorted(s_chrom, c, side="right")
            i0 = a + np.searchsorted(s_pos[a:b], p - w, side="left")
            i1 = a + np.searchsorted(s_pos[a:b], p + w, side="right")
            region = sumstats.iloc[order[i0:i1]]
            region = region[region["neg_log10_p_value"].notna().to_numpy()]
            r2 = (lead_r2(source, lead_variant_id=lead, variant_ids=region["variant_id"],
                          method=r2_method) if source is not None else None)
            title = f"{stem}: locus {int(row.locus)}, {lead}"
            fig = regional_figure(region=region, r2=r2, lead=lead, genes=genes, title=title,
                                  window=(max(p - w, int(s_pos[a])), min(p + w, int(s_pos[b - 1]))),
                                  genomewide=genomewide)
            name = f"regional.{file_stem(stem)}.locus{int(row.locus)}"
            png, pdf = out_dir / f"{name}.png", out_dir / f"{name}.pdf"
            for path, fmt in ((png, "png"), (pdf, "pdf")):
                with atomic_path(path) as tmp:
                    fig.savefig(tmp, format=fmt, dpi=300, facecolor="white")
            gene_text = (f"genes from {Path(genes.path).name}" if genes is not None
                         else "no gene annotation given (--genes)")
            out.append(RegionalPlot(
                locus=int(row.locus), variant_id=lead, png=png, pdf=pdf, n_variants=len(region),
                caption=f"Locus {int(row.locus)} of {stem}: lead {lead} (chromosome "
                        f"{chromosome_label(c)}, {p:,} bp) and the {len(region)} variants within "
                        f"{window_kb:g} kb, coloured by {ld_text}; {gene_text}."))
            bar.update(1)
    return out
