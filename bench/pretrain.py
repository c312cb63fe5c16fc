"""Benchmark of contig-pretrain's training step: data waiting share and images/s per core.

Trains ContIG for a few steps on a cohort (a simulated one by default, written once into
--work) and prints the share of step time spent waiting for the next batch (target < 10 %) and
the throughput in images per second per torch thread.

    .venv/bin/python bench/pretrain.py [--cohort DIR] [--backbone resnet18] [--image-size 64]
        [--steps 20] [--batch-size 64] [--workers 0] [--threads 1]
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cohort", help="cohort directory (default: simulate 400 individuals)")
    ap.add_argument("--work", default="/tmp/contig_bench_pretrain")
    ap.add_argument("--backbone", default="resnet18")
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-cache", action="store_true", help="decode images in the loader")
    ap.add_argument("--hidden-dim", type=int, default=2048)
    ap.add_argument("--snp-stride", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()

    import torch

    from contig_gwas.pretrain.augment import build_augmentation
    from contig_gwas.pretrain.data import load_pretrain_data, make_loader
    from contig_gwas.pretrain.losses import ContIGLoss
    from contig_gwas.pretrain.models import ContIGModel, ModelSpec
    from contig_gwas.pretrain.train import make_optimizer

    torch.set_num_threads(a.threads)
    cohort = Path(a.cohort) if a.cohort else Path(a.work) / "cohort"
    if not (cohort / "manifest.tsv").exists():
        from contig_gwas.simulate import simulate_cohort

        simulate_cohort(out_dir=cohort, seed=1, n_individuals=400, n_snps=3000,
                        n_chromosomes=3, image_size=a.image_size, progress=False)
    data = load_pretrain_data(manifest=str(cohort / "manifest.tsv"),
                              modalities=["raw", "pgs", "burden"],
                              bfile=str(cohort / "genotypes"), pgs=str(cohort / "pgs.tsv"),
                              burden=str(cohort / "burden.tsv"), aggregate="outer",
                              snp_stride=a.snp_stride,
                              image_size=a.image_size,
                              cache_limit_bytes=0 if a.no_cache else 2 << 30)
    dev = torch.device(a.device)
    spec = ModelSpec(backbone=a.backbone, method="contig",
                     modalities={m: d.features.shape[1] for m, d in data.modalities.items()},
                     hidden=a.hidden_dim)
    model = ContIGModel(spec).to(dev).train()
    opt = make_optimizer(model, lr=1e-3, weight_decay=1e-6)
    aug = build_augmentation(("rotate", "flip"), image_size=a.image_size).to(dev)
    loss_fn = ContIGLoss()
    train = data.images_of("train")
    wait = step = 0.0
    n_img = done = 0
    epoch = 0
    t_start = None
    while done < a.steps + 2:
        epoch += 1
        loader = make_loader(data, train, batch_size=a.batch_size, shuffle=True, seed=1,
                             epoch=epoch, workers=a.workers, drop_last=True)
        it = iter(loader)
        while done < a.steps + 2:
            t0 = time.perf_counter()
            try:
                images, idx, _ = next(it)
            except StopIteration:
                break
            t1 = time.perf_counter()
            ind = torch.from_numpy(data.image_individual[idx.numpy()])
            g, m = data.genetics(ind, device=dev)
            out = model(aug(images.to(dev)), g, m)
            loss, _ = loss_fn(out, m, ind.to(dev))
            opt.zero_grad()
            loss.backward()
            opt.step()
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t2 = time.perf_counter()
            done += 1
            if done > 2:                     # the first two steps warm up
                t_start = t_start or t0
                wait += t1 - t0
                step += t2 - t0
                n_img += len(idx)
    print(f"backbone {a.backbone}, {a.image_size}px, batch {a.batch_size}, {a.steps} steps, "
          f"genetic MLP width {a.hidden_dim}, {a.workers} workers, {a.threads} threads, "
          f"cache {'off' if a.no_cache else 'on'}, device {a.device}")
    print(f"data wait share of step time: {100 * wait / step:.1f}% (target < 10%)")
    print(f"throughput: {n_img / step:.1f} images/s, {n_img / step / a.threads:.1f} images/s "
          f"per core; {step / a.steps * 1000:.0f} ms/step; loss {float(loss.detach()):.3f} "
          f"(log B = {math.log(a.batch_size):.3f})")


if __name__ == "__main__":
    main()
