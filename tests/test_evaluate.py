"""contig-evaluate: metrics against scikit-learn, the probe on planted signal, label kinds and
splits, and the command end to end on the tiny cohort's downstream grade."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from tolerances import gamma, half_unit

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_quadratic_weighted_kappa_matches_sklearn():
    from sklearn.metrics import cohen_kappa_score

    from contig_gwas.evaluate.metrics import quadratic_weighted_kappa

    rng = np.random.default_rng(0)
    # the metrics against scikit-learn: the same formulas in float64 over at most 300 values
    # (sums of counts and of squares: round-off below 1e-13), so abs=1e-12
    for _ in range(20):
        y = rng.integers(0, 5, 80)
        pred = np.clip(y + rng.integers(-2, 3, 80), 0, 4)
        assert quadratic_weighted_kappa(y, pred) == pytest.approx(
            cohen_kappa_score(y, pred, weights="quadratic"), abs=1e-12)
    # a level only in the predictions, and perfect agreement
    assert quadratic_weighted_kappa([0, 1, 2], [0, 1, 4]) == pytest.approx(
        cohen_kappa_score([0, 1, 2], [0, 1, 4], weights="quadratic"), abs=1e-12)
    assert quadratic_weighted_kappa([0, 2, 1, 2], [0, 2, 1, 2]) == 1.0


def test_auroc_matches_sklearn_with_ties_and_classes():
    from sklearn.metrics import roc_auc_score

    from contig_gwas.evaluate.metrics import auroc

    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    s = np.round(y * 0.5 + rng.normal(size=200), 1)           # rounded: many ties
    assert auroc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    y3 = rng.integers(0, 3, 300)
    p = rng.dirichlet(np.ones(3), 300) + np.eye(3)[y3] * 0.3
    p /= p.sum(1, keepdims=True)
    assert auroc(y3, p) == pytest.approx(
        roc_auc_score(y3, p, multi_class="ovr", average="macro"), abs=1e-12)
    # closed form: perfect separation 1, reversed 0, constant score 0.5
    assert auroc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert auroc([0, 0, 1, 1], [0.4, 0.3, 0.2, 0.1]) == 0.0
    assert auroc([0, 0, 1, 1], [1, 1, 1, 1]) == 0.5


def test_r2_matches_sklearn():
    from sklearn.metrics import r2_score

    from contig_gwas.evaluate.metrics import r2

    rng = np.random.default_rng(2)
    y = rng.normal(size=50)
    pred = y + rng.normal(size=50)
    assert r2(y, pred) == pytest.approx(r2_score(y, pred), abs=1e-12)


def test_probe_recovers_planted_signal():
    from contig_gwas.evaluate.metrics import compute_metrics
    from contig_gwas.evaluate.probe import linear_probe

    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 20))
    liab = x[:, 0] - x[:, 1] + 0.3 * rng.normal(size=400)
    for kind, y in (("class", (liab > 0).astype(int)),
                    ("grade", np.digitize(liab, [-1, 0, 1])),
                    ("continuous", liab)):
        p = linear_probe(x_train=x[:300], y_train=y[:300], x_test=x[300:], kind=kind)
        m = compute_metrics(kind=kind, y=y[300:], pred=p.pred, scores=p.scores,
                            classes=p.classes)
        headline = {"class": "auroc", "grade": "qwk", "continuous": "r2"}[kind]
        assert m[headline] > 0.85, (kind, m)
        noise = linear_probe(x_train=rng.normal(size=(300, 20)), y_train=y[:300],
                             x_test=x[300:], kind=kind)
        m0 = compute_metrics(kind=kind, y=y[300:], pred=noise.pred, scores=noise.scores,
                             classes=noise.classes)
        assert m0[headline] < 0.3 + (0.5 if kind == "class" else 0.0), (kind, m0)


def test_kinds_and_splits():
    from contig_gwas.evaluate.task import infer_kind, split_people

    assert infer_kind(np.array([0, 1, 1, 0])) == "class"
    assert infer_kind(np.array([0, 1, 2, 3, 4, 0])) == "grade"
    assert infer_kind(np.array([0.5, 1.2, 3.3])) == "continuous"
    y = np.repeat([0, 1, 2], [60, 30, 10])
    a = split_people(y=y, kind="grade", seed=0)
    assert a.sum() == 30 and np.array_equal(a, split_people(y=y, kind="grade", seed=0))
    assert not np.array_equal(a, split_people(y=y, kind="grade", seed=1))
    assert [int(a[y == k].sum()) for k in range(3)] == [18, 9, 3]     # stratified


def _weights_file(path):
    """A bare local weights file (torchvision key names) of a random tiny ResNet."""
    from contig_gwas.pretrain.models import ResNet

    torch.manual_seed(5)
    torch.save(ResNet("tiny").state_dict(), path)
    return path


def test_evaluate_end_to_end(tiny_cohort, tmp_path):
    from contig_gwas.cli import evaluate, pretrain
    from contig_gwas.errors import InputError

    common = ["--manifest", str(tiny_cohort / "manifest.tsv"), "--backbone", "tiny",
              "--image-size", "32", "--batch-size", "32", "--no-progress"]
    assert pretrain.main(common + ["--pgs", str(tiny_cohort / "pgs.tsv"), "--hidden-dim", "32",
                                   "--epochs", "1", "--out", str(tmp_path / "contig")]) == 0
    assert pretrain.main(common + ["--method", "none", "--out", str(tmp_path / "none")]) == 0
    weights = _weights_file(tmp_path / "local.pt")
    out = tmp_path / "eval"
    argv = ["--checkpoint", str(tmp_path / "contig"), str(tmp_path / "none"), str(weights),
            "--name", "contig", "none", "local", "--manifest", str(tiny_cohort / "manifest.tsv"),
            "--task", str(tiny_cohort / "downstream.tsv"), "--mode", "probe,finetune",
            "--seeds", "2", "--epochs", "1", "--image-size", "32", "--out", str(out)]
    assert evaluate.main(argv) == 0
    with pytest.raises(InputError, match="--overwrite"):
        evaluate.main(argv)
    res = pd.read_csv(out / "results.tsv", sep="\t")
    summ = pd.read_csv(out / "summary.tsv", sep="\t")
    assert set(res.model) == {"contig", "none", "local"}
    assert set(res["mode"]) == {"probe", "finetune"} and set(res.seed) == {0, 1}
    assert set(res.metric) == {"qwk", "accuracy", "r2"}            # downstream grade 0-4
    q = res[res.metric == "qwk"]
    assert len(q) == 3 * 2 * 2 and q.value.between(-1, 1).all()
    # summary = mean and SD over seeds of the per-seed table
    g = res.groupby(["model", "mode", "metric"]).value
    chk = summ.set_index(["model", "mode", "metric"])
    # both tables hold 6 significant digits: the summary's are rounded from the exact values,
    # the per-seed values each within half a unit, which moves their mean by at most the
    # largest half unit and their SD by sqrt(n / (n - 1)) times it
    hu = res.assign(hu=half_unit(res.value)).groupby(["model", "mode", "metric"]).hu.max()
    hu = hu.reindex(chk.index).to_numpy()
    n = g.size().reindex(chk.index).to_numpy()
    mean, sd = g.mean().reindex(chk.index).to_numpy(), g.std(ddof=1).reindex(chk.index).to_numpy()
    rnd = gamma(4 * n) * g.apply(lambda v: v.abs().max()).reindex(chk.index).to_numpy()
    assert np.all(np.abs(chk["mean"].to_numpy() - mean) <= half_unit(chk["mean"]) + hu + rnd)
    assert np.all(np.abs(chk["sd"].to_numpy() - sd)
                  <= half_unit(chk["sd"]) + hu * np.sqrt(n / (n - 1)) + rnd)
    # splits are by person: same people for every model, nobody in train and test
    splits = pd.read_csv(out / "splits.tsv", sep="\t")
    assert splits.IID.is_unique and set(splits.split_0) == {"train", "test"}
    n_test = res.groupby("seed").n_test.nunique()
    assert (n_test == 1).all()
    for ext in ("png", "pdf"):
        assert (out / f"comparison.{ext}").stat().st_size > 0
    assert "ranking by qwk (probe)" in (out / "evaluate.log").read_text()


def test_evaluate_bad_input(tiny_cohort, tmp_path):
    from contig_gwas.cli import evaluate
    from contig_gwas.errors import InputError

    weights = _weights_file(tmp_path / "w.pt")
    base = ["--checkpoint", str(weights), "--manifest", str(tiny_cohort / "manifest.tsv"),
            "--image-size", "32"]
    with pytest.raises(InputError, match="no column 'nope'"):
        evaluate.main(base + ["--task", str(tiny_cohort / "downstream.tsv"), "--label", "nope",
                              "--out", str(tmp_path / "a")])
    with pytest.raises(InputError, match="several label columns"):
        evaluate.main(base + ["--task", str(tiny_cohort / "phenotypes.tsv"),
                              "--out", str(tmp_path / "b")])
    with pytest.raises(InputError, match="unknown"):
        evaluate.main(base + ["--task", str(tiny_cohort / "downstream.tsv"), "--mode", "knn",
                              "--out", str(tmp_path / "c")])
