"""Checks of explanations against a simulated cohort's truth (``contig-simulate``'s truth.json).

- :func:`planted_features`: per modality the features that drive the images (major causal
  variants, the effect genes, the PGS of the image traits) and those that do not.
- :func:`changed_region`: where the simulator's renderer changes the pixels when one image
  trait moves (rendered twice with every nuisance factor neutral: a left eye, no rotation, no
  illumination gradient, no camera cast), as a map and a region.
"""

from __future__ import annotations

import numpy as np


def planted_features(truth: dict) -> dict[str, dict[str, list[str]]]:
    """``{modality: {"image": [...], "other": [...]}}`` from a parsed truth.json.

    ``raw``: major causal variant IDs of the image traits / of the other traits; ``pgs``:
    ``PGS_<trait>`` columns; ``burden``: effect genes (every effect gene drives an image trait;
    ``other`` lists no gene).
    """
    traits = truth["traits"]
    image = [t for t, v in traits.items() if v.get("image_property")]
    other = [t for t in traits if t not in image]
    return {
        "raw": {"image": [c["variant_id"] for t in image for c in traits[t]["causal_variants"]],
                "other": [c["variant_id"] for t in other for c in traits[t]["causal_variants"]]},
        "pgs": {"image": [f"PGS_{t}" for t in image], "other": [f"PGS_{t}" for t in other]},
        "burden": {"image": [g["gene"] for t in image for g in traits[t]["burden_genes"]],
                   "other": [g["gene"] for t in other for g in traits[t]["burden_genes"]]},
    }


def trait_features(truth: dict, trait: str) -> list[str]:
    """Every genetic feature that drives ``trait``: its PGS, causal variants and effect genes."""
    t = truth["traits"][trait]
    return ([f"PGS_{trait}"] + [c["variant_id"] for c in t["causal_variants"]]
            + [g["gene"] for g in t["burden_genes"]])


def changed_region(*, trait: str, image_size: int, delta: float = 1.5,
                   threshold: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """``(change, region)``: mean |pixel change| (S, S) between ``trait`` = +delta and -delta
    (other traits 0; lesion spots switched off unless ``trait`` is ``lesion``: the spots are
    random, and the disc size moves where they may fall), and the pixels whose change exceeds
    ``threshold`` x its maximum."""
    from ..simulate import images as simg

    tp = simg.make_template(image_size=image_size)
    nuis = simg.Nuisance(angle=0.0, right_eye=False, gain=1.0, gradient=0.0, gradient_dir=0.0,
                         cast=np.ones(3))
    base = {k: 0.0 for k in simg.IMAGE_TRAITS}
    if trait != "lesion":
        base["lesion"] = -3.0      # Poisson mean exp(1.4 - 2.1) = 0.5; rng seed 1 draws 0
    pics = []
    for sign in (1.0, -1.0):
        pics.append(simg.render_eye(template=tp, traits={**base, trait: sign * delta},
                                    nuisance=nuis, rng=np.random.default_rng(1))
                    .astype(np.float64))
    change = np.abs(pics[0] - pics[1]).mean(axis=2)
    return change, change > threshold * change.max()
