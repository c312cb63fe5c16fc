"""The report's optional analyses: LD-score regression per phenotype (``contig_gwas.ldsc``),
the omnibus test per group (``contig_gwas.omnibus``), nearest genes and regional plots per
locus (``.genes``, ``.regional``). Each is a small step object the builder calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import pandas as pd

from ..errors import InputError
from ..outputs import file_stem
from .figures import THUMB_HEIGHT, write_thumbnail
from .html import Card, FigureFile
from .loci import near_any

if TYPE_CHECKING:
    from ..ldsc import LdScores
    from ..omnibus import OmnibusResult
    from .genes import GeneTable

LDSC_COLUMNS = ["ldsc_intercept", "ldsc_intercept_se", "ldsc_ratio", "ldsc_h2", "ldsc_h2_se"]
NO_GENES = "no --genes: regional plots without a gene track, loci without nearest genes"


@dataclass
class LdscStep:
    """LD scores computed once from the clumping genotypes, then one regression per
    phenotype (columns ``LDSC_COLUMNS`` of summary.tsv)."""

    scores: LdScores | None = None

    @classmethod
    def start(cls, genotypes, *, log, window_kb: float = 1000.0, progress: bool | None = None,
              covariates: pd.DataFrame | None = None, warn: Callable[[str], None] | None = None
              ) -> "LdscStep":
        """LD scores of ``genotypes``; with ``covariates`` (a table indexed by IID, e.g. the
        association's principal components) they are projected out first (covariate-adjusted
        LD scores, Luo et al. 2021) and only the individuals with every covariate are used.
        In a sample with more than one ancestry plain LD scores put the stratification into
        the slope instead of the intercept, so without covariates the log warns."""
        if genotypes is None:
            log.info("no --bfile/--pfile/--bgen: no LD-score regression (lambda GC only)")
            return cls()
        from ..ldsc import ld_scores

        samples = pcs = None
        if covariates is not None:
            iid = genotypes.samples["IID"].to_numpy(dtype=str)
            values = covariates.reindex(iid).to_numpy(dtype=np.float64)
            complete = ~np.isnan(values).any(axis=1)
            if complete.sum() <= values.shape[1] + 2:
                raise InputError(f"--covar: {int(complete.sum())} individuals of the LD "
                                 "genotypes have every covariate; too few for LD scores")
            samples, pcs = np.flatnonzero(complete), values[complete]
            log.info(f"LD scores over the {len(samples)} genotyped individuals with every "
                     f"covariate, {values.shape[1]} covariates projected out")
        elif warn is not None:
            warn("LD scores without --covar: in a sample of several ancestries the LD-score "
                 "intercept understates stratification (give the association's PCs)")
        with log.step("LD scores"):
            scores = ld_scores(genotypes, window_kb=window_kb, progress=progress,
                               samples=samples, covariates=pcs)
        log.info(f"LD scores of {len(scores.variant_id)} variants ({window_kb:g}-kb windows) "
                 "for LD-score regression")
        return cls(scores=scores)

    def row(self, table: pd.DataFrame, *, warn: Callable[[str], None], name: str) -> dict:
        if self.scores is None:
            return {}
        from ..ldsc import ldsc_for_sumstats

        try:
            r = ldsc_for_sumstats(table, self.scores)
        except InputError as exc:
            warn(f"{name}: no LD-score regression ({exc})")
            return {c: np.nan for c in LDSC_COLUMNS}
        return {"ldsc_intercept": r.intercept, "ldsc_intercept_se": r.intercept_se,
                "ldsc_ratio": r.ratio, "ldsc_h2": r.h2, "ldsc_h2_se": r.h2_se}


def omnibus_scan(comb) -> tuple[pd.DataFrame, OmnibusResult]:
    """The omnibus test of an ``OmnibusCombiner``'s tables as a summary-statistics table (the
    first file's variants; beta and SE NaN; ``df`` and ``chi2`` per variant; variants without
    a test left out) and its ``OmnibusResult``."""
    t, res = comb.result()
    keep = ~np.isnan(res.neg_log10_p)
    return t[keep].reset_index(drop=True), res


def lambda_df(*, chi2, df) -> float:
    from ..omnibus import lambda_df as _lambda_df

    return _lambda_df(chi2=chi2, df=df)


def omnibus_summary(*, group: str, k: int, table: pd.DataFrame, res, loci: pd.DataFrame,
                    minp_loci: pd.DataFrame, kb: float) -> dict:
    """One row comparing a group's omnibus scan with its min-P x K scan: loci of each, the
    omnibus loci with a min-P lead within ``kb`` (shared) and those without (omnibus only)."""
    near = (near_any(loci["chromosome"].to_numpy(), loci["base_pair_location"].to_numpy(),
                     ref_chromosome=minp_loci["chromosome"].to_numpy(),
                     ref_position=minp_loci["base_pair_location"].to_numpy(), kb=kb)
            if len(loci) and len(minp_loci) else np.zeros(len(loci), dtype=bool))
    back = (near_any(minp_loci["chromosome"].to_numpy(),
                     minp_loci["base_pair_location"].to_numpy(),
                     ref_chromosome=loci["chromosome"].to_numpy(),
                     ref_position=loci["base_pair_location"].to_numpy(), kb=kb)
            if len(loci) and len(minp_loci) else np.zeros(len(minp_loci), dtype=bool))
    return {"group": group, "phenotypes": k, "df": int(res.df),
            "null_variants": int(res.n_null_variants), "minp_loci": len(minp_loci),
            "omnibus_loci": len(loci), "shared": int(near.sum()),
            "omnibus_only": int((~near).sum()), "minp_only": int((~back).sum()),
            # inflation on the omnibus's own scale (median chi2 / median chi2_df)
            "omnibus_lambda": lambda_df(chi2=res.chi2, df=res.df_variant)}


@dataclass
class GeneStep:
    """Nearest genes of every locus table and regional plots of the loci shown."""

    genes: GeneTable | None = None
    genotypes: object = None
    cards: list[Card] = field(default_factory=list)

    @classmethod
    def start(cls, path: str | Path | None, *, genotypes, log) -> "GeneStep":
        if path is None:
            log.info(NO_GENES)
            return cls(genotypes=genotypes)
        from .genes import read_genes

        genes = read_genes(path)
        log.info(f"{path}: {len(genes.frame)} genes ({genes.format})"
                 + (f"; {genes.skipped_contigs} lines on contigs without a chromosome code "
                    "left out" if genes.skipped_contigs else ""))
        return cls(genes=genes, genotypes=genotypes)

    def annotate(self, loci: pd.DataFrame) -> pd.DataFrame:
        if self.genes is None or not len(loci):
            return loci
        from .genes import annotate_loci

        return annotate_loci(loci, self.genes)

    def regional(self, *, loci: pd.DataFrame, table: pd.DataFrame, name: str, out: Path,
                 kb: float, genomewide: float) -> list[Card]:
        """Regional plots of every locus of ``loci`` (from ``table``) with thumbnails; the
        cards are keyed ``regional-<name>-<locus>`` (the loci table links to them)."""
        if not len(loci):
            return []
        from .regional import regional_plots

        plots_ = regional_plots(loci=loci, sumstats=table, source=self.genotypes,
                                genes=self.genes, window_kb=kb, out_dir=out / "figures",
                                stem=name, genomewide=genomewide, progress=False)
        cards = []
        genes_by_locus = (dict(zip(loci["locus"], loci["nearest_gene"]))
                          if "nearest_gene" in loci.columns else {})
        for rp in plots_:
            rel = f"figures/{rp.png.name}"
            thumb = f"figures/thumbs/{rp.png.name}"
            write_thumbnail(rp.png, out / thumb, height=THUMB_HEIGHT)
            key = regional_key(name, rp.locus)
            f = FigureFile(key=key, png=rel, pdf=f"figures/{rp.pdf.name}", caption=rp.caption,
                           section="Regional", thumb=thumb)
            gene = genes_by_locus.get(rp.locus)
            note = rp.variant_id + (f", {gene}" if isinstance(gene, str) else "")
            cards.append(Card(key=key, title=f"{name} locus {rp.locus}", figures=[f], note=note))
        self.cards += cards
        return cards


def regional_key(name: str, locus: int) -> str:
    """The page anchor of a locus's regional plot (``card-`` + this)."""
    return f"regional-{file_stem(name)}-{int(locus)}"
