"""Per-env defaults of the original's config modules (docs/spec/pets-facts.md §4.1, §4.2)."""

from __future__ import annotations

from dataclasses import dataclass

from pets.config.tree import (
    DEFAULT_ENSEMBLE_SIZE,
    ENV_NAMES,
    MODEL_TYPES,
    OPT_TYPES,
    PROP_TYPES,
    CEMCfg,
    Config,
    CtrlCfg,
    ExpCfg,
    LoopCfg,
    ModelInitCfg,
    OptCfg,
    PropCfg,
    RandomCfg,
    SimCfg,
)
from pets.config.validation import check_choice, validate

# --- per-env defaults (docs/spec/pets-facts.md §4.1, §4.2) --------------------------------------


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
    gp_inducing_points: int  # GP_NINDUCING_POINTS of the env's config module


_ENV_DEFAULTS = {
    "cartpole": _EnvDefaults(
        200, 50, 25, 400, 40, 2000, 3, 500, (1e-4, 2.5e-4, 2.5e-4, 5e-4), 1e-3, 200
    ),
    "reacher": _EnvDefaults(
        150, 100, 25, 400, 40, 2000, 4, 200, (2.5e-4, 5e-4, 5e-4, 5e-4, 7.5e-4), 7.5e-4, 200
    ),
    "pusher": _EnvDefaults(
        150, 100, 25, 500, 50, 2500, 3, 200, (2.5e-4, 5e-4, 5e-4, 7.5e-4), 1e-3, 200
    ),
    "halfcheetah": _EnvDefaults(
        1000, 300, 30, 500, 50, 2500, 4, 200, (2.5e-5, 5e-5, 7.5e-5, 7.5e-5, 1e-4), 1e-3, 300
    ),
}


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
        model_type: D, P, DE, PE or GP.
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
                    # The GP has no networks; the network fields above stay unused by it.
                    num_inducing_points=d.gp_inducing_points if model_type == "GP" else None,
                ),
            ),
            opt_cfg=OptCfg(opt_type=opt_type, plan_hor=d.plan_hor, cfg=opt_inner),
        ),
    )
    validate(cfg)
    return cfg
