"""Rewards and terminations of Pendulum-v1, InvertedPendulum-v5 and InvertedDoublePendulum-v5.

Batched torch versions of gymnasium 1.4.0's own formulas (`classic_control/pendulum.py`,
`mujoco/inverted_pendulum_v5.py`, `mujoco/inverted_double_pendulum_v5.py`) on the observations
the envs return with their default make arguments; `docs/spec/gym-tasks.md` §2–§4. All three
envs are made with default keyword arguments.
"""

from __future__ import annotations

import torch
from torch import Tensor

PENDULUM_MAX_TORQUE = 2.0
#: Pendulum-v1's integration step (the reward does not use it; recorded for the spec).
PENDULUM_DT = 0.05

#: InvertedPendulum-v5 ends once |hinge angle| (obs[1]) exceeds this.
INVERTED_PENDULUM_MAX_ANGLE = 0.2

IDP_HEALTHY_REWARD = 10.0
#: Lengths from hinge to hinge and from the second hinge to the tip site (both poles 0.6 m).
IDP_POLE1_LENGTH = 0.6
IDP_POLE2_LENGTH = 0.6
#: The episode ends once the tip site's height is at or below this.
IDP_MIN_TIP_HEIGHT = 1.0


def pendulum_reward(obs: Tensor, act: Tensor, next_obs: Tensor) -> Tensor:
    """Pendulum-v1 reward, from the state before the step.

    r = −(θ² + 0.1·θ̇² + 0.001·u²), θ = atan2(obs[1], obs[0]), θ̇ = obs[2], u = clip(a, ±2).

    gymnasium normalises its float64 θ to [−π, π); atan2 gives (−π, π], whose square is the same.
    The observation is float32, so θ and θ̇ carry float32 rounding that gymnasium's float64
    state does not: |Δr| ≤ (2π + 12.8)·2⁻²⁴ ≈ 1.1e-6 (`docs/spec/gym-tasks.md` §2).
    """
    theta = torch.atan2(obs[:, 1], obs[:, 0])
    torque = act[:, 0].clamp(-PENDULUM_MAX_TORQUE, PENDULUM_MAX_TORQUE)
    return -(theta.square() + 0.1 * obs[:, 2].square() + 0.001 * torque.square())


def inverted_pendulum_terminated(obs: Tensor, act: Tensor, next_obs: Tensor) -> Tensor:
    """InvertedPendulum-v5 termination, on the state after the step.

    terminated = any(obs' not finite) or |obs'[1]| > 0.2   (obs' = [qpos, qvel], unclipped)
    """
    not_finite = ~torch.isfinite(next_obs).all(dim=-1)
    return not_finite | (next_obs[:, 1].abs() > INVERTED_PENDULUM_MAX_ANGLE)


def inverted_pendulum_reward(obs: Tensor, act: Tensor, next_obs: Tensor) -> Tensor:
    """InvertedPendulum-v5 reward: 1 while the step does not terminate, else 0.

    r = 1 − terminated(obs')   (v5 pays nothing on the terminating step, unlike v4)
    """
    return (~inverted_pendulum_terminated(obs, act, next_obs)).to(next_obs.dtype)


def _idp_tip(next_obs: Tensor) -> tuple[Tensor, Tensor]:
    """World (x, z) of the tip site from obs = [cart, sin θ1, sin θ2, cos θ1, cos θ2, ...].

    Both hinges turn about +y, which maps the pole's z axis to (sin θ, 0, cos θ); the cart and
    the first hinge sit at height 0.
    """
    cart, s1, s2, c1, c2 = next_obs[:, :5].unbind(dim=-1)
    # sin/cos of θ1 + θ2 by the addition formulas: the observation holds sin and cos, not θ.
    x = cart + IDP_POLE1_LENGTH * s1 + IDP_POLE2_LENGTH * (s1 * c2 + c1 * s2)
    z = IDP_POLE1_LENGTH * c1 + IDP_POLE2_LENGTH * (c1 * c2 - s1 * s2)
    return x, z


def inverted_double_pendulum_terminated(obs: Tensor, act: Tensor, next_obs: Tensor) -> Tensor:
    """InvertedDoublePendulum-v5 termination: the tip at or below height 1.

    terminated = z_tip(obs') ≤ 1

    gymnasium reads `data.site_xpos` after `mj_step`, i.e. the kinematics of RK4's last stage
    (q_{n−1} + h·k₃), not of the returned qpos; the tip differs by O(h³·jerk), ~1e-4 m at worst
    in random play, so a flag can differ only for a tip within that of height 1
    (`docs/spec/gym-tasks.md` §4). A NaN height never terminates, as in gymnasium.
    """
    return _idp_tip(next_obs)[1] <= IDP_MIN_TIP_HEIGHT


def inverted_double_pendulum_reward(obs: Tensor, act: Tensor, next_obs: Tensor) -> Tensor:
    """InvertedDoublePendulum-v5 reward, on the state after the step.

    r = 10·(1 − terminated) − (0.01·x_tip² + (z_tip − 2)²) − (0.001·ω1² + 0.005·ω2²),
    ω1, ω2 = obs'[6], obs'[7].

    Two gaps to gymnasium, both documented in `docs/spec/gym-tasks.md` §4: the tip is computed
    from the returned qpos (gymnasium's is RK4's last stage, ≲ 1e-4 m away), and the observation
    clips ω to ±10 where gymnasium squares the unclipped qvel.
    """
    x, z = _idp_tip(next_obs)
    alive = (~(z <= IDP_MIN_TIP_HEIGHT)).to(next_obs.dtype) * IDP_HEALTHY_REWARD
    dist_penalty = 0.01 * x.square() + (z - 2.0).square()
    vel_penalty = 0.001 * next_obs[:, 6].square() + 0.005 * next_obs[:, 7].square()
    return alive - dist_penalty - vel_penalty
