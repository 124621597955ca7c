"""Plant plausible bugs one at a time in a scratch copy and run only the tests meant to catch them.

Usage: `cp -r . /tmp/mut && python tests/mutants.py /tmp/mut [index ...]`. Each mutant replaces
one exact text (which must occur once) in one file, runs `pytest -x -q` on its test files, and
restores the file; one line per mutant says which test caught it (tests/README.md's table).
Never run it on a checkout you work in: a kill between plant and restore leaves the bug in.
"""

# ruff: noqa: E501  (the planted texts are exact source lines)
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

S, E, R = "tests/test_spec_oracles.py", "tests/test_seams.py", "tests/envs/test_render.py"
OPT, F = "tests/test_options.py", "tests/analysis/test_figures.py"
L = "tests/test_learning.py"

# (bug, file, exact old text, new text, test files)
MUTANTS = [
    (
        "cartpole action-cost weight ×10",
        "pets/envs/cartpole.py",
        "AC_COST_WEIGHT = 0.01",
        "AC_COST_WEIGHT = 0.1",
        [S],
    ),
    (
        "pusher object-goal weight 1.25 → 1.0",
        "pets/envs/pusher.py",
        "DIST_WEIGHT = 1.25",
        "DIST_WEIGHT = 1.0",
        [S],
    ),
    (
        "halfcheetah action-cost weight 0.1 → 0.01",
        "pets/envs/halfcheetah.py",
        "AC_COST_WEIGHT = 0.1",
        "AC_COST_WEIGHT = 0.01",
        [S],
    ),
    (
        "reacher action-cost weight 0.01 → 0.001",
        "pets/envs/reacher.py",
        "AC_COST_WEIGHT = 0.01",
        "AC_COST_WEIGHT = 0.001",
        [S],
    ),
    (
        "cartpole targ_proc returns next state",
        "pets/envs/cartpole.py",
        "        return next_obs - obs",
        "        return next_obs",
        [E],
    ),
    (
        "training targets with arguments swapped",
        "pets/rollout.py",
        "task.targ_proc(obs, nxt)",
        "task.targ_proc(nxt, obs)",
        [E],
    ),
    (
        "halfcheetah targ_proc: o0 as a delta",
        "pets/envs/halfcheetah.py",
        "        return torch.cat([next_obs[:, :1], next_obs[:, 1:] - obs[:, 1:]], dim=1)",
        "        return torch.cat([next_obs[:, :1] - obs[:, :1], next_obs[:, 1:] - obs[:, 1:]], dim=1)",
        [E],
    ),
    (
        "cartpole weight decay of the first layer 0",
        "pets/config/defaults.py",
        "(1e-4, 2.5e-4, 2.5e-4, 5e-4), 1e-3",
        "(0.0, 2.5e-4, 2.5e-4, 5e-4), 1e-3",
        [S],
    ),
    (
        "Adam β2 0.999 → 0.99",
        "pets/models/training.py",
        "ADAM_BETAS = (0.9, 0.999)",
        "ADAM_BETAS = (0.9, 0.99)",
        [S],
    ),
    ("Adam ε 1e-8 → 1e-7", "pets/models/training.py", "ADAM_EPS = 1e-8", "ADAM_EPS = 1e-7", [S]),
    (
        "reacher lr 7.5e-4 → 1e-3",
        "pets/config/defaults.py",
        "5e-4, 7.5e-4), 7.5e-4",
        "5e-4, 7.5e-4), 1e-3",
        [S],
    ),
    (
        "halfcheetah plan_hor 30 → 25",
        "pets/config/defaults.py",
        "1000, 300, 30, 500",
        "1000, 300, 25, 500",
        [S],
    ),
    (
        "every model probabilistic",
        "pets/building.py",
        'probabilistic=init.model_type in ("P", "PE")',
        "probabilistic=True",
        [E],
    ),
    (
        "ensemble size ignored (always 5)",
        "pets/building.py",
        "ensemble_size=init.num_nets,",
        "ensemble_size=5,",
        [E],
    ),
    (
        "pets render never loads model.pt",
        "pets/cli.py",
        '("ctrl_cfg.prop_cfg.model_init_cfg.load_model", "True"),',
        "",
        [R],
    ),
    (
        "pets render crashes",
        "pets/cli.py",
        "    pretrained = preflight(cfg)\n    outdir = new_run_dir",
        "    raise RuntimeError('boom')\n    outdir = new_run_dir",
        [R],
    ),
    (
        "cartpole camera looks at the sky",
        "pets/envs/cartpole.py",
        '"lookat": np.array([0.0, 0.0, 0.0]),',
        '"lookat": np.array([0.0, 0.0, 30.0]),',
        [R],
    ),
    (
        "learning curve draws raw returns",
        "pets/analysis/figures.py",
        '_lines(ax, sub, "env_steps", "max_return", several)',
        '_lines(ax, sub, "env_steps", "episode_return", several)',
        [F],
    ),
    (
        "action noise never applied",
        "pets/experiment.py",
        "noise_std=sim.noise_std if sim.stochastic else None,",
        "noise_std=None,",
        [OPT],
    ),
    (
        "neval ignored (one return per iteration)",
        "pets/experiment.py",
        "episodes[: log_cfg.neval]",
        "episodes[:1]",
        [OPT],
    ),
    (
        "nrollouts_per_iter ignored",
        "pets/experiment.py",
        "state.episodes.extend(episodes[: loop.nrollouts_per_iter])",
        "state.episodes.extend(episodes[:1])",
        [OPT],
    ),
    (
        "mbexp ignores load_model",
        "pets/experiment.py",
        "        if init.load_model and init.model_dir:\n            self._load_pretrained",
        "        if False:\n            self._load_pretrained",
        [OPT],
    ),
    (
        "mbexp ignores model_pretrained",
        "pets/experiment.py",
        "state = RunState(trained=cfg.ctrl_cfg.prop_cfg.model_pretrained)",
        "state = RunState(trained=False)",
        [OPT],
    ),
    (
        "mbexp ignores nrecord",
        "pets/experiment.py",
        "episodes = self.collect(state, count, iterdir, log_cfg.nrecord)",
        "episodes = self.collect(state, count, iterdir, 0)",
        [OPT],
    ),
    (
        "workflow: global override wins over per-env",
        "workflow/rules/common.smk",
        '    merged = dict(config["overrides"])\n    merged.update(config["env_overrides"].get(env, {}))',
        '    merged = dict(config["env_overrides"].get(env, {}))\n    merged.update(config["overrides"])',
        [OPT],
    ),
    (
        "MPC trains on the first rollout only",
        "pets/experiment.py",
        "training_data(self.data_task, state.episodes)",
        "training_data(self.data_task, state.episodes[:1])",
        [L],
    ),
]


def run_mutant(root: Path, name: str, path: str, old: str, new: str, tests: list[str]) -> str:
    """Plant, test, restore; return the verdict line."""
    full = root / path
    src = full.read_text(encoding="utf-8")
    if src.count(old) != 1:
        return f"{name}\tNOT APPLIED ({src.count(old)} matches)"
    full.write_text(src.replace(old, new), encoding="utf-8")
    try:
        start = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=900,
            env={**os.environ, "PYTHONPATH": str(root)},
        )
        failed = [
            line.split(" - ")[0].removeprefix("FAILED ")
            for line in proc.stdout.splitlines()
            if line.startswith("FAILED")
        ]
        if proc.returncode == 0:
            verdict = "SURVIVED"
        elif failed:
            verdict = f"CAUGHT by {failed[0]}"
        else:
            verdict = f"pytest exit {proc.returncode}"
        return f"{name}\t{verdict}\t{time.monotonic() - start:.0f} s"
    finally:
        full.write_text(src, encoding="utf-8")


def main(argv: list[str]) -> int:
    root, only = Path(argv[0]), set(argv[1:])
    for i, mutant in enumerate(MUTANTS):
        if not only or str(i) in only:
            print(f"{i}\t{run_mutant(root, *mutant)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
