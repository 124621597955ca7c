"""HalfCheetah: model numbers, the finite-difference velocity in obs[0], reset and preproc.

Oracles: the spec's joint table and total mass (`docs/spec/pets-facts.md` §3.4), x recomputed from
`qpos` and `dt`, the spec's reset distribution, and hand-made observations for the model
input/target layout (§4.3).
"""

from __future__ import annotations

import math

import mujoco
import numpy as np
import pytest
import torch

from pets.envs.halfcheetah import HalfCheetahEnv, HalfCheetahTask

# docs/spec/pets-facts.md §3.4: joint -> (range, stiffness, damping, motor gear)
LEGS = {
    "bthigh": ((-0.52, 1.05), 240.0, 6.0, 120.0),
    "bshin": ((-0.785, 0.785), 180.0, 4.5, 90.0),
    "bfoot": ((-0.4, 0.785), 120.0, 3.0, 60.0),
    "fthigh": ((-1.0, 0.7), 180.0, 4.5, 120.0),
    "fshin": ((-1.2, 0.87), 120.0, 3.0, 60.0),
    "ffoot": ((-0.5, 0.5), 60.0, 1.5, 30.0),
}


@pytest.fixture(scope="module")
def env() -> HalfCheetahEnv:
    return HalfCheetahEnv()


def test_halfcheetah_model_matches_spec(env: HalfCheetahEnv) -> None:
    m = env.model
    assert (m.nq, m.nv, m.nu) == (9, 9, 6)
    assert m.opt.timestep == 0.01 and m.opt.integrator == mujoco.mjtIntegrator.mjINT_EULER
    np.testing.assert_array_equal(m.opt.gravity, [0, 0, -9.81])
    assert env.frame_skip == 5
    assert m.body_mass.sum() == pytest.approx(14.0, rel=1e-12)
    for name in ("rootx", "rootz", "rooty"):
        joint = m.joint(name)
        assert joint.limited[0] == 0 and joint.damping[0] == 0 and joint.armature[0] == 0
    for i, (name, (limits, stiffness, damping, gear)) in enumerate(LEGS.items()):
        joint = m.joint(name)
        assert tuple(joint.range) == limits and joint.limited[0] == 1, name
        assert joint.stiffness[0] == stiffness and joint.damping[0] == damping, name
        assert joint.armature[0] == 0.1, name
        assert m.actuator(i).trnid[0] == joint.id and m.actuator_gear[i, 0] == gear, name
    np.testing.assert_array_equal(m.actuator_ctrlrange, np.tile([-1.0, 1.0], (6, 1)))


def test_halfcheetah_obs0_is_finite_difference_velocity(env: HalfCheetahEnv) -> None:
    obs, _ = env.reset(seed=0)
    assert obs[0] == 0.0  # PETS: prev_qpos = qpos at reset
    rng = np.random.default_rng(0)
    for _ in range(50):
        x_before = env.data.qpos[0]
        obs, *_ = env.step(rng.uniform(-1, 1, 6))
        x_after = env.data.qpos[0]
        assert obs[0] == pytest.approx((x_after - x_before) / 0.05, rel=1e-12, abs=1e-12)
        np.testing.assert_array_equal(obs[1:9], env.data.qpos[1:])
        np.testing.assert_array_equal(obs[9:], env.data.qvel)


def test_halfcheetah_reset_distribution(env: HalfCheetahEnv) -> None:
    # qpos, qvel = initial + N(0, 0.001²) per coordinate; 5-sigma bounds from n samples.
    n, sigma = 1000, 0.001
    env.reset(seed=3)
    init = np.concatenate([env.init_qpos[1:], env.init_qvel])
    obs = np.array([env.reset()[0] for _ in range(n)])
    np.testing.assert_array_equal(obs[:, 0], 0.0)
    noise = obs[:, 1:] - init
    np.testing.assert_array_less(np.abs(noise.mean(axis=0)), 5 * sigma / math.sqrt(n))
    np.testing.assert_array_less(np.abs(noise.std(axis=0) - sigma), 5 * sigma / math.sqrt(2 * n))


def test_halfcheetah_model_io_layout() -> None:
    task = HalfCheetahTask(dtype=torch.float64)
    obs = torch.arange(18, dtype=torch.float64)[None] / 10  # o_i = i / 10
    nxt = obs + 1.0
    features = task.obs_preproc(obs)
    expected = [0.1, math.sin(0.2), math.cos(0.2), *[i / 10 for i in range(3, 18)]]
    torch.testing.assert_close(features, torch.tensor([expected], dtype=torch.float64))
    # target: next o0 absolutely, the rest as deltas.
    target = task.targ_proc(obs, nxt)
    torch.testing.assert_close(target, torch.tensor([[1.0] + [1.0] * 17], dtype=torch.float64))
    torch.testing.assert_close(task.obs_cost(obs), torch.tensor([-0.0], dtype=torch.float64))
