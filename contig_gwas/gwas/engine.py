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

Case-control phenotypes (a group with ``binary``, ``binary.block``): the linear mixed model
is fitted on the 0/1 scale as for a quantitative trait, and gives every individual's
leave-one-out LOCO polygenic prediction (``loco_predictions``), which enters the logistic null
model as a covariate; the variants are tested by the score test with the chosen correction.
``--linear``: logistic regression without a polygenic term.

With ``--threads T`` the similarity's block products run as tiles on T threads, up to T
chromosomes' kernels are decomposed at once (one thread each) and chunks are tested in
parallel (``driver``); the outputs are the same bytes for any T.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io.genotypes import variant_selection
from ..outputs import atomic_path
from ..runlog import NullLog, RunLog
from .association import GroupModel
from .binary.block import BinaryGroupModel
from .chunks import ChunkStore
from .design import PhenotypeGroup
from .driver import GwasMode, GwasOptions, GwasRun, GwasSummary, output_paths, run_mode
from .kinship import KinshipAccumulator, LocoKinship
from .lmm import GroupSolver, lambda_gc
from .parallel import Workers
from .qc import variant_qc
from .results import pack_chunk

__all__ = ["GwasOptions", "GwasSummary", "ExactMode", "run_gwas", "loco_kinships",
           "lambda_gc", "output_paths", "loco_predictions"]


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
    of the kernel and the null models (``GroupSolver``), one model per chromosome built on a
    worker thread while earlier chromosomes are tested; ``linear``: the OLS test of every
    group."""

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
        self.t_models = 0.0
        if not o.linear and len(done) < len(run.chunks):
            t = time.perf_counter()
            # default similarity: every variant of the test genotypes passing QC, whatever
            # --chr/--range select for testing (so chunked runs share one similarity)
            self.kinships = loco_kinships(
                store=store, groups=inp.groups,
                source=inp.grm if inp.grm is not None else inp.source, rows=inp.grm_rows,
                qc_thresholds=o.qc_thresholds() if inp.grm is None else None,
                block_size=o.block_size, log=run.log, workers=run.workers)
            run.timings["similarity"] = time.perf_counter() - t

    def model_key(self, chromosome: int) -> str:
        """The kernel's label: the left-out chromosome, ``all`` (``--no-loco``) or ``ols``."""
        o = self.options
        return "ols" if o.linear else (str(chromosome) if o.loco else "all")

    def build_model(self, key) -> tuple[list[GroupSolver], list[BinaryGroupModel | None],
                                        float]:
        """Every group's solver for the kernel ``key`` (eigendecomposition and null models),
        the logistic null models of the binary groups, and the seconds it took."""
        o, inp = self.options, self.run.inputs
        t = time.perf_counter()
        solvers = [GroupSolver.build(
            group=g, kinship=None if self.kinships is None else self.kinships[k],
            leave_out=int(key) if key not in ("ols", "all") else None, reml=o.reml,
            linear=o.linear) for k, g in enumerate(inp.groups)]
        binary = [None if not g.binary else BinaryGroupModel.build(
            group=g, test=o.binary_test, linear=o.linear,
            predictions=None if o.linear else _zero_at_lower_bound(
                loco_predictions(s.model, g), s))
            for s, g in zip(solvers, inp.groups)]
        return solvers, binary, time.perf_counter() - t

    def models_ahead(self, threads: int) -> int:
        """Kernels decomposed ahead: ``threads - 1``, fewer where their eigendecompositions
        (about ``5 x 8 N^2`` bytes each while it runs, ``8 N^2`` held) would take more than
        half the machine's memory."""
        n2 = sum(g.n ** 2 for g in self.run.inputs.groups)
        return max(0, min(threads, _memory_bytes() // 2 // max(40 * n2, 1)) - 1)

    def use_model(self, key, model) -> None:
        """Write the kernel's null-model table (not for OLS)."""
        solvers, binary, seconds = model
        self.t_models += seconds
        if not self.options.linear:
            rows = []
            for s, b in zip(solvers, binary):
                part = s.null_rows(key)
                for row, extra in zip(part, b.null_rows() if b is not None else []):
                    row.update(extra)
                rows.extend(part)
            with atomic_path(self.store.null_path(key)) as tmp:
                pd.DataFrame(rows).to_csv(tmp, sep="\t", index=False)

    def scan_chunk(self, variants: np.ndarray, *, chromosome: int,
                   model: Any) -> dict[str, np.ndarray]:
        """Test one chunk with the solvers of its kernel."""
        o, inp = self.options, self.run.inputs
        solvers, binary, _ = model
        block = inp.source.read(samples=inp.geno_rows, variants=variant_selection(variants))
        qc = variant_qc(dosages=block.dosages, info=block.info, **o.qc_thresholds())
        keep = qc.keep
        dk = block.dosages[:, keep]
        res = []
        extras: list[dict[str, np.ndarray] | None] = []
        for s, b, g in zip(solvers, binary, inp.groups):
            if b is not None:
                af, n_ok, r, extra = b.test(dk[g.rows])
                res.append((af, n_ok, r))
                extras.append(extra)
                continue
            r, af, n_ok = s.test(dk[g.rows])
            res.append((af, n_ok, r))
            extras.append(None)
        return pack_chunk(variants=variants[keep], qc_fail=qc.fail, groups=res,
                          info=None if block.info is None else np.asarray(block.info)[keep],
                          binary=extras)

    def close_scan(self) -> None:
        self.run.timings["eigendecompositions and null models"] = self.t_models
        self.run.log.info(f"eigendecompositions and null models: {self.t_models:.1f}s "
                          f"(summed over the threads that built them)")


def _memory_bytes() -> int:
    """Physical memory of the machine (bytes; 64 GiB where it cannot be read)."""
    import os

    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 64 << 30


def loco_kinships(*, store: ChunkStore, groups: list[PhenotypeGroup], source, rows: np.ndarray,
                  qc_thresholds: dict | None, block_size: int,
                  log: RunLog | None = None, workers: Workers | None = None
                  ) -> list[LocoKinship]:
    """Per group, the per-chromosome similarity products of every variant of ``source``
    (chromosomes contiguous), in one pass; saved in the chunk directory, and read from it when
    an interrupted run saved them.

    Args:
        store: the run's chunk directory.
        groups: phenotype groups (their ``rows`` index ``rows``).
        source: the similarity genotypes; ``rows``: the analysed individuals' rows in it.
        qc_thresholds: ``qc.variant_qc`` keywords applied to each block, or None for no QC.
        block_size: variants per block.
        workers: the threads that read the next block and compute the products of the
            current one (tiles of ``Z Z'``: ``kinship.KinshipAccumulator``).
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
    n_used = 0
    workers = workers or Workers(1)

    def read(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        block = source.read(samples=rows, variants=variant_selection(idx))
        d = block.dosages
        if qc_thresholds is not None:
            keep = variant_qc(dosages=d, info=block.info, **qc_thresholds).keep
            d, idx = d[:, keep], idx[keep]
        return d, idx

    blocks = [variants[a:a + block_size] for a in range(0, len(variants), block_size)]
    with log.step("genetic similarity (one pass over the genotypes)"):
        # the next block is read while the current one's products run (window 2)
        for d, idx in workers.map(read, blocks, window=2):
            n_used += len(idx)
            for acc, g in zip(accs, groups):
                acc.add(d[g.rows], chromosomes=chrom_all[idx], workers=workers)
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


def loco_predictions(model: GroupModel, group: PhenotypeGroup) -> np.ndarray:
    """Every individual's leave-one-out polygenic prediction on the 0/1 scale from the
    group's (LOCO) mixed model (``binary.model.loco_prediction_rows``), shape (N, P).

    With ``V_p = K + delta_p I = U diag(1/w_p) U'``: ``u = Pi_p y_p = U (w_p * (U'y_p -
    U'X c_p))`` and ``diag(V_p^-1) = (U * U) w_p``: ``N^2 (P + 1)`` flops beside the ``N^3``
    eigendecomposition.
    """
    from .binary.model import loco_prediction_rows

    assert model.U is not None, "a mixed model"
    U, W = model.U, model.W
    u = U @ (W * (model.UtY - model.UtX @ model.c.T))
    Y, X = group.Y, group.X
    Py = Y - X @ np.linalg.lstsq(X, Y, rcond=None)[0]
    return loco_prediction_rows(Py=Py, u=u, vinv_diag=(U * U) @ W)


def _zero_at_lower_bound(pred: np.ndarray, solver: GroupSolver) -> np.ndarray:
    """No polygenic prediction for a phenotype whose h2 is at its lower bound."""
    for j, f in enumerate(solver.fits):
        if f.at_bound and f.h2 < 0.5:
            pred[:, j] = 0.0
    return pred
