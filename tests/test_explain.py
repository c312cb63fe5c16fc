"""contig-explain: the attribution objective, IG completeness, and the command end to end on the
tiny cohort after a short ContIG training (planted features checked against truth.json)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from tolerances import U32, gamma, half_unit

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _toy(n=6, b=9, f=12, d=16, seed=0):
    from contig_gwas.explain.attributions import ContrastiveObjective
    from contig_gwas.pretrain.models import GeneticEncoder

    torch.manual_seed(seed)
    enc = GeneticEncoder(f, hidden=32, proj_dim=d)
    with torch.no_grad():                       # non-trivial BatchNorm running statistics
        enc.train()
        enc(torch.randn(64, f) * 2 + 1)
    enc.eval()
    obj = ContrastiveObjective(enc, ref_image=torch.randn(b, d), ref_genetic=torch.randn(b, d),
                               temperature=0.1, alpha=0.75)
    x = torch.randn(n, f)
    z = torch.randn(n, d)
    allowed = torch.ones(n, b, dtype=torch.bool)
    allowed[0, 3] = False                       # row 0's own person is reference member 3
    return obj, x, z, allowed


def test_objective_is_the_training_loss():
    """Mean over a batch of each row's loss against the rest = pretrain's CrossModalNTXent."""
    from contig_gwas.explain.attributions import ContrastiveObjective
    from contig_gwas.pretrain.losses import CrossModalNTXent
    from contig_gwas.pretrain.models import GeneticEncoder

    torch.manual_seed(3)
    enc = GeneticEncoder(10, hidden=16, proj_dim=8).eval()
    x, z = torch.randn(7, 10), torch.randn(7, 8)
    with torch.no_grad():
        g = enc(x)
        obj = ContrastiveObjective(enc, ref_image=z, ref_genetic=g, temperature=0.2, alpha=0.6)
        per_row = obj(x, z, ~torch.eye(7, dtype=torch.bool))
        ref = CrossModalNTXent(temperature=0.2, alpha=0.6)(z, g)
    # two float32 computations of one loss: each logit of unit vectors within
    # gamma(d + 4) / t, each log-sum-exp over the 7 rows within gamma(7 + 4) (1 + |value|)
    one = gamma(8 + 4, U32) / 0.2 + gamma(7 + 4, U32) * (1 + abs(float(ref)))
    assert float(per_row.mean()) == pytest.approx(float(ref), abs=2 * one)


def test_integrated_gradients_completeness():
    """sum_k attr_k = f(x) - f(baseline), for every row, within quadrature error."""
    from contig_gwas.explain.attributions import integrated_gradients

    obj, x, z, allowed = _toy()
    base = x.mean(0, keepdim=True).expand_as(x).contiguous()
    attr, delta = integrated_gradients(obj, inputs=x, baselines=base, args=(z, allowed),
                                       steps=300)
    with torch.no_grad():
        diff = obj(x, z, allowed) - obj(base, z, allowed)
    err = (attr.sum(1) - diff).abs()
    assert float(err.max()) < 1e-2 * float(diff.abs().max())
    # the package's delta is the same quantity in float32 from the same attributions and
    # objective values: a sum of f attributions and a difference of two objective values,
    # each within gamma(f + 4) of the sum of absolute values, in either computation
    with torch.no_grad():
        scale = attr.abs().sum(1) + obj(x, z, allowed).abs() + obj(base, z, allowed).abs()
    tol = 2 * gamma(x.shape[1] + 4, U32) * scale
    assert bool(((delta.abs() - err).abs() <= tol).all())
    # an attribution along a feature the input shares with the baseline is zero
    x2 = x.clone()
    x2[:, 5] = base[:, 5]
    attr2, _ = integrated_gradients(obj, inputs=x2, baselines=base, args=(z, allowed), steps=50)
    assert float(attr2[:, 5].abs().max()) == 0.0


def test_noise_tunnel_runs_and_is_close_to_plain_ig():
    from contig_gwas.explain.attributions import integrated_gradients

    obj, x, z, allowed = _toy()
    base = torch.zeros_like(x)
    plain, _ = integrated_gradients(obj, inputs=x, baselines=base, args=(z, allowed), steps=64)
    torch.manual_seed(0)
    nt, delta = integrated_gradients(obj, inputs=x, baselines=base, args=(z, allowed), steps=64,
                                     noise_tunnel=True, nt_samples=6, nt_stdev=1e-3)
    assert nt.shape == plain.shape and delta.shape == (6 * len(x),)
    assert torch.allclose(nt, plain, atol=5e-3 * float(plain.abs().max()))


def test_concentration_closed_form():
    from contig_gwas.explain.maps import concentration

    a = np.zeros((4, 4))
    a[0, 0], a[3, 3] = 3.0, -1.0
    region = np.zeros((4, 4), dtype=bool)
    region[0, :2] = True
    c = concentration(a, region)
    assert c == {"mass_share": 0.75, "area_share": 0.125, "enrichment": 6.0}


def test_find_feature():
    from contig_gwas.errors import InputError
    from contig_gwas.explain.maps import find_feature

    cols = {"raw": ["1:5:A:C", "x"], "pgs": ["PGS_a", "x"]}
    assert find_feature(cols, "PGS_a") == ("pgs", 0)
    assert find_feature(cols, "raw:1:5:A:C") == ("raw", 0)
    assert find_feature(cols, "pgs:x") == ("pgs", 1)
    with pytest.raises(InputError, match="several"):
        find_feature(cols, "x")
    with pytest.raises(InputError, match="no such feature"):
        find_feature(cols, "nope")


@pytest.fixture(scope="module")
def trained(tiny_cohort, tiny_cohort_truth, tmp_path_factory):
    """A short ContIG training (all three modalities) on the tiny cohort; raw features are every
    10th variant plus the planted causal variants."""
    from contig_gwas.cli import pretrain
    from contig_gwas.explain.validate import planted_features

    tmp = tmp_path_factory.mktemp("explain")
    bim = pd.read_csv(tiny_cohort / "genotypes.bim", sep=r"\s+", header=None)[1].tolist()
    planted = planted_features(tiny_cohort_truth)
    want = set(bim[::10]) | set(planted["raw"]["image"]) | set(planted["raw"]["other"])
    (tmp / "snps.txt").write_text("\n".join(v for v in bim if v in want) + "\n")
    ck = tmp / "ck"
    argv = ["--manifest", str(tiny_cohort / "manifest.tsv"),
            "--bfile", str(tiny_cohort / "genotypes"), "--snps", str(tmp / "snps.txt"),
            "--pgs", str(tiny_cohort / "pgs.tsv"), "--burden", str(tiny_cohort / "burden.tsv"),
            "--aggregate", "outer", "--backbone", "tiny", "--image-size", "32",
            "--batch-size", "32", "--hidden-dim", "64", "--epochs", str(EPOCHS), "--seed", "42",
            "--no-progress", "--out", str(ck)]
    threads = torch.get_num_threads()
    try:
        assert pretrain.main(argv + ["--threads", "1"]) == 0
    finally:
        torch.set_num_threads(threads)
    return ck, tmp


EPOCHS = 8


def test_explain_end_to_end(trained, tiny_cohort, tiny_cohort_truth):
    from contig_gwas.cli import explain
    from contig_gwas.errors import InputError
    from contig_gwas.explain.maps import concentration
    from contig_gwas.explain.validate import changed_region, planted_features

    ck, tmp = trained
    out = tmp / "explain"
    argv = ["--checkpoint", str(ck), "--manifest", str(tiny_cohort / "manifest.tsv"),
            "--bfile", str(tiny_cohort / "genotypes"), "--pgs", str(tiny_cohort / "pgs.tsv"),
            "--burden", str(tiny_cohort / "burden.tsv"), "--steps", "24",
            "--feature", "PGS_disc", "--feature", "PGS_height", "--map-steps", "24",
            "--map-images", "150",
            "--examples", "2", "--out", str(out)]
    assert explain.main(argv) == 0
    with pytest.raises(InputError, match="--overwrite"):
        explain.main(argv)
    summary = pd.read_csv(out / "summary.tsv", sep="\t")
    assert list(summary.kind) == ["genetic"] * 3 + ["image_map"] * 2
    # completeness at 24 Gauss-Legendre steps, relative to the largest output difference
    # (measured: genetic 0.05-0.12, maps 0.13-0.19; it falls with steps, see the toy test)
    genetic = summary.kind == "genetic"
    assert (summary.completeness_error[genetic] < 0.25).all()
    assert (summary.completeness_error[~genetic] < 0.4).all()
    for m, n_feat in (("raw", None), ("pgs", 6), ("burden", 40)):
        imp = pd.read_csv(out / f"importance.{m}.tsv", sep="\t")
        assert list(imp["rank"]) == list(range(1, len(imp) + 1))
        assert imp.importance.is_monotonic_decreasing and (imp.importance >= 0).all()
        if n_feat:
            assert len(imp) == n_feat
        local = pd.read_csv(out / f"local.{m}.tsv.gz", sep="\t")
        assert local.columns[0] == "IID" and local.shape[1] == len(imp) + 1
        # global importance = mean |local attribution| over people: local is written as
        # float32 with 5 significant digits (each within 2^-24 + 5e-5 relative), importance
        # with 6 (half a unit), both means in float64 (gamma(n))
        got = local.drop(columns="IID").abs().mean()[imp.feature].to_numpy()
        tol = got * (U32 + 5e-5 + gamma(len(local))) + half_unit(imp.importance.to_numpy())
        assert np.all(np.abs(got - imp.importance.to_numpy()) <= tol), m
    for ext in ("png", "pdf"):
        assert (out / f"importance.{ext}").stat().st_size > 0
        assert (out / f"map.pgs.PGS_disc.{ext}").stat().st_size > 0
    maps = np.load(out / "map.pgs.PGS_disc.npz")
    assert maps["mean_abs"].shape == (32, 32) and np.isfinite(maps["mean_abs"]).all()
    # the map lies on the optic disc, the region the simulator's disc trait changes (3% of the
    # pixels): measured enrichment 2.2-3.1. Maps of PGS of traits that do not touch the images
    # concentrate there as much (see docs/tools/contig-explain.md): this checks where the
    # map lives, not that it is specific to the feature.
    _, region = changed_region(trait="disc", image_size=32)
    assert concentration(maps["mean_abs"], region)["enrichment"] > 1.5
    # specific: the per-pixel correlation between a person's map and their PGS_disc is
    # concentrated on the disc (r^2 enrichment measured 1.74, 1.48, 1.52 for training seeds 42,
    # 1, 2), more than for PGS_height, a trait the images do not show (0.61, 0.81, 0.87)
    disc = concentration(maps["corr"] ** 2, region)["enrichment"]
    height = concentration(np.load(out / "map.pgs.PGS_height.npz")["corr"] ** 2,
                           region)["enrichment"]
    assert disc > 1.3 and disc > height, (disc, height)
    # planted effect genes (4 of 40) after this short training: ranks 2, 3, 13, 27 (seed 42);
    # over training seeds 42, 1, 2 (model.pt and best.pt) the best effect gene ranked 1-2 and
    # the mean rank was 11.2-15.0 (chance: best <= 2 with probability 0.19, mean 20.5)
    imp = pd.read_csv(out / "importance.burden.tsv", sep="\t")
    ranks = imp["rank"][imp.feature.isin(planted_features(tiny_cohort_truth)["burden"]["image"])]
    assert len(ranks) == 4 and ranks.min() <= 2 and ranks.mean() <= 16
    assert "completeness error" in (out / "explain.log").read_text()


def test_attributions_follow_the_features_the_model_uses(trained, tiny_cohort,
                                                        tiny_cohort_truth, tmp_path):
    """A raw encoder that reads only the planted variants gives them ranks 1..12 and every other
    variant exactly zero; PGS columns given in another order are matched by name."""
    import json
    import shutil

    from contig_gwas.explain.attributions import explain_genetics
    from contig_gwas.explain.cohort import load_explain_cohort
    from contig_gwas.explain.validate import planted_features
    from contig_gwas.pretrain.checkpoint import load_state

    ck, _ = trained
    state = load_state(ck / "model.pt")
    feats = json.loads((ck / "config.json").read_text())["data"]["features"]["raw"]
    planted = planted_features(tiny_cohort_truth)["raw"]["image"]
    mask = torch.zeros(len(feats))
    mask[[feats.index(v) for v in planted]] = 1.0
    state["genetic_encoders.raw.mlp.0.weight"] *= mask
    new = tmp_path / "ck"
    new.mkdir()
    for f in ("config.json", "split.tsv"):
        shutil.copy(ck / f, new / f)
    torch.save(state, new / "model.pt")
    pgs = pd.read_csv(tiny_cohort / "pgs.tsv", sep="\t")
    pgs[["FID", "IID"] + list(pgs.columns[2:][::-1])].to_csv(tmp_path / "pgs.tsv", sep="\t",
                                                              index=False)
    kw = dict(manifest=str(tiny_cohort / "manifest.tsv"), bfile=str(tiny_cohort / "genotypes"))
    got = explain_genetics(cohort=load_explain_cohort(checkpoint=new, pgs=str(tmp_path / "pgs.tsv"),
                                                      **kw), steps=8, max_images=60)
    raw = got["raw"]
    assert sorted(raw.rank_of(planted).values()) == list(range(1, len(planted) + 1))
    others = ~np.isin(raw.features, planted)
    assert (raw.importance[~others] > 0).all() and (raw.importance[others] == 0).all()
    ref = explain_genetics(cohort=load_explain_cohort(checkpoint=new,
                                                      pgs=str(tiny_cohort / "pgs.tsv"), **kw),
                           steps=8, max_images=60)["pgs"]
    assert got["pgs"].features == ref.features
    # matched by name, the encoder sees the same inputs: the same code on the same values
    assert np.array_equal(got["pgs"].local, ref.local)


def test_explain_rejects_a_simclr_checkpoint(tmp_path, tiny_cohort):
    from contig_gwas.cli import explain, pretrain
    from contig_gwas.errors import InputError

    ck = tmp_path / "none"
    assert pretrain.main(["--manifest", str(tiny_cohort / "manifest.tsv"), "--method", "none",
                          "--backbone", "tiny", "--image-size", "32", "--no-progress",
                          "--out", str(ck)]) == 0
    with pytest.raises(InputError, match="ContIG checkpoint"):
        explain.main(["--checkpoint", str(ck), "--manifest", str(tiny_cohort / "manifest.tsv"),
                      "--pgs", str(tiny_cohort / "pgs.tsv"), "--out", str(tmp_path / "x")])
