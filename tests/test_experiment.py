"""End-to-end runs of `pets mbexp` and `pets render` on tiny settings: files, shapes, resume."""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch

from pets import config as c
from pets.cli import main
from pets.run import runlog

OBS_ACT_DIMS = {"cartpole": (4, 1), "reacher": (17, 7), "pusher": (20, 7), "halfcheetah": (18, 6)}
# docs/spec/pets-facts.md §2.1
ACTION_BOUND = {"cartpole": 3.0, "reacher": 20.0, "pusher": 2.0, "halfcheetah": 1.0}

# A planner small enough for seconds per run on a CPU; PE-TSinf needs npart % 5 == 0.
TINY = [
    ("exp_cfg.sim_cfg.task_hor", "12"),
    ("exp_cfg.exp_cfg.ntrain_iters", "2"),
    ("ctrl_cfg.opt_cfg.plan_hor", "2"),
    ("ctrl_cfg.opt_cfg.cfg.popsize", "8"),
    ("ctrl_cfg.opt_cfg.cfg.num_elites", "2"),
    ("ctrl_cfg.opt_cfg.cfg.max_iters", "2"),
    ("ctrl_cfg.prop_cfg.npart", "5"),
    ("ctrl_cfg.prop_cfg.model_train_cfg.epochs", "1"),
]


def o_flags(pairs: list[tuple[str, str]]) -> list[str]:
    return [item for path, value in pairs for item in ("-o", path, value)]


def tiny_args(env: str, outdir: Path, extra: list[tuple[str, str]] = (), seed: int = 0) -> list:
    argv = ["mbexp", "-env", env, "-outdir", str(outdir), "-device", "cpu", "-seed", str(seed)]
    return argv + o_flags([*TINY, *extra])


def load_logs(run_dir: Path) -> dict[str, np.ndarray]:
    mat = scipy.io.loadmat(run_dir / runlog.LOGS_FILE)
    return {k: mat[k] for k in runlog.LOGS_NDIM}


@pytest.mark.parametrize("env", c.ENV_NAMES)
def test_tiny_run_writes_the_original_logs(env: str, tmp_path: Path) -> None:
    assert main(tiny_args(env, tmp_path)) == 0
    logs = load_logs(tmp_path)
    d, a = OBS_ACT_DIMS[env]
    n = 1 + 2  # ninit_rollouts + ntrain_iters · nrollouts_per_iter
    assert logs["observations"].shape == (n, 12 + 1, d)
    assert logs["actions"].shape == (n, 12, a)
    assert logs["rewards"].shape == (n, 12)
    assert logs["returns"].shape == (1, 2)
    # returns are the episode sums of the planned rollouts; the random rollout 0 is excluded
    np.testing.assert_allclose(logs["returns"][0], logs["rewards"][1:].sum(axis=1))
    assert np.abs(logs["actions"]).max() <= ACTION_BOUND[env]
    # the resolved config round-trips and names the method
    stored = runlog.read_config(tmp_path / runlog.CONFIG_FILE)
    assert (stored["env"], stored["model_type"], stored["prop_type"]) == (env, "PE", "TSinf")
    assert c.from_dict(stored).exp_cfg.sim_cfg.task_hor == 12
    with open(tmp_path / runlog.PROGRESS_FILE) as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == runlog.PROGRESS_COLUMNS
    assert [int(r["env_steps"]) for r in rows] == [24, 36]  # random rollout included
    returns = logs["returns"][0]
    np.testing.assert_allclose(
        [float(r["max_return"]) for r in rows], np.maximum.accumulate(returns)
    )
    assert (tmp_path / runlog.MODEL_FILE).is_file()


def test_every_method_and_random_shooting_run(tmp_path: Path) -> None:
    valid = [(m, p) for m, props in c.ALLOWED_PROPS.items() for p in props]
    for model, prop in valid:
        if model == "GP":  # its tiny runs are in tests/test_gp_runs.py
            continue
        out = tmp_path / f"{model}-{prop}"
        short = [("exp_cfg.exp_cfg.ntrain_iters", "1"), ("exp_cfg.sim_cfg.task_hor", "4")]
        argv = tiny_args("cartpole", out, short)
        argv += ["-ca", "model-type", model, "-ca", "prop-type", prop]
        if prop == "E":  # E fixes npart to one particle (read-only)
            i = argv.index("ctrl_cfg.prop_cfg.npart")
            del argv[i - 1 : i + 2]
        assert main(argv) == 0, (model, prop)
        assert load_logs(out)["returns"].shape == (1, 1)
    out = tmp_path / "random"
    argv = ["mbexp", "-env", "cartpole", "-outdir", str(out), "-device", "cpu", "-ca", "opt-type",
            "Random", "-o", "ctrl_cfg.opt_cfg.cfg.popsize", "8"]  # fmt: skip
    argv += o_flags([(p, v) for p, v in TINY if "cfg.cfg" not in p])
    assert main(argv) == 0
    assert load_logs(out)["returns"].shape == (1, 2)


def test_logging_options_write_predictions_and_per_iteration_models(tmp_path: Path) -> None:
    extra = [
        ("ctrl_cfg.log_cfg.log_traj_preds", "True"),
        ("ctrl_cfg.log_cfg.log_particles", "True"),
        ("ctrl_cfg.log_cfg.save_all_models", "True"),
        ("exp_cfg.sim_cfg.stochastic", "True"),
        ("exp_cfg.sim_cfg.noise_std", "0.5"),
    ]
    assert main(tiny_args("pusher", tmp_path, extra)) == 0
    for i in (1, 2):
        preds = scipy.io.loadmat(tmp_path / f"train_iter{i}" / runlog.PREDICTIONS_FILE)
        # docs/spec/pets-facts.md §6.7: per step, H+1 predicted states (start first) of P
        # particles; here T=12, H=2, P=5, d=20; means/vars are their moments over particles.
        assert preds["predictions"].shape == (12, 3, 5, 20)
        assert preds["means"].shape == preds["vars"].shape == (12, 3, 20)
        np.testing.assert_allclose(preds["means"], preds["predictions"].mean(axis=2), atol=1e-6)
        # the start state of every prediction is the observation the action was chosen at
        obs = load_logs(tmp_path)["observations"][i, :-1]
        np.testing.assert_allclose(preds["predictions"][:, 0, 0], obs, rtol=1e-5, atol=1e-6)
        assert (tmp_path / f"train_iter{i}" / runlog.MODEL_FILE).is_file()
    assert np.abs(load_logs(tmp_path)["actions"]).max() <= ACTION_BOUND["pusher"]


def test_same_seed_same_logs_and_other_seed_differs(tmp_path: Path) -> None:
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        assert main(tiny_args("cartpole", tmp_path / name, seed=seed)) == 0
    a, b, c_ = (load_logs(tmp_path / n) for n in "abc")
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["actions"], c_["actions"])


def test_finished_run_does_nothing_and_says_so(tmp_path: Path, capsys, caplog) -> None:
    argv = tiny_args("cartpole", tmp_path, [("exp_cfg.exp_cfg.ntrain_iters", "1")])
    assert main(argv) == 0
    before = (tmp_path / runlog.LOGS_FILE).stat().st_mtime_ns
    caplog.set_level("INFO")
    assert main(argv) == 0
    assert "already finished; nothing to do" in caplog.text
    assert (tmp_path / runlog.LOGS_FILE).stat().st_mtime_ns == before
    # Snakemake deletes the declared output before re-running a job: it comes back, identical;
    # so do the run's other outputs when they are gone too.
    logs = load_logs(tmp_path)
    progress = (tmp_path / runlog.PROGRESS_FILE).read_bytes()
    for name in (runlog.LOGS_FILE, runlog.PROGRESS_FILE, runlog.MODEL_FILE):
        (tmp_path / name).unlink()
    assert main(argv) == 0
    for key, value in load_logs(tmp_path).items():
        np.testing.assert_array_equal(value, logs[key])
    assert (tmp_path / runlog.PROGRESS_FILE).read_bytes() == progress
    assert (tmp_path / runlog.MODEL_FILE).is_file()


@pytest.mark.parametrize(
    ("extra", "seed"),
    [([("ctrl_cfg.opt_cfg.plan_hor", "4")], 0), ([], 1)],
    ids=["plan_hor", "seed"],
)
def test_outdir_with_another_config_is_refused(
    tmp_path: Path, capsys, extra: list[tuple[str, str]], seed: int
) -> None:
    # One setting differs from the finished run's (a resume must not mix planners or seeds).
    one = [("exp_cfg.exp_cfg.ntrain_iters", "1")]
    assert main(tiny_args("cartpole", tmp_path, one)) == 0
    code = main(tiny_args("cartpole", tmp_path, one + extra, seed=seed))
    assert code == 2
    assert "different configuration" in capsys.readouterr().err


def test_logdir_gets_a_fresh_timestamped_directory_per_run(tmp_path: Path) -> None:
    from pets.run.experiment import new_run_dir

    first, second = new_run_dir(tmp_path), new_run_dir(tmp_path)
    assert first != second and first.parent == second.parent == tmp_path
    # the original's name, exactly, for the first run of a second: YYYY-MM-DD--HH:MM:SS
    assert re.fullmatch(r"\d{4}-\d\d-\d\d--\d\d:\d\d:\d\d", first.name), first.name


def test_progress_times_are_real_durations(tmp_path: Path) -> None:
    """progress.csv's train and plan seconds lie between 0 and the run's wall time (survivors of
    the mutation score: `perf_counter() - start` turned into `+ start`)."""
    start = time.monotonic()
    assert main(tiny_args("cartpole", tmp_path, [("exp_cfg.exp_cfg.ntrain_iters", "2")])) == 0
    wall = time.monotonic() - start
    with open(tmp_path / runlog.PROGRESS_FILE, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2
    for row in rows:
        for key in ("train_seconds", "plan_seconds"):
            assert 0.0 < float(row[key]) < wall, (key, row[key], wall)


def test_temporary_files_left_by_a_killed_write_are_removed_when_the_run_restarts(
    tmp_path: Path,
) -> None:
    # The names pets.util.fileio.atomic_path gives (".<stem>.<random>.tmp<suffix>"), as a SIGKILL
    # in the middle of a write leaves them; a kill's timing makes them rare in the kill test below.
    stale = [tmp_path / ".logs.k2j4x8.tmp.mat", tmp_path / ".checkpoint.q0z1.tmp.pt"]
    for path in stale:
        path.write_bytes(b"partial")
    assert main(tiny_args("cartpole", tmp_path, [("exp_cfg.exp_cfg.ntrain_iters", "1")])) == 0
    assert not any(path.exists() for path in stale)
    assert load_logs(tmp_path)["returns"].shape == (1, 1)


def checkpoint_iteration(run_dir: Path) -> int:
    """The iteration of the run's checkpoint (raises if there is none: it is written whole)."""
    return int(torch.load(run_dir / runlog.CHECKPOINT_FILE, weights_only=True)["iteration"])


def progress_rows(run_dir: Path) -> int:
    """Rows of the run's progress.csv (finished iterations), 0 before the first."""
    path = run_dir / runlog.PROGRESS_FILE
    return len(path.read_text().splitlines()) - 1 if path.is_file() else 0


@pytest.mark.parametrize(
    "finished",
    [
        lambda run_dir: progress_rows(run_dir) >= 1,
        lambda run_dir: (
            (run_dir / runlog.CHECKPOINT_FILE).is_file() and checkpoint_iteration(run_dir) >= 1
        ),
    ],
    ids=["row1", "checkpoint1"],
)
def test_killed_run_resumes_to_the_same_logs(
    tmp_path: Path, finished: Callable[[Path], bool]
) -> None:
    """SIGKILL a run after its first finished iteration; restarting it must end bit-identical.

    Killed as soon as progress row 1 appears, the run resumes from the random rollouts'
    checkpoint; killed once iteration 1's checkpoint is on disk, it resumes from that one (what
    a run killed later in its life does), so the checkpoint must hold that iteration's trained
    model and data.
    """
    extra = [("exp_cfg.exp_cfg.ntrain_iters", "3"), ("exp_cfg.sim_cfg.task_hor", "15")]
    full, killed = tmp_path / "full", tmp_path / "killed"
    assert main(tiny_args("cartpole", full, extra)) == 0

    cmd = [sys.executable, "-m", "pets", *tiny_args("cartpole", killed, extra)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if finished(killed):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    # whatever the kill interrupted, the visible files are whole (temp files are cleaned up)
    assert load_logs(killed)["returns"].shape[1] >= 1

    resumed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from iteration" in resumed.stderr
    assert not list(killed.rglob(".*.tmp*")), "a temporary file was left behind"
    a, b = load_logs(full), load_logs(killed)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
