#!/usr/bin/env python3
"""Is a GWAS of learned phenotypes calibrated on individuals the encoder was trained on?

A null setting, then ContIG pretrained with every genetic modality (raw SNPs, PGS, burden),
embedding, and a GWAS of the embedding PCs separately on the individuals used in pretraining
(``split.tsv``: train) and on those held out (val), each with the group's min-P x K and the
omnibus test (contig_gwas.omnibus). Under the null no variant affects the images, so lambda GC
should be ~1 and no locus should reach 5e-8 on either split; an encoder that memorised its
training genotypes would show inflation on the training individuals only.

Null settings (``--null``):
  permute  images assigned to the wrong individuals: the manifest's IIDs permuted among
           individuals of a simulated cohort (default parameters, planted effects and all), so
           an individual's images are another's; pretraining, embedding and GWAS all use the
           permuted manifest. Nothing genetic links an image to the genotypes it is paired
           with except what the encoder memorises.
  h2-0     a null cohort (``contig-simulate --h2 0``): no variant affects any trait; ancestry
           still shapes the images (the GWAS adjusts for the cohort's PCs).

    .venv/bin/python bench/null_calibration.py                         # seeds 1 2, permute
    .venv/bin/python bench/null_calibration.py --null permute h2-0 --seeds 1 2 3
    .venv/bin/python bench/null_calibration.py --n-individuals 2000 --n-snps 20000 --epochs 15

Pretraining follows the demo's ContIG settings (workflows/config/config.yaml: tiny backbone,
hidden width 256, lr 2e-3, genetic dropout raw=0.8,burden=0.5); ``--genetic-dropout none``
trains without it (more room to memorise). Time (2026-12-06, AMD EPYC, 2 cores shared with
other jobs, load ~10, --threads 1): 2 to 4 minutes per seed and null at the defaults (1,000
individuals, 6,000 SNPs, 10 epochs), 18 minutes for ``--null permute h2-0 --seeds 1 2 3``; with
``--genetic-dropout none --epochs 30`` 3 to 5 minutes per seed. Finished steps of a seed are
not rerun (delete its folder to redo it). Writes OUT/<null>/seed<k>/ (cohort, pretraining,
embedding, GWAS per split), OUT/null_calibration.tsv (one row per null, seed, split and test)
and prints the table.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from science import group_tests  # noqa: E402

from contig_gwas.report.loci import ClumpParams  # noqa: E402

BIN = ROOT / "bin"


def tool(name: str, *args: str, log: Path) -> None:
    """Run ``bin/<name>`` with this interpreter; output to ``log``; raise on failure."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as fh:
        r = subprocess.run([sys.executable, str(BIN / name), *args], stdout=fh,
                           stderr=subprocess.STDOUT)
    if r.returncode:
        raise SystemExit(f"{name} failed (exit {r.returncode}); see {log}")


def permute_manifest(src: Path, dst: Path, *, seed: int) -> None:
    """The manifest with its IIDs permuted among individuals (all images of one individual
    go to one other individual)."""
    m = pd.read_csv(src, sep="\t", dtype=str)
    iids = m["IID"].drop_duplicates().to_numpy()
    perm = np.random.default_rng(seed).permutation(len(iids))
    m["IID"] = m["IID"].map(dict(zip(iids, iids[perm])))
    m.to_csv(dst, sep="\t", index=False)


def run_seed(*, null: str, seed: int, out: Path, a: argparse.Namespace) -> pd.DataFrame:
    d = out / null / f"seed{seed}"
    cohort = d / "cohort"
    if not (cohort / "truth.json").exists():
        sim = ["--out", str(cohort), "--seed", str(seed), "--n-individuals",
               str(a.n_individuals), "--n-snps", str(a.n_snps), "--n-chromosomes",
               str(a.n_chromosomes), "--image-size", str(a.image_size), "--no-progress",
               "--overwrite"]
        tool("contig-simulate", *sim, *(["--h2", "0"] if null == "h2-0" else []),
             log=d / "logs" / "simulate.log")
    manifest = cohort / "manifest.tsv"
    if null == "permute":
        manifest = cohort / "manifest.permuted.tsv"   # image paths are relative to it
        permute_manifest(cohort / "manifest.tsv", manifest, seed=seed + 1000)
    pre = d / "pretrain"
    if not (pre / "split.tsv").exists():
        args = ["--manifest", str(manifest), "--bfile", str(cohort / "genotypes"),
                "--pgs", str(cohort / "pgs.tsv"), "--burden", str(cohort / "burden.tsv"),
                "--modalities", "raw", "pgs", "burden", "--method", "contig",
                "--aggregate", "outer", "--backbone", "tiny", "--image-size",
                str(a.image_size), "--hidden-dim", "256", "--epochs", str(a.epochs),
                "--batch-size", "128", "--lr", "2e-3", "--val-fraction", str(a.val_fraction),
                "--seed", str(seed), "--device", "cpu", "--threads", str(a.threads),
                "--no-progress", "--out", str(pre), "--overwrite"]
        if a.genetic_dropout != "none":
            args += ["--genetic-dropout", a.genetic_dropout]
        tool("contig-pretrain", *args, log=d / "logs" / "pretrain.log")
    emb = d / "embed" / "contig"
    if not Path(f"{emb}.pheno.tsv").exists():
        tool("contig-embed", "--checkpoint", str(pre), "--manifest", str(manifest),
             "--covar", str(cohort / "covariates.tsv"), "--int", "adjusted", "--n-pcs",
             str(a.n_pcs), "--image-size", str(a.image_size), "--threads", str(a.threads),
             "--no-progress", "--out", str(emb), "--overwrite", log=d / "logs" / "embed.log")
    split = pd.read_csv(pre / "split.tsv", sep="\t", dtype=str)
    fam = pd.read_csv(cohort / "genotypes.fam", sep=r"\s+", header=None, dtype=str)
    fid = dict(zip(fam[1], fam[0]))
    names = {"train": "pretrained", "val": "held_out"}
    for s, name in names.items():
        keep = d / f"keep.{name}.txt"
        ids = split.loc[split["split"] == s, "IID"]
        keep.write_text("".join(f"{fid.get(i, i)}\t{i}\n" for i in ids))
        gdir = d / "gwas" / name
        if not list(gdir.glob("*.sumstats.tsv.gz")):
            tool("contig-gwas", "--bfile", str(cohort / "genotypes"), "--pheno",
                 f"{emb}.pheno.tsv", "--covar", str(cohort / "covariates.tsv"), "--covar-name",
                 "sex", "age", "PC1-PC10", "--keep", str(keep), "--mode", "exact",
                 "--threads", str(a.threads), "--no-progress", "--out",
                 str(gdir / "contig"), "--overwrite", log=d / "logs" / f"gwas.{name}.log")
    from contig_gwas.io.genotypes import open_genotypes

    t = group_tests(sumstats_dir=d / "gwas", params=ClumpParams(p1=a.p1, kb=250),
                    genotypes=open_genotypes(bfile=str(cohort / "genotypes")),
                    keep_groups=list(names.values()))
    n_ind = {name: int((split["split"] == s).sum()) for s, name in names.items()}
    t["individuals"] = t["group"].map(n_ind)
    t["mean_pc_lambda_gc"] = t["group"].map(
        {name: pc_lambda(d / "gwas" / name) for name in names.values()})
    return t.rename(columns={"group": "individuals_set"}).assign(null=null, seed=seed)


def pc_lambda(gdir: Path) -> float:
    """Mean lambda GC of the single-PC scans of one split."""
    from contig_gwas.genomic_control import lambda_gc
    from contig_gwas.io.sumstats import read_sumstats

    return float(np.mean([lambda_gc(read_sumstats(f)["neg_log10_p_value"].to_numpy())
                          for f in sorted(gdir.glob("*.sumstats.tsv.gz"))]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--null", nargs="+", default=["permute"], choices=["permute", "h2-0"])
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    p.add_argument("--out", type=Path, default=ROOT / "bench_out" / "null_calibration")
    p.add_argument("--n-individuals", type=int, default=1000)
    p.add_argument("--n-snps", type=int, default=6000)
    p.add_argument("--n-chromosomes", type=int, default=3)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--val-fraction", type=float, default=0.5,
                   help="share of individuals held out of pretraining (GWAS'd separately)")
    p.add_argument("--genetic-dropout", default="raw=0.8,burden=0.5",
                   help="contig-pretrain --genetic-dropout (the demo's); 'none' for none")
    p.add_argument("--n-pcs", type=int, default=10)
    p.add_argument("--p1", type=float, default=5e-8)
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    a = p.parse_args(argv)
    print(f"CPU: {cpu_model()}; {a.threads} threads; load {os.getloadavg()[0]:.1f}", flush=True)
    rows = []
    for null in a.null:
        for seed in a.seeds:
            t0 = time.perf_counter()
            rows.append(run_seed(null=null, seed=seed, out=a.out, a=a))
            print(f"{null} seed {seed}: {time.perf_counter() - t0:.0f} s", flush=True)
    long = pd.concat(rows, ignore_index=True)
    cols = ["null", "seed", "individuals_set", "individuals", "test", "phenotypes",
            "mean_pc_lambda_gc", "lambda_gc", "lambda_df", "loci", "df", "max_abs_offdiag_C"]
    long = long[cols]
    a.out.mkdir(parents=True, exist_ok=True)
    long.to_csv(a.out / "null_calibration.tsv", sep="\t", index=False, float_format="%.4g")
    print()
    print(f"null calibration: ContIG (raw + PGS + burden), {a.n_individuals} individuals "
          f"({a.val_fraction:g} held out of pretraining), {a.n_snps} SNPs, {a.epochs} epochs; "
          f"lambda GC and loci at p < {a.p1:g}")
    print(long.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    agg = (long.groupby(["null", "individuals_set", "test"], sort=False)
           .agg(seeds=("seed", "count"), lambda_gc_mean=("lambda_gc", "mean"),
                lambda_gc_sd=("lambda_gc", "std"), lambda_df_mean=("lambda_df", "mean"),
                pc_lambda_mean=("mean_pc_lambda_gc", "mean"),
                loci_total=("loci", "sum")).reset_index())
    print()
    print(agg.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"table: {a.out / 'null_calibration.tsv'}")
    return 0


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
