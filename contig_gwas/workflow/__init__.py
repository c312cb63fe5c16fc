"""Small helpers the Snakemake workflow (``workflows/``) calls between the tools.

- :mod:`.chunks`: the chromosome/region chunks the GWAS is scattered over;
- :mod:`.phenotypes`: one phenotype table of every embedding's PCs and the standard phenotypes;
- :mod:`.gather`: per-phenotype summary statistics gathered from the per-chunk GWAS runs;
- :mod:`.summary`: the study's summary table (loci, planted loci recovered, mean h2) read from
  the report's tables.

``python -m contig_gwas.workflow <command>`` runs them from the rules.
"""
