"""Losses against straightforward loop implementations; masks; models without training code."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch
from tolerances import U32, gamma

from contig_gwas.pretrain.losses import ContIGLoss, CrossModalNTXent, SimCLRLoss

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _float32_tolerances(x: torch.Tensor, *, t: float, b: int, roles: int = 1):
    """Round-off of the float32 losses against an exact (float64) reference.

    A logit <z_i, z_j> / t of unit vectors is within dl = gamma(d + 4) / t (u = 2^-24: the
    inputs' rounding to float32, the normalisation and the dot product); a log-sum-exp over b
    terms adds gamma(b + 4) (1 + |value|). The gradient of the loss in the logits, (p - y) / b
    per row, moves by at most 2 dl / b (|dp| <= 2 p dl) plus gamma(b + d + 4) 2 / (b t) of
    round-off, and reaches row i of the input through the normalisation (Jacobian norm
    1 / |x_i|); ``roles``: how many such terms a row takes part in (2 for SimCLR).
    Returns (value tolerance as a function of the value, per-row gradient tolerance).
    """
    d = x.shape[1]
    dl = gamma(d + 4, U32) / t
    g = 2 * dl + 2 * gamma(b + d + 4, U32) / t
    rows = roles * g / (b * t * torch.linalg.vector_norm(x.detach(), dim=1))
    return (lambda v: dl + gamma(b + 4, U32) * (1 + abs(v))), rows[:, None]


def loop_contig(img, gen, mask, groups, *, t, alpha):
    """Cross-modal NT-Xent written out with explicit loops over anchors and candidates."""
    rows = [i for i in range(len(img)) if mask is None or bool(mask[i])]
    if len(rows) < 2:
        return torch.zeros(())
    z = [img[i] / torch.sqrt((img[i] ** 2).sum()) for i in range(len(img))]
    g = [gen[i] / torch.sqrt((gen[i] ** 2).sum()) for i in range(len(gen))]
    l_img, l_gen = 0.0, 0.0
    for i in rows:
        den_i, den_g = 0.0, 0.0
        for j in rows:
            if j != i and groups is not None and groups[i] == groups[j]:
                continue
            den_i = den_i + torch.exp((z[i] * g[j]).sum() / t)
            den_g = den_g + torch.exp((g[i] * z[j]).sum() / t)
        pos = (z[i] * g[i]).sum() / t
        l_img = l_img - pos + torch.log(den_i)
        l_gen = l_gen - pos + torch.log(den_g)
    return alpha * l_img / len(rows) + (1 - alpha) * l_gen / len(rows)


def loop_simclr(v1, v2, *, t):
    z = torch.cat([v1, v2])
    z = [r / torch.sqrt((r ** 2).sum()) for r in z]
    n, b = len(z), len(v1)
    total = 0.0
    for i in range(n):
        pos = (i + b) % n
        den = sum(torch.exp((z[i] * z[k]).sum() / t) for k in range(n) if k != i)
        total = total - (z[i] * z[pos]).sum() / t + torch.log(den)
    return total / n


@pytest.mark.parametrize("use_mask,use_groups", [(False, False), (True, False), (True, True)])
def test_contig_loss_value_and_gradient_match_loops(use_mask, use_groups):
    gen_ = torch.Generator().manual_seed(1)
    b, d = 9, 5
    img = torch.randn(b, d, generator=gen_, dtype=torch.float64)
    gen = torch.randn(b, d, generator=gen_, dtype=torch.float64)
    mask = torch.tensor([1, 1, 0, 1, 1, 0, 1, 1, 1], dtype=torch.bool) if use_mask else None
    groups = torch.tensor([0, 0, 1, 2, 2, 3, 4, 5, 5]) if use_groups else None
    a1, g1 = img.clone().requires_grad_(), gen.clone().requires_grad_()
    a2, g2 = img.clone().requires_grad_(), gen.clone().requires_grad_()
    ours = CrossModalNTXent(temperature=0.1, alpha=0.75)
    # the module computes in float32; compare with the loop in float64
    v1 = ours(a1, g1, mask, groups)
    v2 = loop_contig(a2, g2, mask, groups, t=0.1, alpha=0.75)
    v1.backward()
    v2.backward()
    n_rows = b if mask is None else int(mask.sum())
    vtol, atol = _float32_tolerances(img, t=0.1, b=n_rows)
    _, gtol = _float32_tolerances(gen, t=0.1, b=n_rows)
    assert abs(float(v1.detach()) - float(v2.detach())) <= vtol(float(v2.detach()))
    assert ((a1.grad - a2.grad).abs() <= atol).all()
    assert ((g1.grad - g2.grad).abs() <= gtol).all()
    if use_mask:   # absent rows get no gradient at all
        assert float(a1.grad[~mask].abs().sum()) == 0 and float(g1.grad[~mask].abs().sum()) == 0


def test_contig_loss_mean_over_modalities_and_alpha():
    torch.manual_seed(0)
    outs = {m: (torch.randn(6, 4), torch.randn(6, 4)) for m in ("raw", "pgs", "burden")}
    masks = {"raw": torch.ones(6, dtype=torch.bool),
             "pgs": torch.tensor([1, 1, 1, 0, 0, 0], dtype=torch.bool),
             "burden": torch.tensor([0, 0, 0, 0, 1, 0], dtype=torch.bool)}  # < 2: no term
    total, terms = ContIGLoss(temperature=0.1, alpha=0.75)(outs, masks)
    assert set(terms) == {"raw", "pgs"}
    exp = (loop_contig(*outs["raw"], masks["raw"], None, t=0.1, alpha=0.75)
           + loop_contig(*outs["pgs"], masks["pgs"], None, t=0.1, alpha=0.75)) / 2
    # both float32 here: twice the round-off of one (_float32_tolerances), per term
    vtol, _ = _float32_tolerances(outs["raw"][0], t=0.1, b=6)
    assert abs(float(total.detach()) - float(exp)) <= 2 * vtol(float(exp))
    # alpha weighs the two directions: alpha=1 is image->genetics only
    i, g = outs["raw"]
    a = CrossModalNTXent(alpha=1.0)(i, g)
    b = CrossModalNTXent(alpha=0.0)(i, g)
    c = CrossModalNTXent(alpha=0.75)(i, g)
    assert abs(float(c) - (0.75 * float(a) + 0.25 * float(b))) <= 3 * vtol(float(c))
    assert abs(float(a) - float(loop_contig(i, g, None, None, t=0.1, alpha=1.0))) <= (
        2 * vtol(float(a)))


def test_random_embeddings_give_log_batch():
    torch.manual_seed(0)
    x = torch.randn(64, 128)
    # identical directions for all rows: every logit equal -> exactly log(B)
    v = CrossModalNTXent()(torch.ones(64, 8), torch.ones(64, 8))
    # every logit is the same float32 number (the same dot product): the loss is
    # lse - logit = log(64) up to the float32 rounding of the log-sum-exp and the difference
    logit = 1 / CrossModalNTXent().temperature
    assert abs(float(v) - math.log(64)) <= gamma(64 + 4, U32) * (1 + logit + math.log(64))
    assert float(CrossModalNTXent()(x, torch.randn(64, 128))) > math.log(64) - 0.5


def test_simclr_loss_matches_loop():
    gen_ = torch.Generator().manual_seed(2)
    v1 = torch.randn(5, 3, generator=gen_, dtype=torch.float64)
    v2 = torch.randn(5, 3, generator=gen_, dtype=torch.float64)
    a, b = v1.clone().requires_grad_(), v1.clone().requires_grad_()
    ours = SimCLRLoss(temperature=0.1)(a, v2)
    ref = loop_simclr(b, v2, t=0.1)
    ours.backward()
    ref.backward()
    vtol, rows = _float32_tolerances(v1, t=0.1, b=2 * len(v1), roles=2)
    assert abs(float(ours.detach()) - float(ref.detach())) <= vtol(float(ref.detach()))
    assert ((a.grad - b.grad).abs() <= rows).all()


def test_outer_mode_absent_inputs_ignored():
    """Absent individuals' genetic inputs get zero gradient and leave BatchNorm unchanged."""
    from contig_gwas.pretrain.models import ContIGModel, ModelSpec

    torch.manual_seed(0)
    model = ContIGModel(ModelSpec(backbone="tiny", method="contig",
                                  modalities={"raw": 12, "pgs": 3}, hidden=16))
    model.train()
    b = 8
    images = torch.randn(b, 3, 32, 32)
    masks = {"raw": torch.tensor([1, 1, 1, 1, 0, 0, 1, 1], dtype=torch.bool),
             "pgs": torch.tensor([1, 0, 1, 0, 1, 0, 1, 0], dtype=torch.bool)}

    def run(garbage: float):
        m = ContIGModel(model.spec)
        m.load_state_dict(model.state_dict())
        m.train()
        gens = {k: torch.randn(b, n, generator=torch.Generator().manual_seed(5))
                for k, n in (("raw", 12), ("pgs", 3))}
        for k in gens:   # absent rows filled with junk that must not matter
            gens[k][~masks[k]] = garbage
            gens[k].requires_grad_()
        out = m(images, gens, masks)
        total, _ = ContIGLoss()(out, masks, torch.arange(b))
        total.backward()
        return m, gens, total

    m1, g1, l1 = run(0.0)
    m2, g2, l2 = run(1e6)
    # absent rows enter no sum: the present rows go through the same code with the same
    # values (each output row of a product depends only on its own row), so bitwise
    assert float(l1.detach()) == float(l2.detach())
    for k in g1:
        assert float(g1[k].grad[~masks[k]].abs().sum()) == 0
        assert float(g1[k].grad[masks[k]].abs().sum()) > 0
        bn1 = m1.genetic_encoders[k].mlp[2]
        bn2 = m2.genetic_encoders[k].mlp[2]
        assert torch.equal(bn1.running_mean, bn2.running_mean)
        assert torch.equal(bn1.running_var, bn2.running_var)
        # the statistics are those of the present rows only
        present = g1[k].detach()[masks[k]]
        lin = model.genetic_encoders[k].mlp[0]
        h = torch.relu(lin(present))
        expected = 0.9 * torch.zeros_like(h[0]) + 0.1 * h.mean(0)
        # two float32 means of the same rows in possibly different orders, then the update
        tol = 2 * gamma(len(present) + 4, U32) * 0.1 * float(h.detach().abs().max())
        torch.testing.assert_close(bn1.running_mean, expected.detach(), rtol=0, atol=tol)


def test_models_and_losses_import_without_training_code():
    code = ("import sys, contig_gwas.pretrain.models, contig_gwas.pretrain.losses;"
            "bad=[m for m in ('contig_gwas.pretrain.train','contig_gwas.pretrain.data',"
            "'kornia') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_backbones_have_torchvision_shapes():
    from contig_gwas.pretrain.checkpoint import infer_backbone
    from contig_gwas.pretrain.models import ResNet

    for name, n_params, dim in (("resnet18", 11_176_512, 512), ("resnet50", 23_508_032, 2048)):
        net = ResNet(name)
        assert sum(p.numel() for p in net.parameters()) == n_params   # torchvision minus fc
        assert net.out_dim == dim
        assert infer_backbone(net.state_dict()) == name
