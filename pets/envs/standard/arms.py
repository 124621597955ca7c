"""Rewards of Reacher-v5 and Pusher-v5 (neither terminates; both end at their TimeLimit).

Batched torch versions of gymnasium 1.4.0's `mujoco/reacher_v5.py` and `mujoco/pusher_v5.py` on
the observations those envs return with default make arguments; `docs/spec/gym-tasks.md` §5–§6.
Both rewards are computed after the step from body positions that the observation after the step
carries exactly (the same `data.xpos` values gymnasium reads), so they match to float rounding.
"""

from __future__ import annotations

from torch import Tensor

REACHER_DIST_WEIGHT = 1.0
REACHER_CTRL_WEIGHT = 1.0
#: obs[8:10] = (fingertip − target)[:2]; both bodies stay at height 0.01, so the z part is 0.
REACHER_TIP_TO_TARGET = slice(8, 10)

PUSHER_NEAR_WEIGHT = 0.5
PUSHER_DIST_WEIGHT = 1.0
PUSHER_CTRL_WEIGHT = 0.1
#: World positions in the observation: tips_arm, object, goal.
PUSHER_TIP = slice(14, 17)
PUSHER_OBJECT = slice(17, 20)
PUSHER_GOAL = slice(20, 23)


def _norm(v: Tensor) -> Tensor:
    """Euclidean norm over the last axis, as sqrt of the sum of squares (numpy's 1-D norm)."""
    return v.square().sum(dim=-1).sqrt()


def reacher_reward(obs: Tensor, act: Tensor, next_obs: Tensor) -> Tensor:
    """Reacher-v5 reward, after the step.

    r = −‖obs'[8:10]‖ − ‖a‖²   (obs'[8:10] = fingertip − target in the plane)
    """
    dist = _norm(next_obs[:, REACHER_TIP_TO_TARGET])
    return -dist * REACHER_DIST_WEIGHT - act.square().sum(dim=-1) * REACHER_CTRL_WEIGHT


def pusher_reward(obs: Tensor, act: Tensor, next_obs: Tensor) -> Tensor:
    """Pusher-v5 reward, after the step, with L2 distances.

    r = −‖object − goal‖ − 0.1·‖a‖² − 0.5·‖object − tips_arm‖   (positions from obs')
    """
    obj = next_obs[:, PUSHER_OBJECT]
    near = _norm(obj - next_obs[:, PUSHER_TIP])
    dist = _norm(obj - next_obs[:, PUSHER_GOAL])
    ctrl = act.square().sum(dim=-1)
    # Summed in gymnasium's order (dist + ctrl + near) so float64 results agree to the last bits.
    return -dist * PUSHER_DIST_WEIGHT - ctrl * PUSHER_CTRL_WEIGHT - near * PUSHER_NEAR_WEIGHT
