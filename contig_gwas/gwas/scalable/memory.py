"""Peak memory of the scalable mode, per phenotype group (bytes): the formula that
``engine.peak_memory_bytes`` states and ``bench/gwas_scalable.py`` and ``bench/scaling.py``
print beside the measured peak.

    codes:   ceil(N / 4) M1 (2-bit codes, ``codes.Step1Genotypes(bits=2)``; a memory-mapped
             .bed counts its pages as they are read) or N M1 (8-bit codes)
    vectors: 8 N (9 C P + 4 (P + n_probes + n_cal) + 10 P)   Krylov vectors, kept Lanczos
             vectors and the step-1 solutions kept for step 2
    sums:    4 N k (T + 1)        one float32 sum per step-1 task in flight, k the widest pass
                                  (C P or P + n_probes + n_cal), T threads
    decode:  4 N b (T + 1)        one standardised float32 block per task in flight
                                  (b = ``codes.default_block(N)`` variants)
    step 2:  10 N B (T + 1)       one test block per chunk in flight (B variants)
    base:    200 MiB              interpreter and libraries

for N individuals, M1 model variants, C chromosomes, P phenotypes. At 500,000 x 500,000 model
variants the codes are 62.5 GB at 2 bits (250 GB at 8 bits).
"""

from __future__ import annotations

from .codes import default_block

__all__ = ["peak_memory_bytes", "codes_bytes"]


def codes_bytes(*, n: int, m_model: int, bits: int = 2) -> int:
    """Bytes of the model variants' codes: ``ceil(N / 4) M1`` (2 bits) or ``N M1`` (8)."""
    return m_model * (-(-n // 4) if bits == 2 else n)


def peak_memory_bytes(*, n: int, m_model: int, chromosomes: int, phenotypes: int,
                      block_size: int, n_probes: int = 20, n_calibration: int = 30,
                      threads: int = 1, bits: int = 2) -> int:
    """The module docstring's peak-memory formula for one phenotype group."""
    c, p = chromosomes, phenotypes
    k = max(c * p, p + n_probes + n_calibration)
    return int(codes_bytes(n=n, m_model=m_model, bits=bits)
               + 8 * n * (9 * c * p + 4 * (p + n_probes + n_calibration) + 10 * p)
               + 4 * n * k * (threads + 1) + 4 * n * default_block(n) * (threads + 1)
               + 10 * n * block_size * (threads + 1) + 200 * 2 ** 20)
