"""The typed configuration tree of a PETS run, mirroring the original's `exp_cfg`/`ctrl_cfg` tree.

Owns per-env defaults (`spec/pets-facts.md` §4.1–§4.2), `-ca` parsing, `-o` overrides with the
original's type map and read-only rules (§7.1), and validation of the whole tree. Imports no torch
and nothing from the rest of the package but `pets.errors`, so every layer can read a config.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pets.errors import ConfigError

ENV_NAMES = ("cartpole", "reacher", "pusher", "halfcheetah")
MODEL_TYPES = ("D", "P", "DE", "PE")
PROP_TYPES = ("E", "DS", "TS1", "TSinf", "MM")
OPT_TYPES = ("CEM", "Random")
# spec/pets-facts.md §6.4: which propagation each model type allows.
ALLOWED_PROPS = {
    "D": ("E",),
    "P": ("E", "DS", "MM"),
    "DE": PROP_TYPES,
    "PE": PROP_TYPES,
}
CA_KEYS = ("model-type", "prop-type", "opt-type")
DEFAULT_ENSEMBLE_SIZE = 5


def _help(text: str) -> dict[str, str]:
    return {"help": text}


# --- the tree ------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SimCfg:
    task_hor: int = field(metadata=_help("Task horizon: steps per episode."))
    stochastic: bool = field(
        default=False, metadata=_help("Add Gaussian action noise in the environment.")
    )
    noise_std: float | None = field(
        default=None, metadata=_help("Action noise standard deviation (needed if stochastic).")
    )


@dataclass(frozen=True, kw_only=True)
class LoopCfg:
    ntrain_iters: int = field(metadata=_help("Number of training iterations."))
    nrollouts_per_iter: int = field(
        default=1, metadata=_help("Rollouts per training iteration added to the training data.")
    )
    ninit_rollouts: int = field(
        default=1, metadata=_help("Random-action rollouts before the first training.")
    )


@dataclass(frozen=True, kw_only=True)
class LogCfg:
    nrecord: int = field(default=0, metadata=_help("Rollouts recorded to mp4 per iteration."))
    neval: int = field(
        default=1, metadata=_help("Rollouts whose returns are logged per iteration.")
    )


@dataclass(frozen=True, kw_only=True)
class ExpCfg:
    sim_cfg: SimCfg
    exp_cfg: LoopCfg
    log_cfg: LogCfg = field(default_factory=LogCfg)


@dataclass(frozen=True, kw_only=True)
class ModelInitCfg:
    model_type: str = field(metadata=_help("D, P, DE or PE (set with -ca model-type)."))
    num_nets: int = field(metadata=_help("Ensemble size (> 1 for DE/PE; 1 for D/P)."))
    hidden_layers: int = field(metadata=_help("Hidden layers of each network."))
    hidden_width: int = field(metadata=_help("Units per hidden layer."))
    weight_decays: tuple[float, ...] = field(
        metadata=_help("L2 coefficient per layer, input to output.")
    )
    lr: float = field(metadata=_help("Adam learning rate."))
    model_dir: str | None = field(default=None, metadata=_help("Directory to load a model from."))
    load_model: bool = field(default=False, metadata=_help("Load the model from model_dir."))


@dataclass(frozen=True, kw_only=True)
class ModelTrainCfg:
    batch_size: int = field(default=32, metadata=_help("Minibatch size per ensemble member."))
    epochs: int = field(default=5, metadata=_help("Passes over the data per training call."))
    max_logging: int = field(default=5000, metadata=_help("Maximum number of holdout rows."))
    holdout_ratio: float = field(
        default=0.0, metadata=_help("Fraction of data held out for reporting (no early stop).")
    )


@dataclass(frozen=True, kw_only=True)
class PropCfg:
    prop_type: str = field(metadata=_help("E, DS, TS1, TSinf or MM (set with -ca prop-type)."))
    model_init_cfg: ModelInitCfg
    model_train_cfg: ModelTrainCfg = field(default_factory=ModelTrainCfg)
    model_pretrained: bool = field(
        default=False, metadata=_help("The model starts trained: plan from the first rollout.")
    )
    npart: int = field(default=20, metadata=_help("Particles per candidate action sequence."))
    ign_var: bool = field(
        default=False, metadata=_help("Use the predicted means only (no output sampling).")
    )


@dataclass(frozen=True, kw_only=True)
class CEMCfg:
    popsize: int = field(metadata=_help("Candidate sequences sampled per CEM iteration."))
    num_elites: int = field(metadata=_help("Elites used to refit the sampling distribution."))
    max_iters: int = field(default=5, metadata=_help("Maximum CEM iterations."))
    alpha: float = field(default=0.1, metadata=_help("Weight of the previous mean and variance."))
    epsilon: float = field(default=0.001, metadata=_help("Variance below which CEM stops."))


@dataclass(frozen=True, kw_only=True)
class RandomCfg:
    popsize: int = field(metadata=_help("Candidate sequences sampled uniformly."))


@dataclass(frozen=True, kw_only=True)
class OptCfg:
    opt_type: str = field(metadata=_help("CEM or Random (set with -ca opt-type)."))
    plan_hor: int = field(metadata=_help("Planning horizon."))
    cfg: CEMCfg | RandomCfg


@dataclass(frozen=True, kw_only=True)
class CtrlLogCfg:
    save_all_models: bool = field(default=False, metadata=_help("Keep a model per iteration."))
    log_traj_preds: bool = field(
        default=False, metadata=_help("Save predicted trajectory means and variances.")
    )
    log_particles: bool = field(default=False, metadata=_help("Save all particle predictions."))


@dataclass(frozen=True, kw_only=True)
class CtrlCfg:
    prop_cfg: PropCfg
    opt_cfg: OptCfg
    per: int = field(default=1, metadata=_help("Re-plan every `per` steps."))
    log_cfg: CtrlLogCfg = field(default_factory=CtrlLogCfg)


@dataclass(frozen=True, kw_only=True)
class Config:
    """One run: the environment, our additions (seed, device) and the original's two trees."""

    env: str
    exp_cfg: ExpCfg
    ctrl_cfg: CtrlCfg
    seed: int = 0
    device: str = "auto"

    @property
    def model_type(self) -> str:
        return self.ctrl_cfg.prop_cfg.model_init_cfg.model_type

    @property
    def prop_type(self) -> str:
        return self.ctrl_cfg.prop_cfg.prop_type

    @property
    def opt_type(self) -> str:
        return self.ctrl_cfg.opt_cfg.opt_type

    @property
    def method(self) -> str:
        """The paper's name of the model × propagation pair, e.g. `PE-TSinf`."""
        return f"{self.model_type}-{self.prop_type}"

    @property
    def is_trajectory_sampling(self) -> bool:
        return self.prop_type in ("TS1", "TSinf")


# --- per-env defaults (spec/pets-facts.md §4.1, §4.2) -------------------------------------------


@dataclass(frozen=True)
class _EnvDefaults:
    task_hor: int
    ntrain_iters: int
    plan_hor: int
    cem_popsize: int
    cem_elites: int
    random_popsize: int
    hidden_layers: int
    hidden_width: int
    weight_decays: tuple[float, ...]
    lr: float


_ENV_DEFAULTS = {
    "cartpole": _EnvDefaults(
        200, 50, 25, 400, 40, 2000, 3, 500, (1e-4, 2.5e-4, 2.5e-4, 5e-4), 1e-3
    ),
    "reacher": _EnvDefaults(
        150, 100, 25, 400, 40, 2000, 4, 200, (2.5e-4, 5e-4, 5e-4, 5e-4, 7.5e-4), 7.5e-4
    ),
    "pusher": _EnvDefaults(150, 100, 25, 500, 50, 2500, 3, 200, (2.5e-4, 5e-4, 5e-4, 7.5e-4), 1e-3),
    "halfcheetah": _EnvDefaults(
        1000, 300, 30, 500, 50, 2500, 4, 200, (2.5e-5, 5e-5, 7.5e-5, 7.5e-5, 1e-4), 1e-3
    ),
}


def check_choice(key: str, value: str, allowed: Iterable[str]) -> str:
    """Return `value` if it is one of `allowed`, else raise ConfigError naming both."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ConfigError(f"{key} {value!r} is not one of {', '.join(allowed)}")
    return value


def default_config(
    env: str,
    *,
    model_type: str = "PE",
    prop_type: str = "TSinf",
    opt_type: str = "CEM",
    seed: int = 0,
    device: str = "auto",
) -> Config:
    """Build the original's default configuration of `env` for one method.

    Args:
        env: cartpole, reacher, pusher or halfcheetah.
        model_type: D, P, DE or PE.
        prop_type: E, DS, TS1, TSinf or MM.
        opt_type: CEM or Random.
        seed: drives torch, numpy and the environment.
        device: auto, cpu, cuda or cuda:<i>.

    Returns:
        The validated configuration.

    Raises:
        ConfigError: an unknown name or an invalid combination.
    """
    d = _ENV_DEFAULTS[check_choice("env", env, ENV_NAMES)]
    check_choice("model-type", model_type, MODEL_TYPES)
    check_choice("prop-type", prop_type, PROP_TYPES)
    check_choice("opt-type", opt_type, OPT_TYPES)
    ensemble = model_type in ("DE", "PE")
    opt_inner: CEMCfg | RandomCfg = (
        CEMCfg(popsize=d.cem_popsize, num_elites=d.cem_elites)
        if opt_type == "CEM"
        else RandomCfg(popsize=d.random_popsize)
    )
    cfg = Config(
        env=env,
        seed=seed,
        device=device,
        exp_cfg=ExpCfg(
            sim_cfg=SimCfg(task_hor=d.task_hor),
            exp_cfg=LoopCfg(ntrain_iters=d.ntrain_iters),
        ),
        ctrl_cfg=CtrlCfg(
            prop_cfg=PropCfg(
                prop_type=prop_type,
                # PETS: E is deterministic propagation with a single particle (default.py).
                npart=1 if prop_type == "E" else 20,
                # PETS: DE under TS uses the means only, read-only (default.py).
                ign_var=model_type == "DE" and prop_type in ("TS1", "TSinf"),
                model_init_cfg=ModelInitCfg(
                    model_type=model_type,
                    num_nets=DEFAULT_ENSEMBLE_SIZE if ensemble else 1,
                    hidden_layers=d.hidden_layers,
                    hidden_width=d.hidden_width,
                    weight_decays=d.weight_decays,
                    lr=d.lr,
                ),
            ),
            opt_cfg=OptCfg(opt_type=opt_type, plan_hor=d.plan_hor, cfg=opt_inner),
        ),
    )
    validate(cfg)
    return cfg


# --- -ca and -o --------------------------------------------------------------------------------


def parse_ca(pairs: Iterable[tuple[str, str]] | None) -> dict[str, str]:
    """Turn `-ca KEY VALUE` pairs into `{model_type, prop_type, opt_type}` keyword arguments.

    Raises:
        ConfigError: an unknown key or value.
    """
    out: dict[str, str] = {}
    allowed = {"model-type": MODEL_TYPES, "prop-type": PROP_TYPES, "opt-type": OPT_TYPES}
    for key, value in pairs or ():
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


_CEM_ONLY = ("max_iters", "num_elites", "epsilon", "alpha")

# spec/pets-facts.md §7.1: the leaves `-o` may set, with the original's converters.
OVERRIDES: dict[str, Any] = {
    "exp_cfg.sim_cfg.task_hor": _int,
    "exp_cfg.sim_cfg.stochastic": _bool,
    "exp_cfg.sim_cfg.noise_std": _float,
    "exp_cfg.exp_cfg.ntrain_iters": _int,
    "exp_cfg.exp_cfg.nrollouts_per_iter": _int,
    "exp_cfg.exp_cfg.ninit_rollouts": _int,
    "exp_cfg.log_cfg.nrecord": _int,
    "exp_cfg.log_cfg.neval": _int,
    "ctrl_cfg.per": _int,
    "ctrl_cfg.prop_cfg.model_pretrained": _bool,
    "ctrl_cfg.prop_cfg.npart": _int,
    "ctrl_cfg.prop_cfg.ign_var": _bool,
    "ctrl_cfg.prop_cfg.model_init_cfg.num_nets": _int,
    "ctrl_cfg.prop_cfg.model_init_cfg.model_dir": _str,
    "ctrl_cfg.prop_cfg.model_init_cfg.load_model": _bool,
    "ctrl_cfg.prop_cfg.model_train_cfg.batch_size": _int,
    "ctrl_cfg.prop_cfg.model_train_cfg.epochs": _int,
    "ctrl_cfg.prop_cfg.model_train_cfg.max_logging": _int,
    "ctrl_cfg.prop_cfg.model_train_cfg.holdout_ratio": _float,
    "ctrl_cfg.opt_cfg.plan_hor": _int,
    "ctrl_cfg.opt_cfg.cfg.popsize": _int,
    **{
        f"ctrl_cfg.opt_cfg.cfg.{k}": _int if k in ("max_iters", "num_elites") else _float
        for k in _CEM_ONLY
    },
    "ctrl_cfg.log_cfg.save_all_models": _bool,
    "ctrl_cfg.log_cfg.log_traj_preds": _bool,
    "ctrl_cfg.log_cfg.log_particles": _bool,
}
_TYPE_NAMES = {_int: "an integer", _float: "a finite number", _bool: "a boolean", _str: "a string"}


def _read_only_reason(cfg: Config, path: str) -> str | None:
    leaf = path.rsplit(".", 1)[-1]
    if leaf == "npart" and cfg.prop_type == "E":
        return "prop-type E always uses one particle"
    if leaf == "ign_var" and cfg.model_type == "DE" and cfg.is_trajectory_sampling:
        return "DE with trajectory sampling always ignores the variance"
    if leaf == "num_nets" and cfg.model_type in ("D", "P"):
        return f"model-type {cfg.model_type} is a single network"
    if leaf in _CEM_ONLY and cfg.opt_type != "CEM":
        return f"opt-type {cfg.opt_type} has no {leaf} (CEM only)"
    return None


def _replace_path(obj: Any, parts: list[str], value: Any) -> Any:
    head, *rest = parts
    new = value if not rest else _replace_path(getattr(obj, head), rest, value)
    return dataclasses.replace(obj, **{head: new})


def apply_override(cfg: Config, path: str, text: str) -> Config:
    """Return `cfg` with the leaf at dotted `path` set from the string `text`.

    Args:
        cfg: the configuration to start from (its method decides which paths are writable).
        path: a dotted path such as `ctrl_cfg.opt_cfg.cfg.popsize` (spec §7.1).
        text: the value as typed on the command line.

    Raises:
        ConfigError: unknown path (with the closest valid ones), read-only path, or a value that
            does not convert to the leaf's type.
    """
    if path not in OVERRIDES:
        close = difflib.get_close_matches(path, OVERRIDES, n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(close)}?" if close else "; see `pets mbexp --help`"
        raise ConfigError(f"unknown override path {path!r}{hint}")
    reason = _read_only_reason(cfg, path)
    if reason:
        raise ConfigError(f"override path {path!r} is read-only here: {reason}")
    convert = OVERRIDES[path]
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
) -> Config:
    """Build a run's configuration as `mbexp` does: env defaults, then `-ca`, then `-o` in order.

    Raises:
        ConfigError: any bad input, with a message naming it.
    """
    cfg = default_config(
        check_choice("-env", env, ENV_NAMES), **parse_ca(ca), seed=seed, device=check_device(device)
    )
    for path, text in overrides or ():
        cfg = apply_override(cfg, path, text)
    validate(cfg)
    return cfg


_DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def check_device(device: str) -> str:
    """Return `device` if it reads auto, cpu, cuda or cuda:<i>; else raise ConfigError."""
    if not _DEVICE_RE.match(device):
        raise ConfigError(f"-device {device!r} is not one of auto, cpu, cuda, cuda:<index>")
    return device


# --- validation --------------------------------------------------------------------------------


def _positive(key: str, value: int, minimum: int = 1) -> None:
    if value < minimum:
        raise ConfigError(f"{key} must be at least {minimum}, got {value}")


def check_combination(model_type: str, prop_type: str, npart: int, num_nets: int) -> None:
    """Check the model × propagation matrix of spec §6.4 and the particle layout it needs.

    Raises:
        ConfigError: naming both values and what is allowed.
    """
    allowed = ALLOWED_PROPS[check_choice("model-type", model_type, MODEL_TYPES)]
    if prop_type not in allowed:
        raise ConfigError(
            f"prop-type {prop_type} is not valid with model-type {model_type} "
            f"(allowed: {', '.join(allowed)})"
        )
    if model_type in ("DE", "PE") and num_nets < 2:
        raise ConfigError(f"model-type {model_type} needs num_nets > 1, got {num_nets}")
    if prop_type in ("TS1", "TSinf") and npart % num_nets != 0:
        raise ConfigError(
            f"prop-type {prop_type} needs npart divisible by num_nets, "
            f"got npart {npart} and num_nets {num_nets}"
        )


def validate(cfg: Config) -> None:
    """Check the whole tree; every message names the offending key and value.

    Raises:
        ConfigError: the first problem found.
    """
    check_choice("env", cfg.env, ENV_NAMES)
    check_device(cfg.device)
    if cfg.seed < 0:
        raise ConfigError(f"-seed must be a non-negative integer, got {cfg.seed}")
    sim, loop, log = cfg.exp_cfg.sim_cfg, cfg.exp_cfg.exp_cfg, cfg.exp_cfg.log_cfg
    prop, opt = cfg.ctrl_cfg.prop_cfg, cfg.ctrl_cfg.opt_cfg
    init, train = prop.model_init_cfg, prop.model_train_cfg
    check_choice("prop-type", prop.prop_type, PROP_TYPES)
    check_choice("opt-type", opt.opt_type, OPT_TYPES)
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
    if prop.prop_type == "E" and prop.npart != 1:
        raise ConfigError(f"prop-type E uses one particle, got npart {prop.npart}")
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
    if isinstance(opt.cfg, CEMCfg):
        c = opt.cfg
        _positive("ctrl_cfg.opt_cfg.cfg.max_iters", c.max_iters)
        _positive("ctrl_cfg.opt_cfg.cfg.num_elites", c.num_elites)
        if c.num_elites > c.popsize:
            raise ConfigError(
                f"ctrl_cfg.opt_cfg.cfg.num_elites ({c.num_elites}) must not exceed "
                f"ctrl_cfg.opt_cfg.cfg.popsize ({c.popsize})"
            )
        if not 0.0 <= c.alpha <= 1.0:
            raise ConfigError(f"ctrl_cfg.opt_cfg.cfg.alpha must be in [0, 1], got {c.alpha}")
        if c.epsilon < 0:
            raise ConfigError(f"ctrl_cfg.opt_cfg.cfg.epsilon must be >= 0, got {c.epsilon}")


# --- serialisation -----------------------------------------------------------------------------


def _plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple):
        return [_plain(v) for v in obj]
    return obj


def to_dict(cfg: Config) -> dict[str, Any]:
    """The resolved configuration as plain nested mappings (what `config.yaml` holds)."""
    tree = _plain(cfg)
    head = {
        "env": cfg.env,
        "seed": cfg.seed,
        "device": cfg.device,
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
    (OptCfg, "cfg"): lambda data: CEMCfg if data.get("opt_type") == "CEM" else RandomCfg,
}


def from_dict(data: Mapping[str, Any]) -> Config:
    """Rebuild a Config from `to_dict`'s output (e.g. a run's config.yaml) and validate it."""
    cfg = _build(Config, data)
    validate(cfg)
    return cfg


def override_rows() -> list[tuple[str, str, str]]:
    """The `-o` paths as (path, type, help) rows, in the original's tree order."""
    helps = {
        f"{prefix}.{f.name}": f.metadata.get("help", "")
        for prefix, cls in _LEAF_CLASSES
        for f in dataclasses.fields(cls)
    }
    kinds = {_int: "int", _float: "float", _bool: "bool", _str: "str"}
    return [(path, kinds[convert], helps[path]) for path, convert in OVERRIDES.items()]


def override_table(markdown: bool = False) -> str:
    """The `-o` paths with their types and help: plain for `--help`, or Markdown table rows."""
    rows = override_rows()
    if markdown:
        return "\n".join(f"| `{path}` | {kind} | {text} |" for path, kind, text in rows)
    width = max(len(path) for path, _, _ in rows)
    return "\n".join(f"  {path:<{width}}  {kind:<5}  {text}" for path, kind, text in rows)


_LEAF_CLASSES = (
    ("exp_cfg.sim_cfg", SimCfg),
    ("exp_cfg.exp_cfg", LoopCfg),
    ("exp_cfg.log_cfg", LogCfg),
    ("ctrl_cfg", CtrlCfg),
    ("ctrl_cfg.prop_cfg", PropCfg),
    ("ctrl_cfg.prop_cfg.model_init_cfg", ModelInitCfg),
    ("ctrl_cfg.prop_cfg.model_train_cfg", ModelTrainCfg),
    ("ctrl_cfg.opt_cfg", OptCfg),
    ("ctrl_cfg.opt_cfg.cfg", CEMCfg),
    ("ctrl_cfg.log_cfg", CtrlLogCfg),
)
