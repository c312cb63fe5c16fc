"""Small helpers the Snakemake workflow (``workflows/``) calls between the tools.

- :mod:`.regions`: the regions (chromosomes, groups of chromosomes, base-pair ranges) the GWAS
  is scattered over (a "region" of the workflow; a "chunk" is contig-gwas's resumable block of
  variants);
- :mod:`.phenotypes`: one phenotype table of every embedding's PCs and the standard phenotypes;
- :mod:`.gather`: per-phenotype summary statistics gathered from the per-region GWAS runs;
- :mod:`.summary`: the study's summary table (loci, planted loci recovered, mean h2) read from
  the report's tables;
- :mod:`.heldout`: the individuals pretraining held out (``gwas.individuals: held_out``);
- :mod:`.resources`: the memory and time each cluster job asks for.

``python -m contig_gwas.workflow <command>`` runs them from the rules.
"""
