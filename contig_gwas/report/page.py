"""The report page's order: the answer first (comparison table, Miami, loci counts, h2, rg,
Figure 1), then the tables of loci, then per-phenotype small multiples, parameters last."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable, Mapping, Sequence

import pandas as pd

from .figures import save_figure
from .headline import comparison_table
from .html import Card, FigureFile, Grid, Row, Section, Table
from .rg import heatmap_size, read_rg, rg_heatmap, rg_matrix


def extra_figures(*, out: Path, rg_files: Sequence[Path], groups: Mapping[str, Sequence[str]],
                  log, warn: Callable[[str], None], save_table: Callable[..., Table]
                  ) -> tuple[dict[str, Table], dict[str, FigureFile]]:
    """The genetic-correlation table and heatmap (learned x standard) from ``--rg`` files."""
    tables: dict[str, Table] = {}
    figs: dict[str, FigureFile] = {}
    if not rg_files:
        return tables, figs
    from .figures import new_figure

    rg = read_rg(rg_files)
    m = rg_matrix(rg, groups=groups)
    log.info(f"rg: {len(rg)} pairs, {len(m.rows)} learned x {len(m.columns)} standard shown")
    pairs = m.pairs()
    if "p" in rg.columns and len(pairs):
        key = {frozenset((a, b)): p for a, b, p in rg[["pheno1", "pheno2", "p"]].itertuples(
            index=False)}
        pairs["p"] = [key.get(frozenset((a, b))) for a, b in pairs[["learned", "standard"]]
                      .itertuples(index=False)]
    tables["rg"] = save_table("rg", "Genetic correlations, learned x standard",
                              "rg and its SE for each learned phenotype (rows of the heatmap) "
                              "with each standard one (columns); p of the Wald test of rg = 0.",
                              pairs)
    if not m.rows or not m.columns:
        warn("--rg: no pair of a learned with a standard phenotype (no heatmap)")
        return tables, figs
    fig, ax = new_figure("qq", size=heatmap_size(m))
    rg_heatmap(ax=ax, m=m)
    fig.tight_layout(pad=0.4)
    figs["rg"] = save_figure(fig, out_dir=out, stem="rg_heatmap", key="rg-heatmap",
                             section="Comparison", caption="Genetic correlation of each learned "
                             "phenotype (rows) with each standard phenotype (columns); cell "
                             "text rg (SE).")
    return tables, figs


def by_measure(comp: pd.DataFrame) -> pd.DataFrame:
    """The comparison table turned for reading: one row per measure, one column per group."""
    t = comp.set_index("group").T
    for c in t.columns:
        try:
            t[c] = pd.to_numeric(t[c])
        except (ValueError, TypeError):
            pass
    t.insert(0, "measure", [str(c).replace("_", " ") for c in t.index])
    return t.reset_index(drop=True).rename_axis(columns=None)


def omnibus_items(scans, *, tables: dict[str, Table], kb: float,
                  save_table: Callable[..., Table]) -> tuple[list, list]:
    """The omnibus-versus-min-P table and the first group's two Manhattan plots side by side
    (for the headline), and the omnibus loci table (for the loci section)."""
    if not scans.omnibus_rows:
        return [], []
    tables["omnibus"] = save_table(
        "omnibus", "Omnibus test versus min-P", "Per group: loci of the min-P x K scan and of "
        "the omnibus test (MOSTest: z' C^-1 z over the group's phenotypes, chi2 with df degrees "
        "of freedom, C estimated from null_variants), the omnibus loci with a min-P lead within "
        f"{kb:g} kb (shared) or without (omnibus only), the min-P loci the omnibus misses, and "
        "the omnibus scan's inflation on its own scale (median chi2 / median chi2_df).",
        pd.DataFrame(scans.omnibus_rows))
    allo = pd.concat([lt.assign(group=g) for g, lt in scans.omnibus_loci.items()],
                     ignore_index=True)
    allo = allo[["group"] + [c for c in allo.columns if c not in ("group", "members")]]
    tables["omnibus_loci"] = save_table(
        "omnibus_loci", "Loci of the omnibus test", "Lead variant of each locus of each group's "
        "omnibus scan (beta and SE are not defined for the multivariate test).", allo,
        columns=["group", "locus", "variant_id", "chromosome", "base_pair_location", "p_value",
                 "n_variants", "nearest_gene"])
    first = scans.omnibus_rows[0]["group"]
    head = [tables["omnibus"], Row(list(scans.figures[first]))]
    return head, [tables["omnibus_loci"]]


def link_loci(tables: dict[str, Table], *, regional: Sequence[Card]) -> None:
    """Link the locus numbers of the loci tables to their regional plots' cards."""
    from .integrate import regional_key

    keys = {c.key for c in regional}
    for key, name_col in (("group_loci", "group"), ("loci", "phenotype")):
        t = tables.get(key)
        if t is None or not len(t.frame):
            continue
        hrefs = [f"#card-{regional_key(n, k)}" if regional_key(n, k) in keys else None
                 for n, k in zip(t.frame[name_col], t.frame["locus"])]
        t.links = {"locus": hrefs}


def assemble_sections(*, tables: dict[str, Table], figs: dict[str, FigureFile],
                      groups: Mapping[str, Sequence[str]], summary: pd.DataFrame,
                      group_loci: Mapping[str, pd.DataFrame], overlap, recovery, h2,
                      group_cards: list[Card], cards: list[Card],
                      save_table: Callable[..., Table],
                      headline_extra: Sequence = (), after_loci: Sequence = (),
                      comparison_extra: Mapping[str, Mapping[str, object]] | None = None
                      ) -> list[Section]:
    """The page's sections in reading order (empty ones are not shown)."""
    head: list = []
    if groups:
        comp = comparison_table(groups=groups, summary=summary, group_loci=group_loci,
                                overlap=overlap, recovery=recovery, h2=h2,
                                extra=comparison_extra)
        tables["comparison"] = save_table(
            "comparison", "Learned versus standard", "Per group (a column each): loci of the "
            "combined scan, shared with another group or unique, recovery of planted variants "
            "(with --truth), loci of the omnibus test, median genomic inflation and mean SNP "
            "heritability of its phenotypes.", comp)
        head.append(replace(tables["comparison"], frame=by_measure(comp), columns=None))
    elif "summary" in tables:
        head.append(tables.pop("summary"))
    if "miami" in figs:
        head.append(figs["miami"])
    row = [figs[k] for k in ("loci_counts", "h2") if k in figs]
    if row:
        head.append(Row(row) if len(row) > 1 else row[0])
    if "inflation" in figs:
        head.append(figs["inflation"])
    if "rg" in figs:
        head.append(Row([figs["rg"], tables["rg"]]))
    elif "rg" in tables:
        head.append(tables["rg"])
    head += list(headline_extra)
    if "figure1" in figs:   # shown small: it repeats the panels above, for a manuscript
        head.append(replace(figs["figure1"], width_in=4.6, title="Figure 1 for a manuscript "
                                                                  "(multi-panel PDF)"))
    loci_items = [tables[k] for k in ("group_loci", "loci", "overlap", "truth_recovery")
                  if k in tables] + list(after_loci)
    phen: list = [tables[k] for k in ("summary",) if k in tables]
    if group_cards:
        phen.append(Grid(group_cards, caption="Combined scan of each group (click for full "
                                              "size)."))
    if cards:
        phen.append(Grid(cards, caption="Manhattan and QQ plot of each phenotype (click a "
                                        "thumbnail for the full-size figure)."))
    more = [tables[k] for k in ("h2",) if k in tables]
    return [Section("headline", "Learned versus standard" if groups else "Summary", head),
            Section("loci", "Loci", loci_items),
            Section("phenotypes", "Phenotypes", phen),
            Section("heritability", "Heritability", more)]
