"""HalfCheetah running forward (`MBRLHalfCheetah-v0`, `docs/spec/pets-facts.md` §3.4).

The MuJoCo model is gymnasium's shipped `half_cheetah.xml`, physically identical to PETS's
(`docs/spec/environments.md` §4). The observation starts with the finite-difference forward velocity
and leaves out the x position. Imports nothing from models or planners.
"""

from __future__ import annotations

from typing import Any

import mujoco
import numpy as np
import torch
from gymnasium.utils import EzPickle
from torch import Tensor

from pets.envs.base import RENDER_SIZE, SpecMujocoEnv, Task, gym_asset, squared_norm

ASSET = gym_asset("half_cheetah.xml")
FRAME_SKIP = 5
TASK_HORIZON = 1000
AC_COST_WEIGHT = 0.1
RESET_NOISE_STD = 0.001
DEFAULT_CAMERA_CONFIG: dict[str, Any] = {
    "type": mujoco.mjtCamera.mjCAMERA_TRACKING,
    "trackbodyid": 1,
    "distance": 4.0,
    "elevation": -15.0,
    "azimuth": 90.0,
}


def build_spec() -> mujoco.MjSpec:
    """Return gymnasium's half-cheetah model unchanged (it sets the total mass to 14 kg)."""
    return mujoco.MjSpec.from_file(ASSET)


class HalfCheetahEnv(SpecMujocoEnv, EzPickle):
    r"""Make a planar two-legged cheetah run forward as fast as possible.

    ## Description
    A 14 kg planar body with root joints rootx (slide), rootz (slide), rooty (hinge) and six
    leg hinges (back/front thigh, shin, foot) with stiffness and damping; motors with gears
    120, 90, 60, 120, 60, 30. Timestep 0.01 s, Euler, 5 physics steps per env step
    (dt = 0.05 s).

    ## Action Space
    `Box(-1, 1, (6,), float32)`: normalised torques on bthigh, bshin, bfoot, fthigh, fshin,
    ffoot (N·m / gear).

    ## Observation Space
    `Box(-inf, inf, (18,), float64)`:

    | index | meaning | unit | source |
    |---|---|---|---|
    | 0 | forward velocity over the last step, (x_t − x_{t−1})/dt; 0 after reset | m/s | `qpos[0]` |
    | 1 | torso height (rootz) | m | `qpos[1]` |
    | 2 | torso pitch (rooty) | rad | `qpos[2]` |
    | 3–8 | leg angles bthigh, bshin, bfoot, fthigh, fshin, ffoot | rad | `qpos[3:9]` |
    | 9 | forward velocity (rootx) | m/s | `qvel[0]` |
    | 10 | vertical velocity (rootz) | m/s | `qvel[1]` |
    | 11 | pitch rate (rooty) | rad/s | `qvel[2]` |
    | 12–17 | leg angular velocities | rad/s | `qvel[3:9]` |

    ## Rewards
    After the step: r = obs[0] − 0.1·‖a‖² (PETS also adds 0·obs[2]², a disabled term).

    ## Starting State
    qpos and qvel are the model's initial values plus N(0, 0.001²) per coordinate.

    ## Episode End
    Never terminates; truncated by the TimeLimit at `TASK_HORIZON` = 1000 steps (50 s).

    ## Arguments
    | argument | default | meaning |
    |---|---|---|
    | `frame_skip` | 5 | physics steps per env step |
    | `reset_noise_scale` | 0.001 | std of the Gaussian start noise |
    | `render_mode`, `width`, `height` | None, 480, 480 | gymnasium rendering |
    | `default_camera_config` | side view tracking the torso | camera attributes |

    ## Differences from the original
    The floor plane is gymnasium's (smaller, visual only). Randomness comes from
    `self.np_random` instead of the global numpy RNG.
    """

    metadata = {  # noqa: RUF012  (gymnasium declares it on Env, not as a ClassVar)
        **SpecMujocoEnv.metadata,
        "render_fps": round(1 / (0.01 * FRAME_SKIP)),
    }

    def __init__(
        self,
        frame_skip: int = FRAME_SKIP,
        reset_noise_scale: float = RESET_NOISE_STD,
        render_mode: str | None = None,
        width: int = RENDER_SIZE[0],
        height: int = RENDER_SIZE[1],
        default_camera_config: dict[str, Any] | None = None,
    ) -> None:
        EzPickle.__init__(
            self, frame_skip, reset_noise_scale, render_mode, width, height, default_camera_config
        )
        self._reset_noise_scale = reset_noise_scale
        SpecMujocoEnv.__init__(
            self,
            build_spec,
            source=ASSET,
            frame_skip=frame_skip,
            obs_dim=18,
            render_mode=render_mode,
            width=width,
            height=height,
            default_camera_config=default_camera_config or DEFAULT_CAMERA_CONFIG,
        )
        self._prev_qpos = self.data.qpos.copy()

    def step(  # type: ignore[override]  # MujocoEnv narrows Env's SupportsFloat reward to float64
        self, action: np.ndarray
    ) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Simulate one step; obs[0] differences x against the position before it."""
        self._prev_qpos = self.data.qpos.copy()
        return super().step(action)

    def _get_rew(self, obs: np.ndarray, action: np.ndarray) -> tuple[float, dict[str, float]]:
        reward_run = float(obs[0])
        reward_ctrl = -AC_COST_WEIGHT * squared_norm(action)
        return reward_run + reward_ctrl, {"reward_run": reward_run, "reward_ctrl": reward_ctrl}

    def _get_obs(self) -> np.ndarray:
        x_velocity = (self.data.qpos[0] - self._prev_qpos[0]) / self.dt
        return np.concatenate([[x_velocity], self.data.qpos[1:], self.data.qvel]).astype(np.float64)

    def reset_model(self) -> np.ndarray:
        scale = self._reset_noise_scale
        qpos = self.init_qpos + self.np_random.normal(0.0, scale, size=self.model.nq)
        qvel = self.init_qvel + self.np_random.normal(0.0, scale, size=self.model.nv)
        self.set_state(qpos, qvel)
        # PETS: obs[0] is 0 right after a reset.
        self._prev_qpos = self.data.qpos.copy()
        return self._get_obs()


class HalfCheetahTask(Task):
    """Planning side of the half-cheetah (`docs/spec/pets-facts.md` §4.3).

    The model input drops obs[0] and replaces the pitch by its sine and cosine; it predicts
    obs[0] absolutely and the other 17 dims as deltas. Cost −obs[0] + 0.1‖a‖².
    """

    name = "halfcheetah"
    obs_dim = 18
    act_dim = 6
    task_hor = TASK_HORIZON
    model_in_dim = 24
    model_out_dim = 18
    ac_cost_weight = AC_COST_WEIGHT
    _ac_bound = (1.0,) * 6

    def obs_preproc(self, obs: Tensor) -> Tensor:
        """[M, 18] -> [M, 18]: [o1, sin o2, cos o2, o3..o17]."""
        pitch = obs[:, 2:3]
        return torch.cat([obs[:, 1:2], pitch.sin(), pitch.cos(), obs[:, 3:]], dim=1)

    def targ_proc(self, obs: Tensor, next_obs: Tensor) -> Tensor:
        """[M, 18] x2 -> [M, 18]: [o'0, o'1.. − o1..]."""
        return torch.cat([next_obs[:, :1], next_obs[:, 1:] - obs[:, 1:]], dim=1)

    def obs_postproc(self, obs: Tensor, pred: Tensor) -> Tensor:
        """[M, 18] x2 -> [M, 18]: [y0, o1.. + y1..]."""
        return torch.cat([pred[:, :1], obs[:, 1:] + pred[:, 1:]], dim=1)

    def obs_cost(self, obs: Tensor) -> Tensor:
        """[M, 18] -> [M]: minus the forward velocity obs[0]."""
        return -obs[:, 0]
