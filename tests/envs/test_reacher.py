"""Reacher3D: model numbers, forward kinematics and goal handling against independent oracles.

Oracles: the spec's masses, ranges and damping (`docs/spec/pets-facts.md` §3.2,
`docs/spec/environments.md` §5), MuJoCo's kinematics of the fingertip links, and the spec's goal
distribution with tolerances from the sample size.
"""

from __future__ import annotations

import math

import mujoco
import numpy as np
import pytest
import torch

from pets.envs import make_env
from pets.envs.reacher import (
    ARM_JOINTS,
    FOREARM,
    HAND,
    SHOULDER_Y,
    UPPER_ARM,
    Reacher3DEnv,
    Reacher3DTask,
    ee_position,
)

# docs/spec/pets-facts.md §3.2: joint -> (range or None for unlimited, damping)
JOINTS = {
    "r_shoulder_pan_joint": ((-2.2854, 1.714602), 10.0),
    "r_shoulder_lift_joint": ((-0.5236, 1.3963), 10.0),
    "r_upper_arm_roll_joint": ((-3.9, 0.8), 0.1),
    "r_elbow_flex_joint": ((-2.3213, 0.0), 1.0),
    "r_forearm_roll_joint": (None, 0.1),
    "r_wrist_flex_joint": ((-2.094, 0.0), 0.1),
    "r_wrist_roll_joint": (None, 0.1),
}
# docs/spec/environments.md §5: arm body masses (kg), shoulder to palm, as printed there; each is
# checked to half a unit of its last printed digit.
BODY_MASSES = [
    "24.31",
    "10.47",
    "0.285",
    "5.43",
    "1.357",
    "0.285",
    "3.045",
    "0.0168",
    "0.0168",
    "0.838",
]
FINGER_MASS = "0.0329"


def assert_rounds_to(values: np.ndarray, printed: list[str]) -> None:
    """Assert each value equals its printed decimal to within half a unit of the last digit."""
    for value, text in zip(values, printed, strict=True):
        decimals = len(text.split(".")[1])
        assert abs(value - float(text)) <= 0.5 * 10.0**-decimals, (value, text)


@pytest.fixture(scope="module")
def env() -> Reacher3DEnv:
    return Reacher3DEnv()


def test_reacher_model_matches_spec(env: Reacher3DEnv) -> None:
    m = env.model
    assert (m.nq, m.nv, m.nu) == (7, 7, 7)
    assert m.opt.timestep == 0.01 and m.opt.integrator == mujoco.mjtIntegrator.mjINT_RK4
    np.testing.assert_array_equal(m.opt.gravity, 0.0)
    assert env.frame_skip == 2
    for name, (limits, damping) in JOINTS.items():
        joint = m.joint(name)
        assert joint.damping[0] == damping, name
        assert joint.armature[0] == 0.04, name
        assert bool(joint.limited[0]) == (limits is not None), name
        if limits is not None:
            assert tuple(joint.range) == limits, name
    np.testing.assert_array_equal(m.actuator_ctrlrange, np.tile([-20.0, 20.0], (7, 1)))
    np.testing.assert_array_equal(m.actuator_gear[:, 0], 1.0)
    masses = m.body_mass[1:]  # world first
    assert_rounds_to(masses[:10], BODY_MASSES)
    assert_rounds_to(masses[10:], [FINGER_MASS] * 4)
    np.testing.assert_array_equal(m.geom_contype, 0)
    np.testing.assert_array_equal(m.body("r_shoulder_pan_link").pos, [0.0, -0.188, 0.0])


def fingertip_midpoints(env: Reacher3DEnv, q: np.ndarray) -> np.ndarray:
    """MuJoCo oracle: midpoint of the two fingertip-link origins for arm angles q [N, 7]."""
    data = mujoco.MjData(env.model)
    out = np.empty((len(q), 3))
    for i, qpos in enumerate(q):
        data.qpos[:] = qpos
        mujoco.mj_kinematics(env.model, data)
        left = data.body("r_gripper_l_finger_tip_link").xpos
        right = data.body("r_gripper_r_finger_tip_link").xpos
        out[i] = (left + right) / 2
    return out


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_reacher_fk_equals_mujoco_within_limits(env: Reacher3DEnv, dtype: torch.dtype) -> None:
    rng = np.random.default_rng(0)
    low = [JOINTS[j][0][0] if JOINTS[j][0] else -math.pi for j in ARM_JOINTS]
    high = [JOINTS[j][0][1] if JOINTS[j][0] else math.pi for j in ARM_JOINTS]
    q = rng.uniform(low, high, size=(2000, 7))
    expected = fingertip_midpoints(env, q)
    got = ee_position(torch.from_numpy(q).to(dtype)).double().numpy()
    atol = 1e-6 if dtype == torch.float64 else 1e-5
    np.testing.assert_allclose(got, expected, rtol=0, atol=atol)
    # The site placed at the end effector agrees with the fingertip links too.
    data = mujoco.MjData(env.model)
    data.qpos[:] = q[0]
    mujoco.mj_kinematics(env.model, data)
    np.testing.assert_allclose(data.site("ee").xpos, expected[0], atol=1e-12)


def test_reacher_fk_at_zero_pose() -> None:
    # Straight arm along x: 0.1 + 0.4 + 0.321 + 0.16828 = 0.98928 m from the shoulder.
    ee = ee_position(torch.zeros(1, 17, dtype=torch.float64))
    torch.testing.assert_close(ee, torch.tensor([[0.98928, -0.188, 0.0]], dtype=torch.float64))


def test_reacher_arm_starts_at_rest_without_noise(env: Reacher3DEnv) -> None:
    for seed in range(5):
        obs, _ = env.reset(seed=seed)
        np.testing.assert_array_equal(obs[:7], 0.0)
        np.testing.assert_array_equal(obs[10:], 0.0)


def test_reacher_goal_distribution(env: Reacher3DEnv) -> None:
    # goal ~ N((0, 0.25, 0), 0.1²·I); 5-sigma bounds for the mean (σ/√n) and std (σ/√(2n)).
    n, sigma = 2000, 0.1
    env.reset(seed=5)
    goals = np.array([env.reset()[0][7:10] for _ in range(n)])
    np.testing.assert_array_less(
        np.abs(goals.mean(axis=0) - [0, 0.25, 0]), 5 * sigma / math.sqrt(n)
    )
    np.testing.assert_array_less(np.abs(goals.std(axis=0) - sigma), 5 * sigma / math.sqrt(2 * n))


def test_reacher_goal_redrawn_each_reset_and_read_by_task() -> None:
    env = make_env("reacher")
    task = Reacher3DTask(dtype=torch.float64)
    obs1, info1 = env.reset(seed=1)
    task.update_goal(env)
    torch.testing.assert_close(task.goal, torch.from_numpy(obs1[7:10]))
    goal_before = task.goal  # updated in place: the same tensor object
    obs2, _ = env.reset()
    assert not np.array_equal(obs1[7:10], obs2[7:10])
    task.update_goal(env)
    assert task.goal is goal_before
    torch.testing.assert_close(task.goal, torch.from_numpy(obs2[7:10]))
    # The goal marker is drawn where the observation says.
    np.testing.assert_array_equal(env.unwrapped.model.site("goal").pos, obs2[7:10])
    np.testing.assert_array_equal(info1["goal"], obs1[7:10])
    # The goal stays put during the episode.
    obs3, *_ = env.step(env.action_space.sample())
    np.testing.assert_array_equal(obs3[7:10], obs2[7:10])


def _ee_position_repeated_trig(q: torch.Tensor) -> torch.Tensor:
    """`ee_position` as written before, with every sine and cosine recomputed where used."""
    t1, t2, t3, t4, t5, t6 = (q[:, i : i + 1] for i in range(6))
    r = torch.cat([t2.cos() * t1.cos(), t2.cos() * t1.sin(), -t2.sin()], dim=1)
    p = torch.cat([-t1.sin(), t1.cos(), torch.zeros_like(t1)], dim=1)
    e = torch.cat(
        [
            0.1 * t1.cos() + UPPER_ARM * t1.cos() * t2.cos(),
            0.1 * t1.sin() + UPPER_ARM * t1.sin() * t2.cos() + SHOULDER_Y,
            -UPPER_ARM * t2.sin(),
        ],
        dim=1,
    )
    for length, hinge, roll in ((FOREARM, t4, t3), (HAND, t6, t5)):
        q_axis = torch.linalg.cross(r, p)
        r_new = hinge.cos() * r + hinge.sin() * (roll.sin() * p - roll.cos() * q_axis)
        p_new = torch.linalg.cross(r_new, r)
        norm = torch.linalg.vector_norm(p_new, dim=1, keepdim=True)
        p_new = torch.where(norm < 1e-30, p, p_new)
        p = p_new / torch.linalg.vector_norm(p_new, dim=1, keepdim=True)
        r, e = r_new, e + length * r_new
    return e


def test_reacher_ee_position_is_bit_identical_to_the_repeated_trig_formula() -> None:
    q = torch.rand(4096, 17, generator=torch.Generator().manual_seed(9)) * 4 - 2
    q[:8, 3] = 0.0  # straight elbows: the undefined-axis branch
    assert torch.equal(ee_position(q), _ee_position_repeated_trig(q))
