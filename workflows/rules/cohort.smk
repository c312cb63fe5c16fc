# The cohort: the embedded synthetic cohort (contig-simulate) when config.cohort.simulate is
# given; otherwise the real cohort's files named in config.cohort are used where they lie.

if SIMULATED:

    rule simulate:
        output:
            bfile_files(f"{COHORT_DIR}/genotypes"),
            manifest=f"{COHORT_DIR}/manifest.tsv",
            pgs=f"{COHORT_DIR}/pgs.tsv",
            burden=f"{COHORT_DIR}/burden.tsv",
            covariates=f"{COHORT_DIR}/covariates.tsv",
            phenotypes=f"{COHORT_DIR}/phenotypes.tsv",
            genes=f"{COHORT_DIR}/genes.gtf",
            truth=f"{COHORT_DIR}/truth.json",
            **({"diseases": f"{COHORT_DIR}/diseases.tsv"} if SIMULATED_DISEASES else {}),
        params:
            out=subpath(output.manifest, parent=True),
            args=simulate_args(),
        log:
            "logs/cohort/simulate.log",
        benchmark:
            "benchmarks/cohort/simulate.tsv"
        threads: 1
        resources:
            **request_of("simulate"),
        conda:
            CONDA_ENV
        shell:
            # results/cohort belongs to the workflow: on a rerun Snakemake deletes the declared
            # files (truth.json among them) but not the folder, so clear what is left first
            "rm -rf {params.out} && "
            "contig-simulate --out {params.out} {params.args} --no-progress > {log} 2>&1"
