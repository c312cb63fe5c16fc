# GWAS: one contig-gwas run per chromosome region over every phenotype of the study, then a
# gather into one summary-statistics file per phenotype (results/gwas/sumstats/<set>/).
#
# Exact mode: each region's run fits the null model itself (with LOCO, the similarity
# leaving out the region's chromosomes), so the regions are independent jobs.
# Scalable mode (gwas.mode: scalable, BOLT-LMM-inf): one job fits step 1 for the whole genome
# (LOCO solutions of every phenotype; results/gwas/step1.npz) and scans the first region; every
# other region reuses it (--step1-in), so its run is a cheap streaming scan.

if SCALABLE:

    rule gwas_step1:
        # step 1 (whole-genome LOCO fit of every phenotype) with the first region's scan
        input:
            genotypes=tested_genotype_files(),
            grm=grm_files(),
            pheno="results/phenotypes/phenotypes.tsv",
            covariates=cohort_path("covariates"),
            **keep_input(),
        output:
            region=directory(f"results/gwas/regions/{FIRST_REGION}"),
            step1="results/gwas/step1.npz",
        params:
            select=" ".join(REGIONS[FIRST_REGION].args),
            args=gwas_args,
            prefix=lambda wildcards, output: f"{output.region}/{GWAS_PREFIX}",
        log:
            f"logs/gwas/regions/{FIRST_REGION}.log",
        benchmark:
            f"benchmarks/gwas/regions/{FIRST_REGION}.tsv"
        threads: config["gwas"]["threads"]
        resources:
            **request_of("gwas_step1"),
        conda:
            CONDA_ENV
        shell:
            "contig-gwas --mode scalable {params.args} --pheno {input.pheno} "
            "--covar {input.covariates} {params.select} --threads {threads} --no-progress "
            "--step1-out {output.step1} --out {params.prefix} --overwrite > {log} 2>&1"


rule gwas_region:
    # exact: every region; scalable: every region but the first (made by gwas_step1)
    input:
        unpack(gwas_region_inputs),
    output:
        directory("results/gwas/regions/{region}"),
    params:
        mode=gwas_mode_args,
        select=gwas_select,
        args=gwas_args,
        prefix=lambda wildcards, output: f"{output[0]}/{GWAS_PREFIX}",
    log:
        "logs/gwas/regions/{region}.log",
    benchmark:
        "benchmarks/gwas/regions/{region}.tsv"
    wildcard_constraints:
        region=SCATTERED_REGIONS,
    threads: config["gwas"]["threads"]
    resources:
        **request_of("gwas_region"),
    conda:
        CONDA_ENV
    shell:
        "contig-gwas {params.mode} {params.args} --pheno {input.pheno} "
        "--covar {input.covariates} {params.select} --threads {threads} --no-progress "
        "--out {params.prefix} --overwrite > {log} 2>&1"


rule gwas_gather:
    input:
        regions=expand("results/gwas/regions/{region}", region=REGIONS),
        sets="results/phenotypes/sets.tsv",
    output:
        sumstats=directory("results/gwas/sumstats"),
        index="results/gwas/sumstats.tsv",
        nullmodel="results/gwas/nullmodel.tsv",
    params:
        regions=gather_region_args,
    log:
        "logs/gwas/gather.log",
    benchmark:
        "benchmarks/gwas/gather.tsv"
    resources:
        **request_of("gwas_gather"),
    conda:
        CONDA_ENV
    shell:
        "python -m contig_gwas.workflow gather-sumstats --sets {input.sets} {params.regions} "
        "--out {output.sumstats} --index {output.index} --nullmodel {output.nullmodel} "
        "--log {log}"
