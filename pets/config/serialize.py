"""A configuration as plain nested mappings (config.yaml) and back."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from pets.config.registry import get_optimizer
from pets.config.tree import (
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
from pets.config.validation import validate
from pets.envs.registry import get_task


def _plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple):
        return [_plain(v) for v in obj]
    return obj


def to_dict(cfg: Config) -> dict[str, Any]:
    """The resolved configuration as plain nested mappings (what `config.yaml` holds)."""
    tree = _plain(cfg)
    init = tree["ctrl_cfg"]["prop_cfg"]["model_init_cfg"]
    if init["num_inducing_points"] is None:
        # Networks have no inducing points; leaving the key out keeps their config.yaml as it
        # was before the GP existed, so runs started earlier still resume.
        del init["num_inducing_points"]
    extra = {}
    if get_task(cfg.env).gym is not None:
        # Only gymnasium envs choose these; the paper tasks' config.yaml stays as it was, so
        # runs started before they existed still resume.
        extra = {"reward": cfg.reward, "termination": cfg.termination}
    head = {
        "env": cfg.env,
        **extra,
        "seed": cfg.seed,
        "device": cfg.device,
        "threads": cfg.threads,
        "precision": cfg.precision,
        "model_type": cfg.model_type,
        "prop_type": cfg.prop_type,
        "opt_type": cfg.opt_type,
    }
    return {**head, "exp_cfg": tree["exp_cfg"], "ctrl_cfg": tree["ctrl_cfg"]}


def _build(cls: Any, data: Mapping[str, Any]) -> Any:
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        sub = _NESTED.get((cls, f.name))
        if sub is not None:
            value = _build(sub(data) if callable(sub) and not isinstance(sub, type) else sub, value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[f.name] = value
    return cls(**kwargs)


_NESTED: dict[tuple[Any, str], Any] = {
    (Config, "exp_cfg"): ExpCfg,
    (Config, "ctrl_cfg"): CtrlCfg,
    (ExpCfg, "sim_cfg"): SimCfg,
    (ExpCfg, "exp_cfg"): LoopCfg,
    (ExpCfg, "log_cfg"): LogCfg,
    (CtrlCfg, "prop_cfg"): PropCfg,
    (CtrlCfg, "opt_cfg"): OptCfg,
    (CtrlCfg, "log_cfg"): CtrlLogCfg,
    (PropCfg, "model_init_cfg"): ModelInitCfg,
    (PropCfg, "model_train_cfg"): ModelTrainCfg,
    (OptCfg, "cfg"): lambda data: get_optimizer(str(data.get("opt_type"))).config,
}


def from_dict(data: Mapping[str, Any]) -> Config:
    """Rebuild a Config from `to_dict`'s output (e.g. a run's config.yaml) and validate it."""
    cfg = _build(Config, data)
    validate(cfg)
    return cfg
