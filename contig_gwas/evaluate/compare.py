"""Several encoders on one downstream task: linear probe and fine-tuning, several seeded splits
by person, metrics with mean and SD; a table and a figure.

Every encoder sees the same splits (seed s gives the same test people for all), so differences
between encoders are paired. Checkpoints are anything
:func:`contig_gwas.pretrain.checkpoint.load_encoder` reads: contig-pretrain directories
(ContIG, SimCLR, random init ``none``), one of their ``.pt`` files, or a bare local weights file
(a torchvision-format ResNet state dict).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from ..errors import InputError
from ..runlog import NullLog, RunLog
from .finetune import FinetuneConfig, finetune
from .metrics import PRIMARY, compute_metrics
from .probe import linear_probe, round_to_levels
from .task import TaskData, split_people

MODES = ("probe", "finetune")


@dataclass
class Comparison:
    """Result of :func:`compare`.

    Attributes:
        results: one row per model, mode, seed and metric: ``model checkpoint mode seed metric
            value n_train n_test``.
        summary: ``model mode metric mean sd n_seeds`` (SD over seeds, ddof 1).
        splits: ``IID label split_<seed>...`` (train/test).
        kind, label, primary: the task's kind, label column and headline metric.
    """

    results: pd.DataFrame
    summary: pd.DataFrame
    splits: pd.DataFrame
    kind: str
    label: str
    primary: str
    models: list[str] = field(default_factory=list)

    def ranking(self, mode: str) -> pd.DataFrame:
        """Models by mean primary metric for ``mode``, best first."""
        s = self.summary[(self.summary["mode"] == mode) & (self.summary.metric == self.primary)]
        return s.sort_values("mean", ascending=False).reset_index(drop=True)


def default_names(paths: Sequence[str | os.PathLike]) -> list[str]:
    """Names from the paths (directory name, or file stem), made unique."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for p in paths:
        p = Path(p)
        base = p.name if p.is_dir() else p.stem
        if p.is_file() and p.stem in ("model", "best", "last"):
            base = f"{p.parent.name}/{p.stem}"
        k = seen.get(base, 0)
        seen[base] = k + 1
        names.append(base if k == 0 else f"{base}_{k + 1}")
    return names


def _person_mean(values: np.ndarray, person: np.ndarray, n: int) -> np.ndarray:
    """Mean of ``values`` rows per person index (n, ...)."""
    out = np.zeros((n,) + values.shape[1:])
    np.add.at(out, person, values)
    cnt = np.bincount(person, minlength=n).astype(float)
    return out / np.maximum(cnt, 1).reshape((-1,) + (1,) * (values.ndim - 1))


@torch.no_grad()
def _features(encoder, dataset, *, batch_size: int, device: str) -> np.ndarray:
    from ..embed.features import embed_batch

    out = []
    for s in range(0, len(dataset), batch_size):
        batch = torch.stack([dataset[i][0] for i in range(s, min(s + batch_size, len(dataset)))])
        out.append(embed_batch(encoder, batch.to(device)).cpu().numpy())
    return np.concatenate(out)


def _predict_labels(kind: str, scores: np.ndarray, classes: np.ndarray | None) -> np.ndarray:
    if kind in ("class", "grade"):
        assert classes is not None  # class and grade predictions come with their levels
        if kind == "class":
            return classes[np.asarray(scores).argmax(1)]
        return round_to_levels(scores, classes).astype(np.int64)
    return scores


def compare(*, checkpoints: Sequence[str | os.PathLike], task: TaskData,
            names: Sequence[str] | None = None, modes: Sequence[str] = ("probe",),
            seeds: int = 3, test_fraction: float = 0.3, image_size: int | None = None,
            finetune_cfg: FinetuneConfig | None = None, batch_size: int = 64,
            device: str = "cpu", max_bad_fraction: float = 0.01,
            log: RunLog | None = None) -> Comparison:
    """Evaluate every checkpoint on ``task`` (see the module docstring).

    ``image_size``: images are resized to it for every encoder; default each checkpoint's
    training size (224 for a bare weights file with no size known).
    """
    from ..pretrain.checkpoint import load_encoder
    from ..pretrain.images import ImageDataset, check_images

    log = log or NullLog()
    bad_modes = [m for m in modes if m not in MODES]
    if bad_modes or not modes:
        raise InputError(f"--mode: unknown {bad_modes or modes}; choose from {list(MODES)}")
    if seeds < 1:
        raise InputError(f"--seeds must be positive, got {seeds}")
    names = list(names) if names else default_names(checkpoints)
    if len(names) != len(checkpoints):
        raise InputError(f"--name: {len(names)} names for {len(checkpoints)} checkpoints")
    if len(set(names)) != len(names):
        raise InputError(f"--name: names must be unique, got {names}")
    ft = finetune_cfg or FinetuneConfig(device=device)
    kind, n = task.kind, len(task.iid)
    tests = [split_people(y=task.y, kind=kind, seed=s, test_fraction=test_fraction)
             for s in range(seeds)]
    rows, datasets, ok = [], {}, None
    for name, ck in zip(names, checkpoints):
        loaded = load_encoder(ck, device=device)
        size = int(image_size or loaded.image_size or 224)
        log.info(f"{name}: {loaded.name} from {loaded.weights} (sha256 {loaded.sha256[:12]}), "
                 f"images at {size} px")
        if size not in datasets:
            chk = check_images(task.image_paths, size=size, max_bad_fraction=max_bad_fraction,
                               cache=len(task.image_paths) * 3 * size * size <= 2 << 30,
                               source=task.manifest or "manifest")
            ok = chk.ok if ok is None else ok & chk.ok
            for msg in chk.bad[:10]:
                log.warning(f"skipped image: {msg}")
            datasets[size] = ImageDataset(task.image_paths, size=size, cache=chk.cache)
        ds = datasets[size]
        assert ok is not None  # set with the first dataset
        good = np.flatnonzero(ok)
        person = task.image_person[good]
        has_image = np.bincount(person, minlength=n) > 0
        feats = None
        for seed, test in enumerate(tests):
            test_p, train_p = test & has_image, ~test & has_image
            for mode in modes:
                if mode == "probe":
                    if feats is None:
                        sub = torch.utils.data.Subset(ds, good.tolist())
                        feats = _person_mean(_features(loaded.encoder, sub, batch_size=batch_size,
                                                       device=device), person, n)
                    p = linear_probe(x_train=feats[train_p], y_train=task.y[train_p],
                                     x_test=feats[test_p], kind=kind, seed=seed)
                    scores, cls = p.scores, p.classes
                else:
                    tr_rows = good[train_p[person]]
                    te_rows = good[test_p[person]]
                    s_img = finetune(backbone=loaded.encoder.backbone, dataset=ds,
                                     image_size=size, train_rows=tr_rows,
                                     y_train=task.y[task.image_person[tr_rows]],
                                     test_rows=te_rows, kind=kind, cfg=ft, seed=seed)
                    per = _person_mean(s_img, task.image_person[te_rows], n)[test_p]
                    scores = per
                    cls = np.unique(task.y[train_p]) if kind != "continuous" else None
                pred = _predict_labels(kind, scores, cls)
                met = compute_metrics(kind=kind, y=task.y[test_p], pred=pred, scores=scores,
                                      classes=cls)
                for k, v in met.items():
                    rows.append({"model": name, "checkpoint": str(ck), "mode": mode,
                                 "seed": seed, "metric": k, "value": v,
                                 "n_train": int(train_p.sum()), "n_test": int(test_p.sum())})
                log.info(f"{name} {mode} seed {seed}: " +
                         ", ".join(f"{k} {v:.4f}" for k, v in met.items()))
    results = pd.DataFrame(rows)
    summary = (results.groupby(["model", "mode", "metric"], sort=False)["value"]
               .agg(mean="mean", sd=lambda v: float(np.std(v, ddof=1)) if len(v) > 1
                    else float("nan"), n_seeds="count").reset_index())
    splits = pd.DataFrame({"IID": task.iid, task.label: task.y})
    for s, test in enumerate(tests):
        splits[f"split_{s}"] = np.where(test, "test", "train")
    return Comparison(results=results, summary=summary, splits=splits, kind=kind,
                      label=task.label, primary=PRIMARY[kind], models=names)


def plot_comparison(*, ax, comparison: Comparison, metric: str | None = None):
    """Mean +- SD of ``metric`` (default the primary) per model, one bar per mode, seeds as
    dots. Takes and returns ``ax``."""
    metric = metric or comparison.primary
    res = comparison.results[comparison.results.metric == metric]
    modes = [m for m in MODES if m in set(res["mode"])]
    models = comparison.models
    width = 0.8 / max(len(modes), 1)
    colours = ("#1f4e79", "#d62728")
    for j, mode in enumerate(modes):
        x = np.arange(len(models)) + (j - (len(modes) - 1) / 2) * width
        vals = [res[(res.model == m) & (res["mode"] == mode)]["value"].to_numpy()
                for m in models]
        means = [np.nanmean(v) if len(v) else np.nan for v in vals]
        sds = [np.nanstd(v, ddof=1) if len(v) > 1 else 0.0 for v in vals]
        ax.bar(x, means, width * 0.9, yerr=sds, color=colours[j % 2], alpha=0.75,
               label=mode, capsize=2)
        for xi, v in zip(x, vals):
            ax.plot(np.full(len(v), xi), v, "o", color="black", ms=2)
    ax.set_xticks(np.arange(len(models)), labels=models, rotation=20, ha="right")
    ax.set_ylabel(metric)
    ax.set_title(f"{comparison.label} ({comparison.kind}): {metric}, mean \u00b1 SD over seeds")
    ax.axhline(0, color="grey", lw=0.5)
    ax.legend(frameon=False)
    return ax
