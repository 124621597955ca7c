"""A run's default configuration: the task's registered defaults (the original's config module
for that env, `docs/spec/pets-facts.md` §4.1, §4.2) for one method."""

from __future__ import annotations

from pets.config.registry import ENSEMBLES, MODEL_TYPES, get_optimizer, get_propagation
from pets.config.tree import (
    DEFAULT_ENSEMBLE_SIZE,
    Config,
    CtrlCfg,
    ExpCfg,
    LoopCfg,
    ModelInitCfg,
    ModelTrainCfg,
    OptCfg,
    PropCfg,
    SimCfg,
)
from pets.config.validation import check_choice, validate
from pets.envs.registry import get_task


def default_config(
    env: str,
    *,
    model_type: str = "PE",
    prop_type: str = "TSinf",
    opt_type: str = "CEM",
    seed: int = 0,
    device: str = "auto",
    reward: str | None = None,
    termination: str | None = None,
) -> Config:
    """Build the original's default configuration of `env` for one method.

    Args:
        env: a registered task (`pets.envs.registry`).
        model_type: D, P, DE, PE or GP.
        prop_type: a registered propagation method (E, DS, TS1, TSinf, MM, ...).
        opt_type: a registered optimizer (CEM, Random, ...).
        seed: drives torch, numpy and the environment.
        device: auto, cpu, cuda or cuda:<i>.
        reward, termination: a gymnasium env's `-ca reward` / `-ca termination` (None: what
            pets knows for the env, else learned).

    Returns:
        The validated configuration.

    Raises:
        ConfigError: an unknown name or an invalid combination.
    """
    task = get_task(env)
    d = task.defaults
    check_choice("model-type", model_type, MODEL_TYPES)
    prop = get_propagation(prop_type)
    optimizer = get_optimizer(opt_type)
    ensemble = model_type in ENSEMBLES
    opt_inner = optimizer.make_config(d.optimizers.get(opt_type, {}))
    cfg = Config(
        env=env,
        seed=seed,
        device=device,
        reward=task.default_reward if reward is None else reward,
        termination=task.default_termination if termination is None else termination,
        exp_cfg=ExpCfg(
            sim_cfg=SimCfg(task_hor=d.task_hor),
            exp_cfg=LoopCfg(ntrain_iters=d.ntrain_iters, ninit_rollouts=d.ninit_rollouts),
        ),
        ctrl_cfg=CtrlCfg(
            prop_cfg=PropCfg(
                prop_type=prop_type,
                # PETS: E is deterministic propagation with a single particle (default.py).
                npart=1 if prop.single_particle else 20,
                # PETS: DE under TS uses the means only, read-only (default.py).
                ign_var=model_type == "DE" and prop.per_member,
                model_train_cfg=ModelTrainCfg(epochs=d.epochs),
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
