"""contig-pretrain: end-to-end runs through main(argv), checkpoints, resume, data handling.

The cohort is tests/pretrain_cohort.py's (the embed tests use it too).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from pretrain_cohort import N_IND, N_SNP, make_cohort, tiny_args
from tolerances import U32, gamma

from contig_gwas.errors import InputError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    return make_cohort(tmp_path_factory.mktemp("cohort"))


def test_one_epoch_checkpoint_reloads_weights_only(cohort, tmp_path):
    from contig_gwas.cli import pretrain
    from contig_gwas.pretrain.checkpoint import load_config, load_image_encoder

    out = tmp_path / "ck"
    assert pretrain.main(tiny_args(cohort, out)) == 0
    state = torch.load(out / "model.pt", weights_only=True)
    assert any(k.startswith("genetic_encoders.raw.") for k in state)
    assert any(k.startswith("image_encoder.heads.pgs.") for k in state)
    cfg = load_config(out)
    assert cfg["model"]["modalities"] == {"raw": N_SNP, "pgs": 3, "burden": 8}
    hist = pd.read_csv(out / "history.tsv", sep="\t")
    assert len(hist) == 1 and np.isfinite(hist.val_loss[0])
    enc = load_image_encoder(out)
    with torch.no_grad():
        f = enc.features(torch.zeros(2, 3, 32, 32))
    assert f.shape == (2, 64)
    log = (out / "pretrain.log").read_text()
    assert "log(batch size)" in log and "split by individual" in log
    # refuses to overwrite without --overwrite
    with pytest.raises(InputError, match="overwrite"):
        pretrain.main(tiny_args(cohort, out))


def test_resume_equals_uninterrupted(cohort, tmp_path, monkeypatch):
    from contig_gwas.cli import pretrain
    from contig_gwas.pretrain import train

    full, cut = tmp_path / "full", tmp_path / "cut"
    args = ("--epochs", "2", "--modalities", "raw,pgs", "--aggregate", "outer")
    assert pretrain.main(tiny_args(cohort, full, *args)) == 0

    class Killed(Exception):
        pass

    def kill_after_first(rec):
        if rec.epoch == 1:
            raise Killed

    orig = train.fit
    monkeypatch.setattr(train, "fit", lambda **kw: orig(**kw, on_epoch_end=kill_after_first))
    with pytest.raises(Killed):
        pretrain.main(tiny_args(cohort, cut, *args))
    monkeypatch.setattr(train, "fit", orig)
    assert pretrain.main(tiny_args(cohort, cut, *args, "--resume")) == 0
    assert "resumed after epoch 1" in (cut / "pretrain.log").read_text()
    a = torch.load(full / "model.pt", weights_only=True)
    b = torch.load(cut / "model.pt", weights_only=True)
    assert a.keys() == b.keys()
    # resuming re-runs the same code on the same saved state with one torch thread: bitwise
    for k in a:
        assert torch.equal(a[k], b[k]), k
    ha = pd.read_csv(full / "history.tsv", sep="\t")
    hb = pd.read_csv(cut / "history.tsv", sep="\t")
    assert (ha.val_loss == hb.val_loss).all() and (ha.train_loss == hb.train_loss).all()
    # resuming with other settings is refused
    with pytest.raises(InputError, match="different settings"):
        pretrain.main(tiny_args(cohort, cut, "--epochs", "2", "--modalities", "raw,pgs",
                                "--aggregate", "outer", "--lr", "0.1", "--resume"))


@pytest.mark.parametrize("method", ["simclr", "none"])
def test_baselines_train_and_save(cohort, tmp_path, method):
    from contig_gwas.cli import pretrain
    from contig_gwas.pretrain.checkpoint import load_encoder

    out = tmp_path / method
    assert pretrain.main(["--manifest", str(cohort / "manifest.tsv"), "--method", method,
                          "--backbone", "tiny", "--image-size", "32", "--batch-size", "16",
                          "--epochs", "1", "--no-progress", "--out", str(out)]) == 0
    le = load_encoder(out)
    assert le.name == f"{method}:tiny"
    assert ("projection:simclr" in le.encoder.layer_names()) == (method == "simclr")


def test_split_by_individual_and_inner_outer(cohort):
    from contig_gwas.pretrain.data import load_pretrain_data

    kw = dict(manifest=str(cohort / "manifest.tsv"), modalities=["raw", "pgs", "burden"],
              bfile=str(cohort / "genotypes"), pgs=str(cohort / "pgs.tsv"),
              burden=str(cohort / "burden.tsv"), image_size=32, val_fraction=0.3, seed=3)
    outer = load_pretrain_data(aggregate="outer", **kw)
    inner = load_pretrain_data(aggregate="inner", **kw)
    assert len(outer.iid) == N_IND
    assert len(inner.iid) == N_IND - 2 * (N_IND // 8)
    for d in (outer, inner):
        tr = set(d.iid[d.split == "train"])
        va = set(d.iid[d.split == "val"])
        assert tr and va and not tr & va
        img_tr = set(d.iid[d.image_individual[d.images_of("train")]])
        img_va = set(d.iid[d.image_individual[d.images_of("val")]])
        assert not img_tr & img_va
        assert len(d.image_paths) == 2 * len(d.iid)      # both eyes kept, shared genetics
    assert not outer.modalities["pgs"].present.all()
    assert inner.modalities["pgs"].present.all()
    # PGS z-scored over those present; raw SNPs mode-imputed (no NaN, values 0/1/2)
    pg = outer.modalities["pgs"]
    # z-scored in float64, then stored as float32 (each value within 2^-24 relative): the
    # mean, taken here in float64, within 2^-24 of the largest value plus that sum's round-off
    f = pg.features[pg.present].astype(np.float64)
    np.testing.assert_allclose(f.mean(0), 0, atol=(U32 + gamma(2 * len(f))) * np.abs(f).max())
    raw = outer.modalities["raw"].features.astype(np.float32)
    assert not np.isnan(raw).any() and set(np.unique(raw)) <= {0.0, 1.0, 2.0}
    # the same seed gives the same split
    again = load_pretrain_data(aggregate="outer", **kw)
    assert (again.split == outer.split).all()


def test_snp_subset_by_stride_and_file(cohort, tmp_path):
    from contig_gwas.pretrain.data import load_pretrain_data

    kw = dict(manifest=str(cohort / "manifest.tsv"), modalities=["raw"],
              bfile=str(cohort / "genotypes"), image_size=32)
    d = load_pretrain_data(snp_stride=7, **kw)
    assert d.modalities["raw"].columns == [f"rs{j}" for j in range(0, N_SNP, 7)]
    (tmp_path / "snps.txt").write_text("rs5\nrs2\nrs_absent\n")
    d = load_pretrain_data(snps=str(tmp_path / "snps.txt"), **kw)
    assert d.modalities["raw"].columns == ["rs2", "rs5"]
    assert any("1 absent" in r for r in d.report)


def test_bad_images_reported_by_path(cohort, tmp_path):
    from contig_gwas.pretrain.data import load_pretrain_data

    man = pd.read_csv(cohort / "manifest.tsv", sep="\t")
    man["path"] = [str(cohort / p) for p in man["path"]]
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    man.loc[0, "path"] = str(tmp_path / "missing.png")
    man.loc[1, "path"] = str(tmp_path / "corrupt.png")
    man.to_csv(tmp_path / "m.tsv", sep="\t", index=False)
    with pytest.raises(InputError, match="missing.png") as exc:
        load_pretrain_data(manifest=str(tmp_path / "m.tsv"), image_size=32)
    assert "2 of 80 images" in str(exc.value)
    d = load_pretrain_data(manifest=str(tmp_path / "m.tsv"), image_size=32,
                           max_bad_fraction=0.05)
    assert len(d.image_paths) == 78
    assert any("missing.png" in b for b in d.bad_images)
    assert any("corrupt.png" in b and "decode" in b for b in d.bad_images)


def test_contig_needs_a_modality(cohort, tmp_path):
    from contig_gwas.cli import pretrain

    with pytest.raises(InputError, match="modality"):
        pretrain.main(["--manifest", str(cohort / "manifest.tsv"), "--out", str(tmp_path)])


def test_init_weights_and_load_model(cohort, tmp_path):
    from contig_gwas.cli import pretrain
    from contig_gwas.pretrain.checkpoint import load_model
    from contig_gwas.pretrain.models import ResNet

    torch.manual_seed(7)
    init = ResNet("tiny").state_dict()
    init["fc.weight"] = torch.zeros(3, 64)          # a classifier is ignored
    torch.save(init, tmp_path / "init.pt")
    out = tmp_path / "none"
    assert pretrain.main(["--manifest", str(cohort / "manifest.tsv"), "--method", "none",
                          "--backbone", "tiny", "--image-size", "32", "--init-weights",
                          str(tmp_path / "init.pt"), "--no-progress", "--out", str(out)]) == 0
    state = torch.load(out / "model.pt", weights_only=True)
    for k, v in init.items():
        if not k.startswith("fc."):
            torch.testing.assert_close(state["image_encoder.backbone." + k], v)
    torch.save({"conv1.weight": torch.zeros(5, 3, 7, 7)}, tmp_path / "bad.pt")
    with pytest.raises(InputError, match="do not fit"):
        pretrain.main(["--manifest", str(cohort / "manifest.tsv"), "--method", "none",
                       "--backbone", "tiny", "--init-weights", str(tmp_path / "bad.pt"),
                       "--no-progress", "--out", str(tmp_path / "bad")])
    # the whole model (genetic encoders too) reloads from a contig checkpoint
    ck = tmp_path / "ck"
    assert pretrain.main(tiny_args(cohort, ck, "--modalities", "pgs")) == 0
    model = load_model(ck)
    assert list(model.genetic_encoders) == ["pgs"] and not model.training


@pytest.mark.parametrize("bad", [["--temperature", "0"], ["--alpha", "1.5"],
                                 ["--val-fraction", "1"], ["--batch-size", "1"]])
def test_bad_settings_are_input_errors(cohort, tmp_path, bad):
    from contig_gwas.cli import pretrain

    with pytest.raises(InputError):
        pretrain.main(tiny_args(cohort, tmp_path / "x", *bad))


def test_accumulation_validation_interval_and_augmentations(cohort, tmp_path):
    from contig_gwas.cli import pretrain

    out = tmp_path / "acc"
    assert pretrain.main(tiny_args(cohort, out, "--modalities", "pgs", "--epochs", "2",
                                   "--accumulate", "2", "--batch-size", "8", "--val-every", "2",
                                   "--augment", "rotate,flip,color,crop")) == 0
    hist = pd.read_csv(out / "history.tsv", sep="\t")
    assert np.isnan(hist.val_loss[0]) and np.isfinite(hist.val_loss[1])
    with pytest.raises(InputError, match="unknown augmentation"):
        pretrain.main(tiny_args(cohort, tmp_path / "y", "--augment", "blur"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_one_epoch_on_cuda_with_amp(cohort, tmp_path):
    from contig_gwas.cli import pretrain
    from contig_gwas.pretrain.checkpoint import load_image_encoder

    out = tmp_path / "cuda"
    assert pretrain.main(tiny_args(cohort, out, "--device", "cuda", "--amp")) == 0
    enc = load_image_encoder(out, device="cuda")
    assert next(enc.parameters()).is_cuda


def test_genetic_dropout_parsing_and_errors():
    from contig_gwas.cli.pretrain import parse_dropout

    mods = ["raw", "pgs", "burden"]
    assert parse_dropout(None, modalities=mods) == {}
    assert parse_dropout("0.5", modalities=mods) == {"raw": 0.5, "pgs": 0.5, "burden": 0.5}
    assert parse_dropout("raw=0.8, burden=0.5,pgs=0", modalities=mods) == {"raw": 0.8,
                                                                           "burden": 0.5}
    for bad, match in [("raw=x", "expected a rate"), ("gwas=0.5", "not among"),
                       ("raw=1", r"\[0, 1\)"), ("-0.1", r"\[0, 1\)")]:
        with pytest.raises(InputError, match=match):
            parse_dropout(bad, modalities=mods)


def test_genetic_dropout_acts_only_while_training():
    """Dropout changes the training forward pass, not the evaluation pass, and adds no weights
    (a checkpoint with dropout loads into a model without it)."""
    from contig_gwas.pretrain.models import GeneticEncoder

    torch.manual_seed(0)
    plain = GeneticEncoder(50, hidden=16, proj_dim=8)
    drop = GeneticEncoder(50, hidden=16, proj_dim=8, dropout=0.5)
    assert plain.state_dict().keys() == drop.state_dict().keys()
    drop.load_state_dict(plain.state_dict())
    x = torch.randn(12, 50)
    plain.eval(), drop.eval()
    torch.testing.assert_close(plain(x), drop(x))
    drop.train()
    a, b = drop(x), drop(x)
    assert not torch.allclose(a, b)
    with pytest.raises(InputError, match="dropout"):
        GeneticEncoder(5, dropout=1.0)


def test_genetic_dropout_recorded_and_rebuilt(cohort, tmp_path):
    from contig_gwas.cli import pretrain
    from contig_gwas.pretrain.checkpoint import load_config, load_model

    out = tmp_path / "drop"
    assert pretrain.main(tiny_args(cohort, out, "--genetic-dropout", "raw=0.8,burden=0.5")) == 0
    assert load_config(out)["model"]["dropout"] == {"raw": 0.8, "burden": 0.5}
    model = load_model(out)
    assert model.genetic_encoders["raw"].input_dropout.p == 0.8
    assert model.genetic_encoders["pgs"].input_dropout.p == 0.0
    log = (out / "pretrain.log").read_text()
    assert "(raw " in log and ", pgs " in log and ", burden " in log  # per-modality val terms
    with pytest.raises(InputError, match="not among"):
        pretrain.main(tiny_args(cohort, tmp_path / "d2", "--modalities", "pgs",
                                "--genetic-dropout", "raw=0.5"))
