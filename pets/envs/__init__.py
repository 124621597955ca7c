"""The tasks' gymnasium envs and planning-side definitions, made by short name.

Every per-task fact is in `pets.envs.registry`; this module turns its entries into gymnasium
registrations (string entry points, so importing this module, and `pets`, loads neither torch
nor mujoco) and imports a task's module on first use (`make_env`, `make_task`;
`docs/spec/interfaces.md` §1). Tasks of the user's own are registered by modules named in
`PETS_PLUGINS` (`pets.envs.registry.load_plugins`).
"""

from __future__ import annotations

import functools
import importlib
from typing import TYPE_CHECKING, Any

import numpy as np

from pets.envs.registry import PAPER_TASKS, get_task, task_names, tasks
from pets.errors import ConfigError

#: The paper's four tasks (the registry may hold more: `task_names()`).
ENV_NAMES = PAPER_TASKS

if TYPE_CHECKING:
    import gymnasium as gym
    import torch

    from pets.envs.base import Task
    from pets.envs.gym_task import GymTask


def register_envs() -> None:
    """Register the gymnasium id of every task pets defines (idempotent).

    Plugins are not loaded here (`import pets` runs this); `make_env` loads them first.
    """
    import gymnasium as gym

    for entry in tasks(plugins=False).values():
        if entry.gym is None and entry.env_id not in gym.registry:
            gym.register(
                id=entry.env_id,
                entry_point=f"{entry.module}:{entry.env_class}",
                max_episode_steps=entry.horizon,
            )


def env_id(name: str) -> str:
    """Return the gymnasium id of a task given its name (e.g. `"pusher"`).

    Raises:
        ConfigError: `name` is neither a registered task nor a gymnasium id.
    """
    return get_task(name).env_id


def make_env(
    name: str, *, render_mode: str | None = None, max_episode_steps: int | None = None
) -> gym.Env:  # type: ignore[type-arg]
    """Create a task's env through `gym.make` (with the TimeLimit at the task horizon).

    Args:
        name: a registered task's name or a gymnasium id (`module:EnvName-vN` imports module).
        render_mode: gymnasium render mode (`"rgb_array"` works headless), or None.
        max_episode_steps: episode length; None keeps the task horizon.

    Raises:
        ConfigError: `name` is neither a registered task nor a usable gymnasium id.
    """
    entry = get_task(name)
    register_envs()
    import gymnasium as gym

    kwargs: dict[str, Any] = {"render_mode": render_mode}
    if entry.gym is not None:
        kwargs.update(entry.gym.make_kwargs)
        if render_mode in ("rgb_array", "depth_array", "rgbd_tuple"):
            from pets.envs.rendering import ensure_gl_backend

            ensure_gl_backend()  # a gymnasium MuJoCo env renders headless only with a GL backend
    kwargs["max_episode_steps"] = entry.horizon if max_episode_steps is None else max_episode_steps
    return gym.make(entry.env_id, **kwargs)


def make_task(
    name: str,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    reward: str | None = None,
    termination: str | None = None,
    task_hor: int | None = None,
) -> Task | GymTask:
    """Create a task's planning-side definition.

    Args:
        name: a registered task's name or a gymnasium id.
        device: torch device of the task's constants.
        dtype: torch dtype of the task's constants; None means `torch.float32`.
        reward, termination: a gymnasium env's `-ca reward` / `-ca termination` (None: the
            task's default); the paper's tasks plan with their own cost and never terminate.
        task_hor: steps per episode (None: the task's horizon).

    Raises:
        ConfigError: `name` is not a task, or a choice pets cannot honour for it.
    """
    entry = get_task(name)
    import torch

    dtype = torch.float32 if dtype is None else dtype
    if entry.gym is None:
        assert entry.module is not None and entry.task_class is not None
        cls = getattr(importlib.import_module(entry.module), entry.task_class)
        task: Task = cls(device=device, dtype=dtype)
        return task
    from pets.envs.gym_task import GymTask

    obs_dim, low, high = _spaces(name)
    return GymTask(
        entry,
        obs_dim=obs_dim,
        ac_lb=np.asarray(low),
        ac_ub=np.asarray(high),
        task_hor=entry.horizon if task_hor is None else task_hor,
        reward=entry.default_reward if reward is None else reward,
        termination=entry.default_termination if termination is None else termination,
        device=device,
        dtype=dtype,
    )


@functools.cache
def _spaces(name: str) -> tuple[int, tuple[float, ...], tuple[float, ...]]:
    """A gymnasium env's observation width and action bounds, read once per process (a run
    builds its task on two devices; each `gym.make` of a MuJoCo env compiles its model)."""
    env = make_env(name)
    try:
        obs_dim = int(env.observation_space.shape[0])  # type: ignore[index]
        low, high = env.action_space.low, env.action_space.high  # type: ignore[attr-defined]
    finally:
        env.close()
    return obs_dim, tuple(map(float, low)), tuple(map(float, high))


def check_renders(name: str) -> None:
    """Render one frame of the env offscreen, so a missing renderer fails before a run starts.

    Raises:
        ConfigError: the env cannot render (e.g. gymnasium's classic-control envs without
            pygame); the message says what to install, or to record no video.
    """
    import gymnasium as gym

    env = make_env(name, render_mode="rgb_array")
    try:
        env.reset(seed=0)
        env.render()
    except gym.error.DependencyNotInstalled as err:
        raise ConfigError(
            f"-env {name} cannot record videos ({err}); install it, or record none "
            "(-o exp_cfg.log_cfg.nrecord 0)"
        ) from None
    finally:
        env.close()


__all__ = [
    "ENV_NAMES",
    "check_renders",
    "env_id",
    "make_env",
    "make_task",
    "register_envs",
    "task_names",
]
