"""contig-pretrain: ContIG contrastive pretraining of an image encoder against genetics, or one
of the image-only self-supervised baselines (SimCLR, BYOL, SimSiam, Barlow Twins, NNCLR)."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

from ..errors import InputError
from ..pretrain.methods import METHODS
from ._common import TORCH_THREADS, NameList, add_run_options, check_threads, make_parser

#: settings that may change between a run and its --resume
_RESUME_FREE = {"device", "workers", "progress"}


def build_parser() -> argparse.ArgumentParser:
    """The parser of the command line (docs/tools/contig-pretrain.md is generated from it)."""
    p = make_parser("contig-pretrain", __doc__)
    p.add_argument("--manifest", required=True, help="image manifest TSV (IID path [instance])")
    g = p.add_argument_group("genetic modalities")
    geno = g.add_mutually_exclusive_group()
    geno.add_argument("--bfile", metavar="PREFIX", help="PLINK 1 prefix (modality raw)")
    geno.add_argument("--pfile", metavar="PREFIX", help="PLINK 2 prefix (modality raw)")
    geno.add_argument("--bgen", metavar="FILE", help="BGEN file (modality raw)")
    g.add_argument("--sample", metavar="FILE", help=".sample file for --bgen")
    s = g.add_mutually_exclusive_group()
    s.add_argument("--snps", help="file of variant IDs to use as raw features (one per line)")
    s.add_argument("--snp-stride", type=int, help="use every K-th variant (default: a stride "
                   "giving at most 10,000 features)")
    g.add_argument("--pgs", help="polygenic scores, FID IID PGS... (z-scored)")
    g.add_argument("--burden", help="gene burden table, FID IID gene... (0/1)")
    g.add_argument("--modalities", action=NameList, default=None, metavar="NAME",
                   help="raw, pgs and/or burden, space- or comma-separated (default: those whose "
                   "inputs are given)")
    p.add_argument("--method", choices=list(METHODS), default="contig",
                   help="contig; the image-only baselines simclr, byol, simsiam, barlowtwins, "
                   "nnclr; none = random-init encoder saved without training")
    p.add_argument("--aggregate", choices=["inner", "outer"], default="inner",
                   help="inner: individuals with every modality; outer: everyone with an image, "
                   "each modality's loss masked to those who have it")
    m = p.add_argument_group("model")
    m.add_argument("--backbone", choices=["resnet18", "resnet50", "tiny"], default="resnet50",
                   help="tiny = a 4-block ResNet for tests and quick demos")
    m.add_argument("--init-weights", help="initialise the backbone from a local state dict "
                   "(torchvision key names), e.g. ImageNet weights")
    m.add_argument("--hidden-dim", type=int, default=2048, help="genetic MLP width")
    m.add_argument("--genetic-layers", type=int, choices=[1, 2], default=1)
    m.add_argument("--genetic-dropout", default=None, metavar="SPEC",
                   help="dropout of the genetic encoders' inputs and hidden units while "
                   "training: a rate for every modality (0.5) or per modality (raw=0.5,"
                   "burden=0.2; others 0). Against the memorisation of individuals by many "
                   "raw SNPs (default: none)")
    m.add_argument("--proj-dim", type=int, default=None,
                   help="output width of the projection heads (default: 128 for contig and "
                   "simclr, 256 for byol and nnclr, the backbone's width for simsiam and "
                   "barlowtwins: their papers' 2048 for ResNet-50)")
    m.add_argument("--image-size", type=int, default=224, help="images are resized to PX x PX")
    m.add_argument("--augment", default=None, help="comma list of rotate,flip,color,crop or "
                   "'none' (default contig: rotate,flip; the image-only methods: all four)")
    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--weight-decay", type=float, default=1e-6)
    t.add_argument("--temperature", type=float, default=0.1)
    t.add_argument("--alpha", type=float, default=0.75,
                   help="weight of the image->genetics term")
    t.add_argument("--accumulate", type=int, default=1, help="gradient accumulation steps")
    t.add_argument("--amp", action="store_true", help="bfloat16 autocast (CUDA only)")
    t.add_argument("--val-fraction", type=float, default=0.1,
                   help="fraction of individuals held out for the validation loss")
    t.add_argument("--val-every", type=int, default=1, help="validation loss every N epochs")
    t.add_argument("--seed", type=int, default=42)
    t.add_argument("--workers", type=int, default=None,
                   help="data-loading processes (default 0 when the decoded images fit in "
                   "memory, else min(4, CPUs))")
    t.add_argument("--max-bad-images", type=float, default=0.01,
                   help="fraction of missing/undecodable images tolerated (skipped)")
    b = p.add_argument_group("image-only baselines")
    b.add_argument("--momentum", type=float, default=0.99,
                   help="byol: the target network's momentum at the first step, raised to 1 "
                   "on a cosine schedule over the training steps")
    b.add_argument("--barlow-lambda", type=float, default=5e-3,
                   help="barlowtwins: weight of the off-diagonal (redundancy) terms")
    b.add_argument("--queue-size", type=int, default=None, metavar="N",
                   help="nnclr: rows of the support set (default: the paper's share of the "
                   "training images, 98,304 / 1,281,167, at least one batch, at most 98,304)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    add_run_options(p, out="output directory", out_metavar="DIR", device=True,
                    threads=TORCH_THREADS, overwrite="replace an existing checkpoint")
    return p


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def _modalities(args: argparse.Namespace) -> list[str]:
    if args.method != "contig":
        return []
    if args.modalities:
        return list(args.modalities)
    mods = []
    if args.bfile or args.pfile or args.bgen:
        mods.append("raw")
    if args.pgs:
        mods.append("pgs")
    if args.burden:
        mods.append("burden")
    if not mods:
        raise InputError("--method contig needs at least one genetic modality "
                         "(--bfile/--pfile/--bgen, --pgs or --burden)")
    return mods


def parse_dropout(spec: str | None, *, modalities: Sequence[str]) -> dict[str, float]:
    """``--genetic-dropout``: ``"0.5"`` (every modality) or ``"raw=0.5,burden=0.2"``."""
    if spec is None or not spec.strip():
        return {}
    out: dict[str, float] = {}
    try:
        if "=" not in spec:
            out = {m: float(spec) for m in modalities}
        else:
            for item in spec.split(","):
                if item.strip():
                    name, _, value = item.partition("=")
                    out[name.strip()] = float(value)
    except ValueError:
        raise InputError(f"--genetic-dropout {spec!r}: expected a rate (0.5) or "
                         f"modality=rate pairs (raw=0.5,burden=0.2)") from None
    unknown = sorted(set(out) - set(modalities))
    if unknown:
        raise InputError(f"--genetic-dropout names {unknown}, not among the modalities "
                         f"trained ({list(modalities) or 'none'})")
    bad = {m: v for m, v in out.items() if not 0 <= v < 1}
    if bad:
        raise InputError(f"--genetic-dropout rates must be in [0, 1), got {bad}")
    return {m: v for m, v in out.items() if v > 0}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    from ..outputs import refuse_to_overwrite
    from ..pretrain.augment import parse_augmentations
    from ..pretrain.checkpoint import load_backbone_weights, load_config, load_state, save_config
    from ..pretrain.data import load_pretrain_data
    from ..pretrain.methods import IMAGE_ONLY
    from ..pretrain.models import (
        ContIGModel,
        ModelSpec,
        backbone_out_dim,
        default_proj_dim,
        default_queue_size,
    )
    from ..pretrain.train import TrainConfig, fit
    from ..runlog import RunLog

    out = Path(args.out)
    if not args.resume:
        refuse_to_overwrite([out / "model.pt", out / "config.json"], overwrite=args.overwrite)
    check_threads(args.threads, torch=True)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"--device {args.device}: CUDA is not available on this machine")
    for name in ("epochs", "batch_size", "accumulate", "image_size", "val_every"):
        if getattr(args, name) < (2 if name == "batch_size" else 1 if name != "val_every" else 0):
            raise InputError(f"--{name.replace('_', '-')} is too small: {getattr(args, name)}")
    if args.temperature <= 0 or args.lr <= 0 or not 0 <= args.alpha <= 1:
        raise InputError(f"need --temperature > 0 (got {args.temperature}), --lr > 0 (got "
                         f"{args.lr}) and 0 <= --alpha <= 1 (got {args.alpha})")
    if not 0 <= args.val_fraction < 1:
        raise InputError(f"--val-fraction must be in [0, 1), got {args.val_fraction}")
    if not 0 <= args.momentum <= 1 or args.barlow_lambda < 0:
        raise InputError(f"need 0 <= --momentum <= 1 (got {args.momentum}) and --barlow-lambda "
                         f">= 0 (got {args.barlow_lambda})")
    for name in ("queue_size", "proj_dim"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be positive, got "
                             f"{getattr(args, name)}")
    out.mkdir(parents=True, exist_ok=True)
    with RunLog(out / "pretrain.log", tool="contig-pretrain", argv=argv) as log:
        mods = _modalities(args)
        dropout = parse_dropout(args.genetic_dropout, modalities=mods)
        with log.step("read cohort and check images"):
            data = load_pretrain_data(
                manifest=args.manifest, modalities=mods, bfile=args.bfile, pfile=args.pfile,
                bgen=args.bgen,
                sample=args.sample, snps=args.snps, snp_stride=args.snp_stride, pgs=args.pgs,
                burden=args.burden, aggregate=args.aggregate, image_size=args.image_size,
                val_fraction=args.val_fraction, seed=args.seed,
                max_bad_fraction=args.max_bad_images)
        for line in data.report:
            log.info(line)
        for msg in data.bad_images[:20]:
            log.warning(f"skipped image: {msg}")
        workers = args.workers
        if workers is None:
            workers = 0 if data.cache is not None else min(4, os.cpu_count() or 1)
        proj_dim = args.proj_dim or default_proj_dim(args.method,
                                                     backbone_out_dim(args.backbone))
        queue = 0
        if args.method == "nnclr":
            queue = args.queue_size or default_queue_size(len(data.images_of("train")),
                                                          batch_size=args.batch_size)
        spec = ModelSpec(backbone=args.backbone, method=args.method,
                         modalities={m: data.modalities[m].features.shape[1] for m in mods},
                         proj_dim=proj_dim, hidden=args.hidden_dim,
                         genetic_layers=args.genetic_layers, dropout=dropout, queue_size=queue)
        # the image-only baselines share SimCLR's augmentations
        aug_of = "simclr" if args.method in IMAGE_ONLY else args.method
        cfg = TrainConfig(method=args.method, epochs=args.epochs, batch_size=args.batch_size,
                          lr=args.lr, weight_decay=args.weight_decay,
                          temperature=args.temperature, alpha=args.alpha, seed=args.seed,
                          accumulate=args.accumulate, amp=args.amp, val_every=args.val_every,
                          workers=workers,
                          augment=parse_augmentations(args.augment, method=aug_of),
                          device=args.device, progress=not args.no_progress,
                          momentum=args.momentum, barlow_lambda=args.barlow_lambda)
        config = {
            "model": asdict(spec),
            "data": {"manifest": str(args.manifest), "image_size": args.image_size,
                     "aggregate": args.aggregate, "modalities": mods,
                     "snps": args.snps, "snp_stride": args.snp_stride,
                     "val_fraction": args.val_fraction,
                     "n_individuals": int(len(data.iid)), "n_images": len(data.image_paths),
                     "features": {m: data.modalities[m].columns for m in mods}},
            "training": {k: (list(v) if isinstance(v, tuple) else v)
                         for k, v in asdict(cfg).items()},
            "init_weights": args.init_weights,
        }
        if args.resume and (out / "config.json").exists():
            _check_resume(load_config(out), config, out)
        torch.manual_seed(args.seed)
        model = ContIGModel(spec)
        if args.init_weights:
            load_backbone_weights(model.image_encoder.backbone, args.init_weights)
            log.info(f"backbone initialised from {args.init_weights}")
        n_par = sum(p.numel() for p in model.parameters())
        log.info(f"model: {args.method} {args.backbone}, {n_par:,} parameters, modalities "
                 f"{mods or 'none'}, device {args.device}, {workers} loader workers")
        if args.method in IMAGE_ONLY:
            extra = {"byol": f", target momentum {args.momentum} -> 1 (cosine)",
                     "barlowtwins": f", lambda {args.barlow_lambda:g}",
                     "nnclr": f", support set of {queue:,} projections"}.get(args.method, "")
            log.info(f"{args.method}: projection width {proj_dim}{extra}; augmentations "
                     f"{','.join(cfg.augment) or 'none'}")
        save_config(out, config)
        _write_split(out / "split.tsv", data)
        with log.step("train"):
            res = fit(model=model, data=data, cfg=cfg, out_dir=out, log=log, resume=args.resume)
        if res.history:
            last = res.history[-1]
            log.info(f"final validation loss {last.val_loss:.4f} vs {last.random_loss:.4f} for "
                     f"random embeddings; best {res.best_val_loss:.4f} at epoch "
                     f"{res.best_epoch}")
        load_state(out / "model.pt")    # the checkpoint reloads weights-only
        log.info(f"checkpoint: {out / 'model.pt'} (config {out / 'config.json'})")
    return 0


def _check_resume(old: dict, new: dict, out: Path) -> None:
    from ..pretrain.models import ModelSpec
    from ..pretrain.train import TrainConfig

    # a setting added after the checkpoint was written counts as its default there
    defaults = {"model": asdict(ModelSpec(backbone="", method="", modalities={})),
                "training": asdict(TrainConfig())}
    diff = []
    for section in ("model", "data", "training"):
        for k in set(old.get(section, {})) | set(new[section]):
            if section == "training" and k in _RESUME_FREE:
                continue
            a, b = old.get(section, {}).get(k), json.loads(json.dumps(new[section].get(k)))
            if k not in old.get(section, {}) and k in defaults.get(section, {}):
                a = defaults[section][k]
            if a != b:
                diff.append(f"{section}.{k}: {a!r} -> {b!r}")
    if diff:
        raise InputError(f"{out}: --resume with different settings than the checkpoint: "
                         + "; ".join(diff[:5]))


def _write_split(path: Path, data) -> None:
    from ..outputs import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text("IID\tsplit\n" + "".join(f"{i}\t{s}\n" for i, s in
                                                  zip(data.iid, data.split)))


if __name__ == "__main__":  # pragma: no cover
    from ._common import run
    raise SystemExit(run(main))
