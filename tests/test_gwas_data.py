"""The PLINK cohorts of tests/gwas_cohort.py read back as written."""

from __future__ import annotations

import numpy as np

# tests/test_gwas_engine.py and tests/test_gwas_scalable.py still import the cohort helpers
# from here, their former home; new code imports them from gwas_cohort
from gwas_cohort import simulate_genotypes as simulate_genotypes
from gwas_cohort import write_cohort


def test_write_cohort_roundtrip(tmp_path):
    from contig_gwas.io.genotypes import open_genotypes

    c = write_cohort(tmp_path, n=60, m=90, sib_pairs=10)
    src = open_genotypes(bfile=c.prefix)
    assert len(src.samples) == 60 and len(src.variants) == 90
    assert sorted(set(src.variants["chromosome"])) == [1, 2, 3]
    d = src.read().dosages
    assert np.nanmax(d) <= 2 and np.isnan(d).any()
