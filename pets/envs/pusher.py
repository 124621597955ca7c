"""Pusher, a 7-DOF arm pushing a puck to a goal (`MBRLPusher-v0`, `docs/spec/pets-facts.md` §3.3).

The MuJoCo model is gymnasium's `pusher_v5.xml` with PETS's shoulder-pan range (MjSpec edit;
`docs/spec/environments.md` §4). The v5 object (cylinder density 0.01, no sphere) replaces PETS's
density-1e-5 object, which the arm passes through under MuJoCo >= 3 (a forced deviation,
documented in `PusherEnv`). Imports nothing from models or planners.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
import torch
from gymnasium.utils import EzPickle
from torch import Tensor

from pets.envs.base import RENDER_SIZE, SpecMujocoEnv, Task, add_skybox, gym_asset, squared_norm

ASSET = gym_asset("pusher_v5.xml")
FRAME_SKIP = 4
TASK_HORIZON = 150
#: PETS's shoulder-pan range (gymnasium's upper limit is 1.714602).
PAN_RANGE = (-2.2854, 2.0)
#: Density of the object cylinder: pusher_v5's 0.01 (PETS: 1e-5, unpushable under MuJoCo >= 3).
OBJECT_DENSITY = 0.01
#: Mean of the object's (slide y, slide x) start offsets and their std (PETS reset).
OBJECT_OFFSET_MEAN = (-0.25, 0.15)
OBJECT_OFFSET_STD = 0.025
#: Half-width of the uniform noise on the arm's start velocities.
ARM_QVEL_NOISE = 0.005
#: World position of the goal body (its slides stay at 0); PETS reads it once per reset.
GOAL_POS = (0.45, -0.05, -0.323)
DIST_WEIGHT = 1.25
NEAR_WEIGHT = 0.5
AC_COST_WEIGHT = 0.1
DEFAULT_CAMERA_CONFIG: dict[str, Any] = {
    "distance": 2.5,
    "lookat": np.array([0.4, -0.3, -0.3]),
    "elevation": -45.0,
    "azimuth": 135.0,
}


def build_spec(object_density: float = OBJECT_DENSITY) -> mujoco.MjSpec:
    """Return PETS's pusher model: pusher_v5.xml with the PETS pan range."""
    spec = mujoco.MjSpec.from_file(ASSET)
    spec.joint("r_shoulder_pan_joint").range = list(PAN_RANGE)
    for geom in spec.body("object").geoms:
        geom.density = object_density
    add_skybox(spec)
    return spec


class PusherEnv(SpecMujocoEnv, EzPickle):
    r"""Push a cylinder across a table to a fixed goal with a 7-DOF arm ending in a scoop.

    ## Description
    The arm of gymnasium's pusher (shoulder at (0, −0.6, 0)), torque motors (gear 1), no gravity.
    The object is a cylinder (radius 0.05, half-height 0.05) on two slide joints (y, then x) on
    the table at z = −0.275; the goal is a red disc at (0.45, −0.05, −0.323). Timestep 0.01 s,
    Euler, 4 physics steps per env step (dt = 0.04 s).

    ## Action Space
    `Box(-2, 2, (7,), float32)`: torque on each arm joint (shoulder pan, shoulder lift,
    upper-arm roll, elbow flex, forearm roll, wrist flex, wrist roll), N·m.

    ## Observation Space
    `Box(-inf, inf, (20,), float64)`:

    | index | meaning | unit | source |
    |---|---|---|---|
    | 0–6 | arm joint angles | rad | `qpos[0:7]` |
    | 7–13 | arm joint velocities | rad/s | `qvel[0:7]` |
    | 14–16 | tip: 0.1 m ahead of the wrist on the scoop axis | m | `subtree_com` of `tips_arm` |
    | 17–19 | object position | m | `subtree_com` of `object` |

    Indices 14–19 are read as gym 0.9.4's `get_body_com` did: the subtree centre of mass, which
    MuJoCo computes in the forward pass at the start of each physics step, so after a step they
    belong to the state one physics step (0.01 s) before `qpos` (as in the original).

    ## Rewards
    Computed on the state *before* the step (PETS): with the L1 norm ‖·‖₁,
    r = −(1.25·‖obj − goal‖₁ + 0.5·‖obj − tip‖₁ + 0.1·‖a‖²), tip and obj as in obs[14:20].

    ## Starting State
    Arm at zero angles; arm velocities U(−0.005, 0.005) each; object slides
    (y, x) = (−0.25, 0.15) + N(0, 0.025²) each, i.e. the object near world (0.6, −0.3);
    goal slides 0; object and goal velocities 0.

    ## Episode End
    Never terminates; truncated by the TimeLimit at `TASK_HORIZON` = 150 steps (6 s).

    ## Arguments
    | argument | default | meaning |
    |---|---|---|
    | `frame_skip` | 4 | physics steps per env step |
    | `object_density` | 0.01 | density of the object cylinder (PETS: 1e-5, see below) |
    | `render_mode`, `width`, `height` | None, 480, 480 | gymnasium rendering |
    | `default_camera_config` | view of the table | free-camera attributes |

    ## Differences from the original
    * The object is pusher_v5's: cylinder density 0.01 (mass 7.9e-6 kg) instead of 1e-5, and
      no invisible sphere. Under MuJoCo >= 3 the arm passes through the original object:
      contacts are found but transmit no force, so it never moves (Gymnasium issue #950;
      `tests/envs/test_pusher.py` shows both). With this object the task can be solved again.
    * Randomness comes from `self.np_random` (PETS drew the object offset from the global
      numpy RNG).
    """

    metadata = {  # noqa: RUF012  (gymnasium declares it on Env, not as a ClassVar)
        **SpecMujocoEnv.metadata,
        "render_fps": round(1 / (0.01 * FRAME_SKIP)),
    }

    def __init__(
        self,
        frame_skip: int = FRAME_SKIP,
        object_density: float = OBJECT_DENSITY,
        render_mode: str | None = None,
        width: int = RENDER_SIZE[0],
        height: int = RENDER_SIZE[1],
        default_camera_config: dict[str, Any] | None = None,
    ) -> None:
        EzPickle.__init__(
            self, frame_skip, object_density, render_mode, width, height, default_camera_config
        )
        self._object_density = object_density
        self.ac_goal_pos = np.array(GOAL_POS, dtype=np.float64)
        SpecMujocoEnv.__init__(
            self,
            lambda: build_spec(object_density),
            source=ASSET,
            frame_skip=frame_skip,
            obs_dim=20,
            render_mode=render_mode,
            width=width,
            height=height,
            default_camera_config=default_camera_config or DEFAULT_CAMERA_CONFIG,
        )

    def step(  # type: ignore[override]  # MujocoEnv narrows Env's SupportsFloat reward to float64
        self, action: np.ndarray
    ) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Simulate one step; PETS computes the reward on the state before it."""
        reward, info = self._get_pre_step_rew(action)
        self.do_simulation(action, self.frame_skip)
        obs = self._get_obs()
        if self.render_mode == "human":
            self.render()
        return obs, reward, False, False, info

    def _get_pre_step_rew(self, action: np.ndarray) -> tuple[float, dict[str, float]]:
        obj = self.subtree_com("object")
        reward_near = -float(np.sum(np.abs(obj - self.subtree_com("tips_arm"))))
        reward_dist = -float(np.sum(np.abs(obj - self.ac_goal_pos)))
        reward_ctrl = -squared_norm(action)
        reward = (
            DIST_WEIGHT * reward_dist + NEAR_WEIGHT * reward_near + AC_COST_WEIGHT * reward_ctrl
        )
        info = {"reward_dist": reward_dist, "reward_near": reward_near, "reward_ctrl": reward_ctrl}
        return reward, info

    def _get_obs(self) -> np.ndarray:
        return np.concatenate(
            [
                self.data.qpos[:7],
                self.data.qvel[:7],
                self.subtree_com("tips_arm"),
                self.subtree_com("object"),
            ]
        ).astype(np.float64)

    def reset_model(self) -> np.ndarray:
        qpos = self.init_qpos.copy()
        # Joint order: object slides y, x, then goal slides y, x.
        qpos[-4:-2] = np.asarray(OBJECT_OFFSET_MEAN) + self.np_random.normal(
            0.0, OBJECT_OFFSET_STD, size=2
        )
        qpos[-2:] = 0.0
        qvel = self.init_qvel + self.np_random.uniform(
            -ARM_QVEL_NOISE, ARM_QVEL_NOISE, size=self.model.nv
        )
        qvel[-4:] = 0.0
        self.set_state(qpos, qvel)
        self.ac_goal_pos = self.subtree_com("goal")
        return self._get_obs()

    def _get_reset_info(self) -> dict[str, Any]:
        return {"goal": self.ac_goal_pos.copy()}


class PusherTask(Task):
    """Planning side of the pusher (`docs/spec/pets-facts.md` §4.3).

    Identity preprocessing; targets and postproc are deltas; cost
    0.5·‖tip − obj‖₁ + 1.25·‖goal − obj‖₁ + 0.1‖a‖², scored on predicted next states.
    """

    name = "pusher"
    obs_dim = 20
    act_dim = 7
    task_hor = TASK_HORIZON
    model_in_dim = 27
    model_out_dim = 20
    ac_cost_weight = AC_COST_WEIGHT
    _ac_bound = (2.0,) * 7

    def __init__(self, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32):
        super().__init__(device=device, dtype=dtype)
        self.goal = self._const(GOAL_POS)

    def targ_proc(self, obs: Tensor, next_obs: Tensor) -> Tensor:
        """[M, 20] x2 -> [M, 20]: the state change."""
        return next_obs - obs

    def obs_postproc(self, obs: Tensor, pred: Tensor) -> Tensor:
        """[M, 20] x2 -> [M, 20]: state plus predicted change."""
        return obs + pred

    def obs_cost(self, obs: Tensor) -> Tensor:
        """[M, 20] -> [M]: 0.5·‖tip − obj‖₁ + 1.25·‖goal − obj‖₁."""
        tip, obj = obs[:, 14:17], obs[:, 17:20]
        near = (tip - obj).abs().sum(dim=1)
        dist = (self.goal - obj).abs().sum(dim=1)
        return NEAR_WEIGHT * near + DIST_WEIGHT * dist

    def update_goal(self, env: gym.Env) -> None:
        """Copy the goal position the env stored at reset (works through wrappers)."""
        base = env.unwrapped
        if not isinstance(base, PusherEnv):
            raise TypeError(f"update_goal needs a PusherEnv, got {type(base).__name__}")
        self.goal.copy_(torch.as_tensor(base.ac_goal_pos, dtype=self.dtype))
