"""Contrastive losses as self-contained ``nn.Module`` s (no training machinery needed).

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
"""

from __future__ import annotations

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
