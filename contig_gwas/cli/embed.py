"""contig-embed: from a trained encoder to GWAS-ready phenotypes (PCs of image features)."""

from __future__ import annotations

import argparse
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from ._common import TORCH_THREADS, add_run_options, check_threads, make_parser


def build_parser() -> argparse.ArgumentParser:
    """The parser of the command line (docs/tools/contig-embed.md is generated from it)."""
    p = make_parser("contig-embed", __doc__)
    p.add_argument("--checkpoint", required=True,
                   help="contig-pretrain output directory, or a .pt weights file (a state dict; "
                   "torchvision ResNet key names are understood)")
    p.add_argument("--manifest", required=True, help="image manifest TSV (IID path [instance])")
    p.add_argument("--layer", default="pooled",
                   help="pooled (default), stem, layer1..layer4, or projection[:HEAD]")
    p.add_argument("--tta", nargs="?", const="mean", choices=["mean", "concat"], default=None,
                   help="test-time augmentation (flip, +-10 degree rotations): features "
                   "averaged (mean, the default with bare --tta) or concatenated")
    p.add_argument("--instances", default="mean",
                   help="mean: average of the instances each individual has; concat: every "
                   "instance of the manifest concatenated; or a comma list of instances "
                   "(concatenated in that order; one name = that instance only); with concat "
                   "and lists, individuals without every requested instance are dropped")
    p.add_argument("--n-pcs", type=int, default=10, help="principal components kept")
    p.add_argument("--int", dest="int_mode", choices=["adjusted", "marginal", "none"],
                   default=None, help="inverse-normal transform (default: adjusted with "
                   "--covar, else marginal)")
    p.add_argument("--covar", help="covariates FID IID ... (regressed out with --int adjusted; "
                   "also the source of FIDs)")
    p.add_argument("--image-size", type=int, default=None,
                   help="resize images to PX (default: the checkpoint's training size, or 224)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=0, help="image-decoding processes")
    p.add_argument("--max-bad-images", type=float, default=0.01,
                   help="fraction of missing/undecodable images tolerated (skipped)")
    add_run_options(p, out="output prefix", device=True, threads=TORCH_THREADS)
    return p


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    from ..embed.condense import pca
    from ..embed.features import aggregate_instances, extract_features, parse_instances
    from ..embed.files import write_embeddings, write_pcs
    from ..embed.transform import transform_phenotypes
    from ..io.manifest import read_manifest
    from ..io.tables import read_table, write_table
    from ..outputs import refuse_to_overwrite
    from ..pretrain.checkpoint import load_encoder
    from ..runlog import RunLog

    out = args.out
    paths = {k: f"{out}.{k}" for k in ("embeddings.parquet", "pcs.tsv", "pheno.tsv")}
    refuse_to_overwrite(list(paths.values()), overwrite=args.overwrite)
    check_threads(args.threads, torch=True)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"--device {args.device}: CUDA is not available on this machine")
    if args.batch_size < 1 or args.n_pcs < 1:
        raise InputError("--batch-size and --n-pcs must be positive")
    int_mode = args.int_mode or ("adjusted" if args.covar else "marginal")
    with RunLog(f"{out}.log", tool="contig-embed", argv=argv) as log:
        le = load_encoder(args.checkpoint, device=args.device)
        size = args.image_size or le.image_size or 224
        log.info(f"encoder {le.name} from {le.weights} (sha256 {le.sha256[:16]}...), layer "
                 f"{args.layer}, image size {size}, TTA {args.tta or 'off'}")
        man = read_manifest(args.manifest)
        how, instances = parse_instances(args.instances, man["instance"].tolist())
        man = man[man["instance"].isin(instances)].reset_index(drop=True)
        log.info(f"{args.manifest}: {len(man)} images of instances {instances} "
                 f"({man['IID'].nunique()} individuals)")
        with log.step("extract features"):
            feats = extract_features(encoder=le.encoder, paths=man["path"].tolist(),
                                     image_size=size, layer=args.layer, tta=args.tta,
                                     batch_size=args.batch_size, device=args.device,
                                     workers=args.workers, max_bad_fraction=args.max_bad_images,
                                     progress=not args.no_progress, source=args.manifest)
        for msg in feats.bad:
            log.warning(f"skipped image: {msg}")
        if feats.bad:
            log.info(f"{len(feats.bad)} of {len(man)} images skipped (missing or undecodable)")
        good = man.iloc[feats.index]
        meta = {"model": le.name, "checkpoint": le.weights, "checkpoint_sha256": le.sha256,
                "layer": args.layer, "tta": args.tta, "image_size": size,
                "dim": int(feats.values.shape[1])}
        write_embeddings(paths["embeddings.parquet"], iid=good["IID"].to_numpy(),
                         instance=good["instance"].to_numpy(), values=feats.values, metadata=meta)
        agg = aggregate_instances(iid=good["IID"].to_numpy(dtype=str),
                                  instance=good["instance"].to_numpy(dtype=str),
                                  values=feats.values, how=how, instances=instances)
        log.info(f"instances {how} over {instances}: {len(agg.iid)} individuals kept, "
                 f"{agg.dropped} dropped for lacking a requested instance"
                 + (f", {agg.partial} averaged over fewer than {len(instances)} instances"
                    if how == "mean" else "") + f"; {agg.values.shape[1]} features each")
        k = min(args.n_pcs, len(agg.iid) - 1, agg.values.shape[1])
        if k < args.n_pcs:
            log.warning(f"--n-pcs {args.n_pcs} reduced to {k} ({len(agg.iid)} individuals, "
                        f"{agg.values.shape[1]} features)")
        with log.step("PCA"):
            res = pca(agg.values, n_components=k)
        write_pcs(paths["pcs.tsv"], res)
        log.info("explained variance ratio: " + " ".join(
            f"{v:.3f}" for v in res.explained_variance_ratio))
        fid = agg.iid
        cov = None
        if args.covar:
            table = read_table(args.covar, kind="covariate")
            for note in table.notes:
                log.info(f"{args.covar}: {note}")
            cov_df = table.values.reindex(pd.Index(agg.iid))
            fid_map = pd.Series(table.fid, index=table.iid)
            absent = ~pd.Index(agg.iid).isin(table.iid)
            fid = np.where(absent, agg.iid, fid_map.reindex(agg.iid).to_numpy(dtype=object))
            cov = cov_df.to_numpy(dtype=np.float64)
            n_miss = int((~np.isfinite(cov).all(axis=1)).sum())
            log.info(f"{args.covar}: {len(table.iid)} individuals; {int(absent.sum())} embedded "
                     f"individuals absent, {n_miss} with a missing covariate (NA phenotypes)")
        else:
            log.info("no --covar: FID set to IID")
        y = transform_phenotypes(res.scores, mode=int_mode,
                                 covariates=cov if int_mode == "adjusted" else None)
        cols = [f"PC_{i}" for i in range(k)]
        write_table(paths["pheno.tsv"], fid=fid, iid=agg.iid,
                    values=pd.DataFrame(y, columns=cols), float_format="%.8g")
        log.info(f"wrote {paths['pheno.tsv']}: {len(agg.iid)} individuals x {k} phenotypes "
                 f"(PCA then INT {int_mode}); {paths['pcs.tsv']}; "
                 f"{paths['embeddings.parquet']} ({len(good)} images x "
                 f"{feats.values.shape[1]} features)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    from ._common import run
    raise SystemExit(run(main))
