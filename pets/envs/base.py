"""Shared pieces of the four tasks: the planning-side `Task` base and a spec-built MuJoCo env.

Owns the `Task` interface (`docs/spec/interfaces.md` §1: torch, batched over a leading `[M, ...]`
axis) and `SpecMujocoEnv`, a gymnasium `MujocoEnv` whose model is compiled from a `mujoco.MjSpec`
(edits of gymnasium's shipped assets, `docs/spec/environments.md` §5) instead of being loaded
from an XML path. Knows nothing of models or planners.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any, ClassVar

import gymnasium as gym
import mujoco
import numpy as np
import torch
from gymnasium.envs.mujoco import MujocoEnv
from torch import Tensor

from pets.envs.rendering import ensure_gl_backend

#: Folder of the MuJoCo assets gymnasium ships; the tasks edit some of them with MjSpec.
GYM_ASSETS = os.path.join(os.path.dirname(gym.envs.mujoco.__file__), "assets")

#: Render modes every task supports (gymnasium's MujocoEnv set).
RENDER_MODES = ["human", "rgb_array", "depth_array", "rgbd_tuple"]

#: Default offscreen frame size in pixels (width, height).
RENDER_SIZE = (480, 480)


def gym_asset(name: str) -> str:
    """Return the path of one of gymnasium's shipped MuJoCo assets, e.g. `"pusher.xml"`."""
    return os.path.join(GYM_ASSETS, name)


def add_skybox(spec: mujoco.MjSpec) -> None:
    """Give a spec a plain gradient sky so rendered frames are not drawn on black (visual only)."""
    spec.add_texture(
        name="pets_sky",
        type=mujoco.mjtTexture.mjTEXTURE_SKYBOX,
        builtin=mujoco.mjtBuiltin.mjBUILTIN_GRADIENT,
        rgb1=[0.6, 0.75, 0.9],
        rgb2=[0.1, 0.1, 0.15],
        width=64,
        height=64,
    )


def squared_norm(action: np.ndarray) -> float:
    """Return ‖a‖² in float64 (actions arrive as float32; the reward is float64)."""
    a = np.asarray(action, dtype=np.float64)
    return float(np.dot(a, a))


class SpecMujocoEnv(MujocoEnv):
    """A gymnasium `MujocoEnv` whose model is compiled from an `MjSpec` built in Python.

    Gymnasium's `MujocoEnv` only loads XML files. This subclass keeps everything else of it
    (action space from the actuators, `dt`, `set_state`, rendering) and overrides
    `_initialize_simulation` to compile the spec returned by `build_spec` (a callable, so that
    subclasses can build the model from their keyword arguments before the base constructor runs).
    The first offscreen render picks a working headless GL backend (`pets.envs.rendering`).
    """

    metadata = {"render_modes": RENDER_MODES}  # noqa: RUF012  (gymnasium: Env instance attr)

    def __init__(
        self,
        build_spec: Callable[[], mujoco.MjSpec],
        *,
        source: str,
        frame_skip: int,
        obs_dim: int,
        render_mode: str | None = None,
        width: int = RENDER_SIZE[0],
        height: int = RENDER_SIZE[1],
        default_camera_config: dict[str, Any] | None = None,
    ) -> None:
        """Compile the model and set up the spaces.

        Args:
            build_spec: returns the (uncompiled) model spec; called once.
            source: an existing file the model derives from (gymnasium asset or this module);
                `MujocoEnv` requires a real path and stores it as `fullpath`.
            frame_skip: physics steps per env step.
            obs_dim: observation width `d`; the space is an unbounded float64 Box.
            render_mode: gymnasium render mode, or None.
            width: offscreen frame width in pixels.
            height: offscreen frame height in pixels.
            default_camera_config: attributes of the free camera (`mjvCamera`) to set.
        """
        self._build_spec = build_spec
        # The class's render_fps is for the default frame_skip; the instance's follows its dt.
        self.metadata = {k: v for k, v in type(self).metadata.items() if k != "render_fps"}
        obs_space = gym.spaces.Box(low=-np.inf, high=np.inf, shape=(obs_dim,), dtype=np.float64)
        MujocoEnv.__init__(
            self,
            source,
            frame_skip,
            obs_space,
            render_mode=render_mode,
            width=width,
            height=height,
            default_camera_config=default_camera_config,
        )
        self.metadata["render_fps"] = round(1.0 / self.dt)

    def step(  # type: ignore[override]  # MujocoEnv narrows Env's SupportsFloat reward to float64
        self, action: np.ndarray
    ) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Simulate one step; the reward is computed on the state after it (episodes never end).

        Tasks whose reward reads the state before the step (the pusher) override this.
        """
        self.do_simulation(action, self.frame_skip)
        obs = self._get_obs()
        reward, info = self._get_rew(obs, action)
        if self.render_mode == "human":
            self.render()
        return obs, reward, False, False, info

    def _get_rew(self, obs: np.ndarray, action: np.ndarray) -> tuple[float, dict[str, float]]:
        """The reward of reaching `obs` with `action`, and its named terms."""
        raise NotImplementedError

    def _get_obs(self) -> np.ndarray:
        """The observation of the current state, [d]."""
        raise NotImplementedError

    def _initialize_simulation(self) -> tuple[mujoco.MjModel, mujoco.MjData]:
        with warnings.catch_warnings():
            # half_cheetah.xml's settotalmass: deprecated in MuJoCo 4 but still applied. Doing
            # the scaling after compiling changes stat.meaninertia (a solver scale), so keep it.
            warnings.filterwarnings("ignore", message="compiler attribute 'settotalmass'")
            model = self._build_spec().compile()
        # As MujocoEnv does: MjrContext copies these, so grow the offscreen buffer to the frame.
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, self.width)
        model.vis.global_.offheight = max(model.vis.global_.offheight, self.height)
        return model, mujoco.MjData(model)

    def render(self) -> Any:
        """Render a frame in `render_mode`; offscreen modes first pick a headless GL backend."""
        if self.render_mode in ("rgb_array", "depth_array", "rgbd_tuple"):
            ensure_gl_backend()
        return super().render()

    def subtree_com(self, body: str) -> np.ndarray:
        """Return a copy of the body's subtree centre of mass, as gym 0.9.4's `get_body_com` did.

        Like `data.xpos`, MuJoCo fills it in the forward pass that starts each physics step, so
        after `mj_step` it belongs to the state before the last physics step (as in the original).
        """
        return self.data.subtree_com[self.model.body(body).id].copy()


class Task:
    """Planning-side definition of one task (`docs/spec/interfaces.md` §1).

    All methods are torch functions batched over a leading axis, on the device and dtype given at
    construction, with the meaning and per-env forms of `docs/spec/pets-facts.md` §4.3. Defaults
    are the original's (`dmbrl/controllers/MPC.py`): identity `obs_preproc`, `targ_proc`
    returning `next_obs`, `obs_postproc` returning the prediction, and no goal. Subclasses set the
    class attributes and `ac_cost_weight`.
    """

    name: ClassVar[str]
    obs_dim: ClassVar[int]
    act_dim: ClassVar[int]
    task_hor: ClassVar[int]
    model_in_dim: ClassVar[int]
    model_out_dim: ClassVar[int]
    #: Weight w of the quadratic action cost w·‖a‖².
    ac_cost_weight: ClassVar[float]
    _ac_bound: ClassVar[tuple[float, ...]]

    def __init__(self, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32):
        """Create the task's constants once on `device` in `dtype`."""
        self.device = torch.device(device)
        self.dtype = dtype
        bound = np.asarray(self._ac_bound, dtype=np.float32)
        self.ac_lb: np.ndarray = -bound
        self.ac_ub: np.ndarray = bound.copy()

    def _const(self, values: Any) -> Tensor:
        """Return `values` as a tensor on the task's device and dtype."""
        return torch.as_tensor(np.asarray(values, dtype=np.float64), device=self.device).to(
            self.dtype
        )

    def obs_preproc(self, obs: Tensor) -> Tensor:
        """Map observations to model input features.

        Args:
            obs: [M, d] observations.

        Returns:
            [M, d_in - a] features (identity by default).
        """
        return obs

    def targ_proc(self, obs: Tensor, next_obs: Tensor) -> Tensor:
        """Return the model's training target for the transition `obs -> next_obs`.

        Args:
            obs: [M, d] observations.
            next_obs: [M, d] next observations.

        Returns:
            [M, d_out] targets (`next_obs` by default).
        """
        return next_obs

    def obs_postproc(self, obs: Tensor, pred: Tensor) -> Tensor:
        """Turn a model prediction into the next observation.

        Args:
            obs: [M, d] current observations.
            pred: [M, d_out] model outputs.

        Returns:
            [M, d] next observations (`pred` by default).
        """
        return pred

    def obs_cost(self, obs: Tensor) -> Tensor:
        """Return the per-state cost, [M, d] -> [M]."""
        raise NotImplementedError

    def ac_cost(self, act: Tensor) -> Tensor:
        """Return the quadratic action cost w·‖a‖², [M, a] -> [M]."""
        return self.ac_cost_weight * act.square().sum(dim=-1)

    def update_goal(self, env: gym.Env) -> None:
        """Copy the env's per-episode goal into the task in place (no goal by default)."""
