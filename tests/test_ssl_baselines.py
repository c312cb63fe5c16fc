"""The image-only baselines BYOL, SimSiam, Barlow Twins and NNCLR: losses against loops and
closed forms (value and gradient), the stop-gradients, the momentum schedule, the support-set
queue, collapse on a toy problem, heads of the papers' widths, and contig-pretrain runs that
resume exactly and feed contig-embed and contig-evaluate.

The losses compute in float64 when given float64: the loops below then differ from them only
by the order of their sums. A sum of n terms in any order is within gamma(n) of the exact sum,
relative to the sum of the terms' magnitudes (tolerances.py); each comparison names n and the
magnitudes it bounds.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from pretrain_cohort import make_cohort
from tolerances import U32, gamma

from contig_gwas.errors import InputError
from contig_gwas.pretrain.losses import (
    BarlowTwinsLoss,
    BYOLLoss,
    NNCLRLoss,
    SimSiamLoss,
    nearest_neighbours,
    unrelated_views_loss,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

NEW = ["byol", "simsiam", "barlowtwins", "nnclr"]


# ----------------------------------------------------------------------------- references

def _norm(v):
    return v / torch.sqrt(sum(v[k] ** 2 for k in range(len(v))))


def _dot(a, b):
    return sum(a[k] * b[k] for k in range(len(a)))


def loop_byol(p1, p2, t1, t2):
    b = len(p1)
    total = 0.0
    for i in range(b):
        total = total + (2 - 2 * _dot(_norm(p1[i]), _norm(t2[i].detach())))
        total = total + (2 - 2 * _dot(_norm(p2[i]), _norm(t1[i].detach())))
    return total / b


def loop_simsiam(p1, p2, z1, z2):
    b = len(p1)
    total = 0.0
    for i in range(b):
        total = total - _dot(_norm(p1[i]), _norm(z2[i].detach())) / 2
        total = total - _dot(_norm(p2[i]), _norm(z1[i].detach())) / 2
    return total / b


def loop_barlow(z1, z2, *, lambd, eps):
    b, d = z1.shape

    def standardise(z):
        cols = []
        for j in range(d):
            m = sum(z[i, j] for i in range(b)) / b
            v = sum((z[i, j] - m) ** 2 for i in range(b)) / b
            cols.append([(z[i, j] - m) / torch.sqrt(v + eps) for i in range(b)])
        return cols

    a, c = standardise(z1), standardise(z2)
    total = 0.0
    for i in range(d):
        for j in range(d):
            cij = sum(a[i][k] * c[j][k] for k in range(b)) / b
            total = total + ((1 - cij) ** 2 if i == j else lambd * cij ** 2)
    return total


def loop_nn(z, support):
    out = []
    for i in range(len(z)):
        best, arg = -math.inf, 0
        for q in range(len(support)):
            c = float(_dot(_norm(z[i].detach()), _norm(support[q])))
            if c > best:
                best, arg = c, q
        out.append(_norm(support[arg]))
    return torch.stack(out)


def loop_nnclr(z1, z2, p1, p2, support, *, t):
    b = len(z1)

    def term(z, p):
        nn_ = loop_nn(z, support)
        total = 0.0
        for i in range(b):
            logits = [_dot(nn_[i], _norm(p[k])) / t for k in range(b)]
            total = total - logits[i] + torch.log(sum(torch.exp(x) for x in logits))
        return total / b

    return (term(z1, p2) + term(z2, p1)) / 2


def _inputs(*shapes, seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*s, generator=g, dtype=torch.float64) for s in shapes]


def _pair(xs):
    """Two independent leaf copies of each input, for the module and the loop."""
    return ([x.clone().requires_grad_() for x in xs], [x.clone().requires_grad_() for x in xs])


def _grad_close(a, b, n):
    """Gradients of the same float64 formula summed in other orders: within gamma(n) of the
    largest gradient entry per accumulated term, n counting every term along the chain."""
    return (a - b).abs().max() <= gamma(n) * (1 + float(b.abs().max())) * n


# ----------------------------------------------------------------------------- losses

def test_byol_loss_value_gradient_and_stop_gradient():
    b, d = 7, 5
    xs = _inputs((b, d), (b, d), (b, d), (b, d), seed=1)
    ours, ref = _pair(xs)
    v1 = BYOLLoss()(*ours)
    v2 = loop_byol(*ref)
    v1.backward()
    v2.backward()
    # each term 2 - 2 cos with |cos| <= 1 from d products; 2b terms: gamma(d + 2b + 8) of 4b
    assert abs(float(v1.detach()) - float(v2.detach())) <= gamma(d + 2 * b + 8) * 4 * 2
    for a, r in zip(ours[:2], ref[:2]):
        assert _grad_close(a.grad, r.grad, d + 2 * b + 8)
    # the targets (the target network's projections) take no gradient
    assert ours[2].grad is None and ours[3].grad is None
    # identical directions give 0, opposite 8
    p = xs[0]
    assert float(BYOLLoss()(p, p, 3 * p, 2 * p)) <= gamma(d + 8) * 8
    assert abs(float(BYOLLoss()(p, p, -p, -p)) - 8) <= gamma(d + 8) * 8


def test_simsiam_loss_value_gradient_and_stop_gradient():
    b, d = 6, 4
    xs = _inputs((b, d), (b, d), (b, d), (b, d), seed=2)
    ours, ref = _pair(xs)
    v1 = SimSiamLoss()(*ours)
    v2 = loop_simsiam(*ref)
    v1.backward()
    v2.backward()
    assert abs(float(v1.detach()) - float(v2.detach())) <= gamma(d + 2 * b + 8) * 2
    for a, r in zip(ours[:2], ref[:2]):
        assert _grad_close(a.grad, r.grad, d + 2 * b + 8)
    assert ours[2].grad is None and ours[3].grad is None       # stop-gradient on z
    # the minimum, -1, when every prediction points along the other view's projection
    z = xs[2]
    assert abs(float(SimSiamLoss()(2 * z, 0.5 * z, z, z)) + 1) <= gamma(d + 8) * 2


@pytest.mark.parametrize("eps", [1e-5, 0.0])
def test_barlow_twins_loss_value_and_gradient(eps):
    b, d = 9, 4
    xs = _inputs((b, d), (b, d), seed=3)
    xs[1] = xs[1] + 2 * xs[0]                 # correlated views
    ours, ref = _pair(xs)
    v1 = BarlowTwinsLoss(lambd=5e-3, eps=eps)(*ours)
    v2 = loop_barlow(*ref, lambd=5e-3, eps=eps)
    v1.backward()
    v2.backward()
    v1, v2 = float(v1.detach()), float(v2.detach())
    # d^2 entries of C, each a b-term sum of standardised values (|a_k c_k| <= b in all)
    n = 3 * b + d * d + 16
    assert abs(v1 - v2) <= gamma(n) * (d * d + v2) * 4
    for a, r in zip(ours, ref):
        assert _grad_close(a.grad, r.grad, n)
    # identical views (eps 0): C = I, loss 0; the lambda weighs only the off-diagonal
    z = xs[0]
    assert float(BarlowTwinsLoss(eps=0.0)(z, z)) > 0       # columns correlated by chance
    w = torch.linalg.qr(z - z.mean(0))[0] * math.sqrt(b)     # orthogonal, centred columns
    assert float(BarlowTwinsLoss(eps=0.0)(w, w)) <= gamma(n) * d * d * 4
    big = BarlowTwinsLoss(lambd=1.0, eps=0.0)(z, z)
    small = BarlowTwinsLoss(lambd=0.5, eps=0.0)(z, z)
    assert abs(float(big) - 2 * float(small)) <= gamma(n) * float(big) * 4


def test_nearest_neighbour_is_by_cosine():
    support = torch.tensor([[10.0, 1.0], [1.0, 0.05], [0.0, 1.0], [2.0, 0.5]],
                           dtype=torch.float64)
    z = torch.tensor([[1.0, 0.0], [0.0, 3.0], [1.0, 1.0]], dtype=torch.float64)
    nn_ = nearest_neighbours(z, support)
    # [1, 0]: the long [10, 1] has the largest dot product (10), [1, 0.05] the largest cosine
    # (0.9988 against 0.9950); [0, 3] -> [0, 1]; [1, 1] -> [2, 0.5] (cosine 0.857 against
    # 0.774, 0.741, 0.707)
    expect = torch.nn.functional.normalize(support[[1, 2, 3]], dim=1)
    torch.testing.assert_close(nn_, expect, rtol=0, atol=4 * U32)
    xs = _inputs((6, 5), (20, 5), seed=4)
    torch.testing.assert_close(nearest_neighbours(*xs), loop_nn(*xs), rtol=0,
                               atol=gamma(5 + 8))
    assert not nearest_neighbours(xs[0].requires_grad_(), xs[1]).requires_grad


def test_nnclr_loss_value_gradient_and_empty_support():
    b, d, q = 5, 4, 11
    xs = _inputs((b, d), (b, d), (b, d), (b, d), (q, d), seed=5)
    ours, ref = _pair(xs[:4])
    v1 = NNCLRLoss(temperature=0.1)(*ours, xs[4])
    v2 = loop_nnclr(*ref, xs[4], t=0.1)
    v1.backward()
    v2.backward()
    v1, v2 = float(v1.detach()), float(v2.detach())
    # logits |.| <= 1 / t; each log-sum-exp over b terms; two terms averaged
    n = d + b + 16
    assert abs(v1 - v2) <= gamma(n) * (1 / 0.1 + abs(v2)) * 4
    for a, r in zip(ours[2:], ref[2:]):                 # the predictions take the gradient
        assert _grad_close(a.grad, r.grad, n)
    assert ours[0].grad is None and ours[1].grad is None  # neighbours take none
    # an empty support set: the batch's own view-1 projections stand in for it
    empty = torch.zeros(0, d, dtype=torch.float64)
    a = NNCLRLoss()(*xs[:4], empty)
    r = loop_nnclr(*xs[:4], xs[0], t=0.1)
    assert abs(float(a) - float(r)) <= gamma(n) * (1 / 0.1 + abs(float(r))) * 4


def test_unrelated_views_losses_are_the_expectations():
    """BYOL 4, SimSiam 0 and Barlow Twins' closed form are the mean losses of independent
    random views: a Monte-Carlo mean within 5 standard errors."""
    g = torch.Generator().manual_seed(6)
    b, d, reps = 8, 6, 3000
    draws = {"byol": [], "simsiam": [], "barlowtwins": []}
    bt = BarlowTwinsLoss(lambd=5e-3, eps=0.0)
    for _ in range(reps):
        a, c, e, f = (torch.randn(b, d, generator=g, dtype=torch.float64) for _ in range(4))
        draws["byol"].append(float(BYOLLoss()(a, c, e, f)))
        draws["simsiam"].append(float(SimSiamLoss()(a, c, e, f)))
        draws["barlowtwins"].append(float(bt(a, c)))
    for method, v in draws.items():
        exp = unrelated_views_loss(method, batch_size=b, dim=d, lambd=5e-3)
        se = np.std(v, ddof=1) / math.sqrt(reps)
        assert abs(np.mean(v) - exp) <= 5 * se, (method, np.mean(v), exp, se)
    assert unrelated_views_loss("nnclr", batch_size=16) == math.log(16)
    assert unrelated_views_loss("simclr", batch_size=16) == math.log(31)


# ----------------------------------------------------------------------------- model parts

def test_target_momentum_schedule():
    from contig_gwas.pretrain.models import target_momentum

    k = 1000
    assert target_momentum(0, k) == 0.99
    # cos(pi / 2) is 6e-17 in float64, and a few roundings of values below 1
    assert abs(target_momentum(k // 2, k) - 0.995) <= 1e-15
    assert target_momentum(k, k) == 1.0
    assert abs(target_momentum(k // 4, k, base=0.9)
               - (1 - 0.1 * (math.cos(math.pi / 4) + 1) / 2)) <= 1e-15
    values = [target_momentum(s, k) for s in range(k + 1)]
    assert all(a <= b for a, b in zip(values, values[1:]))
    assert target_momentum(5, 0) == 1.0


def test_target_network_copy_and_moving_average():
    from contig_gwas.pretrain.models import ResNet, TargetNetwork, make_projector

    torch.manual_seed(0)
    backbone, head = ResNet("tiny"), make_projector("byol", 64, 256)
    target = TargetNetwork(backbone, head)
    assert not any(p.requires_grad for p in target.parameters())
    for p in list(backbone.parameters()) + list(head.parameters()):
        p.data.add_(torch.randn_like(p))
    online = dict(backbone.named_parameters(prefix="backbone"))
    online.update(head.named_parameters(prefix="head"))
    before = {k: v.clone() for k, v in target.named_parameters()}
    target.update(backbone, head, momentum=0.9)
    for k, v in target.named_parameters():
        exp = 0.9 * before[k] + 0.1 * online[k]
        # two float32 roundings on each side
        bound = gamma(4, U32) * (0.9 * before[k].abs() + 0.1 * online[k].abs())
        assert ((v - exp).abs() <= bound).all(), k
    target.copy_from(backbone, head)
    for k, v in target.state_dict().items():
        src = backbone.state_dict() if k.startswith("backbone.") else head.state_dict()
        assert torch.equal(v, src[k.partition(".")[2]])


def test_support_queue_is_first_in_first_out_and_saved(tmp_path):
    from contig_gwas.pretrain.models import SupportQueue

    q = SupportQueue(5, 2)
    assert q.support().shape == (0, 2)
    rows = torch.arange(40, dtype=torch.float32).view(20, 2)
    q.push(rows[:2])
    assert torch.equal(q.support(), rows[:2])
    q.push(rows[2:4])
    q.push(rows[4:7])                       # wraps: the oldest row (0) is overwritten
    assert torch.equal(q.support(), rows[2:7])
    q.push(rows[7:8])
    assert torch.equal(q.support(), rows[3:8])
    q.push(rows[8:15])                      # a batch larger than the queue: its last 5 rows
    assert torch.equal(q.support(), rows[10:15])
    assert int(q.count) == 5
    torch.save(q.state_dict(), tmp_path / "q.pt")
    r = SupportQueue(5, 2)
    r.load_state_dict(torch.load(tmp_path / "q.pt", weights_only=True))
    assert torch.equal(r.support(), q.support())
    q.push(rows[15:17])
    r.push(rows[15:17])
    assert torch.equal(r.support(), q.support()) and torch.equal(r.support(), rows[12:17])
    with pytest.raises(InputError, match="at least one row"):
        SupportQueue(0, 2)


def test_queue_size_default():
    from contig_gwas.pretrain.models import default_queue_size

    assert default_queue_size(1_281_167, batch_size=4096) == 98_304    # the paper
    assert default_queue_size(10_000_000, batch_size=256) == 98_304
    assert default_queue_size(1_663, batch_size=128) == 128             # the demo: one batch
    assert default_queue_size(100_000, batch_size=64) == round(100_000 * 98_304 / 1_281_167)


def _linear_shapes(module):
    return [tuple(m.weight.shape[::-1]) for m in module.modules()
            if isinstance(m, torch.nn.Linear)]


def test_heads_have_the_papers_widths_for_resnet50_and_scale_for_tiny():
    from contig_gwas.pretrain.models import default_proj_dim, make_predictor, make_projector

    d = 2048
    paper = {  # (projector, predictor) Linear (in, out) shapes of each paper, ResNet-50
        "byol": ([(2048, 4096), (4096, 256)], [(256, 4096), (4096, 256)]),
        "simsiam": ([(2048, 2048)] * 3, [(2048, 512), (512, 2048)]),
        "barlowtwins": ([(2048, 2048)] * 3, None),
        "nnclr": ([(2048, 2048), (2048, 2048), (2048, 256)], [(256, 4096), (4096, 256)]),
        "simclr": ([(2048, 2048), (2048, 128)], None),
    }
    for method, (proj, pred) in paper.items():
        p = default_proj_dim(method, d)
        assert _linear_shapes(make_projector(method, d, p)) == proj, method
        got = make_predictor(method, d, p)
        assert (None if got is None else _linear_shapes(got)) == pred, method
    # SimSiam's projector ends in BatchNorm without affine weights, NNCLR's with them,
    # Barlow Twins' and BYOL's in a Linear
    assert not make_projector("simsiam", d, d)[-1].affine
    assert make_projector("nnclr", d, 256)[-1].affine
    assert isinstance(make_projector("barlowtwins", d, d)[-1], torch.nn.Linear)
    # tiny (d = 64): widths times 64 / 2048, as SimCLR's hidden width is d
    assert _linear_shapes(make_projector("barlowtwins", 64, default_proj_dim("barlowtwins", 64))
                          ) == [(64, 64)] * 3
    assert _linear_shapes(make_projector("byol", 64, 256)) == [(64, 128), (128, 256)]
    assert _linear_shapes(make_predictor("simsiam", 64, 64)) == [(64, 16), (16, 64)]


# ----------------------------------------------------------------------------- collapse

def _spread(z):
    from contig_gwas.pretrain.train import embedding_spread

    return embedding_spread(z)


def _toy_views(g, b=64):
    x = torch.randn(b, 8, generator=g)
    return x + 0.3 * torch.randn(b, 8, generator=g), x + 0.3 * torch.randn(b, 8, generator=g)


def _toy_simsiam(*, stop_gradient: bool, steps: int = 300) -> float:
    """SimSiam on 8-d Gaussian points with noisy views (projector without its final BatchNorm,
    which would hide a collapse); the spread of the trained projections."""
    from contig_gwas.pretrain.models import bn_mlp

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    f, h = bn_mlp([8, 32, 32, 16], last_bn=None), bn_mlp([16, 8, 16], last_bn=None)
    opt = torch.optim.SGD([*f.parameters(), *h.parameters()], lr=0.05, momentum=0.9)
    cos = torch.nn.functional.cosine_similarity
    for _ in range(steps):
        x1, x2 = _toy_views(g)
        z1, z2 = f(x1), f(x2)
        p1, p2 = h(z1), h(z2)
        loss = (SimSiamLoss()(p1, p2, z1, z2) if stop_gradient
                else -0.5 * (cos(p1, z2).mean() + cos(p2, z1).mean()))
        opt.zero_grad()
        loss.backward()
        opt.step()
    f.eval()
    with torch.no_grad():
        return _spread(f(_toy_views(g, 256)[0]))


def _toy_byol(*, predictor: bool, base: float, steps: int = 300) -> float:
    from contig_gwas.pretrain.models import bn_mlp, target_momentum

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    f = bn_mlp([8, 32, 16], last_bn=None)
    h = bn_mlp([16, 32, 16], last_bn=None) if predictor else torch.nn.Identity()
    t = copy.deepcopy(f).requires_grad_(False)
    opt = torch.optim.SGD([*f.parameters(), *h.parameters()], lr=0.05, momentum=0.9)
    for s in range(steps):
        x1, x2 = _toy_views(g)
        with torch.no_grad():
            t1, t2 = t(x1), t(x2)
        loss = BYOLLoss()(h(f(x1)), h(f(x2)), t1, t2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        m = target_momentum(s, steps, base=base)
        with torch.no_grad():
            for a, b in zip(t.parameters(), f.parameters()):
                a.mul_(m).add_(b, alpha=1 - m)
    with torch.no_grad():
        return _spread(f(_toy_views(g, 256)[0]))


def test_simsiam_and_byol_do_not_collapse_on_a_toy_problem():
    """The spread (sqrt(D) x mean per-dimension SD of the normalised projections) stays near 1
    with the stop-gradient / predictor and momentum target; the same training without them
    collapses (the check can tell; SimSiam paper, Fig. 2; BYOL paper, Table 5)."""
    healthy, collapsed = 0.5, 0.2
    assert _toy_simsiam(stop_gradient=True) > healthy
    assert _toy_simsiam(stop_gradient=False) < collapsed
    assert _toy_byol(predictor=True, base=0.99) > healthy
    assert _toy_byol(predictor=False, base=0.0) < collapsed


# ----------------------------------------------------------------------------- contig-pretrain

@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    return make_cohort(tmp_path_factory.mktemp("sslcohort"))


def _args(cohort: Path, out: Path, method: str, *extra: str) -> list[str]:
    return ["--manifest", str(cohort / "manifest.tsv"), "--method", method, "--backbone", "tiny",
            "--image-size", "32", "--batch-size", "16", "--epochs", "2", "--workers", "0",
            "--no-progress", "--val-fraction", "0.25", "--out", str(out), *extra]


@pytest.fixture(scope="module")
def trained(cohort, tmp_path_factory) -> dict[str, Path]:
    """Each new method trained for 2 epochs (4 steps each) uninterrupted; BYOL's momentum
    calls recorded."""
    from contig_gwas.cli import pretrain
    from contig_gwas.pretrain import train

    root = tmp_path_factory.mktemp("ssl")
    calls: list[tuple[int, int, float]] = []
    orig = train.target_momentum

    def record(step, total, *, base):
        calls.append((step, total, base))
        return orig(step, total, base=base)

    out = {}
    for method in NEW:
        train.target_momentum = record if method == "byol" else orig
        try:
            assert pretrain.main(_args(cohort, root / method, method)) == 0
        finally:
            train.target_momentum = orig
        out[method] = root / method
    out["byol_calls"] = calls
    return out


@pytest.mark.parametrize("method", NEW)
def test_trains_saves_weights_only_and_resumes_exactly(cohort, trained, tmp_path, monkeypatch,
                                                       method):
    from contig_gwas.cli import pretrain
    from contig_gwas.pretrain import train
    from contig_gwas.pretrain.checkpoint import load_config, load_encoder, load_model

    full = trained[method]
    for name in ("model.pt", "best.pt", "last.pt"):
        torch.load(full / name, weights_only=True)
    state = torch.load(full / "model.pt", weights_only=True)
    ssl = {k.split(".")[1] for k in state if k.startswith("ssl.")}
    assert ssl == {"byol": {"predictor", "target"}, "simsiam": {"predictor"},
                   "barlowtwins": set(), "nnclr": {"predictor", "queue"}}[method]
    hist = pd.read_csv(full / "history.tsv", sep="\t")
    assert len(hist) == 2 and np.isfinite(hist.val_loss).all()
    assert (hist.embedding_std > 0).all()              # the validation projections spread
    log = (full / "pretrain.log").read_text()
    assert "embedding std" in log and "rotate,flip,color,crop" in log   # SimCLR's augmentations
    cfg = load_config(full)
    assert cfg["model"]["method"] == method
    assert cfg["model"]["proj_dim"] == {"byol": 256, "nnclr": 256}.get(method, 64)
    if method == "nnclr":
        # 60 training images: the paper's share (5) is less than a batch, so one batch
        assert cfg["model"]["queue_size"] == 16
        assert int(state["ssl.queue.count"]) == 16
    if method == "byol":
        # the momentum after every optimiser step k = 0..K-1 of K (3 batches of 16 of the 60
        # training images per epoch, 2 epochs), from 0.99 towards 1
        assert hist.images.tolist() == [48, 48]
        assert trained["byol_calls"] == [(k, 6, 0.99) for k in range(6)]
        # the target moved with the online network, not onto it
        key = "backbone.conv1.weight"
        assert not torch.equal(state[f"image_encoder.{key}"], state[f"ssl.target.{key}"])
    le = load_encoder(full)
    assert le.name == f"{method}:tiny"
    assert f"projection:{method}" in le.encoder.layer_names()
    with torch.no_grad():
        assert le.encoder.features(torch.zeros(2, 3, 32, 32)).shape == (2, 64)
    model = load_model(full)
    assert not model.training and model.spec.method == method

    class Killed(Exception):
        pass

    def kill_after_first(rec):
        if rec.epoch == 1:
            raise Killed

    cut = tmp_path / "cut"
    orig = train.fit
    monkeypatch.setattr(train, "fit", lambda **kw: orig(**kw, on_epoch_end=kill_after_first))
    with pytest.raises(Killed):
        pretrain.main(_args(cohort, cut, method))
    monkeypatch.setattr(train, "fit", orig)
    assert pretrain.main(_args(cohort, cut, method, "--resume")) == 0
    assert "resumed after epoch 1" in (cut / "pretrain.log").read_text()
    b = torch.load(cut / "model.pt", weights_only=True)
    assert state.keys() == b.keys()
    # the same code on the same saved state (target network, support set) with one thread
    for k in state:
        assert torch.equal(state[k], b[k]), k
    hb = pd.read_csv(cut / "history.tsv", sep="\t")
    assert (hist.val_loss == hb.val_loss).all() and (hist.train_loss == hb.train_loss).all()


def test_settings_of_the_baselines(cohort, tmp_path):
    from contig_gwas.cli import pretrain
    from contig_gwas.pretrain.checkpoint import load_config

    out = tmp_path / "q"
    assert pretrain.main(_args(cohort, out, "nnclr", "--epochs", "1", "--queue-size", "40",
                               "--proj-dim", "32")) == 0
    cfg = load_config(out)
    assert cfg["model"]["queue_size"] == 40 and cfg["model"]["proj_dim"] == 32
    assert cfg["training"]["momentum"] == 0.99 and cfg["training"]["barlow_lambda"] == 5e-3
    for bad in (["--momentum", "1.5"], ["--queue-size", "0"], ["--barlow-lambda", "-1"],
                ["--proj-dim", "0"]):
        with pytest.raises(InputError):
            pretrain.main(_args(cohort, tmp_path / "bad", "byol", *bad))
    # a resume with another lambda is refused
    bt = tmp_path / "bt"
    assert pretrain.main(_args(cohort, bt, "barlowtwins", "--epochs", "1")) == 0
    with pytest.raises(InputError, match="barlow_lambda"):
        pretrain.main(_args(cohort, bt, "barlowtwins", "--epochs", "1", "--barlow-lambda",
                            "0.01", "--resume"))
    # a checkpoint written before these settings existed resumes with their defaults
    old = json.loads((bt / "config.json").read_text())
    del old["model"]["queue_size"], old["training"]["momentum"], old["training"]["barlow_lambda"]
    (bt / "config.json").write_text(json.dumps(old))
    assert pretrain.main(_args(cohort, bt, "barlowtwins", "--epochs", "1", "--resume")) == 0
    with pytest.raises(InputError, match="momentum"):
        (bt / "config.json").write_text(json.dumps(old))
        pretrain.main(_args(cohort, bt, "barlowtwins", "--epochs", "1", "--momentum", "0.9",
                            "--resume"))


def test_embed_and_evaluate_take_the_new_checkpoints(cohort, trained, tmp_path):
    from contig_gwas.cli import embed, evaluate
    from contig_gwas.embed.files import read_embeddings

    for method in NEW:
        out = tmp_path / f"e_{method}"
        assert embed.main(["--checkpoint", str(trained[method]), "--manifest",
                           str(cohort / "manifest.tsv"), "--n-pcs", "3", "--batch-size", "16",
                           "--no-progress", "--out", str(out)]) == 0
        _, meta = read_embeddings(f"{out}.embeddings.parquet")
        assert meta["model"] == f"{method}:tiny"
    man = pd.read_csv(cohort / "manifest.tsv", sep="\t")
    iid = man.IID.drop_duplicates().to_numpy()
    task = pd.DataFrame({"FID": iid, "IID": iid, "label": np.arange(len(iid)) % 2})
    task.to_csv(tmp_path / "task.tsv", sep="\t", index=False)
    out = tmp_path / "eval"
    assert evaluate.main(["--checkpoint", *(str(trained[m]) for m in NEW), "--name", *NEW,
                          "--manifest", str(cohort / "manifest.tsv"), "--task",
                          str(tmp_path / "task.tsv"), "--mode", "probe", "--seeds", "1",
                          "--image-size", "32", "--out", str(out)]) == 0
    res = pd.read_csv(out / "results.tsv", sep="\t")
    assert set(res.model) == set(NEW)
