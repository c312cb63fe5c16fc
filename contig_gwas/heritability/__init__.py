"""Heritability and genetic correlation (``contig-h2``).

Array layer: ``reml`` (SEs and boundary flags on the GWAS engine's null-model fit),
``bivariate`` (bivariate REML genetic correlation over the shared eigendecomposition),
``he`` (Haseman-Elston regression from a similarity streamed in row blocks, moment and
jackknife SEs, GCTA GRM files), ``he_genotypes`` (HE from genotype blocks, no N x N matrix),
``calibration`` (the simulation harness of the calibration tests and benchmark), ``liability``
(binary phenotypes: detection, liability-scale h2 from a prevalence, Lee et al. 2011).
Dataset layer: ``similarity`` (in memory, from genotypes, GCTA GRM files) and ``estimate``
(missingness groups, covariates, method by size).
Importing this package has no side effects and does not import its modules.
"""
