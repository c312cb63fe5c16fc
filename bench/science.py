#!/usr/bin/env python3
"""Does ContIG find more genetics than the baselines? The demo study over several seeds.

Runs the workflow (workflows/Snakefile) with the demo config once per seed (the cohort's and
the pretraining's seed both set to it), then prints, per method (ContIG, SimCLR, random-init,
standard phenotypes, and with ``--methods`` the paper's other image-only baselines), the mean
and SD over seeds of the planted loci recovered at the report's threshold (5e-8),
false-positive loci, all loci and the mean h2 of the phenotypes, and on how many seeds ContIG
recovered more planted loci than each other method. With ``--evaluate`` each seed's encoders
also go through contig-evaluate on the cohort's downstream grade (quadratic-weighted kappa of
the linear probe and/or fine-tuning, over 3 splits by person), and the kappas are compared the
same way.

    .venv/bin/python bench/science.py                       # seeds 1 2 3, 2 cores
    .venv/bin/python bench/science.py --seeds 1 2 3 4 5 --cores 8 --out bench_out/science
    .venv/bin/python bench/science.py --config workflows/config/test.yaml   # quick smoke run
    .venv/bin/python bench/science.py --methods all --evaluate probe,finetune   # every baseline

Time: one demo run per seed, so for the default 3 seeds three demo runs of about 15 minutes
on 2 cores (14.4 CPU-minutes each): about 45 minutes in all, seed 1 being the demo itself. With
the stronger default cohort and 15 pretraining epochs (2026-11-26), pinned to one core of a
shared machine (`taskset -c 1 ... --cores 1`): seed 1 (the demo) 8.4 minutes, seeds 2 and 3
20.5 minutes together (seed 2 shared the core with the test suite). The smoke run with the tiny
config (2 seeds, 1 core, same shared machine) took 16 minutes. With ``--methods all --evaluate
probe,finetune`` (7 encoders, 2 cores, 2026-12-06): 7.3 minutes per seed for the study and 2.7
for the evaluation, 30 minutes for 3 seeds. Finished seeds are not rerun (Snakemake skips
complete work; an evaluation with a summary.tsv is kept).
With every seed, the group scans are also tested with the omnibus test (contig_gwas.omnibus,
MOSTest: z' C^-1 z over the group's phenotypes) and clumped as the report clumps min-P x K
(same threshold, window and LD): planted loci recovered and false positives of both.
Writes OUT/seed<k>/ (each a complete study), OUT/per_seed.tsv, OUT/science.tsv,
OUT/omnibus_per_seed.tsv and OUT/omnibus.tsv; with
``--evaluate`` also OUT/seed<k>/evaluate/ (contig-evaluate's outputs), OUT/kappa_per_seed.tsv
and OUT/kappa.tsv.
"""

from __future__ import annotations

import argparse
import copy
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from contig_gwas.chrom import normalise_chromosomes  # noqa: E402
from contig_gwas.genomic_control import lambda_gc  # noqa: E402
from contig_gwas.io.sumstats import read_sumstats  # noqa: E402
from contig_gwas.omnibus import lambda_df, omnibus_table  # noqa: E402
from contig_gwas.report.loci import ClumpParams, clump_table  # noqa: E402
from contig_gwas.report.stats import GroupCombiner  # noqa: E402
from contig_gwas.report.truth import read_truth, truth_recovery  # noqa: E402
from contig_gwas.workflow.summary import aggregate_seeds  # noqa: E402

#: the image-only baselines --methods can add to the config's models, with their labels
BASELINES = {"simclr": "SimCLR", "byol": "BYOL", "simsiam": "SimSiam",
             "barlowtwins": "Barlow Twins", "nnclr": "NNCLR"}


def with_methods(base: dict, methods: list[str]) -> dict:
    """``base`` with a model per method in ``methods`` that it does not already train."""
    cfg = copy.deepcopy(base)
    have = {m.get("method") for m in cfg["models"].values()}
    for method in methods:
        if method not in have:
            cfg["models"][method] = {"method": method, "label": BASELINES[method]}
    return cfg


def run_seed(*, seed: int, base: dict, out: Path, cores: int, snakemake_args: list[str]) -> float:
    """Run the study for one seed into ``out``; returns the wall time in seconds."""
    cfg = yaml.safe_load(yaml.safe_dump(base))
    cfg["cohort"]["simulate"]["seed"] = seed
    cfg.setdefault("pretrain", {})["seed"] = seed
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "workflows" / "Snakefile"),
           "--configfile", str(out / "config.yaml"), "--directory", str(out),
           "--cores", str(cores), "--rerun-incomplete", "--quiet", "host", "rules",
           *snakemake_args]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t0


def evaluate_seed(*, study: Path, models: dict, modes: str, epochs: int, image_size: int,
                  threads: int) -> pd.DataFrame:
    """contig-evaluate of every model of one seed's study on its cohort's downstream grade
    (skipped when its summary exists); returns the summary (model = the model's label)."""
    out = study / "evaluate"
    if not (out / "summary.tsv").exists():
        cohort = study / "results" / "cohort"
        names = list(models)
        cmd = [sys.executable, "-m", "contig_gwas.cli.evaluate", "--checkpoint",
               *(str(study / "results" / "pretrain" / m) for m in names), "--name", *names,
               "--manifest", str(cohort / "manifest.tsv"),
               "--task", str(cohort / "downstream.tsv"), "--mode", modes,
               "--epochs", str(epochs), "--image-size", str(image_size),
               "--threads", str(threads), "--out", str(out), "--overwrite"]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    summ = pd.read_csv(out / "summary.tsv", sep="\t")
    summ["model"] = [models[m].get("label", m) for m in summ["model"]]
    return summ


def group_tests(*, sumstats_dir: Path, params: ClumpParams, genotypes=None,
                truth: pd.DataFrame | None = None, keep_groups: list[str] | None = None
                ) -> pd.DataFrame:
    """min-P x K (the report's GroupCombiner) and the omnibus test (contig_gwas.omnibus) of
    every group folder ``sumstats_dir/<group>/*.sumstats.tsv.gz``, clumped alike (``params``,
    LD from ``genotypes``): one row per group and test with the phenotypes, lambda GC, loci,
    and with ``truth`` the planted loci recovered and the false-positive loci; for the
    omnibus also its degrees of freedom, null-like variants, largest |off-diagonal| of C and
    lambda on its own scale (median chi2 / median chi2_df: ``lambda_df``)."""
    rows = []
    for d in sorted(p for p in sumstats_dir.iterdir() if p.is_dir()):
        if keep_groups is not None and d.name not in keep_groups:
            continue
        files = sorted(d.glob("*.sumstats.tsv.gz"))
        if not files:
            continue
        frames = []
        comb = GroupCombiner(name=d.name, n_phenotypes=len(files))
        for f in files:
            t = read_sumstats(f)
            if not pd.api.types.is_integer_dtype(t["chromosome"]):
                t["chromosome"] = normalise_chromosomes(t["chromosome"], source=str(f))
            frames.append(t)
            comb.add(f.name.split(".")[0], t[t["neg_log10_p_value"].notna()].reset_index(
                drop=True))
        omni, res = omnibus_table(frames)
        off = res.correlation - np.eye(len(files))
        scans = {"min-P x K": (comb.result(), {}),
                 "omnibus": (omni, {"df": res.df, "null_like_variants": res.n_null_variants,
                                    "max_abs_offdiag_C": float(np.max(np.abs(off))),
                                    "lambda_df": lambda_df(chi2=res.chi2,
                                                           df=res.df_variant)})}
        for test, (table, extra) in scans.items():
            table = table[table["neg_log10_p_value"].notna()].reset_index(drop=True)
            lt, _ = clump_table(table, params=params, genotypes=genotypes)
            row = {"group": d.name, "test": test, "phenotypes": len(files),
                   "lambda_gc": lambda_gc(table["neg_log10_p_value"].to_numpy()),
                   "loci": len(lt), **extra}
            if truth is not None:
                r = truth_recovery(loci={d.name: lt}, truth=truth, kb=params.kb)
                r = r[r["trait"] == "all traits"].iloc[0]
                row.update(recovered=int(r["recovered"]), causal=int(r["causal"]),
                           false_positives=int(r["false_positive_loci"]))
            rows.append(row)
    return pd.DataFrame(rows)


def omnibus_seed(*, study: Path, p1: float, kb: float, labels: dict[str, str]) -> pd.DataFrame:
    """:func:`group_tests` of one seed's study (LD and truth from its cohort)."""
    from contig_gwas.io.genotypes import open_genotypes

    cohort = study / "results" / "cohort"
    geno = open_genotypes(bfile=str(cohort / "genotypes"))
    truth = read_truth(cohort / "truth.json")
    t = group_tests(sumstats_dir=study / "results" / "gwas" / "sumstats",
                    params=ClumpParams(p1=p1, kb=kb), genotypes=geno, truth=truth)
    return t.assign(method=[labels.get(g, g) for g in t["group"]])


def wins_line(wide: pd.DataFrame, what: str) -> list[str]:
    """On how many seeds ContIG's value in ``wide`` (seed x method) beat each other method's."""
    contig = next((m for m in wide.columns if m.lower() == "contig"), None)
    if contig is None:
        return []
    lines = []
    for other in wide.columns:
        if other == contig:
            continue
        both = wide[[contig, other]].dropna()
        wins = int((both[contig] > both[other]).sum())
        ties = int((both[contig] == both[other]).sum())
        lines.append(f"{contig} {what} than {other} on {wins} of {len(both)} seeds "
                     f"({ties} ties)")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--config", type=Path, default=ROOT / "workflows" / "config" / "config.yaml",
                   help="base study config (needs cohort.simulate)")
    p.add_argument("--out", type=Path, default=ROOT / "bench_out" / "science")
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--methods", nargs="+", default=[], metavar="METHOD",
                   choices=[*BASELINES, "all"],
                   help="image-only baselines to add to the config's models (all: "
                   f"{', '.join(BASELINES)})")
    p.add_argument("--models", nargs="+", default=None, metavar="MODEL",
                   help="keep only these models of the config (its names, e.g. contig; "
                   "after --methods adds its baselines); default: every model")
    p.add_argument("--no-run", action="store_true",
                   help="do not run the workflow: tabulate the seeds already finished in --out "
                   "(e.g. the omnibus on a study run before it existed)")
    p.add_argument("--evaluate", default=None, metavar="MODES",
                   help="also run contig-evaluate on every seed's encoders: probe, finetune or "
                   "probe,finetune (kappa of the downstream grade)")
    p.add_argument("--evaluate-epochs", type=int, default=5, help="fine-tuning epochs")
    p.add_argument("snakemake_args", nargs="*", help="further snakemake options (after --)")
    args = p.parse_args(argv)
    base = yaml.safe_load(args.config.read_text())
    if "simulate" not in base.get("cohort", {}):
        p.error(f"{args.config}: the benchmark needs a simulated cohort (cohort.simulate)")
    methods = list(BASELINES) if "all" in args.methods else args.methods
    base = with_methods(base, methods)
    if args.models:
        unknown = sorted(set(args.models) - set(base["models"]))
        if unknown:
            p.error(f"--models: {unknown} not among the config's models {list(base['models'])}")
        base["models"] = {m: v for m, v in base["models"].items() if m in args.models}

    per_seed, times = {}, {}
    for seed in args.seeds:
        d = args.out / f"seed{seed}"
        times[seed] = 0.0 if args.no_run else run_seed(
            seed=seed, base=base, out=d, cores=args.cores, snakemake_args=args.snakemake_args)
        per_seed[seed] = pd.read_csv(d / "results" / "summary" / "summary.tsv", sep="\t")
        print(f"seed {seed}: {times[seed]:.0f} s", flush=True)

    long = pd.concat([t.assign(seed=s, seconds=round(times[s])) for s, t in per_seed.items()],
                     ignore_index=True)
    long.to_csv(args.out / "per_seed.tsv", sep="\t", index=False)
    agg = aggregate_seeds(per_seed)
    agg.to_csv(args.out / "science.tsv", sep="\t", index=False, float_format="%.4g")

    wide = long.pivot(index="seed", columns="method", values="recovered")
    wide = wide[[m for m in long.method.drop_duplicates() if m in wide.columns]]
    print()
    print(f"{len(args.seeds)} seeds {args.seeds}; {sum(times.values()) / 60:.1f} min in all "
          f"on {args.cores} cores")
    print(f"{'method':<22}{'planted loci recovered':>24}{'false positives':>18}{'loci':>14}"
          f"{'mean h2':>16}")
    for r in agg.itertuples(index=False):
        print(f"{r.method:<22}"
              f"{r.recovered_mean:>12.2f} +- {r.recovered_sd:<5.2f}/{r.causal_mean:<4.0f}"
              f"{r.false_positives_mean:>10.2f} +- {r.false_positives_sd:<5.2f}"
              f"{r.loci_mean:>7.2f} +- {r.loci_sd:<5.2f}"
              f"{r.mean_h2_mean:>8.3f} +- {r.mean_h2_sd:<5.3f}")
    for line in wins_line(wide, "recovered more planted loci"):
        print(line)
    print(f"tables: {args.out / 'science.tsv'}, {args.out / 'per_seed.tsv'}")
    omnibus_summary(args=args, base=base)
    if args.evaluate:
        kappa(args=args, base=base)
    return 0


def omnibus_summary(*, args: argparse.Namespace, base: dict) -> None:
    """min-P x K against the omnibus test on every seed: planted loci recovered and false
    positives at the report's threshold, per method (mean +- SD over seeds)."""
    rep = base.get("report", {})
    p1, kb = float(rep.get("clump_p1", 5e-8)), float(rep.get("clump_kb", 250))
    labels = {m: v.get("label", m) for m, v in base["models"].items()}
    labels["standard"] = base.get("standard_phenotypes", {}).get("label", "standard phenotypes")
    per = []
    for seed in args.seeds:
        t0 = time.perf_counter()
        per.append(omnibus_seed(study=args.out / f"seed{seed}", p1=p1, kb=kb, labels=labels)
                   .assign(seed=seed))
        print(f"seed {seed}: min-P and omnibus in {time.perf_counter() - t0:.0f} s", flush=True)
    long = pd.concat(per, ignore_index=True)
    long.to_csv(args.out / "omnibus_per_seed.tsv", sep="\t", index=False, float_format="%.4g")
    agg = (long.groupby(["method", "test"], sort=False)
           .agg(seeds=("seed", "count"), recovered_mean=("recovered", "mean"),
                recovered_sd=("recovered", "std"), causal=("causal", "mean"),
                false_positives_mean=("false_positives", "mean"),
                false_positives_sd=("false_positives", "std"), loci_mean=("loci", "mean"),
                lambda_gc_mean=("lambda_gc", "mean"),
                lambda_df_mean=("lambda_df", "mean")).reset_index())
    agg.to_csv(args.out / "omnibus.tsv", sep="\t", index=False, float_format="%.4g")
    print()
    print(f"min-P x K vs the omnibus test (MOSTest), loci at p < {p1:g}, {kb:g} kb window, "
          f"mean +- SD over {len(args.seeds)} seeds")
    print(f"{'method':<22}{'test':<11}{'planted loci recovered':>24}{'false positives':>18}"
          f"{'loci':>8}{'lambda GC':>11}{'lambda_df':>11}")
    for r in agg.itertuples(index=False):
        print(f"{r.method:<22}{r.test:<11}"
              f"{r.recovered_mean:>12.2f} +- {r.recovered_sd:<5.2f}/{r.causal:<4.0f}"
              f"{r.false_positives_mean:>10.2f} +- {r.false_positives_sd:<5.2f}"
              f"{r.loci_mean:>8.2f}{r.lambda_gc_mean:>11.3f}{r.lambda_df_mean:>11.3f}")
    for method, sub in long.groupby("method", sort=False):
        w = sub.pivot(index="seed", columns="test", values="recovered")
        if {"omnibus", "min-P x K"} <= set(w.columns):
            print(f"{method}: omnibus recovered more planted loci than min-P x K on "
                  f"{int((w['omnibus'] > w['min-P x K']).sum())} of {len(w)} seeds "
                  f"({int((w['omnibus'] == w['min-P x K']).sum())} ties)")
    print("lambda GC: median 1-df chi2 of the p-values / 0.4549 (for the omnibus it magnifies a "
          "polygenic inflation); lambda_df: the omnibus's median chi2 / median chi2_df")
    print(f"tables: {args.out / 'omnibus.tsv'}, {args.out / 'omnibus_per_seed.tsv'}")


def kappa(*, args: argparse.Namespace, base: dict) -> None:
    """contig-evaluate of every seed's encoders; mean and SD over seeds of the mean kappa."""
    size = int(base.get("pretrain", {}).get("image_size", 64))
    per = []
    for seed in args.seeds:
        t0 = time.perf_counter()
        s = evaluate_seed(study=args.out / f"seed{seed}", models=base["models"],
                          modes=args.evaluate, epochs=args.evaluate_epochs, image_size=size,
                          threads=args.cores)
        per.append(s[s.metric == "qwk"].assign(seed=seed))
        print(f"seed {seed}: evaluated in {time.perf_counter() - t0:.0f} s", flush=True)
    long = pd.concat(per, ignore_index=True)
    long.to_csv(args.out / "kappa_per_seed.tsv", sep="\t", index=False, float_format="%.4g")
    agg = (long.groupby(["mode", "model"], sort=False)["mean"]
           .agg(kappa_mean="mean", kappa_sd="std", seeds="count").reset_index())
    agg.to_csv(args.out / "kappa.tsv", sep="\t", index=False, float_format="%.4g")
    print()
    print("downstream grade, quadratic-weighted kappa (mean over 3 splits, then mean +- SD "
          "over seeds)")
    for mode, sub in agg.groupby("mode", sort=False):
        print(f"{mode}:")
        for r in sub.itertuples(index=False):
            print(f"  {r.model:<22}{r.kappa_mean:>8.3f} +- {r.kappa_sd:<6.3f}")
        wide = long[long["mode"] == mode].pivot(index="seed", columns="model", values="mean")
        for line in wins_line(wide, f"had a higher {mode} kappa"):
            print("  " + line)
    print(f"tables: {args.out / 'kappa.tsv'}, {args.out / 'kappa_per_seed.tsv'}")


if __name__ == "__main__":
    sys.exit(main())
