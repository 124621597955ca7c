"""The config tree against the original's defaults, type map and rules.

Oracle: `docs/spec/pets-facts.md` §4 and §7.1, transcribed by hand.
"""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from pets import config as c
from pets.errors import ConfigError

# §4.1/§4.2, transcribed by hand: env -> (task_hor, ntrain_iters, plan_hor, CEM popsize, elites,
# Random popsize, hidden layers, width, lr)
SPEC_TABLE = {
    "cartpole": (200, 50, 25, 400, 40, 2000, 3, 500, 1e-3),
    "reacher": (150, 100, 25, 400, 40, 2000, 4, 200, 7.5e-4),
    "pusher": (150, 100, 25, 500, 50, 2500, 3, 200, 1e-3),
    "halfcheetah": (1000, 300, 30, 500, 50, 2500, 4, 200, 1e-3),
}
VALID = [(m, p) for m, props in c.ALLOWED_PROPS.items() for p in props]
INVALID = [(m, p) for m, p in itertools.product(c.MODEL_TYPES, c.PROP_TYPES) if (m, p) not in VALID]


@pytest.mark.parametrize("env", c.ENV_NAMES)
def test_default_config_matches_spec_table(env: str) -> None:
    hor, iters, plan, pop, elites, rpop, layers, width, lr = SPEC_TABLE[env]
    cfg = c.default_config(env)
    assert cfg.exp_cfg.sim_cfg.task_hor == hor
    assert cfg.exp_cfg.exp_cfg.ntrain_iters == iters
    assert (cfg.exp_cfg.exp_cfg.nrollouts_per_iter, cfg.exp_cfg.exp_cfg.ninit_rollouts) == (1, 1)
    assert (cfg.exp_cfg.log_cfg.nrecord, cfg.exp_cfg.log_cfg.neval) == (0, 1)
    assert cfg.ctrl_cfg.opt_cfg.plan_hor == plan
    opt = cfg.ctrl_cfg.opt_cfg.cfg
    assert isinstance(opt, c.CEMCfg)
    assert (opt.popsize, opt.num_elites, opt.max_iters, opt.alpha, opt.epsilon) == (
        pop,
        elites,
        5,
        0.1,
        0.001,
    )
    assert c.default_config(env, opt_type="Random").ctrl_cfg.opt_cfg.cfg.popsize == rpop
    init = cfg.ctrl_cfg.prop_cfg.model_init_cfg
    assert (init.hidden_layers, init.hidden_width, init.lr) == (layers, width, lr)
    assert len(init.weight_decays) == layers + 1  # one per layer, input to output
    train = cfg.ctrl_cfg.prop_cfg.model_train_cfg
    assert (train.batch_size, train.epochs, train.holdout_ratio) == (32, 5, 0.0)
    assert (cfg.ctrl_cfg.prop_cfg.npart, init.num_nets, cfg.method) == (20, 5, "PE-TSinf")


@pytest.mark.parametrize(("model", "prop"), VALID, ids=[f"{m}-{p}" for m, p in VALID])
def test_every_valid_method_builds_with_the_original_forced_values(model: str, prop: str) -> None:
    cfg = c.build_config("cartpole", [("model-type", model), ("prop-type", prop)])
    assert cfg.method == f"{model}-{prop}"
    assert cfg.ctrl_cfg.prop_cfg.model_init_cfg.num_nets == (5 if model in ("DE", "PE") else 1)
    assert cfg.ctrl_cfg.prop_cfg.npart == (1 if prop == "E" else 20)
    assert cfg.ctrl_cfg.prop_cfg.ign_var == (model == "DE" and prop.startswith("TS"))


def test_there_are_seventeen_valid_methods() -> None:
    # the paper's grid: D 1 + P 3 + DE 5 + PE 5, and its GP baselines GP-E, GP-DS, GP-MM
    assert len(VALID) == 17
    assert c.ALLOWED_PROPS["GP"] == ("E", "DS", "MM")


@pytest.mark.parametrize(("model", "prop"), INVALID, ids=[f"{m}-{p}" for m, p in INVALID])
def test_invalid_method_is_rejected_naming_both(model: str, prop: str) -> None:
    with pytest.raises(ConfigError, match=rf"prop-type {prop} .* model-type {model}"):
        c.build_config("cartpole", [("model-type", model), ("prop-type", prop)])


@pytest.mark.parametrize("path", list(c.override_paths()))
def test_every_original_override_path_lands_in_the_tree(path: str) -> None:
    convert = c.override_paths()[path]
    text = {"_int": "3", "_float": "0.25", "_bool": "True", "_str": "some/dir",
            "_floats": "1e-4,2e-4,3e-4,4e-4,5e-4"}[convert.__name__]  # fmt: skip
    extra = []
    # The network is settable on a gymnasium env only (the paper's tasks keep the original's).
    network = path.rsplit(".", 1)[1] in ("hidden_layers", "hidden_width", "weight_decays", "lr")
    if path.endswith("hidden_layers"):
        extra = [("ctrl_cfg.prop_cfg.model_init_cfg.weight_decays", "1e-4,2e-4,3e-4,4e-4")]
    if path.endswith("load_model"):
        extra = [("ctrl_cfg.prop_cfg.model_init_cfg.model_dir", "d")]
    if path.endswith("stochastic"):
        extra = [("exp_cfg.sim_cfg.noise_std", "0.1")]
    if path.endswith("popsize"):
        text = "64"  # stays above the 40 elites
    if path.endswith(("npart", "num_nets")):
        text = "10" if path.endswith("npart") else "2"  # keep TSinf's npart % num_nets == 0
    if path.endswith("decay"):
        text = "1.5"  # iCEM's population decay γ is at least 1
    ca = (
        [("model-type", "GP"), ("prop-type", "MM")]
        if path.endswith("num_inducing_points")
        else None
    )
    if path.startswith("ctrl_cfg.opt_cfg.cfg."):  # the first optimizer that has this leaf
        leaf = path.rsplit(".", 1)[1]
        owner = next(
            name
            for name, spec in c.optimizers().items()
            if leaf in {f.name for f in dataclasses.fields(spec.config)}
        )
        ca = [("opt-type", owner)]
    cfg = c.build_config("Reacher-v5" if network else "reacher", ca, [*extra, (path, text)])
    node = cfg
    for part in path.split("."):
        node = getattr(node, part)
    assert node == convert(text)
    assert c.to_dict(cfg)  # serialisable


def test_bool_conversion_follows_the_original() -> None:
    # default.py: "False", "false" and "" are False; anything else (even "0") is True.
    for text, expected in (("False", False), ("false", False), ("", False), ("0", True)):
        cfg = c.build_config("cartpole", None, [("ctrl_cfg.log_cfg.log_particles", text)])
        assert cfg.ctrl_cfg.log_cfg.log_particles is expected


@pytest.mark.parametrize(
    ("ca", "overrides", "message"),
    [
        ([("model-typ", "PE")], [], "unknown -ca key 'model-typ'"),
        ([("model-type", "GPE")], [], "'GPE' is not one of D, P, DE, PE, GP"),
        ([("opt-type", "cem")], [], "'cem' is not one of CEM, Random"),
        ([], [("ctrl_cfg.opt_cfg.cfg.popsiz", "3")], "did you mean ctrl_cfg.opt_cfg.cfg.popsize"),
        ([], [("ctrl_cfg.per", "two")], "ctrl_cfg.per got 'two', which is not an integer"),
        ([], [("ctrl_cfg.opt_cfg.cfg.alpha", "nan")], "alpha got 'nan'"),
        ([("prop-type", "E")], [("ctrl_cfg.prop_cfg.npart", "5")], "read-only"),
        (
            [("model-type", "P"), ("prop-type", "DS")],
            [("ctrl_cfg.prop_cfg.model_init_cfg.num_nets", "3")],
            "read-only",
        ),
        (
            [("model-type", "DE"), ("prop-type", "TS1")],
            [("ctrl_cfg.prop_cfg.ign_var", "False")],
            "read-only",
        ),
        (
            [],
            [("ctrl_cfg.prop_cfg.model_init_cfg.hidden_width", "64")],
            "the paper's tasks keep the original's hidden_width per task",
        ),
        ([("opt-type", "Random")], [("ctrl_cfg.opt_cfg.cfg.max_iters", "3")], "CEM only"),
        ([], [("ctrl_cfg.opt_cfg.cfg.num_elites", "401")], "num_elites \\(401\\) must not exceed"),
        ([], [("ctrl_cfg.prop_cfg.npart", "7")], "npart 7 and num_nets 5"),
        ([], [("ctrl_cfg.opt_cfg.cfg.popsize", "0")], "popsize must be at least 1, got 0"),
        ([], [("exp_cfg.sim_cfg.task_hor", "-1")], "task_hor must be at least 1"),
        ([], [("ctrl_cfg.prop_cfg.model_init_cfg.num_nets", "1")], "needs num_nets > 1"),
        ([], [("exp_cfg.sim_cfg.stochastic", "True")], "noise_std must be set"),
        ([], [("ctrl_cfg.per", "26")], "must not exceed ctrl_cfg.opt_cfg.plan_hor"),
    ],
)
def test_bad_input_names_the_value(
    ca: list[tuple[str, str]], overrides: list[tuple[str, str]], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        c.build_config("cartpole", ca, overrides)


def test_bad_env_and_device_are_rejected() -> None:
    with pytest.raises(ConfigError, match="'cartpol' is not one of cartpole, reacher"):
        c.build_config("cartpol")
    with pytest.raises(ConfigError, match="-device 'gpu'"):
        c.build_config("cartpole", device="gpu")


def test_round_trip_through_a_plain_mapping() -> None:
    for opt in c.OPT_TYPES:
        cfg = c.build_config("pusher", [("opt-type", opt)], [("ctrl_cfg.opt_cfg.plan_hor", "7")])
        data = c.to_dict(cfg)
        assert data["model_type"] == "PE" and data["opt_type"] == opt
        assert data["exp_cfg"]["sim_cfg"]["task_hor"] == 150
        assert c.from_dict(data) == cfg


def test_override_table_lists_every_path() -> None:
    table = c.override_table()
    assert all(path in table for path in c.override_paths())
