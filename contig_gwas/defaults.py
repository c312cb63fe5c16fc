"""Numbers that several stages must agree on, defined once.

The command lines, the engines and the documentation read them from here, so a change moves
all of them together.
"""

#: contig-gwas --mode auto: the scalable engine (BOLT-LMM-inf) from this many individuals in
#: the genotype file on, the exact engine (FaST-LMM) below
AUTO_MIN_INDIVIDUALS = 10_000

#: contig-h2 --method auto: REML up to this many individuals, Haseman-Elston above (the same
#: size at which contig-gwas leaves eigendecompositions for the scalable engine)
REML_MAX_N = AUTO_MIN_INDIVIDUALS
