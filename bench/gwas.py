#!/usr/bin/env python3
"""Benchmark contig-gwas (exact LMM, LOCO) against fastlmm single_snp and PLINK2 --glm.

Not a test. Simulates a cohort (random genotypes with bed_reader.to_bed, sibling-free, M
variants on C chromosomes, 10 phenotypes sharing one missingness pattern as embedding PCs do,
3 covariates), then runs, each in its own process with its peak memory measured:

- contig-gwas (LMM, LOCO) with 1 and with 2 BLAS threads;
- fastlmm ``single_snp`` with all phenotypes in one call (its multi-phenotype mode, LOCO,
  sharing the eigendecompositions), 1 BLAS thread;
- fastlmm ``single_snp`` looped per phenotype: by default ONE phenotype is run and the time
  multiplied by the number of phenotypes (printed as extrapolated); ``--loop-all`` runs all;
- PLINK2 ``--glm`` (OLS, OPENBLAS_NUM_THREADS=1) where installed, and contig-gwas ``--linear``.

Prints wall times, peak resident memory, ratios, and the agreement of -log10 p with fastlmm.

    .venv/bin/python bench/gwas.py --n 2000 --m 15000 --chroms 10 --dir /tmp/bench_small
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


def one_thread_env(threads: int = 1) -> dict:
    env = dict(os.environ)
    for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[k] = str(threads)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def measure(cmd: list[str], *, env: dict, log: Path) -> tuple[float, float, float]:
    """Run ``cmd`` in a wrapper process; return (wall s, peak RSS MiB, CPU s user+system)."""
    with open(log, "w") as fh:
        out = subprocess.run([PY, "-c", WRAP, *cmd], env=env, stdout=subprocess.PIPE,
                             stderr=fh, text=True)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("BENCH")][-1].split()
    if int(line[1]) != 0:
        raise SystemExit(f"{cmd[0]} failed (exit {line[1]}); see {log}")
    return float(line[2]), float(line[3]) / 1024.0, float(line[4])


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
    d, names, out = sys.argv[1], sys.argv[2].split(','), sys.argv[3]
    ph = pd.read_csv(d + '/pheno.tsv', sep='\\t'); cv = pd.read_csv(d + '/covar.tsv', sep='\\t')
    ph = ph.dropna()
    cv = cv.set_index('IID').loc[ph.IID].reset_index()
    iid = np.array(ph[['FID', 'IID']].astype(str).to_numpy(), dtype=str)
    with threadpool_limits(1):
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
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--m", type=int, default=15000)
    ap.add_argument("--chroms", type=int, default=10)
    ap.add_argument("--phenos", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dir", default="/tmp/contig_gwas_bench")
    ap.add_argument("--block-size", type=int, default=2000)
    ap.add_argument("--loop-all", action="store_true", help="run fastlmm once per phenotype")
    ap.add_argument("--skip", default="", help="comma list of: fastlmm,loop,plink,threads2")
    a = ap.parse_args()
    skip = set(filter(None, a.skip.split(",")))
    d = Path(a.dir)
    d.mkdir(parents=True, exist_ok=True)
    if not (d / "geno.bed").exists():
        t = time.perf_counter()
        simulate(d, n=a.n, m=a.m, chroms=a.chroms, n_pheno=a.phenos, seed=a.seed)
        print(f"simulated {a.n} x {a.m} on {a.chroms} chromosomes, {a.phenos} phenotypes "
              f"in {time.perf_counter() - t:.1f}s", flush=True)
    names = [f"PC{k}" for k in range(a.phenos)]
    rows = []
    gw = [str(ROOT / "bin" / "contig-gwas"), "--bfile", str(d / "geno"), "--pheno",
          str(d / "pheno.tsv"), "--covar", str(d / "covar.tsv"), "--block-size",
          str(a.block_size), "--no-progress", "--overwrite"]
    for th in (1, 2):
        if th == 2 and "threads2" in skip:
            continue
        # a chunk directory left by an interrupted run would be resumed, not recomputed
        shutil.rmtree(d / f"ours{th}.chunks", ignore_errors=True)
        w, mem, cpu = measure([PY, *gw, "--threads", str(th), "--out", str(d / f"ours{th}")],
                              env=one_thread_env(th), log=d / f"ours{th}.stderr")
        rows.append((f"contig-gwas LMM LOCO, {th} BLAS thread(s)", w, mem, cpu, ""))
        print(rows[-1], flush=True)
    shutil.rmtree(d / "ols.chunks", ignore_errors=True)
    w, mem, cpu = measure([PY, *gw, "--linear", "--out", str(d / "ols")],
                          env=one_thread_env(1), log=d / "ols.stderr")
    rows.append(("contig-gwas --linear (OLS)", w, mem, cpu, ""))
    print(rows[-1], flush=True)
    script = d / "fastlmm_run.py"
    script.write_text(FASTLMM)
    if "fastlmm" not in skip:
        w, mem, cpu = measure([PY, str(script), str(d), ",".join(names),
                               str(d / "fastlmm.tsv")], env=one_thread_env(1),
                              log=d / "fastlmm.stderr")
        rows.append(("fastlmm single_snp, all phenotypes in one call (LOCO)", w, mem, cpu, ""))
        print(rows[-1], flush=True)
    if "loop" not in skip:
        todo = names if a.loop_all else names[:1]
        total, peak, cpus = 0.0, 0.0, 0.0
        for nm in todo:
            w, mem, cpu = measure([PY, str(script), str(d), nm, "-"], env=one_thread_env(1),
                                  log=d / "fastlmm_loop.stderr")
            total, peak, cpus = total + w, max(peak, mem), cpus + cpu
        note = "" if a.loop_all else f"extrapolated: 1 phenotype x {len(names)}"
        f = len(names) / len(todo)
        rows.append(("fastlmm single_snp looped per phenotype", total * f, peak, cpus * f,
                     note))
        print(rows[-1], flush=True)
    plink = shutil.which("plink2")
    if plink and "plink" not in skip:
        w, mem, cpu = measure([plink, "--bfile", str(d / "geno"), "--pheno",
                               str(d / "pheno.tsv"), "--covar", str(d / "covar.tsv"), "--glm",
                               "hide-covar", "--covar-variance-standardize", "--out",
                               str(d / "plink")], env=one_thread_env(1), log=d / "plink.stderr")
        rows.append(("PLINK2 --glm (OLS, OPENBLAS_NUM_THREADS=1)", w, mem, cpu, ""))
        print(rows[-1], flush=True)
    ours_w, ours_c = rows[0][1], rows[0][3]
    print(f"\ncohort: {a.n} individuals x {a.m} variants, {a.chroms} chromosomes, "
          f"{a.phenos} phenotypes (one missingness pattern), 3 covariates")
    print("ratios are to contig-gwas LMM with 1 BLAS thread; CPU = user + system seconds "
          "(the fairer measure on a shared machine)")
    print(f"{'run':56s} {'wall s':>8s} {'CPU s':>8s} {'peak MiB':>8s} {'wall x':>7s} "
          f"{'CPU x':>7s}")
    for name, w, mem, cpu, note in rows:
        print(f"{name:56s} {w:8.1f} {cpu:8.1f} {mem:8.0f} {w / ours_w:7.2f} "
              f"{cpu / ours_c:7.2f}  {note}")
    if (d / "fastlmm.tsv").exists():
        ref = pd.read_csv(d / "fastlmm.tsv", sep="\t")
        rs = []
        for nm in names:
            s = pd.read_csv(d / f"ours1.{nm}.sumstats.tsv.gz", sep="\t").set_index("variant_id")
            r = ref[ref.Pheno == nm].set_index("SNP").loc[s.index]
            rs.append(np.corrcoef(s.neg_log10_p_value, -np.log10(r.PValue))[0, 1])
        print(f"agreement with fastlmm: Pearson r of -log10 p per phenotype: min {min(rs):.6f}")
    (d / "bench.json").write_text(json.dumps({"args": vars(a), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
