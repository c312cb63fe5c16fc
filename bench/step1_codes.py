#!/usr/bin/env python3
"""Step 1 on 2-bit against 8-bit model genotypes (issue #20): peak memory, time and the
agreement of the step-1 solutions, at equal N and M1, at one thread and at all CPUs.

Not a test. Simulates the ``bench/scaling.py`` cohort (``simulate_streaming``) and runs, each in
its own process, the model-genotype pass (``blocks.model_genotypes``) and the step-1 fit
(``step1.fit_step1``, 10 phenotypes, LOCO) of every individual with

- ``8-bit``: today's 8-bit codes (``bits=8``), N M1 bytes;
- ``2-bit``: 2-bit codes packed in memory (``bits=2, bed_map=False``), ceil(N/4) M1 bytes;
- ``2-bit map``: the .bed memory-mapped (``bits=2``), no copy.

Memory: the process's peak RSS (``ru_maxrss``) and step 1's own share, the peak minus the RSS
before step 1 (interpreter, libraries, phenotypes loaded); for the map, its RSS counts the
.bed's pages it read (clean pages the kernel may drop). Time: wall and CPU seconds of step 1.
Prints the CPU model and the ratios against the targets (memory <= 0.3x, time <= 1.2x) and the
correlation of every LOCO solution ``U`` with the 8-bit run's.

    .venv/bin/python bench/step1_codes.py --n 5000 --m 100000 --dir /tmp/contig_step1_codes
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gwas import PY, cpu_model, load1, thread_counts, thread_env  # noqa: E402
from scaling import simulate_streaming  # noqa: E402

CHILD = """
import json, resource, sys, time
import numpy as np, pandas as pd
from contig_gwas.gwas.parallel import Workers, single_threaded_blas
from contig_gwas.gwas.scalable.blocks import model_genotypes
from contig_gwas.gwas.scalable.step1 import fit_step1
from contig_gwas.io.genotypes import open_genotypes
from contig_gwas.runlog import NullLog
a = json.loads(sys.argv[1])
src = open_genotypes(bfile=a['bfile'])
n = len(src.samples)
ph = pd.read_csv(a['dir'] + '/pheno.tsv', sep='\\t')
Y = ph[[f'PC{k}' for k in range(a['phenos'])]].fillna(0.0).to_numpy()
cv = pd.read_csv(a['dir'] + '/covar.tsv', sep='\\t')
X = np.column_stack([np.ones(n), cv[['c1', 'c2', 'c3']].to_numpy()])

class Everyone:
    rows, n = np.arange(n), n

def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024.0

import scipy.linalg, tqdm  # noqa: E401  what step 1 imports on first use, outside its share
np.ones((256, 256), np.float32) @ np.ones((256, 64), np.float32)   # the BLAS's buffers
before = rss()
t, c = time.perf_counter(), time.process_time()
with single_threaded_blas(), Workers(a['threads']) as w:
    genos, _ = model_genotypes(src=src, rows=np.arange(n), groups=[Everyone()],
                               qc_thresholds=None, block_size=2000, max_variants=None,
                               progress=False, log=NullLog(), workers=w, bits=a['bits'],
                               bed_map=a['map'])
    t1, c1 = time.perf_counter(), time.process_time()
    fit = fit_step1(genotypes=genos[0], X=X, Y=Y, names=list(range(a['phenos'])), workers=w)
t2, c2 = time.perf_counter(), time.process_time()
np.save(a['out'], fit.U)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
print('RESULT', json.dumps(dict(before=before, peak=peak, codes=genos[0].nbytes / 2**20,
      wall_pass=t1 - t, wall_fit=t2 - t1, cpu_pass=c1 - c, cpu_fit=c2 - c1,
      h2=fit.h2.tolist(), cg=fit.n_iter_cg.tolist(),
      lanczos=int(fit.n_iter_lanczos.max()))))
"""

VARIANTS = (("8-bit", 8, False), ("2-bit", 2, False), ("2-bit map", 2, True))


def run(d: Path, *, label: str, bits: int, mapped: bool, threads: int, phenos: int) -> dict:
    out = d / f"U_{bits}_{int(mapped)}_{threads}.npy"
    args = dict(bfile=str(d / "geno"), dir=str(d), bits=bits, map=mapped, threads=threads,
                phenos=phenos, out=str(out))
    l0 = load1()
    res = subprocess.run([PY, "-c", CHILD, json.dumps(args)], env=thread_env(threads),
                         capture_output=True, text=True)
    if res.returncode:
        raise SystemExit(f"{label} failed:\n{res.stderr[-3000:]}")
    r = json.loads([ln for ln in res.stdout.splitlines() if ln.startswith("RESULT")][-1][7:])
    r.update(load=(l0, load1()), U=np.load(out))
    step1 = r["peak"] - r["before"]
    print(f"{label:10s} threads {threads}: step 1 {r['wall_pass'] + r['wall_fit']:7.1f} s wall "
          f"({r['wall_pass']:.1f} pass + {r['wall_fit']:.1f} fit), "
          f"{r['cpu_pass'] + r['cpu_fit']:7.1f} s CPU; peak RSS {r['peak']:7.0f} MiB, step 1's "
          f"{step1:6.0f} MiB (codes {r['codes']:.0f} MiB); Lanczos {r['lanczos']}, CG {r['cg']}; "
          f"load {l0:.2f} -> {load1():.2f}", flush=True)
    return r


def block_costs(ns=(5000, 50000), k: int = 60, reps: int = 7) -> None:
    """CPU milliseconds per block (``codes.default_block(N)`` variants) of decoding
    (``Step1Genotypes.standardised``) and of decoding plus a step-1 task's two products with k
    columns, 8-bit against 2-bit codes, one thread, best of ``reps``."""
    import time

    from threadpoolctl import threadpool_limits

    from contig_gwas.gwas.scalable.codes import Step1Genotypes, default_block

    rng = np.random.default_rng(0)
    for n in ns:
        b = default_block(n)
        m = 4 * b
        calls = np.asfortranarray(rng.integers(0, 3, (n, m)).astype(np.int8))
        calls[rng.random(calls.shape) < 0.002] = -127
        chrom = np.ones(m, np.int64)
        geno = {bits: Step1Genotypes.from_blocks([(np.where(calls < 0, np.nan, calls)
                                                   .astype(np.float32), chrom)], n=n, m=m,
                                                 bits=bits) for bits in (8, 2)}
        R = rng.normal(size=(n, k)).astype(np.float32)
        res = {}
        with threadpool_limits(1):
            for bits, g in geno.items():
                best_d = best_t = np.inf
                for r in range(reps):
                    a = (r % 4) * b
                    t = time.process_time()
                    z = g.standardised(a, a + b)
                    best_d = min(best_d, time.process_time() - t)
                    z @ (z.T @ R)
                    best_t = min(best_t, time.process_time() - t)
                res[bits] = (best_d, best_t)
        print(f"per block of {b} variants, N {n}, 1 thread, CPU ms: decode 8-bit "
              f"{res[8][0] * 1e3:.2f}, 2-bit {res[2][0] * 1e3:.2f} ({res[2][0] / res[8][0]:.2f}x);"
              f" decode + products (k {k}) 8-bit {res[8][1] * 1e3:.1f}, 2-bit "
              f"{res[2][1] * 1e3:.1f} ({res[2][1] / res[8][1]:.2f}x)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--m", type=int, default=100000)
    ap.add_argument("--chroms", type=int, default=10)
    ap.add_argument("--phenos", type=int, default=10)
    ap.add_argument("--threads", default="1,all")
    ap.add_argument("--dir", default="/tmp/contig_gwas_step1_codes")
    ap.add_argument("--blocks-only", action="store_true", help="only the per-block costs")
    a = ap.parse_args()
    if a.blocks_only:
        block_costs()
        return
    d = Path(a.dir)
    d.mkdir(parents=True, exist_ok=True)
    if not (d / "geno.bed").exists():
        simulate_streaming(d, n=a.n, m=a.m, chroms=a.chroms, n_pheno=a.phenos, seed=1)
    threads = thread_counts(a.threads)
    print(f"CPU: {cpu_model()}; thread counts {threads}; {a.n} individuals x {a.m} model "
          f"variants, {a.chroms} chromosomes, {a.phenos} phenotypes", flush=True)
    for th in threads:
        res = {label: run(d, label=label, bits=bits, mapped=mapped, threads=th,
                          phenos=a.phenos) for label, bits, mapped in VARIANTS}
        old = res["8-bit"]
        for label in ("2-bit", "2-bit map"):
            new = res[label]
            mem = (new["peak"] - new["before"]) / (old["peak"] - old["before"])
            tw = ((new["wall_pass"] + new["wall_fit"]) / (old["wall_pass"] + old["wall_fit"]))
            tc = (new["cpu_pass"] + new["cpu_fit"]) / (old["cpu_pass"] + old["cpu_fit"])
            U, V = new["U"], old["U"]
            r = min(np.corrcoef(U[c, :, j], V[c, :, j])[0, 1] for c in range(U.shape[0])
                    for j in range(U.shape[2]))
            print(f"  {label} / 8-bit, {th} thread(s): step-1 memory {mem:.3f}x (target <= 0.3), "
                  f"peak RSS {new['peak'] / old['peak']:.3f}x, time {tw:.3f}x wall, {tc:.3f}x "
                  f"CPU (target <= 1.2); r(U) min over LOCO solves and phenotypes {r:.7f}; "
                  f"max |h2 difference| "
                  f"{np.abs(np.subtract(new['h2'], old['h2'])).max():.2e}", flush=True)
    block_costs()


if __name__ == "__main__":
    main()
