# Embedding: each encoder's features condensed to PCs and inverse-normal transformed; then all
# phenotype sets merged into one table (the GWAS reads the genotypes once for all of them).


rule embed:
    input:
        checkpoint="results/pretrain/{model}/model.pt",
        manifest=cohort_path("manifest"),
        covariates=cohort_path("covariates"),
    output:
        pheno="results/embed/{model}.pheno.tsv",
    params:
        checkpoint=embed_checkpoint,
        prefix=lambda wildcards, output: strip_suffix(output.pheno, ".pheno.tsv"),
        covar=embed_covar,
        args=embed_args(),
    log:
        "logs/embed/{model}.log",
    benchmark:
        "benchmarks/embed/{model}.tsv"
    threads: config["embed"]["threads"]
    resources:
        **request_of("embed"),
    conda:
        CONDA_ENV
    shell:
        "contig-embed --checkpoint {params.checkpoint} --manifest {input.manifest} "
        "{params.covar} {params.args} --threads {threads} --out {params.prefix} --overwrite "
        "> {log} 2>&1"


rule phenotypes:
    input:
        list(phenotype_sets().values()),
    output:
        table="results/phenotypes/phenotypes.tsv",
        sets="results/phenotypes/sets.tsv",
        rg_pairs="results/phenotypes/rg_pairs.txt",
    params:
        args=merge_args(),
    log:
        "logs/phenotypes/merge.log",
    benchmark:
        "benchmarks/phenotypes/merge.tsv"
    resources:
        **request_of("phenotypes"),
    conda:
        CONDA_ENV
    shell:
        "python -m contig_gwas.workflow merge-phenotypes {params.args} "
        "--out {output.table} --sets-out {output.sets} --rg-pairs-out {output.rg_pairs} "
        "--log {log}"
