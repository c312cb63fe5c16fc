"""The GWAS engine (dataset layer): files in, summary statistics out, resumable.

``run_gwas(options, log=...)``:

1. open the genotypes, phenotype and covariate tables; align individuals on IID;
2. drop individuals with a missing covariate; drop constant/collinear covariates; skip
   all-missing or constant phenotypes; group phenotypes by missingness pattern;
3. (LMM) one pass over the similarity genotypes accumulating ``Z_c Z_c'`` per chromosome and
   group (``kinship.KinshipAccumulator``);
4. one pass over the test genotypes in chunks of ``block_size`` variants (never crossing a
   chromosome): per chromosome and group, the eigendecomposition of the leave-one-chromosome-out
   kernel and the null model of every phenotype (``nullmodel``), then per chunk the batched
   test of every variant against every phenotype (``association``); each chunk is written with
   a completion marker (``chunks.ChunkStore``);
5. merge the chunks into ``PREFIX.<phenotype>.sumstats.tsv.gz`` and ``PREFIX.nullmodel.tsv``.
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io.genotypes import variant_selection
from ..outputs import refuse_to_overwrite
from ..runlog import NullLog, RunLog
from .chunks import ChunkStore, file_signature
from .design import PhenotypeGroup
from .inputs import prepare_inputs
from .kinship import KinshipAccumulator, LocoKinship
from .lmm import GroupSolver, lambda_gc
from .qc import QC_REASONS, variant_qc
from .results import CHUNK_LAYOUT, merge_results, pack_chunk

__all__ = ["GwasOptions", "GwasSummary", "run_gwas", "lambda_gc", "output_paths"]


@dataclass
class GwasOptions:
    """Everything a run depends on (the command line maps onto this one to one)."""

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
    threads: int = 1
    overwrite: bool = False
    progress: bool = True


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


def safe_name(name: str) -> str:
    """A phenotype name usable in a file name."""
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", name)


def output_paths(out: str, names: list[str]) -> dict[str, str]:
    return {n: f"{out}.{safe_name(n)}.sumstats.tsv.gz" for n in names}


def _select_variants(variants: pd.DataFrame, *, chromosomes: list[int] | None,
                     region: tuple[int, int, int] | None, source: str) -> np.ndarray:
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
    # chromosomes contiguous (stable: file order within a chromosome)
    return sel[np.argsort(chrom[sel], kind="stable")]


def _chunks(sel: np.ndarray, chrom: np.ndarray, block_size: int) -> list[np.ndarray]:
    out = []
    c = chrom[sel]
    bounds = np.flatnonzero(np.diff(c)) + 1
    for part in np.split(sel, bounds):
        out.extend(part[a:a + block_size] for a in range(0, len(part), block_size))
    return out


def _read(source, rows: np.ndarray, idx: np.ndarray):
    return source.read(samples=rows, variants=variant_selection(idx))


def run_gwas(options: GwasOptions, *, log: RunLog | None = None,
             fail_after_chunks: int | None = None) -> GwasSummary:
    """Run the association scan described by ``options``.

    Args:
        options: see GwasOptions.
        log: where counts, warnings and timings go.
        fail_after_chunks: testing hook: raise RuntimeError after writing this many chunks
            (simulates an interruption; the chunk directory is kept for resuming).
    Raises:
        InputError for bad input (nothing is left behind but the log).
    """
    from threadpoolctl import threadpool_limits

    o = options
    log = log if log is not None else NullLog()
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    if o.block_size < 1:
        raise InputError(f"--block-size must be positive, got {o.block_size}")
    if o.threads < 1:
        raise InputError(f"--threads must be positive, got {o.threads}")

    # ---- inputs and samples ------------------------------------------------------------
    inp = prepare_inputs(o, log, use_grm=not o.linear)
    source, grm, groups = inp.source, inp.grm, inp.groups
    geno_rows, grm_rows, n_counts = inp.geno_rows, inp.grm_rows, inp.n_counts

    # ---- variants ----------------------------------------------------------------------
    chrom = source.variants["chromosome"].to_numpy()
    sel = _select_variants(source.variants, chromosomes=o.chromosomes, region=o.region,
                           source=source.path)
    chunks = _chunks(sel, chrom, o.block_size)
    log.info(f"variants: {len(source.variants)} in {source.path}; {len(sel)} selected, "
             f"{len(chunks)} chunks of at most {o.block_size}")
    use_lmm = not o.linear
    if use_lmm and o.loco:
        gchrom = (grm or source).variants["chromosome"].to_numpy()
        if len(np.unique(gchrom)) < 2:
            raise InputError(f"{o.grm_bfile or source.path}: leave-one-chromosome-out needs "
                             f"variants on at least two chromosomes, found "
                             f"{np.unique(gchrom).tolist()}; use --no-loco (or --grm-bfile "
                             f"with genome-wide genotypes)")
    names = [n for g in groups for n in g.names]
    paths = output_paths(o.out, names)
    null_path = f"{o.out}.nullmodel.tsv" if use_lmm else None
    signature = {"chunk_layout": CHUNK_LAYOUT,
                 "options": {k: v for k, v in asdict(o).items()
                             if k not in ("overwrite", "progress")},
                 "files": _file_signatures(o)}
    store = ChunkStore(o.out + ".chunks")
    outputs = list(paths.values()) + ([null_path] if null_path else [])
    if not store.dir.exists():
        refuse_to_overwrite(outputs, overwrite=o.overwrite)
    resumed = store.open(signature, overwrite=o.overwrite)
    try:
        with threadpool_limits(limits=o.threads):
            done = store.done_set(len(chunks))
            if resumed:
                log.info(f"resuming {store.dir}: {len(done)} of {len(chunks)} chunks finished")
            qc_opts = dict(maf=o.maf, geno=o.geno, hwe=o.hwe, min_info=o.info)
            kins: list[LocoKinship] | None = None
            if use_lmm and len(done) < len(chunks):
                t = time.perf_counter()
                # default similarity: every variant of the test genotypes passing QC, whatever
                # --chr/--range select for testing (so chunked runs share one similarity)
                kins = _kinship(store, groups, grm or source, grm_rows, None,
                                qc_opts if grm is None else None, o.block_size, log)
                timings["similarity"] = time.perf_counter() - t
            t = time.perf_counter()
            qc_removed = _scan(store, chunks, done, groups, source, geno_rows, chrom, kins, o,
                               qc_opts, names, log, fail_after_chunks, timings)
            timings["scan"] = time.perf_counter() - t
        t = time.perf_counter()
        lam, n_tested, qc_removed = merge_results(
            store=store, n_chunks=len(chunks), groups=groups, names=names, paths=paths,
            variants=source.variants, has_info=source.has_info, null_path=null_path,
            null_labels=_null_labels(chunks, chrom, o, use_lmm), n_rows_max=len(sel))
        timings["merge"] = time.perf_counter() - t
    except InputError:
        if store.created:
            store.remove()
        raise
    return _summarise(store=store, names=names, lam=lam, n_tested=n_tested,
                      qc_removed=qc_removed, paths=paths, null_path=null_path,
                      n_counts=n_counts, resumed=len(done), timings=timings, t_start=t_start,
                      log=log)


def _summarise(*, store: ChunkStore, names: list[str], lam: dict[str, float], n_tested: int,
               qc_removed: dict[str, int], paths: dict[str, str], null_path: str | None,
               n_counts: dict, resumed: int, timings: dict[str, float], t_start: float,
               log: RunLog) -> GwasSummary:
    """Remove the finished chunk directory, log the totals and return the summary (both
    engines)."""
    store.remove()
    for name in names:
        log.info(f"lambda GC {name}: {lam[name]:.4f}")
    log.info(f"variants tested: {n_tested}; removed by QC: "
             + ", ".join(f"{k} {v}" for k, v in qc_removed.items()))
    timings["total"] = time.perf_counter() - t_start
    return GwasSummary(sumstats=paths, nullmodel=null_path, lambda_gc=lam,
                       n_variants_tested=n_tested, qc_removed=qc_removed,
                       n_individuals=n_counts, resumed_chunks=resumed, timings=timings)


def _file_signatures(o: GwasOptions, **extra: str | None) -> dict:
    """Size and time stamp of every input file of ``o`` (the chunk directory's signature)."""
    files = {"bed": (o.bfile + ".bed") if o.bfile else None,
             "pgen": (o.pfile + ".pgen") if o.pfile else None, "bgen": o.bgen, "pheno": o.pheno,
             "covar": o.covar, "keep": o.keep, "remove": o.remove, "extract": o.extract,
             "exclude": o.exclude,
             "grm": (o.grm_bfile + ".bed") if o.grm_bfile else None, **extra}
    return {k: file_signature(v) for k, v in files.items()}


def _null_labels(chunks, chrom, o: GwasOptions, use_lmm: bool) -> list[str]:
    if not use_lmm:
        return []
    if not o.loco:
        return ["all"]
    return [str(c) for c in dict.fromkeys(int(chrom[ch[0]]) for ch in chunks)]


def _kinship(store: ChunkStore, groups: list[PhenotypeGroup], src, rows: np.ndarray,
             variants: np.ndarray | None, qc_opts: dict | None, block_size: int,
             log: RunLog) -> list[LocoKinship]:
    """Per-group, per-chromosome similarity products (cached in the chunk directory)."""
    import json

    meta_path = store.kinship_meta_path()
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        kins = []
        for k, g in enumerate(groups):
            m = meta[str(k)]
            kin = LocoKinship(n=g.n, total=np.zeros((g.n, g.n)), trace=m["trace"])
            for c, path in m["store"].items():
                kin.chrom_store[int(c)] = path
                kin.chrom_trace[int(c)] = m["chrom_trace"][c]
                kin.chrom_count[int(c)] = m["chrom_count"][c]
                kin.total += np.load(path)
            kins.append(kin)
        log.info("genetic similarity: reused from the interrupted run")
        return kins
    accs = [KinshipAccumulator(n=g.n, spill_dir=store.kinship_dir, prefix=f"g{k}")
            for k, g in enumerate(groups)]
    chrom_all = src.variants["chromosome"].to_numpy()
    if variants is None:
        variants = np.argsort(chrom_all, kind="stable")
    offset = 0
    n_used = 0
    with log.step("genetic similarity (one pass over the genotypes)"):
        for block in src.iter_blocks(samples=rows, variants=variants, block_size=block_size):
            idx = variants[offset:offset + block.dosages.shape[1]]
            offset += len(idx)
            d = block.dosages
            if qc_opts is not None:
                keep = variant_qc(dosages=d, info=block.info, **qc_opts).keep
                d, idx = d[:, keep], idx[keep]
            n_used += len(idx)
            for acc, g in zip(accs, groups):
                acc.add(d[g.rows], chromosomes=chrom_all[idx])
    if n_used == 0:
        raise InputError(f"{src.path}: no variant passed QC to build the genetic similarity; "
                         f"relax --maf/--geno/--hwe/--info")
    try:
        kins = [acc.finish() for acc in accs]
    except ValueError as exc:  # every kept variant constant within a phenotype group
        raise InputError(f"{src.path}: {exc}") from None
    log.info(f"genetic similarity: {n_used} variants over "
             f"{len(kins[0].chrom_count)} chromosomes (standardised, mean-imputed, FaST-LMM)")
    meta = {str(k): {"trace": kin.trace,
                     "store": {str(c): str(p) for c, p in kin.chrom_store.items()},
                     "chrom_trace": {str(c): v for c, v in kin.chrom_trace.items()},
                     "chrom_count": {str(c): v for c, v in kin.chrom_count.items()}}
            for k, kin in enumerate(kins)}
    from ..outputs import atomic_path
    with atomic_path(meta_path) as tmp:
        tmp.write_text(json.dumps(meta))
    return kins


def _scan(store: ChunkStore, chunks, done: set[int], groups, source, rows, chrom, kins,
          o: GwasOptions, qc_opts: dict, names: list[str], log: RunLog,
          fail_after_chunks: int | None, timings: dict[str, float]) -> dict[str, int]:
    """Test every unfinished chunk; write each with its completion marker."""
    from tqdm import tqdm

    qc_removed = {k: 0 for k in QC_REASONS}
    solvers: list[GroupSolver] | None = None
    current = object()
    written = 0
    t_eig = 0.0
    bar = tqdm(total=len(chunks), initial=len(done), unit="block", desc="contig-gwas",
               disable=not o.progress, file=sys.stderr, leave=False)
    try:
        for i, idx in enumerate(chunks):
            if i in done:
                continue
            c = int(chrom[idx[0]])
            label = "ols" if o.linear else (str(c) if o.loco else "all")
            if label != current:
                t = time.perf_counter()
                solvers = [GroupSolver.build(group=g, kinship=None if kins is None else kins[k],
                                             leave_out=c if o.loco else None, reml=o.reml,
                                             linear=o.linear) for k, g in enumerate(groups)]
                t_eig += time.perf_counter() - t
                if not o.linear:
                    _save_null(store, label, solvers)
                current = label
            block = _read(source, rows, idx)
            d = block.dosages
            qc = variant_qc(dosages=d, info=block.info, **qc_opts)
            keep = qc.keep
            dk = d[:, keep]
            res = []
            for s, g in zip(solvers, groups):
                r, af, n_ok = s.test(dk[g.rows])
                res.append((af, n_ok, r))
            out = pack_chunk(variants=idx[keep], qc_fail=qc.fail, groups=res,
                             info=None if block.info is None else np.asarray(block.info)[keep])
            written = _record_chunk(store=store, i=i, arrays=out, qc_fail=qc.fail,
                                    qc_removed=qc_removed, bar=bar, written=written,
                                    fail_after_chunks=fail_after_chunks)
    finally:
        bar.close()
    timings["eigendecompositions and null models"] = t_eig
    log.info(f"eigendecompositions and null models: {t_eig:.1f}s")
    return qc_removed


def _record_chunk(*, store: ChunkStore, i: int, arrays: dict, qc_fail: dict, qc_removed: dict,
                  bar, written: int, fail_after_chunks: int | None) -> int:
    """Write a finished chunk with its marker and count it (both engines); the testing hook
    ``fail_after_chunks`` raises after that many chunks of this run."""
    store.write_chunk(i, arrays)
    for k in QC_REASONS:
        qc_removed[k] += int(qc_fail[k].sum())
    bar.update(1)
    written += 1
    if fail_after_chunks is not None and written >= fail_after_chunks:
        raise RuntimeError(f"injected failure after {written} chunks")
    return written


def _save_null(store: ChunkStore, label: str, solvers: list[GroupSolver]) -> None:
    from ..outputs import atomic_path

    rows = [row for s in solvers for row in s.null_rows(label)]
    with atomic_path(store.null_path(label)) as tmp:
        pd.DataFrame(rows).to_csv(tmp, sep="\t", index=False)
