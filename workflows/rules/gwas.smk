# GWAS: one contig-gwas run per chromosome chunk over every phenotype of the study, then a
# gather into one summary-statistics file per phenotype (results/gwas/sumstats/<set>/).
#
# Exact mode: each chunk's run fits the null model itself (with LOCO, the similarity
# leaving out the chunk's chromosomes), so the chunks are independent jobs.
# Scalable mode (gwas.mode: scalable, BOLT-LMM-inf): one job fits step 1 for the whole genome
# (LOCO solutions of every phenotype; results/gwas/step1.npz) and scans the first chunk; every
# other chunk reuses it (--step1-in), so its run is a cheap streaming scan.

if SCALABLE:

    rule gwas_step1:
        # step 1 (whole-genome LOCO fit of every phenotype) with the first chunk's scan
        input:
            genotypes=tested_genotype_files(),
            grm=grm_files(),
            pheno="results/phenotypes/phenotypes.tsv",
            covariates=cohort_path("covariates"),
        output:
            chunk=directory(f"results/gwas/chunks/{FIRST_CHUNK}"),
            step1="results/gwas/step1.npz",
        params:
            select=" ".join(CHUNKS[FIRST_CHUNK].args),
            args=gwas_args,
            prefix=lambda wildcards, output: f"{output.chunk}/{GWAS_PREFIX}",
        log:
            f"logs/gwas/chunks/{FIRST_CHUNK}.log",
        benchmark:
            f"benchmarks/gwas/chunks/{FIRST_CHUNK}.tsv"
        threads: config["gwas"]["threads"]
        conda:
            CONDA_ENV
        shell:
            "contig-gwas --mode scalable {params.args} --pheno {input.pheno} "
            "--covar {input.covariates} {params.select} --threads {threads} --no-progress "
            "--step1-out {output.step1} --out {params.prefix} --overwrite > {log} 2>&1"


rule gwas_chunk:
    # exact: every chunk; scalable: every chunk but the first (made by gwas_step1)
    input:
        unpack(gwas_chunk_inputs),
    output:
        directory("results/gwas/chunks/{chunk}"),
    params:
        mode=gwas_mode_args,
        select=gwas_select,
        args=gwas_args,
        prefix=lambda wildcards, output: f"{output[0]}/{GWAS_PREFIX}",
    log:
        "logs/gwas/chunks/{chunk}.log",
    benchmark:
        "benchmarks/gwas/chunks/{chunk}.tsv"
    wildcard_constraints:
        chunk=SCATTERED_CHUNKS,
    threads: config["gwas"]["threads"]
    conda:
        CONDA_ENV
    shell:
        "contig-gwas {params.mode} {params.args} --pheno {input.pheno} "
        "--covar {input.covariates} {params.select} --threads {threads} --no-progress "
        "--out {params.prefix} --overwrite > {log} 2>&1"


rule gwas_gather:
    input:
        chunks=expand("results/gwas/chunks/{chunk}", chunk=CHUNKS),
        sets="results/phenotypes/sets.tsv",
    output:
        sumstats=directory("results/gwas/sumstats"),
        index="results/gwas/sumstats.tsv",
        nullmodel="results/gwas/nullmodel.tsv",
    params:
        chunks=gather_chunk_args,
    log:
        "logs/gwas/gather.log",
    benchmark:
        "benchmarks/gwas/gather.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m contig_gwas.workflow gather-sumstats --sets {input.sets} {params.chunks} "
        "--out {output.sumstats} --index {output.index} --nullmodel {output.nullmodel} "
        "--log {log}"
