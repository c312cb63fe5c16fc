"""The memory and time each cluster job of the workflow asks for, from the study's size.

The GWAS and h2 jobs' requests come from the memory and cost formulas of the tools (sizes of the
study in, ``Request`` out); the other rules' from fixed defaults (``FIXED``) that the config's
``resources.rules`` overrides. A request is ``safety x estimate``, at least the floor, rounded up
(memory to 100 MB, time to a minute).

Memory (bytes):
- scalable step 1 (``gwas_step1``) and step 2 (``gwas_region`` with ``--step1-in``):
  ``contig_gwas.gwas.scalable.engine.peak_memory_bytes`` per phenotype group (step 2 holds no
  model codes: ``m_model = 0``);
- exact mode (``gwas_region``): docs/methods.md "Memory",
  ``R + 8 G [(2 + 5 L) N^2 + N P (D + 3)] + 8 B (6 N + P (D + 8)) (T + 1)`` with ``L = T``
  kernels decomposed at once (``exact_peak_bytes``);
- h2 (``h2``): REML (``N`` up to ``reml_max_n``) holds about six ``N x N`` matrices (the
  similarity, its eigenvectors and the eigensolver's workspace); Haseman-Elston from genotype
  blocks above that, ``O(N (P + 50) + 10 N B (T + 1))``.

Time (seconds on T threads), with ``rate`` the sustained flops of one thread
(``gflops_per_thread``) and ``t_g`` the seconds to read and decode one genotype
(``seconds_per_genotype``; both calibrated on bench/RESULTS.md's 20,000 x 100,000 run, step 1
at 67 GFLOP/s, step 2 at 1e-8 s per genotype, and set lower by default for large cohorts):
- scalable step 1: ``N M1 t_g + 4 N M1 [(P + 50) k_L + P + C P k_CG] / rate`` (docs/methods.md,
  ``k_L = 8`` Lanczos steps, ``k_CG = 4`` CG iterations) plus its first region's step 2;
- step 2 of a region with ``M_r`` variants: ``N M_r t_g + 2 N M_r (P + D + 1) / rate``;
- exact: ``(9 N^3 c + 2 N^2 M1 + 2 N^2 M_r) / rate`` plus the read, ``c`` the region's
  chromosomes (one eigendecomposition per left-out chromosome);
- h2: REML ``(9 N^3 + 2 N^2 M1) / rate``; HE ``N M1 t_g + 2 N M1 (P + 50) / rate``.
The time is divided by T (the tools' parts run on every thread).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..gwas.scalable.engine import peak_memory_bytes

MB = 10 ** 6
RUNTIME_BYTES = 200 * 2 ** 20  # interpreter and libraries (the formulas' R)
K_LANCZOS, K_CG = 8, 4
PROBES_AND_CALIBRATION = 20 + 30

# rules without a formula: (mem_mb, runtime in minutes); resources.rules in the config overrides
FIXED: dict[str, tuple[int, int]] = {
    "simulate": (8000, 120),
    "pretrain": (32000, 720),
    "embed": (16000, 240),
    "held_out": (1000, 10),
    "phenotypes": (4000, 30),
    "gwas_gather": (8000, 60),
    "report": (16000, 120),
    "summary": (1000, 10),
}
FORMULA_RULES = ("gwas_step1", "gwas_region", "h2")


@dataclass(frozen=True)
class StudySize:
    """What the requests depend on: N individuals, tested variants M, model (similarity)
    variants M1, C chromosomes, P phenotypes, D covariates, G phenotype groups, B block size."""

    individuals: int
    variants: int
    model_variants: int
    chromosomes: int
    phenotypes: int
    covariates: int = 10
    phenotype_groups: int = 1
    block_size: int = 1000


@dataclass(frozen=True)
class Tuning:
    """Safety factor, floors and machine speeds of the requests (config ``resources``)."""

    safety: float = 1.5
    floor_mb: int = 1000
    floor_minutes: int = 10
    gflops_per_thread: float = 20.0
    seconds_per_genotype: float = 2e-8
    reml_max_n: int = 10000


@dataclass(frozen=True)
class Request:
    """One job's request: memory in MB, wall time in minutes, and the threads it runs."""

    mem_mb: int
    runtime: int
    threads: int


def exact_peak_bytes(*, n: int, phenotypes: int, covariates: int, block_size: int, threads: int,
                     groups: int = 1) -> int:
    """The exact mode's peak memory (docs/methods.md "Memory"), ``L = T`` kernels at once."""
    per_group = (2 + 5 * threads) * n * n + n * phenotypes * (covariates + 3)
    block = block_size * (6 * n + phenotypes * (covariates + 8)) * (threads + 1)
    return int(RUNTIME_BYTES + 8 * groups * per_group + 8 * block)


def scalable_peak_bytes(size: StudySize, *, threads: int, step1: bool) -> int:
    """``peak_memory_bytes`` per phenotype group; step 2 alone holds no model codes."""
    one = peak_memory_bytes(n=size.individuals, m_model=size.model_variants if step1 else 0,
                            chromosomes=size.chromosomes, phenotypes=size.phenotypes,
                            block_size=size.block_size, threads=threads)
    return size.phenotype_groups * (one - RUNTIME_BYTES) + RUNTIME_BYTES


def h2_peak_bytes(size: StudySize, *, threads: int, reml_max_n: int) -> int:
    n = size.individuals
    if n <= reml_max_n:
        return int(RUNTIME_BYTES + 6 * 8 * n * n + 8 * n * (size.phenotypes + 50))
    return int(RUNTIME_BYTES + 8 * n * (size.phenotypes + PROBES_AND_CALIBRATION)
               + 10 * n * size.block_size * (threads + 1))


def _step2_seconds(size: StudySize, variants: float, tuning: Tuning) -> float:
    n, rate = size.individuals, tuning.gflops_per_thread * 1e9
    return (n * variants * tuning.seconds_per_genotype
            + 2 * n * variants * (size.phenotypes + size.covariates + 1) / rate)


def _step1_seconds(size: StudySize, tuning: Tuning) -> float:
    n, m1, p, c = size.individuals, size.model_variants, size.phenotypes, size.chromosomes
    flops = 4 * n * m1 * ((p + PROBES_AND_CALIBRATION) * K_LANCZOS + p + c * p * K_CG)
    return n * m1 * tuning.seconds_per_genotype + flops / (tuning.gflops_per_thread * 1e9)


def _exact_seconds(size: StudySize, variants: float, chromosomes: int, tuning: Tuning) -> float:
    n, rate = size.individuals, tuning.gflops_per_thread * 1e9
    flops = 9 * n ** 3 * chromosomes + 2 * n * n * (size.model_variants + variants)
    return (size.phenotype_groups * flops / rate
            + n * (size.model_variants + variants) * tuning.seconds_per_genotype)


def _h2_seconds(size: StudySize, tuning: Tuning) -> float:
    n, m1, rate = size.individuals, size.model_variants, tuning.gflops_per_thread * 1e9
    if n <= tuning.reml_max_n:
        return (9 * n ** 3 + 2 * n * n * m1) / rate + n * m1 * tuning.seconds_per_genotype
    return (n * m1 * tuning.seconds_per_genotype
            + 2 * n * m1 * (size.phenotypes + PROBES_AND_CALIBRATION) / rate)


def _request(bytes_: float, seconds: float, *, threads: int, tuning: Tuning) -> Request:
    mem_mb = max(tuning.floor_mb, 100 * math.ceil(tuning.safety * bytes_ / MB / 100))
    minutes = max(tuning.floor_minutes, math.ceil(tuning.safety * seconds / threads / 60))
    return Request(mem_mb=int(mem_mb), runtime=int(minutes), threads=threads)


def gwas_request(size: StudySize, *, rule: str, mode: str, threads: int,
                 variant_share: float = 1.0, region_chromosomes: int = 1,
                 tuning: Tuning = Tuning()) -> Request:
    """The request of ``gwas_step1`` (scalable step 1 and the first region's scan) or of
    ``gwas_region``: a region holding ``variant_share`` of the tested variants (see
    ``region_share``) on ``region_chromosomes`` chromosomes (one LOCO kernel each)."""
    share = size.variants * variant_share
    if mode == "exact":
        return _request(exact_peak_bytes(n=size.individuals, phenotypes=size.phenotypes,
                                         covariates=size.covariates,
                                         block_size=size.block_size, threads=threads,
                                         groups=size.phenotype_groups),
                        _exact_seconds(size, share, region_chromosomes, tuning),
                        threads=threads, tuning=tuning)
    step1 = rule == "gwas_step1"
    seconds = _step2_seconds(size, share, tuning) + (_step1_seconds(size, tuning) if step1 else 0)
    return _request(scalable_peak_bytes(size, threads=threads, step1=step1), seconds,
                    threads=threads, tuning=tuning)


# GRCh37 chromosome lengths (bp), 1-22, X (23), Y (24), XY (25, pseudo-autosomal), MT (26):
# a region's share of the variants is taken as its share of the study's base pairs
CHROMOSOME_BP = {1: 249250621, 2: 243199373, 3: 198022430, 4: 191154276, 5: 180915260,
                 6: 171115067, 7: 159138663, 8: 146364022, 9: 141213431, 10: 135534747,
                 11: 135006516, 12: 133851895, 13: 115169878, 14: 107349540, 15: 102531392,
                 16: 90354753, 17: 81195210, 18: 78077248, 19: 59128983, 20: 63025520,
                 21: 48129895, 22: 51304566, 23: 155270560, 24: 59373566, 25: 2699520,
                 26: 16569}


def region_share(*, chromosomes: tuple[int, ...], start: int | None, end: int | None,
                 study_chromosomes: list[int]) -> float:
    """The share of the study's variants in a region (chromosomes, or one chromosome's
    ``start``-``end`` range), as its share of the study's base pairs (GRCh37)."""
    total = sum(CHROMOSOME_BP.get(int(c), 0) for c in study_chromosomes)
    if start is not None and end is not None:
        bp = min(end - start + 1, CHROMOSOME_BP.get(chromosomes[0], end))
    else:
        bp = sum(CHROMOSOME_BP.get(int(c), 0) for c in chromosomes)
    return min(1.0, bp / total) if total else 1.0


def h2_request(size: StudySize, *, threads: int, tuning: Tuning = Tuning()) -> Request:
    """The request of the ``h2`` job (REML up to ``tuning.reml_max_n`` individuals, else HE)."""
    return _request(h2_peak_bytes(size, threads=threads, reml_max_n=tuning.reml_max_n),
                    _h2_seconds(size, tuning), threads=threads, tuning=tuning)


def fixed_request(rule: str, *, threads: int, overrides: dict | None = None) -> Request:
    """A rule without a formula: ``FIXED`` unless ``overrides`` (mem_mb, runtime) says."""
    mem, minutes = FIXED[rule]
    o = overrides or {}
    return Request(mem_mb=int(o.get("mem_mb", mem)), runtime=int(o.get("runtime", minutes)),
                   threads=threads)


def with_individuals(size: StudySize, individuals: int) -> StudySize:
    """The same study at another number of individuals (the guide's 100k and 500k tables)."""
    return replace(size, individuals=individuals)

