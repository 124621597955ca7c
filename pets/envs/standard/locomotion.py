"""Rewards and terminations of HalfCheetah-v5, Hopper-v5 and Walker2d-v5.

Batched torch versions of gymnasium 1.4.0's `mujoco/half_cheetah_v5.py`, `mujoco/hopper_v5.py`
and `mujoco/walker2d_v5.py`; `docs/spec/gym-tasks.md` §7–§9. pets makes all three envs with
`exclude_current_positions_from_observation=False` (the `*_MAKE_KWARGS` constants), so the
observation is [qpos, qvel] with obs[0] the root x position, and the forward reward is exactly
(obs'[0] − obs[0]) / dt, the same float64 operations as gymnasium's.

`HIDDEN_COLUMNS = 1`: column 0 (x) must be kept out of the model's input (it grows without bound
and no dynamics depend on it); only these reward functions read it.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

HALF_CHEETAH_MAKE_KWARGS: dict[str, Any] = {"exclude_current_positions_from_observation": False}
HOPPER_MAKE_KWARGS: dict[str, Any] = {"exclude_current_positions_from_observation": False}
WALKER2D_MAKE_KWARGS: dict[str, Any] = {"exclude_current_positions_from_observation": False}
#: Leading observation columns (the root x) that the model must not see.
HIDDEN_COLUMNS = 1

# dt = model timestep × frame_skip, multiplied in the same order as gymnasium's `MujocoEnv.dt`.
HALF_CHEETAH_DT = 0.01 * 5
HOPPER_DT = 0.002 * 4
WALKER2D_DT = 0.002 * 4

HALF_CHEETAH_CTRL_WEIGHT = 0.1
HOPPER_CTRL_WEIGHT = 1e-3
WALKER2D_CTRL_WEIGHT = 1e-3
HEALTHY_REWARD = 1.0

#: Hopper-v5 is healthy while z ∈ (0.7, inf), the torso angle ∈ (−0.2, 0.2) and every entry of
#: state_vector()[2:] = (qpos[2:], qvel) lies in (−100, 100); all bounds are strict.
HOPPER_Z_RANGE = (0.7, float("inf"))
HOPPER_ANGLE_RANGE = (-0.2, 0.2)
HOPPER_STATE_RANGE = (-100.0, 100.0)
#: Walker2d-v5 is healthy while z ∈ (0.8, 2.0) and the torso angle ∈ (−1, 1), strictly.
WALKER2D_Z_RANGE = (0.8, 2.0)
WALKER2D_ANGLE_RANGE = (-1.0, 1.0)


def _forward_reward(obs: Tensor, next_obs: Tensor, dt: float) -> Tensor:
    """(x' − x) / dt, gymnasium's finite-difference x velocity (forward weight 1)."""
    return (next_obs[:, 0] - obs[:, 0]) / dt


def _inside(v: Tensor, bounds: tuple[float, float]) -> Tensor:
    """low < v < high elementwise; False for NaN, as in numpy's comparisons."""
    return (v > bounds[0]) & (v < bounds[1])


def half_cheetah_reward(obs: Tensor, act: Tensor, next_obs: Tensor) -> Tensor:
    """HalfCheetah-v5 reward.

    r = (obs'[0] − obs[0]) / 0.05 − 0.1·‖a‖²
    """
    ctrl_cost = HALF_CHEETAH_CTRL_WEIGHT * act.square().sum(dim=-1)
    return _forward_reward(obs, next_obs, HALF_CHEETAH_DT) - ctrl_cost


def _hopper_healthy(next_obs: Tensor) -> Tensor:
    """Hopper-v5's `is_healthy` on obs' = [x, z, angle, qpos[3:6], clip(qvel, ±10)].

    The observation clips qvel to ±10, inside the ±100 state range, so a |qvel| ≥ 100 (or inf)
    that gymnasium calls unhealthy passes here; NaN still fails, as np.clip keeps it.
    """
    state_ok = _inside(next_obs[:, 2:], HOPPER_STATE_RANGE).all(dim=-1)
    z_ok = _inside(next_obs[:, 1], HOPPER_Z_RANGE)
    angle_ok = _inside(next_obs[:, 2], HOPPER_ANGLE_RANGE)
    return state_ok & z_ok & angle_ok


def hopper_terminated(obs: Tensor, act: Tensor, next_obs: Tensor) -> Tensor:
    """Hopper-v5 termination: not healthy after the step.

    terminated = not (0.7 < z' and −0.2 < angle' < 0.2 and all(−100 < (qpos'[2:], qvel') < 100))

    Differs from gymnasium only where |qvel'| ≥ 100, which the clipped observation cannot show
    (`docs/spec/gym-tasks.md` §8).
    """
    return ~_hopper_healthy(next_obs)


def hopper_reward(obs: Tensor, act: Tensor, next_obs: Tensor) -> Tensor:
    """Hopper-v5 reward; v5 pays the healthy bonus only if healthy after the step.

    r = (obs'[0] − obs[0]) / 0.008 + 1·healthy(obs') − 0.001·‖a‖²
    """
    healthy = _hopper_healthy(next_obs).to(next_obs.dtype) * HEALTHY_REWARD
    ctrl_cost = HOPPER_CTRL_WEIGHT * act.square().sum(dim=-1)
    return (_forward_reward(obs, next_obs, HOPPER_DT) + healthy) - ctrl_cost


def _walker2d_healthy(next_obs: Tensor) -> Tensor:
    """Walker2d-v5's `is_healthy` on obs' = [x, z, angle, ...]: exact (qpos is unclipped)."""
    z_ok = _inside(next_obs[:, 1], WALKER2D_Z_RANGE)
    return z_ok & _inside(next_obs[:, 2], WALKER2D_ANGLE_RANGE)


def walker2d_terminated(obs: Tensor, act: Tensor, next_obs: Tensor) -> Tensor:
    """Walker2d-v5 termination: not healthy after the step.

    terminated = not (0.8 < z' < 2 and −1 < angle' < 1)
    """
    return ~_walker2d_healthy(next_obs)


def walker2d_reward(obs: Tensor, act: Tensor, next_obs: Tensor) -> Tensor:
    """Walker2d-v5 reward; the healthy bonus is paid only if healthy after the step.

    r = (obs'[0] − obs[0]) / 0.008 + 1·healthy(obs') − 0.001·‖a‖²
    """
    healthy = _walker2d_healthy(next_obs).to(next_obs.dtype) * HEALTHY_REWARD
    ctrl_cost = WALKER2D_CTRL_WEIGHT * act.square().sum(dim=-1)
    return (_forward_reward(obs, next_obs, WALKER2D_DT) + healthy) - ctrl_cost
