"""Cartpole swing-up (`MBRLCartpole-v0`, `docs/spec/pets-facts.md` §3.1): env and planning task.

The MuJoCo model is gymnasium's `inverted_pendulum.xml` with four MjSpec edits
(`docs/spec/environments.md` §5, route B): slider range ±2.5, unlimited hinge, a 0.6 m pole hanging
down at θ = 0, and a 3 m rail. Imports nothing from models or planners.
"""

from __future__ import annotations

from typing import Any

import mujoco
import numpy as np
import torch
from gymnasium.utils import EzPickle
from torch import Tensor

from pets.envs.base import RENDER_SIZE, SpecMujocoEnv, Task, add_skybox, gym_asset, squared_norm

ASSET = gym_asset("inverted_pendulum.xml")
FRAME_SKIP = 2
TASK_HORIZON = 200
#: Pole length L; the tip is at (x − L sin θ, −L cos θ) in the x–z plane.
POLE_LENGTH = 0.6
#: The tip's target: upright over the origin.
TARGET = (0.0, POLE_LENGTH)
AC_COST_WEIGHT = 0.01
RESET_NOISE_STD = 0.1
DEFAULT_CAMERA_CONFIG: dict[str, Any] = {
    "distance": 4.0,
    "lookat": np.array([0.0, 0.0, 0.0]),
    "elevation": -5.0,
    "azimuth": 90.0,
}


def build_spec() -> mujoco.MjSpec:
    """Return the PETS cartpole model as gymnasium's inverted pendulum with four edits."""
    spec = mujoco.MjSpec.from_file(ASSET)
    spec.joint("slider").range = [-2.5, 2.5]
    spec.joint("hinge").limited = mujoco.mjtLimited.mjLIMITED_FALSE
    # PETS: the pole hangs down at θ = 0 (swing-up), 0.6 m long.
    spec.geom("cpole").fromto = [0.0, 0.0, 0.0, 0.001, 0.0, -POLE_LENGTH]
    spec.geom("rail").size = [0.02, 3.0, 0.0]
    # The tip site is where the cost's ee(x, θ) formula puts the tip (visual; no mass).
    spec.body("pole").add_site(name="tip", pos=[0.0, 0.0, -POLE_LENGTH], size=[0.02, 0, 0])
    add_skybox(spec)
    return spec


class CartpoleEnv(SpecMujocoEnv, EzPickle):
    r"""Swing a pole hanging from a cart up and balance it over the middle of the rail.

    ## Description
    A cart (capsule, 10.47 kg) slides along x on a rail; a pole (capsule, 0.6 m, 5.02 kg) hangs
    from it on an unlimited hinge about y. θ = 0 is hanging down, θ = π upright. Timestep 0.02 s,
    RK4, gravity −9.81 z, 2 physics steps per env step (dt = 0.04 s). No collisions.

    ## Action Space
    `Box(-3, 3, (1,), float32)`:

    | index | meaning | unit | actuator |
    |---|---|---|---|
    | 0 | force on the cart / 100 (gear 100) | N/100 | motor on `slider` |

    ## Observation Space
    `Box(-inf, inf, (4,), float64)`:

    | index | meaning | unit | source |
    |---|---|---|---|
    | 0 | cart position x | m | `qpos[0]` (joint `slider`) |
    | 1 | pole angle θ (0 = hanging down) | rad | `qpos[1]` (joint `hinge`) |
    | 2 | cart velocity ẋ | m/s | `qvel[0]` |
    | 3 | pole angular velocity θ̇ | rad/s | `qvel[1]` |

    ## Rewards
    After the step, with tip ee = (x − 0.6 sin θ, −0.6 cos θ) (site `tip`):
    r = exp(−‖ee − (0, 0.6)‖² / 0.6²) − 0.01·‖a‖²; at most 1 per step.

    ## Starting State
    qpos and qvel are each N(0, 0.1²) per coordinate: the pole hangs down near x = 0.

    ## Episode End
    Never terminates; truncated by the TimeLimit at `TASK_HORIZON` = 200 steps (8 s).

    ## Arguments
    | argument | default | meaning |
    |---|---|---|
    | `frame_skip` | 2 | physics steps per env step |
    | `reset_noise_scale` | 0.1 | std of the Gaussian start noise |
    | `render_mode`, `width`, `height` | None, 480, 480 | gymnasium rendering |
    | `default_camera_config` | side view | free-camera attributes |

    ## Differences from the original
    None in the physics (the MjSpec edits give PETS's masses, inertias and ranges; a site and a
    sky texture are visual only). Randomness comes from `self.np_random` (seeded by `reset`)
    instead of the global numpy RNG.
    """

    metadata = {  # noqa: RUF012  (gymnasium declares it on Env, not as a ClassVar)
        **SpecMujocoEnv.metadata,
        "render_fps": round(1 / (0.02 * FRAME_SKIP)),
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
            obs_dim=4,
            render_mode=render_mode,
            width=width,
            height=height,
            default_camera_config=default_camera_config or DEFAULT_CAMERA_CONFIG,
        )

    def _get_rew(self, obs: np.ndarray, action: np.ndarray) -> tuple[float, dict[str, float]]:
        x, theta = obs[0], obs[1]
        ee = np.array([x - POLE_LENGTH * np.sin(theta), -POLE_LENGTH * np.cos(theta)])
        reward_tip = float(np.exp(-np.sum(np.square(ee - TARGET)) / POLE_LENGTH**2))
        reward_ctrl = -AC_COST_WEIGHT * squared_norm(action)
        return reward_tip + reward_ctrl, {"reward_tip": reward_tip, "reward_ctrl": reward_ctrl}

    def _get_obs(self) -> np.ndarray:
        return np.concatenate([self.data.qpos, self.data.qvel]).astype(np.float64)

    def reset_model(self) -> np.ndarray:
        scale = self._reset_noise_scale
        qpos = self.init_qpos + self.np_random.normal(0.0, scale, size=self.model.nq)
        qvel = self.init_qvel + self.np_random.normal(0.0, scale, size=self.model.nv)
        self.set_state(qpos, qvel)
        return self._get_obs()


class CartpoleTask(Task):
    """Planning side of the cartpole (`docs/spec/pets-facts.md` §4.3).

    Model input [sin θ, cos θ, x, ẋ, θ̇] (5) ++ action; target and postproc are deltas; cost
    −exp(−‖ee(o) − (0, 0.6)‖²/0.36) + 0.01‖a‖², exactly the negative env reward.
    """

    name = "cartpole"
    obs_dim = 4
    act_dim = 1
    task_hor = TASK_HORIZON
    model_in_dim = 6
    model_out_dim = 4
    ac_cost_weight = AC_COST_WEIGHT
    _ac_bound = (3.0,)

    def __init__(self, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32):
        super().__init__(device=device, dtype=dtype)
        self.target = self._const(TARGET)

    def obs_preproc(self, obs: Tensor) -> Tensor:
        """[M, 4] -> [M, 5]: [sin θ, cos θ, x, ẋ, θ̇]."""
        theta = obs[:, 1:2]
        return torch.cat([theta.sin(), theta.cos(), obs[:, :1], obs[:, 2:]], dim=1)

    def targ_proc(self, obs: Tensor, next_obs: Tensor) -> Tensor:
        """[M, 4] x2 -> [M, 4]: the state change."""
        return next_obs - obs

    def obs_postproc(self, obs: Tensor, pred: Tensor) -> Tensor:
        """[M, 4] x2 -> [M, 4]: state plus predicted change."""
        return obs + pred

    def obs_cost(self, obs: Tensor) -> Tensor:
        """[M, 4] -> [M]: −exp(−‖ee − (0, L)‖²/L²), ee = (x − L sin θ, −L cos θ)."""
        x, theta = obs[:, 0], obs[:, 1]
        ee = torch.stack([x - POLE_LENGTH * theta.sin(), -POLE_LENGTH * theta.cos()], dim=1)
        return -torch.exp(-(ee - self.target).square().sum(dim=1) / POLE_LENGTH**2)
