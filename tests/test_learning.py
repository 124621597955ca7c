"""Learning checks: PETS on cartpole must *balance* the pole, which no model-free rule here does.

Criterion (the geometry of `docs/spec/pets-facts.md` §3.1): the pole tip ee = (x − 0.6 sin θ,
−0.6 cos θ) stays within 0.1 m of the target (0, 0.6) for at least 50 consecutive steps (2 s) of
one episode. Swinging
the pole over the top puts the tip there for one or two steps; only a stabilised pole over the
middle of the rail stays there.
"""

from __future__ import annotations

import dataclasses as dc
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from pets.config import Config, default_config
from pets.envs import make_env
from pets.run.experiment import run

BALANCE_RADIUS = 0.1  # m
BALANCE_STEPS = 50
LEARNING_ITERS = 15  # trials after the random one (calibration below)


def longest_balanced_run(observations: np.ndarray) -> int:
    """Longest stretch of consecutive states [T, 4] whose pole tip is within 0.1 m of (0, 0.6)."""
    x, theta = observations[:, 0], observations[:, 1]
    dist = np.hypot(x - 0.6 * np.sin(theta), -0.6 * np.cos(theta) - 0.6)
    best = current = 0
    for inside in dist < BALANCE_RADIUS:
        current = current + 1 if inside else 0
        best = max(best, current)
    return best


def test_longest_balanced_run_counts_consecutive_upright_steps() -> None:
    up = [0.0, np.pi, 0.0, 0.0]
    down = [0.0, 0.0, 0.0, 0.0]
    off_centre = [0.2, np.pi, 0.0, 0.0]  # upright, but the tip is 0.2 m from the target
    obs = np.array([up] * 3 + [down] + [up] * 5 + [off_centre] + [up] * 2)
    assert longest_balanced_run(obs) == 5


def energy_pumping(obs: np.ndarray, gain: float) -> np.ndarray:
    """Model-free swing-up: push the cart so the pole gains energy (bang-bang or proportional)."""
    theta_dot, theta = obs[3], obs[1]
    drive = theta_dot * np.cos(theta)
    force = gain * np.sign(drive) if gain <= 3 else gain * drive
    return np.array([np.clip(force, -3.0, 3.0)], dtype=np.float32)


@pytest.mark.parametrize("gain", [1.0, 2.0, 3.0, 5.0, 10.0])
def test_energy_pumping_never_balances(gain: float) -> None:
    """The baseline the learning check must beat: it swings up (returns up to ≈ 22 per 200
    steps, above the old threshold of 10) but never holds the tip near the target."""
    env = make_env("cartpole")
    for seed in range(3):
        obs, _ = env.reset(seed=seed)
        states = [obs]
        for _ in range(200):
            obs, *_ = env.step(energy_pumping(obs, gain))
            states.append(obs)
        assert longest_balanced_run(np.asarray(states)) < 5


def small_cartpole_config(seed: int, ntrain_iters: int) -> Config:
    """PE-TSinf with a CPU-sized model and planner: 2 × 128 hidden units, CEM 100/10 × 3
    iterations over 25 steps, 5 particles, re-plan every 2 steps, 150-step episodes."""
    cfg = default_config("cartpole", seed=seed, device="cpu")
    prop, opt, exp = cfg.ctrl_cfg.prop_cfg, cfg.ctrl_cfg.opt_cfg, cfg.exp_cfg
    init = dc.replace(
        prop.model_init_cfg, hidden_layers=2, hidden_width=128, weight_decays=(1e-4, 2.5e-4, 5e-4)
    )
    cem = dc.replace(opt.cfg, popsize=100, num_elites=10, max_iters=3)
    return dc.replace(
        cfg,
        threads=1,
        exp_cfg=dc.replace(
            exp,
            sim_cfg=dc.replace(exp.sim_cfg, task_hor=150),
            exp_cfg=dc.replace(exp.exp_cfg, ntrain_iters=ntrain_iters),
        ),
        ctrl_cfg=dc.replace(
            cfg.ctrl_cfg,
            per=2,
            prop_cfg=dc.replace(prop, model_init_cfg=init, npart=5),
            opt_cfg=dc.replace(opt, plan_hor=25, cfg=cem),
        ),
    )


def _balanced_per_episode(run_dir: Path) -> list[int]:
    observations = scipy.io.loadmat(run_dir / "logs.mat")["observations"]
    return [longest_balanced_run(o) for o in observations]


def test_cartpole_pe_tsinf_learns_to_balance(tmp_path: Path) -> None:
    """Fifteen trials of 150 steps after one random trial; one trial must balance for 50 steps.

    Calibration (2-core CPU, 2026-12-03, one torch thread, the fused CPU training step of
    commit 07202b0; 15 iterations take about 50 s): longest balanced stretch per episode
    (random trial first), first pass in brackets
      seed 0: 0 0 0 0 0 2 3 9 13 12 14 33 12 37 99 118 120 (iteration 14, of 16 run)
      seed 1: 0 0 0 0 0 2 7 0 1 1 15 24 20 33 99 17 52 (iteration 14, of 16 run)
      seed 2: 0 0 0 0 1 1 2 0 8 5 122 36 124 (iteration 10, of 12 run)
      seed 3: 0 0 0 0 0 0 0 2 14 8 25 22 67 (iteration 12)
      seed 4: 0 0 0 0 2 0 0 2 11 27 102 49 6 (iteration 10)
      seed 5: 0 0 0 0 0 2 7 0 1 6 16 20 122 (iteration 12)
    With the autograd step and single-tensor Adam before it (same seeds, 12 iterations) the
    first passes were at iterations 9, 12, 10, –, 10, 11: the same spread, so 12 trials were a
    coin toss for some seeds either way and the check runs 15. The energy-pumping rule above
    (5 gains × 3 seeds) never exceeds 1 step and returns at most ≈ 22 per 200 steps, so it
    cannot pass, while the old threshold (max-so-far ≥ 10) it does.
    """
    run(small_cartpole_config(seed=0, ntrain_iters=LEARNING_ITERS), tmp_path, progress_bars=False)
    balanced = _balanced_per_episode(tmp_path)
    assert balanced[0] == 0  # the random trial does not balance
    assert max(balanced) >= BALANCE_STEPS, f"longest balanced stretch per episode: {balanced}"


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_cartpole_pe_tsinf_learns_to_balance_other_seeds(seed: int, tmp_path: Path) -> None:
    """The same check on the other calibration seeds (about a minute each)."""
    run(
        small_cartpole_config(seed=seed, ntrain_iters=LEARNING_ITERS), tmp_path, progress_bars=False
    )
    balanced = _balanced_per_episode(tmp_path)
    assert max(balanced) >= BALANCE_STEPS, f"longest balanced stretch per episode: {balanced}"
