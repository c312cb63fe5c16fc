"""Input and output: genotype sources, tables, sample alignment, manifests, summary statistics."""
