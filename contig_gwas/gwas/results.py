"""Chunk results of both engines, and their merge into the per-phenotype summary statistics.

A chunk (``pack_chunk``) holds, for its B variants kept by QC, G phenotype groups and P
phenotypes in run order: ``variants`` (B,) indices into the genotype source, ``qc`` (5,)
variants removed per ``qc.QC_REASONS``, ``info`` (B,) for BGEN, ``af`` and ``n`` (B, G)
effect-allele frequency and calls per group, ``beta``, ``se`` and ``nlp`` (B, P); with a
case-control phenotype in the run, ``af_cases``, ``af_controls`` (B, P) (NaN for quantitative
phenotypes), ``n_cases`` and ``n_controls`` (B, P) (non-missing calls; -1 for quantitative
phenotypes), written to the case-control phenotypes' files as the schema's optional columns.

``merge_results`` reads every chunk once, in order, and appends its rows to every phenotype's
output as one gzip member per batch of rows (members concatenate into one valid gzip file), so
the merge costs one pass whatever the number of phenotypes; the -log10 p values go to a
float32 scratch file in the chunk directory for the genomic-control median. Memory: one batch
of rows (``batch_rows x (5 + 3 P)`` values), whatever the numbers of variants and phenotypes.
The phenotypes of a batch are formatted and compressed on the run's worker threads (pyarrow's
writer and ISA-L release the GIL) and appended in order: the same bytes for any number of
threads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io.sumstats import COLUMNS, OPTIONAL_COLUMNS, arrow_column, format_rows, gzip_member
from ..outputs import atomic_path
from .association import AssociationResult
from .chunks import ChunkStore
from .design import PhenotypeGroup
from .lmm import lambda_gc
from .parallel import Workers
from .qc import QC_REASONS

__all__ = ["merge_results", "pack_chunk", "CHUNK_LAYOUT"]

CHUNK_LAYOUT = 3   # in the run signature: a chunk directory of another layout is not resumed


def pack_chunk(*, variants: np.ndarray, qc_fail: dict[str, np.ndarray], info: np.ndarray | None,
               groups: list[tuple[np.ndarray, np.ndarray, AssociationResult]],
               binary: list[dict[str, np.ndarray] | None] | None = None
               ) -> dict[str, np.ndarray]:
    """The arrays of one chunk.

    Args:
        variants: indices of the variants kept by QC, shape (B,).
        qc_fail: per QC reason, the boolean fail mask over the chunk's variants.
        info: imputation INFO of the kept variants (BGEN) or None.
        groups: per phenotype group ``(af (B,), n (B,), result (arrays (B, P_k)))``.
        binary: per group, None (quantitative) or the case-control columns ``af_cases``,
            ``af_controls``, ``n_cases``, ``n_controls`` (each (B, P_k)); None: no
            case-control phenotype in the run.
    """
    out = {"variants": np.asarray(variants, dtype=np.int64),
           "qc": np.array([int(np.sum(qc_fail[k])) for k in QC_REASONS], dtype=np.int64),
           "af": np.column_stack([af for af, _, _ in groups]),
           "n": np.column_stack([n for _, n, _ in groups]).astype(np.int64),
           "beta": np.hstack([r.beta for _, _, r in groups]),
           "se": np.hstack([r.se for _, _, r in groups]),
           "nlp": np.hstack([r.neg_log10_p for _, _, r in groups])}
    if info is not None:
        out["info"] = np.asarray(info, dtype=np.float64)
    if binary is not None and any(x is not None for x in binary):
        for key, fill in (("af_cases", np.nan), ("af_controls", np.nan), ("n_cases", -1),
                          ("n_controls", -1)):
            parts = []
            for (_, _, r), x in zip(groups, binary):
                shape = r.beta.shape
                parts.append(np.full(shape, fill) if x is None else
                             np.broadcast_to(x[key], shape))
            out[key] = np.hstack(parts).astype(np.int64 if fill == -1 else np.float64)
    return out


def merge_results(*, store: ChunkStore, n_chunks: int, groups: list[PhenotypeGroup],
                  names: list[str], paths: dict[str, str], variants: pd.DataFrame,
                  has_info: bool, null_path: str | None, null_labels: list[str],
                  n_rows_max: int, batch_rows: int = 200_000,
                  workers: Workers | None = None
                  ) -> tuple[dict[str, float], int, dict[str, int]]:
    """Write ``paths[name]`` for every phenotype and the null-model table.

    Every chunk must be finished (marker present and matching).

    Args:
        n_rows_max: an upper bound on the number of tested variants (the variants selected).
        batch_rows: rows formatted and compressed at once.
        workers: the threads that format and compress the phenotypes (None: this thread).
    Returns:
        lambda GC per phenotype, number of variants tested, variants removed per QC reason.
    """
    for i in range(n_chunks):
        store.verify_chunk(i)
    group_of = np.array([k for k, g in enumerate(groups) for _ in g.names])
    p = len(names)
    qc = np.zeros(len(QC_REASONS), dtype=np.int64)
    binary_names = {n for g in groups if g.binary for n in g.names}
    extra_binary = ["n_cases", "n_controls", "effect_allele_frequency_cases",
                    "effect_allele_frequency_controls"]
    assert all(c in OPTIONAL_COLUMNS for c in extra_binary)
    headers = {n: ("\t".join(COLUMNS + (["info"] if has_info else [])
                             + (extra_binary if n in binary_names else [])) + "\n").encode()
               for n in names}
    scratch = store.dir / "nlp.f32"
    nlp_all = np.lib.format.open_memmap(scratch, mode="w+", dtype=np.float32,
                                        shape=(p, max(n_rows_max, 1)))
    chrom = variants["chromosome"].to_numpy()
    pos = variants["position"].to_numpy()
    vid = variants["variant_id"].to_numpy()
    ea = variants["effect_allele"].to_numpy()
    oa = variants["other_allele"].to_numpy()
    n_rows = 0
    with _Outputs(paths, names, headers) as outs:
        pending: list[dict[str, np.ndarray]] = []
        pending_rows = 0

        def flush() -> None:
            nonlocal pending, pending_rows
            if not pending:
                return
            z = {k: np.concatenate([c[k] for c in pending]) for k in pending[0]}
            idx = z["variants"]
            # columns shared by every phenotype (of a group) are converted once
            base = {k: arrow_column(v) for k, v in (
                ("chromosome", chrom[idx]), ("base_pair_location", pos[idx]),
                ("variant_id", vid[idx]), ("effect_allele", ea[idx]),
                ("other_allele", oa[idx]))}
            per_group = [{"effect_allele_frequency": arrow_column(z["af"][:, k]),
                          "n": arrow_column(z["n"][:, k])} for k in range(z["af"].shape[1])]
            info = arrow_column(z["info"]) if has_info else None

            def member(j: int) -> bytes:
                nlp = z["nlp"][:, j]
                cols = dict(base)
                cols.update(per_group[group_of[j]])
                cols.update({"beta": z["beta"][:, j], "standard_error": z["se"][:, j],
                             "p_value": np.power(10.0, -nlp), "neg_log10_p_value": nlp})
                if has_info:
                    cols["info"] = info
                if names[j] in binary_names:
                    cols.update({"n_cases": z["n_cases"][:, j],
                                 "n_controls": z["n_controls"][:, j],
                                 "effect_allele_frequency_cases": z["af_cases"][:, j],
                                 "effect_allele_frequency_controls": z["af_controls"][:, j]})
                return gzip_member(format_rows(cols, header=False))

            for name, data in zip(names, (workers or Workers(1)).map(member, range(p))):
                outs.append(name, data)
            pending, pending_rows = [], 0

        for i in range(n_chunks):
            z = store.load_chunk(i)
            qc += z["qc"]
            b = len(z["variants"])
            if b == 0:
                continue
            if n_rows + b > nlp_all.shape[1]:
                raise RuntimeError(f"{store.dir}: more tested variants than selected")
            nlp_all[:, n_rows:n_rows + b] = z["nlp"].T
            n_rows += b
            z.pop("qc")
            pending.append(z)
            pending_rows += b
            if pending_rows >= batch_rows:
                flush()
        flush()
        if n_rows == 0:
            removed = ", ".join(f"{k} {n}" for k, n in zip(QC_REASONS, qc.tolist()) if n)
            raise InputError(f"no variant passed QC ({removed or 'none selected'}); nothing "
                             f"was tested: relax --maf/--geno/--hwe/--info or check --chr/--range")
        lam = {name: lambda_gc(nlp_all[j, :n_rows]) for j, name in enumerate(names)}
    del nlp_all
    scratch.unlink()
    if null_path is not None:
        tables = [pd.read_csv(store.null_path(label), sep="\t", keep_default_na=False,
                              dtype={"phenotype": str, "left_out_chromosome": str})
                  for label in null_labels]
        null = pd.concat(tables, ignore_index=True)
        order = {n: k for k, n in enumerate(names)}
        null = null.sort_values("phenotype", key=lambda s: s.map(order), kind="stable")
        with atomic_path(null_path) as tmp:
            null.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    return lam, n_rows, dict(zip(QC_REASONS, qc.tolist()))


class _Outputs:
    """Every phenotype's output written to a temporary file (header member first) and renamed
    onto its path only when all are complete; on error none is left behind. Files are opened
    per append, so the number of phenotypes is not limited by open-file limits."""

    def __init__(self, paths: dict[str, str], names: list[str],
                 headers: dict[str, bytes]) -> None:
        self.paths, self.names, self.headers = paths, names, headers
        self._ctx: dict[str, Any] = {}
        self.tmp: dict[str, Path] = {}

    def __enter__(self) -> "_Outputs":
        try:
            for name in self.names:
                member = gzip_member(self.headers[name])
                ctx = atomic_path(self.paths[name])
                self.tmp[name] = ctx.__enter__()
                self._ctx[name] = ctx
                self.tmp[name].write_bytes(member)
        except BaseException as exc:
            self.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def append(self, name: str, data: bytes) -> None:
        with open(self.tmp[name], "ab") as fh:
            fh.write(data)

    def __exit__(self, et, ev, tb) -> Literal[False]:
        for name, ctx in self._ctx.items():
            if et is None:
                ctx.__exit__(None, None, None)
            else:
                try:
                    ctx.__exit__(et, ev, tb)
                except BaseException:   # noqa: BLE001 - the context re-raises the error
                    pass
        return False
