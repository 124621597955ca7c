"""Validation of a configuration: names, the model × propagation matrix, ranges.

The matrix is the original's, `docs/spec/pets-facts.md` §6.4.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pets.config.registry import (
    ENSEMBLES,
    MODEL_TYPES,
    allowed_props,
    get_optimizer,
    get_propagation,
    propagations,
)
from pets.config.tree import PRECISIONS, REWARDS, TERMINATIONS, Config
from pets.envs.registry import get_task
from pets.errors import ConfigError


def check_choice(key: str, value: str, allowed: Iterable[str]) -> str:
    """Return `value` if it is one of `allowed`, else raise ConfigError naming both."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ConfigError(f"{key} {value!r} is not one of {', '.join(allowed)}")
    return value


_FUNCTION_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def check_termination(value: str) -> str:
    """Return `value` if it is known, learned, never or `module:function`; else raise."""
    if value not in TERMINATIONS and not _FUNCTION_RE.match(value):
        raise ConfigError(
            f"-ca termination {value!r} is not one of {', '.join(TERMINATIONS)} or module:function"
        )
    return value


def check_task_choices(env: str, reward: str, termination: str) -> None:
    """Check `-ca reward` and `-ca termination` against what pets knows of the env.

    Raises:
        ConfigError: a paper task asked for anything but its own cost, or "known" asked for
            where pets has no function.
    """
    spec = get_task(env)
    check_choice("-ca reward", reward, REWARDS)
    check_termination(termination)
    if spec.gym is None:
        if (reward, termination) != ("known", "known"):
            raise ConfigError(
                f"-env {env} plans with the paper's cost and never ends early: -ca reward and "
                "-ca termination apply to gymnasium envs only"
            )
        return
    if reward == "known" and spec.gym.reward is None:
        raise ConfigError(
            f"-ca reward known: pets has no reward function for {env!r}; use -ca reward learned"
        )
    if termination == "known" and spec.default_termination != "known":
        raise ConfigError(
            f"-ca termination known: pets has no termination function for {env!r}; use "
            "-ca termination learned, never or module:function"
        )


_DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def check_device(device: str) -> str:
    """Return `device` if it reads auto, cpu, cuda or cuda:<i>; else raise ConfigError."""
    if not _DEVICE_RE.match(device):
        raise ConfigError(f"-device {device!r} is not one of auto, cpu, cuda, cuda:<index>")
    return device


def check_threads(threads: int | None) -> int | None:
    """Return `threads` if it is None (all cores) or an integer ≥ 1; else raise ConfigError."""
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)):
        raise ConfigError(f"-threads must be an integer, got {threads!r}")
    if threads is not None and threads < 1:
        raise ConfigError(f"-threads must be at least 1, got {threads}")
    return threads


def check_precision(precision: str) -> str:
    """Return `precision` if it is one of PRECISIONS (fp32, tf32, bf16); else ConfigError."""
    if precision not in PRECISIONS:
        raise ConfigError(f"-precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    return precision


def _positive(key: str, value: int, minimum: int = 1) -> None:
    if value < minimum:
        raise ConfigError(f"{key} must be at least {minimum}, got {value}")


def check_combination(model_type: str, prop_type: str, npart: int, num_nets: int) -> None:
    """Check the model × propagation matrix (§6.4) and the particle layout it needs.

    Raises:
        ConfigError: naming both values and what is allowed.
    """
    spec = get_propagation(prop_type)
    allowed = allowed_props(check_choice("model-type", model_type, MODEL_TYPES))
    if model_type not in spec.models:
        raise ConfigError(
            f"prop-type {prop_type} is not valid with model-type {model_type} "
            f"(allowed: {', '.join(allowed)})"
        )
    if model_type in ENSEMBLES and num_nets < 2:
        raise ConfigError(f"model-type {model_type} needs num_nets > 1, got {num_nets}")
    if spec.per_member and npart % num_nets != 0:
        raise ConfigError(
            f"prop-type {prop_type} needs npart divisible by num_nets, "
            f"got npart {npart} and num_nets {num_nets}"
        )


def validate(cfg: Config) -> None:
    """Check the whole tree; every message names the offending key and value.

    Raises:
        ConfigError: the first problem found.
    """
    check_task_choices(cfg.env, cfg.reward, cfg.termination)
    check_device(cfg.device)
    if cfg.seed < 0:
        raise ConfigError(f"-seed must be a non-negative integer, got {cfg.seed}")
    check_threads(cfg.threads)
    check_precision(cfg.precision)
    if cfg.precision == "bf16" and not get_propagation(cfg.prop_type).low_precision:
        low = [name for name, spec in propagations().items() if spec.low_precision]
        raise ConfigError(
            f"-precision bf16 runs the planner's ensemble layers in bf16 for prop-type "
            f"{', '.join(low)} only; prop-type {cfg.prop_type} would plan in fp32: use "
            "-precision fp32"
        )
    sim, loop, log = cfg.exp_cfg.sim_cfg, cfg.exp_cfg.exp_cfg, cfg.exp_cfg.log_cfg
    prop, opt = cfg.ctrl_cfg.prop_cfg, cfg.ctrl_cfg.opt_cfg
    init, train = prop.model_init_cfg, prop.model_train_cfg
    optimizer = get_optimizer(opt.opt_type)
    if not isinstance(opt.cfg, optimizer.config):
        raise ConfigError(
            f"ctrl_cfg.opt_cfg.cfg is a {type(opt.cfg).__name__}, not opt-type {opt.opt_type}'s "
            f"{optimizer.config.__name__}"
        )
    check_combination(init.model_type, prop.prop_type, prop.npart, init.num_nets)
    for key, value, minimum in (
        ("exp_cfg.sim_cfg.task_hor", sim.task_hor, 1),
        ("exp_cfg.exp_cfg.ntrain_iters", loop.ntrain_iters, 1),
        ("exp_cfg.exp_cfg.nrollouts_per_iter", loop.nrollouts_per_iter, 1),
        ("exp_cfg.exp_cfg.ninit_rollouts", loop.ninit_rollouts, 0),
        ("exp_cfg.log_cfg.nrecord", log.nrecord, 0),
        ("exp_cfg.log_cfg.neval", log.neval, 1),
        ("ctrl_cfg.per", cfg.ctrl_cfg.per, 1),
        ("ctrl_cfg.prop_cfg.npart", prop.npart, 1),
        ("ctrl_cfg.prop_cfg.model_init_cfg.num_nets", init.num_nets, 1),
        ("ctrl_cfg.prop_cfg.model_train_cfg.batch_size", train.batch_size, 1),
        ("ctrl_cfg.prop_cfg.model_train_cfg.epochs", train.epochs, 1),
        ("ctrl_cfg.prop_cfg.model_train_cfg.max_logging", train.max_logging, 0),
        ("ctrl_cfg.opt_cfg.plan_hor", opt.plan_hor, 1),
        ("ctrl_cfg.opt_cfg.cfg.popsize", opt.cfg.popsize, 1),
    ):
        _positive(key, value, minimum)
    if cfg.ctrl_cfg.per > opt.plan_hor:
        raise ConfigError(
            f"ctrl_cfg.per ({cfg.ctrl_cfg.per}) must not exceed ctrl_cfg.opt_cfg.plan_hor "
            f"({opt.plan_hor})"
        )
    if init.model_type != "GP" and len(init.weight_decays) != init.hidden_layers + 1:
        raise ConfigError(
            f"ctrl_cfg.prop_cfg.model_init_cfg.weight_decays has {len(init.weight_decays)} "
            f"values; {init.hidden_layers} hidden layers need {init.hidden_layers + 1} (one per "
            "layer, input to output): set both"
        )
    if init.model_type == "GP":
        if init.num_inducing_points is None or init.num_inducing_points < 1:
            raise ConfigError(
                "ctrl_cfg.prop_cfg.model_init_cfg.num_inducing_points must be at least 1 for "
                f"model-type GP, got {init.num_inducing_points}"
            )
        if init.num_nets != 1:
            raise ConfigError(f"model-type GP is a single GP, got num_nets {init.num_nets}")
    if get_propagation(prop.prop_type).single_particle and prop.npart != 1:
        raise ConfigError(f"prop-type {prop.prop_type} uses one particle, got npart {prop.npart}")
    if not 0.0 <= train.holdout_ratio < 1.0:
        raise ConfigError(
            "ctrl_cfg.prop_cfg.model_train_cfg.holdout_ratio must be in [0, 1), "
            f"got {train.holdout_ratio}"
        )
    if sim.stochastic and (sim.noise_std is None or sim.noise_std < 0):
        raise ConfigError(
            "exp_cfg.sim_cfg.stochastic is True, so exp_cfg.sim_cfg.noise_std must be set to a "
            f"non-negative number, got {sim.noise_std}"
        )
    if init.load_model and not init.model_dir:
        raise ConfigError(
            "ctrl_cfg.prop_cfg.model_init_cfg.load_model is True but model_dir is not set"
        )
    opt.cfg.check()
