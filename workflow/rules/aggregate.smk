# Aggregation: the configured grid's runs -> tables and metrics -> figures.
# Both steps take seconds and read many files, so they run where Snakemake runs (localrule).


# Collect the configured cells' logs.mat into tidy tables and metrics.json.
rule aggregate:
    input:
        logs=run_logs(),
    output:
        returns=report(
            f"{TABLES_DIR}/returns.csv",
            caption="../report/returns.rst",
            category="Tables",
        ),
        summary=report(
            f"{TABLES_DIR}/summary.csv",
            caption="../report/summary.rst",
            category="Tables",
        ),
        summary_md=f"{TABLES_DIR}/summary.md",
        diagnostics=report(
            f"{TABLES_DIR}/diagnostics.csv",
            caption="../report/diagnostics.rst",
            category="Tables",
        ),
        metrics=METRICS_FILE,
    log:
        f"{LOGS_DIR}/aggregate/aggregate.log",
    benchmark:
        f"{BENCH_DIR}/aggregate/aggregate.tsv"
    params:
        runs=input_dirs,
        tables=output_dir,
    threads: 1
    localrule: True
    conda:
        "../envs/pets.yaml"
    shell:
        "pets aggregate --runs {params.runs} --tables {params.tables}"
        " --metrics {output.metrics} > {log} 2>&1"


# Draw the paper-style figures from the tables.
rule plot_figures:
    input:
        **table_files(),
    output:
        learning_curves=report(
            f"{FIGURES_DIR}/learning_curves.png",
            caption="../report/learning_curves.rst",
            category="Figures",
        ),
        ablation=report(
            f"{FIGURES_DIR}/ablation.png",
            caption="../report/ablation.rst",
            category="Figures",
        ),
        diagnostics=report(
            f"{FIGURES_DIR}/diagnostics.png",
            caption="../report/diagnostics.rst",
            category="Figures",
        ),
        learning_curves_pdf=f"{FIGURES_DIR}/learning_curves.pdf",
        ablation_pdf=f"{FIGURES_DIR}/ablation.pdf",
        diagnostics_pdf=f"{FIGURES_DIR}/diagnostics.pdf",
    log:
        f"{LOGS_DIR}/plot_figures/plot_figures.log",
    benchmark:
        f"{BENCH_DIR}/plot_figures/plot_figures.tsv"
    params:
        tables=input_dir,
        out=output_dir,
    threads: 1
    localrule: True
    conda:
        "../envs/pets.yaml"
    shell:
        "pets figures --tables {params.tables} --out {params.out} > {log} 2>&1"


# Tables, metrics and figures of the configured grid. To redraw them from existing runs without
# training: snakemake --cores all figures --forcerun aggregate
rule figures:
    input:
        final_outputs(),
    localrule: True
