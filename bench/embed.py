"""Benchmark of contig-embed's feature extraction against a bare forward pass.

Times ``extract_features`` (decoding PNGs in a DataLoader, normalising, forward, copying out)
on a cohort's images, and a bare ``backbone(x)`` on random tensors of the same shape and batch
size, with the same model and threads; prints images/s of both and the ratio (target >= 90 %).

    .venv/bin/python bench/embed.py [--cohort DIR] [--backbone resnet18] [--image-size 64]
        [--n-images 512] [--batch-size 64] [--workers 1] [--threads 1]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cohort", help="cohort directory (default: simulate 400 individuals)")
    ap.add_argument("--work", default="/tmp/contig_bench_pretrain")
    ap.add_argument("--backbone", default="resnet18")
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--n-images", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()

    import torch

    from contig_gwas.embed.features import extract_features
    from contig_gwas.io.manifest import read_manifest
    from contig_gwas.pretrain.models import ImageEncoder

    torch.set_num_threads(a.threads)
    cohort = Path(a.cohort) if a.cohort else Path(a.work) / "cohort"
    if not (cohort / "manifest.tsv").exists():
        from contig_gwas.simulate import simulate_cohort

        simulate_cohort(out_dir=cohort, seed=1, n_individuals=400, n_snps=3000,
                        n_chromosomes=3, image_size=a.image_size, progress=False)
    paths = read_manifest(cohort / "manifest.tsv")["path"].tolist()
    paths = (paths * (a.n_images // len(paths) + 1))[:a.n_images]
    enc = ImageEncoder(a.backbone).to(a.device).eval()
    x = torch.randn(a.batch_size, 3, a.image_size, a.image_size, device=a.device)

    def bare() -> float:
        t = time.perf_counter()
        with torch.inference_mode():
            for i in range(0, len(paths), a.batch_size):
                n = min(a.batch_size, len(paths) - i)
                enc.features(x[:n]).cpu()
        if a.device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - t

    def ours() -> float:
        t = time.perf_counter()
        extract_features(encoder=enc, paths=paths, image_size=a.image_size,
                         batch_size=a.batch_size, device=a.device, workers=a.workers)
        return time.perf_counter() - t

    bare()
    ours()                         # warm-up
    tb, to = [], []
    for _ in range(a.repeats):     # interleaved, best of each (the machine is shared)
        tb.append(bare())
        to.append(ours())
    rb, ro = len(paths) / min(tb), len(paths) / min(to)
    print(f"backbone {a.backbone}, {a.image_size}px, {len(paths)} images, batch {a.batch_size}, "
          f"{a.workers} loader workers, {a.threads} threads, device {a.device}")
    print(f"bare forward: {rb:.1f} images/s; contig-embed extraction: {ro:.1f} images/s; "
          f"ratio {100 * ro / rb:.1f}% (target >= 90%)")


if __name__ == "__main__":
    main()
