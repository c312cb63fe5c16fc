"""contig-explain: integrated-gradients attributions of a ContIG model to its genetic inputs
(global and per person) and image-space maps for chosen genetic features."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from ..errors import InputError
from ..outputs import file_stem
from ._common import TORCH_THREADS, NameList, add_run_options, check_threads, make_parser


def build_parser() -> argparse.ArgumentParser:
    """The parser of the command line (docs/tools/contig-explain.md is generated from it)."""
    p = make_parser("contig-explain", __doc__)
    p.add_argument("--checkpoint", required=True, help="contig-pretrain directory (method contig)")
    p.add_argument("--weights", default="model.pt", help="weights file in the checkpoint "
                   "directory (model.pt, best.pt)")
    p.add_argument("--manifest", required=True, help="image manifest TSV (IID path [instance])")
    g = p.add_argument_group("genetic modalities (as contig-pretrain; raw SNPs are the variant "
                             "IDs stored in the checkpoint)")
    geno = g.add_mutually_exclusive_group()
    geno.add_argument("--bfile", metavar="PREFIX", help="PLINK 1 prefix (modality raw)")
    geno.add_argument("--pfile", metavar="PREFIX", help="PLINK 2 prefix (modality raw)")
    geno.add_argument("--bgen", metavar="FILE", help="BGEN file (modality raw)")
    g.add_argument("--sample", metavar="FILE", help=".sample file for --bgen")
    g.add_argument("--pgs", help="polygenic scores, FID IID PGS...")
    g.add_argument("--burden", help="gene burden table, FID IID gene... (0/1)")
    g.add_argument("--modalities", action=NameList, default=None, metavar="NAME",
                   help="raw, pgs and/or burden, space- or comma-separated (default: "
                   "the model's modalities whose inputs are given)")
    a = p.add_argument_group("attributions to the genetic inputs")
    a.add_argument("--steps", type=int, default=50, help="integration steps (Gauss-Legendre)")
    a.add_argument("--baseline", choices=["mean", "zero"], default="mean",
                   help="input baseline: the modality's mean input, or zeros")
    a.add_argument("--noise-tunnel", action="store_true", help="SmoothGrad over IG")
    a.add_argument("--nt-samples", type=int, default=8, help="noisy copies per input")
    a.add_argument("--nt-stdev", type=float, default=0.1,
                   help="noise SD as a fraction of the SD of the modality's inputs")
    a.add_argument("--reference-size", type=int, default=64,
                   help="people in the reference batch (the contrastive negatives)")
    a.add_argument("--people", choices=["all", "train", "val"], default="all",
                   help="explain everyone, or the checkpoint's training / validation people "
                   "(its split.tsv)")
    a.add_argument("--max-images", type=int, default=None,
                   help="explain at most this many images (seeded random subset)")
    a.add_argument("--top", type=int, default=20, help="features per bar chart")
    m = p.add_argument_group("image-space maps")
    m.add_argument("--feature", action="append", default=None,
                   help="genetic feature to map (NAME or MODALITY:NAME; repeatable; default the "
                   "top feature of each modality)")
    m.add_argument("--no-maps", action="store_true", help="no image-space maps")
    m.add_argument("--map-steps", type=int, default=64, help="integration steps for the maps")
    m.add_argument("--map-baseline", choices=["mean", "black", "blur"], default="mean",
                   help="baseline image: the cohort mean image, black, or the blurred image")
    m.add_argument("--map-images", type=int, default=200, help="images per map (seeded subset)")
    m.add_argument("--flip-instance", default="right",
                   help="comma list of instances mirrored before averaging ('' for none)")
    m.add_argument("--examples", type=int, default=4, help="example images per map figure")
    p.add_argument("--seed", type=int, default=42)
    add_run_options(p, out="output directory", out_metavar="DIR", threads=TORCH_THREADS,
                    progress=False)
    return p


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    import numpy as np
    import pandas as pd

    from ..explain.attributions import explain_genetics
    from ..explain.cohort import load_explain_cohort
    from ..explain.figures import importance_figure, maps_figure
    from ..explain.maps import image_maps
    from ..outputs import atomic_path, refuse_to_overwrite
    from ..runlog import RunLog

    for name in ("steps", "map_steps", "reference_size", "nt_samples", "map_images", "top"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be positive, got "
                             f"{getattr(args, name)}")
    check_threads(args.threads, torch=True)
    out = Path(args.out)
    refuse_to_overwrite([out / "summary.tsv", out / "explain.log"], overwrite=args.overwrite)
    out.mkdir(parents=True, exist_ok=True)
    with RunLog(out / "explain.log", tool="contig-explain", argv=argv) as log:
        mods = list(args.modalities) if args.modalities else None
        with log.step("read checkpoint and cohort"):
            cohort = load_explain_cohort(
                checkpoint=args.checkpoint, manifest=args.manifest, bfile=args.bfile,
                pfile=args.pfile, bgen=args.bgen, sample=args.sample, pgs=args.pgs,
                burden=args.burden, modalities=mods, weights=args.weights)
        for line in cohort.report:
            log.info(line)
        people = None if args.people == "all" else cohort.split == args.people
        if people is not None:
            log.info(f"--people {args.people}: {int(people.sum())} of {len(people)} people")
            if people.sum() < 1:
                raise InputError(f"{args.checkpoint}: no {args.people} people of split.tsv "
                                 f"among the cohort's")
        with log.step("integrated gradients of the contrastive loss"):
            res = explain_genetics(cohort=cohort, reference_size=args.reference_size,
                                   steps=args.steps, baseline=args.baseline,
                                   noise_tunnel=args.noise_tunnel, nt_samples=args.nt_samples,
                                   nt_stdev=args.nt_stdev, max_images=args.max_images,
                                   people=people, seed=args.seed)
        summary = []
        for m, r in res.items():
            rk = r.ranking()
            with atomic_path(out / f"importance.{m}.tsv") as tmp:
                rk.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
            local = pd.DataFrame(r.local, columns=r.features)
            local.insert(0, "IID", r.iid)
            with atomic_path(out / f"local.{m}.tsv.gz") as tmp:
                local.to_csv(tmp, sep="\t", index=False, float_format="%.5g",
                             compression="gzip")
            err = r.completeness_error()
            summary.append({"kind": "genetic", "modality": m, "feature": rk.feature.iat[0],
                            "n_people": r.settings["n_people"],
                            "n_images": r.settings["n_images"],
                            "mean_output": float(np.mean(r.loss)),
                            "mean_baseline_output": float(np.mean(r.baseline_loss)),
                            "completeness_error": err})
            log.info(f"{m}: {len(r.features)} features, {r.settings['n_people']} people "
                     f"({r.settings['n_images']} images), reference batch "
                     f"{r.settings['reference_size']}; completeness error (max |sum attr - "
                     f"(loss - baseline loss)| / max |loss - baseline loss|) {err:.2e}; top: "
                     + ", ".join(rk.feature.head(5)))
        with log.step("importance figure"):
            importance_figure(results=res, path_stem=out / "importance", top=args.top)
        if not args.no_maps:
            feats = ([f for arg in args.feature for f in arg.split(",") if f]
                     if args.feature else [f"{m}:{r.ranking().feature.iat[0]}"
                                           for m, r in res.items()])
            flip = tuple(x for x in args.flip_instance.split(",") if x)
            for f in feats:
                with log.step(f"image map of {f}"):
                    mp = image_maps(cohort=cohort, feature=f, steps=args.map_steps,
                                    baseline=args.map_baseline, max_images=args.map_images,
                                    flip=flip, seed=args.seed, people=people)
                    stem = out / f"map.{mp.modality}.{file_stem(mp.feature)}"
                    maps_figure(maps=mp, path_stem=stem, n_examples=args.examples)
                    with atomic_path(Path(f"{stem}.npz")) as tmp:
                        with open(tmp, "wb") as fh:
                            np.savez_compressed(fh, mean_abs=mp.mean_abs,
                                                mean_signed=mp.mean_signed, corr=mp.corr,
                                                mean_image=mp.mean_image, iid=mp.iid,
                                                instance=mp.instance, maps=mp.maps)
                scale = float(np.max(np.abs(mp.score - mp.baseline_score), initial=0.0))
                err = float(np.max(np.abs(mp.delta), initial=0.0)) / (scale or 1.0)
                summary.append({"kind": "image_map", "modality": mp.modality,
                                "feature": mp.feature, "n_people": mp.settings["n_people"],
                                "n_images": mp.settings["n_images"],
                                "mean_output": float(np.mean(mp.score)),
                                "mean_baseline_output": float(np.mean(mp.baseline_score)),
                                "completeness_error": err})
                log.info(f"map {mp.modality}:{mp.feature}: {mp.settings['n_images']} images, "
                         f"mean score {np.mean(mp.score):.4f} (baseline "
                         f"{np.mean(mp.baseline_score):.4f}), completeness error {err:.2e}")
        with atomic_path(out / "summary.tsv") as tmp:
            pd.DataFrame(summary).to_csv(tmp, sep="\t", index=False, float_format="%.6g")
        log.info(f"outputs in {out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    from ._common import run
    raise SystemExit(run(main))
