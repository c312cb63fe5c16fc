"""The case-control test of one phenotype group and chromosome, as the engines call it (glue).

``BinaryGroupModel.build`` fits the null models of a binary group (``model.fit_nulls``): with
``predictions`` (mixed-model runs: the leave-one-out LOCO polygenic predictions of the
left-out chromosome's model) or without (``--linear``). ``test`` imputes a block, computes
the case and control frequencies and tests it (``model.associate_binary``, or under
``--linear`` with ``firth``/``logistic`` the full per-variant logistic regression,
``model.associate_logistic``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..association import AssociationResult, impute_block, impute_calls
from ..design import PhenotypeGroup
from .model import (
    NullSummary,
    associate_binary,
    associate_logistic,
    case_control_frequencies,
    fit_nulls,
)
from .score import NullLogistic

__all__ = ["BinaryGroupModel", "TEST_NOTES"]

TEST_NOTES = {
    "firth": "score test; variants with score p < 0.05 re-tested by REGENIE's approximate "
             "Firth penalised likelihood-ratio test (covariates and polygenic prediction held "
             "at the null fit as an offset); beta, se on the log-odds scale",
    "spa": "score test; variants with score p < 0.05 re-tested by the saddle-point "
           "approximation of the score's null distribution (SAIGE); beta = U/V on the "
           "log-odds scale, se such that beta/se gives the p-value",
    "score": "logistic score test (no correction); beta = U/V, se = 1/sqrt(V), log-odds scale",
    "logistic": "logistic regression of every variant with the covariates (maximum "
                "likelihood, Wald test; PLINK 2 --glm no-firth)",
}
LINEAR_FIRTH_NOTE = ("Firth-penalised logistic regression of every variant with the "
                     "covariates (Wald test of the penalised fit; PLINK 2 --glm firth)")


@dataclass
class BinaryGroupModel:
    """The null models of one binary group for one kernel (left-out chromosome).

    Attributes:
        group: the phenotype group (``binary``).
        nulls: one null model per phenotype.
        summaries: their null-model table entries.
        test_name: ``binary.model.BINARY_TESTS``.
        full_logistic: ``--linear`` with ``firth``/``logistic``: every variant's own fit.
    """

    group: PhenotypeGroup
    nulls: list[NullLogistic]
    summaries: list[NullSummary]
    test_name: str
    full_logistic: bool

    @classmethod
    def build(cls, *, group: PhenotypeGroup, test: str, predictions: np.ndarray | None,
              linear: bool, rtol: float = 1e-6) -> "BinaryGroupModel":
        """Fit every phenotype's null model (``predictions``: (N_g, P_g) or None; ``rtol``:
        ``model.fit_nulls``)."""
        nulls, rows = fit_nulls(Y=group.Y, X=group.X, predictions=predictions, rtol=rtol)
        return cls(group=group, nulls=nulls, summaries=rows, test_name=test,
                   full_logistic=linear and test in ("firth", "logistic"))

    def test(self, dosages: np.ndarray, *, calls: bool = False
             ) -> tuple[np.ndarray, np.ndarray, AssociationResult, dict[str, np.ndarray]]:
        """Test a block of this group's individuals, shape (N_g, B): dosages with NaN missing,
        or (``calls``) int8 hard calls negative where missing.

        Returns:
            effect-allele frequency (B,), non-missing calls (B,), the AssociationResult
            (B, P_g) and the case-control columns of ``results.pack_chunk``.
        """
        if calls:
            G, af, n_ok = impute_calls(dosages)
            mask = np.asarray(dosages) < 0
        else:
            G, af, n_ok = impute_block(dosages)
            mask = np.isnan(dosages)
        miss = mask if mask.any() else None
        if self.full_logistic:
            res = associate_logistic(self.group.Y, self.group.X, G,
                                      firth=self.test_name == "firth")
        else:
            res = associate_binary(self.nulls, G, test=self.test_name)
        cols: dict[str, list[np.ndarray]] = {k: [] for k in ("af_cases", "af_controls",
                                                                "n_cases", "n_controls")}
        for j in range(self.group.Y.shape[1]):
            a1, a0, n1, n0 = case_control_frequencies(G, miss, self.group.Y[:, j])
            for k, v in zip(cols, (a1, a0, n1, n0)):
                cols[k].append(v)
        extra = {k: np.column_stack(v) for k, v in cols.items()}
        return af, n_ok, res, extra

    def null_rows(self) -> list[dict]:
        """Per phenotype, the binary entries of the null-model table."""
        return [{"n_cases": s.n_cases, "n_controls": s.n_controls,
                 "logistic_loglik": s.loglik, "logistic_converged": s.converged,
                 "prediction_coef": s.prediction_coef, "test": self.test_name}
                for s in self.summaries]
