"""Models of ContIG: ResNet image backbones, projection heads, genetic encoders.

Plain torch (torchvision does not install beside the pinned torch). Parameter names follow
torchvision's ResNet (``conv1``, ``bn1``, ``layer1``..``layer4``), so a torchvision-format
state dict (e.g. ImageNet weights saved locally) loads into :class:`ResNet` directly.

Architecture (Taleb et al., CVPR 2022, authors' code): a ResNet backbone whose globally pooled
output feeds one image projection head per genetic modality, ``Linear(d, d)-ReLU-Linear(d,
128)``; per modality a genetic MLP ``[Linear(n, h)-ReLU-BatchNorm] x L`` and a head
``Linear(h, h)-ReLU-Linear(h, 128)``.

Importing this module has no side effects and needs no training machinery.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import torch
from torch import nn

from ..errors import InputError

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
    """The shared backbone with its image projection heads (one per modality, or ``simclr``)."""

    def __init__(self, backbone: str, *, heads: Sequence[str] = (), proj_dim: int = 128) -> None:
        super().__init__()
        self.backbone = ResNet(backbone)
        d = self.backbone.out_dim
        self.heads = nn.ModuleDict({h: ProjectionHead(d, d, proj_dim) for h in heads})

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
    method: str                      # contig | simclr | none
    modalities: dict[str, int]       # modality -> number of input features (contig)
    proj_dim: int = 128
    hidden: int = 2048
    genetic_layers: int = 1
    dropout: dict[str, float] = field(default_factory=dict)  # modality -> genetic dropout


class ContIGModel(nn.Module):
    """Image encoder plus one genetic encoder per modality.

    ``forward(images, genetics, masks)`` returns per modality the image projections of all
    rows and the genetic projections (zero rows where the modality is absent; the encoder only
    sees present rows).
    """

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec
        heads = list(spec.modalities) if spec.method == "contig" else (
            ["simclr"] if spec.method == "simclr" else [])
        self.image_encoder = ImageEncoder(spec.backbone, heads=heads, proj_dim=spec.proj_dim)
        self.genetic_encoders = nn.ModuleDict()
        if spec.method == "contig":
            for m, n in spec.modalities.items():
                self.genetic_encoders[m] = GeneticEncoder(
                    n, hidden=spec.hidden, n_layers=spec.genetic_layers, proj_dim=spec.proj_dim,
                    dropout=spec.dropout.get(m, 0.0))

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
