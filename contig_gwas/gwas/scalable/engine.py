"""The scalable GWAS mode (dataset layer): files in, summary statistics out, resumable.

``run_gwas_scalable(options, log=..., step1_out=..., step1_in=...)`` takes the exact engine's
``GwasOptions`` and returns its ``GwasSummary``, with the same outputs, QC, sample handling,
bad-input behaviour and chunked resumable output (``engine``, ``chunks``, ``results``):

1. open the inputs, align individuals, clean covariates, group phenotypes (as the exact mode);
2. step 1 (``step1``), unless ``step1_in`` is given: one pass over the model genotypes (the
   test genotypes after QC, or ``--grm-bfile``) into 8-bit codes in memory, then per group
   the stochastic-REML variance components, the calibration factor and the LOCO solves of
   every phenotype; saved to ``step1_out`` when given (and to the chunk directory, so a killed
   run resumes without refitting);
3. step 2 (``step2``): one streaming pass over the test genotypes in chunks, each written
   with its completion marker, then merged into ``PREFIX.<phenotype>.sumstats.tsv.gz`` and
   ``PREFIX.nullmodel.tsv``.

Peak memory (bytes): ``N M1`` (model codes) ``+ 8 N (9 C P + 4 (P + n_probes + n_cal) + 10 P)``
(Krylov vectors and kept Lanczos vectors, and the step-1 solutions kept for step 2)
``+ 10 N B`` (one test block) per phenotype group, plus about 200 MiB of interpreter and
libraries, for N individuals, M1 model variants, C chromosomes, P phenotypes, B variants per
block (``bench/gwas_scalable.py`` prints it beside the measured peak).
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict

import numpy as np
import pandas as pd

from ...errors import InputError
from ...io.genotypes import variant_selection
from ...outputs import atomic_path, refuse_to_overwrite
from ...runlog import NullLog, RunLog
from ..association import impute_block, impute_calls
from ..chunks import ChunkStore
from ..design import PhenotypeGroup
from ..inputs import GwasInputs, prepare_inputs
from ..engine import (GwasOptions, GwasSummary, _chunks, _file_signatures, _record_chunk,
                      _select_variants, _summarise, output_paths)
from ..qc import QC_REASONS, calls_qc, variant_qc
from ..results import CHUNK_LAYOUT, merge_results, pack_chunk
from .genotypes import Step1Genotypes, default_block, encode_block, encode_calls
from .io import load_step1, save_step1
from .step1 import Step1Fit, Step1Settings, fit_step1
from .step2 import test_block

__all__ = ["run_gwas_scalable", "STATISTIC", "AUTO_MIN_INDIVIDUALS", "choose_mode",
           "peak_memory_bytes"]

AUTO_MIN_INDIVIDUALS = 10_000


def peak_memory_bytes(*, n: int, m_model: int, chromosomes: int, phenotypes: int,
                      block_size: int, n_probes: int = 20, n_calibration: int = 30) -> int:
    """The module docstring's peak-memory formula for one phenotype group."""
    return int(n * m_model + 8 * n * (9 * chromosomes * phenotypes
                                      + 4 * (phenotypes + n_probes + n_calibration)
                                      + 10 * phenotypes)
               + 10 * n * block_size + 200 * 2 ** 20)


def choose_mode(*, n_individuals: int) -> str:
    """``--mode auto``: ``"scalable"`` from ``AUTO_MIN_INDIVIDUALS`` individuals on (where
    the exact mode's per-chromosome N x N eigendecompositions, ``C N^3`` flops and ``8 N^2``
    bytes each, stop being practical), else ``"exact"``."""
    return "scalable" if n_individuals >= AUTO_MIN_INDIVIDUALS else "exact"

STATISTIC = ("BOLT-LMM-inf (Loh et al. 2015): LOCO infinitesimal model, variance components by "
             "stochastic REML (Lanczos quadrature), x'Pi y exact from conjugate-gradient solves, "
             "x'Pi x calibrated as rho |Px|^2 on sampled variants; t = beta/se with N - D - 1 "
             "degrees of freedom")


def _model_genotypes(inp: GwasInputs, o: GwasOptions, settings: Step1Settings,
                     log: RunLog) -> list[Step1Genotypes]:
    """One pass over the model variants into 8-bit codes, per group."""
    src = inp.grm if inp.grm is not None else inp.source
    chrom = src.variants["chromosome"].to_numpy()
    # all variants of the source, as the exact mode's similarity (not only --chr/--range)
    variants = np.argsort(chrom, kind="stable")
    qc_opts = None if inp.grm is not None else dict(maf=o.maf, geno=o.geno, hwe=o.hwe,
                                                     min_info=o.info)
    if settings.max_model_variants and len(variants) > settings.max_model_variants:
        pick = np.unique(np.linspace(0, len(variants) - 1, settings.max_model_variants)
                         .round().astype(np.int64))
        variants = variants[pick]
        log.info(f"step 1: model variants thinned evenly to {len(variants)}")
    m = len(variants)
    buf = [dict(codes=np.empty((g.n, m), np.uint8, order="F"), a=np.empty(m, np.float32),
                b=np.empty(m, np.float32), ss=np.empty(m), chrom=np.empty(m, np.int64))
           for g in inp.groups]
    n_used = 0
    from tqdm import tqdm

    subsets = _subsets(inp.groups, len(inp.grm_rows))
    blocks = tqdm(_read_blocks(src, inp.grm_rows, variants, o.block_size),
                  total=-(-m // o.block_size), desc="step 1: model genotypes", unit="block",
                  disable=not o.progress, file=sys.stderr, leave=False)
    for idx, calls, block in blocks:
        d = calls if calls is not None else block.dosages
        if qc_opts is not None:
            keep = _qc(calls, block, qc_opts).keep
            if not keep.all():
                d, idx = d[:, keep], idx[keep]
        w = len(idx)
        encode = encode_calls if calls is not None else encode_block
        for sub, bf in zip(subsets, buf):
            sl = slice(n_used, n_used + w)
            bf["codes"][:, sl], bf["a"][sl], bf["b"][sl], bf["ss"][sl] = encode(
                _take_rows(d, sub))
            bf["chrom"][sl] = chrom[idx]
        n_used += w
    out = [Step1Genotypes(codes=bf["codes"][:, :n_used], a=bf["a"][:n_used],
                          b=bf["b"][:n_used], ss=bf["ss"][:n_used],
                          chromosome=bf["chrom"][:n_used],
                          block=default_block(g.n))
           for g, bf in zip(inp.groups, buf)]
    if n_used == 0 or out[0].ss.sum() <= 0:
        raise InputError(f"{src.path}: no polymorphic variant to build the genetic similarity")
    log.info(f"step 1: {n_used} model variants over {len(out[0].chromosomes())} chromosomes "
             f"(standardised, mean-imputed, FaST-LMM similarity), {out[0].codes.nbytes / 2**20:.0f}"
             f" MiB of 8-bit codes per group")
    return out


def _read_blocks(src, rows: np.ndarray, variants: np.ndarray, block_size: int):
    """``(indices, calls, block)`` per block of ``variants``: int8 hard calls (``calls``) from
    sources that have them (PLINK .bed, PGEN without dosages), else a dosage
    ``GenotypeBlock``."""
    hard = src.hard_calls
    for a in range(0, len(variants), block_size):
        idx = variants[a:a + block_size]
        sel = variant_selection(idx)
        if hard:
            yield idx, src.read_calls(samples=rows, variants=sel), None
        else:
            yield idx, None, src.read(samples=rows, variants=sel)


def _subsets(groups: list[PhenotypeGroup], n: int) -> list[np.ndarray | None]:
    """Each group's rows among the ``n`` analysed individuals (None: all, in order)."""
    return [None if len(g.rows) == n and (np.diff(g.rows) == 1).all() else g.rows
            for g in groups]


def _take_rows(a: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
    """``a[rows]`` (None: ``a``), column-major when ``a`` is (a genotype block read by
    variant): four times faster than fancy indexing, and the encoding reads columns."""
    if rows is None:
        return a
    if a.flags.f_contiguous:
        return np.take(a.T, rows, axis=1).T
    return a[rows]


def _qc(calls: np.ndarray | None, block, qc_opts: dict):
    if calls is not None:
        return calls_qc(calls=calls, maf=qc_opts["maf"], geno=qc_opts["geno"],
                        hwe=qc_opts["hwe"])
    return variant_qc(dosages=block.dosages, info=block.info, **qc_opts)


def run_gwas_scalable(options: GwasOptions, *, log: RunLog | None = None,
                      step1_out: str | None = None, step1_in: str | None = None,
                      settings: Step1Settings | None = None, step1_only: bool = False,
                      fail_after_chunks: int | None = None) -> GwasSummary:
    """Run the scalable (BOLT-LMM-inf) association scan described by ``options``.

    Args:
        options: the exact engine's options (``linear`` runs the exact engine's OLS).
        log: where counts, warnings and timings go.
        step1_out: save the step-1 results there (.npz).
        step1_in: reuse step-1 results saved by an earlier run (checked against this run).
        settings: step-1 numerical settings.
        step1_only: fit step 1, save it to ``step1_out`` and test no variant (a cluster fits
            step 1 in one job, then scatters step 2 with ``step1_in``).
        fail_after_chunks: testing hook, as in the exact engine.
    Raises:
        InputError for bad input (nothing is left behind but the log).
    """
    from threadpoolctl import threadpool_limits

    from ..engine import run_gwas

    o = options
    if o.linear:
        return run_gwas(o, log=log, fail_after_chunks=fail_after_chunks)
    log = log if log is not None else NullLog()
    s = settings or Step1Settings()
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    if o.block_size < 1:
        raise InputError(f"--block-size must be positive, got {o.block_size}")
    if o.threads < 1:
        raise InputError(f"--threads must be positive, got {o.threads}")
    if not o.reml:
        log.warning("--ml: the scalable mode estimates the variance components by REML only "
                    "(stochastic Lanczos quadrature); use --mode exact for maximum likelihood")
    if step1_in and step1_out:
        raise InputError("--step1-in and --step1-out: give one (step 1 is either fitted or reused)")
    if step1_only and not step1_out:
        raise InputError("--step1-only needs --step1-out FILE (where step 1 is saved)")
    inp = prepare_inputs(o, log)
    source, groups = inp.source, inp.groups
    chrom = source.variants["chromosome"].to_numpy()
    sel = _select_variants(source.variants, chromosomes=o.chromosomes, region=o.region,
                           source=source.path)
    chunks = _chunks(sel, chrom, o.block_size)
    tested = sorted(set(chrom[sel].tolist()))
    log.info(f"variants: {len(source.variants)} in {source.path}; {len(sel)} selected, "
             f"{len(chunks)} chunks of at most {o.block_size}")
    if o.loco and not step1_in:
        gchrom = (inp.grm if inp.grm is not None else source).variants["chromosome"].to_numpy()
        if len(np.unique(gchrom)) < 2:
            raise InputError(f"{o.grm_bfile or source.path}: leave-one-chromosome-out needs "
                             f"variants on at least two chromosomes, found "
                             f"{np.unique(gchrom).tolist()}; use --no-loco (or --grm-bfile "
                             f"with genome-wide genotypes)")
    if step1_only:
        return _step1_only(inp, o, s, log, step1_out=step1_out, t_start=t_start)
    names = [n for g in groups for n in g.names]
    paths = output_paths(o.out, names)
    null_path = f"{o.out}.nullmodel.tsv"
    gl = {k: v for k, v in asdict(o).items() if k not in ("overwrite", "progress")}
    signature = {"mode": "scalable", "chunk_layout": CHUNK_LAYOUT, "options": gl,
                 "settings": asdict(s),
                 "files": _file_signatures(o, step1_in=step1_in)}
    store = ChunkStore(o.out + ".chunks")
    outputs = list(paths.values()) + [null_path] + ([step1_out] if step1_out else [])
    if not store.dir.exists():
        refuse_to_overwrite(outputs, overwrite=o.overwrite)
    resumed = store.open(signature, overwrite=o.overwrite)
    Qs = [np.linalg.qr(g.X)[0] for g in groups]
    check = dict(iids=[inp.iid[g.rows] for g in groups], Ys=[g.Y for g in groups],
                 Xs=[g.X for g in groups], names=[g.names for g in groups], loco=o.loco,
                 chromosomes=tested)
    try:
        with threadpool_limits(limits=o.threads):
            done = store.done_set(len(chunks))
            if resumed:
                log.info(f"resuming {store.dir}: {len(done)} of {len(chunks)} chunks finished")
            cached = store.dir / "step1.npz"
            t = time.perf_counter()
            if step1_in:
                fits, _ = load_step1(step1_in, **check)
                log.info(f"step 1: reused {step1_in}")
            elif cached.exists():
                fits, _ = load_step1(str(cached), **check)
                log.info("step 1: reused from the interrupted run")
            else:
                fits = _fit(inp, o, s, log)
                save_step1(str(cached), fits=fits, iids=check["iids"], Ys=check["Ys"],
                           Xs=check["Xs"], covariate_names=[g.covariate_names for g in groups],
                           loco=o.loco, settings=s)
            timings["step 1"] = time.perf_counter() - t
            if o.loco:
                for f in fits:
                    absent = sorted(set(tested) - set(f.loco.tolist()))
                    if absent:
                        raise InputError(f"{o.grm_bfile}: no model variant on tested "
                                         f"chromosome(s) {absent}: no leave-one-chromosome-out "
                                         f"model for them; use --no-loco")
            _save_null(store, groups, fits, s)
            t = time.perf_counter()
            qc_removed = _scan(store, chunks, done, groups, fits, Qs, source, inp.geno_rows,
                               chrom, o, names, fail_after_chunks)
            timings["step 2 (scan)"] = time.perf_counter() - t
        t = time.perf_counter()
        lam, n_tested, qc_removed = merge_results(
            store=store, n_chunks=len(chunks), groups=groups, names=names, paths=paths,
            variants=source.variants, has_info=source.has_info, null_path=null_path,
            null_labels=["all"], n_rows_max=len(sel))
        if step1_out:
            import shutil
            with atomic_path(step1_out) as tmp:
                shutil.copyfile(cached if cached.exists() else step1_in, tmp)
        timings["merge"] = time.perf_counter() - t
    except InputError:
        if store.created:
            store.remove()
        raise
    return _summarise(store=store, names=names, lam=lam, n_tested=n_tested,
                      qc_removed=qc_removed, paths=paths, null_path=null_path,
                      n_counts=inp.n_counts, resumed=len(done), timings=timings,
                      t_start=t_start, log=log)


def _step1_only(inp: GwasInputs, o: GwasOptions, s: Step1Settings, log: RunLog, *,
                step1_out: str, t_start: float) -> GwasSummary:
    """Fit step 1 of every group and save it to ``step1_out`` (written atomically)."""
    from threadpoolctl import threadpool_limits

    refuse_to_overwrite([step1_out], overwrite=o.overwrite)
    groups = inp.groups
    with threadpool_limits(limits=o.threads):
        t = time.perf_counter()
        fits = _fit(inp, o, s, log)
        save_step1(step1_out, fits=fits, iids=[inp.iid[g.rows] for g in groups],
                   Ys=[g.Y for g in groups], Xs=[g.X for g in groups],
                   covariate_names=[g.covariate_names for g in groups], loco=o.loco, settings=s)
    log.info(f"step 1 saved to {step1_out}; no variant tested (--step1-only)")
    timings = {"step 1": time.perf_counter() - t, "total": time.perf_counter() - t_start}
    return GwasSummary(sumstats={}, nullmodel=None, lambda_gc={}, n_variants_tested=0,
                       qc_removed={k: 0 for k in QC_REASONS}, n_individuals=inp.n_counts,
                       resumed_chunks=0, timings=timings)


def _fit(inp: GwasInputs, o: GwasOptions, s: Step1Settings,
         log: RunLog) -> list[Step1Fit]:
    with log.step("step 1: model genotypes (one pass)"):
        genos = _model_genotypes(inp, o, s, log)
    fits = []
    for k, (g, geno) in enumerate(zip(inp.groups, genos)):
        with log.step(f"step 1: group {k} ({len(g.names)} phenotypes)"):
            f = fit_step1(genotypes=geno, X=g.X, Y=g.Y, names=g.names, loco=o.loco, settings=s,
                          progress=o.progress)
        for j, name in enumerate(g.names):
            vc = "per left-out chromosome" if len(f.vc_loco) > 1 else "all model variants"
            log.info(f"step 1 {name}: h2 {_span(f.h2[:, j])} ({vc}), "
                     f"Lanczos {int(f.n_iter_lanczos[:, j].max())} steps, CG "
                     f"{f.n_iter_cg[j]} iterations{'' if f.converged[j] else ' (NOT converged)'}"
                     f", calibration rho {_span(f.rho[:, j])} (cv {f.rho_cv[:, j].max():.3f} "
                     f"over {s.n_calibration} variants)")
            if not f.converged[j]:
                log.warning(f"step 1 {name}: conjugate gradients did not reach tolerance "
                            f"{s.cg_tol} in {s.max_iter} iterations")
        fits.append(f)
    return fits


def _span(v: np.ndarray) -> str:
    return f"{v.min():.4g}" if v.min() == v.max() else f"{v.min():.4g}-{v.max():.4g}"


def _save_null(store: ChunkStore, groups: list[PhenotypeGroup], fits: list[Step1Fit],
               s: Step1Settings) -> None:
    rows = []
    lo, hi = s.h2_bounds
    for g, f in zip(groups, fits):
        for j, name in enumerate(f.names):
            for r, c in enumerate(f.vc_loco):
                h2 = f.h2[r, j]
                rows.append({"phenotype": name, "left_out_chromosome": str(c) if c else "all",
                             "n": g.n, "n_covariates": f.n_covariates, "sg2": f.sg2[r, j],
                             "se2": f.se2[r, j], "delta": f.delta[r, j], "h2": h2,
                             "loglik": f.loglik[r, j], "n_iter": int(f.n_iter_lanczos[r, j]),
                             "method": "REML (stochastic Lanczos quadrature)",
                             "converged": bool(f.converged[j]),
                             "at_bound": bool(h2 <= lo * 1.01 or h2 >= hi * 0.999),
                             "calibration_rho": f.rho[r, j], "calibration_cv": f.rho_cv[r, j],
                             "cg_iterations": int(f.n_iter_cg[j]),
                             "n_model_variants": int(f.n_model_variants)})
    with atomic_path(store.null_path("all")) as tmp:
        pd.DataFrame(rows).to_csv(tmp, sep="\t", index=False)


def _scan(store: ChunkStore, chunks, done: set[int], groups, fits, Qs, source, rows, chrom,
          o: GwasOptions, names: list[str], fail_after_chunks: int | None) -> dict[str, int]:
    """Step 2: test every unfinished chunk; write each with its completion marker."""
    from tqdm import tqdm

    qc_opts = dict(maf=o.maf, geno=o.geno, hwe=o.hwe, min_info=o.info)
    qc_removed = {k: 0 for k in QC_REASONS}
    subsets = _subsets(groups, len(rows))
    written = 0
    bar = tqdm(total=len(chunks), initial=len(done), unit="block", desc="contig-gwas step 2",
               disable=not o.progress, file=sys.stderr, leave=False)
    try:
        for i, idx in enumerate(chunks):
            if i in done:
                continue
            c = int(chrom[idx[0]])
            _, calls, block = next(_read_blocks(source, rows, idx, len(idx)))
            qc = _qc(calls, block, qc_opts)
            keep = qc.keep
            dk = calls if calls is not None else block.dosages
            if not keep.all():
                dk = dk[:, keep]
            impute = impute_calls if calls is not None else impute_block
            res = []
            for sub, f, Q in zip(subsets, fits, Qs):
                G, af, n_ok = impute(_take_rows(dk, sub))
                res.append((af, n_ok, test_block(fit=f, Q=Q, G=G, chromosome=c)))
            info = None if block is None or block.info is None else np.asarray(block.info)[keep]
            out = pack_chunk(variants=idx[keep], qc_fail=qc.fail, groups=res, info=info)
            written = _record_chunk(store=store, i=i, arrays=out, qc_fail=qc.fail,
                                    qc_removed=qc_removed, bar=bar, written=written,
                                    fail_after_chunks=fail_after_chunks)
    finally:
        bar.close()
    return qc_removed
