"""contig-embed: features, PCA, inverse-normal transform, phenotype table, checkpoints."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from pretrain_cohort import make_cohort, tiny_args
from scipy import stats
from tolerances import forward_roundoff, gamma, half_unit

from contig_gwas.errors import InputError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    return make_cohort(tmp_path_factory.mktemp("ecohort"))


@pytest.fixture(scope="module")
def checkpoints(cohort, tmp_path_factory) -> dict[str, Path]:
    from contig_gwas.cli import pretrain

    root = tmp_path_factory.mktemp("cks")
    cks = {}
    assert pretrain.main(tiny_args(cohort, root / "contig")) == 0
    cks["contig"] = root / "contig"
    for method in ("simclr", "none"):
        out = root / method
        assert pretrain.main(["--manifest", str(cohort / "manifest.tsv"), "--method", method,
                              "--backbone", "tiny", "--image-size", "32", "--batch-size", "16",
                              "--epochs", "1", "--no-progress", "--out", str(out)]) == 0
        cks[method] = out
    return cks


def embed_args(ck, cohort, out, *extra):
    return ["--checkpoint", str(ck), "--manifest", str(cohort / "manifest.tsv"),
            "--n-pcs", "4", "--batch-size", "16", "--no-progress", "--out", str(out), *extra]


def test_batched_equals_one_at_a_time(checkpoints, cohort):
    from contig_gwas.embed.features import extract_features
    from contig_gwas.io.manifest import read_manifest
    from contig_gwas.pretrain.checkpoint import load_image_encoder

    enc = load_image_encoder(checkpoints["contig"])
    paths = read_manifest(cohort / "manifest.tsv")["path"].tolist()[:12]
    for layer, tta in (("pooled", None), ("layer2", "concat"), ("projection:raw", "mean")):
        a = extract_features(encoder=enc, paths=paths, image_size=32, batch_size=5,
                             layer=layer, tta=tta)
        b = extract_features(encoder=enc, paths=paths, image_size=32, batch_size=1,
                             layer=layer, tta=tta)
        assert (a.index == np.arange(12)).all()
        # float32 forward passes over batches of 5 and of 1 sum in different orders: each
        # within forward_roundoff of the exact features, on the scale of the features (a
        # batch that mixed individuals would move them by that whole scale)
        tol = 2 * forward_roundoff(enc) * np.abs(b.values).max()
        np.testing.assert_allclose(a.values, b.values, rtol=0, atol=tol)
    assert a.values.shape == (12, 128)


def test_aggregate_instances_mean_and_concat():
    from contig_gwas.embed.features import aggregate_instances

    iid = np.array(["a", "a", "b", "c", "c"])
    inst = np.array(["L", "R", "R", "R", "L"])
    v = np.arange(10, dtype=np.float32).reshape(5, 2)
    m = aggregate_instances(iid=iid, instance=inst, values=v, how="mean", instances=["L", "R"])
    assert list(m.iid) == ["a", "b", "c"] and m.partial == 1 and m.dropped == 0
    np.testing.assert_allclose(m.values, [[1, 2], [4, 5], [7, 8]])
    c = aggregate_instances(iid=iid, instance=inst, values=v, how="concat", instances=["L", "R"])
    assert list(c.iid) == ["a", "c"] and c.dropped == 1
    np.testing.assert_allclose(c.values, [[0, 1, 2, 3], [8, 9, 6, 7]])


def test_pca_matches_numpy_eigendecomposition():
    from contig_gwas.embed.condense import pca

    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 30)) @ rng.standard_normal((30, 30)) + 5
    res = pca(x, n_components=6)
    c = np.cov(x, rowvar=False)
    w, v = np.linalg.eigh(c)
    w, v = w[::-1][:6], v[:, ::-1][:, :6]
    # backward-stable eigensolvers: each eigenvalue within ~gamma(nm) |C| of the exact one
    # (relative to these eigenvalues, >= 60, and |C| = 127: below 1e-12); each component
    # within gamma(nm) |C| / gap of its direction, so each score within that times |X|
    g = gamma(x.size)
    np.testing.assert_allclose(res.explained_variance, w, rtol=4 * g * w[0] / w[-1])
    np.testing.assert_allclose(res.explained_variance_ratio, w / np.trace(c),
                               rtol=8 * g * w[0] / w[-1])
    xc = x - x.mean(0)
    full = np.linalg.eigvalsh(c)[::-1]
    gap = np.array([min(full[k - 1] - full[k] if k else np.inf, full[k] - full[k + 1])
                    for k in range(6)])
    score_tol = 2 * g * full[0] / gap * np.linalg.norm(xc, 2)
    ref = xc @ v
    for k in range(6):   # equal up to the sign of each component
        s = np.sign(ref[:, k] @ res.scores[:, k])
        np.testing.assert_allclose(res.scores[:, k], s * ref[:, k], rtol=0, atol=score_tol[k])
    # the variance of the scores is the eigenvalue (a sum of n squares: gamma(n) relative)
    np.testing.assert_allclose(res.scores.var(axis=0, ddof=1), res.explained_variance,
                               rtol=4 * g * w[0] / w[-1])
    # and numpy's own SVD of the centred matrix
    u, s, vt = np.linalg.svd(xc, full_matrices=False)
    for k in range(6):
        np.testing.assert_allclose(np.abs(res.scores[:, k]), np.abs(u[:, k] * s[k]), rtol=0,
                                   atol=score_tol[k])
    with pytest.raises(InputError):
        pca(x[:5], n_components=6)


def test_inverse_normal_properties():
    from contig_gwas.embed.transform import inverse_normal

    rng = np.random.default_rng(1)
    x = rng.exponential(size=501) ** 3
    x[[3, 70]] = np.nan
    x[10] = x[11]        # a tie
    z = inverse_normal(x)
    ok = ~np.isnan(x)
    assert np.isnan(z[~ok]).all()
    rnd = gamma(2 * ok.sum()) * np.abs(z[ok]).max() ** 2     # sums of n values or squares
    assert abs(z[ok].mean()) <= rnd and abs(z[ok].var(ddof=1) - 1) <= rnd
    assert (stats.rankdata(z[ok]) == stats.rankdata(x[ok])).all()     # rank order kept
    assert z[10] == z[11]
    # before standardising it is Blom's formula exactly
    raw = inverse_normal(x, standardise=False)
    r = stats.rankdata(x[ok])
    np.testing.assert_allclose(raw[ok], stats.norm.ppf((r - 0.375) / (ok.sum() + 0.25)))
    assert stats.shapiro(z[ok]).pvalue > 0.5


def test_adjusted_uncorrelated_with_covariates():
    from contig_gwas.embed.transform import transform_phenotypes

    rng = np.random.default_rng(2)
    n = 2000
    cov = np.column_stack([rng.integers(0, 2, n), rng.normal(50, 10, n), rng.normal(size=n)])
    y = np.column_stack([0.8 * cov[:, 0] + 0.05 * cov[:, 1] + rng.standard_t(4, n),
                         np.exp(0.3 * cov[:, 2] + rng.normal(size=n))])
    cov[5, 1] = np.nan
    adj = transform_phenotypes(y, mode="adjusted", covariates=cov)
    marg = transform_phenotypes(y, mode="marginal")
    assert np.isnan(adj[5]).all() and not np.isnan(marg).any()
    ok = ~np.isnan(adj[:, 0])
    # least squares is backward stable: the residual's inner product with a covariate column
    # x is at most ~gamma(N D) |X| |r| (3 terms of that size), so its correlation with x
    # within 3 gamma(N D) |X| / |x - mean x|; the final centring and scaling are sums of N
    # terms (gamma(2N) times the largest value)
    D = np.column_stack([np.ones(ok.sum()), cov[ok]])
    for k in range(2):
        for c in range(3):
            r_adj = np.corrcoef(adj[ok, k], cov[ok, c])[0, 1]
            xc = cov[ok, c] - cov[ok, c].mean()
            assert abs(r_adj) <= 3 * gamma(D.size) * np.linalg.norm(D, 2) / np.linalg.norm(xc), (
                k, c, r_adj)
        rnd = gamma(2 * n) * np.abs(adj[ok, k]).max()
        assert abs(adj[ok, k].mean()) <= rnd and abs(adj[ok, k].std(ddof=1) - 1) <= rnd
    # with homoscedastic residuals the output stays normal (skew, excess kurtosis near 0);
    # the strongly heteroscedastic log-normal column 1 trades some skew for orthogonality
    assert abs(stats.skew(adj[ok, 0])) < 0.05 and abs(stats.kurtosis(adj[ok, 0])) < 0.1
    assert abs(np.corrcoef(marg[ok, 0], cov[ok, 0])[0, 1]) > 0.2     # it was correlated
    # the paper's variant (residualise, then INT only) is nearly uncorrelated and exactly ranked
    paper = transform_phenotypes(y, mode="adjusted", covariates=cov, reproject=False)
    assert max(abs(np.corrcoef(paper[ok, 0], cov[ok, c])[0, 1]) for c in range(3)) < 0.05
    assert min(np.corrcoef(paper[ok, k], adj[ok, k])[0, 1] for k in range(2)) > 0.9


@pytest.mark.parametrize("method", ["contig", "simclr", "none"])
def test_embed_cli_outputs(checkpoints, cohort, tmp_path, method):
    from contig_gwas.cli import embed
    from contig_gwas.embed.files import read_embeddings
    from contig_gwas.io.tables import read_table
    from contig_gwas.pretrain.checkpoint import file_sha256

    out = tmp_path / "e"
    assert embed.main(embed_args(checkpoints[method], cohort, out,
                                 "--covar", str(cohort / "covariates.tsv"))) == 0
    df, meta = read_embeddings(f"{out}.embeddings.parquet")
    assert list(df.columns[:3]) == ["IID", "instance", "emb_0"] and len(df) == 80
    assert meta["model"] == f"{method}:tiny" and meta["layer"] == "pooled"
    assert meta["checkpoint_sha256"] == file_sha256(checkpoints[method] / "model.pt")
    text = Path(f"{out}.pheno.tsv").read_text().splitlines()
    assert text[0].split("\t") == ["FID", "IID", "PC_0", "PC_1", "PC_2", "PC_3"]
    t = read_table(f"{out}.pheno.tsv")
    assert t.columns == ["PC_0", "PC_1", "PC_2", "PC_3"] and len(t.iid) == 40
    v = t.values.to_numpy()
    # written with 8 significant digits (%.8g): each value within half a unit of its last
    # digit, so the mean within the largest half unit and the SD within sqrt(n / (n - 1))
    # times it
    hu = float(half_unit(np.abs(v).max(), digits=8))
    rnd = gamma(2 * len(v)) * np.abs(v).max()        # these sums, here and in the package
    np.testing.assert_allclose(v.mean(0), 0, atol=hu + rnd)
    np.testing.assert_allclose(v.std(0, ddof=1), 1,
                               atol=hu * np.sqrt(len(v) / (len(v) - 1)) + rnd)
    pcs = pd.read_csv(f"{out}.pcs.tsv", sep="\t")
    assert list(pcs.columns) == ["PC", "explained_variance", "explained_variance_ratio",
                                 "cumulative_ratio"]
    assert (np.diff(pcs.explained_variance) <= 0).all()
    assert "instances mean" in Path(f"{out}.log").read_text()


def test_instances_and_missing_values(checkpoints, cohort, tmp_path):
    from contig_gwas.cli import embed
    from contig_gwas.io.tables import read_table

    man = pd.read_csv(cohort / "manifest.tsv", sep="\t")
    man["path"] = [str(cohort / p) for p in man["path"]]
    man = man.drop(index=[1, 3])              # two individuals lose their right eye
    man.to_csv(tmp_path / "m.tsv", sep="\t", index=False)
    cov = pd.read_csv(cohort / "covariates.tsv", sep="\t")
    cov.loc[10, "age"] = np.nan
    cov.to_csv(tmp_path / "cov.tsv", sep="\t", index=False, na_rep="NA")
    base = ["--checkpoint", str(checkpoints["none"]), "--manifest", str(tmp_path / "m.tsv"),
            "--n-pcs", "3", "--no-progress", "--covar", str(tmp_path / "cov.tsv")]
    assert embed.main(base + ["--instances", "concat", "--out", str(tmp_path / "c")]) == 0
    t = read_table(tmp_path / "c.pheno.tsv")
    assert len(t.iid) == 38 and "ind000" not in t.iid
    assert np.isnan(t.values.loc["ind010"]).all()          # missing covariate -> NA
    assert "\tNA\t" in (tmp_path / "c.pheno.tsv").read_text()
    assert "2 dropped for lacking" in (tmp_path / "c.log").read_text()
    assert embed.main(base + ["--out", str(tmp_path / "m")]) == 0      # mean: what each has
    assert len(read_table(tmp_path / "m.pheno.tsv").iid) == 40
    assert "2 averaged over fewer than 2" in (tmp_path / "m.log").read_text()
    assert embed.main(base + ["--instances", "left", "--out", str(tmp_path / "l")]) == 0
    assert len(read_table(tmp_path / "l.pheno.tsv").iid) == 40
    with pytest.raises(InputError, match="unknown instance"):
        embed.main(base + ["--instances", "middle", "--out", str(tmp_path / "x")])


def test_missing_and_corrupt_images_reported_by_path(checkpoints, cohort, tmp_path):
    from contig_gwas.cli import embed

    man = pd.read_csv(cohort / "manifest.tsv", sep="\t")
    man["path"] = [str(cohort / p) for p in man["path"]]
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\ntruncated")
    man.loc[0, "path"] = str(tmp_path / "gone.png")
    man.loc[5, "path"] = str(tmp_path / "corrupt.png")
    man.to_csv(tmp_path / "m.tsv", sep="\t", index=False)
    args = ["--checkpoint", str(checkpoints["none"]), "--manifest", str(tmp_path / "m.tsv"),
            "--n-pcs", "3", "--no-progress"]
    with pytest.raises(InputError, match="gone.png"):
        embed.main(args + ["--out", str(tmp_path / "a")])
    assert not Path(tmp_path / "a.pheno.tsv").exists()
    assert embed.main(args + ["--max-bad-images", "0.05", "--out", str(tmp_path / "b")]) == 0
    log = (tmp_path / "b.log").read_text()
    assert "gone.png" in log and "corrupt.png" in log and "2 of 80 images skipped" in log


def test_external_weights_file(cohort, tmp_path):
    """A bare torchvision-format state dict (no config.json) is understood."""
    from contig_gwas.cli import embed
    from contig_gwas.pretrain.models import ResNet

    torch.manual_seed(0)
    state = ResNet("tiny").state_dict()
    state["fc.weight"] = torch.zeros(10, 64)       # a classifier is ignored
    (tmp_path / "w").mkdir()
    torch.save(state, tmp_path / "w" / "weights.pt")
    assert embed.main(embed_args(tmp_path / "w" / "weights.pt", cohort, tmp_path / "x",
                                 "--image-size", "32", "--layer", "layer3")) == 0
    assert "external:tiny" in (tmp_path / "x.log").read_text()


@pytest.mark.reference
@pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 not installed")
def test_pheno_table_read_by_plink2(checkpoints, cohort, tmp_path):
    from contig_gwas.cli import embed

    out = tmp_path / "p"
    assert embed.main(embed_args(checkpoints["none"], cohort, out,
                                 "--covar", str(cohort / "covariates.tsv"))) == 0
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    r = subprocess.run(["plink2", "--bfile", str(cohort / "genotypes"), "--pheno",
                        f"{out}.pheno.tsv", "--glm", "allow-no-covars", "--threads", "1",
                        "--out", str(tmp_path / "plink")], capture_output=True, text=True,
                       env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "4 quantitative phenotypes loaded" in r.stdout
    assert (tmp_path / "plink.PC_3.glm.linear").exists()
