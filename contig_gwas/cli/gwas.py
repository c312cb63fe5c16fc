"""contig-gwas: exact linear-mixed-model GWAS of many phenotypes (FaST-LMM mathematics).

Options follow PLINK 2 / REGENIE conventions; ``contig-gwas --help`` lists them.
"""

from __future__ import annotations

import argparse
import re
from typing import Sequence

from ..chrom import normalise_chromosome, parse_chromosome_list
from ..defaults import AUTO_MIN_INDIVIDUALS
from ..errors import InputError
from ..runlog import RunLog
from ._common import (
    add_genotype_options,
    add_name_list,
    add_run_options,
    add_variant_filters,
    check_threads,
    make_parser,
)

TOOL = "contig-gwas"


def build_parser() -> argparse.ArgumentParser:
    """The parser of the command line (docs/tools/contig-gwas.md is generated from it)."""
    p = make_parser(TOOL, "Linear-mixed-model association scan of many phenotypes with "
                          "leave-one-chromosome-out (exact FaST-LMM or scalable BOLT-LMM-inf, "
                          "by --mode; --linear: OLS); writes PREFIX.<phenotype>.sumstats.tsv.gz, "
                          "PREFIX.nullmodel.tsv, PREFIX.log")
    add_genotype_options(p, required=True, what="tested genotypes")
    p.add_argument("--pheno", required=True, metavar="FILE", help="FID IID phenotype table")
    add_name_list(p, "--pheno-name", help="phenotype columns (default: all)")
    p.add_argument("--covar", metavar="FILE", help="FID IID covariate table")
    add_name_list(p, "--covar-name", help="covariate columns (default: all)")
    p.add_argument("--keep", metavar="FILE", help="keep only these individuals")
    p.add_argument("--remove", metavar="FILE", help="remove these individuals")
    add_variant_filters(p, applies="(both the tested variants and, without --grm-bfile, the "
                        "variants of the kinship or step-1 model, as PLINK 2's --extract and "
                        "BOLT-LMM's --exclude; for another model set give --grm-bfile)")
    p.add_argument("--chr", metavar="LIST", help="test only these chromosomes, e.g. 1-3,5,X")
    p.add_argument("--range", metavar="CHR:START-END", help="test only this region")
    p.add_argument("--maf", type=float, help="minimum minor-allele frequency")
    p.add_argument("--geno", type=float, help="maximum fraction of missing calls per variant")
    p.add_argument("--hwe", type=float, help="Hardy-Weinberg exact test p-value threshold")
    p.add_argument("--info", type=float, help="minimum imputation INFO (BGEN)")
    p.add_argument("--grm-bfile", metavar="PREFIX",
                   help="genotypes defining the genetic similarity (default: the test "
                        "genotypes after QC)")
    p.add_argument("--no-loco", action="store_true",
                   help="one similarity for all chromosomes (default: leave one chromosome out)")
    p.add_argument("--linear", action="store_true",
                   help="ordinary least squares with covariates (PLINK2 --glm), no random effect")
    ml = p.add_mutually_exclusive_group()
    ml.add_argument("--reml", dest="reml", action="store_true", default=True,
                    help="restricted maximum likelihood for the variance components (default)")
    ml.add_argument("--ml", dest="reml", action="store_false", help="maximum likelihood")
    p.add_argument("--mode", choices=["exact", "scalable", "auto"], default="auto",
                   help="exact: FaST-LMM mathematics (eigendecompositions); scalable: "
                        "BOLT-LMM-inf in two steps, linear in N and M; auto: scalable from "
                        f"{AUTO_MIN_INDIVIDUALS:,} individuals in the genotype file on, else "
                        "exact")
    p.add_argument("--step1-out", metavar="FILE.npz",
                   help="scalable mode: save step 1 (LOCO solutions, variance components)")
    p.add_argument("--step1-in", metavar="FILE.npz",
                   help="scalable mode: reuse a saved step 1 and run step 2 only")
    p.add_argument("--step1-only", action="store_true",
                   help="scalable mode: fit step 1, save it (--step1-out) and test nothing; "
                   "then scatter step 2 over chunks with --step1-in")
    p.add_argument("--binary", metavar="auto|none|NAMES", default="auto",
                   help="case-control phenotypes: auto (two levels 0/1, or PLINK's 1/2 with "
                        "-9 missing), none (every phenotype quantitative, the LMM on the 0/1 "
                        "scale), or a comma-separated list of names (1/2 coding may then use 0 "
                        "for missing); tested by logistic models, beta and SE on the log-odds "
                        "scale")
    bt = p.add_mutually_exclusive_group()
    bt.add_argument("--binary-test", choices=["firth", "spa", "score", "logistic"],
                    default="firth",
                    help="case-control test: score test with, for score p < 0.05, REGENIE's "
                         "approximate Firth likelihood-ratio test (firth, default) or the "
                         "saddle-point approximation (spa), or uncorrected (score); with "
                         "--linear, firth is the Firth-penalised logistic regression of every "
                         "variant (PLINK 2 --glm firth) and logistic the unpenalised one "
                         "(--glm no-firth)")
    bt.add_argument("--firth", dest="binary_test", action="store_const", const="firth",
                    help="same as --binary-test firth")
    bt.add_argument("--spa", dest="binary_test", action="store_const", const="spa",
                    help="same as --binary-test spa")
    p.add_argument("--block-size", type=int, default=1000,
                   help="variants per block (and per resumable chunk)")
    add_run_options(p, out="output prefix",
                    threads="worker threads, each with one BLAS thread; the outputs are the "
                    "same for any number")
    return p


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def parse_range(text: str) -> tuple[int, int, int]:
    """``CHR:START-END`` -> (chromosome code, start, end)."""
    m = re.fullmatch(r"\s*([^:\s]+):(\d+)-(\d+)\s*", text)
    if not m:
        raise InputError(f"--range {text!r}: expected CHR:START-END, e.g. 3:1000000-2000000")
    c = normalise_chromosome(m.group(1), source="--range")
    a, b = int(m.group(2)), int(m.group(3))
    if b < a:
        raise InputError(f"--range {text!r}: end before start")
    return c, a, b


def _binary_spec(text: str) -> str | list[str]:
    """``--binary``: ``auto``, ``none`` or the list of names."""
    t = text.strip()
    if t in ("auto", "none"):
        return t
    names = [n.strip() for n in t.split(",") if n.strip()]
    if not names:
        raise InputError(f"--binary {text!r}: expected auto, none or phenotype names")
    return names


def _choose_mode(args: argparse.Namespace) -> str:
    """``exact`` or ``scalable`` (``auto``: by the number of individuals in the genotypes)."""
    if args.mode != "auto":
        return args.mode
    from ..gwas.scalable.engine import choose_mode
    from ..io.genotypes import open_genotypes

    source = open_genotypes(bfile=args.bfile, pfile=args.pfile, bgen=args.bgen, sample=args.sample)
    return choose_mode(n_individuals=len(source.samples))


def main(argv: Sequence[str] | None = None) -> int:
    from ..gwas.engine import GwasOptions, run_gwas
    from ..gwas.lmm import STATISTIC

    args = parse_args(argv)
    args.threads = check_threads(args.threads)
    if args.sample and not args.bgen:
        raise InputError("--sample goes with --bgen")
    with RunLog(args.out + ".log", tool=TOOL, argv=argv) as log:
        chroms = parse_chromosome_list(args.chr) if args.chr else None
        region = parse_range(args.range) if args.range else None
        for name, val, lo, hi in (("--maf", args.maf, 0, 0.5), ("--geno", args.geno, 0, 1),
                                  ("--hwe", args.hwe, 0, 1), ("--info", args.info, 0, 1)):
            if val is not None and not lo <= val <= hi:
                raise InputError(f"{name} {val}: must lie in [{lo}, {hi}]")
        opts = GwasOptions(out=args.out, pheno=args.pheno, bfile=args.bfile, pfile=args.pfile,
                           bgen=args.bgen, sample=args.sample, extract=args.extract,
                           exclude=args.exclude, pheno_names=args.pheno_name,
                           covar=args.covar, covar_names=args.covar_name, keep=args.keep,
                           remove=args.remove, chromosomes=chroms, region=region, maf=args.maf,
                           geno=args.geno, hwe=args.hwe, info=args.info,
                           grm_bfile=args.grm_bfile, loco=not args.no_loco, linear=args.linear,
                           reml=args.reml, block_size=args.block_size,
                           binary=_binary_spec(args.binary), binary_test=args.binary_test,
                           threads=args.threads,
                           overwrite=args.overwrite, progress=not args.no_progress)
        mode = _choose_mode(args)
        if (args.step1_out or args.step1_in or args.step1_only) and mode != "scalable":
            raise InputError("--step1-out/--step1-in/--step1-only go with --mode scalable")
        if args.linear:
            log.info("model: ordinary least squares with covariates (--linear, PLINK2 --glm "
                     "semantics); t test with N - D - 1 degrees of freedom")
        elif mode == "scalable":
            from ..gwas.scalable.engine import STATISTIC as SCALABLE_STATISTIC
            log.info(f"mode: scalable ({'requested' if args.mode == 'scalable' else 'auto'}); "
                     f"{'leave-one-chromosome-out' if opts.loco else 'one'} similarity")
            log.info("statistic: " + SCALABLE_STATISTIC)
        else:
            log.info(f"mode: exact ({'requested' if args.mode == 'exact' else 'auto'}); "
                     f"variance components by {'REML' if args.reml else 'ML'}; "
                     f"{'leave-one-chromosome-out' if opts.loco else 'one'} similarity")
            log.info("statistic: " + STATISTIC)
        if opts.binary != "none":
            from ..gwas.binary.block import LINEAR_FIRTH_NOTE, TEST_NOTES
            note = (LINEAR_FIRTH_NOTE if args.linear and args.binary_test == "firth"
                    else TEST_NOTES[args.binary_test])
            if args.binary_test == "logistic" and not args.linear:
                raise InputError("--binary-test logistic goes with --linear (mixed models use "
                                 "the score test: firth, spa or score)")
            log.info(f"case-control phenotypes (--binary {args.binary}): {note}"
                     + ("" if args.linear else "; the leave-one-out LOCO polygenic "
                        "prediction of the linear mixed model (0/1 scale) is a covariate of "
                        "the logistic null model"))
        log.info(f"threads: {args.threads}")
        if mode == "scalable" and not args.linear:
            from ..gwas.scalable.engine import run_gwas_scalable
            summary = run_gwas_scalable(opts, log=log, step1_out=args.step1_out,
                                        step1_in=args.step1_in, step1_only=args.step1_only)
        else:
            summary = run_gwas(opts, log=log)
        for name, path in summary.sumstats.items():
            log.info(f"wrote {path}")
        if summary.nullmodel:
            log.info(f"wrote {summary.nullmodel}")
        for step, sec in summary.timings.items():
            log.info(f"time {step}: {sec:.2f}s")
    return 0
