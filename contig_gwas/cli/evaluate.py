"""contig-evaluate: downstream evaluation of image encoders (linear probe on frozen features and
full fine-tuning) on a labelled task, several checkpoints and seeded splits by person."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from ..errors import InputError
from ._common import TORCH_THREADS, NameList, add_run_options, check_threads, make_parser


def build_parser() -> argparse.ArgumentParser:
    """The parser of the command line (docs/tools/contig-evaluate.md is generated from it)."""
    p = make_parser("contig-evaluate", __doc__)
    p.add_argument("--checkpoint", nargs="+", required=True,
                   help="contig-pretrain directories (any --method), .pt files of them, "
                   "or local ResNet weights files (torchvision key names)")
    p.add_argument("--name", action=NameList, default=None, metavar="NAME",
                   help="a name per checkpoint, space- or comma-separated (default: directory "
                   "or file name)")
    p.add_argument("--manifest", required=True, help="image manifest TSV (IID path [instance])")
    p.add_argument("--task", required=True, help="labels, FID IID label... (NA missing)")
    p.add_argument("--label", default=None, help="label column (default: the only one)")
    p.add_argument("--kind", choices=["class", "grade", "continuous"], default=None,
                   help="class: accuracy, AUROC; grade: quadratic-weighted kappa; continuous: "
                   "R2 (default: 2 levels class, 3-10 integer levels grade, else continuous)")
    p.add_argument("--mode", default="probe,finetune",
                   help="comma list of probe (linear, frozen features) and finetune (full)")
    p.add_argument("--seeds", type=int, default=3, help="seeded splits by person")
    p.add_argument("--test-fraction", type=float, default=0.3,
                   help="share of people in each test split")
    p.add_argument("--image-size", type=int, default=None,
                   help="resize images to PX (default: each checkpoint's training size)")
    f = p.add_argument_group("fine-tuning")
    f.add_argument("--epochs", type=int, default=10)
    f.add_argument("--lr", type=float, default=3e-4)
    f.add_argument("--weight-decay", type=float, default=1e-4)
    f.add_argument("--batch-size", type=int, default=32)
    f.add_argument("--augment", default="rotate,flip",
                   help="comma list of rotate,flip,color,crop or 'none'")
    p.add_argument("--max-bad-images", type=float, default=0.01,
                   help="fraction of missing/undecodable images tolerated (skipped)")
    add_run_options(p, out="output directory", out_metavar="DIR", device=True,
                    threads=TORCH_THREADS, progress=False)
    return p


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    import torch
    from matplotlib.figure import Figure

    from ..evaluate.compare import compare, plot_comparison
    from ..evaluate.finetune import FinetuneConfig
    from ..evaluate.task import load_task
    from ..explain.figures import save_figure
    from ..outputs import atomic_path, refuse_to_overwrite
    from ..pretrain.augment import parse_augmentations
    from ..report.plots import figure_style
    from ..runlog import RunLog

    modes = [m.strip() for m in args.mode.split(",") if m.strip()]
    for name in ("seeds", "epochs", "batch_size"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be positive, got "
                             f"{getattr(args, name)}")
    check_threads(args.threads, torch=True)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"--device {args.device}: CUDA is not available on this machine")
    out = Path(args.out)
    refuse_to_overwrite([out / "summary.tsv", out / "results.tsv", out / "evaluate.log"],
                        overwrite=args.overwrite)
    out.mkdir(parents=True, exist_ok=True)
    with RunLog(out / "evaluate.log", tool="contig-evaluate", argv=argv) as log:
        with log.step("read task"):
            task = load_task(manifest=args.manifest, task=args.task, label=args.label,
                             kind=args.kind)
        for line in task.report:
            log.info(line)
        ft = FinetuneConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                            weight_decay=args.weight_decay, device=args.device,
                            augment=parse_augmentations(args.augment, method="contig"))
        with log.step("evaluate"):
            cmp = compare(checkpoints=args.checkpoint, task=task, names=args.name, modes=modes,
                          seeds=args.seeds, test_fraction=args.test_fraction,
                          image_size=args.image_size, finetune_cfg=ft, device=args.device,
                          max_bad_fraction=args.max_bad_images, log=log)
        for fname, df in (("results.tsv", cmp.results), ("summary.tsv", cmp.summary),
                          ("splits.tsv", cmp.splits)):
            with atomic_path(out / fname) as tmp:
                df.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
        with figure_style():
            fig = Figure(figsize=(1.2 + 1.1 * len(cmp.models), 2.8), layout="constrained")
            plot_comparison(ax=fig.subplots(), comparison=cmp)
            save_figure(fig, out / "comparison")
        for mode in modes:
            rk = cmp.ranking(mode)
            log.info(f"ranking by {cmp.primary} ({mode}): " + "; ".join(
                f"{r.model} {r.mean:.3f} +- {r.sd:.3f}" for r in rk.itertuples()))
        log.info(f"outputs in {out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    from ._common import run
    raise SystemExit(run(main))
