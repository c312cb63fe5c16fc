"""Resumable per-chunk results: ``PREFIX.chunks/`` with completion markers.

Layout::

    PREFIX.chunks/signature.json        what the results depend on (options, input file stats)
    PREFIX.chunks/chunk_000012.npz      results of chunk 12 (written to a temporary name, renamed)
    PREFIX.chunks/chunk_000012.done     its completion marker: the SHA-256 of the .npz
    PREFIX.chunks/null.<chrom>.tsv      null-model fits used for that left-out chromosome
    PREFIX.chunks/kinship/g3.json       phenotype group 3's similarity (``LocoKinship.save``)
    PREFIX.chunks/kinship/g3.chr1.npy   ... and its per-chromosome products
    PREFIX.chunks/step1.npz             the scalable mode's step 1

Arrays of a chunk: see ``results.pack_chunk`` (variants kept by QC, QC counts, INFO, allele
frequencies and call counts per phenotype group, beta, standard error and -log10 p as
(variants x phenotypes) matrices); ``merge_results`` reads each chunk once.

A chunk counts as finished only when its marker exists and matches the file's hash, so a chunk
cut short by a kill (no marker, or a stale temporary file) is recomputed, never merged. The
directory is removed after the final outputs are written.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..outputs import atomic_path

__all__ = ["ChunkStore", "file_signature"]


def file_signature(path: str | os.PathLike | None) -> dict | None:
    """Size and modification time of a file (None for None or a missing file)."""
    if path is None:
        return None
    p = Path(path)
    if not p.exists():
        return None
    st = p.stat()
    return {"path": str(p.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for piece in iter(lambda: fh.read(1 << 20), b""):
            h.update(piece)
    return h.hexdigest()


class ChunkStore:
    """The chunk directory of one run."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.dir = Path(directory)
        self.created = False

    @property
    def kinship_dir(self) -> Path:
        return self.dir / "kinship"

    def open(self, signature: dict, *, overwrite: bool) -> bool:
        """Create the directory, or resume it when its signature matches.

        Returns:
            True when resuming an earlier run with the same signature.
        Raises:
            InputError when the directory holds another run's chunks and ``overwrite`` is False.
        """
        sig_path = self.dir / "signature.json"
        text = json.dumps(signature, sort_keys=True, indent=1)
        if self.dir.exists():
            old = sig_path.read_text() if sig_path.exists() else None
            if old == text:
                return True
            if not overwrite:
                raise InputError(f"{self.dir}: holds chunks of a run with other inputs or "
                                 f"options; rerun the same command to resume it, or pass "
                                 f"--overwrite to start again")
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True)
        self.created = True
        with atomic_path(sig_path) as tmp:
            tmp.write_text(text)
        return False

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def _chunk(self, i: int) -> tuple[Path, Path]:
        return self.dir / f"chunk_{i:06d}.npz", self.dir / f"chunk_{i:06d}.done"

    def is_done(self, i: int) -> bool:
        data, marker = self._chunk(i)
        return marker.exists() and data.exists()

    def done_set(self, n_chunks: int) -> set[int]:
        return {i for i in range(n_chunks) if self.is_done(i)}

    def write_chunk(self, i: int, arrays: dict[str, np.ndarray]) -> None:
        """Write a chunk's arrays, then its marker (both atomically)."""
        data, marker = self._chunk(i)
        with atomic_path(data) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)  # type: ignore[arg-type]  # numpy's stub: **kwds typed bool
        with atomic_path(marker) as tmp:
            tmp.write_text(_sha256(data) + "\n")

    def verify_chunk(self, i: int) -> None:
        """Raise RuntimeError unless chunk ``i`` has its marker and matches it."""
        data, marker = self._chunk(i)
        if not marker.exists():
            raise RuntimeError(f"{data}: chunk has no completion marker")
        if marker.read_text().strip() != _sha256(data):
            raise RuntimeError(f"{data}: chunk does not match its completion marker")

    def load_chunk(self, i: int, keys: list[str] | None = None) -> dict[str, np.ndarray]:
        """Load some (default all) arrays of a finished chunk (call verify_chunk first)."""
        data, _ = self._chunk(i)
        with np.load(data) as z:
            return {k: z[k] for k in (z.files if keys is None else keys)}

    def null_path(self, label: str) -> Path:
        return self.dir / f"null.{label}.tsv"

    def kinship_path(self, group: int) -> Path:
        """Where phenotype group ``group``'s similarity is saved (``LocoKinship.save``)."""
        return self.kinship_dir / f"g{group}.json"

    @property
    def step1_path(self) -> Path:
        """Where the scalable mode keeps its step 1 while the run is unfinished."""
        return self.dir / "step1.npz"
