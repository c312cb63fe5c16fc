"""Build the whole report from files: loci, figures, tables and ``report.html``.

Each summary-statistics file is read once: its lambda, loci, Manhattan and QQ (with
thumbnails) are made and it is folded into the combined scan of every group it belongs to,
then dropped, so memory is one file plus one combined scan per group (and the -log10 p of the
learned phenotype with the most loci so far, for Figure 1's QQ panel).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..chrom import normalise_chromosomes
from ..io.sumstats import read_sumstats
from ..omnibus import OmnibusCombiner
from ..outputs import file_stem
from ..runlog import NullLog, RunLog
from . import plots
from .figures import manhattan_kwargs, new_figure, save_figure
from .groups import group_scans, note_ld
from .headline import inflation_plot
from .html import Card, FigureFile, Grid, Page, Table, write_html
from .inputs import SumstatsInputs, read_h2
from .integrate import GeneStep, LdscStep
from .loci import ClumpParams, clump_table, loci_overlap, write_loci
from .page import assemble_sections, extra_figures, link_loci, omnibus_items
from .rg import group_aliases
from .stats import GroupCombiner, lambda_gc
from .truth import read_truth, truth_recovery

__all__ = ["ReportResult", "build_report", "clean_previous", "new_figure", "save_figure"]


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
    page: Page | None = None


def clean_previous(out_dir: str | Path) -> int:
    """Remove the figures, loci and tables a previous report wrote in ``out_dir`` (used with
    --overwrite, so no stale figure survives); returns the number of files removed."""
    out = Path(out_dir)
    n = 0
    for sub, patterns in (("figures", ("*.png", "*.pdf")), ("figures/thumbs", ("*.png",)),
                          ("loci", ("*.loci.tsv",)), ("tables", ("*.tsv",))):
        for pat in patterns:
            for f in (out / sub).glob(pat):
                f.unlink()
                n += 1
    return n


def build_report(*, inputs: SumstatsInputs, out_dir: str | Path, params: ClumpParams,
                 genotypes=None, h2_files: Sequence[Path] = (), rg_files: Sequence[Path] = (),
                 truth: Path | None = None, highlight: Sequence[str] | None = None,
                 parameters: dict | None = None, log: RunLog | None = None,
                 max_labels: int = 25, self_contained: bool = False,
                 genes: str | Path | None = None, ldsc: bool = True,
                 omnibus: bool = True, ldsc_covariates: pd.DataFrame | None = None
                 ) -> ReportResult:
    """Build every output of ``contig-report`` in ``out_dir`` (see docs/tools/contig-report.md).

    ``self_contained``: ``report.html`` embeds its figures (one file to send on its own).
    ``genes``: a GTF/GFF3/BED gene annotation (nearest genes, gene tracks of regional plots).
    ``ldsc``: LD-score regression per phenotype (needs ``genotypes``); ``ldsc_covariates``
    (indexed by IID, e.g. the association's PCs) are projected out of the LD scores.
    ``omnibus``: the omnibus test of every group of two or more phenotypes.
    """
    with plots.figure_style():
        return _build(inputs=inputs, out_dir=out_dir, params=params, genotypes=genotypes,
                      h2_files=h2_files, rg_files=rg_files, truth=truth, highlight=highlight,
                      parameters=parameters, log=log, max_labels=max_labels,
                      self_contained=self_contained, genes=genes, ldsc=ldsc, omnibus=omnibus,
                      ldsc_covariates=ldsc_covariates)


@dataclass
class _Best:
    """The learned phenotype with the most loci so far (ties: the larger max -log10 p)."""

    phenotype: str = ""
    score: tuple = (-1, -np.inf)
    neg_log10_p: np.ndarray | None = None


def _build(*, inputs, out_dir, params, genotypes, h2_files, rg_files, truth, highlight,
           parameters, log, max_labels, self_contained, genes, ldsc, omnibus,
           ldsc_covariates) -> ReportResult:
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
    loci: dict[str, pd.DataFrame] = {}
    cards: list[Card] = []
    summary_rows = []
    combiners = {g: GroupCombiner(name=g, n_phenotypes=len(ps)) for g, ps in inputs.groups.items()}
    omni = ({g: OmnibusCombiner(name=g) for g, ps in inputs.groups.items() if len(ps) >= 2}
            if omnibus else {})
    ldsc_step = LdscStep.start(genotypes if ldsc else None, log=log, covariates=ldsc_covariates,
                               warn=warn)
    gene_step = GeneStep.start(genes, genotypes=genotypes, log=log)
    highlight = list(highlight) if highlight else None
    first_group: list[str] = next(iter(inputs.groups.values()), [])
    best = _Best()

    for pheno, path in inputs.files.items():
        with log.step(f"phenotype {pheno}"):
            table = read_sumstats(path)
            if not pd.api.types.is_integer_dtype(table["chromosome"]):
                table["chromosome"] = normalise_chromosomes(table["chromosome"], source=str(path))
            n_all = len(table)
            table = table[~table["neg_log10_p_value"].isna()].reset_index(drop=True)
            if len(table) < n_all:
                log.info(f"{path}: {n_all - len(table)} variants without a p-value left out")
            nlp = table["neg_log10_p_value"].to_numpy(dtype=float)
            lam = lambda_gc(neg_log10_p=nlp)
            lt, info = clump_table(table, params=params, genotypes=genotypes, phenotype=pheno)
            note_ld(info, path=path, warn=warn)
            lt = gene_step.annotate(lt)
            loci[pheno] = lt
            write_loci(out / "loci" / f"{file_stem(pheno)}.loci.tsv", lt, params=params,
                       ld_used=genotypes is not None, source=str(path))
            binary = "n_cases" in table.columns and "n_controls" in table.columns
            pfigs = _phenotype_figures(table, lt, pheno=pheno, lam=lam, out=out,
                                       highlight=highlight, params=params, max_labels=max_labels)
            cards.append(Card(key=f"pheno-{file_stem(pheno)}", title=pheno, figures=pfigs,
                              note=f"{len(lt)} loci, \u03bbGC {lam:.3f}"
                                   + (", binary" if binary else "")))
            for g, ps in inputs.groups.items():
                if pheno in ps:
                    combiners[g].add(pheno, table)
                    if g in omni:
                        omni[g].add(pheno, table)
            if not inputs.groups:   # no groups: the phenotypes' loci are the ones shown
                gene_step.regional(loci=lt, table=table, name=pheno, out=out, kb=params.kb,
                                   genomewide=params.p1)
            top = float(np.max(nlp)) if len(nlp) else np.nan
            if pheno in first_group and (len(lt), top) > best.score:
                best = _Best(phenotype=pheno, score=(len(lt), top), neg_log10_p=nlp)
            member_of = [g for g, ps in inputs.groups.items() if pheno in ps]
            summary_rows.append({"phenotype": pheno, "trait_type":
                                 "binary" if binary else "quantitative", "file": str(path),
                                 "variants": len(table), "lambda_gc": lam,
                                 **ldsc_step.row(table, warn=warn, name=pheno),
                                 "max_neg_log10_p": top, "loci": len(lt),
                                 "groups": ",".join(member_of)})
            log.info(f"{pheno}: {len(table)} variants, lambda_GC {lam:.4f}, {len(lt)} loci")

    scans = group_scans(combiners, omnibus=omni, out=out, params=params, genotypes=genotypes,
                        genes=gene_step, highlight=highlight, max_labels=max_labels, log=log,
                        warn=warn)
    group_tables, group_loci, group_cards = scans.tables, scans.loci, scans.cards
    for g, lt in group_loci.items():
        gene_step.regional(loci=lt, table=group_tables[g], name=g, out=out, kb=params.kb,
                           genomewide=params.p1)

    tables: dict[str, Table] = {}
    summary = pd.DataFrame(summary_rows)
    tables["summary"] = _save_table(
        out, "summary", "Phenotypes", "Variants tested, genomic inflation (lambda GC = median "
        "chi2 / 0.4549) and loci per phenotype (input files: Parameters).", summary,
        columns=[c for c in summary.columns if c not in ("file", "trait_type")])
    if group_loci:
        allg = pd.concat([lt.assign(group=g, shared_with=_shared_with(g, lt, group_loci, params.kb))
                          for g, lt in group_loci.items()], ignore_index=True)
        allg = allg[["group"] + [c for c in allg.columns if c not in ("group", "members")]]
        tables["group_loci"] = _save_table(
            out, "group_loci", "Loci per group", "Lead variant of each locus of each group's "
            "combined scan: p is min p x K (capped at 1); phenotype is the one with the minimum "
            "p; beta and SE are that phenotype's; shared_with names the other groups with a lead "
            f"within {params.kb:g} kb ('-': found by this group only).", allg,
            columns=["group", "locus", "variant_id", "chromosome", "base_pair_location",
                     "p_value", "beta", "standard_error", "phenotype", "n_variants",
                     "nearest_gene", "shared_with"])
    else:
        allp = pd.concat(list(loci.values()), ignore_index=True) if loci else pd.DataFrame()
        if len(allp):
            allp = allp.drop(columns=["members"])
        tables["loci"] = _save_table(out, "loci", "Loci per phenotype",
                                     "Lead variant of each locus.", allp,
                                     columns=["phenotype", "locus", "variant_id", "chromosome",
                                              "base_pair_location", "p_value", "beta",
                                              "standard_error", "n_variants", "nearest_gene"])
    units = group_loci if group_loci else loci
    figs: dict[str, FigureFile] = {}
    overlap = None
    if len(units) > 1:
        overlap = loci_overlap(units, kb=params.kb)
        what = "group" if group_loci else "phenotype"
        tables["overlap"] = _save_table(
            out, "overlap", "Overlap of loci", f"Loci of each {what} with a lead of the other "
            f"within {params.kb:g} kb (shared) or not (unique).", overlap)
        fig, ax = new_figure("loci_counts", size=(max(3.6, 0.7 * len(units) + 1.6), 3.0))
        fig.subplots_adjust(left=0.16, right=0.97, bottom=0.15, top=0.95)
        plots.loci_counts(ax=ax, counts=_counts(overlap))
        figs["loci_counts"] = save_figure(
            fig, out_dir=out, stem="loci_counts", key="loci-counts", section="Comparison",
            caption=f"Independent loci per {what}: shared with another (lead within "
                    f"{params.kb:g} kb) or unique.")
    if len(group_tables) >= 2:
        (a, ta), (b, tb) = list(group_tables.items())[:2]
        fig, (ax1, ax2) = new_figure("miami")
        plots.miami(ax_top=ax1, ax_bottom=ax2, **_miami_data(ta, tb, group_loci, a, b,
                                                             max_labels=max_labels),
                    genomewide=params.p1, highlight=highlight,
                    ycap=_miami_cap(group_loci, a, b, params))
        figs["miami"] = save_figure(fig, out_dir=out, stem=f"miami.{file_stem(a)}.{file_stem(b)}",
                                    key="miami", section="Comparison",
                                    caption=f"Miami plot: group {a} upwards, group {b} downwards "
                                            "(combined scans, one scale).")
    recovery = None
    if truth_table is not None:
        kw = ({"omnibus_loci": scans.omnibus_loci} if scans.omnibus_loci
              and "omnibus_loci" in inspect.signature(truth_recovery).parameters else {})
        recovery = truth_recovery(loci=units, truth=truth_table, kb=params.kb, **kw)
        tables["truth_recovery"] = _save_table(
            out, "truth_recovery", "Recovery of planted causal variants", "A locus is a true "
            f"positive when its lead lies within {params.kb:g} kb of a causal variant; power = "
            "causal variants with a lead within the window / causal variants.", recovery)
    h2 = read_h2(h2_files) if h2_files else None
    alias = group_aliases(inputs.groups)   # h2/rg tables may name phenotypes <group>_<name>
    h2_groups = {g: [a for a, gg in alias.items() if gg == g] for g in inputs.groups}
    if h2 is not None:
        tables["h2"] = _save_table(out, "h2", "SNP heritability", "From the --h2 files.", h2)
        n = h2["phenotype"].nunique()
        fig, ax = new_figure("loci_counts", size=(max(3.6, 0.45 * n + 1.5), 3.2))
        plots.h2_bars(ax=ax, table=h2, groups=h2_groups)
        fig.tight_layout(pad=0.4)   # room for rotated phenotype names
        figs["h2"] = save_figure(fig, out_dir=out, stem="h2", key="h2", section="Heritability",
                                 caption="SNP heritability per phenotype with +-1 SE, coloured "
                                         "by group.")
    if "ldsc_intercept" in summary.columns and summary["ldsc_intercept"].notna().any():
        fig, ax = new_figure("loci_counts", size=(max(3.6, 0.3 * len(summary) + 1.4), 3.0))
        inflation_plot(ax=ax, summary=summary, groups=inputs.groups)
        fig.tight_layout(pad=0.4)
        figs["inflation"] = save_figure(
            fig, out_dir=out, stem="inflation", key="inflation", section="Comparison",
            caption="Genomic inflation per phenotype: lambda GC (circles) beside the LD-score "
                    "regression intercept +-1 SE (squares); an intercept near 1 under a lambda "
                    "GC above 1 is polygenic signal, not confounding.")
    extra_tables, extra_figs = extra_figures(
        out=out, rg_files=rg_files, groups=inputs.groups, log=log, warn=warn,
        save_table=lambda *a, **k: _save_table(out, *a, **k))
    tables.update(extra_tables)
    figs.update(extra_figs)
    if len(group_tables) >= 2 and "loci_counts" in figs and best.neg_log10_p is not None:
        from .figure1 import figure1

        assert overlap is not None
        (a, ta), (b, tb) = list(group_tables.items())[:2]
        fig = figure1(**_miami_data(ta, tb, group_loci, a, b, max_labels=10, prefix="miami_"),
                      qq_neg_log10_p=best.neg_log10_p, qq_label=best.phenotype,
                      counts=_counts(overlap), h2=h2, groups=h2_groups, genomewide=params.p1,
                      ycap=_miami_cap(group_loci, a, b, params))
        figs["figure1"] = save_figure(
            fig, out_dir=out, stem="figure1", key="figure1", section="Comparison", thumb=True,
            caption=f"Figure 1: (A) Miami plot, {a} up, {b} down; (B) QQ plot of "
                    f"{best.phenotype}, the {a} phenotype with the most loci; (C) loci per "
                    "group" + ("; (D) SNP heritability." if h2 is not None else "."))
    head_extra, loci_extra = omnibus_items(scans, tables=tables, kb=params.kb,
                                           save_table=lambda *a, **k: _save_table(out, *a, **k))
    if gene_step.cards:
        loci_extra.append(Grid(gene_step.cards, caption="Regional plot of every locus (click "
                                                        "for full size; the loci tables link "
                                                        "here)."))
        link_loci(tables, regional=gene_step.cards)
    sections = assemble_sections(
        tables=tables, figs=figs, groups=inputs.groups, summary=summary, group_loci=group_loci,
        overlap=overlap, recovery=recovery, h2=h2, group_cards=group_cards, cards=cards,
        save_table=lambda *a, **k: _save_table(out, *a, **k), headline_extra=head_extra,
        after_loci=loci_extra,
        comparison_extra={g: {"omnibus_loci": len(v)} for g, v in scans.omnibus_loci.items()})
    page = Page(title="contig-gwas report", parameters=dict(parameters or {}),
                sections=sections, warnings=warnings)
    html_path = out / "report.html"
    write_html(html_path, page, self_contained=self_contained)
    if self_contained:
        log.info(f"--self-contained: {html_path} is {html_path.stat().st_size / 1e6:.1f} MB "
                 "with every figure embedded")
    return ReportResult(out_dir=out, html=html_path, figures=page.figures(),
                        loci={**loci, **{f"group:{g}": v for g, v in group_loci.items()}},
                        summary=summary, overlap=overlap, recovery=recovery, warnings=warnings,
                        page=page)


def _counts(overlap: pd.DataFrame) -> pd.DataFrame:
    is_any = overlap["other_group"] == "any"
    return overlap[is_any] if is_any.any() else overlap.drop_duplicates("group")


def _miami_data(ta, tb, group_loci, a, b, *, max_labels: int, prefix: str = "") -> dict:
    return {f"{prefix}top": dict(**manhattan_kwargs(ta, group_loci[a]), title=a,
                                 **({} if prefix else {"max_labels": max_labels})),
            f"{prefix}bottom": dict(**manhattan_kwargs(tb, group_loci[b]), title=b,
                                    **({} if prefix else {"max_labels": max_labels}))}


def _miami_cap(group_loci, a, b, params) -> float | None:
    return plots.auto_cap(pd.concat([group_loci[a], group_loci[b]])["neg_log10_p_value"],
                          genomewide=params.p1)


def _phenotype_figures(table, lt, *, pheno, lam, out, highlight, params, max_labels):
    fig, ax = new_figure("manhattan")
    plots.manhattan(ax=ax, **manhattan_kwargs(table, lt), highlight=highlight,
                    genomewide=params.p1, title=pheno, max_labels=max_labels,
                    ycap=plots.auto_cap(lt["neg_log10_p_value"], genomewide=params.p1))
    stem = file_stem(pheno)
    f1 = save_figure(fig, out_dir=out, stem=f"manhattan.{stem}", key=f"manhattan-{stem}",
                     section="Phenotypes", thumb=True, caption=f"Manhattan plot of {pheno}; "
                     f"dashed lines at p = {params.p1:g} and 1e-5; lead variants of its loci "
                     "labelled.")
    fig, ax = new_figure("qq")
    plots.qq(ax=ax, neg_log10_p=table["neg_log10_p_value"].to_numpy(), label=pheno,
             ycap=plots.auto_cap(lt["neg_log10_p_value"], genomewide=params.p1))
    f2 = save_figure(fig, out_dir=out, stem=f"qq.{stem}", key=f"qq-{stem}", section="Phenotypes",
                     thumb=True, caption=f"QQ plot of {pheno} with the 95% band of the null "
                                         f"order statistics; lambda GC = {lam:.3f}.")
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


def _save_table(out: Path, key: str, title: str, caption: str, frame: pd.DataFrame,
                columns: list[str] | None = None) -> Table:
    rel = f"tables/{key}.tsv"
    frame.to_csv(out / rel, sep="\t", index=False, float_format="%.6g", na_rep="NA")
    return Table(key=key, title=title, caption=caption, frame=frame, path=rel, columns=columns)

