# SNP heritability (REML) of every phenotype of the study, with standard errors.


rule h2:
    input:
        grm=grm_files(),
        pheno="results/phenotypes/phenotypes.tsv",
        covariates=cohort_path("covariates"),
        rg_pairs="results/phenotypes/rg_pairs.txt",
        **keep_input(),
    output:
        h2="results/h2/study.h2.tsv",
        **({"rg": "results/h2/study.rg.tsv"} if config["h2"]["rg"] else {}),
    params:
        grm=lambda wildcards, input: bfile_prefix(input.grm),
        args=h2_args,
        prefix=lambda wildcards, output: strip_suffix(output.h2, ".h2.tsv"),
    log:
        "logs/h2/study.log",
    benchmark:
        "benchmarks/h2/study.tsv"
    threads: config["h2"]["threads"]
    resources:
        **request_of("h2"),
    conda:
        CONDA_ENV
    shell:
        "contig-h2 --bfile {params.grm} --pheno {input.pheno} --covar {input.covariates} "
        "{params.args} --threads {threads} --out {params.prefix} --overwrite > {log} 2>&1"
