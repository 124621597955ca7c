# PETS reproduction workflow (Chua et al. 2018): the paper's grid of env x model-type x
# prop-type x optimiser x seed, one `pets mbexp` run per cell, aggregated into tables and
# figures. Configure in config/config.yaml (see config/README.md); run with
#   snakemake --cores all                                             # the full grid
#   snakemake --cores all --configfile config/presets/quick.yaml      # CPU demo, < 15 min
#   snakemake --profile profiles/slurm                                # on a SLURM cluster

from snakemake.utils import min_version

min_version("9.19")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/aggregate.smk"


# After a successful run, one line per cell: did it learn (judged against a random policy)?
onsuccess:
    print_verdicts()


# Everything: all runs of the configured grid, their tables, metrics and figures.
rule all:
    input:
        final_outputs(),
    default_target: True
    localrule: True
