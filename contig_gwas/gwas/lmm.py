"""Per-group solver: kernel eigendecomposition, null models, and the block test (glue).

One ``GroupSolver`` holds the sample-level matrices of one phenotype group for one kernel
(one left-out chromosome): the eigendecomposition ``K = U diag(S) U'`` (computed once and
shared by all phenotypes of the group), the null-model fit of each phenotype, and the
precomputed ``association.GroupModel``. With ``linear=True`` there is no kernel (OLS).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..genomic_control import lambda_gc  # noqa: F401 - re-exported; the one definition
from .association import AssociationResult, GroupModel, associate_block, impute_block, prepare_group
from .design import PhenotypeGroup
from .kinship import LocoKinship
from .nullmodel import NullModelFit, fit_null_model

__all__ = ["GroupSolver", "lambda_gc", "STATISTIC"]

STATISTIC = ("Wald test of the variant's fixed effect with the variance components fixed at the "
             "null model (as FaST-LMM single_snp): t = beta/se, p from Student's t with "
             "N - D - 1 degrees of freedom (= F(1, N - D - 1) on t^2)")


@dataclass
class GroupSolver:
    """Sample-level state of one group for one kernel.

    Attributes:
        group: the phenotype group.
        model: the precomputed GroupModel.
        fits: null-model fit per phenotype (empty for OLS).
    """

    group: PhenotypeGroup
    model: GroupModel
    fits: list[NullModelFit]

    @classmethod
    def build(cls, *, group: PhenotypeGroup, kinship: LocoKinship | None,
              leave_out: int | None, reml: bool = True, linear: bool = False) -> "GroupSolver":
        """Eigendecompose the (leave-one-chromosome-out) kernel and fit every null model."""
        if linear:
            return cls(group=group, model=prepare_group(S=None, U=None, X=group.X, Y=group.Y,
                                                        delta=None), fits=[])
        assert kinship is not None, "a mixed model needs its kinship"
        K = kinship.kernel(leave_out=leave_out)
        # LAPACK dsyevd (divide and conquer): the dominant cost, O(N^3). numpy's eigh, not
        # scipy's: it releases the GIL, so the kernels of several chromosomes are decomposed
        # at once on the driver's worker threads (scipy's f2py wrapper holds it throughout)
        S, U = np.linalg.eigh(K)
        del K
        UtX = U.T @ group.X
        UtY = U.T @ group.Y
        fits = [fit_null_model(S=S, UtX=UtX, Uty=UtY[:, j], reml=reml, phenotype=name)
                for j, name in enumerate(group.names)]
        model = prepare_group(S=S, U=U, X=group.X, Y=group.Y,
                              delta=np.array([f.delta for f in fits]), UtX=UtX, UtY=UtY)
        return cls(group=group, model=model, fits=fits)

    def test(self, dosages: np.ndarray) -> tuple[AssociationResult, np.ndarray, np.ndarray]:
        """Test a block of dosages (N_g, B) of this group's individuals against its phenotypes.

        Returns:
            the AssociationResult (B, P_g), the effect-allele frequency (B,) and the number of
            non-missing calls (B,) among the group's individuals.
        """
        G, af, n_ok = impute_block(dosages)
        return associate_block(self.model, G), af, n_ok

    def null_rows(self, label: str) -> list[dict]:
        """One row per phenotype for ``PREFIX.nullmodel.tsv``."""
        return [{"phenotype": f.phenotype, "left_out_chromosome": label, "n": f.n,
                 "n_covariates": self.group.X.shape[1], "sg2": f.sg2, "se2": f.se2,
                 "delta": f.delta, "h2": f.h2, "loglik": f.loglik, "n_iter": f.n_iter,
                 "method": "REML" if f.reml else "ML", "converged": f.converged,
                 "at_bound": f.at_bound} for f in self.fits]
