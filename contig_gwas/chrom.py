"""Chromosome names: one normalised code per chromosome.

Codes follow PLINK: ``0`` = unplaced (read, but refused by ``open_genotypes`` unless
``--exclude``/``--extract`` leave none), autosomes ``1``..``22``, ``23`` = X, ``24`` = Y,
``25`` = XY (PAR), ``26`` = MT. ``chr1``, ``Chr1``, ``1`` and ``01`` are all ``1``; ``X``,
``chrX`` and ``23`` are all ``23``. Codes are plain ints throughout the package and in every
output file.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError

_NAMED = {"X": 23, "Y": 24, "XY": 25, "PAR": 25, "MT": 26, "M": 26}


def chromosome_label(code: int) -> str:
    """The printed name of a code: ``1``..``22``, ``X``, ``Y``, ``XY``, ``MT``."""
    return {23: "X", 24: "Y", 25: "XY", 26: "MT"}.get(int(code), str(int(code)))


def normalise_chromosome(name: object, *, source: str = "input") -> int:
    """Return the integer code of one chromosome name; InputError for an unknown name."""
    s = str(name).strip()
    if s.lower().startswith("chr"):
        s = s[3:]
    s_upper = s.upper()
    if s_upper in _NAMED:
        return _NAMED[s_upper]
    try:
        f = float(s)
    except ValueError:
        raise InputError(f"{source}: unknown chromosome name {str(name)!r}") from None
    if not f.is_integer() or not 0 <= int(f) <= 26:
        raise InputError(f"{source}: unknown chromosome name {str(name)!r} (expected 0-26, X, Y, "
                         f"XY, MT)")
    return int(f)


def normalise_chromosomes(names, *, source: str = "input") -> np.ndarray:
    """Vectorised ``normalise_chromosome`` over the distinct names; returns int64 codes."""
    arr = np.asarray(names).astype(str)
    uniq, inv = np.unique(arr, return_inverse=True)
    codes = np.array([normalise_chromosome(u, source=source) for u in uniq], dtype=np.int64)
    return codes[inv.reshape(-1)]


def parse_chromosome_list(text: str) -> list[int]:
    """Parse ``--chr`` values such as ``1-3,5,X`` into codes."""
    out: list[int] = []
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        if "-" in part:
            a, b = part.split("-", 1)
            lo = normalise_chromosome(a, source="--chr")
            hi = normalise_chromosome(b, source="--chr")
            out.extend(range(lo, hi + 1))
        else:
            out.append(normalise_chromosome(part, source="--chr"))
    return sorted(set(out))
