"""Any gymnasium id as a pets task: looking the id up and checking what PETS can plan on.

`pets.envs.registry.get_task` calls `describe_gym_env` for a name that is not registered. The
name is a gymnasium id, or gymnasium's `module:EnvName-vN` form, whose module is imported first
so that a user's module that calls `gymnasium.register` on import works without any change to
pets. PETS needs continuous actions with finite bounds (its planners sample inside them) and a
flat continuous observation (the model's input and output), so anything else is refused with one
line (`docs/spec/any-env.md` §1). Imports gymnasium, never torch.
"""

from __future__ import annotations

import importlib
import math

import numpy as np

from pets.envs.registry import GymFacts, TaskSpec, generic_defaults
from pets.errors import ConfigError

__all__ = ["DEFAULT_HORIZON", "describe_gym_env", "import_env_module", "split_env_id"]

#: Episode length of an env registered without a TimeLimit (the most common gymnasium one).
DEFAULT_HORIZON = 1000


def split_env_id(name: str) -> tuple[str | None, str]:
    """`"mymodule:MyEnv-v0"` → `("mymodule", "MyEnv-v0")`; a plain id → `(None, id)`."""
    module, sep, env_id = name.partition(":")
    return (module, env_id) if sep else (None, name)


def import_env_module(name: str) -> None:
    """Import the module part of a `module:EnvName-vN` name, as `gymnasium.make` does.

    Raises:
        ConfigError: the module cannot be imported; the message names it.
    """
    module, _ = split_env_id(name)
    if module is None:
        return
    try:
        importlib.import_module(module)
    except ImportError as err:
        raise ConfigError(
            f"-env {name!r}: module {module!r} cannot be imported ({err}); "
            "put it on PYTHONPATH or fix the name"
        ) from None


def describe_gym_env(name: str, *, registered: tuple[str, ...]) -> TaskSpec:
    """The task of a gymnasium id that pets has no entry for: learned reward, generic defaults.

    Args:
        name: the `-env` value, a gymnasium id or `module:EnvName-vN`.
        registered: the registered task names, for the error message.

    Raises:
        ConfigError: the id is unknown to gymnasium, or its spaces are not continuous and flat.
    """
    import gymnasium as gym

    import_env_module(name)
    _, env_id = split_env_id(name)
    try:
        spec = gym.spec(env_id)
    except gym.error.Error as err:
        raise ConfigError(
            f"-env {name!r} is not one of {', '.join(registered)}, nor a gymnasium id ({err}); "
            "a user's env is named as module:EnvName-vN"
        ) from None
    try:
        env = gym.make(name)
    except Exception as err:  # the user's env constructor may raise anything
        problem = f"{type(err).__name__}: {err}"
        raise ConfigError(f"-env {name!r}: gymnasium.make fails ({problem})") from None
    try:
        _check_spaces(name, env.observation_space, env.action_space)
    finally:
        env.close()
    horizon = spec.max_episode_steps or DEFAULT_HORIZON
    return TaskSpec(
        name=name,
        env_id=name,
        label=env_id,
        defaults=generic_defaults(horizon),
        gym=GymFacts(),
    )


def _check_spaces(name: str, obs_space: object, act_space: object) -> None:
    from gymnasium.spaces import Box

    hints = {
        "observation": "wrap the env, e.g. with gymnasium.wrappers.FlattenObservation",
        "action": "PETS plans continuous actions only",
    }
    for what, space in (("observation", obs_space), ("action", act_space)):
        if not isinstance(space, Box) or len(space.shape) != 1:
            raise ConfigError(
                f"-env {name!r}: its {what} space is {space}; PETS needs a flat continuous "
                f"Box ({hints[what]})"
            )
    assert isinstance(act_space, Box)
    if not (np.all(np.isfinite(act_space.low)) and np.all(np.isfinite(act_space.high))):
        bounds = f"[{act_space.low.min()}, {act_space.high.max()}]"
        raise ConfigError(
            f"-env {name!r}: its action space has unbounded actions {bounds}; PETS samples "
            "actions between finite bounds (wrap the env, e.g. with gymnasium.wrappers.ClipAction "
            "on a bounded Box)"
        )
    if any(math.prod(s.shape) == 0 for s in (obs_space, act_space)):  # type: ignore[attr-defined]
        raise ConfigError(f"-env {name!r}: an empty observation or action space")
