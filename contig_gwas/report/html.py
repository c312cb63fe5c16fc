"""The static report page: one ``report.html``, no network, answer first.

A page is a list of sections; a section holds tables, figures, rows (items side by side) and
grids of thumbnail cards (small multiples; each thumbnail opens its figure full size). Figures
are referenced by relative path (``figures/*.png``, the vector PDF linked beside each), or, on a
self-contained page, embedded as ``data:`` URIs so the one file can be sent on its own (full
sizes then open in an overlay of the page, CSS only). Tables fit the page width: cells wrap,
p-values are in scientific notation, long file paths live in the parameters section at the end.
"""

from __future__ import annotations

import datetime
import html
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence, Union

import numpy as np
import pandas as pd

from .. import __version__
from ..outputs import atomic_path


@dataclass
class FigureFile:
    """A figure written as PNG (300 dpi) and PDF, relative to the report folder; ``thumb`` a
    small PNG shown in grids."""

    key: str
    png: str
    pdf: str
    caption: str
    section: str = "Figures"
    thumb: str | None = None
    title: str = ""
    width_in: float | None = None   # the figure's width in inches (sets its width on the page)


@dataclass
class Table:
    """A table: ``frame`` in full (saved at ``path``); ``columns`` the ones shown (all: None)."""

    key: str
    title: str
    caption: str
    frame: pd.DataFrame
    path: str | None = None
    columns: list[str] | None = None
    links: dict[str, list[str | None]] | None = None   # column -> href per row (None: none)


@dataclass
class Row:
    """Items shown side by side (wrapping below each other on narrow screens)."""

    items: list


@dataclass
class Card:
    """One cell of a grid: a title, a note and thumbnails of its figures."""

    key: str
    title: str
    figures: list[FigureFile]
    note: str = ""


@dataclass
class Grid:
    cards: list[Card]
    caption: str = ""


@dataclass
class Section:
    key: str
    title: str
    items: list = field(default_factory=list)
    intro: str = ""


Item = Union[Table, FigureFile, Row, Grid, str]


@dataclass
class Page:
    title: str
    parameters: dict[str, str | list[str]]
    sections: list[Section] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def figures(self) -> list[FigureFile]:
        """Every figure on the page, in page order."""
        return [f for s in self.sections for f in _walk_figures(s.items)]


def _walk_figures(items) -> Iterator[FigureFile]:
    for it in items:
        if isinstance(it, FigureFile):
            yield it
        elif isinstance(it, Row):
            yield from _walk_figures(it.items)
        elif isinstance(it, Grid):
            for c in it.cards:
                yield from c.figures


_CSS = """
*{box-sizing:border-box}
body{font-family:"DejaVu Sans",Arial,sans-serif;margin:1.5em auto;max-width:1240px;color:#222;
line-height:1.4;padding:0 1em}
h1{font-size:1.6em;margin-bottom:0.2em}h2{font-size:1.25em;border-bottom:1px solid #ccc;
padding-bottom:0.2em;margin-top:1.8em}h3{font-size:1.0em;margin:0.8em 0 0.3em 0}
nav{position:sticky;top:0;background:#fff;padding:0.3em 0;border-bottom:1px solid #eee;z-index:5}
nav a{margin-right:1em}
.tablewrap{max-width:100%;overflow-x:auto}.tall{max-height:26em;overflow-y:auto}
table.data{border-collapse:collapse;font-size:0.78em;margin:0.3em 0 0.8em 0;width:100%}
table.data th,table.data td{border:1px solid #ddd;padding:0.2em 0.4em;text-align:right;
overflow-wrap:break-word;vertical-align:top}table.data td.n{white-space:nowrap}
table.data th{background:#f0f0f0;position:sticky;top:0}
table.data td.t,table.data th.t{text-align:left}
figure{margin:0.6em 0 1.2em 0;max-width:100%}
figure img{width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:0.8em;color:#444}
.row{display:flex;gap:1.2em;align-items:flex-start}
.row>*{flex:0 1 auto;min-width:300px}
@media (max-width:900px){.row{flex-wrap:wrap}}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:0.8em}
.grid.single{grid-template-columns:repeat(auto-fill,minmax(290px,1fr))}
.card{border:1px solid #e3e3e3;border-radius:4px;padding:0.3em 0.4em}
.card-title{font-size:0.85em;font-weight:bold;overflow-wrap:anywhere}
.card-title .small{font-weight:normal}
.thumbs{display:flex;gap:0.3em;align-items:flex-start}
.thumbs a{display:block;min-width:0}.thumbs img{display:block;max-width:100%;height:auto}
.warn{background:#fff4e5;border-left:4px solid #f0a030;padding:0.3em 0.8em;margin:0.3em 0;
font-size:0.9em}.small{font-size:0.8em;color:#666}
.tag{display:inline-block;font-size:0.75em;padding:0 0.35em;border-radius:3px;
background:#e6eef8;color:#1f4e79;margin-left:0.3em}
#parameters-table{font-size:0.8em;border-collapse:collapse;width:100%}
#parameters-table th{text-align:left;vertical-align:top;padding:0.2em 0.8em 0.2em 0;
white-space:nowrap}#parameters-table td{overflow-wrap:anywhere}
.paths{font-family:monospace;font-size:0.9em;margin:0.2em 0;padding-left:1.2em}
.lightbox{display:none}.lightbox:target{display:flex;position:fixed;inset:0;z-index:10;
background:rgba(0,0,0,0.8);align-items:center;justify-content:center}
.lightbox img{max-width:96vw;max-height:92vh;background:#fff}
.lightbox .close{position:absolute;top:0.3em;right:0.8em;color:#fff;font-size:2em;
text-decoration:none}
"""

PX_PER_INCH = 135   # page width of a figure per inch of its size (7.2 in: 972 px)
P_COLUMNS = ("p", "p_value", "pval", "p_omnibus")
LABELS = {"base_pair_location": "position", "neg_log10_p_value": "\u2212log10 p",
          "standard_error": "SE", "effect_allele_frequency": "EAF", "chromosome": "chr",
          "effect_allele": "EA", "other_allele": "OA", "max_neg_log10_p": "max \u2212log10 p"}


def is_p_column(name: str) -> bool:
    """Whether a column holds p-values (shown in scientific notation)."""
    n = name.lower()
    if "neg_log10" in n or "log10" in n:
        return False
    return n in P_COLUMNS or n.endswith("_p") or n.startswith("p_")


def format_p(p: float, *, neg_log10_p: float | None = None) -> str:
    """A p-value in scientific notation with 2 significant digits (``3.1e-08``). With
    ``neg_log10_p`` the value is taken from it, so an underflowed p = 0 shows as e.g.
    ``1.0e-400``; NaN gives ``NA``."""
    if neg_log10_p is not None and np.isfinite(neg_log10_p):
        e = math.floor(-neg_log10_p)
        m = 10.0 ** (-neg_log10_p - e)
        if m >= 9.95:
            m, e = 1.0, e + 1
        return f"{m:.1f}e{e:+03d}"
    if p is None or not np.isfinite(p):
        return "NA"
    if p == 0:
        return "0"
    return f"{p:.1e}"


def format_value(col: str, v, *, row: pd.Series | None = None) -> str:
    """Text of one table cell: p-values in scientific notation, -log10 p with 2 decimals,
    whole numbers without decimals, other floats with 4 significant digits."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "NA"
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        if is_p_column(col):
            nlp = None
            if col == "p_value" and row is not None and "neg_log10_p_value" in row:
                nlp = float(row["neg_log10_p_value"])
            return format_p(float(v), neg_log10_p=nlp)
        x = float(v)
        if "neg_log10" in col:
            return f"{x:.2f}"
        if x.is_integer() and abs(x) < 1e15:
            return str(int(x))
        if x != 0 and abs(x) < 1e-4:
            return f"{x:.2e}"
        return f"{x:.4g}"
    return str(v)


def table_body(frame: pd.DataFrame, columns: Sequence[str] | None = None,
               links: dict[str, list[str | None]] | None = None) -> str:
    """``<table class="data">`` of ``frame`` (``columns`` shown, in that order; ``links``:
    per column, the target of each row's cell)."""
    cols = [c for c in (columns or list(frame.columns)) if c in frame.columns]
    numeric = {c: pd.api.types.is_numeric_dtype(frame[c]) for c in cols}
    head = "".join(f'<th class="{"n" if numeric[c] else "t"}" title="{html.escape(c)}">'
                   f"{html.escape(LABELS.get(c, c.replace('_', ' ')))}</th>" for c in cols)
    rows = []
    links = links or {}
    for i, (_, r) in enumerate(frame.iterrows()):
        cells = "".join(f'<td class="{"n" if numeric[c] else "t"}">'
                        f"{_linked(_cell_html(c, r[c], r), links.get(c), i)}</td>" for c in cols)
        rows.append(f"<tr>{cells}</tr>")
    return (f'<table class="data"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def _linked(text: str, hrefs: list[str | None] | None, i: int) -> str:
    href = hrefs[i] if hrefs is not None and i < len(hrefs) else None
    return f'<a href="{html.escape(href)}">{text}</a>' if href else text


def _cell_html(col: str, v, row: pd.Series) -> str:
    text = html.escape(format_value(col, v, row=row))
    if col == "phenotype" and "trait_type" in row and row["trait_type"] == "binary":
        text += '<span class="tag">binary</span>'
    return text


class _Renderer:
    def __init__(self, *, src: Callable[[str], str], self_contained: bool):
        self.src = src
        self.self_contained = self_contained
        self.lightboxes: list[str] = []

    def item(self, it) -> str:
        if isinstance(it, Table):
            return self.table(it)
        if isinstance(it, FigureFile):
            return self.figure(it)
        if isinstance(it, Row):
            return '<div class="row">' + "".join(f"<div>{self.item(x)}</div>"
                                                 for x in it.items) + "</div>"
        if isinstance(it, Grid):
            return self.grid(it)
        return f"<p>{html.escape(str(it))}</p>"

    def table(self, t: Table) -> str:
        df = t.frame
        body = (table_body(df, t.columns, t.links) if len(df) else "<p><em>none</em></p>")
        link = (f' <a class="small" href="{html.escape(t.path)}">(TSV)</a>'
                if t.path and not self.self_contained else "")
        tall = " tall" if len(df) > 15 else ""
        return (f'<section id="table-{html.escape(t.key)}" class="report-table">'
                f"<h3>{html.escape(t.title)}{link}</h3>"
                f'<p class="small">{html.escape(t.caption)}</p>'
                f'<div class="tablewrap{tall}">{body}</div></section>')

    def _pdf(self, f: FigureFile) -> str:
        return "" if self.self_contained else f' <a href="{html.escape(f.pdf)}">PDF</a>'

    def figure(self, f: FigureFile) -> str:
        width = (f' style="width:{round(f.width_in * PX_PER_INCH)}px;max-width:100%"'
                 if f.width_in else "")
        head = f"<h3>{html.escape(f.title)}</h3>" if f.title else ""
        return (f'{head}<figure id="fig-{html.escape(f.key)}"{width}><img src="{self.src(f.png)}" '
                f'alt="{html.escape(f.caption)}">'
                f"<figcaption>{html.escape(f.caption)}{self._pdf(f)}</figcaption></figure>")

    def grid(self, g: Grid) -> str:
        cards = []
        for c in g.cards:
            thumbs = []
            for f in c.figures:
                target = f"#view-{f.key}" if self.self_contained else f.png
                thumbs.append(f'<a href="{html.escape(target)}" title="{html.escape(f.caption)}">'
                              f'<img src="{self.src(f.thumb or f.png)}" '
                              f'alt="{html.escape(f.caption)}" loading="lazy"></a>')
                if self.self_contained:
                    self.lightboxes.append(
                        f'<div class="lightbox" id="view-{html.escape(f.key)}">'
                        f'<a class="close" href="#card-{html.escape(c.key)}">\u00d7</a>'
                        f'<img src="{self.src(f.png)}" alt="{html.escape(f.caption)}" '
                        'loading="lazy"></div>')
            note = f' <span class="small">{html.escape(c.note)}</span>' if c.note else ""
            cards.append(f'<div class="card" id="card-{html.escape(c.key)}">'
                         f'<div class="card-title">{html.escape(c.title)}{note}</div>'
                         f'<div class="thumbs">{"".join(thumbs)}</div></div>')
        cap = f'<p class="small">{html.escape(g.caption)}</p>' if g.caption else ""
        single = " single" if all(len(c.figures) == 1 for c in g.cards) else ""
        return f'{cap}<div class="grid{single}">{"".join(cards)}</div>'


def _parameters_html(params: dict[str, str | list[str]]) -> str:
    rows = []
    for k, v in params.items():
        if isinstance(v, (list, tuple)):
            items = "".join(f"<li>{html.escape(str(x))}</li>" for x in v)
            val = (f"<details><summary>{len(v)} {'entry' if len(v) == 1 else 'entries'}"
                   "</summary>"
                   f'<ul class="paths">{items}</ul></details>') if v else "none"
        else:
            val = html.escape(str(v))
        rows.append(f"<tr><th>{html.escape(k)}</th><td>{val}</td></tr>")
    return f'<table id="parameters-table">{"".join(rows)}</table>'


def render(page: Page, *, root: str | os.PathLike | None = None,
           self_contained: bool = False) -> str:
    """The HTML text of a report page. ``self_contained``: images embedded as ``data:`` URIs
    read from ``root`` (the report folder), no links to other files."""
    if self_contained:
        from .figures import data_uri

        base = Path(root or ".")

        def src(rel: str) -> str:
            return data_uri(base / rel)
    else:
        def src(rel: str) -> str:
            return html.escape(rel)
    r = _Renderer(src=src, self_contained=self_contained)
    warn = "".join(f'<div class="warn">{html.escape(w)}</div>' for w in page.warnings[:3])
    if len(page.warnings) > 3:
        more = "".join(f'<div class="warn">{html.escape(w)}</div>' for w in page.warnings[3:])
        warn += (f"<details><summary>{len(page.warnings) - 3} more warnings</summary>"
                 f"{more}</details>")
    sections = [s for s in page.sections if s.items]
    nav = " ".join(f'<a href="#{_anchor(s.key)}">{html.escape(s.title)}</a>' for s in sections)
    nav += ' <a href="#parameters">Parameters</a>'
    body = "".join(f'<h2 id="{_anchor(s.key)}">{html.escape(s.title)}</h2>'
                   + (f'<p class="small">{html.escape(s.intro)}</p>' if s.intro else "")
                   + "".join(r.item(it) for it in s.items) for s in sections)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(page.title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>{html.escape(page.title)}</h1>"
            f'<p class="small">contig-gwas {html.escape(__version__)}, {stamp}</p>'
            f"<nav>{nav}</nav>{warn}{body}"
            f'<h2 id="parameters">Parameters</h2>{_parameters_html(page.parameters)}'
            f"{''.join(r.lightboxes)}</body></html>\n")


def _anchor(s: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in s.lower())


def write_html(path: str | os.PathLike, page: Page, *, self_contained: bool = False) -> None:
    """Write the page atomically (images read from the page's folder when self-contained)."""
    text = render(page, root=Path(path).parent, self_contained=self_contained)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def images(page: Page) -> Sequence[str]:
    """Relative PNG paths the page shows (thumbnails where a grid shows one)."""
    return [f.thumb or f.png for f in page.figures()]
