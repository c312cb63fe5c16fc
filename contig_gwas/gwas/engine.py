"""The exact GWAS mode (dataset layer): FaST-LMM mathematics, or ordinary least squares.

``run_gwas(options, log=...)`` runs ``ExactMode`` through the driver (``driver.run_mode``:
inputs, chunks, resume, merge):

1. (LMM) one pass over the similarity genotypes (``--grm-bfile``, or every variant of the test
   genotypes passing QC) accumulating ``Z_c Z_c'`` per chromosome and phenotype group
   (``kinship.KinshipAccumulator``), saved in the chunk directory so that an interrupted run
   reuses it (``LocoKinship.save``/``load``);
2. per chromosome and group, the eigendecomposition of the leave-one-chromosome-out kernel and
   the null model of every phenotype (``lmm.GroupSolver``: ``nullmodel``), whose fits go to
   ``PREFIX.nullmodel.tsv``; then per chunk the batched test of every variant against every
   phenotype (``association``). ``--linear``: no kernel, the OLS test.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io.genotypes import variant_selection
from ..outputs import atomic_path
from ..runlog import NullLog, RunLog
from .chunks import ChunkStore
from .design import PhenotypeGroup
from .driver import GwasMode, GwasOptions, GwasRun, GwasSummary, output_paths, run_mode
from .kinship import KinshipAccumulator, LocoKinship
from .lmm import GroupSolver, lambda_gc
from .qc import variant_qc
from .results import pack_chunk

__all__ = ["GwasOptions", "GwasSummary", "ExactMode", "run_gwas", "loco_kinships",
           "lambda_gc", "output_paths"]


def run_gwas(options: GwasOptions, *, log: RunLog | None = None,
             fail_after_chunks: int | None = None) -> GwasSummary:
    """Run the exact (or ``--linear``) association scan described by ``options``.

    Args:
        options: see GwasOptions.
        log: where counts, warnings and timings go.
        fail_after_chunks: testing hook: raise RuntimeError after writing this many chunks
            (simulates an interruption; the chunk directory is kept for resuming).
    Raises:
        InputError for bad input (nothing is left behind but the log).
    """
    return run_mode(ExactMode(options), options, log=log, fail_after_chunks=fail_after_chunks)


class ExactMode(GwasMode):
    """The exact mode's ``GwasMode``: per group and left-out chromosome, the eigendecomposition
    of the kernel and the null models (``GroupSolver``), built when the scan reaches the
    chromosome; ``linear``: the OLS test of every group."""

    def __init__(self, options: GwasOptions) -> None:
        self.options = options
        self.uses_grm = not options.linear
        self.builds_model = not options.linear
        self.signature: dict = {}
        self.extra_inputs: dict[str, str | None] = {}
        self.extra_outputs: list[str] = []

    def null_labels(self, run: GwasRun) -> list[str] | None:
        """The left-out chromosome of every chunk's kernel, in scan order (``all``: one
        kernel, ``--no-loco``); None for OLS."""
        o = self.options
        if o.linear:
            return None
        if not o.loco:
            return ["all"]
        return [str(c) for c in dict.fromkeys(int(run.chromosome[ch[0]]) for ch in run.chunks)]

    def fit(self, run: GwasRun, store: ChunkStore, done: set[int]) -> None:
        """The similarity of every group (unless every chunk is finished, or OLS)."""
        o, inp = self.options, run.inputs
        self.run, self.store = run, store
        self.kinships: list[LocoKinship] | None = None
        self.solvers: list[GroupSolver] = []
        self.label: str | None = None
        self.t_models = 0.0
        if not o.linear and len(done) < len(run.chunks):
            t = time.perf_counter()
            # default similarity: every variant of the test genotypes passing QC, whatever
            # --chr/--range select for testing (so chunked runs share one similarity)
            self.kinships = loco_kinships(
                store=store, groups=inp.groups,
                source=inp.grm if inp.grm is not None else inp.source, rows=inp.grm_rows,
                qc_thresholds=o.qc_thresholds() if inp.grm is None else None,
                block_size=o.block_size, log=run.log)
            run.timings["similarity"] = time.perf_counter() - t

    def scan_chunk(self, variants: np.ndarray, *, chromosome: int) -> dict[str, np.ndarray]:
        """Test one chunk; first build the solvers of its kernel when it changes."""
        o, inp = self.options, self.run.inputs
        label = "ols" if o.linear else (str(chromosome) if o.loco else "all")
        if label != self.label:
            t = time.perf_counter()
            self.solvers = [GroupSolver.build(
                group=g, kinship=None if self.kinships is None else self.kinships[k],
                leave_out=chromosome if o.loco else None, reml=o.reml, linear=o.linear)
                for k, g in enumerate(inp.groups)]
            self.t_models += time.perf_counter() - t
            if not o.linear:
                rows = [row for s in self.solvers for row in s.null_rows(label)]
                with atomic_path(self.store.null_path(label)) as tmp:
                    pd.DataFrame(rows).to_csv(tmp, sep="\t", index=False)
            self.label = label
        block = inp.source.read(samples=inp.geno_rows, variants=variant_selection(variants))
        qc = variant_qc(dosages=block.dosages, info=block.info, **o.qc_thresholds())
        keep = qc.keep
        dk = block.dosages[:, keep]
        res = []
        for s, g in zip(self.solvers, inp.groups):
            r, af, n_ok = s.test(dk[g.rows])
            res.append((af, n_ok, r))
        return pack_chunk(variants=variants[keep], qc_fail=qc.fail, groups=res,
                          info=None if block.info is None else np.asarray(block.info)[keep])

    def close_scan(self) -> None:
        self.run.timings["eigendecompositions and null models"] = self.t_models
        self.run.log.info(f"eigendecompositions and null models: {self.t_models:.1f}s")


def loco_kinships(*, store: ChunkStore, groups: list[PhenotypeGroup], source, rows: np.ndarray,
                  qc_thresholds: dict | None, block_size: int,
                  log: RunLog | None = None) -> list[LocoKinship]:
    """Per group, the per-chromosome similarity products of every variant of ``source``
    (chromosomes contiguous), in one pass; saved in the chunk directory, and read from it when
    an interrupted run saved them.

    Args:
        store: the run's chunk directory.
        groups: phenotype groups (their ``rows`` index ``rows``).
        source: the similarity genotypes; ``rows``: the analysed individuals' rows in it.
        qc_thresholds: ``qc.variant_qc`` keywords applied to each block, or None for no QC.
        block_size: variants per block.
    Raises:
        InputError when no variant passes QC, or a group has no polymorphic variant.
    """
    log = log if log is not None else NullLog()
    paths = [store.kinship_path(k) for k in range(len(groups))]
    if all(p.exists() for p in paths):
        log.info("genetic similarity: reused from the interrupted run")
        return [LocoKinship.load(p) for p in paths]
    accs = [KinshipAccumulator(n=g.n, spill_dir=store.kinship_dir, prefix=f"g{k}")
            for k, g in enumerate(groups)]
    chrom_all = source.variants["chromosome"].to_numpy()
    variants = np.argsort(chrom_all, kind="stable")
    offset = 0
    n_used = 0
    with log.step("genetic similarity (one pass over the genotypes)"):
        for block in source.iter_blocks(samples=rows, variants=variants, block_size=block_size):
            idx = variants[offset:offset + block.dosages.shape[1]]
            offset += len(idx)
            d = block.dosages
            if qc_thresholds is not None:
                keep = variant_qc(dosages=d, info=block.info, **qc_thresholds).keep
                d, idx = d[:, keep], idx[keep]
            n_used += len(idx)
            for acc, g in zip(accs, groups):
                acc.add(d[g.rows], chromosomes=chrom_all[idx])
    if n_used == 0:
        raise InputError(f"{source.path}: no variant passed QC to build the genetic similarity; "
                         f"relax --maf/--geno/--hwe/--info")
    try:
        kins = [acc.finish() for acc in accs]
    except ValueError as exc:  # every kept variant constant within a phenotype group
        raise InputError(f"{source.path}: {exc}") from None
    log.info(f"genetic similarity: {n_used} variants over "
             f"{len(kins[0].chrom_count)} chromosomes (standardised, mean-imputed, FaST-LMM)")
    for kin, path in zip(kins, paths):
        kin.save(path)
    return kins
