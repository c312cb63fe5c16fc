"""Checkpoints: state dicts loaded with ``weights_only=True`` and a JSON config beside them.

A checkpoint directory (``contig-pretrain --out DIR``) holds:

- ``model.pt``   state dict of the whole model at the end of training (image encoder with its
  projection heads under ``image_encoder.``, genetic encoders under ``genetic_encoders.``, the
  image-only baselines' predictor, BYOL's target network and NNCLR's support set under
  ``ssl.``);
- ``best.pt``    the same at the epoch of lowest validation loss;
- ``last.pt``    training state for ``--resume`` (model with its ``ssl.`` parts, optimiser,
  scheduler, epoch, history);
- ``config.json`` architecture, modalities, method and settings; ``history.tsv`` per-epoch
  losses; ``split.tsv`` individual -> train/val; ``pretrain.log``.

:func:`load_image_encoder` also accepts a bare weights file (e.g. torchvision-format ResNet
weights saved on disk) with no ``config.json``: the architecture is inferred from its keys.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import InputError
from ..outputs import atomic_path
from .methods import METHODS
from .models import BACKBONES, ContIGModel, ImageEncoder, ModelSpec, ResNet, head_names

FORMAT = "contig-gwas-checkpoint/1"


def save_state(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """``torch.save`` to ``path`` atomically (no half-written checkpoint after a kill)."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def save_config(out_dir: str | os.PathLike, config: dict[str, Any]) -> None:
    with atomic_path(Path(out_dir) / "config.json") as tmp:
        tmp.write_text(json.dumps({"format": FORMAT, **config}, indent=2) + "\n")


def load_config(out_dir: str | os.PathLike) -> dict[str, Any]:
    p = Path(out_dir) / "config.json"
    if not p.exists():
        raise InputError(f"{p}: checkpoint config not found")
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{p}: not valid JSON ({exc})") from None


def load_state(path: str | os.PathLike, *, device: str | torch.device = "cpu") -> dict:
    """Load a state dict with ``weights_only=True``; InputError naming the file on failure."""
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise InputError(f"{path}: checkpoint file not found") from None
    except Exception as exc:  # unpickling refused or a corrupt file
        raise InputError(f"{path}: cannot load as a weights-only state dict "
                         f"({type(exc).__name__}: {exc})") from None


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class LoadedEncoder:
    """An image encoder ready for feature extraction, with where it came from.

    Attributes:
        encoder: :class:`ImageEncoder` in eval mode on the requested device.
        name: e.g. ``contig:resnet50`` or ``external:resnet50``.
        weights: path of the weights file; sha256: its hash.
        config: the checkpoint's config (empty for a bare weights file).
        image_size: the training image size (None if unknown).
    """

    encoder: ImageEncoder
    name: str
    weights: str
    sha256: str
    config: dict
    image_size: int | None


def _resolve(path: str | os.PathLike) -> tuple[Path | None, Path]:
    p = Path(path)
    if p.is_dir():
        return p, p / "model.pt"
    if not p.exists():
        raise InputError(f"{p}: checkpoint not found (a contig-pretrain directory or a .pt file)")
    return (p.parent if (p.parent / "config.json").exists() else None), p


def _strip(state: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def infer_backbone(state: dict) -> str:
    """Backbone name of a ResNet state dict with torchvision key names."""
    if "conv1.weight" not in state:
        raise InputError("weights file has no conv1.weight: not a ResNet state dict")
    kind = "bottleneck" if "layer1.0.conv3.weight" in state else "basic"
    blocks = []
    for i in range(1, 5):
        idx = {int(m.group(1)) for k in state for m in [re.match(rf"layer{i}\.(\d+)\.", k)] if m}
        blocks.append(max(idx) + 1 if idx else 0)
    width = int(state["conv1.weight"].shape[0])
    for name, (k, b, w) in BACKBONES.items():
        if k == kind and tuple(blocks) == b and w[0] == width:
            return name
    raise InputError(f"weights file: a {kind} ResNet with blocks {blocks} and width {width} "
                     f"matches none of {sorted(BACKBONES)}")


def load_image_encoder(path: str | os.PathLike, *, device: str | torch.device = "cpu",
                       weights: str = "model.pt") -> ImageEncoder:
    """The image encoder of checkpoint ``path`` (a directory or a .pt file), in eval mode."""
    return load_encoder(path, device=device, weights=weights).encoder


def load_encoder(path: str | os.PathLike, *, device: str | torch.device = "cpu",
                 weights: str = "model.pt") -> LoadedEncoder:
    """Like :func:`load_image_encoder`, with the name, hash and config of the checkpoint."""
    ckdir, wfile = _resolve(path)
    if ckdir is not None and Path(path).is_dir():
        wfile = ckdir / weights
    state = load_state(wfile, device="cpu")
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]        # a last.pt training state
    if ckdir is not None:
        config = load_config(ckdir)
        spec = config["model"]
        if spec["method"] not in METHODS:
            raise InputError(f"{ckdir / 'config.json'}: unknown method {spec['method']!r} "
                             f"(this version knows {list(METHODS)})")
        heads = head_names(spec["method"], list(spec["modalities"]))
        enc = ImageEncoder(spec["backbone"], heads=heads, proj_dim=spec["proj_dim"],
                           method=spec["method"])
        sub = _strip(state, "image_encoder.")
        name = f"{spec['method']}:{spec['backbone']}"
        image_size = config.get("data", {}).get("image_size")
    else:
        config = {}
        for prefix in ("image_encoder.backbone.", "backbone.", "module.", ""):
            sub = _strip(state, prefix)
            if "conv1.weight" in sub:
                break
        backbone = infer_backbone(sub)
        enc = ImageEncoder(backbone)
        sub = {"backbone." + k: v for k, v in sub.items() if not k.startswith("fc.")}
        name = f"external:{backbone}"
        image_size = None
    try:
        missing, unexpected = enc.load_state_dict(sub, strict=False)
    except RuntimeError as exc:
        raise InputError(f"{wfile}: weights do not fit the {name} encoder ({str(exc)[:300]})") \
            from None
    if missing or unexpected:
        raise InputError(f"{wfile}: weights do not fit the {name} encoder "
                         f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    enc.to(device).eval()
    return LoadedEncoder(encoder=enc, name=name, weights=str(wfile), sha256=file_sha256(wfile),
                         config=config, image_size=image_size)


def load_model(path: str | os.PathLike, *, device: str | torch.device = "cpu",
               weights: str = "model.pt") -> ContIGModel:
    """The whole model of a contig-pretrain directory (image and genetic encoders), eval mode."""
    ckdir = Path(path)
    if not ckdir.is_dir():
        raise InputError(f"{ckdir}: not a contig-pretrain checkpoint directory")
    spec = ModelSpec(**load_config(ckdir)["model"])
    model = ContIGModel(spec)
    state = load_state(ckdir / weights)
    if "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise InputError(f"{ckdir / weights}: weights do not fit config.json ({exc})") from None
    return model.to(device).eval()


def load_backbone_weights(backbone: ResNet, path: str | os.PathLike) -> None:
    """Initialise ``backbone`` from a state dict file (torchvision key names, or a checkpoint
    of ours); a classifier (``fc.*``) is ignored. InputError if the shapes do not fit."""
    state = load_state(path)
    if "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    for prefix in ("image_encoder.backbone.", "backbone.", "module.", ""):
        sub = _strip(state, prefix)
        if "conv1.weight" in sub:
            break
    sub = {k: v for k, v in sub.items() if not k.startswith("fc.")}
    try:
        missing, unexpected = backbone.load_state_dict(sub, strict=False)
    except RuntimeError as exc:
        raise InputError(f"{path}: weights do not fit the {backbone.name} backbone "
                         f"({str(exc)[:300]})") from None
    if missing or unexpected:
        raise InputError(f"{path}: weights do not fit the {backbone.name} backbone (missing "
                         f"{missing[:3]}, unexpected {unexpected[:3]})")
