"""LD-score regression: LD scores from genotypes and the regression of chi2 on them (ldsc).

``ld_scores`` (``scores``) streams a genotype source; ``ldsc_regression`` (``regression``,
arrays in) and ``ldsc_for_sumstats`` (``sumstats``, a summary-statistics table in) return an
``LdscResult`` with the intercept, h2 and the attenuation ratio, each with its block-jackknife
SE. The maths follows bulik/ldsc (``ldscore/ldscore.py``, ``regressions.py``, ``irwls.py``,
``jackknife.py``); see docs/methods.md, "LD-score regression".
"""

from .regression import LdscResult, ldsc_regression
from .scores import LdScores, ld_scores
from .sumstats import ldsc_for_sumstats

__all__ = ["LdScores", "LdscResult", "ld_scores", "ldsc_for_sumstats", "ldsc_regression"]
