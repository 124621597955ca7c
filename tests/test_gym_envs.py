"""Any gymnasium env as a pets task: refusals, planning with terminations, learned outputs,
variable-length logs, and a user's own env (`toymod:Toy-v0`) through every command.

Oracles: the toy env's reward and termination written out here (its returns are its reward
sums), counting (env steps are the steps taken), a fake model whose dynamics are known exactly
(a particle's cost is a formula), and synthetic rules the learned outputs must fit.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
import yaml
from pets_processes import planned_mbexp_commands, run_pets

from pets.analysis.load import RunInfo
from pets.analysis.tables import learned_margin
from pets.cli import main
from pets.config import build_config, to_dict
from pets.config.labels import label_choices, model_label
from pets.envs import make_task
from pets.errors import ConfigError
from pets.models import Ensemble, fit, make_optimizer, predict_aggregated
from pets.models.termination import TerminationModel
from pets.planning.mpc import NAN_COST, candidate_costs
from pets.run import runlog
from pets.run.rollout import training_data
from pets.run.runlog import Episode
from pets.util.imports import load_object

# A user's module, outside the package: it registers its env with gymnasium on import.
TOYMOD = textwrap.dedent(
    '''
    """A cart on a line that falls off past |x| > 1 (a terminating toy env)."""

    import gymnasium as gym
    import numpy as np


    class Toy(gym.Env):
        """x' = x + 0.3·a; reward 1 − x'²; terminated when |x'| > 1; a in [−1, 1]."""

        def __init__(self, render_mode=None):
            self.observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float64)
            self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
            self.x = 0.0

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            self.x = float(self.np_random.uniform(-0.5, 0.5))
            return np.array([self.x, 1.0]), {}

        def step(self, action):
            self.x += 0.3 * float(np.clip(action[0], -1.0, 1.0))
            terminated = abs(self.x) > 1.0
            return np.array([self.x, 1.0]), 1.0 - self.x**2, terminated, False, {}


    gym.register("Toy-v0", entry_point=Toy, max_episode_steps=30)


    def fell(obs, act, next_obs):
        """The toy's own rule, batched: |x'| > 1."""
        return next_obs[:, 0].abs() > 1.0
    '''
)

# Small enough for seconds per run; PE-TSinf needs npart % 5 == 0.
TINY = [
    ("exp_cfg.exp_cfg.ntrain_iters", "3"),
    ("exp_cfg.exp_cfg.ninit_rollouts", "3"),
    ("ctrl_cfg.opt_cfg.plan_hor", "4"),
    ("ctrl_cfg.opt_cfg.cfg.popsize", "20"),
    ("ctrl_cfg.opt_cfg.cfg.num_elites", "4"),
    ("ctrl_cfg.opt_cfg.cfg.max_iters", "2"),
    ("ctrl_cfg.prop_cfg.npart", "5"),
    ("ctrl_cfg.prop_cfg.model_train_cfg.epochs", "3"),
]


def o_flags(pairs: list[tuple[str, str]]) -> list[str]:
    return [item for path, value in pairs for item in ("-o", path, value)]


@pytest.fixture(scope="module")
def toy_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("toymod")
    (folder / "toymod.py").write_text(TOYMOD)
    path = os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH", "")]))
    return {**os.environ, "PYTHONPATH": path}


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-env", "CartPole-v1"], "its action space is Discrete(2); PETS needs a flat continuous"),
        (["-env", "Nope-v0"], "nor a gymnasium id (Environment `Nope` doesn't exist"),
        (["-env", "nomodule:Toy-v0"], "module 'nomodule' cannot be imported"),
        (["-env", "cartpole", "-ca", "reward", "learned"], "apply to gymnasium envs only"),
        (["-env", "Pendulum-v1", "-ca", "reward", "guessed"], "is not one of known, learned"),
        (["-env", "Hopper-v5", "-ca", "termination", "maybe"], "or module:function"),
        (["-env", "Hopper-v5", "-ca", "termination", "nomodule:fn"], "cannot import 'nomodule'"),
        (["-env", "MountainCarContinuous-v0", "-ca", "reward", "known"], "use -ca reward learned"),
    ],
)
def test_what_pets_cannot_plan_on_is_one_line_exit_2_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    outdir = tmp_path / "run"
    assert main(["mbexp", *args, "-outdir", str(outdir)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not outdir.exists()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("json:no_such_function", "module 'json' has no 'no_such_function'"),
        ("no_such_module:fn", "cannot import 'no_such_module'"),
        ("json.dumps", "is not of the form module:function"),
    ],
)
def test_an_object_named_module_name_that_cannot_be_found_is_one_clear_error(
    path: str, message: str
) -> None:
    """The one loader of `module:name` objects (a task's reward, a user's termination, a
    plugin's optimizer or propagation) names what it looked for."""
    assert load_object("json:dumps", "x") is json.dumps
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_object(path, "-ca termination")


def test_defaults_of_an_env_pets_does_not_know_come_from_the_env() -> None:
    cfg = build_config("MountainCarContinuous-v0")  # registered with a 999-step TimeLimit
    assert cfg.exp_cfg.sim_cfg.task_hor == 999
    assert (cfg.reward, cfg.termination) == ("learned", "learned")
    assert cfg.ctrl_cfg.prop_cfg.model_train_cfg.epochs == 25
    known = build_config("Hopper-v5")
    assert (known.reward, known.termination) == ("known", "known")
    assert known.exp_cfg.exp_cfg.ninit_rollouts == 20  # its random episodes are short
    # the paper's tasks keep the original's config.yaml (no reward or termination keys)
    assert "reward" not in to_dict(build_config("cartpole"))
    assert to_dict(known)["termination"] == "known"


def test_a_gym_envs_network_is_set_with_o_and_checked_against_its_decays(tmp_path: Path) -> None:
    """The generic network is a default, not the original's per-task choice: -o sets it, and a
    layer count without one weight decay per layer is one line."""
    init = "ctrl_cfg.prop_cfg.model_init_cfg"
    cfg = build_config("Pendulum-v1", None, [(f"{init}.hidden_layers", "2"),
                       (f"{init}.weight_decays", "1e-4,2e-4,3e-4"), (f"{init}.hidden_width", "64"),
                       (f"{init}.lr", "3e-4")])  # fmt: skip
    model_cfg = cfg.ctrl_cfg.prop_cfg.model_init_cfg
    assert (model_cfg.hidden_layers, model_cfg.hidden_width, model_cfg.lr) == (2, 64, 3e-4)
    assert model_cfg.weight_decays == (1e-4, 2e-4, 3e-4)
    with pytest.raises(ConfigError, match="2 hidden layers need 3"):
        build_config("Pendulum-v1", None, [(f"{init}.hidden_layers", "2")])
    with pytest.raises(ConfigError, match="not comma-separated finite numbers"):
        build_config("Pendulum-v1", None, [(f"{init}.weight_decays", "1e-4,nan")])
    with pytest.raises(ConfigError, match="model-type GP has no network"):
        build_config("Pendulum-v1", [("model-type", "GP"), ("prop-type", "E")],
                     [(f"{init}.hidden_width", "64")])  # fmt: skip


def test_model_labels_mark_a_learned_choice_only_where_a_known_one_exists() -> None:
    assert model_label("PE", "Pendulum-v1", "learned", "known") == "PE+R"
    assert model_label("PE", "Hopper-v5", "learned", "learned") == "PE+R+T"
    assert model_label("PE", "Pendulum-v1", "known", "known") == "PE"
    assert model_label("PE", "somemodule:Unknown-v0", "learned", "learned") == "PE"
    assert label_choices("DE+R+T") == [
        ("model-type", "DE"), ("reward", "learned"), ("termination", "learned")
    ]  # fmt: skip
    with pytest.raises(ConfigError, match="marks are"):
        label_choices("PE+X")


def test_the_learned_verdict_needs_less_than_5_sd_only_where_5_sd_is_beyond_the_best() -> None:
    """Pendulum-v1's rewards are ≤ 0 and its random returns -1218.8 ± 316.6: the best possible
    return is 3.85 SD above them, so 3/4 of that counts as learned; elsewhere 5 SD."""
    needed, why = learned_margin("Pendulum-v1", -1218.7697023445057, 316.59182398145066)
    assert needed == pytest.approx(0.75 * 1218.7697023445057 / 316.59182398145066)
    assert "best possible return 0" in why
    assert learned_margin("HalfCheetah-v5", -300.6, 80.4) == (5.0, "")
    assert learned_margin("cartpole", -4.27, 1.6) == (5.0, "")


def test_a_users_termination_function_is_what_planning_asks(
    toy_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`-ca termination toymod:fell` hands the user's function to the planner unchanged."""
    for folder in toy_env["PYTHONPATH"].split(os.pathsep)[:1]:
        monkeypatch.syspath_prepend(folder)
    cfg = build_config("toymod:Toy-v0", [("termination", "toymod:fell")])
    assert (cfg.reward, cfg.termination) == ("learned", "toymod:fell")
    task = make_task("toymod:Toy-v0", reward=cfg.reward, termination=cfg.termination)
    nxt = torch.tensor([[0.5, 1.0], [1.5, 1.0], [-1.2, 1.0], [-0.9, 1.0]])
    ended = task.transition_terminated(torch.zeros(4, 2), torch.zeros(4, 1), nxt)
    assert ended.tolist() == [False, True, True, False]


# --- planning ---------------------------------------------------------------------------------


class _Counter:
    """A task on a 1-D state that the fake propagation moves by +1 per step: reward 1 per
    step, and the step reaching state 3 ends the episode."""

    terminates = True
    obs_dim = 1

    def obs_preproc(self, obs: torch.Tensor) -> torch.Tensor:
        return obs

    def obs_postproc(self, obs: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
        return obs + pred

    def transition_cost(self, obs, act, next_obs, pred) -> torch.Tensor:  # type: ignore[no-untyped-def]
        # NaN once past the end: the sum must leave an ended particle's later costs out.
        return torch.where(obs[:, 0] >= 3, torch.nan, -1.0 - 0.0 * act[:, 0])

    def transition_terminated(self, obs, act, next_obs) -> torch.Tensor:  # type: ignore[no-untyped-def]
        return next_obs[:, 0] >= 3


class _Step:
    npart = 2

    def propagate(self, model, features, actions, generator):  # type: ignore[no-untyped-def]
        assert actions.shape[0] * self.npart == features.shape[0]
        return torch.ones_like(features)


def test_planning_stops_a_particles_rewards_after_its_predicted_termination() -> None:
    """From state 0, steps reach states 1, 2, 3: three rewards of 1 (the terminating step's
    counts), none after it however long the horizon; a never-terminating task gets H of them."""
    actions = torch.zeros(4, 10, 1)
    costs = candidate_costs(_Counter(), None, _Step(), torch.zeros(1), actions, torch.Generator())
    torch.testing.assert_close(costs, torch.full((4,), -3.0))
    start = torch.full((1,), 2.5)  # one step to the end: one reward
    costs = candidate_costs(_Counter(), None, _Step(), start, actions, torch.Generator())
    torch.testing.assert_close(costs, torch.full((4,), -1.0))
    endless = _Counter()
    endless.terminates = False
    endless.transition_cost = lambda o, a, n, p: -torch.ones(o.shape[0])  # type: ignore[method-assign]
    costs = candidate_costs(endless, None, _Step(), torch.zeros(1), actions, torch.Generator())
    torch.testing.assert_close(costs, torch.full((4,), -10.0))
    nan = _Counter()
    nan.terminates = False  # the NaN costs past state 3 now count: NaN totals cost NAN_COST
    costs = candidate_costs(nan, None, _Step(), torch.zeros(1), actions, torch.Generator())
    torch.testing.assert_close(costs, torch.full((4,), NAN_COST))


def test_the_known_reward_plans_on_the_envs_own_function() -> None:
    """A GymTask's step cost is minus the registered function's reward; the model's input
    leaves out HalfCheetah's x (column 0), its target keeps the change of x."""
    task = make_task("HalfCheetah-v5", dtype=torch.float64)
    assert (task.obs_dim, task.model_in_dim, task.model_out_dim) == (18, 17 + 6, 18)
    obs, nxt = torch.zeros(2, 18, dtype=torch.float64), torch.zeros(2, 18, dtype=torch.float64)
    nxt[:, 0] = torch.tensor([0.1, -0.2])
    act = torch.full((2, 6), 0.5, dtype=torch.float64)
    cost = task.transition_cost(obs, act, nxt, torch.zeros(2, 18))
    # r = Δx / dt − 0.1·‖a‖², dt = 0.05 (gymnasium's HalfCheetah-v5)
    torch.testing.assert_close(cost, -(nxt[:, 0] / 0.05 - 0.1 * 6 * 0.25))
    assert task.obs_preproc(nxt).shape == (2, 17)
    torch.testing.assert_close(task.targ_proc(obs, nxt)[:, 0], nxt[:, 0])


# --- learned outputs ------------------------------------------------------------------------------


def test_the_learned_reward_is_one_more_model_output_that_fits_the_rule() -> None:
    """Rewards r = sin(3·o0) − a0² on random transitions: the ensemble's extra output must
    explain nearly all their variance on held-out states (R² > 0.95)."""
    task = make_task("MountainCarContinuous-v0", reward="learned", dtype=torch.float64)
    assert task.model_out_dim == task.obs_dim + 1
    rng = np.random.default_rng(0)

    def episode(n: int) -> Episode:
        obs = rng.uniform(-1, 1, (n + 1, 2))
        act = rng.uniform(-1, 1, (n, 1))
        return Episode(obs, act, np.sin(3 * obs[:-1, 0]) - act[:, 0] ** 2, 0.0)

    inputs, targets = training_data(task, [episode(1500), episode(500)])
    assert targets.shape == (2000, 3)
    gen = torch.Generator().manual_seed(0)
    model = Ensemble(3, 3, ensemble_size=2, hidden_layers=2, hidden_width=64,
                     weight_decays=(0.0, 0.0, 0.0), probabilistic=True, generator=gen)  # fmt: skip
    fit(model, make_optimizer(model, 3e-3), inputs[:1500], targets[:1500], epochs=60,
        batch_size=64, generator=gen)  # fmt: skip
    with torch.no_grad():
        mean, _ = predict_aggregated(model, inputs[1500:])
    err = (mean[:, 2] - targets[1500:, 2]).square().mean()
    assert float(err / targets[1500:, 2].var()) < 0.05


def test_the_learned_termination_fits_the_rule_and_says_never_before_it_is_trained() -> None:
    gen = torch.Generator().manual_seed(0)
    model = TerminationModel(3, 1, generator=gen)
    x = torch.randn(4000, 7, generator=gen)  # [obs (3), act (1), next_obs (3)]
    ended = (x[:, 4] > 1.2).float()  # terminated iff next_obs[0] > 1.2: ~11 % of rows
    assert not model.terminated(x[:, :3], x[:, 3:4], x[:, 4:]).any()
    assert np.isnan(model.fit(x, torch.zeros(4000), generator=gen))  # no terminal row: no fit
    assert not model.terminated(x[:, :3], x[:, 3:4], x[:, 4:]).any()
    model.fit(x, ended, generator=gen)
    test = torch.randn(4000, 7, generator=gen)
    said = model.terminated(test[:, :3], test[:, 3:4], test[:, 4:])
    truth = test[:, 4] > 1.2
    assert float((said == truth).float().mean()) > 0.97
    assert float((said & truth).sum() / truth.sum()) > 0.9  # the rare class is found
    # 1 % terminal rows (one end per 100-step episode), as few as 19: unweighted, the
    # classifier finds about one in eight ends; with the positives weighted, most of them.
    rare = TerminationModel(3, 1, generator=gen)
    x = torch.randn(2000, 7, generator=gen)
    rare.fit(x, (x[:, 4] > 2.3).float(), generator=gen)
    test = torch.randn(20000, 7, generator=gen)
    said = rare.terminated(test[:, :3], test[:, 3:4], test[:, 4:])
    truth = test[:, 4] > 2.3
    assert float((said & truth).sum() / truth.sum()) > 0.6


# --- logs of rollouts of different lengths -----------------------------------------------------


def test_a_variable_length_logs_mat_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    lengths = [5, 3, 7]
    episodes = [
        Episode(rng.normal(size=(n + 1, 2)), rng.normal(size=(n, 1)), rng.normal(size=n), 0.0)
        for n in lengths
    ]
    path = tmp_path / runlog.LOGS_FILE
    runlog.write_logs(path, episodes, [episodes[1].ret, episodes[2].ret])
    mat = scipy.io.loadmat(path)
    assert mat["observations"].shape == (3, 8, 2) and mat["actions"].shape == (3, 7, 1)
    assert mat["lengths"].tolist() == [lengths]
    for e, n, obs, act, rew in zip(
        episodes, lengths, mat["observations"], mat["actions"], mat["rewards"], strict=True
    ):
        np.testing.assert_array_equal(obs[: n + 1], e.observations)
        np.testing.assert_array_equal(act[:n], e.actions)
        np.testing.assert_array_equal(rew[:n], e.rewards)
        assert np.isnan(obs[n + 1 :]).all() and np.isnan(rew[n:]).all()
    np.testing.assert_allclose(mat["returns"][0], np.nansum(mat["rewards"][1:], axis=1))
    _, task_hor, read_lengths = runlog.read_log_returns(path, remedy="")
    assert task_hor == 7 and read_lengths is not None and read_lengths.tolist() == lengths
    # env steps by the end of iterations 1 and 2 (1 random rollout, 1 per iteration)
    info = RunInfo(tmp_path, "x", "PE", "TSinf", "CEM", 0, task_hor=7, lengths=tuple(lengths))
    assert info.env_steps(np.array([1, 2])).tolist() == [5 + 3, 5 + 3 + 7]


# --- a user's env, end to end -------------------------------------------------------------------


def toy_returns(logs: dict[str, np.ndarray]) -> np.ndarray:
    x = logs["observations"][:, 1:, 0]
    return np.nansum(1.0 - x**2, axis=1)


def test_a_users_env_runs_through_mbexp_aggregate_and_figures(
    toy_env: dict[str, str], tmp_path: Path
) -> None:
    run = tmp_path / "runs" / "toymod:Toy-v0" / "PE-TSinf-CEM" / "seed0"
    proc = run_pets(toy_env, "mbexp", "-env", "toymod:Toy-v0", "-outdir", str(run), "-device",
                    "cpu", *o_flags(TINY))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert (cfg["env"], cfg["reward"], cfg["termination"]) == (
        "toymod:Toy-v0",
        "learned",
        "learned",
    )
    assert cfg["exp_cfg"]["sim_cfg"]["task_hor"] == 30  # the env's TimeLimit
    logs = scipy.io.loadmat(run / "logs.mat")
    lengths = logs["lengths"][0]
    assert len(lengths) == 3 + 3 and lengths.max() <= 30
    assert (lengths < 30).any(), "no random rollout fell off: the test exercises nothing"
    x = logs["observations"][:, :, 0]
    for row, n in zip(x, lengths, strict=True):
        ended = np.abs(row[n]) > 1.0  # the env's own rule on the last state
        assert ended == (n < 30)
        assert not np.isnan(row[: n + 1]).any() and np.isnan(row[n + 1 :]).all()
    np.testing.assert_allclose(np.nansum(logs["rewards"], axis=1), toy_returns(logs), rtol=1e-12)
    np.testing.assert_allclose(logs["returns"][0], toy_returns(logs)[3:], rtol=1e-12)
    with open(run / "progress.csv") as fh:
        steps = [int(r["env_steps"]) for r in csv.DictReader(fh)]
    assert steps == [int(lengths[: 3 + i].sum()) for i in (1, 2, 3)]  # steps actually taken

    tables, figures = tmp_path / "tables", tmp_path / "figures"
    proc = run_pets(toy_env, "aggregate", "--runs", str(tmp_path / "runs"), "--tables", str(tables),
                    "--metrics", str(tmp_path / "metrics.json"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(tables / "returns.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["env"] for r in rows} == {"toymod:Toy-v0"}
    assert [int(r["env_steps"]) for r in rows] == steps
    proc = run_pets(toy_env, "figures", "--tables", str(tables), "--out", str(figures))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (figures / "learning_curves.png").stat().st_size > 0


def test_a_killed_run_of_a_terminating_env_resumes_to_the_same_logs(
    toy_env: dict[str, str], tmp_path: Path
) -> None:
    """SIGKILLed once its first iteration's checkpoint is on disk (with the learned termination
    fitted on the random rollouts' ends), a run of the toy env resumes to the logs.mat of an
    uninterrupted one, bit for bit (same machine)."""
    args = ["mbexp", "-env", "toymod:Toy-v0", "-device", "cpu", *o_flags(TINY)]
    full, killed = tmp_path / "full", tmp_path / "killed"
    assert run_pets(toy_env, *args, "-outdir", str(full)).returncode == 0
    cmd = [sys.executable, "-m", "pets", *args, "-outdir", str(killed)]
    proc = subprocess.Popen(cmd, env=toy_env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        ckpt = killed / runlog.CHECKPOINT_FILE
        if ckpt.is_file() and torch.load(ckpt, weights_only=True)["iteration"] >= 1:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    saved = torch.load(killed / runlog.CHECKPOINT_FILE, weights_only=True)
    assert bool(saved["termination"]["fitted"]), "the random rollouts ended none: nothing tested"
    resumed = run_pets(toy_env, *args, "-outdir", str(killed))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming from iteration" in resumed.stderr
    a, b = scipy.io.loadmat(full / "logs.mat"), scipy.io.loadmat(killed / "logs.mat")
    for key in runlog.LOGS_NDIM:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_the_workflow_plans_gym_ids_and_a_learned_reward_beside_the_known_one(
    toy_env: dict[str, str], tmp_path: Path
) -> None:
    config = {
        "grid": {
            "env": ["toymod:Toy-v0", "Pendulum-v1"],
            "method": [{"model": "PE", "prop": "TSinf"},
                       {"model": "PE", "prop": "TSinf", "reward": "learned",
                        "envs": ["Pendulum-v1"]}],
            "opt": ["CEM"], "seed": [0],
        },
        "results": str(tmp_path / "results"),
        "env_overrides": {"toymod:Toy-v0": {"exp_cfg.exp_cfg.ntrain_iters": 2}},
        "resources": {"toymod:Toy-v0": {"runtime": 7}},
    }  # fmt: skip
    lines, stdout = planned_mbexp_commands(config, tmp_path, toy_env)
    assert len(lines) == 3  # the toy env once, the pendulum with the known and a learned reward
    toy = next(ln for ln in lines if "-env toymod:Toy-v0" in ln)
    assert "/toymod:Toy-v0/PE-TSinf-CEM/seed0" in toy and "ntrain_iters 2" in toy
    learned = [ln for ln in lines if "-ca reward learned" in ln]
    assert len(learned) == 1 and "/Pendulum-v1/PE+R-TSinf-CEM/seed0" in learned[0]
    assert "-ca model-type PE -ca reward learned -ca prop-type TSinf" in learned[0]
    assert "runtime=7" in stdout


def test_render_records_a_rollout_of_a_gym_id(tmp_path: Path) -> None:
    run = tmp_path / "run"
    tiny = [*TINY[2:], ("exp_cfg.exp_cfg.ntrain_iters", "1"), ("exp_cfg.sim_cfg.task_hor", "8"),
            ("exp_cfg.exp_cfg.ninit_rollouts", "1")]  # fmt: skip
    env = "InvertedPendulum-v5"
    assert main(["mbexp", "-env", env, "-outdir", str(run), "-device", "cpu", *o_flags(tiny)]) == 0
    logdir = tmp_path / "render"
    assert main(["render", "-env", env, "-model-dir", str(run), "-logdir", str(logdir),
                 "-device", "cpu", *o_flags(tiny)]) == 0  # fmt: skip
    videos = list(logdir.rglob("rollout0.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 0


def test_an_env_that_cannot_render_is_one_line_before_any_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import gymnasium as gym

    def no_renderer(self: object) -> None:
        raise gym.error.DependencyNotInstalled("pygame is not installed")

    monkeypatch.setattr(gym.Wrapper, "render", no_renderer)
    outdir = tmp_path / "run"
    args = ["mbexp", "-env", "Pendulum-v1", "-outdir", str(outdir), "-o", "exp_cfg.log_cfg.nrecord",
            "1"]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot record videos (pygame is not installed)" in err and len(err.splitlines()) == 1
    assert not outdir.exists()


STANDARD_TASKS = (  # docs/spec/gym-tasks.md: gymnasium's tasks whose rewards pets computes
    "InvertedPendulum-v5", "InvertedDoublePendulum-v5", "Pendulum-v1", "Reacher-v5",
    "Pusher-v5", "HalfCheetah-v5", "Hopper-v5", "Walker2d-v5",
)  # fmt: skip


@pytest.mark.parametrize("env", STANDARD_TASKS)
def test_every_standard_task_runs_with_its_own_reward(env: str, tmp_path: Path) -> None:
    """A tiny run of each: the planner's known reward and termination run inside a real loop,
    and the logs hold what the env returned (returns are the logged rewards' sums)."""
    tiny = [*TINY[2:], ("exp_cfg.exp_cfg.ntrain_iters", "1"), ("exp_cfg.sim_cfg.task_hor", "6"),
            ("exp_cfg.exp_cfg.ninit_rollouts", "1")]  # fmt: skip
    assert main(["mbexp", "-env", env, "-outdir", str(tmp_path), "-device", "cpu",
                 *o_flags(tiny)]) == 0  # fmt: skip
    cfg = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert (cfg["reward"], cfg["termination"]) == ("known", "known")
    logs = scipy.io.loadmat(tmp_path / "logs.mat")
    lengths = logs["lengths"][0]
    assert len(lengths) == 2 and (lengths >= 1).all() and (lengths <= 6).all()
    np.testing.assert_allclose(logs["returns"][0], np.nansum(logs["rewards"][1:], axis=1))
