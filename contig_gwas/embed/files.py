"""Files of contig-embed: embeddings Parquet (with provenance metadata) and the PCA table."""

from __future__ import annotations

import json
import os
from typing import Mapping

import numpy as np
import pandas as pd

from ..outputs import atomic_path
from .condense import PCAResult

METADATA_KEY = b"contig_gwas"


def write_embeddings(path: str | os.PathLike, *, iid: np.ndarray, instance: np.ndarray,
                     values: np.ndarray, metadata: Mapping[str, object]) -> None:
    """``IID, instance, emb_0..emb_{D-1}`` (float32) with ``metadata`` as JSON in the schema."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = {"IID": pa.array(np.asarray(iid, dtype=str)),
            "instance": pa.array(np.asarray(instance, dtype=str))}
    for j in range(values.shape[1]):
        cols[f"emb_{j}"] = pa.array(np.ascontiguousarray(values[:, j], dtype=np.float32))
    table = pa.table(cols)
    meta = dict(table.schema.metadata or {})
    meta[METADATA_KEY] = json.dumps(dict(metadata)).encode()
    table = table.replace_schema_metadata(meta)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_embeddings(path: str | os.PathLike) -> tuple[pd.DataFrame, dict]:
    """The embeddings table and its metadata dict (model, checkpoint_sha256, layer, ...)."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    meta = json.loads((table.schema.metadata or {}).get(METADATA_KEY, b"{}"))
    return table.to_pandas(), meta


def write_pcs(path: str | os.PathLike, result: PCAResult) -> None:
    """``PC explained_variance explained_variance_ratio cumulative_ratio``, one row per PC."""
    k = len(result.explained_variance)
    df = pd.DataFrame({"PC": [f"PC_{i}" for i in range(k)],
                       "explained_variance": result.explained_variance,
                       "explained_variance_ratio": result.explained_variance_ratio,
                       "cumulative_ratio": np.cumsum(result.explained_variance_ratio)})
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
