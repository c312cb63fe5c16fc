#!/usr/bin/env python3
"""Benchmark contig-gwas (exact LMM, LOCO) against fastlmm single_snp and PLINK2 --glm, every
tool at the same thread count: one thread, then all the CPUs this process may use.

Not a test. Simulates a cohort (random genotypes with bed_reader.to_bed, sibling-free, M
variants on C chromosomes, 10 phenotypes sharing one missingness pattern as embedding PCs do,
3 covariates), then, for each thread count T of ``--threads`` (default ``1,all``: one, and the
CPUs this process may use), runs each tool in its own process with its wall time, CPU time
and peak memory measured:

- contig-gwas (LMM, LOCO), ``--threads T`` (its worker threads, each with one BLAS thread);
- fastlmm ``single_snp`` with all phenotypes in one call (its multi-phenotype mode, LOCO,
  sharing the eigendecompositions), T BLAS threads (``threadpoolctl``; it has no other
  threads);
- PLINK2 ``--glm`` (OLS) with ``--threads T`` and ``OPENBLAS_NUM_THREADS=T``, and
  contig-gwas ``--linear`` with ``--threads T``;
- with ``--loop``: fastlmm ``single_snp`` per phenotype (one phenotype run, the time
  multiplied by the number of phenotypes: printed as extrapolated).

Before each run it waits (polling every 30 s, up to ``--wait`` seconds) until the 1-minute
load average is below ``--max-load`` (the machine may be shared), and records the load it
started under. Prints the CPU model (lscpu), the thread counts, every run's load, the ratios
at each thread count, the speed-up from one thread to T, whether our outputs are the same
bytes at every thread count, and the agreement of -log10 p with fastlmm.

    .venv/bin/python bench/gwas.py --n 3000 --m 30000 --chroms 10 --dir /tmp/bench_exact
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
WRAP = ("import resource,subprocess,sys,time;t=time.perf_counter();"
        "r=subprocess.run(sys.argv[1:]).returncode;w=time.perf_counter()-t;"
        "u=resource.getrusage(resource.RUSAGE_CHILDREN);"
        "print('BENCH', r, w, u.ru_maxrss, u.ru_utime + u.ru_stime)")


def thread_env(threads: int = 1) -> dict:
    """The environment of a measured process: BLAS and OpenMP pools of ``threads`` threads
    (PLINK 2 and BOLT-LMM size theirs from it; ours limits its own BLAS to one thread per
    worker whatever it says)."""
    env = dict(os.environ)
    for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[k] = str(threads)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


one_thread_env = thread_env   # the former name (bench/gwas_scalable.py of older checkouts)


def cpu_model() -> str:
    """lscpu's "Model name" and CPU count."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no lscpu)"
    fields = dict(ln.split(":", 1) for ln in out.splitlines() if ":" in ln)
    return f"{fields.get('Model name', '?').strip()}, {fields.get('CPU(s)', '?').strip()} CPUs"


def available_cpus() -> int:
    sys.path.insert(0, str(ROOT))
    from contig_gwas.cli._common import available_cpus as cpus

    return cpus()


def thread_counts(text: str) -> list[int]:
    """``--threads`` (``1,all``) as numbers, ``all`` = the CPUs this process may use."""
    out = []
    for t in text.split(","):
        n = available_cpus() if t.strip() == "all" else int(t)
        if n not in out:
            out.append(n)
    return out


def load1() -> float:
    return os.getloadavg()[0]


def wait_quiet(max_load: float, wait: float) -> float:
    """Wait until the 1-minute load average is below ``max_load`` (polling every 30 s, at
    most ``wait`` seconds); return the load the run starts under."""
    t0 = time.time()
    while load1() >= max_load and time.time() - t0 < wait:
        time.sleep(30)
    return load1()


class Runs:
    """Measured runs: label -> (wall s, peak MiB, CPU s, load at start, load at end, note)."""

    def __init__(self, max_load: float, wait: float) -> None:
        self.max_load, self.wait = max_load, wait
        self.rows: dict[str, tuple] = {}

    def measure(self, label: str, cmd: list[str], *, env: dict, log: Path,
                note: str = "") -> tuple[float, float, float]:
        before = wait_quiet(self.max_load, self.wait)
        w, mem, cpu = measure(cmd, env=env, log=log)
        self.rows[label] = (w, mem, cpu, before, load1(), note)
        print(f"{label}: {w:.1f} s wall, {cpu:.1f} s CPU, {mem:.0f} MiB, load {before:.2f} "
              f"-> {load1():.2f}", flush=True)
        return w, mem, cpu

    def add(self, label: str, w: float, mem: float, cpu: float, load: tuple[float, float],
            note: str = "") -> None:
        self.rows[label] = (w, mem, cpu, load[0], load[1], note)

    def table(self, base: str) -> None:
        bw, bc = self.rows[base][0], self.rows[base][2]
        print(f"{'run':66s} {'wall s':>8s} {'CPU s':>8s} {'peak MiB':>8s} {'load':>11s} "
              f"{'wall x':>7s} {'CPU x':>7s}")
        for name, (w, mem, cpu, l0, l1, note) in self.rows.items():
            print(f"{name:66s} {w:8.1f} {cpu:8.1f} {mem:8.0f} {l0:5.2f}-{l1:<5.2f} "
                  f"{w / bw:7.2f} {cpu / bc:7.2f}  {note}")


def measure(cmd: list[str], *, env: dict, log: Path) -> tuple[float, float, float]:
    """Run ``cmd`` in a wrapper process; return (wall s, peak RSS MiB, CPU s user+system)."""
    with open(log, "w") as fh:
        out = subprocess.run([PY, "-c", WRAP, *cmd], env=env, stdout=subprocess.PIPE,
                             stderr=fh, text=True)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("BENCH")][-1].split()
    if int(line[1]) != 0:
        raise SystemExit(f"{cmd[0]} failed (exit {line[1]}); see {log}")
    return float(line[2]), float(line[3]) / 1024.0, float(line[4])


def same_bytes(paths: list[list[Path]]) -> bool:
    """Whether every list of files holds the same bytes as the first list."""
    ref = [p.read_bytes() for p in paths[0]]
    return all([p.read_bytes() for p in ps] == ref for ps in paths[1:])


def simulate(d: Path, *, n: int, m: int, chroms: int, n_pheno: int, seed: int) -> None:
    import bed_reader

    rng = np.random.default_rng(seed)
    af = rng.uniform(0.05, 0.5, m)
    g = np.empty((n, m), dtype=np.int8)
    for a in range(0, m, 5000):
        b = min(a + 5000, m)
        g[:, a:b] = rng.binomial(2, af[a:b], (n, b - a))
    for a in range(0, m, 5000):                  # block-wise: no N x M float array
        b = min(a + 5000, m)
        g[:, a:b][rng.random((n, b - a)) < 0.002] = -127
    chrom = np.repeat(np.arange(1, chroms + 1), -(-m // chroms))[:m]
    iid = np.array([f"i{k}" for k in range(n)])
    bed_reader.to_bed(d / "geno.bed", g, properties={
        "fid": iid, "iid": iid, "sid": [f"v{j}" for j in range(m)],
        "chromosome": chrom.astype(str), "bp_position": np.arange(m) + 1,
        "allele_1": np.full(m, "A"), "allele_2": np.full(m, "G")})
    causal = rng.choice(m, 20, replace=False)
    x = g[:, causal].astype(float)
    x[x < 0] = 1.0
    x = (x - x.mean(0)) / x.std(0)
    covar = rng.normal(size=(n, 3))
    ph = {}
    rows_missing = rng.random(n) < 0.05          # one missingness pattern for all phenotypes
    for k in range(n_pheno):
        y = x @ rng.normal(0, 0.15, 20) + covar @ [0.2, 0.1, 0.0] + rng.normal(size=n)
        y[rows_missing] = np.nan
        ph[f"PC{k}"] = y
    pd.DataFrame({"FID": iid, "IID": iid, **ph}).to_csv(d / "pheno.tsv", sep="\t",
                                                       index=False, na_rep="NA")
    pd.DataFrame({"FID": iid, "IID": iid, "c1": covar[:, 0], "c2": covar[:, 1],
                  "c3": covar[:, 2]}).to_csv(d / "covar.tsv", sep="\t", index=False)


FASTLMM = textwrap.dedent("""
    import sys, time, logging
    import numpy as np, pandas as pd
    from threadpoolctl import threadpool_limits
    from fastlmm.association import single_snp
    from pysnptools.snpreader import Bed, SnpData
    d, names, out, threads = sys.argv[1], sys.argv[2].split(','), sys.argv[3], int(sys.argv[4])
    ph = pd.read_csv(d + '/pheno.tsv', sep='\\t'); cv = pd.read_csv(d + '/covar.tsv', sep='\\t')
    ph = ph.dropna()
    cv = cv.set_index('IID').loc[ph.IID].reset_index()
    iid = np.array(ph[['FID', 'IID']].astype(str).to_numpy(), dtype=str)
    with threadpool_limits(threads):
        r = single_snp(Bed(d + '/geno', count_A1=True),
                       SnpData(iid=iid, sid=names, val=ph[names].to_numpy()),
                       covar=SnpData(iid=iid, sid=['c1', 'c2', 'c3'],
                                     val=cv[['c1', 'c2', 'c3']].to_numpy()),
                       leave_out_one_chrom=True, count_A1=True)
    if out != '-':
        r.to_csv(out, sep='\\t', index=False)
""")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--m", type=int, default=30000)
    ap.add_argument("--chroms", type=int, default=10)
    ap.add_argument("--phenos", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dir", default="/tmp/contig_gwas_bench")
    ap.add_argument("--block-size", type=int, default=2000)
    ap.add_argument("--threads", default="1,all",
                    help="thread counts to run every tool at (all: the CPUs this process may "
                         "use)")
    ap.add_argument("--loop", action="store_true",
                    help="also fastlmm once per phenotype (one run, multiplied out)")
    ap.add_argument("--max-load", type=float, default=0.5,
                    help="wait for the 1-minute load average to fall below this before a run")
    ap.add_argument("--wait", type=float, default=600, help="wait at most this long (s)")
    ap.add_argument("--skip", default="", help="comma list of: fastlmm,plink,linear")
    a = ap.parse_args()
    skip = set(filter(None, a.skip.split(",")))
    d = Path(a.dir)
    d.mkdir(parents=True, exist_ok=True)
    if not (d / "geno.bed").exists():
        t = time.perf_counter()
        simulate(d, n=a.n, m=a.m, chroms=a.chroms, n_pheno=a.phenos, seed=a.seed)
        print(f"simulated {a.n} x {a.m} on {a.chroms} chromosomes, {a.phenos} phenotypes "
              f"in {time.perf_counter() - t:.1f}s", flush=True)
    threads = thread_counts(a.threads)
    print(f"CPU: {cpu_model()}; may use {available_cpus()}; thread counts {threads}",
          flush=True)
    names = [f"PC{k}" for k in range(a.phenos)]
    runs = Runs(a.max_load, a.wait)
    gw = [str(ROOT / "bin" / "contig-gwas"), "--bfile", str(d / "geno"), "--pheno",
          str(d / "pheno.tsv"), "--covar", str(d / "covar.tsv"), "--block-size",
          str(a.block_size), "--mode", "exact", "--no-progress", "--overwrite"]
    script = d / "fastlmm_run.py"
    script.write_text(FASTLMM)
    plink = shutil.which("plink2")
    for th in threads:
        # a chunk directory left by an interrupted run would be resumed, not recomputed
        shutil.rmtree(d / f"ours{th}.chunks", ignore_errors=True)
        runs.measure(f"contig-gwas LMM LOCO, --threads {th}",
                     [PY, *gw, "--threads", str(th), "--out", str(d / f"ours{th}")],
                     env=thread_env(th), log=d / f"ours{th}.stderr")
        if "fastlmm" not in skip:
            runs.measure(f"fastlmm single_snp, all phenotypes in one call, {th} thread(s)",
                         [PY, str(script), str(d), ",".join(names), str(d / f"fastlmm{th}.tsv"),
                          str(th)], env=thread_env(th), log=d / f"fastlmm{th}.stderr")
        if plink and "plink" not in skip:
            runs.measure(f"PLINK2 --glm (OLS), --threads {th}",
                         [plink, "--bfile", str(d / "geno"), "--pheno", str(d / "pheno.tsv"),
                          "--covar", str(d / "covar.tsv"), "--glm", "hide-covar",
                          "--covar-variance-standardize", "--threads", str(th), "--out",
                          str(d / f"plink{th}")], env=thread_env(th),
                         log=d / f"plink{th}.stderr")
        if "linear" not in skip:
            shutil.rmtree(d / f"ols{th}.chunks", ignore_errors=True)
            runs.measure(f"contig-gwas --linear (OLS), --threads {th}",
                         [PY, *gw, "--linear", "--threads", str(th), "--out",
                          str(d / f"ols{th}")], env=thread_env(th), log=d / f"ols{th}.stderr")
    if a.loop and "fastlmm" not in skip:
        w, mem, cpu = measure([PY, str(script), str(d), names[0], "-", "1"], env=thread_env(1),
                              log=d / "fastlmm_loop.stderr")
        k = len(names)
        runs.add("fastlmm single_snp looped per phenotype, 1 thread", w * k, mem, cpu * k,
                 (load1(), load1()), f"extrapolated: 1 phenotype x {k}")
    print(f"\ncohort: {a.n} individuals x {a.m} variants, {a.chroms} chromosomes, "
          f"{a.phenos} phenotypes (one missingness pattern), 3 covariates")
    print(f"CPU: {cpu_model()}; ratios are to contig-gwas LMM with --threads {threads[0]}; "
          f"CPU = user + system seconds; load = 1-minute load average at the start and end")
    runs.table(f"contig-gwas LMM LOCO, --threads {threads[0]}")
    r = runs.rows
    summary: dict[str, float] = {}
    for th in threads:
        ours = r[f"contig-gwas LMM LOCO, --threads {th}"][0]
        fl = r.get(f"fastlmm single_snp, all phenotypes in one call, {th} thread(s)")
        pl = r.get(f"PLINK2 --glm (OLS), --threads {th}")
        line = f"{th} thread(s): contig-gwas exact {ours:.1f} s"
        if fl:
            summary[f"fastlmm/ours at {th}"] = fl[0] / ours
            line += f"; fastlmm {fl[0]:.1f} s ({fl[0] / ours:.2f}x ours)"
        if pl:
            line += f"; PLINK2 --glm {pl[0]:.1f} s (ours {ours / pl[0]:.2f}x PLINK2)"
        print(line)
    if len(threads) > 1:
        lo, hi = threads[0], threads[-1]
        for tool in ("contig-gwas LMM LOCO, --threads {}", "PLINK2 --glm (OLS), --threads {}",
                     "fastlmm single_snp, all phenotypes in one call, {} thread(s)"):
            if tool.format(lo) in r and tool.format(hi) in r:
                print(f"speed-up {lo} -> {hi} threads, {tool.format('T')}: "
                      f"{r[tool.format(lo)][0] / r[tool.format(hi)][0]:.2f}x")
        outs = [sorted(d.glob(f"ours{th}.*.sumstats.tsv.gz")) + [d / f"ours{th}.nullmodel.tsv"]
                for th in threads]
        print(f"our outputs at {threads} threads are the same bytes: {same_bytes(outs)}")
    fl_out = d / f"fastlmm{threads[0]}.tsv"
    if fl_out.exists():
        ref = pd.read_csv(fl_out, sep="\t")
        rs = []
        for nm in names:
            s = pd.read_csv(d / f"ours{threads[0]}.{nm}.sumstats.tsv.gz",
                            sep="\t").set_index("variant_id")
            x = ref[ref.Pheno == nm].set_index("SNP").loc[s.index]
            rs.append(np.corrcoef(s.neg_log10_p_value, -np.log10(x.PValue))[0, 1])
        summary["r_fastlmm_min"] = min(rs)
        print(f"agreement with fastlmm: Pearson r of -log10 p per phenotype: min {min(rs):.7f}")
    (d / "bench.json").write_text(json.dumps({"args": vars(a), "cpu": cpu_model(),
                                              "threads": threads, "rows": r,
                                              "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
