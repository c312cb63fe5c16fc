"""The skeleton both GWAS modes run through (dataset layer): files in, summary statistics out.

``run_mode(mode, options, log=...)`` is ``scan_run(open_run(...))``:

1. ``open_run``: check the options, prepare the inputs (``inputs.prepare_inputs``: genotypes,
   phenotypes and covariates aligned on IID, phenotype groups), select the tested variants
   (``select_variants``: ``--chr``/``--range``, chromosomes contiguous), split them into chunks
   of at most ``block_size`` variants that never cross a chromosome (``split_chunks``), and
   check that a leave-one-chromosome-out model has two chromosomes to leave out
   (``check_loco``);
2. ``scan_run``: open the chunk directory (``chunks.ChunkStore``, resumed when its signature
   matches), fit the mode's model (``GwasMode.fit``: the exact mode's similarity, the scalable
   mode's step 1), test every unfinished chunk (``GwasMode.scan_chunk``, with the model of its
   chromosome from ``GwasMode.build_model``: the exact mode's eigendecompositions and null
   models) and write it with its completion marker, merge the chunks into
   ``PREFIX.<phenotype>.sumstats.tsv.gz`` and ``PREFIX.nullmodel.tsv`` (``results``), remove
   the chunk directory and return a ``GwasSummary``.

Threads (``GwasOptions.threads``): one pool of worker threads (``parallel.Workers``) serves
the whole run, each thread calling single-threaded BLAS. Chunks are tested in parallel and
written in order; the models of the next chromosomes are built while the current one's
chunks are tested; the modes run their own passes over the genotypes on the same pool. Every
task is a fixed piece of work and sums over tasks are added in task order, so the outputs are
the same bytes for any number of threads.

What differs between the modes is a ``GwasMode`` (``engine.ExactMode``,
``scalable.engine.ScalableMode``). Bad input raises ``InputError``; a chunk directory the run
created is removed with it, so nothing is left behind but the log.
"""

from __future__ import annotations

import sys
import time
from abc import ABC, abstractmethod
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from typing import Any, Hashable

import numpy as np
import pandas as pd

from ..errors import InputError
from ..outputs import file_stem, refuse_to_overwrite
from ..runlog import NullLog, RunLog
from .chunks import ChunkStore, file_signature
from .inputs import GwasInputs, prepare_inputs
from .parallel import Workers, single_threaded_blas
from .results import CHUNK_LAYOUT, merge_results

__all__ = ["GwasOptions", "GwasSummary", "GwasMode", "GwasRun", "run_mode", "open_run",
           "scan_run", "output_paths", "select_variants", "split_chunks",
           "file_signatures", "check_loco"]


@dataclass
class GwasOptions:
    """Everything a run depends on (the command line maps onto this one to one).

    ``binary``: which phenotypes are case-control (``"auto"``, ``"none"`` or names,
    ``binary.detect``); ``binary_test``: how they are tested (``binary.model.BINARY_TESTS``).
    """

    out: str
    pheno: str
    bfile: str | None = None
    pfile: str | None = None
    bgen: str | None = None
    sample: str | None = None
    extract: str | None = None
    exclude: str | None = None
    pheno_names: list[str] | None = None
    covar: str | None = None
    covar_names: list[str] | None = None
    keep: str | None = None
    remove: str | None = None
    chromosomes: list[int] | None = None
    region: tuple[int, int, int] | None = None
    maf: float | None = None
    geno: float | None = None
    hwe: float | None = None
    info: float | None = None
    grm_bfile: str | None = None
    loco: bool = True
    linear: bool = False
    reml: bool = True
    block_size: int = 1000
    binary: str | list[str] = "auto"
    binary_test: str = "firth"
    threads: int = 1
    overwrite: bool = False
    progress: bool = True

    def qc_thresholds(self) -> dict:
        """The variant-QC keywords of ``qc.variant_qc`` (``maf``, ``geno``, ``hwe``,
        ``min_info``)."""
        return dict(maf=self.maf, geno=self.geno, hwe=self.hwe, min_info=self.info)


@dataclass
class GwasSummary:
    """What a run produced."""

    sumstats: dict[str, str]
    nullmodel: str | None
    lambda_gc: dict[str, float]
    n_variants_tested: int
    qc_removed: dict[str, int]
    n_individuals: dict[str, int]
    resumed_chunks: int
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class GwasRun:
    """A run whose inputs are prepared (``open_run``).

    Attributes:
        options: the run's options.
        inputs: the aligned inputs.
        log: where counts, warnings and timings go.
        chromosome: chromosome code of every variant of the test genotypes, shape (M,).
        selected: the tested variants (indices, chromosomes contiguous), shape (M_t,).
        chunks: ``selected`` in chunks of at most ``block_size`` variants, one chromosome each.
        timings: seconds per step, in the order the steps ran.
        t_start: ``time.perf_counter()`` when the run started.
        workers: the run's worker threads (set by ``scan_run`` for ``GwasMode.fit``).
    """

    options: GwasOptions
    inputs: GwasInputs
    log: RunLog
    chromosome: np.ndarray
    selected: np.ndarray
    chunks: list[np.ndarray]
    timings: dict[str, float]
    t_start: float
    workers: Workers | None = None

    def tested_chromosomes(self) -> list[int]:
        """Chromosome codes of the tested variants, ascending."""
        return sorted(set(self.chromosome[self.selected].tolist()))


class GwasMode(ABC):
    """What one association mode supplies to the driver.

    Attributes:
        uses_grm: open ``--grm-bfile`` (False for ordinary least squares).
        builds_model: this run builds its genetic model from genotypes (False: ordinary least
            squares, or a saved step 1); with ``--loco`` they must span two chromosomes
            (``check_loco``).
        progress_label: the progress bar's label.
        scan_timing: the scan's name among the timings.
        signature: entries the chunk directory's signature holds beside the options and the
            input files (a resumed run must match them).
        extra_inputs: input files beside the options' (name -> path or None), in the signature.
        extra_outputs: output files beside the summary statistics and the null-model table
            (never overwritten without ``--overwrite``).
    """

    uses_grm: bool = True
    builds_model: bool = True
    progress_label: str = "contig-gwas"
    scan_timing: str = "scan"
    signature: dict
    extra_inputs: dict[str, str | None]
    extra_outputs: list[str]

    def check(self, log: RunLog) -> None:
        """Check the mode's own options before any input is read (``InputError``)."""

    def start(self, run: GwasRun) -> None:
        """Set-up from the prepared inputs that reads no genotype; runs before the chunk
        directory is opened, outside the BLAS thread limit."""

    @abstractmethod
    def null_labels(self, run: GwasRun) -> list[str] | None:
        """The labels of the null-model tables ``fit``/``scan_chunk`` write to the chunk
        directory (``ChunkStore.null_path``), in output order; None: no null model."""

    @abstractmethod
    def fit(self, run: GwasRun, store: ChunkStore, done: set[int]) -> None:
        """Fit what the scan needs (``done``: chunks finished by an interrupted run), adding its
        timings to ``run.timings``; with single-threaded BLAS, on ``run.workers``."""

    def model_key(self, chromosome: int) -> Hashable:
        """Which model tests the chunks of ``chromosome`` (chunks with equal keys share one
        ``build_model``); default: one model for all."""
        return None

    def build_model(self, key: Hashable) -> object:
        """Build the model of ``key`` (on a worker thread, beside other builds and chunk
        tests: it must not change the mode's state)."""
        return None

    def models_ahead(self, threads: int) -> int:
        """Models built ahead of the one in use (memory: each is held until its chunks are
        tested); default ``threads - 1``."""
        return threads - 1

    def use_model(self, key: Hashable, model: Any) -> None:
        """Before the first chunk of ``key`` is tested, in scan order, in the driver's thread
        (e.g. write the model's null-model table)."""

    @abstractmethod
    def scan_chunk(self, variants: np.ndarray, *, chromosome: int,
                   model: Any) -> dict[str, np.ndarray]:
        """Read and test the variants ``variants`` (indices, one chromosome) against every
        phenotype with ``model`` (``build_model``): the arrays of ``results.pack_chunk``. Runs
        on a worker thread, beside other chunks: it must not change the mode's state."""

    def close_scan(self) -> None:
        """After the last chunk: log what the scan cost beyond its total."""

    def finish(self) -> None:
        """After the merge: write the mode's own outputs (``extra_outputs``)."""


def output_paths(out: str, names: list[str]) -> dict[str, str]:
    """``PREFIX.<phenotype>.sumstats.tsv.gz`` of every phenotype (name -> path)."""
    return {n: f"{out}.{file_stem(n)}.sumstats.tsv.gz" for n in names}


def select_variants(variants: pd.DataFrame, *, chromosomes: list[int] | None,
                    region: tuple[int, int, int] | None, source: str) -> np.ndarray:
    """The variants to test (``--chr``, ``--range``), chromosomes contiguous (stable: file order
    within a chromosome).

    Args:
        variants: the genotype source's variant table (``chromosome``, ``position``).
        chromosomes: chromosome codes to keep, or None for all.
        region: ``(chromosome, start, end)`` inclusive, or None.
        source: the genotype file, for error messages.
    Returns:
        indices into ``variants``, shape (M_t,).
    Raises:
        InputError when nothing is left.
    """
    chrom = variants["chromosome"].to_numpy()
    mask = np.ones(len(variants), dtype=bool)
    if chromosomes is not None:
        absent = sorted(set(chromosomes) - set(np.unique(chrom).tolist()))
        if len(absent) == len(chromosomes):
            raise InputError(f"{source}: no variant on chromosome(s) {absent} (--chr)")
        mask &= np.isin(chrom, chromosomes)
    if region is not None:
        c, a, b = region
        pos = variants["position"].to_numpy()
        mask &= (chrom == c) & (pos >= a) & (pos <= b)
    sel = np.flatnonzero(mask)
    if len(sel) == 0:
        raise InputError(f"{source}: no variant left after --chr/--range")
    return sel[np.argsort(chrom[sel], kind="stable")]


def split_chunks(selected: np.ndarray, chromosome: np.ndarray,
                 block_size: int) -> list[np.ndarray]:
    """``selected`` (chromosomes contiguous) in chunks of at most ``block_size`` variants, each
    within one chromosome (``chromosome``: code per variant of the source)."""
    out: list[np.ndarray] = []
    c = chromosome[selected]
    bounds = np.flatnonzero(np.diff(c)) + 1
    for part in np.split(selected, bounds):
        out.extend(part[a:a + block_size] for a in range(0, len(part), block_size))
    return out


def file_signatures(o: GwasOptions, **extra: str | None) -> dict:
    """Size and time stamp of every input file of ``o`` and of ``extra`` (name -> path): the
    chunk directory's signature."""
    files = {"bed": (o.bfile + ".bed") if o.bfile else None,
             "pgen": (o.pfile + ".pgen") if o.pfile else None, "bgen": o.bgen, "pheno": o.pheno,
             "covar": o.covar, "keep": o.keep, "remove": o.remove, "extract": o.extract,
             "exclude": o.exclude,
             "grm": (o.grm_bfile + ".bed") if o.grm_bfile else None, **extra}
    return {k: file_signature(v) for k, v in files.items()}


def check_loco(o: GwasOptions, inputs: GwasInputs) -> None:
    """Raise InputError unless the similarity genotypes span two chromosomes (leave one out)."""
    src = inputs.grm if inputs.grm is not None else inputs.source
    chrom = np.unique(src.variants["chromosome"].to_numpy())
    if len(chrom) < 2:
        raise InputError(f"{o.grm_bfile or inputs.source.path}: leave-one-chromosome-out needs "
                         f"variants on at least two chromosomes, found {chrom.tolist()}; use "
                         f"--no-loco (or --grm-bfile with genome-wide genotypes)")


def open_run(mode: GwasMode, options: GwasOptions, *, log: RunLog | None = None) -> GwasRun:
    """Check the options, prepare the inputs and plan the chunks (step 1 of the module
    docstring); then ``mode.start``."""
    o = options
    log = log if log is not None else NullLog()
    t_start = time.perf_counter()
    if o.block_size < 1:
        raise InputError(f"--block-size must be positive, got {o.block_size}")
    if o.threads < 1:
        raise InputError(f"--threads must be positive, got {o.threads}")
    mode.check(log)
    inp = prepare_inputs(o, log, use_grm=mode.uses_grm)
    source = inp.source
    chrom = source.variants["chromosome"].to_numpy()
    sel = select_variants(source.variants, chromosomes=o.chromosomes, region=o.region,
                          source=source.path)
    chunks = split_chunks(sel, chrom, o.block_size)
    log.info(f"variants: {len(source.variants)} in {source.path}; {len(sel)} selected, "
             f"{len(chunks)} chunks of at most {o.block_size}")
    if o.loco and mode.builds_model:
        check_loco(o, inp)
    run = GwasRun(options=o, inputs=inp, log=log, chromosome=chrom, selected=sel, chunks=chunks,
                  timings={}, t_start=t_start)
    mode.start(run)
    return run


def scan_run(run: GwasRun, mode: GwasMode, *,
             fail_after_chunks: int | None = None) -> GwasSummary:
    """Fit, scan the unfinished chunks and merge (step 2 of the module docstring).

    Args:
        fail_after_chunks: testing hook: raise RuntimeError after writing this many chunks
            (simulates an interruption; the chunk directory is kept for resuming).
    """
    o, inp, log, timings = run.options, run.inputs, run.log, run.timings
    names = [n for g in run.inputs.groups for n in g.names]
    paths = output_paths(o.out, names)
    labels = mode.null_labels(run)
    null_path = f"{o.out}.nullmodel.tsv" if labels is not None else None
    # the thread count is not part of the signature: the outputs do not depend on it, so a run
    # interrupted on one machine resumes on another with other CPUs
    signature = {"chunk_layout": CHUNK_LAYOUT,
                 "options": {k: v for k, v in asdict(o).items()
                             if k not in ("overwrite", "progress", "threads")},
                 "files": file_signatures(o, **mode.extra_inputs), **mode.signature}
    store = ChunkStore(o.out + ".chunks")
    outputs = list(paths.values()) + ([null_path] if null_path else []) + mode.extra_outputs
    if not store.dir.exists():
        refuse_to_overwrite(outputs, overwrite=o.overwrite)
    resumed = store.open(signature, overwrite=o.overwrite)
    try:
        with single_threaded_blas(), Workers(o.threads) as workers:
            run.workers = workers
            done = store.done_set(len(run.chunks))
            if resumed:
                log.info(f"resuming {store.dir}: {len(done)} of {len(run.chunks)} chunks "
                         f"finished")
            mode.fit(run, store, done)
            t = time.perf_counter()
            _scan(store, run, mode, done, fail_after_chunks)
            mode.close_scan()
            timings[mode.scan_timing] = time.perf_counter() - t
            t = time.perf_counter()
            lam, n_tested, qc_removed = merge_results(
                store=store, n_chunks=len(run.chunks), groups=inp.groups, names=names,
                paths=paths, variants=inp.source.variants, has_info=inp.source.has_info,
                null_path=null_path, null_labels=labels or [], n_rows_max=len(run.selected),
                workers=workers)
            mode.finish()
            timings["merge"] = time.perf_counter() - t
            run.workers = None
    except InputError:
        if store.created:
            store.remove()
        raise
    store.remove()
    for name in names:
        log.info(f"lambda GC {name}: {lam[name]:.4f}")
    log.info(f"variants tested: {n_tested}; removed by QC: "
             + ", ".join(f"{k} {v}" for k, v in qc_removed.items()))
    timings["total"] = time.perf_counter() - run.t_start
    return GwasSummary(sumstats=paths, nullmodel=null_path, lambda_gc=lam,
                       n_variants_tested=n_tested, qc_removed=qc_removed,
                       n_individuals=inp.n_counts, resumed_chunks=len(done), timings=timings)


def run_mode(mode: GwasMode, options: GwasOptions, *, log: RunLog | None = None,
             fail_after_chunks: int | None = None) -> GwasSummary:
    """Run the association scan described by ``options`` in ``mode`` (the module docstring).

    Raises:
        InputError for bad input (nothing is left behind but the log).
    """
    run = open_run(mode, options, log=log)
    return scan_run(run, mode, fail_after_chunks=fail_after_chunks)


def _scan(store: ChunkStore, run: GwasRun, mode: GwasMode, done: set[int],
          fail_after_chunks: int | None) -> None:
    """Test every unfinished chunk on the run's workers and write each, in order, with its
    completion marker. The chunks of one model key (``GwasMode.model_key``) are tested once
    its model is built; the models of the next keys (``GwasMode.models_ahead``) are built
    meanwhile on the same workers."""
    from tqdm import tqdm

    workers = run.workers or Workers(1)
    todo = [(i, idx, int(run.chromosome[idx[0]])) for i, idx in enumerate(run.chunks)
            if i not in done]
    keys = list(dict.fromkeys(mode.model_key(c) for _, _, c in todo))
    ahead = max(0, min(mode.models_ahead(workers.threads), len(keys) - 1))
    builds: dict[Hashable, Future] = {}
    written = 0
    bar = tqdm(total=len(run.chunks), initial=len(done), unit="block", desc=mode.progress_label,
               disable=not run.options.progress, file=sys.stderr, leave=False)
    try:
        for k, key in enumerate(keys):
            for nxt in keys[k:k + 1 + ahead]:
                if nxt not in builds:
                    builds[nxt] = workers.submit(mode.build_model, nxt)
            model = builds.pop(key).result()
            mode.use_model(key, model)
            mine = [(i, idx, c) for i, idx, c in todo if mode.model_key(c) == key]

            def test(chunk: tuple[int, np.ndarray, int], model: Any = model
                     ) -> dict[str, np.ndarray]:
                return mode.scan_chunk(chunk[1], chromosome=chunk[2], model=model)

            for (i, _, _), arrays in zip(mine, workers.map(test, mine)):
                store.write_chunk(i, arrays)
                bar.update(1)
                written += 1
                if fail_after_chunks is not None and written >= fail_after_chunks:
                    raise RuntimeError(f"injected failure after {written} chunks")
            del model
    finally:
        bar.close()
        for f in builds.values():
            f.cancel()
