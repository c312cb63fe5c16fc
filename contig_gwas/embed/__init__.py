"""From a trained encoder to GWAS-ready phenotypes: features, PCA, inverse-normal transform."""
