# Pretraining: one image encoder per model (ContIG, and the image-only (SimCLR, BYOL, SimSiam,
# Barlow Twins, NNCLR) or random-init baselines).


rule pretrain:
    input:
        unpack(pretrain_inputs),
    output:
        model="results/pretrain/{model}/model.pt",
        config="results/pretrain/{model}/config.json",
        split="results/pretrain/{model}/split.tsv",
    params:
        out=subpath(output.model, parent=True),
        args=pretrain_args,
    log:
        "logs/pretrain/{model}.log",
    benchmark:
        "benchmarks/pretrain/{model}.tsv"
    threads: pretrain_threads
    resources:
        **request_of("pretrain"),
    conda:
        CONDA_ENV
    shell:
        "contig-pretrain --manifest {input.manifest} {params.args} --threads {threads} --no-progress "
        "--out {params.out} --overwrite > {log} 2>&1"


rule held_out:
    # gwas.individuals: held_out: the individuals no trained model trained on
    input:
        expand("results/pretrain/{model}/split.tsv", model=SPLIT_MODELS),
    output:
        HELD_OUT_KEEP,
    params:
        splits=held_out_splits(),
    log:
        "logs/pretrain/held_out.log",
    benchmark:
        "benchmarks/pretrain/held_out.tsv"
    resources:
        **request_of("held_out"),
    conda:
        CONDA_ENV
    shell:
        "python -m contig_gwas.workflow held-out {params.splits} --out {output} --log {log}"
