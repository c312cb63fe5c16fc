"""Self-supervised losses as self-contained ``nn.Module`` s (no training machinery needed).

ContIG cross-modal NT-Xent (Taleb et al., CVPR 2022): with L2-normalised image projections
``z_i`` and genetic projections ``g_j`` of the individuals present for a modality, and
similarities ``s_ij = z_i . g_j / T``,

    l_img(i) = -s_ii + log sum_j exp(s_ij)      (image i against every genetics j)
    l_gen(i) = -s_ii + log sum_j exp(s_ji)      (genetics i against every image j)
    loss     = alpha * mean_i l_img(i) + (1 - alpha) * mean_i l_gen(i)

Only cross-modal negatives are used. A boolean ``mask`` (shape (B,)) removes rows whose
modality is absent from anchors and negatives alike. Optional ``groups`` (shape (B,), e.g. the
individual of each image, so two eyes of one person) remove pairs i != j of the same group from
the negatives: they share genetics, so they are not negatives. Random embeddings give a loss of
about log(B). With several modalities, :class:`ContIGLoss` averages over the modalities that
have at least two rows present in the batch.

The image-only baselines take two augmented views of a batch of images (rows paired):
:class:`SimCLRLoss` (NT-Xent), :class:`BYOLLoss` (predictions against a momentum target),
:class:`SimSiamLoss` (predictions against the stop-gradient projections), :class:`BarlowTwinsLoss`
(cross-correlation of batch-standardised projections) and :class:`NNCLRLoss` (NT-Xent with each
view's nearest neighbour in a support set as its positive). :func:`unrelated_views_loss` is each
loss's value when the two views are unrelated, the reference the training log prints.
"""

from __future__ import annotations

import math
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn


def _negatives_allowed(n: int, groups: torch.Tensor | None, device) -> torch.Tensor:
    """(n, n) bool: True where j may appear in the denominator of anchor i."""
    eye = torch.eye(n, dtype=torch.bool, device=device)
    if groups is None:
        return torch.ones(n, n, dtype=torch.bool, device=device)
    same = groups[:, None] == groups[None, :]
    return ~same | eye


class CrossModalNTXent(nn.Module):
    """Cross-modal NT-Xent for one modality (see the module docstring)."""

    def __init__(self, *, temperature: float = 0.1, alpha: float = 0.75) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.temperature = temperature
        self.alpha = alpha

    def forward(self, image: torch.Tensor, genetic: torch.Tensor,
                mask: torch.Tensor | None = None,
                groups: torch.Tensor | None = None) -> torch.Tensor:
        """Loss of projections ``image``, ``genetic`` (B, D); 0 (with a graph) if < 2 rows."""
        if mask is not None:
            idx = torch.nonzero(mask, as_tuple=False).squeeze(1)
            image, genetic = image.index_select(0, idx), genetic.index_select(0, idx)
            groups = None if groups is None else groups.index_select(0, idx)
        n = image.shape[0]
        if n < 2:
            return (image.sum() + genetic.sum()) * 0.0
        z = F.normalize(image.float(), dim=1)
        g = F.normalize(genetic.float(), dim=1)
        logits = z @ g.t() / self.temperature
        allowed = _negatives_allowed(n, groups, logits.device)
        logits = logits.masked_fill(~allowed, float("-inf"))
        target = torch.arange(n, device=logits.device)
        l_img = F.cross_entropy(logits, target)
        l_gen = F.cross_entropy(logits.t(), target)
        return self.alpha * l_img + (1.0 - self.alpha) * l_gen


class ContIGLoss(nn.Module):
    """Mean of :class:`CrossModalNTXent` over modalities with >= 2 rows present.

    ``forward(outputs, masks, groups)`` takes ``{modality: (image_proj, genetic_proj)}`` and
    ``{modality: bool mask}``; returns ``(total, {modality: loss})`` (absent modalities
    omitted from the dict and the mean).
    """

    def __init__(self, *, temperature: float = 0.1, alpha: float = 0.75) -> None:
        super().__init__()
        self.term = CrossModalNTXent(temperature=temperature, alpha=alpha)

    def forward(self, outputs: Mapping[str, tuple[torch.Tensor, torch.Tensor]],
                masks: Mapping[str, torch.Tensor],
                groups: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        terms = {}
        zero = None
        for m, (img, gen) in outputs.items():
            mask = masks.get(m)
            loss = self.term(img, gen, mask, groups)
            if mask is None or int(mask.sum()) >= 2:
                terms[m] = loss
            else:
                zero = loss if zero is None else zero + loss
        if not terms:
            if zero is None:
                raise ValueError("no modality outputs to compute a loss from")
            return zero, {}
        total = torch.stack(list(terms.values())).mean()
        if zero is not None:     # keep every head in the graph (zero gradient)
            total = total + zero
        return total, terms


class SimCLRLoss(nn.Module):
    """NT-Xent of SimCLR (Chen et al., 2020) between two augmented views (B, D) each.

    The 2B projections are L2-normalised; each view's positive is the other view of the same
    image, its negatives all other 2B - 2 projections; the loss is the mean over all 2B anchors.
    """

    def __init__(self, *, temperature: float = 0.1) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature = temperature

    def forward(self, view1: torch.Tensor, view2: torch.Tensor) -> torch.Tensor:
        b = view1.shape[0]
        z = F.normalize(torch.cat([view1, view2]).float(), dim=1)
        logits = z @ z.t() / self.temperature
        logits = logits.masked_fill(torch.eye(2 * b, dtype=torch.bool, device=z.device),
                                    float("-inf"))
        target = torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)]).to(z.device)
        return F.cross_entropy(logits, target)


def _wide(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float32, or float64 if it is float64 (bfloat16 under autocast is widened)."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def _cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Row-wise cosine similarity of (B, D) tensors, in float32 at least."""
    return (F.normalize(_wide(a), dim=1) * F.normalize(_wide(b), dim=1)).sum(dim=1)


class BYOLLoss(nn.Module):
    """BYOL (Grill et al., NeurIPS 2020): the normalised squared error between the online
    network's prediction of one view and the target network's projection of the other,
    ``2 - 2 cos(p, z')``, averaged over the batch and summed over both directions (the paper's
    symmetric loss ``L + L~``). The targets take no gradient."""

    def forward(self, pred1: torch.Tensor, pred2: torch.Tensor, target1: torch.Tensor,
                target2: torch.Tensor) -> torch.Tensor:
        t1, t2 = target1.detach(), target2.detach()
        return (2.0 - 2.0 * _cosine(pred1, t2)).mean() + (2.0 - 2.0 * _cosine(pred2, t1)).mean()


class SimSiamLoss(nn.Module):
    """SimSiam (Chen & He, CVPR 2021): the negative cosine similarity between each view's
    prediction and the other view's projection under a stop-gradient,
    ``-(cos(p1, sg(z2)) + cos(p2, sg(z1))) / 2``, averaged over the batch (minimum -1)."""

    def forward(self, pred1: torch.Tensor, pred2: torch.Tensor, proj1: torch.Tensor,
                proj2: torch.Tensor) -> torch.Tensor:
        return -0.5 * (_cosine(pred1, proj2.detach()).mean()
                       + _cosine(pred2, proj1.detach()).mean())


class BarlowTwinsLoss(nn.Module):
    """Barlow Twins (Zbontar et al., ICML 2021): with each view's projections standardised over
    the batch (mean 0, biased variance 1 plus ``eps``, as BatchNorm without affine parameters in
    training mode) and their cross-correlation ``C = z1' z2 / B`` (D, D),

        loss = sum_i (1 - C_ii)^2 + lambda sum_{i != j} C_ij^2,   lambda = 5e-3.
    """

    def __init__(self, *, lambd: float = 5e-3, eps: float = 1e-5) -> None:
        super().__init__()
        if lambd < 0:
            raise ValueError(f"lambda must be non-negative, got {lambd}")
        self.lambd = lambd
        self.eps = eps

    def standardise(self, z: torch.Tensor) -> torch.Tensor:
        z = _wide(z)
        mean = z.mean(dim=0, keepdim=True)
        var = z.var(dim=0, unbiased=False, keepdim=True)
        return (z - mean) / torch.sqrt(var + self.eps)

    def forward(self, proj1: torch.Tensor, proj2: torch.Tensor) -> torch.Tensor:
        b = proj1.shape[0]
        c = self.standardise(proj1).t() @ self.standardise(proj2) / b
        on = (torch.diagonal(c) - 1.0).pow(2).sum()
        eye = torch.eye(c.shape[0], dtype=torch.bool, device=c.device)
        off = c.masked_fill(eye, 0.0).pow(2).sum()
        return on + self.lambd * off


def nearest_neighbours(z: torch.Tensor, support: torch.Tensor) -> torch.Tensor:
    """For each row of ``z`` (B, D), the row of ``support`` (Q, D) of highest cosine similarity
    (the first of equals), L2-normalised and detached: shape (B, D)."""
    s = F.normalize(_wide(support.detach()), dim=1)
    idx = (F.normalize(_wide(z.detach()).to(s.dtype), dim=1) @ s.t()).argmax(dim=1)
    return s.index_select(0, idx)


class NNCLRLoss(nn.Module):
    """NNCLR (Dwibedi et al., ICCV 2021): NT-Xent whose positive for view 1 of image i is the
    nearest neighbour NN(z1_i) of its projection in the support set Q, contrasted with the
    predictions of view 2 of the batch (the negatives: view 2's other images),

        L(i) = -log exp(NN(z1_i) . p2_i / T) / sum_k exp(NN(z1_i) . p2_k / T),

    on L2-normalised vectors, averaged over i and symmetrised with the views swapped (the
    paper's pseudo-code). Neighbours take no gradient. An empty support set (the first step)
    is replaced by the batch's own view-1 projections (so NN(z1_i) = z1_i).
    """

    def __init__(self, *, temperature: float = 0.1) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature = temperature

    def forward(self, proj1: torch.Tensor, proj2: torch.Tensor, pred1: torch.Tensor,
                pred2: torch.Tensor, support: torch.Tensor) -> torch.Tensor:
        if support.shape[0] == 0:
            support = proj1.detach()
        target = torch.arange(proj1.shape[0], device=proj1.device)

        def term(proj: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
            nn_ = nearest_neighbours(proj, support)
            p = F.normalize(_wide(pred), dim=1)
            logits = nn_.to(p.dtype) @ p.t() / self.temperature
            return F.cross_entropy(logits, target)

        return 0.5 * (term(proj1, pred2) + term(proj2, pred1))


#: how the training log names :func:`unrelated_views_loss` of each method
UNRELATED_VIEWS = {"contig": "log(batch size)", "simclr": "log(2B-1)", "nnclr": "log(B)",
                   "byol": "unrelated views", "simsiam": "unrelated views",
                   "barlowtwins": "unrelated views"}


def unrelated_views_loss(method: str, *, batch_size: int, dim: int = 0,
                         lambd: float = 5e-3) -> float:
    """The loss when the two inputs carry nothing of each other (random embeddings), named in
    the log as :data:`UNRELATED_VIEWS` says: contig and nnclr log(B) (all logits alike), simclr
    log(2B-1); byol 4 and simsiam 0 (expected cosine 0); barlowtwins, for projections of width
    ``dim`` standardised over a batch of B independent rows (``eps`` aside), exactly
    ``D B / (B - 1) + lambda D (D - 1) / (B - 1)`` in expectation, as E C_ij^2 = 1 / (B - 1)."""
    b = batch_size
    if method == "simclr":
        return math.log(2 * b - 1)
    if method == "byol":
        return 4.0
    if method == "simsiam":
        return 0.0
    if method == "barlowtwins":
        return dim * b / (b - 1) + lambd * dim * (dim - 1) / (b - 1)
    return math.log(b)
