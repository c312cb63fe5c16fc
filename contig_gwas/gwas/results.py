"""Merge finished chunks into the per-phenotype summary statistics and the null-model table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io.sumstats import write_sumstats
from ..outputs import atomic_path
from .chunks import ChunkStore
from .design import PhenotypeGroup
from .lmm import lambda_gc
from .qc import QC_REASONS

__all__ = ["merge_results"]


def merge_results(*, store: ChunkStore, n_chunks: int, groups: list[PhenotypeGroup],
                  names: list[str], paths: dict[str, str], variants: pd.DataFrame,
                  has_info: bool, null_path: str | None, null_labels: list[str]
                  ) -> tuple[dict[str, float], int, dict[str, int]]:
    """Write ``paths[name]`` for every phenotype and the null-model table.

    Every chunk must be finished (marker present and matching). Phenotypes are merged one at
    a time, reading only their own arrays from each chunk: memory is about
    ``M_tested x 12`` values (one phenotype's table), whatever the number of phenotypes.

    Returns:
        lambda GC per phenotype, number of variants tested, variants removed per QC reason.
    """
    qc = np.zeros(len(QC_REASONS), dtype=np.int64)
    idx_parts, info_parts = [], []
    for i in range(n_chunks):
        store.verify_chunk(i)
        z = store.load_chunk(i, ["variants", "qc"] + (["info"] if has_info else []))
        idx_parts.append(z["variants"])
        qc += z["qc"]
        if has_info:
            info_parts.append(z["info"])
    idx = np.concatenate(idx_parts)
    if len(idx) == 0:
        removed = ", ".join(f"{k} {n}" for k, n in zip(QC_REASONS, qc.tolist()) if n)
        raise InputError(f"no variant passed QC ({removed or 'none selected'}); nothing was "
                         f"tested: relax --maf/--geno/--hwe/--info or check --chr/--range")
    v = variants.iloc[idx]
    base = pd.DataFrame({"chromosome": v["chromosome"].to_numpy(),
                         "base_pair_location": v["position"].to_numpy(),
                         "variant_id": v["variant_id"].to_numpy(),
                         "effect_allele": v["effect_allele"].to_numpy(),
                         "other_allele": v["other_allele"].to_numpy()})
    info = np.concatenate(info_parts) if has_info else None
    lam: dict[str, float] = {}
    j = 0
    for k, g in enumerate(groups):
        for _ in g.names:
            name = names[j]
            keys = [f"af_g{k}", f"n_g{k}", f"beta_{j}", f"se_{j}", f"nlp_{j}"]
            parts = [store.load_chunk(i, keys) for i in range(n_chunks)]
            col = {key: np.concatenate([p[key] for p in parts]) for key in keys}
            nlp = col[f"nlp_{j}"]
            df = base.copy()
            df["effect_allele_frequency"] = col[f"af_g{k}"]
            df["n"] = col[f"n_g{k}"].astype(np.int64)
            df["beta"] = col[f"beta_{j}"]
            df["standard_error"] = col[f"se_{j}"]
            df["p_value"] = np.power(10.0, -nlp)
            df["neg_log10_p_value"] = nlp
            if info is not None:
                df["info"] = info
            write_sumstats(paths[name], df)
            lam[name] = lambda_gc(nlp)
            j += 1
    if null_path is not None:
        tables = [pd.read_csv(store.null_path(label), sep="\t", keep_default_na=False,
                              dtype={"phenotype": str, "left_out_chromosome": str})
                  for label in null_labels]
        null = pd.concat(tables, ignore_index=True)
        order = {n: k for k, n in enumerate(names)}
        null = null.sort_values("phenotype", key=lambda s: s.map(order), kind="stable")
        with atomic_path(null_path) as tmp:
            null.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    return lam, len(idx), dict(zip(QC_REASONS, qc.tolist()))
