"""End to end on the simulated tiny cohort: contig-pretrain one epoch, then contig-embed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from tolerances import gamma, half_unit

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_pretrain_then_embed_on_tiny_cohort(tiny_cohort, tmp_path):
    from contig_gwas.cli import embed, pretrain
    from contig_gwas.io.tables import read_table
    from contig_gwas.pretrain.checkpoint import load_config

    ck = tmp_path / "ck"
    argv = ["--manifest", str(tiny_cohort / "manifest.tsv"),
            "--bfile", str(tiny_cohort / "genotypes"), "--snp-stride", "10",
            "--pgs", str(tiny_cohort / "pgs.tsv"), "--burden", str(tiny_cohort / "burden.tsv"),
            "--modalities", "raw,pgs,burden", "--aggregate", "outer", "--backbone", "tiny",
            "--image-size", "32", "--batch-size", "32", "--hidden-dim", "64", "--epochs", "1",
            "--no-progress", "--out", str(ck)]
    assert pretrain.main(argv) == 0
    state = torch.load(ck / "model.pt", weights_only=True)
    assert {k.split(".")[1] for k in state if k.startswith("genetic_encoders.")} == \
        {"raw", "pgs", "burden"}
    cfg = load_config(ck)
    assert cfg["model"]["modalities"]["raw"] == 300
    split = pd.read_csv(ck / "split.tsv", sep="\t")
    assert not set(split.IID[split.split == "train"]) & set(split.IID[split.split == "val"])
    hist = pd.read_csv(ck / "history.tsv", sep="\t")
    assert np.isfinite(hist.val_loss).all()

    out = tmp_path / "emb"
    assert embed.main(["--checkpoint", str(ck), "--manifest", str(tiny_cohort / "manifest.tsv"),
                       "--covar", str(tiny_cohort / "covariates.tsv"), "--n-pcs", "5",
                       "--no-progress", "--out", str(out)]) == 0
    pheno = read_table(f"{out}.pheno.tsv")
    cov = read_table(tiny_cohort / "covariates.tsv", kind="covariate")
    assert pheno.columns == [f"PC_{i}" for i in range(5)]
    assert set(pheno.iid) <= set(cov.iid) and len(pheno.iid) > 300
    # FIDs come from the covariate file, so PLINK2 matches FID and IID
    fid = dict(zip(cov.iid, cov.fid))
    assert all(fid[i] == f for i, f in zip(pheno.iid, pheno.fid))
    ok = pheno.values.notna().all(axis=1)
    c = cov.values.reindex(pheno.values.index)[ok]
    v = pheno.values[ok]
    # the package regresses the covariates out in float64 (the residual's correlation with a
    # covariate x within 3 gamma(N D) |X| / |x - mean x|, least squares being backward
    # stable), then the file holds 8 significant digits: a rounding delta moves the
    # correlation by at most 2 |delta| / |v - mean v|
    D = np.column_stack([np.ones(len(c)), c.to_numpy(dtype=np.float64)])
    pc = v["PC_0"].to_numpy()
    written = 2 * np.sqrt(np.sum(half_unit(pc, digits=8) ** 2)) / np.linalg.norm(pc - pc.mean())
    for col in c.columns:
        if c[col].notna().all() and c[col].std() > 0:
            x = c[col].to_numpy(dtype=np.float64)
            fit = 3 * gamma(D.size) * np.linalg.norm(D, 2) / np.linalg.norm(x - x.mean())
            assert abs(np.corrcoef(pc, x)[0, 1]) <= written + fit, col


def test_raw_modality_same_from_bed_and_bgen(tiny_cohort, tmp_path):
    """The BGEN copy lists samples in another order; features must align by IID."""
    import shutil

    from contig_gwas.pretrain.data import load_pretrain_data

    for f in ("genotypes.bgen", "genotypes.sample"):     # bgen-reader writes an index beside
        shutil.copy(tiny_cohort / f, tmp_path / f)
    kw = dict(manifest=str(tiny_cohort / "manifest.tsv"), modalities=["raw"], snp_stride=50,
              image_size=32)
    bed = load_pretrain_data(bfile=str(tiny_cohort / "genotypes"), **kw)
    bgen = load_pretrain_data(bgen=str(tmp_path / "genotypes.bgen"),
                              sample=str(tmp_path / "genotypes.sample"), **kw)
    assert (bed.iid == bgen.iid).all()
    a, b = bed.modalities["raw"], bgen.modalities["raw"]
    assert a.columns == b.columns and (a.present == b.present).all()
    # the BGEN holds the same hard calls (8-bit probabilities 0 and 1 are exact): equal
    np.testing.assert_array_equal(a.features.astype(np.float32), b.features.astype(np.float32))
