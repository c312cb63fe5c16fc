"""Full fine-tuning of an image backbone with a linear head (few epochs, CPU-friendly).

A copy of the encoder's backbone gets a ``Linear(d, out)`` head; everything trains with Adam
(one learning rate, cosine schedule over the steps) on augmented training images (rotation and
horizontal flip by default, ImageNet normalisation, as ContIG's fine-tuning). ``class``: cross-
entropy over the training classes; ``grade`` and ``continuous``: mean squared error of the
standardised target. Each image of a person is a sample carrying the person's label; test
predictions are per image (the caller averages a person's images).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:
    from ..pretrain.models import ResNet


@dataclass
class FinetuneConfig:
    """Settings of :func:`finetune`."""

    epochs: int = 10
    batch_size: int = 32
    lr: float = 3e-4
    weight_decay: float = 1e-4
    augment: tuple[str, ...] = ("rotate", "flip")
    device: str = "cpu"


def _batch(dataset, rows: np.ndarray) -> torch.Tensor:
    return torch.stack([dataset[int(i)][0] for i in rows])


def finetune(*, backbone: ResNet, dataset, image_size: int, train_rows: np.ndarray,
             y_train: np.ndarray, test_rows: np.ndarray, kind: str, cfg: FinetuneConfig,
             seed: int = 0) -> np.ndarray:
    """Fine-tune a copy of ``backbone`` (a :class:`~contig_gwas.pretrain.models.ResNet`).

    Args:
        dataset: an :class:`~contig_gwas.pretrain.images.ImageDataset` (uint8 images by index).
        train_rows, test_rows: image indices into ``dataset``; y_train: (len(train_rows),)
            labels of the training images.
        kind: class | grade | continuous.
    Returns: test scores per image: class probabilities (m, C) in sorted-class order, else the
        predicted values (m,) on the label's scale.
    """
    from ..pretrain.augment import Normalise, build_augmentation

    device = torch.device(cfg.device)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    y_train = np.asarray(y_train)
    loss_fn: nn.Module
    if kind == "class":
        classes = np.unique(y_train)
        target = torch.from_numpy(np.searchsorted(classes, y_train)).long()
        out_dim, loss_fn = len(classes), nn.CrossEntropyLoss()
        mu, sd = 0.0, 1.0
    else:
        yf = y_train.astype(np.float64)
        mu, sd = float(yf.mean()), float(yf.std()) or 1.0
        target = torch.from_numpy((yf - mu) / sd).float()
        out_dim, loss_fn = 1, nn.MSELoss()
    net = nn.Sequential(copy.deepcopy(backbone), nn.Linear(backbone.out_dim, out_dim)).to(device)
    for p in net.parameters():
        p.requires_grad_(True)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    bs = max(2, min(cfg.batch_size, len(train_rows)))
    steps = max(1, cfg.epochs * (len(train_rows) // bs))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    aug = build_augmentation(cfg.augment, image_size=image_size).to(device)
    norm = Normalise().to(device)
    for _ in range(cfg.epochs):
        net.train()
        order = rng.permutation(len(train_rows))
        for s in range(0, len(order) - bs + 1, bs):     # full batches (BatchNorm needs > 1)
            idx = order[s:s + bs]
            x = aug(_batch(dataset, train_rows[idx]).to(device))
            out = net(x)
            t = target[idx].to(device)
            loss = loss_fn(out, t) if kind == "class" else loss_fn(out[:, 0], t)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched.last_epoch < steps:
                sched.step()
    net.eval()
    preds = []
    with torch.no_grad():
        for s in range(0, len(test_rows), 256):
            out = net(norm(_batch(dataset, test_rows[s:s + 256]).to(device))).float().cpu()
            preds.append(torch.softmax(out, 1) if kind == "class" else out[:, 0] * sd + mu)
    if not preds:
        return np.zeros((0, out_dim) if kind == "class" else (0,))
    return torch.cat(preds).numpy()
