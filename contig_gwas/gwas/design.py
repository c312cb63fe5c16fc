"""Covariate design and phenotype groups (dataset layer helpers, no file I/O).

- Covariates: individuals with a missing covariate are dropped (and counted); constant and
  collinear covariates are dropped with a warning naming them; an intercept is always added.
- Phenotypes: a phenotype that is all missing or constant is skipped with a warning;
  phenotypes with the same missingness pattern form one group, which shares every
  sample-level matrix (kernel eigendecomposition, rotated covariates).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["PhenotypeGroup", "clean_covariates", "group_phenotypes"]


@dataclass
class PhenotypeGroup:
    """Phenotypes that share one missingness pattern.

    Attributes:
        rows: int array (N_g,), rows into the analysis sample set.
        names: phenotype names, length P_g.
        columns: indices of these phenotypes in the run's phenotype list, shape (P_g,).
        Y: phenotype values, shape (N_g, P_g), no missing values.
        X: covariates with intercept first, shape (N_g, D_g), full column rank.
        covariate_names: the D_g column names (``intercept`` first).
        warnings: what was dropped for this group and why.
        binary: the group's phenotypes are case-control (0/1; ``binary.detect``): a group
            holds binary or quantitative phenotypes, never both.
    """

    rows: np.ndarray
    names: list[str]
    columns: np.ndarray
    Y: np.ndarray
    X: np.ndarray
    covariate_names: list[str]
    warnings: list[str] = field(default_factory=list)
    binary: bool = False

    @property
    def n(self) -> int:
        return len(self.rows)


def clean_covariates(C: np.ndarray, names: list[str], *, rtol: float = 1e-6
                     ) -> tuple[np.ndarray, list[str], list[str]]:
    """Add an intercept and drop constant or collinear covariates (in column order).

    Args:
        C: covariates, shape (N, K), no missing values.
        names: their names, length K.
        rtol: a covariate whose part not explained by the earlier ones has a norm below
            ``rtol`` times its centred norm is collinear.
    Returns:
        X (N, D) with the intercept first, the kept names (``intercept`` first), and one
        warning line per dropped covariate.
    """
    n = C.shape[0]
    cols = [np.ones(n)]
    kept = ["intercept"]
    notes: list[str] = []
    q = np.ones((n, 1)) / np.sqrt(n)
    for j, name in enumerate(names):
        c = np.asarray(C[:, j], dtype=np.float64)
        if np.ptp(c) == 0:
            notes.append(f"covariate {name} is constant; dropped")
            continue
        r = c - q @ (q.T @ c)
        r = r - q @ (q.T @ r)
        if np.linalg.norm(r) <= rtol * np.linalg.norm(c - c.mean()):
            notes.append(f"covariate {name} is collinear with the intercept and covariates "
                         f"{kept[1:]}; dropped")
            continue
        q = np.c_[q, r / np.linalg.norm(r)]
        cols.append(c)
        kept.append(name)
    return np.column_stack(cols), kept, notes


def group_phenotypes(Y: np.ndarray, names: list[str], *, C: np.ndarray, covariate_names: list[str],
                     min_n: int = 3, binary: set[str] | None = None
                     ) -> tuple[list[PhenotypeGroup], list[str]]:
    """Skip unusable phenotypes and group the rest by missingness pattern.

    Args:
        Y: phenotypes over the analysis individuals, shape (N, P), NaN where missing.
        names: phenotype names, length P.
        C: covariates over the same individuals, shape (N, K), no missing values.
        covariate_names: length K.
        min_n: a group needs more than ``D + 1`` and at least ``min_n`` individuals.
        binary: names of the case-control phenotypes (0/1): grouped apart from the others.
    Returns:
        The groups (in order of their first phenotype) and warning lines for skipped phenotypes.
    """
    warnings: list[str] = []
    ok = ~np.isnan(Y)
    patterns: dict[bytes, list[int]] = {}
    for j, name in enumerate(names):
        m = ok[:, j]
        if not m.any():
            warnings.append(f"phenotype {name} is missing for every aligned individual; skipped")
            continue
        v = Y[m, j]
        if np.ptp(v) == 0:
            warnings.append(f"phenotype {name} is constant ({v[0]:g}) over its {int(m.sum())} "
                            f"individuals; skipped")
            continue
        is_bin = binary is not None and name in binary
        patterns.setdefault(np.packbits(m).tobytes() + bytes([int(m.sum()) % 256, is_bin]),
                            []).append(j)
    groups: list[PhenotypeGroup] = []
    for key, cols in patterns.items():
        rows = np.flatnonzero(ok[:, cols[0]])
        X, kept, notes = clean_covariates(C[rows], covariate_names)
        gnames = [names[j] for j in cols]
        if len(rows) < max(min_n, X.shape[1] + 2):
            warnings.append(f"phenotypes {gnames} have {len(rows)} individuals, too few for "
                            f"{X.shape[1]} covariates; skipped")
            continue
        groups.append(PhenotypeGroup(rows=rows, names=gnames, columns=np.array(cols),
                                     Y=Y[np.ix_(rows, np.asarray(cols, dtype=np.intp))], X=X,
                                     covariate_names=kept, warnings=notes,
                                     binary=bool(key[-1])))
    return groups, warnings
