"""The training loop of ContIG and its image-only baselines (SimCLR, BYOL, SimSiam, Barlow
Twins, NNCLR).

Adam (lr 1e-3, weight decay 1e-6) with a per-step cosine schedule, gradient accumulation,
bfloat16 autocast on CUDA (``amp``), a validation loss every ``val_every`` epochs printed beside
the loss of random embeddings (log(batch size) for ContIG, with each modality's term when there
are several, whose mean it is; :func:`~.losses.unrelated_views_loss` for the baselines, with
the spread of the validation projections, 0 when they have collapsed), and a checkpoint after
every epoch. BYOL's target network moves towards the online one after every optimiser step
(momentum :func:`~.models.target_momentum`); NNCLR's support set receives each training batch's
view-1 projections after its loss.

Determinism and resumption: the data order of epoch ``e`` comes from ``(seed, e)`` and torch's
generator (augmentations, initialisation aside) is reseeded from ``(seed, e)`` at the start of
each epoch, so a run resumed from the checkpoint of epoch ``e`` repeats the uninterrupted run
exactly (CPU). Data are loaded by a DataLoader (worker processes with ``workers > 0``); images
arrive as uint8 and are augmented on the training device.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..runlog import NullLog, RunLog
from .augment import build_augmentation
from .checkpoint import load_state, save_state
from .data import PretrainData, make_loader
from .losses import (
    UNRELATED_VIEWS,
    BarlowTwinsLoss,
    BYOLLoss,
    ContIGLoss,
    NNCLRLoss,
    SimCLRLoss,
    SimSiamLoss,
    unrelated_views_loss,
)
from .methods import IMAGE_ONLY
from .models import ContIGModel, SupportQueue, target_momentum


@dataclass
class TrainConfig:
    """Settings of :func:`fit` (defaults as the authors' code, except the epoch count)."""

    method: str = "contig"
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-6
    temperature: float = 0.1
    alpha: float = 0.75
    seed: int = 42
    accumulate: int = 1
    amp: bool = False
    val_every: int = 1
    workers: int = 0
    augment: tuple[str, ...] = ("rotate", "flip")
    device: str = "cpu"
    progress: bool = True
    momentum: float = 0.99          # byol: target momentum at the first step (-> 1, cosine)
    barlow_lambda: float = 5e-3     # barlowtwins: weight of the off-diagonal terms


@dataclass
class EpochRecord:
    """One line of ``history.tsv``."""

    epoch: int
    train_loss: float
    val_loss: float
    random_loss: float        # the loss of random embeddings: log(B) (ContIG), log(2B-1) (SimCLR)
    lr: float
    seconds: float
    images: int
    data_wait_s: float
    embedding_std: float = math.nan   # image-only methods: spread of the validation projections


@dataclass
class TrainResult:
    history: list[EpochRecord] = field(default_factory=list)
    best_epoch: int = 0
    best_val_loss: float = math.inf
    resumed_from: int = 0


def epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def make_loss(cfg: TrainConfig) -> torch.nn.Module:
    """The loss module of ``cfg.method``."""
    if cfg.method == "simclr":
        return SimCLRLoss(temperature=cfg.temperature)
    if cfg.method == "byol":
        return BYOLLoss()
    if cfg.method == "simsiam":
        return SimSiamLoss()
    if cfg.method == "barlowtwins":
        return BarlowTwinsLoss(lambd=cfg.barlow_lambda)
    if cfg.method == "nnclr":
        return NNCLRLoss(temperature=cfg.temperature)
    return ContIGLoss(temperature=cfg.temperature, alpha=cfg.alpha)


def two_view_loss(model: ContIGModel, x1: torch.Tensor, x2: torch.Tensor, *, method: str,
                  loss_fn: torch.nn.Module, update_queue: bool = False
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss of an image-only method on two views (B, 3, H, W) of a batch, and the online
    projections of view 1. With ``update_queue`` (training), NNCLR's support set then receives
    those projections."""
    z1, z2 = model.online(x1), model.online(x2)
    if method in ("simclr", "barlowtwins"):
        return loss_fn(z1, z2), z1
    predictor = model.ssl["predictor"]
    p1, p2 = predictor(z1), predictor(z2)
    if method == "simsiam":
        return loss_fn(p1, p2, z1, z2), z1
    if method == "byol":
        with torch.no_grad():
            target = model.ssl["target"]
            t1, t2 = target(x1), target(x2)
        return loss_fn(p1, p2, t1, t2), z1
    queue = model.ssl["queue"]
    assert isinstance(queue, SupportQueue)
    loss = loss_fn(z1, z2, p1, p2, queue.support())
    if update_queue:
        queue.push(z1)
    return loss, z1


def _step_loss(model: ContIGModel, batch, *, data: PretrainData, aug, cfg: TrainConfig,
               loss_fn: torch.nn.Module, device, terms: dict[str, list[float]] | None = None,
               views: list[torch.Tensor] | None = None, train: bool = True) -> torch.Tensor:
    """The batch's loss; with ``terms``, each modality's ContIG term is appended to it; with
    ``views``, an image-only method's view-1 projections."""
    images, idx, _ = batch
    images = images.to(device, non_blocking=True)
    ind = torch.from_numpy(data.image_individual[idx.numpy()])
    with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16,
                        enabled=cfg.amp and torch.device(device).type == "cuda"):
        if cfg.method in IMAGE_ONLY:
            x1 = aug(images)
            x2 = aug(images)
            loss, z1 = two_view_loss(model, x1, x2, method=cfg.method, loss_fn=loss_fn,
                                     update_queue=train)
            if views is not None:
                views.append(z1.detach().float())
            return loss
        genetics, masks = data.genetics(ind, device=device)
        out = model(aug(images), genetics, masks)
        loss, parts = loss_fn(out, masks, ind.to(device))
        if terms is not None:
            for m, v in parts.items():
                terms.setdefault(m, []).append(float(v.detach()))
        return loss


def embedding_spread(z: torch.Tensor) -> float:
    """sqrt(D) times the mean over dimensions of the standard deviation over rows of the
    L2-normalised rows of ``z`` (N, D): 0 for collapsed embeddings (every row alike), about 1
    for rows spread evenly over the sphere (SimSiam's collapse monitor, scaled by sqrt(D))."""
    if z.shape[0] < 2:
        return math.nan
    zn = torch.nn.functional.normalize(z.float(), dim=1)
    return float(zn.std(dim=0).mean()) * math.sqrt(z.shape[1])


def evaluate(model: ContIGModel, *, data: PretrainData, cfg: TrainConfig, aug, epoch: int,
             terms: dict[str, float] | None = None,
             stats: dict[str, float] | None = None) -> tuple[float, float]:
    """Mean validation loss over full batches (eval mode) and the loss of random embeddings
    for that batch size (:func:`~.losses.unrelated_views_loss`). With ``terms`` (ContIG),
    each modality's mean validation term is stored in it (the loss is their mean); with
    ``stats`` (image-only methods), ``embedding_std`` (:func:`embedding_spread` of the view-1
    projections). NNCLR's support set is read, not updated."""
    device = torch.device(cfg.device)
    val = data.images_of("val")
    if len(val) < 2:
        return math.nan, math.nan
    bs = min(cfg.batch_size, len(val))
    loader = make_loader(data, val, batch_size=bs, shuffle=False, seed=cfg.seed, epoch=epoch,
                         workers=cfg.workers, drop_last=True)
    loss_fn = make_loss(cfg)
    model.eval()
    total, n = 0.0, 0
    parts: dict[str, list[float]] = {}
    views: list[torch.Tensor] = []
    torch.manual_seed(epoch_seed(cfg.seed, 0))    # same validation views every epoch
    with torch.no_grad():
        for batch in loader:
            loss = _step_loss(model, batch, data=data, aug=aug, cfg=cfg, loss_fn=loss_fn,
                              device=device, terms=parts, views=views, train=False)
            total += float(loss.detach())
            n += 1
    model.train()
    if terms is not None:
        terms.update({m: float(np.mean(v)) for m, v in parts.items()})
    if stats is not None and views:
        stats["embedding_std"] = embedding_spread(torch.cat(views))
    ref = unrelated_views_loss(cfg.method, batch_size=bs, dim=model.spec.proj_dim,
                               lambd=cfg.barlow_lambda)
    return total / max(n, 1), ref


def fit(*, model: ContIGModel, data: PretrainData, cfg: TrainConfig, out_dir: str | Path,
        log: RunLog | None = None, resume: bool = False,
        on_epoch_end: Callable[[EpochRecord], None] | None = None) -> TrainResult:
    """Train ``model`` on ``data``; checkpoints go to ``out_dir`` (see checkpoint.py)."""
    from tqdm.auto import tqdm

    log = log or NullLog()
    out = Path(out_dir)
    device = torch.device(cfg.device)
    model.to(device)
    result = TrainResult()
    if cfg.method == "none":
        save_state(out / "model.pt", model.state_dict())
        write_history(out / "history.tsv", [])
        log.info("method none: random-init encoder saved without training")
        return result
    train_idx = data.images_of("train")
    steps_per_epoch = max(1, (len(train_idx) // cfg.batch_size) // cfg.accumulate)
    opt = make_optimizer(model, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps_per_epoch * cfg.epochs)
    total_steps = steps_per_epoch * cfg.epochs
    aug = build_augmentation(cfg.augment, image_size=data.image_size).to(device)
    plain = build_augmentation((), image_size=data.image_size).to(device)
    loss_fn = make_loss(cfg)
    two_views = cfg.method in IMAGE_ONLY
    start = 1
    if resume and (out / "last.pt").exists():
        state = load_state(out / "last.pt", device=device)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        start = int(state["epoch"]) + 1
        result.history = [EpochRecord(**r) for r in state["history"]]
        result.best_epoch, result.best_val_loss = int(state["best_epoch"]), float(state["best_val"])
        result.resumed_from = start - 1
        log.info(f"resumed after epoch {start - 1} of {cfg.epochs}")
    elif resume:
        log.warning(f"--resume: no {out / 'last.pt'}; training from the start")
    if start == 1:
        model.sync_target()      # BYOL: the target starts as the online network
    for epoch in range(start, cfg.epochs + 1):
        torch.manual_seed(epoch_seed(cfg.seed, epoch))
        loader = make_loader(data, train_idx, batch_size=cfg.batch_size, shuffle=True,
                             seed=cfg.seed, epoch=epoch, workers=cfg.workers, drop_last=True)
        model.train()
        t0 = time.perf_counter()
        wait, losses, n_img = 0.0, [], 0
        bar = tqdm(total=len(loader), desc=f"epoch {epoch}/{cfg.epochs}", leave=False,
                   disable=not cfg.progress)
        it = iter(loader)
        for i in range(len(loader)):
            tw = time.perf_counter()
            batch = next(it)
            wait += time.perf_counter() - tw
            loss = _step_loss(model, batch, data=data, aug=aug, cfg=cfg, loss_fn=loss_fn,
                              device=device)
            (loss / cfg.accumulate).backward()
            if (i + 1) % cfg.accumulate == 0:
                opt.step()
                opt.zero_grad(set_to_none=True)
                if sched.last_epoch < sched.T_max:
                    sched.step()
                step = (epoch - 1) * steps_per_epoch + (i + 1) // cfg.accumulate - 1
                model.update_target(target_momentum(step, total_steps, base=cfg.momentum))
            losses.append(float(loss.detach()))
            n_img += len(batch[1])
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
        bar.close()
        opt.zero_grad(set_to_none=True)
        val_loss, logb = math.nan, math.nan
        val_terms: dict[str, float] = {}
        val_stats: dict[str, float] = {}
        if cfg.val_every > 0 and (epoch % cfg.val_every == 0 or epoch == cfg.epochs):
            # the image-only methods need two different views; ContIG is validated on
            # un-augmented images
            val_loss, logb = evaluate(model, data=data, cfg=cfg, epoch=epoch,
                                      aug=aug if two_views else plain,
                                      terms=val_terms, stats=val_stats)
        rec = EpochRecord(epoch=epoch, train_loss=float(np.mean(losses)) if losses else math.nan,
                          val_loss=val_loss, random_loss=logb, lr=opt.param_groups[0]["lr"],
                          seconds=time.perf_counter() - t0, images=n_img, data_wait_s=wait,
                          embedding_std=val_stats.get("embedding_std", math.nan))
        result.history.append(rec)
        ref = UNRELATED_VIEWS[cfg.method]
        per = (" (" + ", ".join(f"{m} {v:.4f}" for m, v in val_terms.items()) + ")"
               if len(val_terms) > 1 else "")
        spread = (f", embedding std {rec.embedding_std:.3f} (0 = collapsed)"
                  if two_views and not math.isnan(rec.embedding_std) else "")
        log.info(f"epoch {epoch}/{cfg.epochs}: train loss {rec.train_loss:.4f}, validation loss "
                 f"{val_loss:.4f}{per} vs {ref} {logb:.4f} (random embeddings){spread}; "
                 f"{rec.seconds:.1f} s, {n_img / max(rec.seconds, 1e-9):.1f} images/s, "
                 f"data wait {100 * wait / max(rec.seconds, 1e-9):.1f}%")
        if not math.isnan(val_loss) and val_loss < result.best_val_loss:
            result.best_epoch, result.best_val_loss = epoch, val_loss
            save_state(out / "best.pt", model.state_dict())
        save_state(out / "model.pt", model.state_dict())
        write_history(out / "history.tsv", result.history)
        save_state(out / "last.pt", {
            "model": model.state_dict(), "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(), "epoch": epoch,
            "history": [asdict(r) for r in result.history],
            "best_epoch": result.best_epoch, "best_val": result.best_val_loss})
        if on_epoch_end is not None:
            on_epoch_end(rec)
    return result


def make_optimizer(model: torch.nn.Module, *, lr: float, weight_decay: float
                   ) -> torch.optim.Optimizer:
    """Adam (L2 weight decay as the authors' code) over the parameters that take gradients
    (not BYOL's target network); the fused kernel where torch has one (on CPU about 10x
    faster than the per-parameter loop for the wide genetic MLPs)."""
    params = [p for p in model.parameters() if p.requires_grad]
    try:
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def write_history(path: Path, history: list[EpochRecord]) -> None:
    from ..outputs import atomic_path

    cols = list(EpochRecord.__dataclass_fields__)
    lines = ["\t".join(cols)]
    for r in history:
        lines.append("\t".join(f"{v:.6g}" if isinstance(v, float) else str(v)
                               for v in asdict(r).values()))
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
