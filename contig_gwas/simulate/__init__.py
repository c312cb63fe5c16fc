"""Seeded synthetic cohort with its truth (``contig-simulate``); see ``simulate_cohort``."""

from .cohort import simulate_cohort
from .truth import CohortParameters, CohortTruth

__all__ = ["simulate_cohort", "CohortParameters", "CohortTruth"]
