# The report (loci, figures, comparison tables; with truth.json the recovery of the planted
# loci) and the study's summary table taken from the report's tables.


rule report:
    input:
        sumstats="results/gwas/sumstats",
        h2="results/h2/study.h2.tsv",
        ld=bfile_files(cohort_path("bfile")),
        truth=[cohort_path("truth")] if cohort_path("truth") else [],
        covariates=cohort_path("covariates"),
        genes=[cohort_path("genes")] if cohort_path("genes") else [],
        rg=["results/h2/study.rg.tsv"] if config["h2"]["rg"] else [],
    output:
        html="results/report/report.html",
        summary="results/report/tables/summary.tsv",
    params:
        args=report_args,
        out=subpath(output.html, parent=True),
    log:
        "logs/report/report.log",
    benchmark:
        "benchmarks/report/report.tsv"
    resources:
        **request_of("report"),
    conda:
        CONDA_ENV
    shell:
        "contig-report --sumstats '{input.sumstats}/*/*.sumstats.tsv.gz' {params.args} "
        "--h2 {input.h2} --out {params.out} --overwrite > {log} 2>&1"


rule summary:
    input:
        "results/report/tables/summary.tsv",
    output:
        table="results/summary/summary.tsv",
        text="results/summary/summary.txt",
    params:
        report=subpath(input[0], ancestor=2),
        labels=summary_labels(),
        p=config["report"]["clump_p1"],
        kb=config["report"]["clump_kb"],
    log:
        "logs/summary/summary.log",
    benchmark:
        "benchmarks/summary/summary.tsv"
    resources:
        **request_of("summary"),
    conda:
        CONDA_ENV
    shell:
        "python -m contig_gwas.workflow summary --report {params.report} {params.labels} "
        "--p-threshold {params.p} --kb {params.kb} --out {output.table} --text {output.text} "
        "--log {log}"
