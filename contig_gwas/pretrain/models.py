"""Models of ContIG: ResNet image backbones, projection heads, genetic encoders.

Plain torch (torchvision does not install beside the pinned torch). Parameter names follow
torchvision's ResNet (``conv1``, ``bn1``, ``layer1``..``layer4``), so a torchvision-format
state dict (e.g. ImageNet weights saved locally) loads into :class:`ResNet` directly.

Architecture (Taleb et al., CVPR 2022, authors' code): a ResNet backbone whose globally pooled
output feeds one image projection head per genetic modality, ``Linear(d, d)-ReLU-Linear(d,
128)``; per modality a genetic MLP ``[Linear(n, h)-ReLU-BatchNorm] x L`` and a head
``Linear(h, h)-ReLU-Linear(h, 128)``.

The image-only baselines (:data:`IMAGE_ONLY`) put their projector on the same backbone, with
the heads of their papers (:func:`make_projector`, :func:`make_predictor`); widths given there
for ResNet-50 (d = 2048) are scaled by d / 2048 for other backbones, as SimCLR's hidden width
is d. BYOL's target network and NNCLR's support set are submodules (``ssl.*``), so they are in
the state dict and a resumed run continues from them.

Importing this module has no side effects and needs no training machinery.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import torch
from torch import nn

from ..errors import InputError
from .methods import IMAGE_ONLY, METHODS

#: backbone name -> (block type, blocks per stage, stage widths)
BACKBONES: dict[str, tuple[str, tuple[int, ...], tuple[int, ...]]] = {
    "tiny": ("basic", (1, 1, 1, 1), (8, 16, 32, 64)),
    "resnet18": ("basic", (2, 2, 2, 2), (64, 128, 256, 512)),
    "resnet34": ("basic", (3, 4, 6, 3), (64, 128, 256, 512)),
    "resnet50": ("bottleneck", (3, 4, 6, 3), (64, 128, 256, 512)),
    "resnet101": ("bottleneck", (3, 4, 23, 3), (64, 128, 256, 512)),
}

#: feature layers of the backbone, in order; every one is spatially mean-pooled on request
LAYERS = ("stem", "layer1", "layer2", "layer3", "layer4", "pooled")

#: the pooled width of ResNet-50, for which the baselines' papers give their head widths
_PAPER_WIDTH = 2048


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = _downsample(inplanes, planes * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + idt)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(inplanes, planes * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + idt)


def _downsample(inplanes: int, outplanes: int, stride: int) -> nn.Module | None:
    if stride == 1 and inplanes == outplanes:
        return None
    return nn.Sequential(nn.Conv2d(inplanes, outplanes, 1, stride, bias=False),
                         nn.BatchNorm2d(outplanes))


class ResNet(nn.Module):
    """ResNet backbone without the classifier; ``forward`` returns the pooled features (B, d).

    Random init as torchvision's (Kaiming normal convolutions, BatchNorm weight 1, bias 0).
    """

    def __init__(self, name: str = "resnet50") -> None:
        super().__init__()
        if name not in BACKBONES:
            raise InputError(f"unknown backbone {name!r}; choose from {sorted(BACKBONES)}")
        kind, blocks, widths = BACKBONES[name]
        block = BasicBlock if kind == "basic" else Bottleneck
        self.name = name
        self.conv1 = nn.Conv2d(3, widths[0], 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes = widths[0]
        for i, (n, w) in enumerate(zip(blocks, widths)):
            layers = []
            for j in range(n):
                layers.append(block(inplanes, w, stride=(2 if i > 0 and j == 0 else 1)))
                inplanes = w * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*layers))
        self.out_dim = inplanes
        self.layer_dims = {"stem": widths[0], **{f"layer{i + 1}": w * block.expansion
                                                 for i, w in enumerate(widths)},
                           "pooled": inplanes}
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x, layer="pooled")

    def features(self, x: torch.Tensor, *, layer: str = "pooled") -> torch.Tensor:
        """Spatially mean-pooled features of ``layer`` (one of :data:`LAYERS`), shape (B, d)."""
        if layer not in LAYERS:
            raise InputError(f"unknown layer {layer!r}; choose from {list(LAYERS)}")
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        if layer == "stem":
            return x.mean(dim=(2, 3))
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
            if layer == f"layer{i}":
                return x.mean(dim=(2, 3))
        return x.mean(dim=(2, 3))


def backbone_out_dim(name: str) -> int:
    """Width d of the pooled output of backbone ``name`` (64 for tiny, 2048 for ResNet-50)."""
    if name not in BACKBONES:
        raise InputError(f"unknown backbone {name!r}; choose from {sorted(BACKBONES)}")
    kind, _, widths = BACKBONES[name]
    return widths[-1] * (Bottleneck.expansion if kind == "bottleneck" else 1)


def scaled_width(width: int, d: int) -> int:
    """A head width given for ResNet-50 (d = 2048), scaled to a backbone of width ``d``."""
    return max(1, width * d // _PAPER_WIDTH)


def default_proj_dim(method: str, d: int) -> int:
    """Output width of the projector when ``--proj-dim`` is not given: 128 (ContIG, SimCLR),
    256 (BYOL, NNCLR), the scaled 2048 of SimSiam and Barlow Twins (d itself)."""
    if method in ("byol", "nnclr"):
        return 256
    if method in ("simsiam", "barlowtwins"):
        return scaled_width(2048, d)
    return 128


def bn_mlp(sizes: Sequence[int], *, last_bn: bool | None) -> nn.Sequential:
    """``[Linear-BatchNorm-ReLU] x (len - 2)`` then ``Linear``; a bias only where no BatchNorm
    follows. ``last_bn``: None (no BatchNorm at the end), True (affine), False (not affine)."""
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(a, b, bias=False), nn.BatchNorm1d(b), nn.ReLU(inplace=True)]
    layers.append(nn.Linear(sizes[-2], sizes[-1], bias=last_bn is None))
    if last_bn is not None:
        layers.append(nn.BatchNorm1d(sizes[-1], affine=last_bn))
    return nn.Sequential(*layers)


def make_projector(method: str, d: int, proj_dim: int) -> nn.Module:
    """The projection head of ``method`` on a backbone of width ``d`` (widths for d = 2048):

    - contig, simclr: ``Linear(d, d)-ReLU-Linear(d, p)`` (Chen et al. 2020; ContIG's code);
    - byol: ``Linear(d, 4096)-BN-ReLU-Linear(4096, p)``, p = 256 (Grill et al. 2020);
    - simsiam: ``[Linear(., 2048)-BN-ReLU] x 2-Linear(2048, p)-BN`` (no affine), p = 2048
      (Chen & He 2021);
    - barlowtwins: ``[Linear(., 2048)-BN-ReLU] x 2-Linear(2048, p)``, p = 2048 (Zbontar et al.
      2021, their 2048-d variant);
    - nnclr: ``[Linear(., 2048)-BN-ReLU] x 2-Linear(2048, p)-BN``, p = 256 (Dwibedi et al.
      2021).
    """
    if method in ("contig", "simclr"):
        return ProjectionHead(d, d, proj_dim)
    w = scaled_width(2048, d)
    if method == "byol":
        return bn_mlp([d, scaled_width(4096, d), proj_dim], last_bn=None)
    if method == "simsiam":
        return bn_mlp([d, w, w, proj_dim], last_bn=False)
    if method == "barlowtwins":
        return bn_mlp([d, w, w, proj_dim], last_bn=None)
    if method == "nnclr":
        return bn_mlp([d, w, w, proj_dim], last_bn=True)
    raise InputError(f"no projection head for method {method!r}")


def make_predictor(method: str, d: int, proj_dim: int) -> nn.Module | None:
    """The predictor of ``method`` (None for methods without one), widths for d = 2048:
    byol and nnclr ``Linear(p, 4096)-BN-ReLU-Linear(4096, p)``; simsiam
    ``Linear(p, 512)-BN-ReLU-Linear(512, p)``."""
    if method in ("byol", "nnclr"):
        return bn_mlp([proj_dim, scaled_width(4096, d), proj_dim], last_bn=None)
    if method == "simsiam":
        return bn_mlp([proj_dim, scaled_width(512, d), proj_dim], last_bn=None)
    return None


def head_names(method: str, modalities: Sequence[str]) -> list[str]:
    """The image projection heads of a model: one per modality (contig), one named after the
    method (image-only methods), none (``none``)."""
    if method == "contig":
        return list(modalities)
    return [method] if method in IMAGE_ONLY else []


class ProjectionHead(nn.Sequential):
    """``Linear(d_in, d_hidden)-ReLU-Linear(d_hidden, d_out)``."""

    def __init__(self, d_in: int, d_hidden: int, d_out: int = 128) -> None:
        super().__init__(nn.Linear(d_in, d_hidden), nn.ReLU(inplace=True),
                         nn.Linear(d_hidden, d_out))


class GeneticEncoder(nn.Module):
    """MLP for one genetic modality: ``[Linear-ReLU-BatchNorm] x n_layers`` then a head.

    ``dropout`` > 0 drops input features (and hidden units before the head) at that rate while
    training: against the memorisation of individuals by a wide input (thousands of raw SNPs
    identify every training individual). Dropout has no weights, so state dicts are the same
    with and without it.

    Run it only on the individuals who have the modality (see :meth:`ContIGModel.forward`), so
    absent inputs never reach the BatchNorm statistics.
    """

    def __init__(self, n_features: int, *, hidden: int = 2048, n_layers: int = 1,
                 proj_dim: int = 128, dropout: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise InputError(f"genetic dropout must be in [0, 1), got {dropout}")
        self.input_dropout = nn.Dropout(dropout)
        self.hidden_dropout = nn.Dropout(dropout)
        layers: list[nn.Module] = []
        d = n_features
        for _ in range(n_layers):
            layers += [nn.Linear(d, hidden), nn.ReLU(inplace=True), nn.BatchNorm1d(hidden)]
            d = hidden
        self.mlp = nn.Sequential(*layers)
        self.head = ProjectionHead(d, hidden, proj_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.hidden_dropout(self.mlp(self.input_dropout(x))))


class ImageEncoder(nn.Module):
    """The shared backbone with its image projection heads (one per modality, or one named
    after an image-only method, built by :func:`make_projector` for ``method``)."""

    def __init__(self, backbone: str, *, heads: Sequence[str] = (), proj_dim: int = 128,
                 method: str = "contig") -> None:
        super().__init__()
        self.backbone = ResNet(backbone)
        d = self.backbone.out_dim
        self.heads = nn.ModuleDict({h: make_projector(method, d, proj_dim) for h in heads})

    @property
    def out_dim(self) -> int:
        return self.backbone.out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def layer_names(self) -> list[str]:
        return list(LAYERS) + [f"projection:{h}" for h in self.heads]

    def features(self, x: torch.Tensor, *, layer: str = "pooled") -> torch.Tensor:
        """Features of ``layer``: a backbone layer (mean-pooled) or ``projection:<head>``."""
        if layer.startswith("projection"):
            name = layer.partition(":")[2] or (next(iter(self.heads)) if self.heads else "")
            if name not in self.heads:
                raise InputError(f"no projection head {name!r} in this model "
                                 f"(heads: {list(self.heads) or 'none'})")
            return self.heads[name](self.backbone(x))
        return self.backbone.features(x, layer=layer)


@dataclass
class ModelSpec:
    """What is needed to rebuild a model (stored in ``config.json``)."""

    backbone: str
    method: str                      # one of METHODS
    modalities: dict[str, int]       # modality -> number of input features (contig)
    proj_dim: int = 128
    hidden: int = 2048
    genetic_layers: int = 1
    dropout: dict[str, float] = field(default_factory=dict)  # modality -> genetic dropout
    queue_size: int = 0              # nnclr: rows of the support set


class SupportQueue(nn.Module):
    """NNCLR's support set: a first-in first-out queue of the last ``size`` projections.

    The rows and the write position are buffers, so they are saved in the state dict and a
    resumed run continues with the same support set. :meth:`support` returns the rows filled so
    far, oldest first; :meth:`push` appends a batch (detached), overwriting the oldest rows.
    """

    features: torch.Tensor  # buffers, registered in __init__
    ptr: torch.Tensor
    count: torch.Tensor

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        if size < 1:
            raise InputError(f"the NNCLR support set needs at least one row, got {size}")
        self.register_buffer("features", torch.zeros(size, dim))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @property
    def size(self) -> int:
        return int(self.features.shape[0])

    def support(self) -> torch.Tensor:
        """The rows pushed so far (at most ``size``), oldest first, shape (min(pushed, size), D)."""
        n, p = int(self.count), int(self.ptr)
        if n < self.size:
            return self.features[:n]
        return torch.cat([self.features[p:], self.features[:p]])

    @torch.no_grad()
    def push(self, z: torch.Tensor) -> None:
        """Append the rows of ``z`` (B, D); of a batch larger than the queue the last ``size``."""
        z = z.detach()[-self.size:]
        n = z.shape[0]
        idx = (int(self.ptr) + torch.arange(n, device=z.device)) % self.size
        self.features.index_copy_(0, idx.to(self.features.device), z.to(self.features.dtype))
        self.ptr.fill_((int(self.ptr) + n) % self.size)
        self.count.fill_(min(int(self.count) + n, self.size))


class TargetNetwork(nn.Module):
    """BYOL's target: a copy of the online backbone and projector, updated only as their
    exponential moving average (:meth:`update`); its parameters take no gradient."""

    def __init__(self, backbone: ResNet, head: nn.Module) -> None:
        super().__init__()
        self.backbone = copy.deepcopy(backbone)
        self.head = copy.deepcopy(head)
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))

    @torch.no_grad()
    def copy_from(self, backbone: ResNet, head: nn.Module) -> None:
        """Set every weight and buffer to the online network's (BYOL's initialisation)."""
        self.backbone.load_state_dict(backbone.state_dict())
        self.head.load_state_dict(head.state_dict())

    @torch.no_grad()
    def update(self, backbone: ResNet, head: nn.Module, *, momentum: float) -> None:
        """``xi <- m xi + (1 - m) theta`` for every parameter (buffers: the target's own)."""
        online = list(backbone.parameters()) + list(head.parameters())
        target = list(self.backbone.parameters()) + list(self.head.parameters())
        for t, o in zip(target, online):
            t.mul_(momentum).add_(o.detach(), alpha=1.0 - momentum)


#: NNCLR's support set for ImageNet (Dwibedi et al. 2021) and ImageNet's training images
NNCLR_QUEUE, IMAGENET_TRAIN = 98_304, 1_281_167


def default_queue_size(n_train_images: int, *, batch_size: int) -> int:
    """NNCLR's support-set size when ``--queue-size`` is not given: the paper's share of the
    training images (98,304 of ImageNet's 1,281,167, 7.7%), at least one batch, at most 98,304.
    (The paper's 98,304 rows on a cohort of a few thousand images would hold embeddings from
    dozens of epochs back.)"""
    share = round(n_train_images * NNCLR_QUEUE / IMAGENET_TRAIN)
    return int(min(NNCLR_QUEUE, max(batch_size, share)))


def target_momentum(step: int, total_steps: int, *, base: float = 0.99) -> float:
    """BYOL's target momentum at optimiser step ``step`` (0-based) of ``total_steps``:
    ``1 - (1 - base) (cos(pi k / K) + 1) / 2``, from ``base`` at k = 0 up to 1 at k = K."""
    if total_steps <= 0:
        return 1.0
    k = min(max(step, 0), total_steps)
    return 1.0 - (1.0 - base) * (math.cos(math.pi * k / total_steps) + 1.0) / 2.0


class ContIGModel(nn.Module):
    """Image encoder plus one genetic encoder per modality (ContIG), or the image encoder with
    an image-only method's projector and its parts (``ssl``: ``predictor`` for BYOL, SimSiam
    and NNCLR; ``target`` for BYOL; ``queue`` for NNCLR).

    ``forward(images, genetics, masks)`` returns per modality the image projections of all
    rows and the genetic projections (zero rows where the modality is absent; the encoder only
    sees present rows).
    """

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        if spec.method not in METHODS:
            raise InputError(f"unknown method {spec.method!r}; choose from {list(METHODS)}")
        self.spec = spec
        heads = head_names(spec.method, list(spec.modalities))
        self.image_encoder = ImageEncoder(spec.backbone, heads=heads, proj_dim=spec.proj_dim,
                                          method=spec.method)
        self.genetic_encoders = nn.ModuleDict()
        if spec.method == "contig":
            for m, n in spec.modalities.items():
                self.genetic_encoders[m] = GeneticEncoder(
                    n, hidden=spec.hidden, n_layers=spec.genetic_layers, proj_dim=spec.proj_dim,
                    dropout=spec.dropout.get(m, 0.0))
        self.ssl = nn.ModuleDict()     # empty (no state dict keys) for contig, simclr, none
        d = self.image_encoder.out_dim
        predictor = make_predictor(spec.method, d, spec.proj_dim)
        if predictor is not None:
            self.ssl["predictor"] = predictor
        if spec.method == "byol":
            self.ssl["target"] = TargetNetwork(self.image_encoder.backbone,
                                               self.image_encoder.heads["byol"])
        if spec.method == "nnclr":
            self.ssl["queue"] = SupportQueue(spec.queue_size, spec.proj_dim)

    def online(self, x: torch.Tensor) -> torch.Tensor:
        """Projection of ``x`` by the backbone and the image-only method's projector."""
        return self.image_encoder.heads[self.spec.method](self.image_encoder.backbone(x))

    def sync_target(self) -> None:
        """BYOL: set the target network to the online one (at the start of training)."""
        if "target" in self.ssl:
            target = self.ssl["target"]
            assert isinstance(target, TargetNetwork)
            target.copy_from(self.image_encoder.backbone, self.image_encoder.heads["byol"])

    def update_target(self, momentum: float) -> None:
        """BYOL: move the target network towards the online one with ``momentum``."""
        if "target" in self.ssl:
            target = self.ssl["target"]
            assert isinstance(target, TargetNetwork)
            target.update(self.image_encoder.backbone, self.image_encoder.heads["byol"],
                          momentum=momentum)

    def forward(self, images: torch.Tensor, genetics: Mapping[str, torch.Tensor],
                masks: Mapping[str, torch.Tensor]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        feats = self.image_encoder.backbone(images)
        out = {}
        for m, enc in self.genetic_encoders.items():
            mask = masks[m]
            img = self.image_encoder.heads[m](feats)
            gen = img.new_zeros(img.shape)
            idx = torch.nonzero(mask, as_tuple=False).squeeze(1)
            if len(idx) >= 2:   # BatchNorm needs two rows; fewer means no term for this batch
                gen = gen.index_copy(0, idx, enc(genetics[m].index_select(0, idx)).to(gen.dtype))
            out[m] = (img, gen)
        return out
