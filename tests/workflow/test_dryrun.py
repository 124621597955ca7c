"""Dry runs: the grid each config expands to, and configs that must fail at parse time.

All dry runs start at once in a module fixture (each is ~3 s of Snakemake start-up), so the file
takes about as long as the slowest of them.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from itertools import product
from pathlib import Path

import pytest
from wfutil import REPO, job_counts, load_yaml, stop_gracefully, tool_env, write_config

pytestmark = pytest.mark.workflow

# docs/spec/pets-facts.md §6.4, written out by hand: the 14 valid model-type x prop-type pairs.
VALID_METHODS = {
    ("D", "E"),
    ("P", "E"), ("P", "DS"), ("P", "MM"),
    ("DE", "E"), ("DE", "DS"), ("DE", "MM"), ("DE", "TS1"), ("DE", "TSinf"),
    ("PE", "E"), ("PE", "DS"), ("PE", "MM"), ("PE", "TS1"), ("PE", "TSinf"),
}  # fmt: skip
PAPER_ENVS = ("cartpole", "reacher", "pusher", "halfcheetah")
RUN_OUTPUT = re.compile(r"output: results/runs/(\w+)/(\w+)-(\w+)-(\w+)/seed(\d+)/logs\.mat")

BAD_CONFIGS = {
    "unknown_model": (
        {"grid": {"method": [{"model": "GP", "prop": "E"}]}},
        r"'GP' is not one of",
        "['model']",
    ),
    "wrong_type": ({"grid": {"seed": ["zero"]}}, r"'zero' is not of type 'integer'", "['seed']"),
    "unknown_key": ({"device_type": "cpu"}, r"'device_type' was unexpected", ""),
}
# Names the registries know (tasks, propagation methods, optimizers) are checked by common.smk
# against them, after the schema: a user's plugin may add names the schema cannot list.
REGISTRY_CONFIGS = {
    "unknown_env": (
        {"grid": {"env": ["cartpol"]}},
        "config names env 'cartpol': -env 'cartpol' is not one of cartpole, reacher, pusher, "
        "halfcheetah",
    ),
    "discrete_env": (
        {"grid": {"env": ["CartPole-v1"]}},
        "config names env 'CartPole-v1': -env 'CartPole-v1': its action space is Discrete(2)",
    ),
    "learned_reward_on_a_paper_task": (
        {"grid": {"method": [{"model": "PE", "prop": "TSinf", "reward": "learned"}]}},
        "-env cartpole plans with the paper's cost and never ends early",
    ),
    "unknown_opt": (
        {"grid": {"opt": ["CMA"]}},
        "config names opt 'CMA', which is not registered (CEM, Random",
    ),
    "invalid_pair": (
        {"grid": {"method": [{"model": "P", "prop": "TS1"}]}},
        "invalid method P-TS1: model-type P allows prop-type E, DS, MM",
    ),
}


def dry_run_args(configfile: Path | None, quiet: bool = True) -> list[str]:
    # --forceall: every job of the grid, whatever the checkout's results/ already holds (the
    # README's main job leaves results/quick behind, and these run in the checkout).
    args = [sys.executable, "-m", "snakemake", "--dry-run", "--forceall"]
    if quiet:
        args += ["--quiet", "rules"]
    if configfile is not None:
        args += ["--configfile", str(configfile)]
    return args


@pytest.fixture(scope="module")
def dry_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess]:
    """Start every dry run of this file concurrently; return {case: completed process}."""
    tmp = tmp_path_factory.mktemp("configs")
    cases = {
        "default": dry_run_args(None, quiet=False),
        "quick": dry_run_args(REPO / "config/presets/quick.yaml"),
        "test": dry_run_args(REPO / ".test/config/config.yaml"),
        "slurm_profile": [
            *dry_run_args(REPO / ".test/config/config.yaml"),
            "--profile",
            "profiles/slurm",
        ],
        "quick_cmds": [*dry_run_args(REPO / "config/presets/quick.yaml", False), "--cores", "2"],
        "evidence_cmds": [
            *dry_run_args(REPO / "config/presets/cpu-evidence.yaml", False),
            *("--cores", "2"),
        ],
        "planners_cmds": [
            *dry_run_args(REPO / "config/presets/cpu-planners.yaml", False),
            *("--cores", "2"),
        ],
        "outside_cmds": [
            *dry_run_args(REPO / ".test/config/config.yaml", False),
            *("--cores", "2", "--config", f"results={tmp}/out", "precision=tf32"),
        ],
        "quick_cmds_3": [
            *dry_run_args(REPO / "config/presets/quick.yaml", False),
            *("--cores", "6", "--set-threads", "train=3"),
        ],
    }
    for name, (config, _, _) in BAD_CONFIGS.items():
        cases[f"bad_{name}"] = dry_run_args(write_config(tmp / f"{name}.yaml", config))
    for name, (config, _) in REGISTRY_CONFIGS.items():
        cases[f"unregistered_{name}"] = dry_run_args(write_config(tmp / f"r_{name}.yaml", config))
    procs = {
        name: subprocess.Popen(
            args,
            cwd=REPO,
            env=tool_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        for name, args in cases.items()
    }
    deadline = time.monotonic() + 120
    results = {}
    for name, proc in procs.items():
        try:
            out, _ = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            out = stop_gracefully(proc, grace=5)
        results[name] = subprocess.CompletedProcess(cases[name], proc.returncode, out, None)
    return results


def grid_size(config: dict) -> int:
    grid = config["grid"]
    return len(grid["env"]) * len(grid["method"]) * len(grid["opt"]) * len(grid["seed"])


def test_dryrun_default_config_is_the_papers_168_cell_grid(dry_runs: dict) -> None:
    result = dry_runs["default"]
    assert result.returncode == 0, result.stdout[-3000:]
    # 4 envs x 14 methods x 1 optimiser (CEM) x 3 seeds
    assert job_counts(result.stdout) == {
        "train": 168,
        "aggregate": 1,
        "plot_figures": 1,
        "all": 1,
    }
    cells = {
        (env, model, prop, opt, int(seed))
        for env, model, prop, opt, seed in RUN_OUTPUT.findall(result.stdout)
    }
    expected = {
        (env, model, prop, "CEM", seed)
        for env, (model, prop), seed in product(PAPER_ENVS, VALID_METHODS, (0, 1, 2))
    }
    assert cells == expected


def test_dryrun_default_config_lists_exactly_the_valid_methods() -> None:
    config = load_yaml(REPO / "config/config.yaml")
    methods = [(m["model"], m["prop"]) for m in config["grid"]["method"]]
    assert len(methods) == len(set(methods))
    assert set(methods) == VALID_METHODS


@pytest.mark.parametrize(
    ("case", "path", "expected_train"),
    [
        ("quick", "config/presets/quick.yaml", 2),
        ("test", ".test/config/config.yaml", 2),
    ],
    ids=["quick-preset", "ci-test-grid"],
)
def test_dryrun_small_grids(dry_runs: dict, case: str, path: str, expected_train: int) -> None:
    result = dry_runs[case]
    assert result.returncode == 0, result.stdout[-3000:]
    counts = job_counts(result.stdout)
    assert counts["train"] == expected_train == grid_size(load_yaml(REPO / path))
    assert counts["aggregate"] == counts["plot_figures"] == counts["all"] == 1


@pytest.mark.parametrize(("case", "threads"), [("quick_cmds", 1), ("quick_cmds_3", 3)])
def test_dryrun_train_jobs_run_torch_on_their_snakemake_threads(
    dry_runs: dict, case: str, threads: int
) -> None:
    """Quick preset on 2 cores: two jobs of one thread each, so no core runs two threads."""
    result = dry_runs[case]
    assert result.returncode == 0, result.stdout[-3000:]
    prefix = "Shell command: pets mbexp"
    commands = [line for line in result.stdout.splitlines() if line.startswith(prefix)]
    assert len(commands) == 2
    assert all(f" -threads {threads} " in cmd for cmd in commands), commands


def dry_run_files(stdout: str) -> list[str]:
    """Every output, log and benchmark file a dry run lists."""
    paths = re.findall(r"^\s+(?:output|log|benchmark): (.+)$", stdout, re.MULTILINE)
    return [f for line in paths for f in line.split(", ")]


def test_dryrun_results_root_holds_a_presets_runs_logs_and_tables(dry_runs: dict) -> None:
    """results: results/cpu-evidence puts every file of that grid under it, never results/runs."""
    result = dry_runs["evidence_cmds"]
    assert result.returncode == 0, result.stdout[-3000:]
    assert job_counts(result.stdout)["train"] == 12
    files = dry_run_files(result.stdout)
    assert files and all(
        f.startswith(("results/cpu-evidence/", "logs/cpu-evidence/", "benchmarks/cpu-evidence/"))
        for f in files
    ), files
    assert "results/cpu-evidence/runs/reacher/PE-TSinf-CEM/seed2/logs.mat" in files
    assert "logs/cpu-evidence/train/reacher/PE-TSinf-CEM/seed2.log" in files
    assert "results/cpu-evidence/tables/summary.csv" in files
    assert " -outdir results/cpu-evidence/runs/halfcheetah/PE-TSinf-CEM/seed0 " in result.stdout


def _icem_candidates(n0: int) -> int:
    """iCEM's candidates per re-plan at K 10, 3 iterations, γ 1.25, 3 shifted elites, by hand
    (docs/spec/planners.md §1.3): N_0 + 3, then max(20, int(N/1.25)) twice."""
    n1 = max(20, int(n0 / 1.25))
    return n0 + 3 + n1 + max(20, int(n1 / 1.25))


def test_dryrun_planners_preset_matches_cems_compute(dry_runs: dict) -> None:
    """cpu-planners: iCEM at a third and MPPI at all of the evidence preset's CEM rows per
    action (candidates × particles × horizon / per), every other setting as the evidence's."""
    result = dry_runs["planners_cmds"]
    assert result.returncode == 0, result.stdout[-3000:]
    assert job_counts(result.stdout)["train"] == 24
    evidence = load_yaml(REPO / "config/presets/cpu-evidence.yaml")
    horizon = {"cartpole": 25, "reacher": 25, "pusher": 25, "halfcheetah": 30}  # §4.1
    prefix = "Shell command: pets mbexp"
    commands = [line for line in result.stdout.splitlines() if line.startswith(prefix)]
    assert len(commands) == 24
    for cmd in commands:
        env = re.search(r"-env (\S+)", cmd).group(1)
        opt = re.search(r"-ca opt-type (\S+)", cmd).group(1)
        assert f"results/cpu-planners/runs/{env}/PE-TSinf-{opt}/" in cmd
        overrides = dict(re.findall(r"-o (\S+) (\S+)", cmd))
        cem = {**evidence["overrides"], **evidence["env_overrides"][env]}
        for path in ("ctrl_cfg.per", "ctrl_cfg.prop_cfg.npart", "exp_cfg.exp_cfg.ntrain_iters"):
            assert overrides[path] == str(cem[path]), (cmd, path)
        per, npart = int(overrides["ctrl_cfg.per"]), int(overrides["ctrl_cfg.prop_cfg.npart"])
        popsize = int(overrides["ctrl_cfg.opt_cfg.cfg.popsize"])
        candidates = _icem_candidates(popsize) if opt == "iCEM" else popsize
        rows = candidates * npart * horizon[env] / per
        cem_candidates = cem["ctrl_cfg.opt_cfg.cfg.popsize"] * cem["ctrl_cfg.opt_cfg.cfg.max_iters"]
        cem_rows = cem_candidates * npart * horizon[env] / per
        share = 1 / 3 if opt == "iCEM" else 1.0
        assert abs(rows / cem_rows - share) < 0.01 * share, (cmd, rows, cem_rows)
        assert "num_elites" not in cmd and "max_iters" not in cmd  # the authors' defaults


def test_dryrun_quick_preset_has_its_own_results_root(dry_runs: dict) -> None:
    """The demo's reduced planner must never fill the paper grid's results/runs cells."""
    result = dry_runs["quick_cmds"]
    assert result.returncode == 0, result.stdout[-3000:]
    files = dry_run_files(result.stdout)
    assert files and all(
        f.startswith(("results/quick/", "logs/quick/", "benchmarks/quick/")) for f in files
    ), files
    assert "results/quick/runs/cartpole/DE-TSinf-CEM/seed0/logs.mat" in files
    assert "results/quick/figures/learning_curves.png" in files


def test_dryrun_results_root_outside_results_keeps_its_logs_inside_it(dry_runs: dict) -> None:
    """An absolute root gets root/logs and root/benchmarks, not its own top level or cwd."""
    result = dry_runs["outside_cmds"]
    assert result.returncode == 0, result.stdout[-3000:]
    root = re.search(r"-outdir (\S+)/runs/cartpole/", result.stdout)
    assert root is not None and Path(root.group(1)).is_absolute(), result.stdout[-2000:]
    top = root.group(1)
    files = dry_run_files(result.stdout)
    logs = [f for f in files if f.endswith(".log")]
    benches = [f for f in files if "/benchmarks/" in f]
    assert logs and all(f.startswith(f"{top}/logs/") for f in logs), logs
    assert f"{top}/logs/train/cartpole/D-E-CEM/seed0.log" in logs
    assert benches and all(f.startswith(f"{top}/benchmarks/") for f in benches), benches
    assert f"{top}/runs/cartpole/D-E-CEM/seed0/logs.mat" in files
    assert all(f.startswith(f"{top}/") for f in files), files


@pytest.mark.parametrize(("case", "precision"), [("quick_cmds", "fp32"), ("outside_cmds", "tf32")])
def test_dryrun_train_jobs_get_the_configured_precision(
    dry_runs: dict, case: str, precision: str
) -> None:
    result = dry_runs[case]
    assert result.returncode == 0, result.stdout[-3000:]
    commands = [
        ln for ln in result.stdout.splitlines() if ln.startswith("Shell command: pets mbexp")
    ]
    assert commands and all(f" -precision {precision} " in cmd for cmd in commands), commands


def test_dryrun_slurm_profile_parses(dry_runs: dict) -> None:
    result = dry_runs["slurm_profile"]
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Using profiles profiles/slurm" in result.stdout
    assert job_counts(result.stdout)["train"] == 2


@pytest.mark.parametrize("name", list(BAD_CONFIGS), ids=list(BAD_CONFIGS))
def test_dryrun_bad_config_fails_naming_the_key(dry_runs: dict, name: str) -> None:
    _, message, key = BAD_CONFIGS[name]
    result = dry_runs[f"bad_{name}"]
    assert result.returncode != 0
    assert "Error validating config file" in result.stdout
    assert re.search(message, result.stdout), result.stdout[-2000:]
    assert key in result.stdout  # e.g. "On instance['grid']['env'][0]"
    assert "Job stats" not in result.stdout  # failed before building any job


@pytest.mark.parametrize("name", list(REGISTRY_CONFIGS), ids=list(REGISTRY_CONFIGS))
def test_dryrun_names_the_registries_do_not_know_fail_before_any_job(
    dry_runs: dict, name: str
) -> None:
    _, message = REGISTRY_CONFIGS[name]
    result = dry_runs[f"unregistered_{name}"]
    assert result.returncode != 0
    assert message in result.stdout, result.stdout[-2000:]
    assert "Job stats" not in result.stdout
