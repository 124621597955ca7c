"""Adding a task, an optimizer or a propagation method is one module plus one registry entry.

The toy plugin below is written into a temporary folder from this test (no file of the
repository changes) and named in `PETS_PLUGINS`: one module holding a task (a point mass that
must reach (0.5, 0.5)), its registry entry, an optimizer (best of uniformly drawn sequences,
pulled toward the warm start), a propagation method (the members' mean) and their entries.
Each process (`pets mbexp`, `pets aggregate`, `pets figures`, `snakemake -n`) then finds them.
Oracles: the env's own rewards (a run's returns are its reward sums, and the reward is the
formula written out here), the override rules the optimizer's dataclass implies, the number of
propagation calls a run makes, and the commands the workflow plans.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import yaml
from pets_processes import ROOT, planned_mbexp_commands, run_pets

PLUGIN = textwrap.dedent(
    '''
    """A point mass on the plane (toy task) and best-of-N shooting (toy optimizer)."""

    from dataclasses import dataclass, field

    import gymnasium as gym
    import numpy as np
    import torch

    import atexit
    import os

    from pets.config.registry import (
        OptimizerSpec,
        PropagationSpec,
        register_optimizer,
        register_propagation,
    )
    from pets.envs.base import Task
    from pets.envs.registry import TaskDefaults, TaskSpec, register_task
    from pets.errors import ConfigError

    GOAL = np.array([0.5, 0.5], dtype=np.float32)


    class ToyEnv(gym.Env):
        """x' = x + 0.1·a, reward −(‖x' − goal‖² + 0.01·‖a‖²), a in [−1, 1]²."""

        def __init__(self, render_mode=None):
            self.observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
            self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
            self.x = np.zeros(2, np.float32)

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            self.x = self.np_random.uniform(-1.0, 1.0, 2).astype(np.float32)
            return self.x.copy(), {}

        def step(self, action):
            a = np.clip(np.asarray(action, np.float32), -1.0, 1.0)
            self.x = (self.x + 0.1 * a).astype(np.float32)
            reward = -(float(np.sum((self.x - GOAL) ** 2)) + 0.01 * float(np.sum(a**2)))
            return self.x.copy(), reward, False, False, {}


    class ToyTask(Task):
        name = "toy"
        obs_dim = act_dim = 2
        task_hor = 12
        model_in_dim, model_out_dim = 4, 2
        ac_cost_weight = 0.01
        _ac_bound = (1.0, 1.0)

        def targ_proc(self, obs, next_obs):
            return next_obs - obs

        def obs_postproc(self, obs, pred):
            return obs + pred

        def obs_cost(self, obs):
            return (obs - self._const(GOAL)).square().sum(dim=-1)


    @dataclass(frozen=True, kw_only=True)
    class ToyCfg:
        popsize: int = field(default=40, metadata={"help": "Sequences drawn per re-plan."})
        pull: float = field(default=0.5, metadata={"help": "Weight of the warm start."})

        def check(self):
            if not 0.0 <= self.pull < 1.0:
                raise ConfigError(f"ctrl_cfg.opt_cfg.cfg.pull must be in [0, 1), got {self.pull}")


    class ToyOptimizer:
        def __init__(self, *, popsize, pull, lb, ub):
            self.popsize, self.pull, self.lb, self.ub = popsize, pull, lb, ub

        def solve(self, mean0, var0, cost_fn, generator):
            shape, device = (self.popsize, *self.lb.shape), self.lb.device
            u = torch.rand(shape, generator=generator, device=device)
            samples = self.pull * mean0 + (1 - self.pull) * (self.lb + u * (self.ub - self.lb))
            return samples[cost_fn(samples).argmin()]


    register_task(
        TaskSpec(
            name="toy", env_id="toyplug/Toy-v0", module="toyplug", env_class="ToyEnv",
            task_class="ToyTask", label="Toy point mass",
            defaults=TaskDefaults(
                task_hor=12, ntrain_iters=3, plan_hor=4, hidden_layers=1, hidden_width=16,
                weight_decays=(1e-4, 1e-4), lr=1e-3,
                optimizers={"CEM": {"popsize": 20, "num_elites": 4}},
            ),
        )
    )
    register_optimizer(OptimizerSpec("Toy", ToyCfg, "toyplug:ToyOptimizer", "best of N"))

    CALLS = []


    def toy_propagate(model, inputs, *, npart, ign_var, generator):
        """Every particle takes the members' mean prediction (no sampling)."""
        CALLS.append(inputs.shape[0])
        mean, _ = model(inputs.expand(model.ensemble_size, -1, -1))
        return mean.mean(dim=0)


    @atexit.register
    def _count_calls():
        if os.environ.get("TOYPLUG_CALLS"):
            with open(os.environ["TOYPLUG_CALLS"], "w") as f:
                f.write(f"{len(CALLS)} {sorted(set(CALLS))}")


    register_propagation(
        PropagationSpec(
            "Toy", ("DE", "PE"), summary="members' mean", implementation="toyplug:toy_propagate"
        )
    )
    '''
)


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("plugin")
    (folder / "toyplug.py").write_text(PLUGIN)
    path = os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH", "")]))
    return {**os.environ, "PETS_PLUGINS": "toyplug", "PYTHONPATH": path}


def test_a_registered_toy_task_and_optimizer_run_through_mbexp_aggregate_and_figures(
    plugin_env: dict[str, str], tmp_path: Path
) -> None:
    run = tmp_path / "runs" / "toy" / "PE-TSinf-Toy" / "seed0"
    args = ["mbexp", "-env", "toy", "-ca", "opt-type", "Toy", "-outdir", str(run),
            "-o", "ctrl_cfg.opt_cfg.cfg.pull", "0.25",
            "-o", "ctrl_cfg.prop_cfg.npart", "5"]  # fmt: skip
    proc = run_pets(plugin_env, *args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["env"] == "toy"
    opt = cfg["ctrl_cfg"]["opt_cfg"]
    assert (opt["opt_type"], opt["cfg"]) == ("Toy", {"popsize": 40, "pull": 0.25})
    assert cfg["exp_cfg"]["sim_cfg"]["task_hor"] == 12  # the registry entry's defaults
    logs = scipy.io.loadmat(run / "logs.mat")
    obs, acts, rewards = logs["observations"], logs["actions"], logs["rewards"]
    assert obs.shape == (4, 13, 2) and acts.shape == (4, 12, 2)  # 1 random + 3 iterations
    a = np.clip(acts, -1.0, 1.0)
    want = -(np.sum((obs[:, 1:] - 0.5) ** 2, axis=-1) + 0.01 * np.sum(a**2, axis=-1))
    np.testing.assert_allclose(rewards, want, rtol=1e-5, atol=1e-6)  # the env's own reward
    np.testing.assert_allclose(logs["returns"][0], rewards[1:].sum(axis=1), rtol=1e-6)

    tables, figures = tmp_path / "tables", tmp_path / "figures"
    metrics = tmp_path / "metrics.json"
    proc = run_pets(plugin_env, "aggregate", "--runs", str(tmp_path / "runs"), "--tables",
                    str(tables), "--metrics", str(metrics))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("toy PE-TSinf Toy: no verdict")  # no random-policy returns
    summary = (tables / "summary.csv").read_text().splitlines()
    assert summary[1].startswith("toy,PE-TSinf,PE,TSinf,Toy,1,")
    proc = run_pets(plugin_env, "figures", "--tables", str(tables), "--out", str(figures))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (figures / "learning_curves.png").stat().st_size > 0


def test_a_registered_toy_propagation_plans_a_run(
    plugin_env: dict[str, str], tmp_path: Path
) -> None:
    """`-ca prop-type Toy` runs the plugin's function for every horizon step of every re-plan:
    3 iterations × 12 steps × a 4-step horizon = 144 calls, each on 40 candidates × 20 particles."""
    calls = tmp_path / "calls.txt"
    env = {**plugin_env, "TOYPLUG_CALLS": str(calls)}
    run = tmp_path / "run"
    proc = run_pets(env, "mbexp", "-env", "toy", "-ca", "model-type", "DE", "-ca", "prop-type",
                    "Toy", "-ca", "opt-type", "Toy", "-outdir", str(run))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert calls.read_text() == "144 [800]"
    assert (
        yaml.safe_load((run / "config.yaml").read_text())["ctrl_cfg"]["prop_cfg"]["prop_type"]
        == "Toy"
    )
    proc = run_pets(env, "mbexp", "-env", "toy", "-ca", "model-type", "P", "-ca", "prop-type",
                    "Toy", "-outdir", str(tmp_path / "p"))  # fmt: skip
    assert proc.returncode == 2
    assert "prop-type Toy is not valid with model-type P" in proc.stderr


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (("ctrl_cfg.opt_cfg.cfg.pull", "lots"), "is not a finite number"),
        (("ctrl_cfg.opt_cfg.cfg.pull", "1.5"), "pull must be in [0, 1), got 1.5"),
        (
            ("ctrl_cfg.opt_cfg.cfg.num_elites", "3"),
            "opt-type Toy has no num_elites (CEM, iCEM only)",
        ),
    ],
)
def test_the_toy_optimizers_overrides_follow_its_dataclass(
    plugin_env: dict[str, str], tmp_path: Path, override: tuple[str, str], message: str
) -> None:
    proc = run_pets(plugin_env, "mbexp", "-env", "toy", "-ca", "opt-type", "Toy", "-o", *override,
                    "-outdir", str(tmp_path / "run"))  # fmt: skip
    assert proc.returncode == 2
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_the_workflow_plans_the_toy_cells(plugin_env: dict[str, str], tmp_path: Path) -> None:
    config = {
        "grid": {"env": ["toy", "cartpole"], "method": [{"model": "PE", "prop": "TSinf"}],
                 "opt": ["Toy"], "seed": [0]},
        "results": str(tmp_path / "results"),
        "resources": {"toy": {"runtime": 5}},
    }  # fmt: skip
    lines, stdout = planned_mbexp_commands(config, tmp_path, plugin_env)
    assert len(lines) == 2
    toy = next(line for line in lines if "-env toy" in line)
    assert "-ca opt-type Toy" in toy and "/toy/PE-TSinf-Toy/seed0" in toy
    assert "runtime=5" in stdout  # the toy's own resources; cartpole's are the defaults


def test_an_unregistered_task_in_the_workflow_config_is_one_clear_error(tmp_path: Path) -> None:
    config = {"grid": {"env": ["toy"]}, "results": str(tmp_path / "results")}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", "-n", "--cores", "2", "--configfile", str(path)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode != 0
    assert "config names env 'toy': -env 'toy' is not one of cartpole" in proc.stdout + proc.stderr


PAPER_TASKS = ("cartpole", "reacher", "pusher", "halfcheetah")  # docs/spec/pets-facts.md §3


def _docstrings(tree: ast.AST) -> set[int]:
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, kinds)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }


def test_no_code_outside_pets_envs_and_no_workflow_rule_names_a_task() -> None:
    """Task facts live in pets/envs/ (the registry and the task modules) only: a string in code
    (docstrings and comments aside) naming one of the paper's tasks elsewhere is a second place."""
    found = []
    for path in sorted((ROOT / "pets").rglob("*.py")):
        if path.parent.name == "envs":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            text = node.value if isinstance(node, ast.Constant) else None
            if isinstance(text, str) and id(node) not in docs:
                found += [
                    f"{path.relative_to(ROOT)}:{node.lineno}" for t in PAPER_TASKS if t in text
                ]
    rules = [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]
    for path in rules:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            code = line.split("#", 1)[0]
            if any(t in code for t in PAPER_TASKS):
                found.append(f"{path.relative_to(ROOT)}:{n}")
    assert not found, found


def test_the_schema_leaves_names_to_the_registries() -> None:
    """No enum of tasks, propagations or optimizers in the schema (plugins add to them);
    common.smk checks the names against the registries instead."""
    schema = (ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text(encoding="utf-8")
    enums = [line.strip() for line in schema.splitlines() if line.strip().startswith("enum:")]
    assert enums == [
        "enum: [D, P, DE, PE]",
        "enum: [known, learned]",  # a gymnasium env's reward
        "enum: [known, learned]",  # and termination (`-ca`), not names
        "enum: [fp32, tf32, bf16]",
    ]
