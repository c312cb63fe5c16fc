"""A tiny contig-pretrain cohort for the pretrain and embed tests.

``make_cohort`` writes images whose colour follows a genetic score, PLINK genotypes, PGS and
burden tables with some individuals absent, and covariates; ``tiny_args`` is a one-epoch
contig-pretrain command line on it. A helper module, not a test module.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

N_IND = 40
N_SNP = 60


def make_cohort(root: Path, *, n: int = N_IND, size: int = 32, seed: int = 0) -> Path:
    """Write a tiny cohort under ``root``; return the folder. Same layout as the simulator."""
    from bed_reader import to_bed
    from PIL import Image

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / "images").mkdir(exist_ok=True)
    iid = np.array([f"ind{i:03d}" for i in range(n)])
    g = rng.binomial(2, 0.3, size=(n, N_SNP)).astype(np.float32)
    g[rng.random(g.shape) < 0.02] = np.nan
    score = np.nan_to_num(g[:, :10] - 0.6).sum(axis=1)
    score = (score - score.mean()) / score.std()
    to_bed(str(root / "genotypes.bed"), g, properties={
        "fid": iid, "iid": iid, "chromosome": np.repeat(["1", "2"], N_SNP // 2),
        "sid": [f"rs{j}" for j in range(N_SNP)], "bp_position": np.arange(N_SNP) * 1000 + 1,
        "allele_1": ["A"] * N_SNP, "allele_2": ["G"] * N_SNP}, count_A1=True)
    rows = []
    yy, xx = np.mgrid[:size, :size] / size
    for i in range(n):
        for inst in ("left", "right"):
            base = 0.5 + 0.35 * np.tanh(score[i])
            img = np.stack([base + 0.1 * np.sin(6 * xx), 0.5 + 0.3 * yy * base,
                            1 - base + 0.0 * xx], axis=-1)
            img = img + 0.05 * rng.standard_normal(img.shape)
            img = (np.clip(img, 0, 1) * 255).astype(np.uint8)
            name = f"images/{iid[i]}_{inst}.png"
            Image.fromarray(img).save(root / name)
            rows.append((iid[i], name, inst))
    pd.DataFrame(rows, columns=["IID", "path", "instance"]).to_csv(
        root / "manifest.tsv", sep="\t", index=False)
    pgs = pd.DataFrame({"FID": iid, "IID": iid, "PGS_a": score + rng.normal(0, .3, n),
                        "PGS_b": rng.normal(size=n), "PGS_c": rng.normal(size=n) * 5 + 2})
    pgs.iloc[: n // 8].to_csv(root / "pgs_drop.tsv", sep="\t", index=False)  # unused
    pgs.iloc[n // 8:].to_csv(root / "pgs.tsv", sep="\t", index=False, na_rep="NA")
    bur = pd.DataFrame({"FID": iid, "IID": iid,
                        **{f"GENE{j}": rng.binomial(1, 0.2, n) for j in range(8)}})
    bur.iloc[: n - n // 8].to_csv(root / "burden.tsv", sep="\t", index=False)
    cov = pd.DataFrame({"FID": iid, "IID": iid, "sex": rng.integers(0, 2, n),
                        "age": rng.normal(55, 8, n)})
    cov.to_csv(root / "covariates.tsv", sep="\t", index=False)
    return root


def tiny_args(cohort: Path, out: Path, *extra: str) -> list[str]:
    return ["--manifest", str(cohort / "manifest.tsv"), "--bfile", str(cohort / "genotypes"),
            "--pgs", str(cohort / "pgs.tsv"), "--burden", str(cohort / "burden.tsv"),
            "--backbone", "tiny", "--image-size", "32", "--batch-size", "16",
            "--hidden-dim", "32", "--epochs", "1", "--workers", "0", "--no-progress",
            "--val-fraction", "0.25", "--out", str(out), *extra]
