"""Shared fixtures: a tiny simulated cohort, made once per test session.

``tiny_cohort`` is the Path of a cohort directory written by ``contig-simulate``'s library
function (400 individuals, 3,000 variants on 3 chromosomes, 32-pixel images, seed 1): every
file listed in docs/CONTRACTS.md is there. Treat it as read-only (copy it to change it).
``tiny_cohort_truth`` is its parsed truth.json.

``one_torch_thread`` runs a test with one intra-op torch thread; the torch test modules use it
for all their tests (``pytestmark = pytest.mark.usefixtures("one_torch_thread")``).

Helpers that are functions rather than fixtures live in modules beside this one, which are not
test modules: ``tolerances`` (comparison tolerances), ``gwas_cohort`` (small PLINK cohorts for
the GWAS tests), ``pretrain_cohort`` (a tiny contig-pretrain cohort).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

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


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """One intra-op torch thread during the test, the former count restored after: on a shared
    2-core machine two threads run many times slower."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
