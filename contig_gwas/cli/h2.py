"""contig-h2: heritability with standard errors for every phenotype, and genetic correlation.

Reads genotypes (PLINK or BGEN: the standardised kinship of the GWAS engine is built from them)
or a precomputed GCTA binary GRM, phenotype table(s) and covariates; writes ``PREFIX.h2.tsv``
(phenotype, n, h2, se, sg2, se2, method, converged, flag; with a binary phenotype also
sample_prevalence, prevalence, h2_liability, se_liability), with ``--rg`` ``PREFIX.rg.tsv``
(pheno1, pheno2, rg, se, p, n, method, flag), and ``PREFIX.log``.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..defaults import REML_MAX_N
from ..errors import InputError
from ..outputs import atomic_path, refuse_to_overwrite
from ..runlog import RunLog
from ._common import (
    add_genotype_options,
    add_name_list,
    add_run_options,
    add_variant_filters,
    check_threads,
    make_parser,
)

TOOL = "contig-h2"
#: columns written by contig-embed (and raw embedding columns) count as learned phenotypes
LEARNED = re.compile(r"^(PC_\d+|emb_\d+)$")


def build_parser() -> argparse.ArgumentParser:
    """The parser of the command line (docs/tools/contig-h2.md is generated from it)."""
    p = make_parser(TOOL, "REML (or Haseman-Elston) heritability with standard errors for every "
                          "phenotype, and genetic correlations, on the GWAS engine's null model.")
    src = add_genotype_options(
        p, required=True, what="the similarity is their standardised kinship after "
        "--extract/--exclude and --maf/--geno/--hwe/--info, as contig-gwas builds it")
    src.add_argument("--grm-bfile", metavar="PREFIX",
                     help="PLINK 1 genotypes defining the similarity, without QC (the same "
                          "option of contig-gwas)")
    src.add_argument("--grm", metavar="PREFIX",
                     help="precomputed GCTA binary GRM PREFIX.grm.bin + PREFIX.grm.id "
                          "(streamed for HE; read whole for REML)")
    p.add_argument("--pheno", required=True, nargs="+", metavar="FILE",
                   help="phenotype table(s) FID IID ...; several files are joined on IID")
    add_name_list(p, "--pheno-name", help="phenotype columns (default: all)")
    p.add_argument("--covar", metavar="FILE",
                   help="covariate table FID IID ... (an intercept is always added)")
    add_name_list(p, "--covar-name", help="covariate columns (default: all)")
    p.add_argument("--keep", metavar="FILE", help="keep only these individuals")
    p.add_argument("--remove", metavar="FILE", help="remove these individuals")
    add_variant_filters(p, applies="(kinship variants of --bfile/--pfile/--bgen)")
    p.add_argument("--maf", type=float, help="kinship variants: minimum minor-allele frequency")
    p.add_argument("--geno", type=float, help="kinship variants: maximum missing-call fraction")
    p.add_argument("--hwe", type=float, help="kinship variants: Hardy-Weinberg p threshold")
    p.add_argument("--info", type=float, help="kinship variants: minimum INFO (BGEN)")
    p.add_argument("--method", choices=["reml", "he", "auto"], default="auto",
                   help="auto: REML up to --reml-max-n individuals, Haseman-Elston above")
    p.add_argument("--reml-max-n", type=int, default=REML_MAX_N, metavar="N",
                   help="largest cohort for REML under --method auto")
    p.add_argument("--prevalence", nargs="+", metavar="NAME=K",
                   help="population prevalence K of binary phenotypes (two levels, 0/1 or 1/2 = "
                        "control/case): their h2 is also given on the liability scale (Lee et "
                        "al. 2011); a bare K applies to every other binary phenotype")
    p.add_argument("--rg", action="store_true",
                   help="genetic correlations: every learned phenotype (PC_k, emb_k) against "
                        "every other phenotype (all pairs if none is learned)")
    p.add_argument("--rg-pairs", help="file of 'pheno1 pheno2' lines restricting --rg")
    p.add_argument("--he-se", choices=["moments", "jackknife"], default="moments",
                   help="HE standard errors: Gaussian moments or delete-a-group jackknife")
    p.add_argument("--jackknife-groups", type=int, default=20, help="HE jackknife groups")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the HE jackknife groups and trace probes")
    add_run_options(p, out="output prefix", progress=False,
                    threads="BLAS threads for the kinship and eigendecompositions")
    return p


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = build_parser()
    args = p.parse_args(argv)
    if args.sample and not args.bgen:
        p.error("--sample needs --bgen")
    if (args.grm_bfile or args.grm) and any(v is not None for v in
                                            (args.maf, args.geno, args.hwe, args.info,
                                             args.extract, args.exclude)):
        p.error("--maf/--geno/--hwe/--info/--extract/--exclude filter --bfile/--pfile/--bgen "
                "genotypes; the similarity of --grm-bfile/--grm is used as given")
    if args.rg_pairs and not args.rg:
        args.rg = True
    return args


def read_phenotypes(paths: Sequence[str], *, columns: Sequence[str] | None) -> pd.DataFrame:
    """Join phenotype tables on IID (outer: absent = NaN); keep ``columns`` if given."""
    from ..io.tables import read_table, resolve_columns

    frames = []
    seen: dict[str, str] = {}
    for path in paths:
        t = read_table(path, kind="phenotype")
        for c in t.columns:
            if c in seen:
                raise InputError(f"{path}: phenotype column {c!r} also in {seen[c]}")
            seen[c] = path
        frames.append(t.values)
    df = frames[0]
    for f in frames[1:]:
        df = df.join(f, how="outer")
    if columns is not None:
        df = df[resolve_columns(columns, list(df.columns), source=", ".join(paths))]
    return df


def read_rg_pairs(path: str, *, names: Sequence[str]) -> list[tuple[str, str]]:
    """Pairs from a file of ``pheno1 pheno2`` lines (an optional header ``pheno1 pheno2``);
    an empty file means no pairs (an empty ``.rg.tsv``)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: --rg-pairs file not found")
    pairs = []
    from ..io.text import read_text

    for k, line in enumerate(read_text(p, what="--rg-pairs file").split("\n"), 1):
        f = line.split()
        if not f or f[0].startswith("#") or (k == 1 and f == ["pheno1", "pheno2"]):
            continue
        if len(f) != 2:
            raise InputError(f"{p}: line {k}: expected two phenotype names, got {len(f)} fields")
        for x in f:
            if x not in names:
                raise InputError(f"{p}: line {k}: no phenotype {x!r} (phenotypes are "
                                 f"{list(names)})")
        if f[0] == f[1]:
            raise InputError(f"{p}: line {k}: a phenotype paired with itself ({f[0]})")
        pairs.append((f[0], f[1]))
    return pairs


def default_rg_pairs(names: Sequence[str]) -> list[tuple[str, str]]:
    """Every learned phenotype against every other one (each unordered pair once); all pairs
    when no phenotype is learned."""
    learned = [n for n in names if LEARNED.match(n)]
    pairs = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if not learned or a in learned or b in learned:
                pairs.append((a, b))
    return pairs


def kinship_variants(source, *, rows: np.ndarray, maf: float | None, geno: float | None,
                     hwe: float | None, info: float | None, log: RunLog) -> np.ndarray:
    """Indices of the variants entering the kinship: all, or those passing the GWAS engine's
    QC (``gwas.qc.variant_qc``) over the aligned individuals, as contig-gwas filters them."""
    allv = np.arange(len(source.variants))
    if all(v is None for v in (maf, geno, hwe, info)):
        return allv
    from ..gwas.qc import variant_qc

    kept = []
    removed: dict[str, int] = {}
    for block in source.iter_blocks(samples=rows, block_size=2000):
        qc = variant_qc(dosages=block.dosages, info=block.info, maf=maf, geno=geno, hwe=hwe,
                        min_info=info)
        kept.append(block.start + np.flatnonzero(qc.keep))
        for k, v in qc.counts().items():
            removed[k] = removed.get(k, 0) + v
    kept_idx = np.concatenate(kept) if kept else allv[:0]
    log.info(f"kinship variant QC: {len(kept_idx)} of {len(allv)} kept; removed "
             + ", ".join(f"{k} {v}" for k, v in removed.items()))
    if len(kept_idx) == 0:
        raise InputError(f"{source.path}: no variant passes --maf/--geno/--hwe/--info")
    return kept_idx


def main(argv: Sequence[str] | None = None) -> int:
    from ..heritability.estimate import (
        GctaGrmSimilarity,
        GenotypeSimilarity,
        choose_method,
        estimate_heritability,
    )
    from ..heritability.grm_io import read_gcta_grm_ids
    from ..heritability.liability import (
        parse_prevalences,
        resolve_prevalences,
        sample_prevalences,
    )
    from ..heritability.similarity import Similarity
    from ..io.align import align_samples
    from ..io.tables import read_id_list, read_table

    args = parse_args(argv)
    args.threads = check_threads(args.threads)
    prevalence = parse_prevalences(args.prevalence or [])
    out_h2 = Path(args.out + ".h2.tsv")
    out_rg = Path(args.out + ".rg.tsv")
    outputs = [out_h2] + ([out_rg] if args.rg else [])
    refuse_to_overwrite(outputs, overwrite=args.overwrite)
    with RunLog(args.out + ".log", tool=TOOL, argv=argv) as log:
        with log.step("read inputs"):
            pheno = read_phenotypes(args.pheno, columns=args.pheno_name)
            log.info(f"phenotypes: {pheno.shape[1]} columns, {pheno.shape[0]} individuals")
            # a --prevalence naming no binary phenotype stops here, before the kinship
            resolve_prevalences(prevalence, names=[str(c) for c in pheno.columns],
                                binary=list(sample_prevalences(pheno.to_numpy(dtype=np.float64),
                                                               [str(c) for c in pheno.columns])))
            covar = None
            if args.covar:
                ct = read_table(args.covar, kind="covariate", columns=args.covar_name)
                for note in ct.notes:
                    log.info(f"{args.covar}: {note}")
                complete = ~ct.values.isna().any(axis=1)
                if (~complete).any():
                    log.info(f"{args.covar}: {int((~complete).sum())} individuals with a missing "
                             f"covariate dropped")
                covar = ct.values[complete.to_numpy()]
            source = None
            if args.grm:
                _, geno_iid = read_gcta_grm_ids(args.grm)
                geno_label = args.grm + ".grm.id"
            else:
                from ..io.genotypes import open_genotypes

                source = open_genotypes(bfile=args.bfile or args.grm_bfile, pfile=args.pfile,
                                        bgen=args.bgen, sample=args.sample,
                                        extract=args.extract, exclude=args.exclude)
                geno_iid = source.samples["IID"].to_numpy(dtype=str)
                geno_label = source.path
            # as contig-gwas: every individual of the phenotype table(s) (variant QC runs over
            # them; each phenotype then uses those where it is observed)
            sources = {geno_label: geno_iid, "phenotypes": pheno.index.to_numpy(dtype=str)}
            if covar is not None:
                sources[args.covar] = covar.index.to_numpy(dtype=str)
            keep = read_id_list(args.keep) if args.keep else None
            remove = read_id_list(args.remove) if args.remove else None
            al = align_samples(sources, keep=keep, remove=remove, min_overlap=3)
            for line in al.report:
                log.info(line)
        Y = pheno.loc[al.iid]
        X = None if covar is None else covar.loc[al.iid].to_numpy(dtype=np.float64)
        cnames = [] if covar is None else list(covar.columns)
        method = choose_method(args.method, n=al.n, reml_max_n=args.reml_max_n)
        similarity: Similarity
        with log.step("similarity"):
            if args.grm:
                similarity = GctaGrmSimilarity(args.grm, index=al.index[geno_label])
            else:
                rows = al.index[geno_label]
                variants = kinship_variants(source, rows=rows, maf=args.maf, geno=args.geno,
                                            hwe=args.hwe, info=args.info, log=log)
                similarity = GenotypeSimilarity(source, rows=rows, variants=variants)
                log.info(f"kinship: {len(variants)} variants, standardised over each phenotype "
                         f"group's individuals (as contig-gwas builds it)")
        pairs: list[tuple[str, str]] = []
        if args.rg:
            names = [str(c) for c in Y.columns]
            pairs = (read_rg_pairs(args.rg_pairs, names=names) if args.rg_pairs
                     else default_rg_pairs(names))
            log.info(f"genetic correlation: {len(pairs)} pairs")
            if not pairs:
                log.warning(f"{args.rg_pairs or 'phenotypes'}: no phenotype pairs for --rg")
        from threadpoolctl import threadpool_limits

        with log.step(f"estimate ({method})"), threadpool_limits(limits=args.threads):
            est = estimate_heritability(Y=Y, similarity=similarity, covar=X, covar_names=cnames,
                                        method=method, rg_pairs=pairs,
                                        reml_max_n=args.reml_max_n,
                                        he_groups=args.jackknife_groups, he_se=args.he_se,
                                        seed=args.seed, prevalence=prevalence)
        for note in est.notes:
            log.info(note)
        for r in est.h2:
            log.info(r.summary())
            if r.flag != "ok":
                log.warning(f"{r.phenotype}: {r.flag}")
        for lia in est.liability.values():
            log.info(lia.summary())
        for rg in est.rg:
            log.info(rg.summary())
        with atomic_path(out_h2) as tmp:
            est.h2_frame().to_csv(tmp, sep="\t", index=False, na_rep="NA", float_format="%.6g")
        log.info(f"wrote {out_h2}")
        if args.rg:
            with atomic_path(out_rg) as tmp:
                est.rg_frame().to_csv(tmp, sep="\t", index=False, na_rep="NA",
                                      float_format="%.6g")
            log.info(f"wrote {out_rg}")
    return 0
