# Training: one `pets mbexp` run per grid cell.
#
# Only logs.mat is declared as output, not the run directory: `--rerun-incomplete` then deletes
# just logs.mat, and the run's own checkpoint.pt lets `pets mbexp` resume from its last finished
# iteration instead of starting over. A cell is one job; it has no inputs, so finished runs are
# never retrained because of file times (e.g. after `dvc pull`).
#
# A job runs torch on exactly its `threads` (-threads): one by default, so `--cores N` runs N
# cells side by side without oversubscribing the cores (e.g. the quick preset's two cells on a
# 2-core machine, one thread each). More per job: `--set-threads train=4` or a profile's
# `set-threads` (on SLURM it also becomes --cpus-per-task).


# Train one cell of the grid.
rule train:
    output:
        logs=f"{RUN_DIR}/logs.mat",
    log:
        f"{LOGS_DIR}/train/{{env}}/{{model}}-{{prop}}-{{opt}}/seed{{seed}}.log",
    benchmark:
        f"{BENCH_DIR}/train/{{env}}/{{model}}-{{prop}}-{{opt}}/seed{{seed}}.tsv"
    params:
        outdir=output_dir,
        ca=train_ca,
        overrides=train_args,
    threads: 1
    resources:
        runtime=train_runtime,
        mem_mb=train_mem_mb,
        gpu=train_gpu,
        device=train_device,
        precision=train_precision,
    conda:
        "../envs/pets.yaml"
    shell:
        "pets mbexp -env {wildcards.env} {params.ca} -ca prop-type {wildcards.prop}"
        " -ca opt-type {wildcards.opt} -seed {wildcards.seed} -device {resources.device}"
        " -threads {threads} -precision {resources.precision}"
        " -outdir {params.outdir} {params.overrides} > {log} 2>&1"


# Train every cell of the configured grid (DVC's train_grid stage).
rule train_all:
    input:
        run_logs(),
    localrule: True
