"""Batched rewards and terminations of gymnasium's standard tasks (`pets.envs.standard`).

Oracle: the reward and `terminated` flag that gymnasium 1.4.0's own env returns, on a few hundred
real transitions per task with seeded uniform random actions (`docs/spec/gym-tasks.md`). The
actions are float64: gymnasium squares the action array in its own dtype, so float64 actions make
its control costs float64 and the float64 comparison can be tight (1e-9). Where an observation
cannot carry what gymnasium reads, the allowed gap is derived: Pendulum's float32 observation
bounds it analytically, and the double pendulum's (gymnasium's tip is RK4's last stage) is the
exact change of its penalties, per transition, between the env's internals and the observation.
Hopper and Walker2d also start every other episode at rest in a random pose near a height bound,
since random play ends by the torso angle long before the height nears its bounds.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
import pytest
import torch
from torch import Tensor

from pets.envs.standard import arms, classic, locomotion

StepFn = Callable[[Tensor, Tensor, Tensor], Tensor]
Probe = Callable[[Any], np.ndarray]
Start = Callable[[Any, np.random.Generator], np.ndarray]

#: float32 unit roundoff.
U32 = 2.0**-24
#: float32 rewards: every formula here is a short chain of roundings (the float32 input, the
#: float32 constant, at most ~6 arithmetic ops, atan2/sqrt within 2 ulp), each a relative error
#: ≤ u on a quantity bounded by the task's `magnitude` (the sum of |operands| of every add and
#: subtract, so cancellation is covered). 16 ≥ that chain length, with margin.
F32_ROUNDINGS = 16
TRANSITIONS = 600


@dataclass(frozen=True)
class Transitions:
    """Stacked real transitions of one env, float64, with the env's own reward and flag."""

    obs: np.ndarray
    act: np.ndarray
    next_obs: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    probe: np.ndarray | None = None

    def tensors(self, dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor]:
        as_tensor = functools.partial(torch.as_tensor, dtype=dtype)
        return as_tensor(self.obs), as_tensor(self.act), as_tensor(self.next_obs)


def _pendulum_magnitude(t: Transitions) -> np.ndarray:
    # θ's absolute error is a few u·π (atan2), entering θ² with slope 2|θ| ≤ 2π.
    theta = np.arctan2(t.obs[:, 1], t.obs[:, 0])
    torque = np.clip(t.act[:, 0], -2.0, 2.0)
    return theta**2 + 2 * math.pi * np.abs(theta) + 0.1 * t.obs[:, 2] ** 2 + 1e-3 * torque**2


def _idp_magnitude(t: Transitions) -> np.ndarray:
    # x, z are sums of terms of size ≤ |cart| + 0.6·3 (sines and cosines of size ≤ 1); their
    # absolute errors enter the squares with slopes 0.02|x| and 2|z − 2|.
    o = t.next_obs
    x_size, z_size = np.abs(o[:, 0]) + 1.8, 1.8
    x = o[:, 0] + 0.6 * o[:, 1] + 0.6 * (o[:, 1] * o[:, 4] + o[:, 3] * o[:, 2])
    z = 0.6 * o[:, 3] + 0.6 * (o[:, 3] * o[:, 4] - o[:, 1] * o[:, 2])
    return (
        10.0
        + 0.01 * x**2
        + 0.02 * np.abs(x) * x_size
        + (z - 2) ** 2
        + 2 * np.abs(z - 2) * z_size
        + 1e-3 * o[:, 6] ** 2
        + 5e-3 * o[:, 7] ** 2
    )


def _pusher_magnitude(t: Transitions) -> np.ndarray:
    # The differences of positions are formed from float32-rounded positions of size ‖·‖₁.
    o = np.abs(t.next_obs)
    tip, obj, goal = o[:, 14:17].sum(1), o[:, 17:20].sum(1), o[:, 20:23].sum(1)
    return 0.5 * (obj + tip) + (obj + goal) + 0.1 * (t.act**2).sum(1)


def _forward_magnitude(dt: float, ctrl_weight: float, bonus: float) -> Callable[..., np.ndarray]:
    # x and x' are rounded to float32 before their difference is divided by dt.
    def magnitude(t: Transitions) -> np.ndarray:
        x_size = (np.abs(t.obs[:, 0]) + np.abs(t.next_obs[:, 0])) / dt
        return x_size + bonus + ctrl_weight * (t.act**2).sum(1)

    return magnitude


def _idp_probe(env: Any) -> np.ndarray:
    """The tip gymnasium read, the tip of the returned qpos (MuJoCo's kinematics), the qvel."""
    scratch = mujoco.MjData(env.model)
    scratch.qpos[:] = env.data.qpos
    mujoco.mj_kinematics(env.model, scratch)
    return np.concatenate(
        [env.data.site_xpos[0, [0, 2]], scratch.site_xpos[0, [0, 2]], env.data.qvel[1:3]]
    )


def _pose_start(heights: list[tuple[float, float]], angle: float) -> Start:
    """Start a planar walker at rest at a random height in `heights`, clear of the floor.

    Random play ends by the torso angle long before the torso height nears its bounds, so every
    other episode starts from a random pose at a height drawn around a bound (the torso angle
    within ±`angle`); the joint angles are redrawn until nothing touches.
    """

    def start(env: Any, rng: np.random.Generator) -> np.ndarray:
        low, high = heights[rng.integers(len(heights))]
        qpos = env.init_qpos.copy()
        qpos[1] = rng.uniform(low, high)
        while True:
            qpos[2] = rng.uniform(-angle, angle)
            qpos[3:] = rng.uniform(env.model.jnt_range[3:, 0], env.model.jnt_range[3:, 1])
            env.set_state(qpos, np.zeros(env.model.nv))
            if env.data.ncon == 0:
                return np.asarray(env._get_obs())

    return start


def _idp_gap(t: Transitions) -> np.ndarray:
    """Exact change of the penalties between gymnasium's inputs and the observation's.

    The alive bonus agrees wherever the flags agree (asserted separately); the quadratic terms
    differ by exactly these amounts, which are 0 but for the stale tip and clipped velocities.
    """
    assert t.probe is not None
    xg, zg, xk, zk, v1, v2 = t.probe.T
    w1, w2 = t.next_obs[:, 6], t.next_obs[:, 7]
    return (
        0.01 * np.abs(xg**2 - xk**2)
        + np.abs((zg - 2) ** 2 - (zk - 2) ** 2)
        + 1e-3 * np.abs(v1**2 - w1**2)
        + 5e-3 * np.abs(v2**2 - w2**2)
    )


@dataclass(frozen=True)
class Case:
    env_id: str
    reward: StepFn
    terminated: StepFn | None
    magnitude: Callable[[Transitions], np.ndarray]
    make_kwargs: dict[str, Any] = field(default_factory=dict)
    #: float64 gap allowed beyond 1e-9, per transition (what the observation cannot carry).
    gap: Callable[[Transitions], np.ndarray] | None = None
    probe: Probe | None = None
    start: Start | None = None
    #: Actions are drawn from [low, high] × this (Pendulum: > 1, to exercise gymnasium's clip).
    action_scale: float = 1.0


CASES = {
    "pendulum": Case(
        "Pendulum-v1",
        classic.pendulum_reward,
        None,
        _pendulum_magnitude,
        # Float32 observation against float64 state: |Δθ| ≤ u and |Δθ̇| ≤ 8u, so
        # |Δr| ≤ 2π·u + 0.2·8²·u = (2π + 12.8)·u < 20·u (docs/spec/gym-tasks.md §2).
        gap=lambda t: np.full(len(t.reward), 20 * U32),
        action_scale=1.25,
    ),
    "inverted_pendulum": Case(
        "InvertedPendulum-v5",
        classic.inverted_pendulum_reward,
        classic.inverted_pendulum_terminated,
        lambda t: np.zeros(len(t.reward)),
    ),
    "inverted_double_pendulum": Case(
        "InvertedDoublePendulum-v5",
        classic.inverted_double_pendulum_reward,
        classic.inverted_double_pendulum_terminated,
        _idp_magnitude,
        gap=_idp_gap,
        probe=_idp_probe,
    ),
    "reacher": Case(
        "Reacher-v5",
        arms.reacher_reward,
        None,
        lambda t: np.abs(t.next_obs[:, 8:10]).sum(1) + (t.act**2).sum(1),
    ),
    "pusher": Case("Pusher-v5", arms.pusher_reward, None, _pusher_magnitude),
    "half_cheetah": Case(
        "HalfCheetah-v5",
        locomotion.half_cheetah_reward,
        None,
        _forward_magnitude(0.05, 0.1, 0.0),
        locomotion.HALF_CHEETAH_MAKE_KWARGS,
    ),
    "hopper": Case(
        "Hopper-v5",
        locomotion.hopper_reward,
        locomotion.hopper_terminated,
        _forward_magnitude(0.008, 1e-3, 1.0),
        locomotion.HOPPER_MAKE_KWARGS,
        start=_pose_start([(0.6, 0.9)], angle=0.25),
    ),
    "walker2d": Case(
        "Walker2d-v5",
        locomotion.walker2d_reward,
        locomotion.walker2d_terminated,
        _forward_magnitude(0.008, 1e-3, 1.0),
        locomotion.WALKER2D_MAKE_KWARGS,
        start=_pose_start([(0.7, 0.95), (1.9, 2.1)], angle=1.25),
    ),
}
ENDING = [name for name, case in CASES.items() if case.terminated is not None]


@functools.cache
def transitions(name: str) -> Transitions:
    """Real transitions of the task's env, reset (unseeded after the first) when an episode ends."""
    case = CASES[name]
    env = gym.make(case.env_id, **case.make_kwargs)
    space = env.action_space
    assert isinstance(space, gym.spaces.Box)
    low = space.low.astype(np.float64) * case.action_scale
    high = space.high.astype(np.float64) * case.action_scale
    rng = np.random.default_rng(0)
    rows: list[tuple[Any, ...]] = []
    probes = []
    obs, _ = env.reset(seed=0)
    episode = 0
    for _ in range(TRANSITIONS):
        act = rng.uniform(low, high)
        next_obs, reward, terminated, truncated, _ = env.step(act)
        rows.append((obs, act, next_obs, reward, terminated))
        if case.probe is not None:
            probes.append(case.probe(env.unwrapped))
        obs = next_obs
        if terminated or truncated:
            obs, _ = env.reset()
            episode += 1
            if case.start is not None and episode % 2:
                obs = case.start(env.unwrapped, rng)
    env.close()
    cols = [np.array(c, dtype=np.float64) for c in zip(*rows, strict=True)]
    return Transitions(
        obs=cols[0],
        act=cols[1],
        next_obs=cols[2],
        reward=cols[3],
        terminated=cols[4].astype(bool),
        probe=np.array(probes) if probes else None,
    )


def test_make_kwargs_keep_the_root_x_in_the_observation() -> None:
    for kwargs in (
        locomotion.HALF_CHEETAH_MAKE_KWARGS,
        locomotion.HOPPER_MAKE_KWARGS,
        locomotion.WALKER2D_MAKE_KWARGS,
    ):
        assert kwargs == {"exclude_current_positions_from_observation": False}
    assert locomotion.HIDDEN_COLUMNS == 1


@pytest.mark.parametrize("name", ENDING)
def test_collected_data_has_both_outcomes(name: str) -> None:
    flags = transitions(name).terminated
    assert flags.any() and not flags.all(), (name, int(flags.sum()))


@pytest.mark.parametrize(
    ("name", "z_bounds", "angle_bound"),
    [("hopper", (0.7,), 0.2), ("walker2d", (0.8, 2.0), 1.0)],
)
def test_collected_data_straddles_the_height_bounds(
    name: str, z_bounds: tuple[float, ...], angle_bound: float
) -> None:
    """Heights on each side of every height bound and within 0.1 of it, at a healthy angle."""
    o = transitions(name).next_obs
    z = o[np.abs(o[:, 2]) < angle_bound, 1]
    for bound in z_bounds:
        assert ((z > bound - 0.1) & (z <= bound)).any() and ((z > bound) & (z < bound + 0.1)).any()


@pytest.mark.parametrize("name", list(CASES))
def test_reward_float64_equals_the_envs(name: str) -> None:
    case, t = CASES[name], transitions(name)
    got = case.reward(*t.tensors(torch.float64))
    assert got.dtype == torch.float64 and got.shape == (len(t.reward),)
    tol = 1e-9 * np.maximum(1.0, np.abs(t.reward))
    if case.gap is not None:
        tol = tol + case.gap(t)
    err = np.abs(got.numpy() - t.reward)
    assert (err <= tol).all(), (name, float(err.max()), int(np.argmax(err - tol)))


@pytest.mark.parametrize("name", list(CASES))
def test_reward_float32_is_within_rounding_of_the_envs(name: str) -> None:
    case, t = CASES[name], transitions(name)
    got = case.reward(*t.tensors(torch.float32))
    assert got.dtype == torch.float32
    tol = F32_ROUNDINGS * U32 * case.magnitude(t)
    if case.gap is not None:
        tol = tol + case.gap(t)
    err = np.abs(got.double().numpy() - t.reward)
    assert (err <= tol).all(), (name, float(err.max()), float(np.max(err / np.maximum(tol, 1e-30))))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", ENDING)
def test_terminated_equals_the_envs(name: str, dtype: torch.dtype) -> None:
    case, t = CASES[name], transitions(name)
    assert case.terminated is not None
    got = case.terminated(*t.tensors(dtype))
    assert got.dtype == torch.bool and got.shape == (len(t.terminated),)
    np.testing.assert_array_equal(got.numpy(), t.terminated)


def test_double_pendulum_tip_gap_is_small() -> None:
    """The documented gap: gymnasium's tip is RK4's last stage, ≲ 1e-4 m from the qpos's tip."""
    probe = transitions("inverted_double_pendulum").probe
    assert probe is not None
    gap = np.abs(probe[:, 0:2] - probe[:, 2:4]).max()
    assert 0 < gap < 1e-3


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", list(CASES))
def test_functions_are_batched_row_by_row(name: str, dtype: torch.dtype) -> None:
    """A permuted batch gives the permuted result, and a single row its own result."""
    case, t = CASES[name], transitions(name)
    obs, act, next_obs = t.tensors(dtype)
    perm = torch.randperm(len(obs), generator=torch.Generator().manual_seed(0))
    eps = torch.finfo(dtype).eps
    fns = [case.reward] + ([case.terminated] if case.terminated is not None else [])
    for fn in fns:
        full = fn(obs, act, next_obs)
        assert full.dtype in (dtype, torch.bool) and full.shape == (len(obs),)
        permuted = fn(obs[perm], act[perm], next_obs[perm])
        assert permuted.dtype == full.dtype
        scale = float(full.abs().max()) if full.is_floating_point() else 0.0
        torch.testing.assert_close(permuted, full[perm], rtol=16 * eps, atol=16 * eps * scale)
        for i in (0, 7, len(obs) - 1):
            row = fn(obs[i : i + 1], act[i : i + 1], next_obs[i : i + 1])
            torch.testing.assert_close(row, full[i : i + 1], rtol=16 * eps, atol=16 * eps * scale)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", list(CASES))
def test_functions_run_on_cuda_without_host_syncs(name: str) -> None:
    """On CUDA: same results as on the CPU, and no host synchronisation inside the hot loop."""
    case, t = CASES[name], transitions(name)
    cpu = t.tensors(torch.float64)
    gpu = tuple(a.cuda() for a in cpu)
    fns = [case.reward] + ([case.terminated] if case.terminated is not None else [])
    for fn in fns:
        torch.cuda.set_sync_debug_mode("error")
        try:
            out = fn(*gpu)
        finally:
            torch.cuda.set_sync_debug_mode("default")
        assert out.device.type == "cuda"
        torch.testing.assert_close(out.cpu(), fn(*cpu), rtol=1e-12, atol=1e-12)
