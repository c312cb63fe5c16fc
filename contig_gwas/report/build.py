"""Build the whole report from files: loci, figures, tables and ``report.html``.

Each summary-statistics file is read once: its lambda, loci, Manhattan and QQ are made and it
is folded into the combined scan of every group it belongs to, then dropped, so memory is one
file plus one combined scan per group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..chrom import normalise_chromosomes
from ..io.sumstats import read_sumstats
from ..outputs import file_stem
from ..runlog import NullLog, RunLog
from . import plots
from .html import FigureFile, Page, Table, write_html
from .inputs import SumstatsInputs, read_h2
from .loci import ClumpParams, clump_table, loci_overlap, write_loci
from .stats import GroupCombiner, lambda_gc
from .truth import read_truth, truth_recovery

FIG_SIZES = {"manhattan": (7.2, 2.6), "qq": (3.4, 3.4), "miami": (7.2, 4.4),
             "loci_counts": (3.6, 3.0)}


@dataclass
class ReportResult:
    """What a report run produced (paths relative to ``out_dir``)."""

    out_dir: Path
    html: Path
    figures: list[FigureFile]
    loci: dict[str, pd.DataFrame]
    summary: pd.DataFrame
    overlap: pd.DataFrame | None
    recovery: pd.DataFrame | None
    warnings: list[str] = field(default_factory=list)


def clean_previous(out_dir: str | Path) -> int:
    """Remove the figures, loci and tables a previous report wrote in ``out_dir`` (used with
    --overwrite, so no stale figure survives); returns the number of files removed."""
    out = Path(out_dir)
    n = 0
    for sub, patterns in (("figures", ("*.png", "*.pdf")), ("loci", ("*.loci.tsv",)),
                          ("tables", ("*.tsv",))):
        for pat in patterns:
            for f in (out / sub).glob(pat):
                f.unlink()
                n += 1
    return n


def save_figure(fig: Figure, *, out_dir: Path, stem: str, key: str, caption: str,
                section: str) -> FigureFile:
    """Write ``figures/<stem>.png`` (300 dpi) and ``.pdf`` (vector; dense points rasterized)."""
    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    rel_png, rel_pdf = f"figures/{stem}.png", f"figures/{stem}.pdf"
    fig.savefig(out_dir / rel_png, dpi=300, facecolor="white")
    fig.savefig(out_dir / rel_pdf, facecolor="white")
    return FigureFile(key=key, png=rel_png, pdf=rel_pdf, caption=caption, section=section)


def new_figure(kind: str, size: tuple[float, float] | None = None, nrows: int = 1):
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


def _manhattan_kwargs(table: pd.DataFrame, leads: pd.DataFrame) -> dict:
    return dict(chromosome=table["chromosome"].to_numpy(),
                position=table["base_pair_location"].to_numpy(),
                neg_log10_p=table["neg_log10_p_value"].to_numpy(dtype=float),
                variant_id=table["variant_id"].to_numpy(), leads=leads)


def build_report(*, inputs: SumstatsInputs, out_dir: str | Path, params: ClumpParams,
                 genotypes=None, h2_files: Sequence[Path] = (), truth: Path | None = None,
                 highlight: Sequence[str] | None = None, parameters: dict | None = None,
                 log: RunLog | None = None, max_labels: int = 25) -> ReportResult:
    """Build every output of ``contig-report`` in ``out_dir`` (see docs/tools/contig-report.md)."""
    with plots.figure_style():
        return _build(inputs=inputs, out_dir=out_dir, params=params, genotypes=genotypes,
                      h2_files=h2_files, truth=truth, highlight=highlight, parameters=parameters,
                      log=log, max_labels=max_labels)


def _build(*, inputs, out_dir, params, genotypes, h2_files, truth, highlight, parameters, log,
           max_labels) -> ReportResult:
    log = log or NullLog()
    out = Path(out_dir)
    (out / "loci").mkdir(parents=True, exist_ok=True)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    warnings: list[str] = []

    def warn(msg: str) -> None:
        warnings.append(msg)
        log.warning(msg)

    if genotypes is None:
        warn("no --bfile/--pfile/--bgen given: loci are clumped by distance only (every variant "
             f"with p <= {params.p2:g} within {params.kb:g} kb joins the locus)")
    truth_table = read_truth(truth) if truth is not None else None
    figs: list[FigureFile] = []
    loci: dict[str, pd.DataFrame] = {}
    summary_rows = []
    combiners = {g: GroupCombiner(name=g, n_phenotypes=len(ps)) for g, ps in inputs.groups.items()}
    highlight = list(highlight) if highlight else None

    for pheno, path in inputs.files.items():
        with log.step(f"phenotype {pheno}"):
            table = read_sumstats(path)
            if not pd.api.types.is_integer_dtype(table["chromosome"]):
                table["chromosome"] = normalise_chromosomes(table["chromosome"], source=str(path))
            n_all = len(table)
            table = table[~table["neg_log10_p_value"].isna()].reset_index(drop=True)
            if len(table) < n_all:
                log.info(f"{path}: {n_all - len(table)} variants without a p-value left out")
            lam = lambda_gc(neg_log10_p=table["neg_log10_p_value"].to_numpy())
            lt, info = clump_table(table, params=params, genotypes=genotypes, phenotype=pheno)
            _note_ld(info, path=path, warn=warn)
            loci[pheno] = lt
            write_loci(out / "loci" / f"{file_stem(pheno)}.loci.tsv", lt, params=params,
                       ld_used=genotypes is not None, source=str(path))
            figs += _phenotype_figures(table, lt, pheno=pheno, lam=lam, out=out,
                                       highlight=highlight, params=params, max_labels=max_labels)
            for g, ps in inputs.groups.items():
                if pheno in ps:
                    combiners[g].add(pheno, table)
            top = table["neg_log10_p_value"].max() if len(table) else np.nan
            member_of = [g for g, ps in inputs.groups.items() if pheno in ps]
            summary_rows.append({"phenotype": pheno, "file": str(path), "variants": len(table),
                                 "lambda_gc": lam, "max_neg_log10_p": top, "loci": len(lt),
                                 "groups": ",".join(member_of)})
            log.info(f"{pheno}: {len(table)} variants, lambda_GC {lam:.4f}, {len(lt)} loci")

    group_tables: dict[str, pd.DataFrame] = {}
    group_loci: dict[str, pd.DataFrame] = {}
    for g, comb in combiners.items():
        with log.step(f"group {g}"):
            gt = comb.result()
            if comb.n_dropped:
                warn(f"group {g}: {comb.n_dropped} variants not in its first file were left out "
                     "of the combined scan")
            lt, info = clump_table(gt, params=params, genotypes=genotypes)
            _note_ld(info, path=f"group {g}", warn=warn)
            group_tables[g], group_loci[g] = gt, lt
            write_loci(out / "loci" / f"group.{file_stem(g)}.loci.tsv", lt, params=params,
                       ld_used=genotypes is not None,
                       source=f"group {g}: min p x {len(comb.phenotypes)} over "
                              f"{', '.join(comb.phenotypes)}")
            fig, ax = new_figure("manhattan")
            plots.manhattan(ax=ax, **_manhattan_kwargs(gt, lt), highlight=highlight,
                            genomewide=params.p1, max_labels=max_labels,
                            ycap=plots.auto_cap(lt["neg_log10_p_value"], genomewide=params.p1),
                            title=f"{g}: minimum p x {len(comb.phenotypes)} over its phenotypes")
            figs.append(save_figure(fig, out_dir=out, stem=f"manhattan.group.{file_stem(g)}",
                                    key=f"manhattan-group-{file_stem(g)}", section="Groups",
                                    caption=f"Manhattan plot of group {g} (combined scan, "
                                            "Bonferroni min-p over "
                                            f"{len(comb.phenotypes)} phenotypes); lead variants "
                                            "of its loci labelled."))
            log.info(f"group {g}: {len(comb.phenotypes)} phenotypes, {len(lt)} loci")

    units = group_loci if group_loci else loci
    tables: list[Table] = []
    summary = pd.DataFrame(summary_rows)
    tables.append(_save_table(out, "summary", "Phenotypes",
                              "Variants tested, genomic inflation (lambda GC = median chi2 / "
                              "0.4549) and loci per phenotype.", summary))
    if group_loci:
        allg = pd.concat([lt.assign(group=g, shared_with=_shared_with(g, lt, group_loci, params.kb))
                          for g, lt in group_loci.items()], ignore_index=True)
        allg = allg[["group"] + [c for c in allg.columns if c not in ("group", "members")]]
        tables.append(_save_table(out, "group_loci", "Loci per group",
                                  "Lead variant of each locus of each group's combined scan: "
                                  "p is min p x K (capped at 1); phenotype is the one with the "
                                  "minimum p; beta and SE are that phenotype's; shared_with names "
                                  f"the other groups with a lead within {params.kb:g} kb "
                                  "('-': found by this group only).", allg))
    else:
        allp = pd.concat(list(loci.values()), ignore_index=True) if loci else pd.DataFrame()
        if len(allp):
            allp = allp.drop(columns=["members"])
        tables.append(_save_table(out, "loci", "Loci per phenotype",
                                  "Lead variant of each locus.", allp))
    overlap = None
    if len(units) > 1:
        overlap = loci_overlap(units, kb=params.kb)
        tables.append(_save_table(out, "overlap", "Overlap of loci",
                                  f"Loci of each {'group' if group_loci else 'phenotype'} with a "
                                  f"lead of the other within {params.kb:g} kb (shared) or not "
                                  "(unique).", overlap))
        is_any = overlap["other_group"] == "any"
        counts = overlap[is_any] if is_any.any() else overlap.drop_duplicates("group")
        fig, ax = new_figure("loci_counts", size=(max(3.6, 0.7 * len(counts) + 1.6), 3.0))
        fig.subplots_adjust(left=0.16, right=0.97, bottom=0.15, top=0.95)
        plots.loci_counts(ax=ax, counts=counts)
        figs.append(save_figure(fig, out_dir=out, stem="loci_counts", key="loci-counts",
                                section="Comparison", caption="Independent loci per "
                                f"{'group' if group_loci else 'phenotype'}: shared with another "
                                f"(lead within {params.kb:g} kb) or unique."))
    if len(group_tables) >= 2:
        (a, ta), (b, tb) = list(group_tables.items())[:2]
        fig, (ax1, ax2) = new_figure("miami")
        plots.miami(ax_top=ax1, ax_bottom=ax2, top=dict(**_manhattan_kwargs(ta, group_loci[a]),
                    title=a, max_labels=max_labels),
                    bottom=dict(**_manhattan_kwargs(tb, group_loci[b]), title=b,
                                max_labels=max_labels),
                    genomewide=params.p1, highlight=highlight,
                    ycap=plots.auto_cap(
                        pd.concat([group_loci[a], group_loci[b]])["neg_log10_p_value"],
                        genomewide=params.p1))
        figs.append(save_figure(fig, out_dir=out, stem=f"miami.{file_stem(a)}.{file_stem(b)}",
                                key="miami", section="Comparison",
                                caption=f"Miami plot: group {a} upwards, group {b} downwards "
                                        "(combined scans, one scale)."))
    recovery = None
    if truth_table is not None:
        recovery = truth_recovery(loci=units, truth=truth_table, kb=params.kb)
        tables.append(_save_table(out, "truth_recovery", "Recovery of planted causal variants",
                                  f"A locus is a true positive when its lead lies within "
                                  f"{params.kb:g} kb of a causal variant; power = causal "
                                  "variants with a lead within the window / causal variants.",
                                  recovery))
    if h2_files:
        h2 = read_h2(h2_files)
        tables.append(_save_table(out, "h2", "SNP heritability", "From the --h2 files.", h2))
        n = h2["phenotype"].nunique()
        fig, ax = new_figure("loci_counts", size=(max(3.6, 0.45 * n + 1.5), 3.2))
        fig.subplots_adjust(left=0.14, right=0.98, bottom=0.15, top=0.95)
        plots.h2_bars(ax=ax, table=h2, groups=inputs.groups)
        fig.tight_layout(pad=0.4)   # room for rotated phenotype names
        figs.append(save_figure(fig, out_dir=out, stem="h2", key="h2", section="Heritability",
                                caption="SNP heritability per phenotype with +-1 SE, coloured "
                                        "by group."))
    page = Page(title="contig-gwas report", parameters=dict(parameters or {}),
                tables=tables, figures=figs, warnings=warnings)
    html_path = out / "report.html"
    write_html(html_path, page)
    return ReportResult(out_dir=out, html=html_path, figures=figs,
                        loci={**loci, **{f"group:{g}": v for g, v in group_loci.items()}},
                        summary=summary, overlap=overlap, recovery=recovery, warnings=warnings)


def _phenotype_figures(table, lt, *, pheno, lam, out, highlight, params, max_labels):
    fig, ax = new_figure("manhattan")
    plots.manhattan(ax=ax, **_manhattan_kwargs(table, lt), highlight=highlight,
                    genomewide=params.p1, title=pheno, max_labels=max_labels,
                    ycap=plots.auto_cap(lt["neg_log10_p_value"], genomewide=params.p1))
    stem = file_stem(pheno)
    f1 = save_figure(fig, out_dir=out, stem=f"manhattan.{stem}", key=f"manhattan-{stem}",
                     section="Phenotypes", caption=f"Manhattan plot of {pheno}; dashed lines at "
                     f"p = {params.p1:g} and 1e-5; lead variants of its loci labelled.")
    fig, ax = new_figure("qq")
    plots.qq(ax=ax, neg_log10_p=table["neg_log10_p_value"].to_numpy(), label=pheno,
             ycap=plots.auto_cap(lt["neg_log10_p_value"], genomewide=params.p1))
    f2 = save_figure(fig, out_dir=out, stem=f"qq.{stem}", key=f"qq-{stem}", section="Phenotypes",
                     caption=f"QQ plot of {pheno} with the 95% band of the null order "
                             f"statistics; lambda GC = {lam:.3f}.")
    return [f1, f2]


def _shared_with(g: str, lt: pd.DataFrame, group_loci: dict, kb: float) -> list[str]:
    from .loci import near_any

    out: list[list[str]] = [[] for _ in range(len(lt))]
    for o, lo in group_loci.items():
        if o == g or not len(lt):
            continue
        near = near_any(lt["chromosome"].to_numpy(), lt["base_pair_location"].to_numpy(),
                        ref_chromosome=lo["chromosome"].to_numpy(),
                        ref_position=lo["base_pair_location"].to_numpy(), kb=kb)
        for k in np.flatnonzero(near):
            out[k].append(o)
    return [",".join(x) if x else "-" for x in out]


def _note_ld(info: dict, *, path, warn: Callable[[str], None]) -> None:
    if info["without_genotypes"]:
        warn(f"{path}: {info['without_genotypes']} of {info['candidates']} clumping candidates "
             "are not in the LD genotypes (they absorb no variants and join no locus by LD)")


def _save_table(out: Path, key: str, title: str, caption: str, frame: pd.DataFrame) -> Table:
    rel = f"tables/{key}.tsv"
    frame.to_csv(out / rel, sep="\t", index=False, float_format="%.6g", na_rep="NA")
    return Table(key=key, title=title, caption=caption, frame=frame, path=rel)
