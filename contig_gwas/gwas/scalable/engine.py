"""The scalable GWAS mode (dataset layer): files in, summary statistics out, resumable.

``run_gwas_scalable(options, log=..., step1_out=..., step1_in=...)`` takes the exact engine's
``GwasOptions`` and returns its ``GwasSummary``: it runs ``ScalableMode`` through the driver
(``gwas.driver``) that runs the exact mode too, so the outputs, QC, sample handling, bad-input
behaviour and chunked resumable output are the exact mode's:

1. open the inputs, align individuals, clean covariates, group phenotypes (the driver);
2. step 1 (``step1``), unless ``step1_in`` is given: one pass over the model genotypes (the
   test genotypes after QC, or ``--grm-bfile``) into 2-bit codes (hard calls: the .bed itself,
   memory-mapped, when every individual is analysed in file order, else packed in memory) or
   8-bit codes (dosages), then per group
   the stochastic-REML variance components, the calibration factor and the LOCO solves of
   every phenotype; saved to ``step1_out`` when given (and to the chunk directory, so a killed
   run resumes without refitting);
3. step 2 (``step2``): one streaming pass over the test genotypes in chunks
   (``ScalableMode.scan_chunk``), each written with its completion marker by the driver, then
   merged into ``PREFIX.<phenotype>.sumstats.tsv.gz`` and ``PREFIX.nullmodel.tsv``. Where
   step 1 passed over the test genotypes themselves (no ``--grm-bfile``, no thinning), step 2
   reuses its QC decisions and, from hard calls (PLINK .bed, PGEN without dosages), reads its
   codes back as the calls they are (``blocks.Step1Pass``) instead of reading the file a
   second time: the same results, bit for bit. Dosages (BGEN, PGEN with dosages) are read
   again: the codes round a dosage to 1/127, which the test must not do (BGEN 8-bit dosages
   are multiples of 1/255), and keeping the exact dosages would take two (8-bit BGEN) to four
   times the codes' memory, where reading them again costs one more decode on all threads.

Case-control phenotypes (a group with ``binary``): step 1 fits the linear mixed model on the
0/1 scale as for a quantitative trait; per tested chromosome, its LOCO solution gives every
individual's leave-one-out polygenic prediction (``binary.model.loco_prediction_rows``, with
the mean of ``diag(V^-1)`` estimated as ``u'u / y'u`` from the solution itself,
``binary.model.loco_mean_diagonal``), a covariate of the
phenotype's logistic null model; step 2 tests by the score test with the chosen correction
(``binary.block``).

Threads: step 1's passes over the codes, the reading and coding of its model genotypes, and
the chunks of step 2 run on the driver's worker threads (``parallel.Workers``); the results
are the same bits for any number of threads.

Peak memory: ``memory.peak_memory_bytes`` (``ceil(N / 4) M1`` bytes of 2-bit model codes,
``N M1`` at 8 bits, plus the Krylov vectors, the step-1 tasks' sums and decoded blocks, the
test blocks in flight and about 200 MiB of interpreter; ``bench/gwas_scalable.py`` and
``bench/scaling.py`` print it beside the measured peak).
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from ...defaults import AUTO_MIN_INDIVIDUALS, at_bound, log_delta_bounds
from ...errors import InputError
from ...outputs import atomic_path, refuse_to_overwrite
from ...runlog import RunLog
from ..association import impute_block, impute_calls
from ..binary.block import BinaryGroupModel
from ..chunks import ChunkStore
from ..design import PhenotypeGroup
from ..driver import GwasMode, GwasOptions, GwasRun, GwasSummary, open_run, scan_run
from ..engine import run_gwas
from ..parallel import Workers, single_threaded_blas
from ..qc import QC_REASONS
from ..results import pack_chunk
from .blocks import Step1Pass, block_qc, group_subsets, model_genotypes, read_block, take_rows
from .memory import peak_memory_bytes
from .step1 import Step1Fit, Step1Settings, fit_step1
from .step1_file import load_step1, save_step1
from .step2 import test_block

__all__ = ["run_gwas_scalable", "ScalableMode", "STATISTIC", "AUTO_MIN_INDIVIDUALS",
           "choose_mode", "peak_memory_bytes"]



def choose_mode(*, n_individuals: int) -> str:
    """``--mode auto``: ``"scalable"`` from ``AUTO_MIN_INDIVIDUALS`` individuals on (where
    the exact mode's per-chromosome N x N eigendecompositions, ``C N^3`` flops and ``8 N^2``
    bytes each, stop being practical), else ``"exact"``."""
    return "scalable" if n_individuals >= AUTO_MIN_INDIVIDUALS else "exact"


STATISTIC = ("BOLT-LMM-inf (Loh et al. 2015): LOCO infinitesimal model, variance components by "
             "stochastic REML (Lanczos quadrature), x'Pi y exact from conjugate-gradient solves, "
             "x'Pi x calibrated as rho |Px|^2 on sampled variants; t = beta/se with N - D - 1 "
             "degrees of freedom")


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
    if options.linear:
        return run_gwas(options, log=log, fail_after_chunks=fail_after_chunks)
    mode = ScalableMode(options, settings=settings or Step1Settings(), step1_in=step1_in,
                        step1_out=step1_out, step1_only=step1_only)
    run = open_run(mode, options, log=log)
    if step1_only:
        return mode.fit_only(run)
    return scan_run(run, mode, fail_after_chunks=fail_after_chunks)


class ScalableMode(GwasMode):
    """The scalable mode's ``GwasMode``: step 1 (fitted, reused from ``step1_in`` or from the
    chunk directory of an interrupted run) before the scan, step 2 per chunk.

    Args:
        options: the run's options.
        settings: step-1 numerical settings.
        step1_in, step1_out, step1_only: as ``run_gwas_scalable``.
    """

    progress_label = "contig-gwas step 2"
    scan_timing = "step 2 (scan)"

    def __init__(self, options: GwasOptions, *, settings: Step1Settings,
                 step1_in: str | None = None, step1_out: str | None = None,
                 step1_only: bool = False) -> None:
        self.options, self.settings = options, settings
        self.step1_in, self.step1_out, self.step1_only = step1_in, step1_out, step1_only
        self.builds_model = not step1_in
        self.signature = {"mode": "scalable", "settings": asdict(settings)}
        self.extra_inputs: dict[str, str | None] = {"step1_in": step1_in}
        self.extra_outputs = [step1_out] if step1_out else []
        self.saved: Step1Pass | None = None

    def check(self, log: RunLog) -> None:
        if not self.options.reml:
            log.warning("--ml: the scalable mode estimates the variance components by REML "
                        "only (stochastic Lanczos quadrature); use --mode exact for maximum "
                        "likelihood")
        if self.step1_in and self.step1_out:
            raise InputError("--step1-in and --step1-out: give one (step 1 is either fitted or "
                             "reused)")
        if self.step1_only and not self.step1_out:
            raise InputError("--step1-only needs --step1-out FILE (where step 1 is saved)")

    def start(self, run: GwasRun) -> None:
        """The orthonormal basis of every group's covariates (step 2's projection)."""
        self.run = run
        if not self.step1_only:
            self.Qs = [np.linalg.qr(g.X)[0] for g in run.inputs.groups]

    def null_labels(self, run: GwasRun) -> list[str] | None:
        """One table: its rows say which chromosome each variance component left out."""
        return ["all"]

    def fit(self, run: GwasRun, store: ChunkStore, done: set[int]) -> None:
        """Step 1 of every group, and its null-model table."""
        o, inp, log = self.options, run.inputs, run.log
        self.cached = store.step1_path
        t = time.perf_counter()
        if self.step1_in:
            fits = self._load(self.step1_in)
            log.info(f"step 1: reused {self.step1_in}")
        elif self.cached.exists():
            fits = self._load(str(self.cached))
            log.info("step 1: reused from the interrupted run")
        else:
            fits = self._fit(run, keep_calls=True)
            self._save(str(self.cached), fits)
        run.timings["step 1"] = time.perf_counter() - t
        if o.loco:
            for f in fits:
                absent = sorted(set(run.tested_chromosomes()) - set(f.loco.tolist()))
                if absent:
                    raise InputError(f"{o.grm_bfile}: no model variant on tested "
                                     f"chromosome(s) {absent}: no leave-one-chromosome-out "
                                     f"model for them; use --no-loco")
        rows = _null_rows(inp.groups, fits, self.settings)
        with atomic_path(store.null_path("all")) as tmp:
            pd.DataFrame(rows).to_csv(tmp, sep="\t", index=False)
        self.fits = fits
        self.subsets = group_subsets(inp.groups, len(inp.geno_rows))

    def model_key(self, chromosome: int) -> Any:
        """One model for all chromosomes, or with a case-control group and LOCO, one per
        chromosome (its logistic null models)."""
        binary = any(g.binary for g in self.run.inputs.groups)
        return chromosome if binary and self.options.loco else None

    def build_model(self, key: Any) -> list[BinaryGroupModel | None]:
        """The logistic null models of the binary groups for the chromosome ``key`` (None:
        the genome-wide model)."""
        chrom = 0 if key is None else int(key)
        out: list[BinaryGroupModel | None] = []
        for g, f, Q in zip(self.run.inputs.groups, self.fits, self.Qs):
            if not g.binary:
                out.append(None)
                continue
            from ..binary.model import loco_mean_diagonal, loco_prediction_rows

            u = f.U[f.solve_index(chrom)]
            Py = g.Y - Q @ (Q.T @ g.Y)
            # the mean of diag(V^-1), estimated from the solution itself (loco_mean_diagonal)
            r = f.vc_index(chrom)
            d = loco_mean_diagonal(Py=Py, u=u)
            pred = loco_prediction_rows(Py=Py, u=u, vinv_diag=d[None, :])
            # h2 at its lower bound: no polygenic term (the prediction is solver error)
            low = np.log(f.delta[r]) >= log_delta_bounds(self.settings.h2_bounds)[1] - 1e-3
            pred[:, low] = 0.0
            out.append(BinaryGroupModel.build(group=g, test=self.options.binary_test,
                                              predictions=pred, linear=False,
                                              rtol=10 * self.settings.cg_tol))
        return out

    def use_model(self, key: Any, model: Any) -> None:
        """Log the binary null models of ``key``."""
        for bm in model:
            if bm is None:
                continue
            for name, s in zip(bm.group.names, bm.summaries):
                where = "all chromosomes" if key is None else f"chromosome {key} left out"
                pred = (f"coefficient {s.prediction_coef:.4g}" if s.prediction_used
                        else "not used (h2 ~ 0)")
                self.run.log.info(
                    f"logistic null model {name} ({where}): {s.n_cases} cases, "
                    f"{s.n_controls} controls, log-likelihood {s.loglik:.4f}, polygenic "
                    f"prediction {pred}")

    def scan_chunk(self, variants: np.ndarray, *, chromosome: int,
                   model: Any = None) -> dict[str, np.ndarray]:
        """Step 2 of one chunk: every variant against every phenotype of every group (the
        QC decisions and calls from step 1's pass where it kept them, ``Step1Pass``)."""
        inp, saved = self.run.inputs, self.saved
        binary = model if model is not None else [None] * len(self.fits)
        extras: list[dict[str, np.ndarray] | None] = []
        if saved is not None and saved.has_calls:
            keep, fail = saved.qc(variants)
            res = []
            for k, (f, Q) in enumerate(zip(self.fits, self.Qs)):
                hard = saved.calls(variants[keep], k)
                bm = binary[k]
                if bm is not None:
                    af, n_ok, r, extra = bm.test(hard, calls=True)
                    res.append((af, n_ok, r))
                    extras.append(extra)
                    continue
                G, af, n_ok = impute_calls(hard)
                res.append((af, n_ok, test_block(fit=f, Q=Q, G=G, chromosome=chromosome)))
                extras.append(None)
            return pack_chunk(variants=variants[keep], qc_fail=fail, groups=res, info=None,
                              binary=extras)
        calls, block = read_block(inp.source, inp.geno_rows, variants)
        if saved is not None:
            keep, fail = saved.qc(variants)
        else:
            qc = block_qc(calls, block, self.options.qc_thresholds())
            keep, fail = qc.keep, qc.fail
        if calls is not None:
            dk = calls
        else:
            assert block is not None
            dk = block.dosages
        if not keep.all():
            dk = dk[:, keep]
        impute = impute_calls if calls is not None else impute_block
        res = []
        for sub, f, Q, bm in zip(self.subsets, self.fits, self.Qs, binary):
            if bm is not None:
                af, n_ok, r, extra = bm.test(take_rows(dk, sub), calls=calls is not None)
                res.append((af, n_ok, r))
                extras.append(extra)
                continue
            G, af, n_ok = impute(take_rows(dk, sub))
            res.append((af, n_ok, test_block(fit=f, Q=Q, G=G, chromosome=chromosome)))
            extras.append(None)
        info = None if block is None or block.info is None else np.asarray(block.info)[keep]
        return pack_chunk(variants=variants[keep], qc_fail=fail, groups=res, info=info,
                          binary=extras)

    def close_scan(self) -> None:
        """Release step 1's codes."""
        self.saved = None

    def finish(self) -> None:
        """Copy step 1 to ``step1_out``."""
        if self.step1_out:
            import shutil

            source = self.cached if self.cached.exists() else self.step1_in
            assert source is not None, "step 1 was fitted or given"
            with atomic_path(self.step1_out) as tmp:
                shutil.copyfile(source, tmp)

    def fit_only(self, run: GwasRun) -> GwasSummary:
        """``--step1-only``: fit step 1 of every group and save it to ``step1_out`` (written
        atomically); test no variant."""
        o = self.options
        assert self.step1_out is not None, "--step1-only needs --step1-out"
        refuse_to_overwrite([self.step1_out], overwrite=o.overwrite)
        with single_threaded_blas(), Workers(o.threads) as workers:
            run.workers = workers
            t = time.perf_counter()
            self._save(self.step1_out, self._fit(run))
            run.workers = None
        run.log.info(f"step 1 saved to {self.step1_out}; no variant tested (--step1-only)")
        run.timings["step 1"] = time.perf_counter() - t
        run.timings["total"] = time.perf_counter() - run.t_start
        return GwasSummary(sumstats={}, nullmodel=None, lambda_gc={}, n_variants_tested=0,
                           qc_removed={k: 0 for k in QC_REASONS},
                           n_individuals=run.inputs.n_counts, resumed_chunks=0,
                           timings=run.timings)

    def _fit(self, run: GwasRun, keep_calls: bool = False) -> list[Step1Fit]:
        """Step 1 of every group, logged per phenotype; with ``keep_calls``, keep the codes
        for step 2 where it can read them back (``blocks.SavedCalls``)."""
        o, s, inp, log = self.options, self.settings, run.inputs, run.log
        with log.step("step 1: model genotypes (one pass)"):
            genos, saved = model_genotypes(
                src=inp.grm if inp.grm is not None else inp.source, rows=inp.grm_rows,
                groups=inp.groups, qc_thresholds=None if inp.grm is not None else
                o.qc_thresholds(), block_size=o.block_size, max_variants=s.max_model_variants,
                progress=o.progress, log=log, workers=run.workers,
                keep_calls=keep_calls and not self.step1_only)
        if saved is not None:
            self.saved = saved
            log.info("step 2: " + ("reads the test genotypes from step 1's codes (hard calls, "
                                   "read once)" if saved.has_calls else
                                   "reuses step 1's QC decisions (dosages are read again)"))
        fits = []
        for k, (g, geno) in enumerate(zip(inp.groups, genos)):
            with log.step(f"step 1: group {k} ({len(g.names)} phenotypes)"):
                f = fit_step1(genotypes=geno, X=g.X, Y=g.Y, names=g.names, loco=o.loco,
                              settings=s, progress=o.progress, workers=run.workers)
            for j, name in enumerate(g.names):
                vc = "per left-out chromosome" if len(f.vc_loco) > 1 else "all model variants"
                log.info(f"step 1 {name}: h2 {_span(f.h2[:, j])} ({vc}), "
                         f"Lanczos {int(f.n_iter_lanczos[:, j].max())} steps, CG "
                         f"{f.n_iter_cg[j]} iterations"
                         f"{'' if f.converged[j] else ' (NOT converged)'}"
                         f", calibration rho {_span(f.rho[:, j])} (cv "
                         f"{f.rho_cv[:, j].max():.3f} over {s.n_calibration} variants)")
                if not f.converged[j]:
                    log.warning(f"step 1 {name}: conjugate gradients did not reach tolerance "
                                f"{s.cg_tol} in {s.max_iter} iterations")
            fits.append(f)
        return fits

    def _save(self, path: str, fits: list[Step1Fit]) -> None:
        groups, iid = self.run.inputs.groups, self.run.inputs.iid
        save_step1(path, fits=fits, iids=[iid[g.rows] for g in groups],
                   Ys=[g.Y for g in groups], Xs=[g.X for g in groups],
                   covariate_names=[g.covariate_names for g in groups],
                   loco=self.options.loco, settings=self.settings)

    def _load(self, path: str) -> list[Step1Fit]:
        groups, iid = self.run.inputs.groups, self.run.inputs.iid
        fits, _ = load_step1(path, iids=[iid[g.rows] for g in groups],
                             Ys=[g.Y for g in groups], Xs=[g.X for g in groups],
                             names=[g.names for g in groups], loco=self.options.loco,
                             chromosomes=self.run.tested_chromosomes())
        return fits


def _span(v: np.ndarray) -> str:
    return f"{v.min():.4g}" if v.min() == v.max() else f"{v.min():.4g}-{v.max():.4g}"


def _null_rows(groups: list[PhenotypeGroup], fits: list[Step1Fit],
               s: Step1Settings) -> list[dict]:
    """The rows of ``PREFIX.nullmodel.tsv``: one per phenotype and variance-component fit."""
    rows = []
    bounds = log_delta_bounds(s.h2_bounds)
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
                             "at_bound": at_bound(float(np.log(f.delta[r, j])), bounds),
                             "calibration_rho": f.rho[r, j], "calibration_cv": f.rho_cv[r, j],
                             "cg_iterations": int(f.n_iter_cg[j]),
                             "n_model_variants": int(f.n_model_variants)})
    return rows
