"""Slow learning checks of reacher, pusher and half-cheetah (`pytest -m slow`; cartpole's is in
tests/test_experiment.py): PE-TSinf with the CPU evidence preset's per-task planner
(config/presets/cpu-evidence.yaml, written out here) and a few trials, seed 0, on the CPU.

Each threshold is one that no model-free rule reaches: a uniformly random policy (the recorded
20-episode baseline, `pets.analysis.reference.RANDOM_POLICY`, and the run's own random first
rollout) and the do-nothing controller (zero action, measured in the test itself with the env).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from pets.analysis.reference import random_policies
from pets.cli import main
from pets.envs import make_env
from pets.run import runlog

# The evidence preset's planner (global: re-plan every 5 steps, 5 particles) and each task's CEM.
COMMON = [("ctrl_cfg.per", "5"), ("ctrl_cfg.prop_cfg.npart", "5")]
CEM = {
    "reacher": (400, 40, 5),
    "pusher": (200, 20, 5),
    "halfcheetah": (200, 20, 3),
}


def zero_action_return(env_name: str, seed: int = 0) -> float:
    """The do-nothing controller's return over one episode of the task's horizon."""
    env = make_env(env_name)
    env.reset(seed=seed)
    zero = np.zeros(env.action_space.shape, dtype=np.float32)
    total = 0.0
    truncated = False
    while not truncated:
        _, reward, _, truncated, _ = env.step(zero)
        total += float(reward)
    return total


def learn(env: str, trials: int, outdir: Path) -> dict[str, np.ndarray]:
    popsize, elites, iters = CEM[env]
    pairs = [
        *COMMON,
        ("exp_cfg.exp_cfg.ntrain_iters", str(trials)),
        ("ctrl_cfg.opt_cfg.cfg.popsize", str(popsize)),
        ("ctrl_cfg.opt_cfg.cfg.num_elites", str(elites)),
        ("ctrl_cfg.opt_cfg.cfg.max_iters", str(iters)),
    ]
    # One thread: torch's spinning worker threads slow a run several-fold on a loaded machine.
    argv = ["mbexp", "-env", env, "-outdir", str(outdir), "-device", "cpu", "-seed", "0"]
    argv += ["-threads", "1", *(item for path, value in pairs for item in ("-o", path, value))]
    assert main(argv) == 0
    return scipy.io.loadmat(outdir / runlog.LOGS_FILE)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("env", "trials", "threshold"),
    [("reacher", 5, -155.0), ("pusher", 14, -130.0), ("halfcheetah", 8, 100.0)],
)
def test_task_learns_beyond_any_model_free_baseline(
    env: str, trials: int, threshold: float, tmp_path: Path
) -> None:
    """Calibration (seed 0, these settings, one thread, 2-core VM, 2026-12-02; returns per trial):

    - reacher (2 min): -150.1, -191.2, -225.4, -144.8, -139.8. Baselines: zero action -170.8,
      best of 20 random episodes -1409.3, the run's random rollout -1551.7.
      Threshold -145 (now -155, below).
    - pusher (2.5 min): -193.6, -182.5, -223.4, -224.3, -180.6, -148.9, -140.4, -141.4, -146.5,
      -146.2, -130.3, -122.3, -111.2, -165.4. Baselines: zero action -151.0 (the object stays
      put), random best -266.6, random rollout -307.5. Threshold -130.
    - half-cheetah (6.5 min): -87.7, -125.3, -231.3, -28.6, -44.6, 78.4, 103.4, 175.8.
      Baselines: zero action -0.3, random best -144.2, random rollout -199.3. Threshold 100.

    Recalibrated on 2026-12-03 with the hand-written CPU training step (`FusedStep`, which
    rounds differently, so the runs diverge from trial 2 on), seed 0, same settings, beside other
    jobs (load about 3.5): reacher -150.1, -200.6, -248.8, -175.6, -143.7; pusher -193.6,
    -182.5, -215.2, -205.7, -197.9, -175.2, -127.6, -154.6, -120.2, -131.8, -133.2, -114.9,
    -117.8, -101.6; half-cheetah -74.8, -131.2, -158.2, -62.5, -27.5, 24.7, 293.1, 167.2. The
    reacher's best trial landed within 1.3 of its first threshold (-145) in that run, so its
    threshold is now -155: between the two calibrations' best (-139.8, -143.7) and the
    motionless arm (-170.8), still 16 above any model-free baseline.
    """
    logs = learn(env, trials, tmp_path)
    returns = logs["returns"].ravel()
    print(f"{env}: returns per trial {np.round(returns, 1).tolist()}")
    baselines = {
        "random best of 20": random_policies()[env].best,
        "run's random rollout": float(logs["rewards"][0].sum()),
        "zero action": zero_action_return(env),
    }
    print(f"{env}: baselines {baselines}")
    assert all(b < threshold for b in baselines.values()), baselines
    assert returns.max() >= threshold, returns
