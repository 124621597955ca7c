"""`-ca model-type GP` end to end: the config rules of the original's default.py, the CLI's
one-line refusals, tiny GP-E/DS/MM runs writing logs.mat, and `pets render` with a saved GP."""

from __future__ import annotations

from pathlib import Path

import pytest
import scipy.io

from pets import config as c
from pets.cli import main
from pets.errors import ConfigError

# docs/spec/pets-facts.md §4.1: GP_NINDUCING_POINTS per env
INDUCING = {"cartpole": 200, "reacher": 200, "pusher": 200, "halfcheetah": 300}
GP = [("model-type", "GP"), ("prop-type", "MM")]
TINY = [
    ("exp_cfg.sim_cfg.task_hor", "6"),
    ("exp_cfg.exp_cfg.ntrain_iters", "1"),  # one GP fit (up to 1000 L-BFGS-B iterations)
    ("ctrl_cfg.opt_cfg.plan_hor", "2"),
    ("ctrl_cfg.opt_cfg.cfg.popsize", "6"),
    ("ctrl_cfg.opt_cfg.cfg.num_elites", "2"),
    ("ctrl_cfg.opt_cfg.cfg.max_iters", "2"),
    ("ctrl_cfg.prop_cfg.model_init_cfg.num_inducing_points", "4"),
]


def flags(pairs: list[tuple[str, str]], flag: str = "-o") -> list[str]:
    return [item for key, value in pairs for item in (flag, key, value)]


@pytest.mark.parametrize("env", list(INDUCING))
def test_gp_defaults_follow_the_env_config_modules(env: str) -> None:
    cfg = c.build_config(env, GP)
    init = cfg.ctrl_cfg.prop_cfg.model_init_cfg
    assert (init.model_type, init.num_inducing_points, init.num_nets) == ("GP", INDUCING[env], 1)
    assert cfg.ctrl_cfg.prop_cfg.npart == 20
    assert c.build_config(env).ctrl_cfg.prop_cfg.model_init_cfg.num_inducing_points is None
    e = c.build_config(env, [("model-type", "GP"), ("prop-type", "E")])
    assert e.ctrl_cfg.prop_cfg.npart == 1  # PETS: E uses one particle


def test_inducing_points_override_is_typed_and_gp_only() -> None:
    path = "ctrl_cfg.prop_cfg.model_init_cfg.num_inducing_points"
    cfg = c.build_config("cartpole", GP, [(path, "50")])
    assert cfg.ctrl_cfg.prop_cfg.model_init_cfg.num_inducing_points == 50
    with pytest.raises(ConfigError, match="not an integer"):
        c.build_config("cartpole", GP, [(path, "many")])
    with pytest.raises(ConfigError, match="at least 1"):
        c.build_config("cartpole", GP, [(path, "0")])
    with pytest.raises(ConfigError, match=r"read-only.*GP only"):
        c.build_config("cartpole", None, [(path, "50")])


@pytest.mark.parametrize(
    "path",
    [
        "ctrl_cfg.prop_cfg.model_init_cfg.num_nets",
        "ctrl_cfg.prop_cfg.model_train_cfg.epochs",
        "ctrl_cfg.prop_cfg.model_train_cfg.batch_size",
    ],
)
def test_gp_has_no_ensemble_or_network_training_overrides(path: str) -> None:
    # PETS: default.py's GP branch adds no num_nets or model_train_cfg entries to the type map
    with pytest.raises(ConfigError, match="read-only here: model-type GP"):
        c.build_config("cartpole", GP, [(path, "3")])


@pytest.mark.parametrize("prop", ["TS1", "TSinf"])
def test_gp_trajectory_sampling_is_refused_in_one_line(
    prop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["mbexp", "-env", "cartpole", "-outdir", str(tmp_path / "r"), "-device", "cpu"]
    argv += flags([("model-type", "GP"), ("prop-type", prop)], "-ca")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == (
        f"pets mbexp: error: prop-type {prop} is not valid with model-type GP "
        "(allowed: E, DS, MM)\n"
    )
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("prop", ["E", "DS", "MM"])
def test_tiny_gp_runs_write_logs_with_the_right_shapes(prop: str, tmp_path: Path) -> None:
    out = tmp_path / prop
    tiny = [*TINY] if prop == "E" else [*TINY, ("ctrl_cfg.prop_cfg.npart", "3")]
    argv = ["mbexp", "-env", "cartpole", "-outdir", str(out), "-device", "cpu", "-threads", "1"]
    argv += flags([("model-type", "GP"), ("prop-type", prop)], "-ca") + flags(tiny)
    assert main(argv) == 0
    logs = scipy.io.loadmat(out / "logs.mat")
    # §7: 1 random + 1 planned rollout of 6 steps; cartpole obs 4, action 1
    assert logs["observations"].shape == (2, 7, 4)
    assert logs["actions"].shape == (2, 6, 1)
    assert logs["rewards"].shape == (2, 6)
    assert logs["returns"].shape == (1, 1)
    assert (out / "model.pt").is_file()


@pytest.mark.slow  # ~16 s: a GP run and its render; the model file round trip is in test_gp.py
def test_render_replays_a_saved_gp(tmp_path: Path) -> None:
    run = tmp_path / "run"
    argv = ["mbexp", "-env", "cartpole", "-outdir", str(run), "-device", "cpu", "-threads", "1"]
    argv += flags(GP, "-ca") + flags([*TINY, ("ctrl_cfg.prop_cfg.npart", "3")])
    assert main(argv) == 0
    argv = ["render", "-env", "cartpole", "-model-dir", str(run), "-logdir", str(tmp_path / "r")]
    argv += ["-device", "cpu", "-threads", "1", *flags(GP, "-ca")]
    argv += flags(
        [p for p in TINY if "ntrain_iters" not in p[0]] + [("ctrl_cfg.prop_cfg.npart", "3")]
    )
    assert main(argv) == 0
    (rendered,) = (tmp_path / "r").iterdir()
    assert (rendered / "train_iter1" / "rollout0.mp4").stat().st_size > 0


def test_network_configs_store_no_inducing_points_and_gp_configs_round_trip() -> None:
    # config.yaml of a PE run is as before the GP existed (so older runs still resume)
    pe = c.to_dict(c.build_config("cartpole"))
    assert "num_inducing_points" not in pe["ctrl_cfg"]["prop_cfg"]["model_init_cfg"]
    assert c.from_dict(pe) == c.build_config("cartpole")
    gp = c.build_config("halfcheetah", GP)
    stored = c.to_dict(gp)
    assert stored["ctrl_cfg"]["prop_cfg"]["model_init_cfg"]["num_inducing_points"] == 300
    assert c.from_dict(stored) == gp
