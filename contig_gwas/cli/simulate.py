"""contig-simulate: write the seeded synthetic cohort (genotypes, images, modalities, binary
diseases, a gene annotation, truth).

The cohort is written into a temporary directory beside ``--out`` and renamed onto it only when
complete, so a failed or interrupted run never leaves a half-written cohort.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

from ..errors import InputError
from ..runlog import RunLog
from ._common import make_parser

TOOL = "contig-simulate"


def build_parser() -> argparse.ArgumentParser:
    """The parser of the command line (docs/tools/contig-simulate.md is generated from it)."""
    p = make_parser(TOOL, "Simulate a synthetic biobank cohort with known truth: PLINK and BGEN "
                          "genotypes (msprime), fundus images driven by latent traits, PGS, gene "
                          "burdens, covariates, standard phenotypes, a downstream grade, "
                          "truth.json.")
    p.add_argument("--out", required=True, help="cohort directory to create")
    p.add_argument("--seed", type=int, default=1, help="random seed (same seed, same bytes)")
    p.add_argument("--n-individuals", type=int, default=2000, help="cohort size (at least 50)")
    p.add_argument("--n-snps", type=int, default=20_000, help="common variants written")
    p.add_argument("--n-chromosomes", type=int, default=5, help="chromosomes 1..C (at most 22)")
    p.add_argument("--image-size", type=int, default=64, help="image width = height (pixels)")
    p.add_argument("--related-share", type=float, default=0.1,
                   help="share of individuals in sibling pairs")
    p.add_argument("--ancestry-b-share", type=float, default=0.15,
                   help="share of individuals from the second ancestry group")
    p.add_argument("--n-causal", type=int, default=None,
                   help="major causal variants per trait (default: 3, or 0 under --h2 0); 0 "
                   "plants none: the genetic effect is then the polygenic background and the "
                   "effect genes alone, and truth.json's causal_variants lists are empty")
    p.add_argument("--causal-variance", type=float, default=0.04,
                   help="share of trait variance explained by each major causal variant")
    p.add_argument("--h2", type=float, default=None,
                   help="heritability of every latent trait, in [0, 1) (default: per-trait "
                   "values); 0 writes a null cohort for checking the type-1 error of learned "
                   "phenotypes: no variant or gene affects any trait, so the images, standard "
                   "phenotypes and downstream grade carry no genetic effect and the PGS only "
                   "estimation noise; the age, sex and ancestry-group effects remain (adjust "
                   "for the PCs, or pass --ancestry-b-share 0); truth.json says \"null\": true")
    p.add_argument("--n-polygenic", type=int, default=500,
                   help="polygenic background variants per trait")
    p.add_argument("--pgs-noise", type=float, default=0.2,
                   help="variance of the PGS estimation error, in trait-variance units (the "
                   "external GWAS behind the PGS: 0 = true genetic values of the written "
                   "variants; 1 = a small GWAS)")
    p.add_argument("--missing-rate", type=float, default=0.02, help="share of missing calls")
    p.add_argument("--n-genes", type=int, default=40, help="genes in the burden modality")
    dis = p.add_mutually_exclusive_group()
    dis.add_argument("--diseases", nargs="+", metavar="NAME=K:TRAIT[:R]",
                     help="binary diseases written to diseases.tsv (1 = control, 2 = case): "
                     "the round(K x N) individuals of highest liability R x TRAIT (the "
                     "standardised latent trait) + noise are the cases (K: the prevalence; R: "
                     "the loading, default 0.8) (default: disease_common=0.2:vessel "
                     "disease_rare=0.02:lipid)")
    dis.add_argument("--no-diseases", action="store_true",
                     help="write no diseases (every other file is unchanged)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="always show progress bars (default: only on a terminal)")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    return p


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    from ..simulate import CohortParameters, simulate_cohort
    from ..simulate.diseases import DISEASES, parse_disease

    args = parse_args(argv)
    diseases = (() if args.no_diseases else DISEASES if args.diseases is None
                else tuple(parse_disease(d) for d in args.diseases))
    options = dict(related_share=args.related_share, ancestry_b_share=args.ancestry_b_share,
                   n_causal=args.n_causal, causal_variance=args.causal_variance, h2=args.h2,
                   n_polygenic=args.n_polygenic, missing_rate=args.missing_rate,
                   n_genes=args.n_genes, pgs_noise=args.pgs_noise, diseases=diseases)
    CohortParameters(seed=args.seed, n_individuals=args.n_individuals, n_snps=args.n_snps,
                     n_chromosomes=args.n_chromosomes, image_size=args.image_size,
                     **options).validate()
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a directory")
    if out.exists() and any(out.iterdir()):
        if not args.overwrite:
            raise InputError(f"output exists: {out}; pass --overwrite to replace it")
        if not (out / "truth.json").exists():
            # --overwrite deletes the directory: only ever a cohort this tool wrote
            raise InputError(f"{out}: not empty and not a simulated cohort (no truth.json); "
                             f"refusing to replace it, even with --overwrite")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent))
    try:
        with RunLog(tmp / "simulate.log", tool=TOOL, argv=argv) as log:
            truth = simulate_cohort(out_dir=tmp / "cohort", seed=args.seed,
                                    n_individuals=args.n_individuals, n_snps=args.n_snps,
                                    n_chromosomes=args.n_chromosomes, image_size=args.image_size,
                                    log=log, progress=args.progress, **options)
            os.replace(tmp / "simulate.log", tmp / "cohort" / "simulate.log")  # open handle follows
            if out.exists():
                shutil.rmtree(out)
            os.replace(tmp / "cohort", out)
            log.info(f"cohort written to {out}: {truth.truth['n_individuals']} individuals, "
                     f"{truth.truth['n_variants']} variants, {truth.truth['n_images']} images")
    except BaseException:
        failed = tmp / "simulate.log"
        if failed.exists():
            keep = out.parent / f"{out.name}.simulate-failed.log"
            shutil.copyfile(failed, keep)
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0
