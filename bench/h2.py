"""Benchmark contig-h2 against fastlmm (REML, same similarity) and BOLT-REML (where installed).

    .venv/bin/python bench/h2.py [--cohort DIR] [--phenotypes height ldl ...] [--no-bolt]
                                 [--calibration]

Without ``--cohort`` a small cohort is simulated into a temporary folder. Prints, per phenotype,
n, contig-h2's h2 (se), fastlmm's h2 (``fastlmm.inference.LMM``, REML, pysnptools' standardised
kinship), BOLT-REML's h2g (se) and the differences, with wall times; then the latent traits
against the simulator's truth; with ``--calibration``, the calibration harness summaries.
BOLT runs with ``OPENBLAS_NUM_THREADS=1`` (see docs on threads); its GRM normalisation and
stochastic trace estimates differ from FaST-LMM's, so small differences are expected.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def contig_h2(cohort: Path, names: list[str], out: Path, *, pheno: str = "phenotypes.tsv",
              covar: Path | None = None) -> tuple[pd.DataFrame, float]:
    from contig_gwas.cli import h2 as cli

    argv = ["--bfile", str(cohort / "genotypes"), "--pheno", str(cohort / pheno),
            "--pheno-name", *names, "--covar", str(covar or cohort / "covariates.tsv"),
            "--method", "reml", "--out", str(out), "--overwrite"]
    t = time.perf_counter()
    assert cli.main(argv) == 0
    return pd.read_csv(str(out) + ".h2.tsv", sep="\t").set_index("phenotype"), \
        time.perf_counter() - t


def fastlmm_h2(cohort: Path, names: list[str]) -> tuple[dict[str, float], float]:
    from fastlmm.inference import LMM
    from pysnptools.snpreader import Bed

    t = time.perf_counter()
    bed = Bed(str(cohort / "genotypes"), count_A1=True)
    iid = bed.iid[:, 1].astype(str)
    pheno = pd.read_csv(cohort / "phenotypes.tsv", sep="\t", index_col="IID")
    cov = pd.read_csv(cohort / "covariates.tsv", sep="\t", index_col="IID").drop(columns="FID")
    ref = cov["centre"].value_counts().sort_index().idxmax()
    cov = pd.get_dummies(cov, columns=["centre"], dtype=float).drop(columns=f"centre_{ref}")
    out = {}
    for name in names:
        y = pheno[name].reindex(iid)
        keep = y.notna().to_numpy() & cov.reindex(iid).notna().all(axis=1).to_numpy()
        G = bed[np.flatnonzero(keep), :].read(dtype="float64").standardize().val
        K = G @ G.T
        K *= len(K) / np.trace(K)
        lmm = LMM()
        lmm.setK(K)
        lmm.setX(np.column_stack([np.ones(keep.sum()), cov.reindex(iid[keep]).to_numpy()]))
        lmm.sety(y.to_numpy()[keep])
        out[name] = float(lmm.findH2(REML=True)["h2"])
    return out, time.perf_counter() - t


def bolt_h2(cohort: Path, name: str, tmp: Path) -> tuple[float, float, float]:
    """BOLT-REML h2g and its SE for one phenotype (OPENBLAS_NUM_THREADS=1)."""
    cov = pd.read_csv(cohort / "covariates.tsv", sep="\t")
    q = [c for c in cov.columns[2:] if c != "centre"]
    cmd = ["bolt", f"--bfile={cohort / 'genotypes'}", f"--phenoFile={cohort / 'phenotypes.tsv'}",
           f"--phenoCol={name}", f"--covarFile={cohort / 'covariates.tsv'}", "--covarCol=centre",
           *[f"--qCovarCol={c}" for c in q], "--reml", "--numThreads=1"]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    t = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp)
    wall = time.perf_counter() - t
    m = re.search(r"h2g \(1,1\): ([-\d.eE]+) \(([-\d.eE]+)\)", res.stdout)
    if res.returncode != 0 or m is None:
        print(f"BOLT failed for {name}: {res.stdout[-500:]} {res.stderr[-500:]}", file=sys.stderr)
        return float("nan"), float("nan"), wall
    return float(m.group(1)), float(m.group(2)), wall


def calibration() -> None:
    from contig_gwas.heritability import calibration as cal
    from contig_gwas.heritability.he import he_traces

    n = 500
    Z = cal.random_genotypes(n=n, m=200, seed=11)
    S, U = np.linalg.eigh(Z @ Z.T / Z.shape[1])
    S = np.maximum(S, 0.0)
    X = np.column_stack([np.ones(n), np.random.default_rng(12).normal(size=n)])
    for h2, seed in ((0.25, 1), (0.6, 2)):
        t = time.perf_counter()
        c = cal.calibrate_reml_h2(Z=Z, U=U, S=S, X=X, h2=h2, reps=200, seed=seed)
        print(f"{c.summary()}  [{time.perf_counter() - t:.1f}s]")
    t = time.perf_counter()
    c = cal.calibrate_reml_rg(Z=Z, U=U, S=S, X=X, h2=(0.5, 0.4), rg=0.5, re=0.2, reps=100,
                              seed=3)
    print(f"{c.summary()}  [{time.perf_counter() - t:.1f}s]")
    for c in cal.calibrate_he(Z=Z, X=X, h2=(0.5, 0.3), rg=0.5, re=0.2, reps=200, seed=4,
                              traces=he_traces(K=Z @ Z.T / Z.shape[1])):
        print(c.summary())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cohort", help="cohort directory (contig-simulate); default: simulate one")
    p.add_argument("--phenotypes", nargs="+", default=["height", "ldl", "systolic_bp"])
    p.add_argument("--no-bolt", action="store_true")
    p.add_argument("--calibration", action="store_true")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_h2."))
    try:
        if args.cohort:
            cohort = Path(args.cohort)
        else:
            from contig_gwas.simulate import simulate_cohort

            cohort = tmp / "cohort"
            simulate_cohort(out_dir=cohort, seed=1, n_individuals=1000, n_snps=6000,
                            n_chromosomes=3, image_size=16, progress=False)
        names = args.phenotypes
        ours, t_ours = contig_h2(cohort, names, tmp / "ours")
        ref, t_ref = fastlmm_h2(cohort, names)
        use_bolt = shutil.which("bolt") is not None and not args.no_bolt
        rows = []
        t_bolt = 0.0
        for name in names:
            row = {"phenotype": name, "n": int(ours.loc[name, "n"]),
                   "h2": ours.loc[name, "h2"], "se": ours.loc[name, "se"],
                   "fastlmm_h2": ref[name], "diff_fastlmm": ours.loc[name, "h2"] - ref[name]}
            if use_bolt:
                b, bse, wall = bolt_h2(cohort, name, tmp)
                t_bolt += wall
                row.update(bolt_h2=b, bolt_se=bse, diff_bolt=ours.loc[name, "h2"] - b)
            rows.append(row)
        print(f"\ncohort {cohort}")
        print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        print(f"wall: contig-h2 {t_ours:.1f}s (all phenotypes, incl. kinship), fastlmm "
              f"{t_ref:.1f}s" + (f", BOLT-REML {t_bolt:.1f}s" if use_bolt else ", BOLT absent"))
        truth = json.loads((cohort / "truth.json").read_text())["traits"]
        cov = pd.read_csv(cohort / "covariates.tsv", sep="\t")
        cov[["FID", "IID"] + [c for c in cov.columns if re.fullmatch(r"PC\d+", c)]].to_csv(
            tmp / "pcs.tsv", sep="\t", index=False)
        lat, t_lat = contig_h2(cohort, list(truth), tmp / "latent", pheno="latent_traits.tsv",
                               covar=tmp / "pcs.tsv")
        print("\nlatent traits (covariates: genetic PCs) against truth.json:")
        tab = pd.DataFrame([{"trait": k, "h2": lat.loc[k, "h2"], "se": lat.loc[k, "se"],
                             "realised_h2": v["realised_h2"],
                             "written_variants": v["realised_h2_written_variants"],
                             "z_written": (lat.loc[k, "h2"] - v["realised_h2_written_variants"])
                             / lat.loc[k, "se"]} for k, v in truth.items()])
        print(tab.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        if args.calibration:
            print()
            calibration()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
