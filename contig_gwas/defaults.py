"""Numbers that several stages must agree on, defined once.

The command lines, the engines and the documentation read them from here, so a change moves
all of them together.
"""

import math

#: contig-gwas --mode auto: the scalable engine (BOLT-LMM-inf) from this many individuals in
#: the genotype file on, the exact engine (FaST-LMM) below
AUTO_MIN_INDIVIDUALS = 10_000

#: contig-h2 --method auto: REML up to this many individuals, Haseman-Elston above (the same
#: size at which contig-gwas leaves eigendecompositions for the scalable engine)
REML_MAX_N = AUTO_MIN_INDIVIDUALS

#: variance-component search of the exact engine (FaST-LMM's): ``log delta`` over this range,
#: i.e. h2 = 1 / (1 + delta) in [~2e-9, 0.99999] (FaST-LMM searches h2 in [0, 0.99999]),
#: first on a grid of ``EXACT_GRID_POINTS``, then Brent between the best point's neighbours
EXACT_LOG_DELTA_BOUNDS = (math.log(1e-5 / 0.99999), 20.0)
EXACT_GRID_POINTS = 100

#: variance-component search of the scalable engine (BOLT-LMM-inf's): h2 in [1e-4, 0.99], on
#: a grid of ``SCALABLE_GRID_POINTS`` in ``log delta``, then Brent. The upper end differs from
#: the exact engine's on purpose: every step-1 solve is by conjugate gradients on K + delta I,
#: whose condition number grows as 1 / delta, and BOLT-LMM caps h2 there too
SCALABLE_H2_BOUNDS = (1e-4, 0.99)
SCALABLE_GRID_POINTS = 121

#: ``at_bound`` in PREFIX.nullmodel.tsv (both engines): the fitted ``log delta`` lies within
#: this distance of an end of the engine's search range
AT_BOUND_LOG_DELTA = 1e-2


def at_bound(log_delta: float, bounds: tuple[float, float]) -> bool:
    """The one rule for ``nullmodel.tsv``'s ``at_bound`` column (see ``AT_BOUND_LOG_DELTA``)."""
    lo, hi = bounds
    return bool(log_delta - lo < AT_BOUND_LOG_DELTA or hi - log_delta < AT_BOUND_LOG_DELTA)


def log_delta_bounds(h2_bounds: tuple[float, float]) -> tuple[float, float]:
    """``log delta`` range of an h2 range (``delta = (1 - h2) / h2``, decreasing in h2)."""
    lo, hi = h2_bounds
    return math.log((1 - hi) / hi), math.log((1 - lo) / lo)
