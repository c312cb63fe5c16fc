"""The static report page: one ``report.html`` with every figure and table (no network).

Figures are referenced by relative path (``figures/*.png``, with the vector PDF linked beside
each), so the page opens from the report folder in any browser, offline.
"""

from __future__ import annotations

import datetime
import html
import os
from dataclasses import dataclass, field
from typing import Sequence

import pandas as pd

from .. import __version__
from ..outputs import atomic_path


@dataclass
class FigureFile:
    """A figure written as PNG (300 dpi) and PDF, relative to the report folder."""

    key: str
    png: str
    pdf: str
    caption: str
    section: str = "Figures"


@dataclass
class Table:
    key: str
    title: str
    caption: str
    frame: pd.DataFrame
    path: str | None = None


@dataclass
class Page:
    title: str
    parameters: dict[str, str]
    tables: list[Table] = field(default_factory=list)
    figures: list[FigureFile] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


_CSS = """
body{font-family:"DejaVu Sans",Arial,sans-serif;margin:2em auto;max-width:1100px;color:#222;
line-height:1.4;padding:0 1em}
h1{font-size:1.6em;margin-bottom:0.2em}h2{font-size:1.25em;border-bottom:1px solid #ccc;
padding-bottom:0.2em;margin-top:2em}h3{font-size:1.05em}
table{border-collapse:collapse;font-size:0.85em;margin:0.5em 0 1em 0}
th,td{border:1px solid #ccc;padding:0.25em 0.6em;text-align:right}
th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}
figure{margin:1em 0 2em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:0.85em;color:#444}.warn{background:#fff4e5;border-left:4px solid #f0a030;
padding:0.4em 0.8em;margin:0.4em 0}.small{font-size:0.8em;color:#666}
nav a{margin-right:1em}.scroll{overflow-x:auto}
#parameters-table td{text-align:left}
"""


def _table_html(t: Table) -> str:
    df = t.frame
    body = df.to_html(index=False, border=0, escape=True, na_rep="NA", classes="data",
                      float_format=lambda v: f"{v:.4g}") if len(df) else "<p><em>none</em></p>"
    link = f' <a class="small" href="{html.escape(t.path)}">(TSV)</a>' if t.path else ""
    return (f'<section id="table-{html.escape(t.key)}" class="report-table">'
            f"<h3>{html.escape(t.title)}{link}</h3>"
            f'<p class="small">{html.escape(t.caption)}</p>'
            f'<div class="scroll">{body}</div></section>')


def _figure_html(f: FigureFile) -> str:
    return (f'<figure id="fig-{html.escape(f.key)}"><img src="{html.escape(f.png)}" '
            f'alt="{html.escape(f.caption)}" loading="eager">'
            f'<figcaption>{html.escape(f.caption)} '
            f'<a href="{html.escape(f.pdf)}">PDF</a></figcaption></figure>')


def render(page: Page) -> str:
    """The HTML text of a report page."""
    params = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                     for k, v in page.parameters.items())
    warn = "".join(f'<div class="warn">{html.escape(w)}</div>' for w in page.warnings)
    sections: dict[str, list[str]] = {}
    for t in page.tables:
        sections.setdefault("Tables", []).append(_table_html(t))
    for f in page.figures:
        sections.setdefault(f.section, []).append(_figure_html(f))
    order = ["Tables"] + [s for s in sections if s != "Tables"]
    nav = " ".join(f'<a href="#{_anchor(s)}">{html.escape(s)}</a>' for s in order if s in sections)
    body = "".join(f'<h2 id="{_anchor(s)}">{html.escape(s)}</h2>' + "".join(sections[s])
                   for s in order if s in sections)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(page.title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>{html.escape(page.title)}</h1>"
            f'<p class="small">contig-gwas {html.escape(__version__)}, {stamp}</p>'
            f"<nav>{nav}</nav>{warn}"
            f'<h2 id="parameters">Parameters</h2><table id="parameters-table">{params}</table>'
            f"{body}</body></html>\n")


def _anchor(s: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in s.lower())


def write_html(path: str | os.PathLike, page: Page) -> None:
    """Write the page atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(render(page), encoding="utf-8")


def images(page: Page) -> Sequence[str]:
    """Relative PNG paths the page shows."""
    return [f.png for f in page.figures]
