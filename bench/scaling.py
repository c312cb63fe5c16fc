#!/usr/bin/env python3
"""The scaling run of the scalable mode (issue #20): a cohort as large as the machine allows,
ours against PLINK 2 ``--glm`` and BOLT-LMM ``--lmmInfOnly`` at the same thread count, time and
peak memory against the formulas, and the per-block costs extrapolated to 500,000 individuals
x 500,000 model variants x 10M tested variants.

Not a test. The cohort is ``bench/gwas.py``'s simulator (independent variants, allele
frequencies U(0.05, 0.5), 0.2% missing calls, 20 causal variants, phenotypes sharing one 5%
missingness pattern, 3 covariates), streamed to the .bed in blocks (``packed.pack_calls``: the
.bed layout), so the N x M genotypes are never in memory. Each tool runs in its own process,
wall time, CPU time and peak RSS measured (``gwas.Runs``), with the 1-minute load average at
its start and end (the machine may be shared). BOLT-LMM runs one phenotype per process (its
only mode): ``--bolt-phenos`` of them are run (0: none) and multiplied out, each under
``--bolt-timeout`` seconds.

    .venv/bin/python bench/scaling.py --n 50000 --m 100000 --dir /tmp/contig_scaling
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gwas import PY, ROOT, Runs, cpu_model, load1, thread_env  # noqa: E402
from gwas_scalable import RUN, log_times  # noqa: E402

sys.path.insert(0, str(ROOT))


def simulate_streaming(d: Path, *, n: int, m: int, chroms: int, n_pheno: int, seed: int,
                       block: int = 2000) -> None:
    """``gwas.simulate``'s cohort, written block by block (memory ``~10 N block`` bytes)."""
    from contig_gwas.gwas.scalable.packed import pack_calls

    rng = np.random.default_rng(seed)
    af = rng.uniform(0.05, 0.5, m)
    causal = np.sort(rng.choice(m, 20, replace=False))
    x = np.empty((n, 20))
    chrom = np.repeat(np.arange(1, chroms + 1), -(-m // chroms))[:m]
    with open(d / "geno.bed", "wb") as fh:
        fh.write(b"\x6c\x1b\x01")
        for a in range(0, m, block):
            b = min(a + block, m)
            p = af[a:b].astype(np.float32)
            u = rng.random((b - a, n), dtype=np.float32)            # variant-major
            g = (u < 1 - (1 - p[:, None]) ** 2).astype(np.int8)
            g += u < (p * p)[:, None]
            miss = rng.random((b - a, n), dtype=np.float32) < 0.002
            g[miss] = -127
            fh.write(pack_calls(g.T).tobytes())
            for k in np.flatnonzero((causal >= a) & (causal < b)):
                x[:, k] = g[causal[k] - a]
    iid = np.array([f"i{k}" for k in range(n)])
    pd.DataFrame({"f": iid, "i": iid, "p": 0, "m": 0, "s": 0, "y": -9}).to_csv(
        d / "geno.fam", sep="\t", header=False, index=False)
    pd.DataFrame({"c": chrom, "v": [f"v{j}" for j in range(m)], "cm": 0,
                  "bp": np.arange(m) + 1, "a1": "A", "a2": "G"}).to_csv(
        d / "geno.bim", sep="\t", header=False, index=False)
    x[x < 0] = 1.0
    x = (x - x.mean(0)) / x.std(0)
    covar = rng.normal(size=(n, 3))
    ph = {}
    rows_missing = rng.random(n) < 0.05
    for k in range(n_pheno):
        y = x @ rng.normal(0, 0.15, 20) + covar @ [0.2, 0.1, 0.0] + rng.normal(size=n)
        y[rows_missing] = np.nan
        ph[f"PC{k}"] = y
    pd.DataFrame({"FID": iid, "IID": iid, **ph}).to_csv(d / "pheno.tsv", sep="\t",
                                                       index=False, na_rep="NA")
    pd.DataFrame({"FID": iid, "IID": iid, "c1": covar[:, 0], "c2": covar[:, 1],
                  "c3": covar[:, 2]}).to_csv(d / "covar.tsv", sep="\t", index=False)


def pass_costs(*, n: int, m: int, threads: int, widths=(10, 100), reps: int = 2
               ) -> dict[int, float]:
    """CPU seconds (all threads; free of the machine's other load) of one step-1 pass
    (``kinship_times``) with k columns over ``m`` random 2-bit model variants of ``n``
    individuals (10 chromosomes, LOCO columns), on ``threads`` worker threads: best of
    ``reps``."""
    from contig_gwas.gwas.parallel import Workers, single_threaded_blas
    from contig_gwas.gwas.scalable.codes import Step1Genotypes, default_block

    rng = np.random.default_rng(0)
    codes = rng.integers(0, 256, (m, -(-n // 4)), dtype=np.uint8)
    g = Step1Genotypes(codes=codes, a=np.full(m, 0.01, np.float32),
                       b=np.full(m, -1.0, np.float32), ss=np.full(m, float(n)),
                       chromosome=np.repeat(np.arange(1, 11), -(-m // 10))[:m],
                       block=default_block(n), bits=2, n_individuals=n)
    out = {}
    with single_threaded_blas(), Workers(threads) as w:
        for k in widths:
            R = rng.normal(size=(n, k))
            loco = np.repeat(np.arange(1, 11), -(-k // 10))[:k]
            best = np.inf
            for _ in range(reps):
                t = time.process_time()
                g.kinship_times(R, loco=loco, workers=w)
                best = min(best, time.process_time() - t)
            out[k] = best
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50000)
    ap.add_argument("--m", type=int, default=100000)
    ap.add_argument("--chroms", type=int, default=10)
    ap.add_argument("--phenos", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dir", default="/tmp/contig_gwas_scaling")
    ap.add_argument("--block-size", type=int, default=2000)
    ap.add_argument("--bolt-phenos", type=int, default=1)
    ap.add_argument("--bolt-timeout", type=float, default=1800)
    ap.add_argument("--skip", default="", help="comma-separated: plink, bolt, ours, passes")
    a = ap.parse_args()
    skip = set(a.skip.split(","))
    d = Path(a.dir)
    d.mkdir(parents=True, exist_ok=True)
    th = a.threads
    print(f"CPU: {cpu_model()}; threads {th}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
          flush=True)
    if not (d / "geno.bed").exists():
        t = time.perf_counter()
        simulate_streaming(d, n=a.n, m=a.m, chroms=a.chroms, n_pheno=a.phenos, seed=a.seed)
        print(f"simulated {a.n} x {a.m} in {time.perf_counter() - t:.0f} s", flush=True)
    names = [f"PC{k}" for k in range(a.phenos)]
    runs = Runs(max_load=1e9, wait=0)
    base = f"ours scalable, {a.phenos} phenotypes, --threads {th}"
    if "ours" not in skip:
        args = dict(mode="scalable", out=str(d / "scal"), bfile=str(d / "geno"),
                    pheno=str(d / "pheno.tsv"), covar=str(d / "covar.tsv"), pheno_names=names,
                    block_size=a.block_size, threads=th, overwrite=True, progress=False)
        shutil.rmtree(d / "scal.chunks", ignore_errors=True)
        runs.measure(base, [PY, "-c", RUN, json.dumps(args)], env=thread_env(th),
                     log=d / "scal.stderr")
    plink = shutil.which("plink2")
    if plink and "plink" not in skip:
        runs.measure(f"PLINK2 --glm, {a.phenos} phenotypes, --threads {th}",
                     [plink, "--bfile", str(d / "geno"), "--pheno", str(d / "pheno.tsv"),
                      "--pheno-name", ",".join(names), "--covar", str(d / "covar.tsv"),
                      "--glm", "hide-covar", "--covar-variance-standardize", "--threads",
                      str(th), "--out", str(d / "plink")], env=thread_env(th),
                     log=d / "plink.stderr")
    bolt = shutil.which("bolt")
    if bolt and "bolt" not in skip and a.bolt_phenos:
        total, peak, cpu, l0 = 0.0, 0.0, 0.0, load1()
        done = 0
        for nm in names[:a.bolt_phenos]:
            cmd = [bolt, "--bfile", str(d / "geno"), "--phenoFile", str(d / "pheno.tsv"),
                   "--phenoCol", nm, "--covarFile", str(d / "covar.tsv"), "--qCovarCol",
                   "c{1:3}", "--lmmInfOnly", "--numThreads", str(th), "--maxMissingPerSnp", "1",
                   "--statsFile", str(d / f"bolt.{nm}.stats")]
            try:
                w, mem, c = runs.measure(f"BOLT-LMM {nm}", ["timeout", str(int(a.bolt_timeout)),
                                                              *cmd],
                                         env=thread_env(1), log=d / f"bolt.{nm}.stderr")
            except SystemExit as e:
                print(f"BOLT-LMM {nm}: did not finish in {a.bolt_timeout:.0f} s ({e})")
                break
            runs.rows.pop(f"BOLT-LMM {nm}")
            total, peak, cpu, done = total + w, max(peak, mem), cpu + c, done + 1
        if done:
            runs.add(f"BOLT-LMM --lmmInfOnly, --numThreads {th}", total * a.phenos / done, peak,
                     cpu * a.phenos / done, (l0, load1()),
                     "" if done == a.phenos else f"extrapolated: {done} phenotype(s) x "
                                                 f"{a.phenos / done:g}")
    print(f"\ncohort: {a.n} individuals x {a.m} variants, {a.chroms} chromosomes, {a.phenos} "
          f"phenotypes, 3 covariates; CPU {cpu_model()}; {th} threads every tool")
    if base in runs.rows:
        runs.table(base)
        report_ours(d, a, runs.rows[base])
    if "passes" not in skip:
        extrapolate(a, d)


def report_ours(d: Path, a, row: tuple) -> None:
    """Our run's parts, and its peak memory and step-1 flops against the formulas."""
    from contig_gwas.gwas.scalable.memory import peak_memory_bytes

    log = d / "scal.log"
    t = log_times(log)
    print("ours, parts (s): " + ", ".join(f"{k} {v:.1f}" for k, v in t.items()))
    null = pd.read_csv(d / "scal.nullmodel.tsv", sep="\t")
    n = int(null.n.iloc[0])
    m1 = int(null.n_model_variants.iloc[0])
    lanczos, cg = int(null.n_iter.max()), int(null.cg_iterations.max())
    for bits, what in ((2, "2-bit codes, memory-mapped .bed"), (8, "8-bit codes (before)")):
        f = peak_memory_bytes(n=n, m_model=m1, chromosomes=a.chroms, phenotypes=a.phenos,
                              block_size=a.block_size, threads=a.threads, bits=bits)
        print(f"peak memory formula, {what}: {f / 2**20:.0f} MiB")
    print(f"peak memory measured: {row[1]:.0f} MiB (RSS, mapped .bed pages included)")
    width = a.phenos + 20 + 30
    flops = 4 * n * m1 * (width * lanczos + a.phenos + a.chroms * a.phenos * cg)
    fit = t.get("step 1", 0.0) - t.get("step 1: model genotypes (one pass)", 0.0)
    print(f"step 1: {lanczos} Lanczos steps, {cg} CG iterations (upper bound of the formula "
          f"4 N M1 (w I_L + P + C P I_CG) = {flops / 1e12:.1f} Tflop; fit {fit:.0f} s: "
          f"{flops / max(fit, 1e-9) / 1e9:.0f} Gflop/s)")


def extrapolate(a, d: Path, target=(500_000, 500_000, 10_000_000)) -> None:
    """Per-pass costs at this N on a share of the model variants (``pass_costs``), linear in
    N M1 and affine in k: scaled to ``target`` with this run's iteration counts; step 2 and
    the model-genotype pass scaled from this run's log (linear in N M)."""
    m_sub = min(a.m, 20000)
    c = pass_costs(n=a.n, m=m_sub, threads=a.threads)
    (k1, t1), (k2, t2) = sorted(c.items())
    per_col = (t2 - t1) / (k2 - k1)
    fixed = t1 - per_col * k1
    nm = a.n * m_sub
    print(f"one step-1 pass over {m_sub} model variants x {a.n} individuals, {a.threads} "
          f"threads, CPU s: k={k1} {t1:.2f}, k={k2} {t2:.2f} -> {fixed / nm * 1e12:.0f} ps per "
          f"genotype (decode, any k) + {per_col / nm * 1e12:.1f} ps per genotype and column "
          f"(CPU time; wall = CPU / threads on idle cores)")
    log = d / "scal.log"
    if not log.exists():
        return
    t = log_times(log)
    null = pd.read_csv(d / "scal.nullmodel.tsv", sep="\t")
    lanczos, cg = int(null.n_iter.max()), int(null.cg_iterations.max())
    nt, m1t, mtest = target
    for chroms in (a.chroms, 22):
        k_l, k_cg = a.phenos + 20 + 30, chroms * a.phenos
        passes = (lanczos * (fixed + per_col * k_l) + (cg + 1) * (fixed + per_col * k_cg)
                  + (fixed + per_col * a.phenos)) / nm * nt * m1t / a.threads
        read = t.get("step 1: model genotypes (one pass)", 0.0) / (a.n * a.m) * nt * m1t
        step2 = t.get("step 2 (scan)", 0.0) / (a.n * a.m) * nt * mtest
        print(f"extrapolated to {nt:,} x {m1t:,} model x {mtest:,} tested variants, {chroms} "
              f"chromosomes, {a.phenos} phenotypes, {a.threads} threads (passes: CPU / "
              f"threads; the rest: this run's wall time scaled): step-1 passes "
              f"{passes / 3600:.1f} h ({lanczos} Lanczos + {cg + 1} CG + 1 passes), model "
              f"genotypes {read / 3600:.1f} h, step 2 {step2 / 3600:.1f} h")
    from contig_gwas.gwas.scalable.memory import peak_memory_bytes

    for bits in (2, 8):
        f = peak_memory_bytes(n=nt, m_model=m1t, chromosomes=22, phenotypes=a.phenos,
                              block_size=a.block_size, threads=a.threads, bits=bits)
        print(f"peak memory formula at {nt:,} x {m1t:,}, 22 chromosomes, {bits}-bit codes: "
              f"{f / 2**30:.0f} GiB")


if __name__ == "__main__":
    try:
        main()
    except subprocess.CalledProcessError as e:  # pragma: no cover
        raise SystemExit(str(e)) from None
