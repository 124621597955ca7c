"""`-ca` and `-o` as the original parses them: keys, the override type map, read-only rules."""

from __future__ import annotations

import dataclasses
import difflib
import typing
from collections.abc import Callable, Iterable
from typing import Any

from pets.config.defaults import default_config
from pets.config.registry import MODEL_TYPES, optimizers, propagations
from pets.config.tree import (
    CA_KEYS,
    REWARDS,
    Config,
    CtrlCfg,
    CtrlLogCfg,
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
    check_device,
    check_precision,
    check_termination,
    check_threads,
    validate,
)
from pets.envs.registry import get_task
from pets.errors import ConfigError


def parse_ca(pairs: Iterable[tuple[str, str]] | None) -> dict[str, str]:
    """Turn `-ca KEY VALUE` pairs into `default_config` keyword arguments (`model_type`, ...).

    Raises:
        ConfigError: an unknown key or value.
    """
    out: dict[str, str] = {}
    allowed = {
        "model-type": MODEL_TYPES,
        "prop-type": tuple(propagations()),
        "opt-type": tuple(optimizers()),
        "reward": REWARDS,
    }
    for key, value in pairs or ():
        if key == "termination":
            out[key] = check_termination(value)
            continue
        if key not in allowed:
            raise ConfigError(f"unknown -ca key {key!r}; allowed keys: {', '.join(CA_KEYS)}")
        out[key.replace("-", "_")] = check_choice(f"-ca {key}", value, allowed[key])
    return out


def _bool(text: str) -> bool:
    # PETS: default.py's bool conversion: "False", "false" and "" are False, anything else True.
    return text not in ("False", "false", "")


def _int(text: str) -> int:
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(text)
    return value


def _str(text: str) -> str:
    return text


def _floats(text: str) -> tuple[float, ...]:
    """Comma-separated finite numbers, e.g. `2.5e-5,5e-5,1e-4` (one weight decay per layer)."""
    return tuple(_float(part) for part in text.split(","))


# Leaves of the tree that `-o` cannot set: the method is chosen with -ca.
_NOT_OVERRIDABLE = frozenset({"model_type", "prop_type", "opt_type"})
# The network's architecture and learning rate: fixed per task for the paper's tasks, as in the
# original (docs/spec/pets-facts.md §7.1); a gymnasium env's are generic defaults, so settable.
_NETWORK = frozenset({"hidden_layers", "hidden_width", "weight_decays", "lr"})
OPT_CFG_PREFIX = "ctrl_cfg.opt_cfg.cfg"
# PETS: default.py's converters per leaf type; `X | None` leaves convert as X.
_CONVERTERS: dict[type, Callable[[str], Any]] = {int: _int, float: _float, bool: _bool, str: _str}


def _scalar_leaves(prefix: str, cls: type) -> dict[str, Callable[[str], Any]]:
    """`prefix.field` → converter for each int, float, bool or str field of dataclass `cls`
    (and for a tuple of floats, the weight decays)."""
    hints = typing.get_type_hints(cls)
    out: dict[str, Callable[[str], Any]] = {}
    for f in dataclasses.fields(cls):
        if f.name in _NOT_OVERRIDABLE:
            continue
        if typing.get_origin(hints[f.name]) is tuple:
            out[f"{prefix}.{f.name}"] = _floats
            continue
        kinds = [t for t in typing.get_args(hints[f.name]) or (hints[f.name],) if t in _CONVERTERS]
        if kinds:
            out[f"{prefix}.{f.name}"] = _CONVERTERS[kinds[0]]
    return out


def override_paths() -> dict[str, Callable[[str], Any]]:
    """Every path `-o` may set, with its converter, derived from the tree's dataclasses and the
    registered optimizers' config classes (docs/spec/pets-facts.md §7.1), in tree order."""
    paths: dict[str, Callable[[str], Any]] = {}
    for prefix, cls in _LEAF_CLASSES:
        if prefix == OPT_CFG_PREFIX:
            for spec in optimizers().values():
                paths.update(_scalar_leaves(prefix, spec.config))
        else:
            paths.update(_scalar_leaves(prefix, cls))
    return paths


_TYPE_NAMES: dict[Callable[[str], Any], str] = {
    _int: "an integer",
    _float: "a finite number",
    _bool: "a boolean",
    _str: "a string",
    _floats: "comma-separated finite numbers",
}


_NN_TRAIN_PREFIX = "ctrl_cfg.prop_cfg.model_train_cfg."


def _read_only_reason(cfg: Config, path: str) -> str | None:
    leaf = path.rsplit(".", 1)[-1]
    if leaf in _NETWORK and get_task(cfg.env).gym is None:
        return f"the paper's tasks keep the original's {leaf} per task; gymnasium envs may set it"
    if leaf in _NETWORK and cfg.model_type == "GP":
        return f"model-type GP has no network ({leaf})"
    if cfg.model_type == "GP":
        # PETS: default.py gives the GP no num_nets and no model_train_cfg entries.
        if leaf == "num_nets":
            return "model-type GP is a single GP"
        if path.startswith(_NN_TRAIN_PREFIX):
            return f"model-type GP is fitted by L-BFGS-B on all data and has no {leaf}"
    elif leaf == "num_inducing_points":
        return f"model-type {cfg.model_type} has no inducing points (GP only)"
    if leaf == "npart" and cfg.prop_type == "E":
        return "prop-type E always uses one particle"
    if leaf == "ign_var" and cfg.model_type == "DE" and cfg.is_trajectory_sampling:
        return "DE with trajectory sampling always ignores the variance"
    if leaf == "num_nets" and cfg.model_type in ("D", "P"):
        return f"model-type {cfg.model_type} is a single network"
    if path.startswith(OPT_CFG_PREFIX + "."):
        owners = [
            name
            for name, spec in optimizers().items()
            if leaf in {f.name for f in dataclasses.fields(spec.config)}
        ]
        if cfg.opt_type not in owners:
            return f"opt-type {cfg.opt_type} has no {leaf} ({', '.join(owners)} only)"
    return None


def _replace_path(obj: Any, parts: list[str], value: Any) -> Any:
    head, *rest = parts
    new = value if not rest else _replace_path(getattr(obj, head), rest, value)
    return dataclasses.replace(obj, **{head: new})


def apply_override(cfg: Config, path: str, text: str) -> Config:
    """Return `cfg` with the leaf at dotted `path` set from the string `text`.

    Args:
        cfg: the configuration to start from (its method decides which paths are writable).
        path: a dotted path such as `ctrl_cfg.opt_cfg.cfg.popsize` (docs/spec/pets-facts.md §7.1).
        text: the value as typed on the command line.

    Raises:
        ConfigError: unknown path (with the closest valid ones), read-only path, or a value that
            does not convert to the leaf's type.
    """
    paths = override_paths()
    if path not in paths:
        close = difflib.get_close_matches(path, paths, n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(close)}?" if close else "; see `pets mbexp --help`"
        raise ConfigError(f"unknown override path {path!r}{hint}")
    reason = _read_only_reason(cfg, path)
    if reason:
        raise ConfigError(f"override path {path!r} is read-only here: {reason}")
    convert = paths[path]
    try:
        value = convert(text)
    except ValueError:
        raise ConfigError(
            f"override {path} got {text!r}, which is not {_TYPE_NAMES[convert]}"
        ) from None
    return _replace_path(cfg, path.split("."), value)


def build_config(
    env: str,
    ca: Iterable[tuple[str, str]] | None = None,
    overrides: Iterable[tuple[str, str]] | None = None,
    *,
    seed: int = 0,
    device: str = "auto",
    threads: int | None = None,
    precision: str = "fp32",
) -> Config:
    """Build a run's configuration as `mbexp` does: env defaults, then `-ca`, then `-o` in order.

    Args:
        env: the environment name.
        ca: `-ca KEY VALUE` pairs.
        overrides: `-o PATH VALUE` pairs, applied in order.
        seed: drives torch, numpy and the environment.
        device: auto, cpu, cuda or cuda:<i>.
        threads: torch's CPU threads; None means all cores the process may use.
        precision: fp32 or tf32, the CUDA matmul precision of planning and training.

    Raises:
        ConfigError: any bad input, with a message naming it.
    """
    get_task(env)  # an unknown env fails first, naming the registered ones
    cfg = default_config(env, **parse_ca(ca), seed=seed, device=check_device(device))
    cfg = dataclasses.replace(
        cfg, threads=check_threads(threads), precision=check_precision(precision)
    )
    for path, text in overrides or ():
        cfg = apply_override(cfg, path, text)
    validate(cfg)
    return cfg


def override_rows() -> list[tuple[str, str, str]]:
    """The `-o` paths as (path, type, help) rows, in the original's tree order."""
    helps = {
        f"{prefix}.{f.name}": f.metadata.get("help", "")
        for prefix, cls in _LEAF_CLASSES
        if prefix != OPT_CFG_PREFIX
        for f in dataclasses.fields(cls)
    } | _optimizer_helps()
    kinds = {convert: kind.__name__ for kind, convert in _CONVERTERS.items()} | {_floats: "floats"}
    return [(path, kinds[convert], helps[path]) for path, convert in override_paths().items()]


def _optimizer_helps() -> dict[str, str]:
    """Help of each `ctrl_cfg.opt_cfg.cfg` leaf: every optimizer that has it, its meaning there
    and its default (a field without one is set per task, `pets/envs/registry.py`)."""
    parts: dict[str, list[str]] = {}
    for name, spec in optimizers().items():
        for f in dataclasses.fields(spec.config):
            has_default = f.default is not dataclasses.MISSING
            text = f"{name}: {f.metadata.get('help', '')}"
            text += f" Default {f.default}." if has_default else " Set per task."
            parts.setdefault(f"{OPT_CFG_PREFIX}.{f.name}", []).append(text)
    return {path: " ".join(texts) for path, texts in parts.items()}


def override_table(markdown: bool = False) -> str:
    """The `-o` paths with their types and help: plain for `--help`, or Markdown table rows."""
    rows = override_rows()
    if markdown:
        return "\n".join(f"| `{path}` | {kind} | {text} |" for path, kind, text in rows)
    width = max(len(path) for path, _, _ in rows)
    return "\n".join(f"  {path:<{width}}  {kind:<5}  {text}" for path, kind, text in rows)


_LEAF_CLASSES: tuple[tuple[str, Any], ...] = (
    ("exp_cfg.sim_cfg", SimCfg),
    ("exp_cfg.exp_cfg", LoopCfg),
    ("exp_cfg.log_cfg", LogCfg),
    ("ctrl_cfg", CtrlCfg),
    ("ctrl_cfg.prop_cfg", PropCfg),
    ("ctrl_cfg.prop_cfg.model_init_cfg", ModelInitCfg),
    ("ctrl_cfg.prop_cfg.model_train_cfg", ModelTrainCfg),
    ("ctrl_cfg.opt_cfg", OptCfg),
    (OPT_CFG_PREFIX, object),  # the registered optimizers' config classes
    ("ctrl_cfg.log_cfg", CtrlLogCfg),
)
