"""The pretraining methods by name (no torch import: the command-line parser reads them)."""

from __future__ import annotations

#: image-only self-supervised methods: two augmented views of each image, no genetics
IMAGE_ONLY = ("simclr", "byol", "simsiam", "barlowtwins", "nnclr")
#: every ``contig-pretrain --method`` (``none``: a random-init encoder, not trained)
METHODS = ("contig", *IMAGE_ONLY, "none")
