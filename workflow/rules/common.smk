# The grid and every function the rules call. Included first by the top-level Snakefile.
# The config is validated before anything else, so a bad config fails before any job starts.

import re
import shlex
from pathlib import Path
from typing import NamedTuple

import yaml
from snakemake.utils import validate

from pets.config import check_task_choices
from pets.config.labels import (
    REWARD_MARK,
    TERMINATION_MARK,
    label_choices,
    model_label,
    split_label,
)
from pets.config.registry import MODEL_TYPES, allowed_props, optimizers, propagations
from pets.envs.registry import get_task, task_names
from pets.errors import ConfigError

SCHEMA = Path(workflow.current_basedir) / "../schemas/config.schema.yaml"
validate(config, schema=str(SCHEMA))


# ---- constants: the registries' names (tasks, methods, optimizers; plugins included) ----------

MODELS = MODEL_TYPES
PROPS = tuple(propagations())
OPTS = tuple(optimizers())
VALID_PROPS = {model: allowed_props(model) for model in MODELS}  # docs/spec/pets-facts.md §6.4
GP_METHODS = tuple({"model": "GP", "prop": prop} for prop in VALID_PROPS["GP"])
# A training job's resources when the config gives none for a task: the schema's defaults.
RESOURCE_DEFAULTS = {
    name: spec["default"]
    for name, spec in yaml.safe_load(SCHEMA.read_text())["properties"]["resources"][
        "additionalProperties"
    ]["properties"].items()
}
# Overrides that exist only for the networks, or only for the GP (pets mbexp refuses them).
NETWORK_ONLY = (
    "ctrl_cfg.prop_cfg.model_train_cfg.",
    *(
        f"ctrl_cfg.prop_cfg.model_init_cfg.{leaf}"
        for leaf in ("num_nets", "hidden_layers", "hidden_width", "weight_decays", "lr")
    ),
)
GP_ONLY = ("ctrl_cfg.prop_cfg.model_init_cfg.num_inducing_points",)


def beside_results(top, root):
    """Return the folder for logs or benchmarks (`top`) of results root `root`: results ->
    top, results/cpu-evidence -> top/cpu-evidence; a root elsewhere (absolute, out, ../x)
    keeps them inside itself, root/top, so they never land in the working directory's top."""
    path = Path(root)
    if path.parts[0] == "results" and ".." not in path.parts:
        return str(Path(top) / path.relative_to("results"))
    return str(path / top)


# Every product of the configured grid lies under its `results` root, and its logs and
# benchmarks under logs/ and benchmarks/ in the same sub-path (beside_results), so presets
# never share a file.
RESULTS = config["results"].rstrip("/")
LOGS_DIR = beside_results("logs", RESULTS)
BENCH_DIR = beside_results("benchmarks", RESULTS)
RUN_DIR = f"{RESULTS}/runs/{{env}}/{{model}}-{{prop}}-{{opt}}/seed{{seed}}"
TABLES_DIR = f"{RESULTS}/tables"
FIGURES_DIR = f"{RESULTS}/figures"
METRICS_FILE = f"{RESULTS}/metrics.json"
TABLES = ("returns", "summary", "diagnostics")
FIGURES = ("learning_curves", "ablation", "diagnostics")
FIGURE_FORMATS = ("png", "pdf")


# ---- the grid --------------------------------------------------------------------------------


class Cell(NamedTuple):
    """One training run of the grid."""

    env: str
    model: str
    prop: str
    opt: str
    seed: int


def check_method(model, prop):
    """Raise ValueError unless `prop` is a valid propagation for `model` (§6.4)."""
    if prop not in VALID_PROPS.get(model, ()):
        raise ValueError(
            f"invalid method {model}-{prop}: model-type {model} allows prop-type "
            f"{', '.join(VALID_PROPS.get(model, ()))}"
        )


def check_names(cfg):
    """Raise ValueError unless every task and optimizer `cfg` names is registered."""
    named = {
        "env": [
            *cfg["grid"]["env"],
            *(env for method in cfg["grid"]["method"] for env in method.get("envs", [])),
            *cfg.get("gp_baselines", {}).get("env", []),
            *cfg["env_overrides"],
            *(env for by_env in cfg["opt_overrides"].values() for env in by_env),
            *cfg["resources"],
        ],
        "opt": [*cfg["grid"]["opt"], *cfg["opt_overrides"]],
    }
    for name in dict.fromkeys(named["env"]):
        if name not in task_names():
            try:
                get_task(name)  # a gymnasium id: registered here, as pets mbexp will
            except ConfigError as err:
                raise ValueError(f"config names env {name!r}: {err}") from None
    known = {"env": task_names(), "opt": OPTS}
    for key, names in named.items():
        unknown = [name for name in names if name not in known[key]]
        if unknown:
            raise ValueError(
                f"config names {key} {unknown[0]!r}, which is not registered "
                f"({', '.join(known[key])}); a task or optimizer of your own is registered by a "
                "module named in PETS_PLUGINS"
            )


def check_choices(env, model):
    """Raise ValueError unless the reward and termination that `model` marks exist for `env`."""
    spec = get_task(env)
    marked = split_label(model)[1]
    reward = marked.get("reward", spec.default_reward)
    try:
        check_task_choices(env, reward, marked.get("termination", spec.default_termination))
    except ConfigError as err:
        raise ValueError(str(err)) from None


def grid_cells(grid, gp_envs=()):
    """Return the cells of `grid` (env x method x opt x seed) in config order, then the GP
    baselines (GP-E, GP-DS, GP-MM x the grid's opt and seed) on each of `gp_envs`."""
    cells = []
    for env in grid["env"]:
        for method in grid["method"]:
            if env not in (method.get("envs") or grid["env"]):
                continue  # a method run on some of the grid's envs only
            check_method(method["model"], method["prop"])
            choices = (method.get("reward", "known"), method.get("termination", "known"))
            # A learned reward or termination where pets knows the env's marks the model (PE+R).
            model = model_label(method["model"], env, *choices)
            check_choices(env, model)
            for opt in grid["opt"]:
                for seed in grid["seed"]:
                    cells.append(Cell(env, model, method["prop"], opt, seed))
    for env in gp_envs:
        for method in GP_METHODS:
            for opt in grid["opt"]:
                for seed in grid["seed"]:
                    cells.append(Cell(env, method["model"], method["prop"], opt, seed))
    return cells


check_names(config)
ENVS = task_names()  # after check_names: the gymnasium ids the config names are registered
CELLS = grid_cells(config["grid"], config.get("gp_baselines", {}).get("env", []))


wildcard_constraints:
    env="|".join(map(re.escape, ENVS)),
    model=f"({'|'.join(MODELS)})({re.escape(REWARD_MARK)})?({re.escape(TERMINATION_MARK)})?",
    prop="|".join(PROPS),
    opt="|".join(OPTS),
    seed=r"\d+",


# ---- functions the rules call ----------------------------------------------------------------


def run_dir(wildcards):
    """Return the run directory of the cell named by `wildcards` (the -outdir of pets mbexp)."""
    return RUN_DIR.format(**wildcards)


def run_dirs():
    """Return the run directories of the configured grid only (stale cells are ignored)."""
    return [run_dir(cell._asdict()) for cell in CELLS]


def run_logs():
    """Return the logs.mat of every configured cell: the outputs of all training jobs."""
    return [f"{directory}/logs.mat" for directory in run_dirs()]


def input_dirs(wildcards, input):
    """Return the directory of every input file (the run directories of aggregate)."""
    return [str(Path(path).parent) for path in input]


def input_dir(wildcards, input):
    """Return the directory of the first input file."""
    return str(Path(input[0]).parent)


def output_dir(wildcards, output):
    """Return the directory of the first output file (where the command writes)."""
    return str(Path(output[0]).parent)


def format_override(value):
    """Return `value` as the string `pets mbexp -o` parses (booleans as True/False)."""
    return str(value)


def override_applies(path, model):
    """Return whether override `path` exists for `model`: network training settings do not
    apply to the GP, the inducing points only to it."""
    return not path.startswith(GP_ONLY if model != "GP" else NETWORK_ONLY)


def cell_overrides(env, model, opt):
    """Return the {path: value} overrides of a run of `model` with optimizer `opt` on `env`:
    global, then per-env, then per optimizer and env on top, without those that do not exist
    for `model`."""
    merged = dict(config["overrides"])
    merged.update(config["env_overrides"].get(env, {}))
    merged.update(config["opt_overrides"].get(opt, {}).get(env, {}))
    return {k: v for k, v in sorted(merged.items()) if override_applies(k, model)}


def train_ca(wildcards):
    """Return the cell's model `-ca` arguments: PE+R is `-ca model-type PE -ca reward learned`."""
    choices = label_choices(wildcards.model)
    check_method(choices[0][1], wildcards.prop)
    return shlex.join(arg for key, value in choices for arg in ("-ca", key, value))


def train_args(wildcards):
    """Return the `-o PATH VALUE ...` arguments of the cell, shell-quoted."""
    args = []
    overrides = cell_overrides(wildcards.env, wildcards.model, wildcards.opt)
    for path, value in overrides.items():
        args += ["-o", path, format_override(value)]
    return shlex.join(args)


def train_device(wildcards):
    """Return the device of every training run (pets mbexp -device)."""
    return config["device"]


def train_precision(wildcards):
    """Return the matmul precision of every training run (pets mbexp -precision)."""
    return config["precision"]


def env_resource(env, name):
    """Return resource `name` of one training job on `env` (config `resources`)."""
    return config["resources"].get(env, {}).get(name, RESOURCE_DEFAULTS[name])


def train_runtime(wildcards, attempt):
    """Return the runtime limit in minutes; a retried job gets the first limit x attempt."""
    return env_resource(wildcards.env, "runtime") * attempt


def train_mem_mb(wildcards):
    """Return the memory of one training job in MB."""
    return env_resource(wildcards.env, "mem_mb")


def train_gpu(wildcards):
    """Return the number of GPUs of one training job."""
    return env_resource(wildcards.env, "gpu")


def table_files():
    """Return the tables `pets aggregate` writes, by name."""
    files = {name: f"{TABLES_DIR}/{name}.csv" for name in TABLES}
    files["summary_md"] = f"{TABLES_DIR}/summary.md"
    return files


def figure_files():
    """Return the figure files `pets figures` writes, by name (e.g. learning_curves_png)."""
    return {
        f"{name}_{fmt}": f"{FIGURES_DIR}/{name}.{fmt}" for name in FIGURES for fmt in FIGURE_FORMATS
    }


def final_outputs():
    """Return the workflow's end products: tables, metrics and figures of the configured grid."""
    return [*table_files().values(), METRICS_FILE, *figure_files().values()]


def print_verdicts():
    """Print summary.md's verdict lines (`pets aggregate`), if the tables exist yet."""
    if (Path(TABLES_DIR) / "summary.md").exists():
        from pets.analysis.pipeline import read_verdicts

        for line in read_verdicts(Path(TABLES_DIR)):
            print(line)
