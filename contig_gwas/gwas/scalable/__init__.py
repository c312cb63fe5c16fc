"""Scalable GWAS mode (``contig-gwas --mode scalable``): BOLT-LMM-inf in two steps.

Step 1 (``step1``): per phenotype group, the infinitesimal whole-genome model of every
phenotype (variance components by stochastic REML, leave-one-chromosome-out solves by batched
conjugate gradients on 2-bit genotypes, the .bed layout, or 8-bit for dosages: ``codes``,
``packed``, ``krylov``) and the calibration of the step-2 statistic; saved and reloaded by
``io``. Step 2 (``step2``): one streaming pass over the test genotypes, block matrix products
for all phenotypes at once.
Dataset layer: ``engine.run_gwas_scalable`` runs ``engine.ScalableMode`` through the driver
both modes share (``gwas.driver``: same inputs and outputs); ``blocks`` reads genotype blocks
(hard calls or dosages) for both steps.
Cost linear in N and M. Reference: Loh et al. (2015) Nat Genet 47:284. Importing this
package has no side effects.
"""
