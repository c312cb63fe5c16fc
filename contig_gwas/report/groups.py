"""The scans of each group: the min-P x K combination (ContIG) and, where the group has two or
more phenotypes, the omnibus test (MOSTest), each clumped into loci, plotted and annotated."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from ..outputs import file_stem
from . import plots
from .figures import manhattan_kwargs, new_figure, save_figure
from .html import Card, FigureFile
from .integrate import GeneStep, omnibus_scan, omnibus_summary
from .loci import ClumpParams, clump_table, write_loci


@dataclass
class GroupScans:
    """Per group: the combined table and loci; the omnibus loci and summary rows; the figures
    (min-P and omnibus Manhattan plots) as cards."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    loci: dict[str, pd.DataFrame] = field(default_factory=dict)
    omnibus_loci: dict[str, pd.DataFrame] = field(default_factory=dict)
    omnibus_rows: list[dict] = field(default_factory=list)
    cards: list[Card] = field(default_factory=list)
    figures: dict[str, list[FigureFile]] = field(default_factory=dict)


def note_ld(info: dict, *, path, warn: Callable[[str], None]) -> None:
    if info["without_genotypes"]:
        warn(f"{path}: {info['without_genotypes']} of {info['candidates']} clumping candidates "
             "are not in the LD genotypes (they absorb no variants and join no locus by LD)")


def group_scans(combiners: dict, *, omnibus: dict, out: Path, params: ClumpParams, genotypes,
                genes: GeneStep, highlight, max_labels: int, log,
                warn: Callable[[str], None]) -> GroupScans:
    """Clump, plot and annotate every group's scans (see the module docstring); ``omnibus``:
    group -> ``OmnibusCombiner`` of the groups that get the omnibus test."""
    res = GroupScans()
    for g, comb in combiners.items():
        with log.step(f"group {g}"):
            gt = comb.result()
            if comb.n_dropped:
                warn(f"group {g}: {comb.n_dropped} variants not in its first file were left out "
                     "of the combined scan")
            k = len(comb.phenotypes)
            lt, info = clump_table(gt, params=params, genotypes=genotypes)
            note_ld(info, path=f"group {g}", warn=warn)
            lt = genes.annotate(lt)
            res.tables[g], res.loci[g] = gt, lt
            write_loci(out / "loci" / f"group.{file_stem(g)}.loci.tsv", lt, params=params,
                       ld_used=genotypes is not None,
                       source=f"group {g}: min p x {k} over {', '.join(comb.phenotypes)}")
            figs = [_manhattan(gt, lt, out=out, stem=f"group.{file_stem(g)}", params=params,
                               highlight=highlight, max_labels=max_labels,
                               title=f"{g}: minimum p x {k} over its phenotypes",
                               caption=f"Manhattan plot of group {g} (combined scan, Bonferroni "
                                       f"min-p over {k} phenotypes); lead variants of its loci "
                                       "labelled.")]
            note = f"{len(lt)} loci by min p x {k}"
            if g in omnibus:
                ot, ores = omnibus_scan(omnibus[g])
                olt, info = clump_table(ot, params=params, genotypes=genotypes,
                                        phenotype=f"{g} omnibus")
                note_ld(info, path=f"group {g} omnibus", warn=warn)
                olt = genes.annotate(olt)
                res.omnibus_loci[g] = olt
                write_loci(out / "loci" / f"omnibus.{file_stem(g)}.loci.tsv", olt, params=params,
                           ld_used=genotypes is not None,
                           source=f"group {g}: omnibus test (MOSTest, chi2 with {ores.df} df) "
                                  f"over {', '.join(comb.phenotypes)}")
                res.omnibus_rows.append(omnibus_summary(group=g, k=k, table=ot, res=ores,
                                                        loci=olt, minp_loci=lt, kb=params.kb))
                figs.append(_manhattan(
                    ot, olt, out=out, stem=f"omnibus.{file_stem(g)}", params=params,
                    highlight=highlight, max_labels=max_labels,
                    title=f"{g}: omnibus test over its {k} phenotypes ({ores.df} df)",
                    caption=f"Manhattan plot of the omnibus test of group {g} (z' C^-1 z over "
                            f"its {k} phenotypes, chi2 with {ores.df} df, C from "
                            f"{ores.n_null_variants} null-like variants); lead variants "
                            "labelled."))
                note += f", {len(olt)} by the omnibus test"
                log.info(f"group {g}: omnibus test ({ores.df} df), {len(olt)} loci")
            res.figures[g] = figs
            res.cards.append(Card(key=f"group-{file_stem(g)}", title=f"group {g}", figures=figs,
                                  note=note))
            log.info(f"group {g}: {k} phenotypes, {len(lt)} loci")
    return res


def _manhattan(table: pd.DataFrame, lt: pd.DataFrame, *, out: Path, stem: str,
               params: ClumpParams, highlight, max_labels: int, title: str,
               caption: str) -> FigureFile:
    fig, ax = new_figure("manhattan")
    plots.manhattan(ax=ax, **manhattan_kwargs(table, lt), highlight=highlight,
                    genomewide=params.p1, max_labels=max_labels, title=title,
                    ycap=plots.auto_cap(lt["neg_log10_p_value"], genomewide=params.p1))
    return save_figure(fig, out_dir=out, stem=f"manhattan.{stem}",
                       key=f"manhattan-{stem.replace('.', '-')}", section="Groups", thumb=True,
                       caption=caption)
