#!/usr/bin/env python3
"""Benchmark the scalable mode (BOLT-LMM-inf, step 1 / step 2) against PLINK2 --glm (from the
.bed and from an 8-bit BGEN of the same cohort) and BOLT-LMM --lmmInfOnly, every tool at the
same thread count: one thread, then all the CPUs this process may use.

Not a test. Simulates a cohort with ``bench/gwas.py``'s simulator (random genotypes written
with bed_reader.to_bed, M variants on C chromosomes, phenotypes sharing one missingness
pattern as embedding PCs do, 3 covariates) and writes its BGEN with PLINK 2
(``plink2 --bfile X --export bgen-1.2 bits=8 ref-first``: 8-bit zlib, the UK Biobank layout).
Then, for each thread count T of ``--threads`` (default ``1,all``), runs each tool in its own
process, wall time, CPU time and peak memory measured:

- ours, scalable mode, ``--threads T``: 10 phenotypes (``--phenos``) from the .bed and from
  the BGEN, and 100 phenotypes (``--many``) from the .bed;
- PLINK2 ``--glm`` (OLS, all phenotypes in one run), ``--threads T`` with
  ``OPENBLAS_NUM_THREADS=T``: the .bed with 10 and with 100 phenotypes, the BGEN with 10;
- BOLT-LMM ``--lmmInfOnly --numThreads T`` (``OPENBLAS_NUM_THREADS=1``: its own threads; its
  OpenBLAS threads oversubscribe): one phenotype per run, as BOLT-LMM works, ``--bolt-phenos``
  of them run and the time multiplied out to all phenotypes (printed as extrapolated);
- at one thread only, unless skipped: ours on half the individuals (--keep) and on a cohort
  with half the variants (slopes of time in N and M), and our exact mode (up to
  ``--exact-max-n`` individuals).

Before each run it waits (polling every 30 s, up to ``--wait`` s) for the 1-minute load
average to fall below ``--max-load`` and records the load. Prints the CPU model, the thread
counts, a table with every run's load, the ratios to PLINK 2 and BOLT-LMM at each thread
count, our speed-up from one thread to T (and PLINK 2's), whether our outputs are the same
bytes at every thread count, the agreement (Pearson r of -log10 p) with BOLT-LMM (its p
recomputed from (BETA/SE)^2, since it prints two digits) and with the exact mode, peak memory
against the formula, and a model of the speed-up on 16-64 cores from measured per-block costs
(``parallel_model``).

    .venv/bin/python bench/gwas_scalable.py --n 5000 --m 50000 --dir /tmp/bench_scal
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gwas import (  # noqa: E402
    PY,
    ROOT,
    Runs,
    available_cpus,
    cpu_model,
    load1,
    same_bytes,
    simulate,
    thread_counts,
    thread_env,
)

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


def log_times(log: Path) -> dict[str, float]:
    """``time X: S s`` lines and the ``[S s] step`` lines of one of our logs."""
    out = {}
    for line in log.read_text().splitlines():
        m = re.match(r"time (.+): ([0-9.]+)s$", line)
        if m:
            out[m.group(1)] = float(m.group(2))
        m = re.match(r"\[\s*([0-9.]+)s\] (.+)$", line)
        if m:
            out[m.group(2)] = float(m.group(1))
    return out


def step_times(log: Path) -> float:
    """Seconds of step 1 + step 2 in one of our logs (no interpreter start-up, no merge)."""
    t = log_times(log)
    return t.get("step 1", 0.0) + t.get("step 2 (scan)", 0.0)


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


def parallel_model(d: Path, *, block: int, log1: Path, wall1: float,
                   cores=(2, 16, 32, 64),
                   big=((100_000, 500_000), (500_000, 500_000))) -> str:
    """Predicted speed-up of our 10-phenotype run on ``cores`` cores, from costs measured in
    this process on the cohort (one thread, process time, best of 3), the one-thread run's
    log (``log1``) and wall time (``wall1``, with the interpreter's start-up).

    Per block of a step-1 pass: the task (standardise 256 variants, two float32 products)
    runs on any thread; the add of its N x k sum into the total runs in the driver's thread,
    one after another (a serial floor per pass). Per block of the model genotypes: reading
    holds the GIL (bed-reader: a serial floor), QC and coding run on any thread. Step 2's
    chunks and the merge's phenotypes run on any thread. The rest of the run (start-up, the
    tables, the Krylov vectors' bookkeeping between passes) is serial. Memory bandwidth is
    not modelled: a pass streams the N x M1 codes once (250 MB here) per ~0.2 s on 64 cores,
    ~1.2 GB/s, far below a node's; each thread's standardised block (~5 MB) stays in its
    cache only while the L3 share per core is at least that large. The same per-genotype costs
    are then scaled to the cohorts ``big`` (N x M1, tested = model variants).
    """
    from threadpoolctl import threadpool_limits

    from contig_gwas.gwas.scalable.blocks import read_block
    from contig_gwas.io.genotypes import open_genotypes

    t = log_times(log1)
    total = wall1
    read_phase = t["step 1: model genotypes (one pass)"]
    fit = t["step 1"] - read_phase
    step2, merge = t["step 2 (scan)"], t["merge"]
    serial_other = total - t["step 1"] - step2 - merge
    lanczos = max(int(x) for x in re.findall(r"Lanczos (\d+) steps", log1.read_text()))
    cg = max(int(x) for x in re.findall(r"CG (\d+) iterations", log1.read_text()))
    src = open_genotypes(bfile=str(d / "geno"))
    rows = np.arange(len(src.samples))
    with threadpool_limits(1):
        reads = []
        for _ in range(2):
            c = time.process_time()
            for a in range(0, len(src.variants), block):
                read_block(src, rows, np.arange(a, min(a + block, len(src.variants))))
            reads.append(time.process_time() - c)
        read_gil = min(reads)
        geno = _codes(src, rows, block)
        n, k = geno.n, 60
        R = np.random.default_rng(0).normal(size=(n, k))
        loco = np.repeat(geno.chromosomes(), -(-k // len(geno.chromosomes())))[:k]
        passes, adds = [], []
        for _ in range(3):
            c = time.process_time()
            geno.kinship_times(R, loco=loco)
            passes.append(time.process_time() - c)
            part = np.ones((n, k), np.float32, order="F")
            acc = np.zeros((n, k), np.float32, order="F")
            c = time.process_time()
            for _ in geno.tasks():
                acc += part
            adds.append(time.process_time() - c)
    t_pass, t_add = min(passes), min(adds)
    n_pass = lanczos + cg + 2
    fit_par = min(fit, n_pass * (t_pass - t_add))
    fit_ser = fit - fit_par
    add_floor = n_pass * t_add
    lines = [f"model (from one-thread costs: pass {t_pass:.2f} s of which ordered adds "
             f"{t_add:.3f} s over {len(geno.tasks())} tasks, {n_pass} passes; model genotypes "
             f"{read_phase:.1f} s of which reading (GIL held) {read_gil:.1f} s; step 2 "
             f"{step2:.1f} s; merge {merge:.1f} s; serial rest {serial_other + fit_ser:.1f} s)"]
    for p in cores:
        tp = (serial_other + fit_ser + max(fit_par / p, add_floor)
              + max(read_phase / p, read_gil) + step2 / p + merge / p)
        lines.append(f"  {p:3d} cores: {tp:6.1f} s, speed-up {total / tp:5.2f}x "
                     f"(efficiency {total / tp / p:.0%})")
    lines.append(f"  limit: serial {serial_other + fit_ser + read_gil + add_floor:.1f} s -> "
                 f"at most {total / (serial_other + fit_ser + read_gil + add_floor):.1f}x")
    # the same costs scaled to a biobank-sized cohort: passes and coding with N M1, the
    # ordered adds with N times the number of tasks, the Krylov bookkeeping with N, reading
    # with N M, step 2 with N M, the merge with M; start-up fixed
    from contig_gwas.gwas.scalable.codes import default_block, task_blocks

    n0, m0 = geno.n, geno.m
    for nb, mb in big:
        f_nm, f_n, f_m = nb * mb / (n0 * m0), nb / n0, mb / m0
        blocks = -(-mb // default_block(nb))
        tasks_b = -(-blocks // task_blocks(blocks))
        add_b = n_pass * t_add / len(geno.tasks()) * f_n * tasks_b
        par = [n_pass * (t_pass - t_add) * f_nm, (read_phase - read_gil) * f_nm, step2 * f_nm,
               merge * f_m]
        ser = serial_other + fit_ser * f_n
        t1b = ser + sum(par) + read_gil * f_nm + add_b
        for gil, what in ((read_gil * f_nm, f"reading the .bed holds the GIL: "
                                            f"{read_gil * f_nm:.0f} s"),
                          (0.0, "reading in parallel, as BGEN, or a .bed decoder that released "
                                "the GIL")):
            row = [f"  {nb:,} x {mb:,} (scaled): 1 core {t1b / 60:.0f} min"]
            for p in cores:
                tp = (ser + max(par[0] / p, add_b)
                      + max((par[1] + read_gil * f_nm) / p, gil) + (par[2] + par[3]) / p)
                row.append(f"{p} cores {t1b / tp:.1f}x")
            lines.append(", ".join(row) + f" ({what})")
    return "\n".join(lines)


def _codes(src, rows: np.ndarray, block: int):
    """The step-1 codes of ``src`` (one group: everyone), as the run builds them."""
    from contig_gwas.gwas.scalable.blocks import model_genotypes
    from contig_gwas.runlog import NullLog

    class Everyone:
        def __init__(self, n: int) -> None:
            self.rows, self.n = np.arange(n), n

    qc = dict(maf=None, geno=None, hwe=None, min_info=None)
    return model_genotypes(src=src, rows=rows, groups=[Everyone(len(rows))], qc_thresholds=qc,
                           block_size=block, max_variants=None, progress=False,
                           log=NullLog())[0][0]


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
    ap.add_argument("--threads", default="1,all",
                    help="thread counts to run every tool at (all: the CPUs this process may "
                         "use)")
    ap.add_argument("--bolt-phenos", type=int, default=1)
    ap.add_argument("--exact-max-n", type=int, default=3000)
    ap.add_argument("--max-load", type=float, default=0.5,
                    help="wait for the 1-minute load average to fall below this before a run")
    ap.add_argument("--wait", type=float, default=600, help="wait at most this long (s)")
    ap.add_argument("--skip", default="",
                    help="comma list of: slopes,plink,bolt,exact,many,bgen,model")
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
    plink = shutil.which("plink2")
    bgen = d / "geno.bgen"
    if "bgen" not in skip and plink and not bgen.exists():
        subprocess.run([plink, "--bfile", str(d / "geno"), "--export", "bgen-1.2", "bits=8",
                        "ref-first", "--threads", "1", "--out", str(d / "geno")],
                       check=True, stdout=subprocess.DEVNULL, env=thread_env(1))
    if not bgen.exists():
        skip.add("bgen")
    threads = thread_counts(a.threads)
    print(f"CPU: {cpu_model()}; may use {available_cpus()}; thread counts {threads}",
          flush=True)
    names = [f"PC{k}" for k in range(a.phenos)]
    many = [f"PC{k}" for k in range(a.many)]
    runs = Runs(a.max_load, a.wait)

    def ours(label: str, *, th: int, mode: str, out: str, pheno: list[str], dd: Path = d,
             **extra) -> None:
        args = dict(mode=mode, out=str(dd / out), pheno=str(dd / "pheno.tsv"),
                    covar=str(dd / "covar.tsv"), pheno_names=pheno, block_size=a.block_size,
                    threads=th, overwrite=True, progress=False, **extra)
        if "bgen" not in args:
            args["bfile"] = str(dd / "geno")
        # a chunk directory left by an interrupted run would be resumed, not recomputed
        shutil.rmtree(dd / f"{out}.chunks", ignore_errors=True)
        runs.measure(label, [PY, "-c", RUN, json.dumps(args)], env=thread_env(th),
                     log=dd / f"{out}.stderr")

    def glm(label: str, *, th: int, pheno: list[str], out: str, source: list[str]) -> None:
        runs.measure(label, [plink, *source, "--pheno", str(d / "pheno.tsv"), "--pheno-name",
                             ",".join(pheno), "--covar", str(d / "covar.tsv"), "--glm",
                             "hide-covar", "--covar-variance-standardize", "--threads", str(th),
                             "--out", str(d / out)], env=thread_env(th), log=d / f"{out}.stderr")

    bed_src = ["--bfile", str(d / "geno")]
    bgen_src = ["--bgen", str(bgen), "ref-first", "--sample", str(d / "geno.sample")]
    lab = {}
    for th in threads:
        lab[th] = {"ours": f"ours scalable, {a.phenos} phenotypes, .bed, --threads {th}",
                   "ours_bgen": f"ours scalable, {a.phenos} phenotypes, BGEN 8-bit, --threads {th}",
                   "ours_many": f"ours scalable, {a.many} phenotypes, .bed, --threads {th}",
                   "plink": f"PLINK2 --glm, {a.phenos} phenotypes, .bed, --threads {th}",
                   "plink_bgen": f"PLINK2 --glm, {a.phenos} phenotypes, --bgen, --threads {th}",
                   "plink_many": f"PLINK2 --glm, {a.many} phenotypes, .bed, --threads {th}",
                   "bolt": f"BOLT-LMM --lmmInfOnly, one run per phenotype, --numThreads {th}"}
        L = lab[th]
        ours(L["ours"], th=th, mode="scalable", out=f"scal{th}", pheno=names)
        if "bgen" not in skip:
            ours(L["ours_bgen"], th=th, mode="scalable", out=f"scal_bgen{th}", pheno=names,
                 bgen=str(bgen))
        if a.many and "many" not in skip:
            ours(L["ours_many"], th=th, mode="scalable", out=f"scal_many{th}", pheno=many)
        if plink and "plink" not in skip:
            glm(L["plink"], th=th, pheno=names, out=f"plink{th}", source=bed_src)
            if "bgen" not in skip:
                glm(L["plink_bgen"], th=th, pheno=names, out=f"plink_bgen{th}",
                    source=bgen_src)
            if a.many and "many" not in skip:
                glm(L["plink_many"], th=th, pheno=many, out=f"plink_many{th}", source=bed_src)
        bolt = shutil.which("bolt")
        if bolt and "bolt" not in skip:
            total, peak, cpu, l0 = 0.0, 0.0, 0.0, None
            for nm in names[:a.bolt_phenos]:
                env = thread_env(1)
                w, mem, c = runs.measure(
                    f"BOLT-LMM --lmmInfOnly {nm}, --numThreads {th}",
                    [bolt, "--bfile", str(d / "geno"), "--phenoFile", str(d / "pheno.tsv"),
                     "--phenoCol", nm, "--covarFile", str(d / "covar.tsv"), "--qCovarCol",
                     "c{1:3}", "--lmmInfOnly", "--numThreads", str(th), "--maxMissingPerSnp",
                     "1", "--statsFile", str(d / f"bolt{th}.{nm}.stats")],
                    env=env, log=d / f"bolt{th}.{nm}.stderr")
                l0 = runs.rows.pop(f"BOLT-LMM --lmmInfOnly {nm}, --numThreads {th}")[3] \
                    if l0 is None else l0
                total, peak, cpu = total + w, max(peak, mem), cpu + c
            k = min(a.bolt_phenos, len(names))
            runs.add(L["bolt"], total * len(names) / k, peak, cpu * len(names) / k,
                     (l0 or load1(), load1()),
                     "" if k == len(names) else f"extrapolated: {k} phenotype(s) x "
                                                f"{len(names) / k:g}")
    t1 = threads[0]
    if "slopes" not in skip:
        fam = pd.read_csv(d / "geno.fam", sep=r"\s+", header=None)
        fam.iloc[: a.n // 2, :2].to_csv(d / "half.keep", sep="\t", header=False, index=False)
        ours(f"ours scalable, N/2 (--keep), --threads {t1}", th=t1, mode="scalable",
             out="scal_n2", pheno=names, keep=str(d / "half.keep"))
        dm = d / "half_m"
        dm.mkdir(exist_ok=True)
        if not (dm / "geno.bed").exists():
            simulate(dm, n=a.n, m=a.m // 2, chroms=a.chroms, n_pheno=a.phenos, seed=a.seed)
        ours(f"ours scalable, M/2 (cohort with half the variants), --threads {t1}", th=t1,
             mode="scalable", out="scal", pheno=names, dd=dm)
    if a.n <= a.exact_max_n and "exact" not in skip:
        ours(f"ours exact (FaST-LMM LOCO), {a.phenos} phenotypes, --threads {t1}", th=t1,
             mode="exact", out="exact", pheno=names)

    print(f"\ncohort: {a.n} individuals x {a.m} variants, {a.chroms} chromosomes, "
          f"{a.phenos} phenotypes (one missingness pattern), 3 covariates")
    print(f"CPU: {cpu_model()}; thread counts {threads}; ratios to '{lab[t1]['ours']}'; "
          f"load = 1-minute load average at the start and end of each run")
    runs.table(lab[t1]["ours"])
    r = {k: v[0] for k, v in runs.rows.items()}
    summary: dict[str, float] = {}
    for th in threads:
        L = lab[th]

        def ratio(x: str, y: str) -> str:
            if L[x] in r and L[y] in r:
                summary[f"{x}/{y} at {th}"] = r[L[x]] / r[L[y]]
                return f"{r[L[x]] / r[L[y]]:.2f}x"
            return "-"

        print(f"{th} thread(s): ours / PLINK2 (.bed) {ratio('ours', 'plink')}; ours BGEN / "
              f"PLINK2 --bgen {ratio('ours_bgen', 'plink_bgen')}; {a.many} phenotypes: ours / "
              f"PLINK2 {ratio('ours_many', 'plink_many')}; BOLT-LMM / ours "
              f"{ratio('bolt', 'ours')}")
    if len(threads) > 1:
        lo, hi = threads[0], threads[-1]
        for key in ("ours", "ours_bgen", "ours_many", "plink", "plink_bgen", "plink_many",
                    "bolt"):
            if lab[lo][key] in r and lab[hi][key] in r:
                summary[f"speedup {key}"] = r[lab[lo][key]] / r[lab[hi][key]]
                print(f"speed-up {lo} -> {hi} threads, {key}: "
                      f"{r[lab[lo][key]] / r[lab[hi][key]]:.2f}x")
        for out in ("scal", "scal_bgen", "scal_many"):
            files = [sorted(d.glob(f"{out}{th}.*.sumstats.tsv.gz"))
                     + [d / f"{out}{th}.nullmodel.tsv"] for th in threads]
            if all(f[0].exists() for f in files if f):
                print(f"'{out}' outputs at {threads} threads are the same bytes: "
                      f"{same_bytes(files)}")
    from contig_gwas.gwas.scalable.engine import peak_memory_bytes
    for th in threads:
        for key, p_ in (("ours", a.phenos), ("ours_many", a.many)):
            if lab[th][key] in runs.rows:
                f = peak_memory_bytes(n=a.n, m_model=a.m, chromosomes=a.chroms, phenotypes=p_,
                                      block_size=a.block_size, threads=th) / 2 ** 20
                print(f"peak memory of '{lab[th][key]}': {runs.rows[lab[th][key]][1]:.0f} MiB "
                      f"measured, {f:.0f} MiB by the formula (engine docstring)")
    if f"ours scalable, N/2 (--keep), --threads {t1}" in r:
        c = {k: v[2] for k, v in runs.rows.items()}
        n2 = f"ours scalable, N/2 (--keep), --threads {t1}"
        m2 = f"ours scalable, M/2 (cohort with half the variants), --threads {t1}"
        steps = {lab[t1]["ours"]: step_times(d / f"scal{t1}.log"),
                 n2: step_times(d / "scal_n2.log"), m2: step_times(d / "half_m" / "scal.log")}
        for name, tt in (("wall", r), ("CPU", c), ("step 1 + step 2", steps)):
            sn = np.log(tt[lab[t1]["ours"]] / tt[n2]) / np.log(2)
            sm = np.log(tt[lab[t1]["ours"]] / tt[m2]) / np.log(2)
            print(f"slope of log {name} time: in N {sn:.2f}, in M {sm:.2f} (1 = linear)")
    agree = {}
    for nm in names[:a.bolt_phenos]:
        f = d / f"bolt{t1}.{nm}.stats"
        if f.exists():
            b = pd.read_csv(f, sep="\t").set_index("SNP")
            s = pd.read_csv(d / f"scal{t1}.{nm}.sumstats.tsv.gz", sep="\t").set_index(
                "variant_id")
            b = b.loc[b.index.intersection(s.index)]
            x = nlp_from_chi2((b.BETA / b.SE) ** 2)
            agree[f"BOLT {nm}"] = np.corrcoef(s.loc[b.index, "neg_log10_p_value"], x)[0, 1]
    for nm in names:
        for other, f in (("exact", d / f"exact.{nm}.sumstats.tsv.gz"),
                         ("ours from the BGEN", d / f"scal_bgen{t1}.{nm}.sumstats.tsv.gz")):
            if f.exists():
                e = pd.read_csv(f, sep="\t")
                s = pd.read_csv(d / f"scal{t1}.{nm}.sumstats.tsv.gz", sep="\t")
                agree[f"{other} {nm}"] = np.corrcoef(e.neg_log10_p_value,
                                                     s.neg_log10_p_value)[0, 1]
    for k, v in agree.items():
        print(f"agreement of -log10 p with {k}: Pearson r {v:.6f}")
    lam = []
    for nm in names:
        s = pd.read_csv(d / f"scal{t1}.{nm}.sumstats.tsv.gz", sep="\t")
        from scipy import stats
        lam.append(float(np.median(stats.chi2.isf(s.p_value, 1)) / stats.chi2.ppf(0.5, 1)))
    print("lambda GC (ours scalable): " + " ".join(f"{x:.3f}" for x in lam))
    passes = per_pass_slopes(n=a.n, m=a.m) if "slopes" not in skip else ""
    print(passes)
    model = ""
    if "model" not in skip and t1 == 1:
        model = parallel_model(d, block=a.block_size, log1=d / "scal1.log",
                               wall1=r[lab[1]["ours"]])
        print(model)
    (d / "bench_scalable.json").write_text(json.dumps({
        "args": vars(a), "cpu": cpu_model(), "threads": threads, "rows": runs.rows,
        "summary": summary, "agreement": agree, "lambda": lam, "per_pass": passes,
        "model": model, "root": str(ROOT)}, indent=1))


if __name__ == "__main__":
    main()
