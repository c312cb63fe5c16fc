"""Integrated gradients of the ContIG objective with respect to the genetic inputs.

For one image ``i`` of one person, with L2-normalised image projection ``z_i`` and genetic
projection ``g_i = g(x_i)`` of that person's genetic input ``x_i`` (one modality), and a fixed
reference batch of ``B`` other people's projections ``z_r``, ``g_r`` (people other than ``i``'s
own), the per-person contrastive loss is the training loss of ``i`` in the batch ``{i} + ref``:

    s_ab    = a . b / T
    l_img   = -s(z_i, g_i) + log( exp s(z_i, g_i) + sum_r exp s(z_i, g_r) )
    l_gen   = -s(z_i, g_i) + log( exp s(z_i, g_i) + sum_r exp s(g_i, z_r) )
    loss(x) = alpha * l_img + (1 - alpha) * l_gen

Integrated gradients (Sundararajan et al., 2017; captum) of ``loss`` with respect to ``x_i``
from a baseline ``b`` (default: the mean input over the people with the modality, so an
attribution measures what this person's deviation from the average contributes) satisfy
completeness: ``sum_k attr_k = loss(x_i) - loss(b)`` up to the quadrature error. Negative
attributions lower the loss, i.e. make the person's genetics match their own image better.
The optional noise tunnel (SmoothGrad over IG) averages attributions over noisy copies of the
input. Global importance of a feature = mean |attribution| over people (a person with two images
contributes the mean of its two attribution vectors).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError

BASELINES = ("mean", "zero")


class ContrastiveObjective(nn.Module):
    """Per-row ContIG loss of one modality against a fixed reference batch (module docstring).

    ``forward(x, image_proj, allowed)``: genetic inputs ``x`` (n, F), the rows' image
    projections (n, D) and ``allowed`` (n, B) bool (False where reference member r is the row's
    own person); returns the loss of every row, shape (n,). Rows are independent (the encoder
    must be in eval mode), as integrated gradients needs.
    """

    ref_image: torch.Tensor  # buffers, registered in __init__
    ref_genetic: torch.Tensor

    def __init__(self, encoder: nn.Module, *, ref_image: torch.Tensor,
                 ref_genetic: torch.Tensor, temperature: float = 0.1,
                 alpha: float = 0.75) -> None:
        super().__init__()
        self.encoder = encoder
        self.register_buffer("ref_image", F.normalize(ref_image.float(), dim=1))
        self.register_buffer("ref_genetic", F.normalize(ref_genetic.float(), dim=1))
        self.temperature = temperature
        self.alpha = alpha

    def forward(self, x: torch.Tensor, image_proj: torch.Tensor,
                allowed: torch.Tensor) -> torch.Tensor:
        t = self.temperature
        g = F.normalize(self.encoder(x).float(), dim=1)
        z = F.normalize(image_proj.float(), dim=1)
        pos = (z * g).sum(dim=1, keepdim=True) / t
        neg_img = (z @ self.ref_genetic.t() / t).masked_fill(~allowed, float("-inf"))
        neg_gen = (g @ self.ref_image.t() / t).masked_fill(~allowed, float("-inf"))
        l_img = torch.logsumexp(torch.cat([pos, neg_img], dim=1), dim=1) - pos[:, 0]
        l_gen = torch.logsumexp(torch.cat([pos, neg_gen], dim=1), dim=1) - pos[:, 0]
        return self.alpha * l_img + (1.0 - self.alpha) * l_gen


def integrated_gradients(forward: nn.Module, *, inputs: torch.Tensor, baselines: torch.Tensor,
                         args: tuple = (), steps: int = 50, noise_tunnel: bool = False,
                         nt_samples: int = 8, nt_stdev: float = 0.1,
                         internal_batch_size: int | None = None
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Captum integrated gradients of the scalar-per-row ``forward(inputs, *args)``.

    Returns ``(attributions (n, F), delta)`` where delta is captum's convergence delta
    ``sum(attr) - (f(x) - f(b))`` per row (per noisy sample with the noise tunnel; shape
    (n * nt_samples,) then).
    """
    from captum.attr import IntegratedGradients, NoiseTunnel

    if steps < 2:
        raise InputError(f"--steps must be at least 2, got {steps}")
    ig = IntegratedGradients(forward)
    kw = dict(baselines=baselines, additional_forward_args=args, n_steps=steps,
              internal_batch_size=internal_batch_size, return_convergence_delta=True)
    if noise_tunnel:
        nt = NoiseTunnel(ig)
        attr, delta = nt.attribute(inputs, nt_type="smoothgrad", nt_samples=nt_samples,
                                   stdevs=nt_stdev, **kw)
    else:
        attr, delta = ig.attribute(inputs, **kw)
    return attr.detach(), delta.detach()


@dataclass
class GeneticAttributions:
    """Attributions of one modality.

    Attributes:
        modality: raw | pgs | burden.
        features: feature names (SNP IDs, PGS names, gene names), length F.
        iid: str (n,) people explained.
        local: float32 (n, F) attribution of each feature for each person (mean over images).
        importance: (F,) mean |local| over people; mean_attribution: (F,) mean signed local.
        loss, baseline_loss: (n,) the person's loss at the input and at the baseline.
        delta: (rows,) completeness error ``sum(attr) - (loss - baseline_loss)`` per image (per
            noisy sample with the noise tunnel).
        reference_iid: the people of the reference batch.
        settings: steps, baseline, noise tunnel, temperature, alpha, counts.
    """

    modality: str
    features: list[str]
    iid: np.ndarray
    local: np.ndarray
    importance: np.ndarray
    mean_attribution: np.ndarray
    loss: np.ndarray
    baseline_loss: np.ndarray
    delta: np.ndarray
    reference_iid: np.ndarray
    settings: dict = field(default_factory=dict)

    def ranking(self) -> pd.DataFrame:
        """``rank feature importance mean_attribution``, most important first (rank 1)."""
        order = np.argsort(-self.importance, kind="stable")
        return pd.DataFrame({"rank": np.arange(1, len(order) + 1),
                             "feature": np.asarray(self.features, dtype=object)[order],
                             "importance": self.importance[order],
                             "mean_attribution": self.mean_attribution[order]})

    def rank_of(self, names: list[str]) -> dict[str, int]:
        """Rank (1 = most important) of each feature in ``names`` present here."""
        r = self.ranking()
        pos = dict(zip(r.feature, r["rank"]))
        return {n: int(pos[n]) for n in names if n in pos}

    def completeness_error(self) -> float:
        """max |delta| relative to the largest |loss - baseline_loss| (0 if that is 0)."""
        scale = float(np.max(np.abs(self.loss - self.baseline_loss), initial=0.0))
        err = float(np.max(np.abs(self.delta), initial=0.0))
        return err / scale if scale > 0 else err


def images_tensor(data, rows: np.ndarray) -> torch.Tensor:
    """Normalised float images (len(rows), 3, S, S) of image rows ``rows`` of ``data``."""
    from ..pretrain.augment import Normalise

    if data.cache is not None:
        u8 = torch.from_numpy(data.cache[rows])
    else:
        ds = data.dataset()
        u8 = torch.stack([ds[int(i)][0] for i in rows]) if len(rows) else \
            torch.zeros(0, 3, data.image_size, data.image_size, dtype=torch.uint8)
    return Normalise()(u8)


@torch.no_grad()
def image_projections(model, images: torch.Tensor, *, modality: str,
                      batch_size: int = 256) -> torch.Tensor:
    """Image projections (n, D) through the backbone and the head of ``modality``."""
    enc = model.image_encoder
    out = [enc.heads[modality](enc.backbone(images[i:i + batch_size]))
           for i in range(0, len(images), batch_size)]
    return torch.cat(out) if out else torch.zeros(0, 1)


def choose_rows(data, *, modality: str, rng: np.random.Generator, people: np.ndarray | None,
                max_images: int | None, reference_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Image rows to explain and the reference batch's image rows (one image per person).

    Only images of people with ``modality``; ``people`` (bool (N,)) restricts the explained
    ones. The reference batch is drawn from everyone with the modality.
    """
    present = data.modalities[modality].present
    ind = data.image_individual
    pool = np.flatnonzero(present[ind])
    if len(pool) < 3:
        raise InputError(f"modality {modality}: only {len(pool)} images of people with it; "
                         "at least 3 are needed")
    explain = pool if people is None else pool[people[ind[pool]]]
    if max_images is not None and len(explain) > max_images:
        explain = np.sort(rng.choice(explain, size=max_images, replace=False))
    # reference: one random image of each of up to reference_size people
    perm = rng.permutation(pool)
    _, first = np.unique(ind[perm], return_index=True)
    ref = perm[np.sort(first)][:reference_size]
    return explain, ref


def explain_genetics(*, cohort, reference_size: int = 64, steps: int = 50,
                     baseline: str = "mean", noise_tunnel: bool = False, nt_samples: int = 8,
                     nt_stdev: float = 0.1, max_images: int | None = None,
                     people: np.ndarray | None = None, seed: int = 42,
                     chunk: int = 64) -> dict[str, GeneticAttributions]:
    """Integrated gradients of every modality of ``cohort`` (:class:`ExplainCohort`).

    Args:
        reference_size: people in the reference batch (the negatives).
        steps: integration steps (Gauss-Legendre).
        baseline: ``mean`` (mean input of the people with the modality) or ``zero``.
        noise_tunnel, nt_samples, nt_stdev: SmoothGrad over IG; the noise SD is ``nt_stdev``
            times the SD of the modality's inputs.
        max_images: explain at most this many images (a seeded random subset).
        people: bool (N,) over ``cohort.data.iid``: explain only these people.
    Returns: modality -> :class:`GeneticAttributions`.
    """
    if baseline not in BASELINES:
        raise InputError(f"--baseline must be one of {list(BASELINES)}, got {baseline!r}")
    if reference_size < 1:
        raise InputError(f"--reference-size must be positive, got {reference_size}")
    model, data = cohort.model, cohort.data
    model.eval()
    out: dict[str, GeneticAttributions] = {}
    for m in cohort.modalities:
        rng = np.random.default_rng([seed, len(out)])
        rows, ref = choose_rows(data, modality=m, rng=rng, people=people, max_images=max_images,
                                reference_size=reference_size)
        mod = data.modalities[m]
        ind = data.image_individual
        x_all = torch.from_numpy(mod.features.astype(np.float32))
        base_vec = (x_all[torch.from_numpy(mod.present)].mean(0) if baseline == "mean"
                    else torch.zeros(x_all.shape[1]))
        enc = model.genetic_encoders[m]
        with torch.no_grad():
            ref_img = image_projections(model, images_tensor(data, ref), modality=m)
            ref_gen = enc(x_all[torch.from_numpy(ind[ref])])
        objective = ContrastiveObjective(enc, ref_image=ref_img, ref_genetic=ref_gen,
                                         temperature=cohort.temperature, alpha=cohort.alpha)
        sd = float(x_all[torch.from_numpy(mod.present)].std()) or 1.0
        attrs, deltas, f_x, f_b = [], [], [], []
        for s in range(0, len(rows), chunk):
            r = rows[s:s + chunk]
            x = x_all[torch.from_numpy(ind[r])]
            z = image_projections(model, images_tensor(data, r), modality=m)
            allowed = torch.from_numpy(ind[r][:, None] != ind[ref][None, :])
            b = base_vec.expand_as(x).contiguous()
            a, d = integrated_gradients(objective, inputs=x, baselines=b, args=(z, allowed),
                                        steps=steps, noise_tunnel=noise_tunnel,
                                        nt_samples=nt_samples, nt_stdev=nt_stdev * sd,
                                        internal_batch_size=max(chunk * 8, 256))
            with torch.no_grad():
                f_x.append(objective(x, z, allowed))
                f_b.append(objective(b, z, allowed))
            attrs.append(a)
            deltas.append(d)
        attr = torch.cat(attrs).numpy().astype(np.float64)
        people_rows = ind[rows]
        uniq, inv = np.unique(people_rows, return_inverse=True)
        counts = np.bincount(inv).astype(np.float64)
        local = np.zeros((len(uniq), attr.shape[1]))
        np.add.at(local, inv, attr)
        local /= counts[:, None]
        loss = np.bincount(inv, torch.cat(f_x).numpy()) / counts
        bloss = np.bincount(inv, torch.cat(f_b).numpy()) / counts
        out[m] = GeneticAttributions(
            modality=m, features=list(mod.columns), iid=data.iid[uniq],
            local=local.astype(np.float32), importance=np.abs(local).mean(axis=0),
            mean_attribution=local.mean(axis=0), loss=loss, baseline_loss=bloss,
            delta=torch.cat(deltas).numpy(), reference_iid=data.iid[ind[ref]],
            settings={"steps": steps, "baseline": baseline, "noise_tunnel": noise_tunnel,
                      "nt_samples": nt_samples if noise_tunnel else 0,
                      "nt_stdev": nt_stdev if noise_tunnel else 0.0,
                      "temperature": cohort.temperature, "alpha": cohort.alpha,
                      "reference_size": len(ref), "n_images": len(rows),
                      "n_people": len(uniq), "seed": seed})
    return out
