"""The typed configuration tree of a PETS run, mirroring the original's `exp_cfg`/`ctrl_cfg` tree.

Modules: `tree` (the dataclasses), `registry` (optimizers and propagation methods, each with
what it allows), `defaults` (a task's registered defaults, `docs/spec/pets-facts.md`
§4.1–§4.2), `overrides` (`-ca` parsing, `-o` overrides with the original's type map and read-only
rules, §7.1), `validation` (the whole tree) and `serialize` (config.yaml). Imports no torch;
below it are only the task registry (`pets.envs.registry`) and `pets.errors`.
"""

from __future__ import annotations

from pets.config.defaults import default_config
from pets.config.overrides import (
    apply_override,
    build_config,
    override_paths,
    override_rows,
    override_table,
    parse_ca,
)
from pets.config.registry import (
    CEMCfg,
    OptimizerSpec,
    PropagationSpec,
    RandomCfg,
    get_optimizer,
    get_propagation,
    optimizers,
    propagations,
    register_optimizer,
    register_propagation,
)
from pets.config.serialize import from_dict, to_dict
from pets.config.tree import (
    ALLOWED_PROPS,
    CA_KEYS,
    DEFAULT_ENSEMBLE_SIZE,
    ENV_NAMES,
    MODEL_TYPES,
    OPT_TYPES,
    PRECISIONS,
    PROP_TYPES,
    Config,
    CtrlCfg,
    CtrlLogCfg,
    ExpCfg,
    LogCfg,
    LoopCfg,
    ModelInitCfg,
    ModelTrainCfg,
    OptCfg,
    PropCfg,
    SimCfg,
)
from pets.config.validation import (
    check_choice,
    check_combination,
    check_device,
    check_precision,
    check_task_choices,
    check_termination,
    check_threads,
    validate,
)
from pets.errors import ConfigError

__all__ = [
    "ALLOWED_PROPS",
    "CA_KEYS",
    "DEFAULT_ENSEMBLE_SIZE",
    "ENV_NAMES",
    "MODEL_TYPES",
    "OPT_TYPES",
    "PRECISIONS",
    "PROP_TYPES",
    "CEMCfg",
    "Config",
    "ConfigError",
    "CtrlCfg",
    "CtrlLogCfg",
    "ExpCfg",
    "LogCfg",
    "LoopCfg",
    "ModelInitCfg",
    "ModelTrainCfg",
    "OptCfg",
    "OptimizerSpec",
    "PropCfg",
    "PropagationSpec",
    "RandomCfg",
    "SimCfg",
    "apply_override",
    "build_config",
    "check_choice",
    "check_combination",
    "check_device",
    "check_precision",
    "check_task_choices",
    "check_termination",
    "check_threads",
    "default_config",
    "from_dict",
    "get_optimizer",
    "get_propagation",
    "optimizers",
    "override_paths",
    "override_rows",
    "override_table",
    "parse_ca",
    "propagations",
    "register_optimizer",
    "register_propagation",
    "to_dict",
    "validate",
]
