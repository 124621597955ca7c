"""The task registry: every per-task fact in one place, free of torch, gymnasium and mujoco.

A task is one module (its gymnasium env and its planning-side `Task`, `pets/envs/<task>.py`)
plus one `TaskSpec` here, registered with `register_task`. Everything else derives from the
registry instead of naming tasks: the config defaults and validation, the CLI, the analysis
(env order, labels, references, random-policy margins), the figures, the benchmarks and the
workflow (`workflow/rules/common.smk` imports this module and checks the grid's tasks against
it; the schema only shapes the names). Per-task defaults are the original's
`dmbrl/config/<env>.py` values (`docs/spec/pets-facts.md` §4.1, §4.2); references are
`docs/spec/pets-facts.md` §10.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pets.errors import ConfigError

__all__ = [
    "PAPER_TASKS",
    "PLUGINS_VARIABLE",
    "GymFacts",
    "RandomPolicyReturns",
    "Reference",
    "TaskDefaults",
    "TaskSpec",
    "generic_defaults",
    "get_task",
    "load_plugins",
    "register_task",
    "task_names",
    "tasks",
]


@dataclass(frozen=True)
class Reference:
    """One task's reference return (the original PETS, PE-TSinf with CEM).

    Attributes:
        value: max-so-far episode return of the original at `env_steps`.
        env_steps: environment steps at which `value` is read off (the paper's horizon).
        source: where the number comes from, in words.
        curve: (env steps, return) points read off the original's curve, in order.
    """

    value: float
    env_steps: int
    source: str
    curve: tuple[tuple[int, float], ...] = ()


@dataclass(frozen=True)
class RandomPolicyReturns:
    """A uniformly random policy's episode returns on one task (`tools/random_policy.py`)."""

    mean: float
    sd: float  # sample standard deviation (ddof 1)
    best: float  # the highest of the episodes


@dataclass(frozen=True, kw_only=True)
class TaskDefaults:
    """The original's per-task settings (its `dmbrl/config/<env>.py`).

    `optimizers` maps an optimizer's name to the fields of its config that this task sets
    (e.g. CEM's popsize and num_elites); fields not given take the config class's defaults.
    """

    task_hor: int
    ntrain_iters: int
    plan_hor: int
    hidden_layers: int
    hidden_width: int
    weight_decays: tuple[float, ...]
    lr: float
    gp_inducing_points: int = 200  # GP_NINDUCING_POINTS of the original's config module
    epochs: int = 5  # passes over the data per training call (the original's, every task)
    ninit_rollouts: int = 1  # random rollouts before the first training (the original's)
    optimizers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class GymFacts:
    """How pets plans on a gymnasium env it does not define (`docs/spec/any-env.md` §2).

    The model predicts the change of the observation; the cost of a step is minus its reward.

    Attributes:
        reward: `"module:function"` computing gymnasium's reward from (obs, act, next_obs),
            batched in torch; None: the reward is learned (one more model output).
        termination: `"module:function"` giving gymnasium's `terminated` from (obs, act,
            next_obs); None: the env never terminates, or (for an env pets does not know) it is
            learned or given with `-ca termination module:function`.
        terminates: whether the env can end an episode early (known tasks; None: unknown).
        make_kwargs: keyword arguments of `gymnasium.make` (e.g. to put the x position into the
            observation, which the forward reward needs).
        hidden_columns: leading observation columns kept out of the model's input (positions
            that the dynamics do not depend on; their change is still predicted).
    """

    reward: str | None = None
    termination: str | None = None
    terminates: bool | None = None
    make_kwargs: Mapping[str, Any] = field(default_factory=dict)
    hidden_columns: int = 0


@dataclass(frozen=True, kw_only=True)
class TaskSpec:
    """One task: its names, where its code lives, its defaults and its reference numbers.

    A paper task is defined by pets (`module`, `env_class`, `task_class`); any other task is a
    gymnasium env (`gym`), planned on through `pets.envs.gym_task.GymTask`.

    Attributes:
        name: the name used by `-env`, the workflow and the tables (e.g. `"pusher"`, or a
            gymnasium id such as `"Hopper-v5"` or `"mymodule:MyEnv-v0"`).
        env_id: its gymnasium id (the paper tasks': registered by `pets.envs.register_envs`).
        module: the module holding the env and task classes (paper tasks).
        env_class, task_class: their names in `module`.
        gym: the facts of a gymnasium env that pets plans on with `GymTask`.
        label: the name figures print.
        defaults: the original's settings for this task.
        reference: the original's return to compare with (None: no comparison).
        random_policy: a random policy's returns, the scale of the learning margin.
        best_possible_return: the best return any policy can reach (None: not bounded, or
            not needed), where the learning margin needs it (`pets.analysis.tables.learned_margin`).
    """

    name: str
    env_id: str
    label: str
    defaults: TaskDefaults
    module: str | None = None
    env_class: str | None = None
    task_class: str | None = None
    gym: GymFacts | None = None
    reference: Reference | None = None
    random_policy: RandomPolicyReturns | None = None
    best_possible_return: float | None = None

    @property
    def horizon(self) -> int:
        """Steps per episode (the TimeLimit the env is registered with)."""
        return self.defaults.task_hor

    @property
    def default_reward(self) -> str:
        """`-ca reward`'s default: "known" where pets has the reward, else "learned"."""
        return "learned" if self.gym is not None and self.gym.reward is None else "known"

    @property
    def default_termination(self) -> str:
        """`-ca termination`'s default: "known" where pets knows it, else "learned"."""
        known = self.gym is None or self.gym.termination is not None or self.gym.terminates is False
        return "known" if known else "learned"


_TASKS: dict[str, TaskSpec] = {}

PLUGINS_VARIABLE = "PETS_PLUGINS"
"""Environment variable naming modules (comma-separated) that register tasks or optimizers.

Read in every process (`pets mbexp`, the workflow's jobs, `pets aggregate`), so a user's task
needs no change to pets: `PETS_PLUGINS=mytasks pets mbexp -env mytask`.
"""
_loaded_plugins: set[str] = set()


def load_plugins() -> None:
    """Import the modules named in `PETS_PLUGINS` once each (they call `register_task`, ...).

    Raises:
        ConfigError: a named module cannot be imported; the message names it.
    """
    for name in filter(None, (m.strip() for m in os.environ.get(PLUGINS_VARIABLE, "").split(","))):
        if name in _loaded_plugins:
            continue
        _loaded_plugins.add(name)
        try:
            importlib.import_module(name)
        except ImportError as err:
            _loaded_plugins.discard(name)
            raise ConfigError(
                f"{PLUGINS_VARIABLE} names module {name!r}, which cannot be imported ({err}); "
                "put it on PYTHONPATH or fix the name"
            ) from None


def register_task(spec: TaskSpec) -> None:
    """Add a task (or replace the one of the same name) to the registry.

    Raises:
        ConfigError: another registered task already uses `spec.env_id`.
    """
    for other in _TASKS.values():
        if other.env_id == spec.env_id and other.name != spec.name:
            raise ConfigError(f"gymnasium id {spec.env_id!r} is already task {other.name!r}")
    _TASKS[spec.name] = spec


def unregister_task(name: str) -> None:
    """Remove a task (for tests that register a toy one)."""
    _TASKS.pop(name, None)


def tasks(*, plugins: bool = True) -> Mapping[str, TaskSpec]:
    """Every registered task by short name, in registration order (the paper's four first).

    Args:
        plugins: load the `PETS_PLUGINS` modules first (False: only what is registered now).
    """
    if plugins:
        load_plugins()
    return MappingProxyType(_TASKS)


def task_names() -> tuple[str, ...]:
    """The registered short names, in registration order."""
    return tuple(tasks())


def get_task(name: str) -> TaskSpec:
    """The task registered as `name`, or the gymnasium env of that id (registered on first use).

    A name that is not registered is looked up as a gymnasium id (`pets.envs.gym_ids`, which
    imports gymnasium and, for `module:Env-vN`, the user's module); its defaults are
    `generic_defaults` with the env's own TimeLimit.

    Raises:
        ConfigError: neither a registered task nor a usable gymnasium id; one line says why.
    """
    load_plugins()
    if name not in _TASKS:
        from pets.envs.gym_ids import describe_gym_env  # imports gymnasium: only when needed

        register_task(describe_gym_env(name, registered=tuple(_TASKS)))
    return _TASKS[name]


def generic_defaults(task_hor: int, *, ninit_rollouts: int = 1) -> TaskDefaults:
    """The settings of a task without its own (every gymnasium env but the paper's four).

    The original's half-cheetah settings (its most general task: 1000 steps, 17-D observation)
    with the env's own episode length, 100 trials, and 25 training epochs instead of 5: the
    original's tasks start from at least 150 random steps, an env that ends early (a falling
    pendulum) from a handful, and 5 passes over a handful of rows leave the model's variance at
    its initial size, wide enough to predict a fall at every step (`docs/spec/any-env.md` §5).
    Every value can be changed with `-o` as usual.

    Args:
        task_hor: the env's TimeLimit.
        ninit_rollouts: random rollouts before the first training (more for envs whose random
            episodes end after a few steps).
    """
    cheetah = _TASKS["halfcheetah"].defaults
    return dataclasses.replace(
        cheetah,
        task_hor=task_hor,
        ntrain_iters=100,
        epochs=25,
        ninit_rollouts=ninit_rollouts,
        # The cheetah's CEM and random shooting; its iCEM β is for running, not for any task.
        optimizers={name: cheetah.optimizers[name] for name in ("CEM", "Random")},
    )


# --- the paper's four tasks (docs/spec/pets-facts.md §4.1, §4.2, §10) -------------------------

_QUANVUONG = (
    "TF original re-run, max-so-far, 1 seed, read off the plots of "
    "quanvuong/handful-of-trials-pytorch (docs/spec/reference-numbers.md §1)"
)

# Random policy: `python tools/random_policy.py --episodes 20 --seed 0` (mujoco 3, these envs);
# tests/analysis/test_random_policy.py recomputes them.
register_task(
    TaskSpec(
        name="cartpole",
        env_id="pets/Cartpole-v0",
        module="pets.envs.cartpole",
        env_class="CartpoleEnv",
        task_class="CartpoleTask",
        label="Cartpole",
        defaults=TaskDefaults(
            task_hor=200,
            ntrain_iters=50,
            plan_hor=25,
            hidden_layers=3,
            hidden_width=500,
            weight_decays=(1e-4, 2.5e-4, 2.5e-4, 5e-4),
            lr=1e-3,
            optimizers={"CEM": {"popsize": 400, "num_elites": 40}, "Random": {"popsize": 2000}},
        ),
        reference=Reference(180.0, 3_000, _QUANVUONG, ((1_400, 175.0), (3_000, 180.0))),
        random_policy=RandomPolicyReturns(
            -4.270609548458408, 1.600043260459265, -0.3469554378916695
        ),
    )
)
register_task(
    TaskSpec(
        name="reacher",
        env_id="pets/Reacher3D-v0",
        module="pets.envs.reacher",
        env_class="Reacher3DEnv",
        task_class="Reacher3DTask",
        label="7-DOF Reacher",
        defaults=TaskDefaults(
            task_hor=150,
            ntrain_iters=100,
            plan_hor=25,
            hidden_layers=4,
            hidden_width=200,
            weight_decays=(2.5e-4, 5e-4, 5e-4, 5e-4, 7.5e-4),
            lr=7.5e-4,
            optimizers={"CEM": {"popsize": 400, "num_elites": 40}, "Random": {"popsize": 2000}},
        ),
        reference=Reference(
            -38.0, 15_000, _QUANVUONG, ((2_700, -48.0), (5_500, -40.0), (15_000, -38.0))
        ),
        random_policy=RandomPolicyReturns(
            -1496.6028257430294, 51.6031574856358, -1409.310117141249
        ),
    )
)
register_task(
    TaskSpec(
        name="pusher",
        env_id="pets/Pusher-v0",
        module="pets.envs.pusher",
        env_class="PusherEnv",
        task_class="PusherTask",
        label="7-DOF Pusher",
        defaults=TaskDefaults(
            task_hor=150,
            ntrain_iters=100,
            plan_hor=25,
            hidden_layers=3,
            hidden_width=200,
            weight_decays=(2.5e-4, 5e-4, 5e-4, 7.5e-4),
            lr=1e-3,
            optimizers={"CEM": {"popsize": 500, "num_elites": 50}, "Random": {"popsize": 2500}},
        ),
        reference=Reference(-67.0, 15_000, _QUANVUONG, ((3_000, -80.0), (15_000, -67.0))),
        random_policy=RandomPolicyReturns(
            -296.3328587540563, 15.146932512748814, -266.5541185443507
        ),
    )
)
register_task(
    TaskSpec(
        name="halfcheetah",
        env_id="pets/HalfCheetah-v0",
        module="pets.envs.halfcheetah",
        env_class="HalfCheetahEnv",
        task_class="HalfCheetahTask",
        label="Half-cheetah",
        defaults=TaskDefaults(
            task_hor=1000,
            ntrain_iters=300,
            plan_hor=30,
            hidden_layers=4,
            hidden_width=200,
            weight_decays=(2.5e-5, 5e-5, 7.5e-5, 7.5e-5, 1e-4),
            lr=1e-3,
            gp_inducing_points=300,
            # iCEM's authors run half-cheetah with β 0.25 (docs/spec/planners.md §1.5); MPPI's
            # defaults are already PDDM's cheetah settings (§2.3).
            optimizers={
                "CEM": {"popsize": 500, "num_elites": 50},
                "Random": {"popsize": 2500},
                "iCEM": {"noise_beta": 0.25},
            },
        ),
        reference=Reference(
            15_000.0,
            300_000,
            "paper-level return, approximate: PETS paper Fig. 3 as quoted by the "
            "quanvuong/handful-of-trials-pytorch README (docs/spec/reference-numbers.md §1)",
            ((300_000, 15_000.0),),
        ),
        random_policy=RandomPolicyReturns(
            -283.4815422826389, 86.08835701090499, -144.19252120295798
        ),
    )
)

#: The paper's four tasks, in its order (what the paper grid and its tables cover).
PAPER_TASKS: tuple[str, ...] = tuple(_TASKS)

# gymnasium's standard tasks whose rewards and terminations pets knows (after the paper's four).
import pets.envs.gym_registry  # noqa: E402, F401  (registers them; strings only, no gymnasium)
