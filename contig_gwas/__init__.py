"""contig-gwas: GWAS on learned image features (ContIG, CVPR 2022) and publication-grade genetics.

Importing the package has no side effects; each stage lives in its own subpackage.
"""

__version__ = "0.1.0"
