# Pretraining: one image encoder per model (ContIG, and the image-only (SimCLR, BYOL, SimSiam,
# Barlow Twins, NNCLR) or random-init baselines).


rule pretrain:
    input:
        unpack(pretrain_inputs),
    output:
        model="results/pretrain/{model}/model.pt",
        config="results/pretrain/{model}/config.json",
    params:
        out=subpath(output.model, parent=True),
        args=pretrain_args,
    log:
        "logs/pretrain/{model}.log",
    benchmark:
        "benchmarks/pretrain/{model}.tsv"
    threads: pretrain_threads
    conda:
        CONDA_ENV
    shell:
        "contig-pretrain --manifest {input.manifest} {params.args} --threads {threads} --no-progress "
        "--out {params.out} --overwrite > {log} 2>&1"
