"""The typed configuration tree of a PETS run, mirroring the original's `exp_cfg`/`ctrl_cfg` tree.

Modules: `tree` (the dataclasses), `defaults` (per-env defaults, `docs/spec/pets-facts.md`
§4.1–§4.2), `overrides` (`-ca` parsing, `-o` overrides with the original's type map and read-only
rules, §7.1), `validation` (the whole tree) and `serialize` (config.yaml). Imports no torch
and nothing from the rest of the package but `pets.errors`, so every layer can read a config.
"""

from __future__ import annotations

from pets.config.defaults import default_config
from pets.config.overrides import (
    OVERRIDES,
    apply_override,
    build_config,
    override_rows,
    override_table,
    parse_ca,
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
    CEMCfg,
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
    RandomCfg,
    SimCfg,
)
from pets.config.validation import (
    check_choice,
    check_combination,
    check_device,
    check_precision,
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
    "OVERRIDES",
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
    "PropCfg",
    "RandomCfg",
    "SimCfg",
    "apply_override",
    "build_config",
    "check_choice",
    "check_combination",
    "check_device",
    "check_precision",
    "check_threads",
    "default_config",
    "from_dict",
    "override_rows",
    "override_table",
    "parse_ca",
    "to_dict",
    "validate",
]
