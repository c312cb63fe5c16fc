"""Which phenotypes are case-control, and their recoding to 0/1 (array layer, no I/O).

Rules (``--binary``):

- ``auto`` (default): a phenotype whose non-missing values are exactly two levels ``{0, 1}``
  (0 control, 1 case) or ``{1, 2}`` (PLINK's coding: 1 control, 2 case) is binary. Values
  ``-9`` are already missing when the table is read (``io.tables``). A column with the levels
  ``{0, 1, 2}`` is ambiguous (a count, or PLINK 1/2 coding with 0 missing): it stays
  quantitative under ``auto``, with a warning naming ``--binary NAME``.
- ``none``: every phenotype is quantitative (the behaviour before case-control support: the
  linear model on the 0/1 scale, as BOLT-LMM).
- ``NAME,...``: these phenotypes are binary and must be codable: two levels ``{0, 1}`` or
  ``{1, 2}``, or ``{0, 1, 2}`` read as PLINK (0 missing, 1 control, 2 case).

A learned (continuous) phenotype has as many levels as individuals and is never binary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import InputError

__all__ = ["BinaryDecision", "decide_binary", "recode_binary"]


@dataclass
class BinaryDecision:
    """What ``decide_binary`` concluded for one phenotype.

    Attributes:
        name: the phenotype.
        binary: treated as case-control.
        coding: ``"0/1"``, ``"1/2"``, ``"1/2 (0 missing)"`` or ``""`` (quantitative).
        n_cases, n_controls: counts over the non-missing values (0 when quantitative).
        note: a warning line, or ``""``.
    """

    name: str
    binary: bool
    coding: str = ""
    n_cases: int = 0
    n_controls: int = 0
    note: str = ""


def _levels(y: np.ndarray) -> set[float]:
    v = y[~np.isnan(y)]
    u = np.unique(v)
    return set(u.tolist()) if len(u) <= 3 else {np.nan}


def recode_binary(y: np.ndarray, *, coding: str) -> np.ndarray:
    """``y`` as 0 (control) / 1 (case) / NaN (missing), shape of ``y``."""
    y = np.asarray(y, dtype=np.float64)
    if coding == "0/1":
        return y.copy()
    out = np.where(y == 2, 1.0, np.where(y == 1, 0.0, np.nan))
    return out


def decide_binary(Y: np.ndarray, names: list[str], *, spec: str | list[str] = "auto",
                  source: str = "--pheno") -> tuple[np.ndarray, list[BinaryDecision]]:
    """Decide which phenotypes are binary and recode them.

    Args:
        Y: phenotypes, shape (N, P), NaN missing.
        names: their names, length P.
        spec: ``"auto"``, ``"none"`` or a list of phenotype names (``--binary``).
        source: the phenotype file, for error messages.
    Returns:
        ``Y`` with the binary columns recoded to 0/1/NaN (a copy), and one decision per column.
    Raises:
        InputError when a named phenotype is absent or not codable as case-control.
    """
    Y = np.array(Y, dtype=np.float64, copy=True)
    named: set[str] = set()
    if isinstance(spec, str):
        if spec not in ("auto", "none"):
            raise InputError(f"--binary {spec!r}: expected auto, none or phenotype names")
    else:
        named = set(spec)
        absent = sorted(named - set(names))
        if absent:
            raise InputError(f"{source}: --binary names phenotype(s) {absent} that are not "
                             f"among the analysed phenotypes {names}")
    out: list[BinaryDecision] = []
    for j, name in enumerate(names):
        lv = _levels(Y[:, j])
        coding = ""
        note = ""
        if lv == {0.0, 1.0}:
            coding = "0/1"
        elif lv == {1.0, 2.0}:
            coding = "1/2"
        elif lv == {0.0, 1.0, 2.0}:
            if name in named:
                coding = "1/2 (0 missing)"
            elif spec == "auto":
                note = (f"phenotype {name} has the levels 0, 1, 2: treated as quantitative "
                        f"(give --binary {name} to read it as PLINK case-control, 0 missing)")
        if name in named and not coding:
            raise InputError(f"{source}: --binary {name}: its values are not case-control "
                             f"(0/1, or 1/2 with 0 and -9 missing)")
        binary = bool(coding) and (name in named or spec == "auto")
        if not binary:
            out.append(BinaryDecision(name=name, binary=False, note=note))
            continue
        y = recode_binary(Y[:, j], coding="0/1" if coding == "0/1" else "1/2")
        Y[:, j] = y
        n_cases, n_controls = int(np.sum(y == 1)), int(np.sum(y == 0))
        if n_cases == 0 or n_controls == 0:
            raise InputError(f"{source}: binary phenotype {name} has {n_cases} cases and "
                             f"{n_controls} controls: nothing to test")
        out.append(BinaryDecision(name=name, binary=True, coding=coding, n_cases=n_cases,
                                  n_controls=n_controls))
    return Y, out
