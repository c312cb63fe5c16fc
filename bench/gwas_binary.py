#!/usr/bin/env python3
"""Case-control phenotypes in contig-gwas: calibration under imbalance, power, and cost.

Not a test. Three parts, each printed as a table (with the CPU model and thread count):

1. Calibration (array level, the tests' own functions): a null phenotype at 1% and at 5%
   prevalence (a covariate with an effect) over ``--n`` unrelated individuals, and
   ``--per-bin`` variants in each minor-allele-frequency bin 0.5-1%, 1-5% and 5-50%,
   tested by the uncorrected score test, the score test with approximate Firth or SPA for
   score p < 0.05 (``--binary-test firth`` / ``spa``), and the linear model on the 0/1 scale
   (what ``--binary none`` runs: the LMM without relatedness is this OLS t test). Per
   prevalence, bin and test: lambda GC, and the type-1 error at alpha = 1e-4 and 1e-3 with
   its exact (Clopper-Pearson) 95% interval: ``yes`` where nominal lies inside it (within
   binomial error), ``INFLATED`` above it, ``low`` below (conservative).
2. Power (array level): a liability-threshold disease at 5% prevalence with ``--causal``
   causal variants (MAF 1-30%, liability h2 0.3 shared equally); causal variants found at
   p < 1e-4 (and 5e-8) by each test.
3. Relatives: 1,200 individuals of whom 1,000 in sib pairs (``tests/gwas_cohort``'s
   simulator), a liability-threshold disease at 5% and 20% prevalence that is polygenic on
   chromosome 1 only (liability h2 0.6), so that chromosome 2's variants are null but
   correlated within families; ``contig-gwas`` exact and scalable (approximate Firth, the
   leave-one-out LOCO prediction in the null model), against the logistic score test
   without a polygenic term (``--linear --binary-test score``) and the linear LMM on the 0/1
   scale (``--binary none``): lambda GC and the type-1 error at 0.01 on chromosome 2.
4. Cost in the scalable mode: ``contig-gwas --mode scalable`` on one quantitative phenotype
   and on one binary phenotype of the same size (``bench/gwas.py``'s simulated cohort, N x M
   on 4 chromosomes, its phenotype thresholded at 5% for the disease), each in its own
   process at ``--threads``: wall and CPU time, and the ratio binary / quantitative.

    .venv/bin/python bench/gwas_binary.py --n 5000 --per-bin 50000 --dir /tmp/bench_binary
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gwas import PY, ROOT, Runs, cpu_model, load1, simulate, thread_env  # noqa: E402

sys.path.insert(0, str(ROOT))
from contig_gwas.genomic_control import lambda_gc  # noqa: E402
from contig_gwas.gwas.association import associate_block, prepare_group  # noqa: E402
from contig_gwas.gwas.binary.model import associate_binary, fit_nulls  # noqa: E402

BINS = [(0.005, 0.01), (0.01, 0.05), (0.05, 0.5)]
TESTS = ["score", "firth", "spa", "linear"]


def _block_nlp(y: np.ndarray, X: np.ndarray, G: np.ndarray, nulls) -> dict[str, np.ndarray]:
    out = {t: associate_binary(nulls, G, test=t).neg_log10_p[:, 0]
           for t in ("score", "firth", "spa")}
    ols = prepare_group(S=None, U=None, X=X, Y=y[:, None], delta=None)
    out["linear"] = associate_block(ols, G).neg_log10_p[:, 0]
    return out


def calibration(*, n: int, per_bin: int, block: int, seed: int) -> pd.DataFrame:
    rows = []
    for prev in (0.01, 0.05):
        rng = np.random.default_rng(seed)
        X = np.column_stack([np.ones(n), rng.normal(size=n)])
        eta = np.log(prev / (1 - prev)) + 0.3 * X[:, 1]
        y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
        nulls, _ = fit_nulls(Y=y[:, None], X=X, predictions=None)
        secs = {t: 0.0 for t in TESTS}
        for lo, hi in BINS:
            nlp: dict[str, list[np.ndarray]] = {t: [] for t in TESTS}
            for a in range(0, per_bin, block):
                b = min(block, per_bin - a)
                G = rng.binomial(2, rng.uniform(lo, hi, b), (n, b)).astype(float)
                G = G[:, G.std(axis=0) > 0]
                for t in TESTS:
                    t0 = time.perf_counter()
                    if t == "linear":
                        ols = prepare_group(S=None, U=None, X=X, Y=y[:, None], delta=None)
                        v = associate_block(ols, G).neg_log10_p[:, 0]
                    else:
                        v = associate_binary(nulls, G, test=t).neg_log10_p[:, 0]
                    secs[t] += time.perf_counter() - t0
                    nlp[t].append(v)
            for t in TESTS:
                v = np.concatenate(nlp[t])
                v = v[np.isfinite(v)]
                row = {"prevalence": prev, "cases": int(y.sum()), "maf": f"{lo:g}-{hi:g}",
                       "test": t, "variants": len(v), "lambda_gc": lambda_gc(v)}
                for alpha in (1e-4, 1e-3):
                    k = int(np.sum(v > -np.log10(alpha)))
                    ci = stats.binomtest(k, len(v)).proportion_ci(0.95, method="exact")
                    row[f"t1e_{alpha:g}"] = k / len(v)
                    row[f"ci_{alpha:g}"] = f"{ci.low:.2g}-{ci.high:.2g}"
                    # within binomial error: nominal inside the interval; "low": conservative
                    row[f"ok_{alpha:g}"] = ("yes" if ci.low <= alpha <= ci.high else
                                            "low" if ci.high < alpha else "INFLATED")
                rows.append(row)
        print(f"prevalence {prev}: seconds per test over all bins "
              + ", ".join(f"{t} {s:.1f}" for t, s in secs.items()), flush=True)
    return pd.DataFrame(rows)


def power(*, n: int, n_causal: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed + 1)
    maf = rng.uniform(0.01, 0.3, n_causal)
    G = rng.binomial(2, maf, (n, n_causal)).astype(float)
    Z = (G - G.mean(0)) / G.std(0)
    liab = Z @ np.full(n_causal, np.sqrt(0.3 / n_causal)) + np.sqrt(0.7) * rng.normal(size=n)
    y = (liab > np.quantile(liab, 0.95)).astype(float)
    X = np.ones((n, 1))
    nulls, _ = fit_nulls(Y=y[:, None], X=X, predictions=None)
    nlp = _block_nlp(y, X, G, nulls)
    return pd.DataFrame([{"test": t, "causal": n_causal,
                          "found_p<1e-4": int(np.sum(v > 4)),
                          "found_p<5e-8": int(np.sum(v > -np.log10(5e-8))),
                          "mean_-log10p": float(np.mean(v))} for t, v in nlp.items()])


def relatives(*, d: Path, seed: int) -> pd.DataFrame:
    import bed_reader

    sys.path.insert(0, str(ROOT / "tests"))
    from gwas_cohort import simulate_genotypes

    from contig_gwas.cli import _common, gwas
    from contig_gwas.io.sumstats import read_sumstats

    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n, m = 1200, 4000
    g = simulate_genotypes(rng, n=n, m=m, sib_pairs=500, missing=0.0)
    iid = np.array([f"i{k}" for k in range(n)])
    bed_reader.to_bed(d / "rel.bed", g.astype(np.float32), properties={
        "fid": iid, "iid": iid, "sid": [f"v{j}" for j in range(m)],
        "chromosome": np.repeat(["1", "2"], m // 2),
        "bp_position": np.tile(np.arange(m // 2) + 1, 2),
        "allele_1": np.full(m, "A"), "allele_2": np.full(m, "G")})
    z = (g - g.mean(0)) / g.std(0)
    poly = z[:, :m // 2] @ rng.normal(size=m // 2)
    liab = np.sqrt(0.6) * (poly - poly.mean()) / poly.std() + np.sqrt(0.4) * rng.normal(size=n)
    ph = {f"D{int(100 * p)}": (liab > np.quantile(liab, 1 - p)).astype(float)
          for p in (0.05, 0.2)}
    pd.DataFrame({"FID": iid, "IID": iid, **ph}).to_csv(d / "rel_pheno.tsv", sep="\t",
                                                       index=False)
    pd.DataFrame({"FID": iid, "IID": iid, "c": rng.normal(size=n)}).to_csv(
        d / "rel_covar.tsv", sep="\t", index=False)
    runs = {"exact, firth (LOO LOCO prediction)": ["--mode", "exact"],
            "scalable, firth (LOO LOCO prediction)": ["--mode", "scalable"],
            "logistic score, no polygenic term": ["--linear", "--binary-test", "score"],
            "linear LMM on 0/1 (--binary none)": ["--mode", "exact", "--binary", "none"]}
    rows = []
    for k, (label, extra) in enumerate(runs.items()):
        out = str(d / f"rel{k}")
        t = time.perf_counter()
        _common.run(gwas.main, ["--bfile", str(d / "rel"), "--pheno", str(d / "rel_pheno.tsv"),
                                "--covar", str(d / "rel_covar.tsv"), "--out", out,
                                "--no-progress", "--overwrite", "--threads", "1"] + extra)
        sec = time.perf_counter() - t
        for name in ph:
            tab = read_sumstats(f"{out}.{name}.sumstats.tsv.gz")
            null = tab[tab.chromosome == 2]
            rows.append({"run": label, "disease": name, "seconds": round(sec, 1),
                         "lambda_gc_null": lambda_gc(null.neg_log10_p_value.to_numpy()),
                         "t1e_0.01_null": float(np.mean(null.p_value < 0.01)),
                         "lambda_gc_chr1": lambda_gc(
                             tab[tab.chromosome == 1].neg_log10_p_value.to_numpy())})
    return pd.DataFrame(rows)


def cost(*, d: Path, n: int, m: int, threads: int, max_load: float, wait: float) -> None:
    d.mkdir(parents=True, exist_ok=True)
    if not (d / "geno.bed").exists():
        simulate(d, n=n, m=m, chroms=4, n_pheno=1, seed=3)
    ph = pd.read_csv(d / "pheno.tsv", sep="\t")
    q = ph["PC0"].to_numpy()
    ph["DIS"] = np.where(np.isnan(q), np.nan, (q > np.nanquantile(q, 0.95)).astype(float))
    ph[["FID", "IID", "PC0"]].to_csv(d / "quant.tsv", sep="\t", index=False, na_rep="NA")
    ph[["FID", "IID", "DIS"]].to_csv(d / "binary.tsv", sep="\t", index=False, na_rep="NA")
    runs = Runs(max_load, wait)
    env = thread_env(1)
    for label, pheno in (("quantitative (PC0)", "quant.tsv"), ("binary (DIS, 5%)", "binary.tsv")):
        out = d / ("q" if "quant" in pheno else "b")
        runs.measure(f"scalable, {label}, --threads {threads}",
                     [PY, str(ROOT / "bin" / "contig-gwas"), "--bfile", str(d / "geno"),
                      "--pheno", str(d / pheno), "--covar", str(d / "covar.tsv"),
                      "--mode", "scalable", "--threads", str(threads), "--out", str(out),
                      "--overwrite", "--no-progress"], env=env, log=d / f"{out.name}.err")
        for ln in (out.with_suffix(".log")).read_text().splitlines():
            if ln.startswith("time ") or "lambda GC" in ln:
                print("   ", ln)
    runs.table(f"scalable, quantitative (PC0), --threads {threads}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--per-bin", type=int, default=50000)
    ap.add_argument("--block", type=int, default=2000)
    ap.add_argument("--causal", type=int, default=40)
    ap.add_argument("--cost-n", type=int, default=5000)
    ap.add_argument("--cost-m", type=int, default=20000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dir", default="/tmp/bench_binary")
    ap.add_argument("--max-load", type=float, default=99.0)
    ap.add_argument("--wait", type=float, default=0.0)
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: "
                    "calibration,power,relatives,cost")
    a = ap.parse_args()
    skip = set(a.skip.split(","))
    print(f"CPU: {cpu_model()}; load {load1():.2f}; array-level parts single-threaded BLAS "
          f"per process (OPENBLAS_NUM_THREADS as set: "
          f"{__import__('os').environ.get('OPENBLAS_NUM_THREADS', 'unset')})", flush=True)
    pd.set_option("display.width", 200)
    if "calibration" not in skip:
        t = time.perf_counter()
        tab = calibration(n=a.n, per_bin=a.per_bin, block=a.block, seed=11)
        print(f"\nCalibration, null phenotype, N = {a.n}, {a.per_bin} variants per MAF bin "
              f"({time.perf_counter() - t:.0f} s)")
        print(tab.to_string(index=False, float_format=lambda x: f"{x:.3g}"))
    if "power" not in skip:
        print(f"\nPower, liability-threshold disease at 5% prevalence, N = {a.n}")
        print(power(n=a.n, n_causal=a.causal, seed=11).to_string(index=False))
    if "relatives" not in skip:
        print("\nRelatives: 1,200 individuals (1,000 in sib pairs), disease polygenic on "
              "chromosome 1, chromosome 2 null (2,000 variants)", flush=True)
        print(relatives(d=Path(a.dir), seed=5).to_string(
            index=False, float_format=lambda x: f"{x:.3g}"))
    if "cost" not in skip:
        print(f"\nCost, scalable mode, N = {a.cost_n}, M = {a.cost_m}, 4 chromosomes")
        cost(d=Path(a.dir), n=a.cost_n, m=a.cost_m, threads=a.threads, max_load=a.max_load,
             wait=a.wait)


if __name__ == "__main__":
    main()
