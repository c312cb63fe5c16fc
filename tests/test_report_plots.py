"""Figures checked as images: they draw (underflowed p-values included), have content, keep
labels apart, thin without changing the picture and leave global matplotlib state alone."""

from __future__ import annotations

import io

import matplotlib as mpl
import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from contig_gwas.report import plots
from contig_gwas.report.labels import any_overlap, label_boxes
from contig_gwas.report.synthetic import Peak, synthetic_sumstats
from contig_gwas.report.thin import GenomeLayout, thin


def _fig(size=(7.2, 2.6)):
    fig = Figure(figsize=size)
    FigureCanvasAgg(fig)
    return fig


def _pixels(fig, dpi=100) -> np.ndarray:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    buf.seek(0)
    from PIL import Image
    return np.asarray(Image.open(buf).convert("RGB"))


def _assert_image(fig, *, min_ink=0.01):
    img = _pixels(fig)
    h, w, _ = img.shape
    assert (w, h) == (round(fig.get_figwidth() * 100), round(fig.get_figheight() * 100))
    ink = np.mean(np.any(img < 200, axis=2))       # share of non-white pixels
    assert min_ink < ink < 0.9, ink
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 5   # not one flat colour
    return img


@pytest.fixture(scope="module")
def table():
    t = synthetic_sumstats(n_variants=30_000, n_chromosomes=22, seed=4,
                           peaks=[Peak(2, 1_000_000, 90), Peak(2, 1_300_000, 80),
                                  Peak(9, 2_000_000, 60), Peak(17, 3_000_000, 50)])
    # underflow: p = 0 with an exact -log10 p of 400, and one at 330
    k = int(t["neg_log10_p_value"].idxmax())
    t.loc[k, ["p_value", "neg_log10_p_value"]] = [0.0, 400.0]
    t.loc[k + 1, ["p_value", "neg_log10_p_value"]] = [0.0, 330.0]
    return t


def _leads(t, n=30):
    """Many close lead variants (stress for label placement)."""
    top = t.sort_values("neg_log10_p_value", ascending=False).head(n)
    return top[["chromosome", "base_pair_location", "variant_id", "neg_log10_p_value"]]


def _kw(t):
    return dict(chromosome=t["chromosome"].to_numpy(),
                position=t["base_pair_location"].to_numpy(),
                neg_log10_p=t["neg_log10_p_value"].to_numpy(),
                variant_id=t["variant_id"].to_numpy())


@pytest.mark.parametrize("ycap", [None, 60.0])
def test_manhattan_underflow_labels_apart(table, ycap):
    before = dict(mpl.rcParams)
    with plots.figure_style():
        fig = _fig()
        ax = fig.add_subplot()
        out = plots.manhattan(ax=ax, **_kw(table), leads=_leads(table), highlight=["rs10", "rs20"],
                              title="test", ycap=ycap)
        assert out is ax
        _assert_image(fig)
        boxes = label_boxes(ax)
        assert len(boxes) >= 3
        assert not any_overlap(boxes)
        axbox = ax.get_window_extent()
        assert all(axbox.x0 <= b.x0 and b.x1 <= axbox.x1 and b.y1 <= axbox.y1 for b in boxes)
        top = ax.get_ylim()[1]
        assert top > (400 if ycap is None else ycap)
        buf = io.BytesIO()
        fig.savefig(buf, format="pdf")
        assert buf.getvalue().startswith(b"%PDF")
    assert dict(mpl.rcParams) == before       # no global state changed


def test_thinning_keeps_picture_and_significant_points(table):
    rng = np.random.default_rng(0)
    m = 500_000
    chrom = np.sort(rng.integers(1, 23, m))
    pos = rng.integers(1, 50_000_000, m)
    layout = GenomeLayout.from_positions(chromosome=chrom, position=pos)
    x = layout.x(chromosome=chrom, position=pos)
    y = -np.log10(rng.uniform(size=m))
    idx = thin(x=x, y=y, colour=layout.index(chrom) % 2, xlim=layout.extent, ylim=(0, 10),
               size_pts=(480, 150), keep_above=3.0)
    assert len(idx) < 0.2 * m
    assert set(np.flatnonzero(y >= 3)) <= set(idx.tolist())
    # the drawn picture is (almost) pixel-identical with and without thinning
    sub = table[table["neg_log10_p_value"] < 50]
    imgs = []
    for keep in (3.0, np.inf):
        with plots.figure_style():
            fig = _fig()
            fig.subplots_adjust(left=0.08, right=0.99, bottom=0.17, top=0.9)
            ax = fig.add_subplot()
            kw = _kw(sub)
            if keep == np.inf:   # no thinning: every point kept
                kw["neg_log10_p"] = kw["neg_log10_p"]
            plots.manhattan(ax=ax, **kw, keep_above=keep if keep != np.inf else -1.0)
            imgs.append(_pixels(fig, dpi=150).astype(int))
    diff = np.mean(np.any(np.abs(imgs[0] - imgs[1]) > 60, axis=2))
    assert diff < 0.005, diff


def test_qq_lambda_band_and_underflow(table):
    with plots.figure_style():
        fig = _fig((3.4, 3.4))
        ax = fig.add_subplot()
        out = plots.qq(ax=ax, neg_log10_p=table["neg_log10_p_value"].to_numpy(), label="pheno")
        assert out is ax
        _assert_image(fig)
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert any("\u03bbGC" in t for t in labels)
        assert ax.get_ylim()[1] >= 400
        fig2 = _fig((3.4, 3.4))
        ax2 = fig2.add_subplot()
        plots.qq(ax=ax2, neg_log10_p=table["neg_log10_p_value"].to_numpy(), ycap=50)
        assert ax2.get_ylim()[1] < 100
        _assert_image(fig2)


def test_miami_shares_scale_and_inverts(table):
    other = synthetic_sumstats(n_variants=0, variants=table, seed=9, peaks=[Peak(5, 1e6, 70)])
    with plots.figure_style():
        fig = _fig((7.2, 4.4))
        a1, a2 = fig.subplots(2, 1)
        r1, r2 = plots.miami(ax_top=a1, ax_bottom=a2, top=dict(**_kw(table), leads=_leads(table, 5),
                             title="learned"), bottom=dict(**_kw(other), leads=_leads(other, 5),
                             title="standard"), ycap=80)
        assert (r1, r2) == (a1, a2)
        assert a2.get_ylim()[0] > a2.get_ylim()[1]            # inverted
        assert a1.get_ylim()[1] == pytest.approx(a2.get_ylim()[0])
        assert a1.get_xlim() == a2.get_xlim()
        assert not any_overlap(label_boxes(a1) + label_boxes(a2))
        _assert_image(fig)


def test_h2_bars_and_loci_counts():
    h2 = pd.DataFrame({"phenotype": ["PC_0", "PC_1", "height", "PC_0", "PC_1", "height"],
                       "h2": [0.3, 0.2, 0.5, 0.28, 0.22, 0.48], "se": 0.05,
                       "method": ["reml"] * 3 + ["he"] * 3})
    with plots.figure_style():
        fig = _fig((3.6, 3.0))
        ax = fig.add_subplot()
        assert plots.h2_bars(ax=ax, table=h2, groups={"contig": ["PC_0", "PC_1"]}) is ax
        assert len(ax.patches) >= 6
        _assert_image(fig)
        fig = _fig((3.6, 3.0))
        ax = fig.add_subplot()
        counts = pd.DataFrame({"group": ["contig", "standard"], "loci": [5, 3], "shared": [2, 2],
                               "unique": [3, 1]})
        assert plots.loci_counts(ax=ax, counts=counts) is ax
        _assert_image(fig)


def test_auto_cap():
    assert plots.auto_cap([400, 20, 10]) == pytest.approx(40)
    assert plots.auto_cap([30, 20]) is None
    assert plots.auto_cap([]) is None
