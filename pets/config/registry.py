"""The optimizer and propagation registries: one entry per method, free of torch.

An optimizer is one module (its torch implementation, e.g. `pets/planning/optimizers.py`) plus
one `OptimizerSpec` here: its name for `-ca opt-type`, its config dataclass (the fields under
`ctrl_cfg.opt_cfg.cfg`, each with its help text; `-o` types, `--help`, `config.yaml` and
validation derive from it) and the class that implements it. A propagation method is likewise
one `PropagationSpec`: the model types it allows and how many particles it takes
(`docs/spec/pets-facts.md` §6.4), with its implementation in `pets/planning/propagation.py`.
Modules named in `PETS_PLUGINS` may register more (`pets.envs.registry.load_plugins`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from pets.config.planners import ICEMCfg, MPPICfg
from pets.envs.registry import load_plugins
from pets.errors import ConfigError

__all__ = [
    "MODEL_TYPES",
    "CEMCfg",
    "ICEMCfg",
    "MPPICfg",
    "OptimizerConfig",
    "OptimizerSpec",
    "PropagationSpec",
    "RandomCfg",
    "allowed_props",
    "candidates_per_replan",
    "get_optimizer",
    "get_propagation",
    "optimizers",
    "propagations",
    "register_optimizer",
    "register_propagation",
]

#: The original's model types: deterministic or probabilistic, single or ensemble; GP baselines.
MODEL_TYPES = ("D", "P", "DE", "PE", "GP")
ENSEMBLES = ("DE", "PE")


def _help(text: str) -> dict[str, str]:
    return {"help": text}


class OptimizerConfig(Protocol):
    """What every optimizer's config dataclass has: a population size and a self-check."""

    popsize: int

    def check(self) -> None: ...


@dataclass(frozen=True, kw_only=True)
class CEMCfg:
    popsize: int = field(metadata=_help("Candidate sequences sampled per CEM iteration."))
    num_elites: int = field(metadata=_help("Elites used to refit the sampling distribution."))
    max_iters: int = field(default=5, metadata=_help("Maximum CEM iterations."))
    alpha: float = field(default=0.1, metadata=_help("Weight of the previous mean and variance."))
    epsilon: float = field(default=0.001, metadata=_help("Variance below which CEM stops."))

    def check(self) -> None:
        """Raise ConfigError naming the key unless the settings make a CEM."""
        _at_least("max_iters", self.max_iters, 1)
        _at_least("num_elites", self.num_elites, 1)
        if self.num_elites > self.popsize:
            raise ConfigError(
                f"ctrl_cfg.opt_cfg.cfg.num_elites ({self.num_elites}) must not exceed "
                f"ctrl_cfg.opt_cfg.cfg.popsize ({self.popsize})"
            )
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"ctrl_cfg.opt_cfg.cfg.alpha must be in [0, 1], got {self.alpha}")
        if self.epsilon < 0:
            raise ConfigError(f"ctrl_cfg.opt_cfg.cfg.epsilon must be >= 0, got {self.epsilon}")

    def populations(self) -> tuple[int, ...]:
        """Candidates simulated per iteration (every iteration runs; a converged one is masked)."""
        return (self.popsize,) * self.max_iters


@dataclass(frozen=True, kw_only=True)
class RandomCfg:
    popsize: int = field(metadata=_help("Candidate sequences sampled uniformly."))

    def check(self) -> None:
        """Random shooting has nothing beyond its population size to check."""

    def populations(self) -> tuple[int, ...]:
        """Candidates simulated per re-plan: one batch."""
        return (self.popsize,)


def candidates_per_replan(cfg: Any) -> tuple[int, ...]:
    """The candidates an optimizer config simulates per iteration of one re-plan.

    Each is one ensemble forward per horizon step of `candidates × npart` rows, so the model
    rows per action of a run are `sum(...) · npart · plan_hor / per`. A config without a
    `populations()` method (a plugin's) counts as one batch of `popsize`.
    """
    populations = getattr(cfg, "populations", None)
    return tuple(populations()) if callable(populations) else (cfg.popsize,)


def _at_least(key: str, value: int, minimum: int) -> None:
    if value < minimum:
        raise ConfigError(f"ctrl_cfg.opt_cfg.cfg.{key} must be at least {minimum}, got {value}")


@dataclass(frozen=True)
class OptimizerSpec:
    """One optimizer of action sequences.

    Attributes:
        name: its `-ca opt-type` value.
        config: its frozen, keyword-only config dataclass (`OptimizerConfig`); every field
            carries `metadata={"help": ...}`, and is an int, float, bool or str.
        implementation: `"module:Class"`, built as `Class(**fields, lb=..., ub=...)` with
            `solve(mean0, var0, cost_fn, generator)` (`docs/spec/interfaces.md` §1).
        summary: one line for `--help`.
    """

    name: str
    config: type[Any]
    implementation: str
    summary: str

    def make_config(self, values: Mapping[str, Any]) -> Any:
        """The config with `values` set and every other field at its default.

        Raises:
            ConfigError: a field without a default is missing from `values`.
        """
        known = {f.name for f in dataclasses.fields(self.config)}
        try:
            return self.config(**{k: v for k, v in values.items() if k in known})
        except TypeError as err:
            raise ConfigError(f"opt-type {self.name}: {err}") from None


@dataclass(frozen=True)
class PropagationSpec:
    """One propagation method (`docs/spec/pets-facts.md` §6.3-§6.4).

    Attributes:
        name: its `-ca prop-type` value.
        models: the model types it can propagate.
        single_particle: it always uses one particle (npart is read-only and 1).
        per_member: each particle stays with one ensemble member (TS), so npart must divide
            by the ensemble size.
        low_precision: its planning forward can run its layers in bf16 (`-precision bf16`).
        summary: one line for `--help`.
        implementation: `"module:function"` for a method of your own, called as
            `function(model, inputs [M, d_in], *, npart, ign_var, generator) -> [M, d_out]`
            (the paper's five are `pets.planning.propagation`'s own: None).
    """

    name: str
    models: tuple[str, ...]
    single_particle: bool = False
    per_member: bool = False
    low_precision: bool = False
    summary: str = ""
    implementation: str | None = None


_OPTIMIZERS: dict[str, OptimizerSpec] = {}
_PROPAGATIONS: dict[str, PropagationSpec] = {}


def register_optimizer(spec: OptimizerSpec) -> None:
    """Add an optimizer (or replace the one of the same name)."""
    if not dataclasses.is_dataclass(spec.config) or "popsize" not in {
        f.name for f in dataclasses.fields(spec.config)
    }:
        raise ConfigError(f"optimizer {spec.name}: its config must be a dataclass with popsize")
    _OPTIMIZERS[spec.name] = spec


def register_propagation(spec: PropagationSpec) -> None:
    """Add a propagation method (or replace the one of the same name)."""
    unknown = set(spec.models) - set(MODEL_TYPES)
    if unknown:
        raise ConfigError(f"propagation {spec.name}: unknown model types {sorted(unknown)}")
    _PROPAGATIONS[spec.name] = spec


def unregister(name: str) -> None:
    """Remove an optimizer or propagation method of that name (for tests)."""
    _OPTIMIZERS.pop(name, None)
    _PROPAGATIONS.pop(name, None)


def optimizers(*, plugins: bool = True) -> Mapping[str, OptimizerSpec]:
    """Every registered optimizer by name, in registration order (plugins loaded first)."""
    if plugins:
        load_plugins()
    return MappingProxyType(_OPTIMIZERS)


def propagations(*, plugins: bool = True) -> Mapping[str, PropagationSpec]:
    """Every registered propagation method by name, in registration order (plugins first)."""
    if plugins:
        load_plugins()
    return MappingProxyType(_PROPAGATIONS)


def get_optimizer(name: str) -> OptimizerSpec:
    """The optimizer registered as `name`; ConfigError listing the others if none is."""
    found = optimizers().get(name)
    if found is None:
        raise ConfigError(f"opt-type {name!r} is not one of {', '.join(_OPTIMIZERS)}")
    return found


def get_propagation(name: str) -> PropagationSpec:
    """The propagation method registered as `name`; ConfigError listing the others if none is."""
    found = propagations().get(name)
    if found is None:
        raise ConfigError(f"prop-type {name!r} is not one of {', '.join(_PROPAGATIONS)}")
    return found


def allowed_props(model_type: str, *, plugins: bool = True) -> tuple[str, ...]:
    """The propagation methods that allow `model_type`, in registration order."""
    found = propagations(plugins=plugins).items()
    return tuple(name for name, spec in found if model_type in spec.models)


# --- the original's methods (docs/spec/pets-facts.md §6.1-§6.4) -------------------------------

register_optimizer(
    OptimizerSpec("CEM", CEMCfg, "pets.planning.optimizers:CEMOptimizer", "cross-entropy method")
)
register_optimizer(
    OptimizerSpec(
        "Random", RandomCfg, "pets.planning.optimizers:RandomOptimizer", "random shooting"
    )
)

register_propagation(
    PropagationSpec("E", MODEL_TYPES, single_particle=True, summary="expectation (means only)")
)
register_propagation(
    PropagationSpec("DS", ("P", "DE", "PE", "GP"), summary="distribution sampling")
)
register_propagation(
    PropagationSpec("TS1", ENSEMBLES, per_member=True, summary="trajectory sampling, resampled")
)
register_propagation(
    PropagationSpec(
        "TSinf",
        ENSEMBLES,
        per_member=True,
        low_precision=True,  # its buffered forward (pets/planning/forward.py)
        summary="trajectory sampling, fixed",
    )
)
register_propagation(PropagationSpec("MM", ("P", "DE", "PE", "GP"), summary="moment matching"))

# --- later planners (docs/spec/planners.md) ---------------------------------------------------

register_optimizer(
    OptimizerSpec(
        "iCEM",
        ICEMCfg,
        "pets.planning.icem:ICEMOptimizer",
        "improved CEM: coloured noise, decaying population, kept and shifted elites",
    )
)
register_optimizer(
    OptimizerSpec(
        "MPPI", MPPICfg, "pets.planning.mppi:MPPIOptimizer", "MPPI as in PDDM: filtered noise"
    )
)

#: What pets itself registers (plugins may add more): the paper's five propagation methods and
#: the optimizers above, in registration order.
BUILTIN_PROPAGATIONS: tuple[str, ...] = tuple(_PROPAGATIONS)
BUILTIN_OPTIMIZERS: tuple[str, ...] = tuple(_OPTIMIZERS)
