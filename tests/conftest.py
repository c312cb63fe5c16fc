"""Shared fixtures: a tiny simulated cohort, made once per test session.

``tiny_cohort`` is the Path of a cohort directory written by ``contig-simulate``'s library
function (400 individuals, 3,000 variants on 3 chromosomes, 32-pixel images, seed 1): every
file listed in docs/CONTRACTS.md is there. Treat it as read-only (copy it to change it).
``tiny_cohort_truth`` is its parsed truth.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

TINY_COHORT = dict(seed=1, n_individuals=400, n_snps=3000, n_chromosomes=3, image_size=32)


@pytest.fixture(scope="session")
def tiny_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from contig_gwas.simulate import simulate_cohort

    out = tmp_path_factory.mktemp("tiny_cohort") / "cohort"
    simulate_cohort(out_dir=out, progress=False, **TINY_COHORT)
    return out


@pytest.fixture(scope="session")
def tiny_cohort_truth(tiny_cohort: Path) -> dict:
    return json.loads((tiny_cohort / "truth.json").read_text())
