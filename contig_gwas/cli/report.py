"""contig-report: loci, Manhattan/QQ/Miami figures, heritability bars, comparison tables and
one static report.html from summary statistics (see docs/tools/contig-report.md)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from ..outputs import refuse_to_overwrite
from ..runlog import RunLog
from ._common import add_genotype_options, add_name_list, make_parser


def build_parser() -> argparse.ArgumentParser:
    """The parser of the command line (docs/tools/contig-report.md is generated from it)."""
    p = make_parser("contig-report", __doc__.splitlines()[0])
    p.add_argument("--sumstats", nargs="+", required=True, metavar="GLOB_OR_FILE",
                   help="summary statistics PREFIX.<phenotype>.sumstats.tsv.gz "
                        "(files or quoted globs)")
    p.add_argument("--group", action="append", default=[], metavar="NAME=GLOB",
                   help="a group of phenotypes combined by min p x K (e.g. contig='out/contig.PC_*"
                        ".sumstats.tsv.gz'); repeat; the first two groups make the Miami plot "
                        "(first up, second down)")
    p.add_argument("--h2", nargs="+", default=[], metavar="FILE",
                   help="heritability tables (phenotype, n, h2, se, ..., method)")
    p.add_argument("--rg", nargs="+", default=[], metavar="FILE",
                   help="genetic-correlation tables of contig-h2 --rg (pheno1, pheno2, rg, se, "
                        "p, ...): heatmap of learned x standard phenotypes")
    add_genotype_options(p, required=False,
                         what="LD for clumping r2; without any: distance-only clumping")
    p.add_argument("--genes", metavar="FILE",
                   help="gene annotation (GTF, GFF3 or BED): nearest genes of every locus and the "
                        "gene track of the regional plots")
    p.add_argument("--covar", metavar="FILE",
                   help="FID IID covariate table of the association (e.g. its PCs): projected "
                        "out of the LD scores (covariate-adjusted LD-score regression; needed "
                        "for a meaningful intercept when the sample has several ancestries)")
    add_name_list(p, "--covar-name", help="covariate columns (default: all)")
    p.add_argument("--no-ldsc", action="store_true",
                   help="skip the LD-score regression per phenotype (done when genotypes are "
                        "given; LD scores in 1-Mb windows)")
    p.add_argument("--no-omnibus", action="store_true",
                   help="skip the omnibus test (MOSTest) of each group of two or more phenotypes")
    p.add_argument("--truth", metavar="FILE", help="truth.json of a simulated cohort")
    p.add_argument("--clump-p1", type=float, default=5e-8,
                   help="p-value threshold of index variants")
    p.add_argument("--clump-p2", type=float, default=1e-5,
                   help="p-value threshold of variants absorbed into a locus")
    p.add_argument("--clump-r2", type=float, default=0.1,
                   help="r2 threshold with the index variant")
    p.add_argument("--clump-kb", type=float, default=250.0,
                   help="window around the index variant (kb)")
    p.add_argument("--highlight", metavar="FILE",
                   help="variant IDs to highlight in Manhattan plots "
                        "(one per line or a variant_id column)")
    p.add_argument("--out", required=True, metavar="DIR", help="report folder")
    p.add_argument("--self-contained", action="store_true",
                   help="embed every figure in report.html (one file to send; larger)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing report")
    return p


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from ..io.genotypes import open_genotypes
    from ..io.tables import read_table
    from ..report.build import build_report, clean_previous
    from ..report.inputs import expand, read_highlight, resolve_inputs
    from ..report.loci import ClumpParams

    out = Path(args.out)
    refuse_to_overwrite([out / "report.html"], overwrite=args.overwrite)
    params = ClumpParams(p1=args.clump_p1, p2=args.clump_p2, r2=args.clump_r2, kb=args.clump_kb)
    out.mkdir(parents=True, exist_ok=True)
    with RunLog(out / "report.log", tool="contig-report", argv=argv) as log:
        inputs = resolve_inputs(sumstats=args.sumstats, groups=args.group)
        if args.overwrite:
            removed = clean_previous(out)
            if removed:
                log.info(f"--overwrite: removed {removed} files of the previous report")
        log.info(f"{len(inputs.files)} phenotypes: {', '.join(inputs.files)}")
        for g, ps in inputs.groups.items():
            log.info(f"group {g}: {len(ps)} phenotypes: {', '.join(ps)}")
        ld_file = args.bfile or args.pfile or args.bgen
        genotypes = (open_genotypes(bfile=args.bfile, pfile=args.pfile, bgen=args.bgen,
                                    sample=args.sample) if ld_file else None)
        if genotypes is not None:
            log.info(f"LD from {ld_file}: {len(genotypes.samples)} individuals, "
                     f"{len(genotypes.variants)} variants (r2 read per window)")
        highlight = read_highlight(args.highlight) if args.highlight else None
        h2_files = expand(args.h2, what="h2") if args.h2 else []
        rg_files = expand(args.rg, what="rg") if args.rg else []
        parameters = {
            "summary statistics": [f"{n}: {p}" for n, p in inputs.files.items()],
            "groups": [f"{g}: {', '.join(ps)}" for g, ps in inputs.groups.items()] or "none",
            "clump p1": f"{params.p1:g}", "clump p2": f"{params.p2:g}",
            "clump r2": f"{params.r2:g}", "clump kb": f"{params.kb:g}",
            "LD from": ld_file or "none (distance-only clumping)",
            "group combination": "p = min(1, K x min p) over the group's K phenotypes",
            "h2 files": [str(p) for p in h2_files] or "none",
            "rg files": [str(p) for p in rg_files] or "none",
            "truth": args.truth or "none", "highlight": args.highlight or "none",
            "genes": args.genes or "none",
            "LD-score regression": "no (--no-ldsc)" if args.no_ldsc else
            ("LD scores of the LD genotypes, 1-Mb windows" if ld_file else "no (no genotypes)"),
            "omnibus test": "no (--no-omnibus)" if args.no_omnibus else
            "MOSTest over each group of two or more phenotypes",
        }
        ldsc_covariates = None
        if args.covar and not args.no_ldsc and ld_file:
            ct = read_table(args.covar, kind="covariate", columns=args.covar_name)
            for note in ct.notes:
                log.info(f"{args.covar}: {note}")
            ldsc_covariates = ct.values
        parameters["LD-score covariates"] = (
            f"{args.covar}: {', '.join(ldsc_covariates.columns)}"
            if ldsc_covariates is not None else "none")
        truth = Path(args.truth) if args.truth else None
        result = build_report(inputs=inputs, out_dir=out, params=params, genotypes=genotypes,
                              h2_files=h2_files, rg_files=rg_files, truth=truth,
                              highlight=highlight, parameters=parameters, log=log,
                              self_contained=args.self_contained, genes=args.genes,
                              ldsc=not args.no_ldsc, omnibus=not args.no_omnibus,
                              ldsc_covariates=ldsc_covariates)
        log.info(f"wrote {result.html} with {len(result.figures)} figures")
    return 0
