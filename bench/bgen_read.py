#!/usr/bin/env python3
"""Benchmark reading a BGEN file: ``BgenSource`` against bgen-reader, the ``bgen`` package and
PLINK 2, all on one thread.

Not a test. Makes an N x M 8-bit zlib BGEN 1.2 file (the UK Biobank layout) with PLINK 2:

- ``--genotypes bed`` (default): hard calls simulated by ``bench/gwas.py``'s simulator
  (a .bed), exported with ``plink2 --bfile ... --export bgen-1.2 bits=8 ref-first``;
- ``--genotypes dosage``: ``plink2 --dummy N M 0.002 dosage-freq=F`` (a fraction F of the
  calls fractional, as imputed data are), exported the same way.

Then times, each in this process after one untimed warm-up read of the file (page cache):

- ours: ``BgenSource(path)`` (variant index scan) and ``read`` over all variants in blocks of
  ``--block`` variants (dosages and INFO);
- the previous path: bgen-reader ``open_bgen(...).read(dtype=float32, num_threads=1)`` in the
  same blocks, plus the N x M x 3 -> dosage sum (its index build timed apart); with
  ``--old-variants`` it reads only that many variants and the time is scaled to M;
- the ``bgen`` package (C++): ``BgenReader(path, delay_parsing=True)``, ``alt_dosage`` of
  every variant;
- PLINK 2 ``--bgen FILE ref-first --sample FILE --make-pgen`` and ``--freq`` with
  ``--threads 1`` (wall time of the process).

Prints the CPU model (lscpu), the thread counts (1 everywhere) and the ratios to ours.

    .venv/bin/python bench/bgen_read.py --n 5000 --m 50000 --dir /tmp/bench_bgen
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

for _k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_k] = "1"  # before numpy is imported: one thread for everything

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from gwas import cpu_model  # noqa: E402


def plink2(*args: str) -> float:
    """Wall seconds of one ``plink2 ... --threads 1`` run."""
    exe = shutil.which("plink2")
    t = time.perf_counter()
    res = subprocess.run([exe, *args, "--threads", "1"], capture_output=True, text=True,
                         env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
    w = time.perf_counter() - t
    if res.returncode != 0:
        raise SystemExit(f"plink2 {' '.join(args)} failed:\n{res.stdout[-2000:]}")
    return w


def make_file(d: Path, *, n: int, m: int, genotypes: str, dosage_freq: float) -> Path:
    out = d / f"{genotypes}_{n}x{m}"
    if Path(f"{out}.bgen").exists():
        return Path(f"{out}.bgen")
    d.mkdir(parents=True, exist_ok=True)
    if genotypes == "bed":
        from gwas import simulate  # bench/gwas.py

        simulate(d, n=n, m=m, chroms=10, n_pheno=1, seed=1)
        src = ["--bfile", str(d / "geno")]
    else:
        plink2("--dummy", str(n), str(m), "0.002", f"dosage-freq={dosage_freq}", "acgt",
               "--make-pgen", "--out", str(d / "dummy"))
        src = ["--pfile", str(d / "dummy")]
    plink2(*src, "--export", "bgen-1.2", "bits=8", "ref-first", "--out", str(out))
    return Path(f"{out}.bgen")


def time_ours(path: Path, block: int) -> tuple[float, float, np.ndarray]:
    from contig_gwas.io.bgen import BgenSource

    t = time.perf_counter()
    src = BgenSource(path)
    t_open = time.perf_counter() - t
    m = len(src.variants)
    t = time.perf_counter()
    checksum = np.zeros(2)
    for a in range(0, m, block):
        b = src.read(variants=slice(a, min(a + block, m)))
        checksum += [np.nansum(b.dosages[:, :1]), b.info.sum()]
    return t_open, time.perf_counter() - t, checksum


def time_bgen_reader(path: Path, block: int, m_old: int, d: Path) -> tuple[float, float]:
    from bgen_reader import open_bgen

    meta = d / (path.name + ".metadata2.mmm")
    meta.unlink(missing_ok=True)
    t = time.perf_counter()
    bg = open_bgen(path.resolve(), metadata_filepath=meta, allow_complex=False, verbose=False)
    bg.nalleles  # the index is built lazily
    t_index = time.perf_counter() - t
    t = time.perf_counter()
    for a in range(0, m_old, block):
        p = bg.read(index=np.s_[:, a:min(a + block, m_old)], dtype=np.float32, num_threads=1)
        _ = p[..., 1] + 2.0 * p[..., 2]
    return t_index, time.perf_counter() - t


def time_bgen_package(path: Path) -> float:
    from bgen import BgenReader

    t = time.perf_counter()
    with BgenReader(str(path), delay_parsing=True) as r:
        for v in r:
            v.alt_dosage
    return time.perf_counter() - t


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--m", type=int, default=50000)
    ap.add_argument("--block", type=int, default=1000, help="variants per read")
    ap.add_argument("--genotypes", choices=["bed", "dosage"], default="bed")
    ap.add_argument("--dosage-freq", type=float, default=0.5)
    ap.add_argument("--old-variants", type=int, default=None,
                    help="variants read with bgen-reader (default all; time scaled to M)")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/bench_bgen"))
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    a = parse_args(argv)
    if shutil.which("plink2") is None:
        raise SystemExit("plink2 is needed to write the file and as the reference")
    path = make_file(a.dir, n=a.n, m=a.m, genotypes=a.genotypes, dosage_freq=a.dosage_freq)
    sample = path.with_suffix(".sample")
    print(f"CPU: {cpu_model()}")
    print("threads: 1 (ours single-threaded, bgen-reader num_threads=1, plink2 --threads 1, "
          "BLAS 1)")
    print(f"file: {path} ({path.stat().st_size / 2**20:.0f} MiB; {a.n} samples x {a.m} "
          f"variants, 8-bit zlib, {a.genotypes})")
    path.read_bytes()  # warm the page cache for every reader alike
    time_ours(path, a.block)  # warm-up (imports, page cache)
    t_open, t_read, _ = time_ours(path, a.block)
    m_old = min(a.m, a.old_variants or a.m)
    t_index, t_old = time_bgen_reader(path, a.block, m_old, a.dir)
    t_old *= a.m / m_old
    t_pkg = time_bgen_package(path)
    out = a.dir / "plink2_out"
    t_pgen = plink2("--bgen", str(path), "ref-first", "--sample", str(sample), "--make-pgen",
                    "--out", str(out))
    t_freq = plink2("--bgen", str(path), "ref-first", "--sample", str(sample), "--freq",
                    "--out", str(out))
    ours = t_open + t_read
    rows = [
        ("BgenSource: open (variant index scan)", t_open, ""),
        ("BgenSource: read all, dosages + INFO", t_read, ""),
        ("BgenSource: total", ours, ""),
        ("bgen-reader: index build (child process before)", t_index, ""),
        ("bgen-reader: read float32 N x B x 3 -> dosage", t_old,
         "" if m_old == a.m else f"(read {m_old} variants, scaled to {a.m})"),
        ("bgen-reader: total", t_index + t_old, ""),
        ("bgen package (C++): alt_dosage of every variant", t_pkg, ""),
        ("plink2 --bgen ref-first --make-pgen", t_pgen, ""),
        ("plink2 --bgen ref-first --freq", t_freq, ""),
    ]
    print(f"\n{'run':52s} {'wall s':>8s} {'/ ours':>8s}")
    for name, w, note in rows:
        print(f"{name:52s} {w:8.2f} {w / ours:8.2f}  {note}")
    print(f"\nours / plink2 --make-pgen: {ours / t_pgen:.2f}x; ours / plink2 --freq: "
          f"{ours / t_freq:.2f}x; bgen-reader / ours: {(t_index + t_old) / ours:.1f}x")


if __name__ == "__main__":
    main()
