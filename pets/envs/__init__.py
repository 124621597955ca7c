"""The four PETS tasks: gymnasium ids, short names and factories (`docs/spec/interfaces.md` §1).

`register_envs` registers `pets/Cartpole-v0`, `pets/Reacher3D-v0`, `pets/Pusher-v0` and
`pets/HalfCheetah-v0` with string entry points, so importing this module (and `pets`) loads
neither torch nor mujoco; `make_env` and `make_task` import a task's module on first use.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gymnasium as gym

from pets.errors import ConfigError

if TYPE_CHECKING:
    import torch

    from pets.envs.base import Task


@dataclass(frozen=True)
class _TaskEntry:
    env_id: str
    module: str
    env_class: str
    task_class: str
    #: Episode length; equals the module's TASK_HORIZON (a test checks), repeated here so that
    #: registering stays free of heavy imports.
    horizon: int


_TASKS: dict[str, _TaskEntry] = {
    "cartpole": _TaskEntry(
        "pets/Cartpole-v0", "pets.envs.cartpole", "CartpoleEnv", "CartpoleTask", 200
    ),
    "reacher": _TaskEntry(
        "pets/Reacher3D-v0", "pets.envs.reacher", "Reacher3DEnv", "Reacher3DTask", 150
    ),
    "pusher": _TaskEntry("pets/Pusher-v0", "pets.envs.pusher", "PusherEnv", "PusherTask", 150),
    "halfcheetah": _TaskEntry(
        "pets/HalfCheetah-v0", "pets.envs.halfcheetah", "HalfCheetahEnv", "HalfCheetahTask", 1000
    ),
}

#: The original's short task names, in the paper's order.
ENV_NAMES: tuple[str, ...] = ("cartpole", "reacher", "pusher", "halfcheetah")


def _entry(name: str) -> _TaskEntry:
    if name not in _TASKS:
        raise ConfigError(f"unknown env {name!r}; allowed: {', '.join(ENV_NAMES)}")
    return _TASKS[name]


def register_envs() -> None:
    """Register the gymnasium ids of the four tasks (idempotent)."""
    for entry in _TASKS.values():
        if entry.env_id not in gym.registry:
            gym.register(
                id=entry.env_id,
                entry_point=f"{entry.module}:{entry.env_class}",
                max_episode_steps=entry.horizon,
            )


def env_id(name: str) -> str:
    """Return the gymnasium id of a task given its short name (e.g. `"pusher"`).

    Raises:
        ConfigError: `name` is not one of `ENV_NAMES`.
    """
    return _entry(name).env_id


def make_env(
    name: str, *, render_mode: str | None = None, max_episode_steps: int | None = None
) -> gym.Env:
    """Create a task's env through `gym.make` (with the TimeLimit at the task horizon).

    Args:
        name: short task name, one of `ENV_NAMES`.
        render_mode: gymnasium render mode (`"rgb_array"` works headless), or None.
        max_episode_steps: episode length; None keeps the task horizon.

    Raises:
        ConfigError: `name` is not one of `ENV_NAMES`.
    """
    entry = _entry(name)
    register_envs()
    kwargs: dict[str, Any] = {"render_mode": render_mode}
    if max_episode_steps is not None:
        kwargs["max_episode_steps"] = max_episode_steps
    return gym.make(entry.env_id, **kwargs)


def make_task(
    name: str, *, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
) -> Task:
    """Create a task's planning-side definition.

    Args:
        name: short task name, one of `ENV_NAMES`.
        device: torch device of the task's constants.
        dtype: torch dtype of the task's constants; None means `torch.float32`.

    Raises:
        ConfigError: `name` is not one of `ENV_NAMES`.
    """
    entry = _entry(name)
    import torch

    cls = getattr(importlib.import_module(entry.module), entry.task_class)
    task: Task = cls(device=device, dtype=torch.float32 if dtype is None else dtype)
    return task


__all__ = ["ENV_NAMES", "env_id", "make_env", "make_task", "register_envs"]
