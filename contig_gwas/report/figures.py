"""Figure files of the report: each figure drawn once, written as a 300-dpi PNG and a vector
PDF, with a small thumbnail resampled from the PNG (no second drawing)."""

from __future__ import annotations

import base64
import io
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .html import FigureFile

FIG_SIZES = {"manhattan": (7.2, 2.6), "qq": (3.4, 3.4), "miami": (7.2, 4.4),
             "loci_counts": (3.6, 3.0)}
THUMB_HEIGHT = 150   # pixels of a thumbnail (Manhattan and QQ thumbnails share it)
EMBED_WIDTH = 1200   # pixels of the widest image embedded in a --self-contained page


def new_figure(kind: str, size: tuple[float, float] | None = None):
    """A figure (Agg canvas) of the report's size for ``kind`` and its axes (two for Miami)."""
    fig = Figure(figsize=size or FIG_SIZES[kind])
    FigureCanvasAgg(fig)
    if kind == "miami":
        axes = fig.subplots(2, 1, sharex=False)
        fig.subplots_adjust(left=0.08, right=0.99, bottom=0.07, top=0.95, hspace=0.08)
        return fig, axes
    ax = fig.add_subplot()
    if kind == "manhattan":
        fig.subplots_adjust(left=0.08, right=0.99, bottom=0.17, top=0.9)
    elif kind == "qq":
        fig.subplots_adjust(left=0.16, right=0.97, bottom=0.14, top=0.9)
    return fig, ax


def save_figure(fig: Figure, *, out_dir: Path, stem: str, key: str, caption: str,
                section: str, thumb: bool = False, title: str = "") -> FigureFile:
    """Write ``figures/<stem>.png`` (300 dpi) and ``.pdf`` (vector; dense points rasterized);
    with ``thumb`` also ``figures/thumbs/<stem>.png`` (THUMB_HEIGHT pixels high)."""
    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    rel_png, rel_pdf = f"figures/{stem}.png", f"figures/{stem}.pdf"
    fig.savefig(out_dir / rel_png, dpi=300, facecolor="white")
    fig.savefig(out_dir / rel_pdf, facecolor="white")
    rel_thumb = None
    if thumb:
        rel_thumb = f"figures/thumbs/{stem}.png"
        write_thumbnail(out_dir / rel_png, out_dir / rel_thumb, height=THUMB_HEIGHT)
    return FigureFile(key=key, png=rel_png, pdf=rel_pdf, caption=caption, section=section,
                      thumb=rel_thumb, title=title, width_in=float(fig.get_size_inches()[0]))


def write_thumbnail(src: Path, dst: Path, *, height: int) -> None:
    """Resample the PNG ``src`` to ``height`` pixels high (aspect kept) into ``dst``."""
    from PIL import Image

    dst.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(src) as im:
        w = max(1, round(im.width * height / im.height))
        small = im.convert("RGB").resize((w, height), Image.Resampling.LANCZOS)
        palette(small).save(dst, optimize=True)


def palette(im):
    """A 256-colour version of an RGB image (fast octree: every colour within 6% of the
    original in our figures, a third of the bytes)."""
    from PIL import Image

    return im.quantize(colors=256, method=Image.Quantize.FASTOCTREE)


def data_uri(path: Path, *, max_width: int = EMBED_WIDTH) -> str:
    """``data:`` URI of an image file (PNGs wider than ``max_width`` are resampled to it and
    stored with 256 colours, so a self-contained page stays small enough to send)."""
    raw = path.read_bytes()
    if path.suffix.lower() == ".png":
        from PIL import Image

        with Image.open(io.BytesIO(raw)) as im:
            if im.width > max_width:
                h = max(1, round(im.height * max_width / im.width))
                buf = io.BytesIO()
                palette(im.convert("RGB").resize((max_width, h), Image.Resampling.LANCZOS)).save(
                    buf, format="PNG", optimize=True)
                raw = buf.getvalue()
        mime = "image/png"
    elif path.suffix.lower() == ".svg":
        mime = "image/svg+xml"
    else:
        mime = "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(raw).decode('ascii')}"


def manhattan_kwargs(table, leads) -> dict:
    """The :func:`.plots.manhattan` data keywords of a summary-statistics table and its loci."""
    return dict(chromosome=table["chromosome"].to_numpy(),
                position=table["base_pair_location"].to_numpy(),
                neg_log10_p=table["neg_log10_p_value"].to_numpy(dtype=float),
                variant_id=table["variant_id"].to_numpy(), leads=leads)
