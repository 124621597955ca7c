"""Cartpole swing-up: model numbers, reset distribution and cost against independent oracles.

Oracles: capsule masses from the spec's geometry at density 1000 (`docs/spec/pets-facts.md` §3.1),
MuJoCo's own kinematics of the pole tip, and the spec's reset distribution.
"""

from __future__ import annotations

import math

import mujoco
import numpy as np
import pytest
import torch

from pets.envs.cartpole import CartpoleEnv, CartpoleTask


def capsule_mass(radius: float, length: float, density: float = 1000.0) -> float:
    """Mass of a capsule: cylinder of `length` plus a sphere of `radius`."""
    return density * (math.pi * radius**2 * length + 4.0 / 3.0 * math.pi * radius**3)


@pytest.fixture(scope="module")
def env() -> CartpoleEnv:
    return CartpoleEnv()


def test_cartpole_model_matches_spec(env: CartpoleEnv) -> None:
    m = env.model
    assert (m.nq, m.nv, m.nu) == (2, 2, 1)
    assert m.opt.timestep == 0.02 and m.opt.integrator == mujoco.mjtIntegrator.mjINT_RK4
    np.testing.assert_array_equal(m.opt.gravity, [0, 0, -9.81])
    assert env.frame_skip == 2
    # cart: radius 0.1, half-length 0.1 (10.47 kg); pole: radius 0.049 from 0 to (0.001, 0, -0.6)
    assert m.body("cart").mass[0] == pytest.approx(capsule_mass(0.1, 0.2), rel=1e-9)
    pole_len = math.hypot(0.001, 0.6)
    assert m.body("pole").mass[0] == pytest.approx(capsule_mass(0.049, pole_len), rel=1e-9)
    assert m.body("cart").mass[0] == pytest.approx(10.47, abs=0.005)
    assert m.body("pole").mass[0] == pytest.approx(5.02, abs=0.005)
    slider, hinge = m.joint("slider"), m.joint("hinge")
    assert slider.limited[0] == 1 and tuple(slider.range) == (-2.5, 2.5)
    assert hinge.limited[0] == 0
    np.testing.assert_array_equal(m.dof_damping, [1.0, 1.0])
    np.testing.assert_array_equal(m.dof_armature, [0.0, 0.0])
    assert m.actuator_gear[0, 0] == 100.0
    np.testing.assert_array_equal(m.geom_contype, 0)


def test_cartpole_cost_matches_mujoco_tip(env: CartpoleEnv) -> None:
    # Tip from MuJoCo's kinematics of the site at the pole end, vs the cost's ee(x, θ) formula:
    # obs_cost = −exp(−‖tip − (0, 0.6)‖² / 0.6²).
    rng = np.random.default_rng(0)
    data = mujoco.MjData(env.model)
    states = np.column_stack([rng.uniform(-2.5, 2.5, 200), rng.uniform(-np.pi, np.pi, 200)])
    expected = []
    for qpos in states:
        data.qpos[:] = qpos
        mujoco.mj_kinematics(env.model, data)
        x, _, z = data.site("tip").xpos
        expected.append(-math.exp(-(x**2 + (z - 0.6) ** 2) / 0.36))
    obs = torch.from_numpy(np.column_stack([states, rng.normal(size=(200, 2))]))
    cost = CartpoleTask(dtype=torch.float64).obs_cost(obs)
    torch.testing.assert_close(cost, torch.tensor(expected, dtype=torch.float64))


def test_cartpole_hanging_start_costs_exp_minus_four() -> None:
    # Hanging straight down at x = 0: tip (0, −0.6), distance 1.2, cost −exp(−1.44/0.36).
    cost = CartpoleTask(dtype=torch.float64).obs_cost(torch.zeros(1, 4, dtype=torch.float64))
    assert cost.item() == pytest.approx(-math.exp(-4.0), rel=1e-12)


def test_cartpole_preproc_layout() -> None:
    obs = torch.tensor([[0.5, 0.3, -1.0, 2.0]], dtype=torch.float64)
    expected = [[math.sin(0.3), math.cos(0.3), 0.5, -1.0, 2.0]]
    torch.testing.assert_close(
        CartpoleTask(dtype=torch.float64).obs_preproc(obs),
        torch.tensor(expected, dtype=torch.float64),
    )


def test_cartpole_reset_distribution(env: CartpoleEnv) -> None:
    # qpos, qvel ~ N(0, 0.1²) each; 5-sigma bounds from n samples (se of mean σ/√n, of std σ/√(2n)).
    n, sigma = 2000, 0.1
    env.reset(seed=11)
    samples = np.array([env.reset()[0] for _ in range(n)])
    np.testing.assert_array_less(np.abs(samples.mean(axis=0)), 5 * sigma / math.sqrt(n))
    np.testing.assert_array_less(np.abs(samples.std(axis=0) - sigma), 5 * sigma / math.sqrt(2 * n))
