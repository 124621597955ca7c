"""The tasks' gymnasium envs and planning-side definitions, made by short name.

Every per-task fact is in `pets.envs.registry`; this module turns its entries into gymnasium
registrations (string entry points, so importing this module, and `pets`, loads neither torch
nor mujoco) and imports a task's module on first use (`make_env`, `make_task`;
`docs/spec/interfaces.md` §1). Tasks of the user's own are registered by modules named in
`PETS_PLUGINS` (`pets.envs.registry.load_plugins`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pets.envs.registry import PAPER_TASKS, get_task, task_names, tasks

#: The paper's four tasks (the registry may hold more: `task_names()`).
ENV_NAMES = PAPER_TASKS

if TYPE_CHECKING:
    import gymnasium as gym
    import torch

    from pets.envs.base import Task


def register_envs() -> None:
    """Register the gymnasium id of every task registered so far (idempotent).

    Plugins are not loaded here (`import pets` runs this); `make_env` loads them first.
    """
    import gymnasium as gym

    for entry in tasks(plugins=False).values():
        if entry.env_id not in gym.registry:
            gym.register(
                id=entry.env_id,
                entry_point=f"{entry.module}:{entry.env_class}",
                max_episode_steps=entry.horizon,
            )


def env_id(name: str) -> str:
    """Return the gymnasium id of a task given its short name (e.g. `"pusher"`).

    Raises:
        ConfigError: `name` is not a registered task.
    """
    return get_task(name).env_id


def make_env(
    name: str, *, render_mode: str | None = None, max_episode_steps: int | None = None
) -> gym.Env:  # type: ignore[type-arg]
    """Create a task's env through `gym.make` (with the TimeLimit at the task horizon).

    Args:
        name: a registered task's short name.
        render_mode: gymnasium render mode (`"rgb_array"` works headless), or None.
        max_episode_steps: episode length; None keeps the task horizon.

    Raises:
        ConfigError: `name` is not a registered task.
    """
    entry = get_task(name)
    register_envs()
    import gymnasium as gym

    kwargs: dict[str, Any] = {"render_mode": render_mode}
    if max_episode_steps is not None:
        kwargs["max_episode_steps"] = max_episode_steps
    return gym.make(entry.env_id, **kwargs)


def make_task(
    name: str, *, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
) -> Task:
    """Create a task's planning-side definition.

    Args:
        name: a registered task's short name.
        device: torch device of the task's constants.
        dtype: torch dtype of the task's constants; None means `torch.float32`.

    Raises:
        ConfigError: `name` is not a registered task.
    """
    entry = get_task(name)
    import torch

    cls = getattr(importlib.import_module(entry.module), entry.task_class)
    task: Task = cls(device=device, dtype=torch.float32 if dtype is None else dtype)
    return task


__all__ = ["ENV_NAMES", "env_id", "make_env", "make_task", "register_envs", "task_names"]
