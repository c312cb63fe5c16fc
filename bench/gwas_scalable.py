#!/usr/bin/env python3
"""Benchmark the scalable mode (BOLT-LMM-inf, step 1 / step 2) against PLINK2 --glm,
BOLT-LMM --lmmInfOnly (per phenotype) and, on small cohorts, our exact mode.

Not a test. Simulates a cohort with ``bench/gwas.py``'s simulator (random genotypes written
with bed_reader.to_bed, M variants on C chromosomes, phenotypes sharing one missingness
pattern as embedding PCs do, 3 covariates), then runs, each in its own process with its wall
time and peak resident memory measured, all with one BLAS thread:

- ours, scalable mode, 10 phenotypes (``--phenos``) and 100 phenotypes (``--many``);
- ours, scalable mode on half the individuals (--keep) and on a cohort with half the variants,
  for the slopes of wall time in N and M (log-log);
- ours, exact mode (skipped above ``--exact-max-n`` individuals);
- PLINK2 ``--glm`` (OLS, all phenotypes in one run, OPENBLAS_NUM_THREADS=1), with 10 and
  with 100 phenotypes (the reference tool's own cost of more phenotypes);
- BOLT-LMM ``--lmmInfOnly`` (one phenotype per run, as BOLT-LMM works; ``--bolt-phenos``
  of them run and the time multiplied out to all phenotypes, printed as extrapolated).

Prints a table, the ratios, and the agreement (Pearson r of -log10 p) with BOLT-LMM (its
p-values recomputed from (BETA/SE)^2, since it prints two digits) and with the exact mode.

    .venv/bin/python bench/gwas_scalable.py --n 5000 --m 50000 --dir /tmp/bench_scal
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gwas import PY, measure, one_thread_env, simulate  # noqa: E402  (bench/gwas.py)

RUN = """
import sys, json
from contig_gwas.gwas.engine import GwasOptions, run_gwas
from contig_gwas.gwas.scalable.engine import run_gwas_scalable
from contig_gwas.runlog import RunLog
a = json.loads(sys.argv[1])
mode = a.pop('mode')
o = GwasOptions(**a)
with RunLog(o.out + '.log', tool='bench ' + mode, argv=sys.argv[1:], echo=False) as log:
    s = (run_gwas_scalable if mode == 'scalable' else run_gwas)(o, log=log)
    for k, v in s.timings.items():
        log.info(f'time {k}: {v:.2f}s')
"""


def step_times(log: Path) -> float:
    """Seconds of step 1 + step 2 in one of our logs (no interpreter start-up, no merge)."""
    t = 0.0
    for line in log.read_text().splitlines():
        if line.startswith("time step 1:") or line.startswith("time step 2 (scan):"):
            t += float(line.split(":")[1].strip().rstrip("s"))
    return t


def ours(d: Path, *, mode: str, names: list[str], out: str, block: int, **extra) -> tuple:
    args = dict(mode=mode, out=str(d / out), pheno=str(d / "pheno.tsv"), bfile=str(d / "geno"),
                covar=str(d / "covar.tsv"), pheno_names=names, block_size=block,
                overwrite=True, progress=False, **extra)
    # a chunk directory left by an interrupted run would be resumed, not recomputed
    shutil.rmtree(d / f"{out}.chunks", ignore_errors=True)
    return measure([PY, "-c", RUN, json.dumps(args)], env=one_thread_env(1),
                   log=d / f"{out}.stderr")


def nlp_from_chi2(chi2: np.ndarray) -> np.ndarray:
    from contig_gwas.io.sumstats import neg_log10_p_chi2
    return neg_log10_p_chi2(chi2)


def per_pass_slopes(*, n: int, m: int, k: int = 60, reps: int = 3) -> str:
    """CPU seconds of one step-1 pass (``kinship_times`` with k columns) at (N, M), (N/2, M),
    (N, M/2) on random 8-bit codes: the per-iteration cost, free of start-up, I/O and of the
    machine's other load (process time, best of ``reps``)."""
    from threadpoolctl import threadpool_limits

    from contig_gwas.gwas.scalable.codes import Step1Genotypes, default_block

    rng = np.random.default_rng(0)
    out = {}
    with threadpool_limits(1):
        for nn, mm in ((n, m), (n // 2, m), (n, m // 2)):
            g = Step1Genotypes(codes=np.asfortranarray(rng.integers(0, 255, (nn, mm),
                                                                     dtype=np.uint8)),
                               a=np.full(mm, 1 / 127, np.float32), b=np.full(mm, -1, np.float32),
                               ss=np.full(mm, float(nn)), chromosome=np.repeat(
                                   np.arange(1, 11), -(-mm // 10))[:mm],
                               block=default_block(nn))
            R = rng.normal(size=(nn, k))
            loco = np.repeat(np.arange(1, 11), -(-k // 10))[:k]
            best = np.inf
            for _ in range(reps):
                t = time.process_time()
                g.kinship_times(R, loco=loco)
                best = min(best, time.process_time() - t)
            out[(nn, mm)] = best
    base = out[(n, m)]
    sn = np.log(base / out[(n // 2, m)]) / np.log(2)
    sm = np.log(base / out[(n, m // 2)]) / np.log(2)
    return (f"one step-1 pass, {k} columns, 1 thread, CPU s: {n}x{m} {base:.2f}, "
            f"{n // 2}x{m} {out[(n // 2, m)]:.2f}, {n}x{m // 2} {out[(n, m // 2)]:.2f}; "
            f"slope in N {sn:.2f}, in M {sm:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--m", type=int, default=50000)
    ap.add_argument("--chroms", type=int, default=10)
    ap.add_argument("--phenos", type=int, default=10)
    ap.add_argument("--many", type=int, default=100, help="phenotypes of the scaling run (0: skip)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dir", default="/tmp/contig_gwas_bench_scalable")
    ap.add_argument("--block-size", type=int, default=2000)
    ap.add_argument("--bolt-phenos", type=int, default=1)
    ap.add_argument("--exact-max-n", type=int, default=3000)
    ap.add_argument("--skip", default="", help="comma list of: slopes,plink,bolt,exact,many")
    a = ap.parse_args()
    skip = set(filter(None, a.skip.split(",")))
    d = Path(a.dir)
    d.mkdir(parents=True, exist_ok=True)
    n_sim = max(a.phenos, a.many)
    if not (d / "geno.bed").exists():
        t = time.perf_counter()
        simulate(d, n=a.n, m=a.m, chroms=a.chroms, n_pheno=n_sim, seed=a.seed)
        print(f"simulated {a.n} x {a.m} on {a.chroms} chromosomes, {n_sim} phenotypes "
              f"in {time.perf_counter() - t:.1f}s", flush=True)
    names = [f"PC{k}" for k in range(a.phenos)]
    rows: list[tuple] = []

    def add(label, wm, note=""):
        rows.append((label, wm[0], wm[1], wm[2] if len(wm) > 2 else float("nan"), note))
        print(rows[-1], flush=True)

    add(f"ours scalable, {a.phenos} phenotypes", ours(d, mode="scalable", names=names,
                                                      out="scal", block=a.block_size))
    if a.many and "many" not in skip:
        add(f"ours scalable, {a.many} phenotypes",
            ours(d, mode="scalable", names=[f"PC{k}" for k in range(a.many)], out="scal_many",
                 block=a.block_size))
    if "slopes" not in skip:
        fam = pd.read_csv(d / "geno.fam", sep=r"\s+", header=None)
        fam.iloc[: a.n // 2, :2].to_csv(d / "half.keep", sep="\t", header=False, index=False)
        add("ours scalable, N/2 (--keep)", ours(d, mode="scalable", names=names, out="scal_n2",
                                               block=a.block_size, keep=str(d / "half.keep")))
        dm = d / "half_m"
        dm.mkdir(exist_ok=True)
        if not (dm / "geno.bed").exists():
            simulate(dm, n=a.n, m=a.m // 2, chroms=a.chroms, n_pheno=a.phenos, seed=a.seed)
        add("ours scalable, M/2 (cohort simulated with half the variants)",
            ours(dm, mode="scalable", names=names, out="scal", block=a.block_size))
    if a.n <= a.exact_max_n and "exact" not in skip:
        add(f"ours exact (FaST-LMM LOCO), {a.phenos} phenotypes",
            ours(d, mode="exact", names=names, out="exact", block=a.block_size))
    plink = shutil.which("plink2")
    if plink and "plink" not in skip:
        def glm(pheno_names: list[str], out: str) -> tuple:
            return measure([plink, "--bfile", str(d / "geno"), "--pheno", str(d / "pheno.tsv"),
                            "--pheno-name", ",".join(pheno_names), "--covar",
                            str(d / "covar.tsv"), "--glm", "hide-covar",
                            "--covar-variance-standardize", "--threads", "1",
                            "--out", str(d / out)], env=one_thread_env(1),
                           log=d / f"{out}.stderr")

        add("PLINK2 --glm (OLS, no mixed model), all phenotypes in one run", glm(names, "plink"))
        if a.many and "many" not in skip:
            # the reference tool's own cost of going from 10 to 100 phenotypes
            add(f"PLINK2 --glm, {a.many} phenotypes in one run",
                glm([f"PC{k}" for k in range(a.many)], "plink_many"))
    bolt = shutil.which("bolt")
    if bolt and "bolt" not in skip:
        total, peak, cpu = 0.0, 0.0, 0.0
        for nm in names[:a.bolt_phenos]:
            w, mem, c = measure([bolt, "--bfile", str(d / "geno"), "--phenoFile",
                              str(d / "pheno.tsv"), "--phenoCol", nm, "--covarFile",
                              str(d / "covar.tsv"), "--qCovarCol", "c{1:3}", "--lmmInfOnly",
                              "--numThreads", "1", "--maxMissingPerSnp", "1",
                              "--statsFile", str(d / f"bolt.{nm}.stats")],
                             env=one_thread_env(1), log=d / f"bolt.{nm}.stderr")
            total, peak, cpu = total + w, max(peak, mem), cpu + c
        k = min(a.bolt_phenos, len(names))
        add("BOLT-LMM --lmmInfOnly, one run per phenotype",
            (total * len(names) / k, peak, cpu * len(names) / k),
            "" if k == len(names) else f"extrapolated: {k} phenotype(s) x {len(names) / k:g}")
    base = rows[0][1]
    print(f"\ncohort: {a.n} individuals x {a.m} variants, {a.chroms} chromosomes, "
          f"{a.phenos} phenotypes (one missingness pattern), 3 covariates; 1 BLAS thread each")
    cbase = rows[0][3]
    print(f"{'run':64s} {'wall s':>8s} {'CPU s':>8s} {'peak MiB':>9s} {'wall/ours':>9s} "
          f"{'CPU/ours':>8s}")
    for name, w, mem, cpu, note in rows:
        print(f"{name:64s} {w:8.1f} {cpu:8.1f} {mem:9.0f} {w / base:9.2f} {cpu / cbase:8.2f}  "
              f"{note}")
    from contig_gwas.gwas.scalable.engine import peak_memory_bytes
    for label, p_ in ((rows[0][0], a.phenos), (f"ours scalable, {a.many} phenotypes", a.many)):
        hit = [r for r in rows if r[0] == label]
        if hit:
            f = peak_memory_bytes(n=a.n, m_model=a.m, chromosomes=a.chroms, phenotypes=p_,
                                  block_size=a.block_size) / 2 ** 20
            print(f"peak memory of '{label}': {hit[0][2]:.0f} MiB measured, {f:.0f} MiB by the "
                  f"formula (engine docstring)")
    t = {r[0]: r[1] for r in rows}
    if f"ours scalable, {a.many} phenotypes" in t:
        many = [r for r in rows if r[0] == f"ours scalable, {a.many} phenotypes"][0]
        print(f"{a.many} vs {a.phenos} phenotypes: wall x{many[1] / base:.2f}, "
              f"CPU x{many[3] / rows[0][3]:.2f}")
        p10 = t.get("PLINK2 --glm (OLS, no mixed model), all phenotypes in one run")
        p100 = t.get(f"PLINK2 --glm, {a.many} phenotypes in one run")
        if p10 and p100:
            print(f"PLINK2 --glm {a.many} vs {a.phenos} phenotypes: wall x{p100 / p10:.2f}")
    if "ours scalable, N/2 (--keep)" in t:
        c = {r[0]: r[3] for r in rows}
        steps = {rows[0][0]: step_times(d / "scal.log"),
                 "ours scalable, N/2 (--keep)": step_times(d / "scal_n2.log"),
                 "ours scalable, M/2 (cohort simulated with half the variants)":
                     step_times(d / "half_m" / "scal.log")}
        for lab, tt in (("wall", t), ("CPU", c), ("step 1 + step 2", steps)):
            sn = np.log(tt[rows[0][0]] / tt["ours scalable, N/2 (--keep)"]) / np.log(2)
            sm = np.log(tt[rows[0][0]]
                        / tt["ours scalable, M/2 (cohort simulated with half the variants)"]) \
                / np.log(2)
            print(f"slope of log {lab} time: in N {sn:.2f}, in M {sm:.2f} (1 = linear)")
    agree = {}
    for nm in names[:a.bolt_phenos]:
        f = d / f"bolt.{nm}.stats"
        if f.exists():
            b = pd.read_csv(f, sep="\t").set_index("SNP")
            s = pd.read_csv(d / f"scal.{nm}.sumstats.tsv.gz", sep="\t").set_index("variant_id")
            b = b.loc[b.index.intersection(s.index)]
            x = nlp_from_chi2((b.BETA / b.SE) ** 2)
            agree[f"BOLT {nm}"] = np.corrcoef(s.loc[b.index, "neg_log10_p_value"], x)[0, 1]
    for nm in names:
        f = d / f"exact.{nm}.sumstats.tsv.gz"
        if f.exists():
            e = pd.read_csv(f, sep="\t")
            s = pd.read_csv(d / f"scal.{nm}.sumstats.tsv.gz", sep="\t")
            agree[f"exact {nm}"] = np.corrcoef(e.neg_log10_p_value, s.neg_log10_p_value)[0, 1]
    for k, v in agree.items():
        print(f"agreement of -log10 p with {k}: Pearson r {v:.5f}")
    lam = []
    for nm in names:
        s = pd.read_csv(d / f"scal.{nm}.sumstats.tsv.gz", sep="\t")
        from scipy import stats
        lam.append(float(np.median(stats.chi2.isf(s.p_value, 1)) / stats.chi2.ppf(0.5, 1)))
    print("lambda GC (ours scalable): " + " ".join(f"{x:.3f}" for x in lam))
    passes = per_pass_slopes(n=a.n, m=a.m) if "slopes" not in skip else ""
    print(passes)
    (d / "bench_scalable.json").write_text(json.dumps({"args": vars(a), "rows": rows,
                                                       "agreement": agree, "lambda": lam,
                                                       "per_pass": passes},
                                                      indent=1))


if __name__ == "__main__":
    main()
