"""Options shown to have their effect (docs/spec/pets-facts.md §7): each test fails if the option is
parsed but ignored. Oracles: a replay of the logged actions in a fresh env, logs.mat shapes and
row sums, the saved model's weights, and the workflow's generated `pets mbexp` command lines.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
import yaml

from pets.cli import main
from pets.envs import make_env
from pets.models import load_model, saving

REPO = Path(__file__).resolve().parents[1]
TINY = [
    ("exp_cfg.sim_cfg.task_hor", "8"),
    ("exp_cfg.exp_cfg.ntrain_iters", "2"),
    ("ctrl_cfg.opt_cfg.plan_hor", "2"),
    ("ctrl_cfg.opt_cfg.cfg.popsize", "8"),
    ("ctrl_cfg.opt_cfg.cfg.num_elites", "2"),
    ("ctrl_cfg.opt_cfg.cfg.max_iters", "1"),
    ("ctrl_cfg.prop_cfg.npart", "5"),
    ("ctrl_cfg.prop_cfg.model_train_cfg.epochs", "1"),
]


def mbexp(outdir: Path, extra: list[tuple[str, str]] = (), env: str = "cartpole") -> dict:
    argv = ["mbexp", "-env", env, "-outdir", str(outdir), "-device", "cpu", "-seed", "0"]
    pairs = dict(TINY) | dict(extra)
    argv += [x for p, v in pairs.items() for x in ("-o", p, v)]
    assert main(argv) == 0
    mat = scipy.io.loadmat(outdir / "logs.mat")
    return {k: mat[k] for k in ("observations", "actions", "rewards", "returns")}


def _replay_first_episode(logs: dict) -> np.ndarray:
    """Observations of the logged actions replayed in a fresh env seeded as the run seeds it."""
    env = make_env("cartpole")
    env.reset(seed=0)  # the run's seeding reset; its first episode starts at the next reset
    obs, _ = env.reset()
    out = [obs]
    for a in logs["actions"][0]:
        obs, *_ = env.step(a.astype(np.float32))
        out.append(obs)
    return np.asarray(out)


def test_action_noise_changes_the_executed_actions(tmp_path: Path) -> None:
    clean = mbexp(tmp_path / "clean", [("exp_cfg.exp_cfg.ntrain_iters", "1")])
    replay = _replay_first_episode(clean)
    np.testing.assert_allclose(replay, clean["observations"][0], rtol=1e-9, atol=1e-12)
    noisy_cfg = [("exp_cfg.exp_cfg.ntrain_iters", "1"), ("exp_cfg.sim_cfg.stochastic", "True"),
                 ("exp_cfg.sim_cfg.noise_std", "1.0")]  # fmt: skip
    noisy = mbexp(tmp_path / "noisy", noisy_cfg)
    # the logged actions are the noiseless ones, so replaying them misses the executed path
    assert np.abs(noisy["actions"]).max() <= 3.0
    drift = np.abs(_replay_first_episode(noisy) - noisy["observations"][0]).max()
    assert drift > 1e-3


def test_neval_above_nrollouts_logs_more_returns_than_training_rollouts(tmp_path: Path) -> None:
    logs = mbexp(tmp_path, [("exp_cfg.log_cfg.neval", "2")])
    assert logs["returns"].shape == (1, 4)  # 2 iterations × neval 2
    assert logs["observations"].shape[0] == 1 + 2  # ninit + iterations × nrollouts_per_iter 1
    # the first evaluation rollout of each iteration is the training rollout that is logged
    np.testing.assert_allclose(logs["returns"][0, [0, 2]], logs["rewards"][1:].sum(axis=1))
    # progress.csv: env steps count the rollouts the model learns from, (ninit + i)·T (spec
    # §7), not the evaluation rollouts; the iteration's return is the mean of its evaluations.
    with open(tmp_path / "progress.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    t = logs["rewards"].shape[1]
    assert [int(r["env_steps"]) for r in rows] == [(1 + 1) * t, (1 + 2) * t]
    means = logs["returns"][0].reshape(2, 2).mean(axis=1)
    np.testing.assert_allclose([float(r["episode_return"]) for r in rows], means, rtol=1e-12)


def test_nrollouts_above_neval_trains_on_more_rollouts_than_it_logs(tmp_path: Path) -> None:
    logs = mbexp(tmp_path, [("exp_cfg.exp_cfg.nrollouts_per_iter", "2")])
    assert logs["observations"].shape[0] == 1 + 2 * 2
    assert logs["returns"].shape == (1, 2)
    np.testing.assert_allclose(logs["returns"][0], logs["rewards"][[1, 3]].sum(axis=1))


def test_mbexp_load_model_and_model_pretrained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = tmp_path / "first"
    mbexp(first, [("exp_cfg.exp_cfg.ntrain_iters", "1")])
    second = tmp_path / "second"
    reads: list[Path] = []
    real_load = saving.load_torch

    def counting_load(path: Path, **kwargs: object) -> object:
        reads.append(Path(path))
        return real_load(path, **kwargs)

    monkeypatch.setattr(saving, "load_torch", counting_load)
    mbexp(second, [
        ("exp_cfg.exp_cfg.ntrain_iters", "1"), ("exp_cfg.exp_cfg.ninit_rollouts", "0"),
        ("ctrl_cfg.prop_cfg.model_init_cfg.model_dir", str(first)),
        ("ctrl_cfg.prop_cfg.model_init_cfg.load_model", "True"),
        ("ctrl_cfg.prop_cfg.model_pretrained", "True"),
        ("ctrl_cfg.log_cfg.log_traj_preds", "True"),
    ])  # fmt: skip
    assert reads.count(first / "model.pt") == 1  # validated once and handed to the run
    # one iteration, no training after the last: the saved model is the loaded one
    a, _ = load_model(first / "model.pt", device="cpu")
    b, _ = load_model(second / "model.pt", device="cpu")
    for key, value in a.state_dict().items():
        torch.testing.assert_close(b.state_dict()[key], value, msg=key)
    # model_pretrained: the MPC (not the random policy) acted in the first rollout, so the
    # planner's trajectory predictions were logged
    assert (second / "train_iter1" / "predictions.mat").is_file()


def test_nrecord_writes_one_video_per_iteration_from_mbexp(tmp_path: Path) -> None:
    from pets.envs.rendering import INSTALL_HINT, available_gl_backend, ensure_gl_backend

    if available_gl_backend() is None:  # the only reason to skip, decided before running
        pytest.skip(f"no OpenGL backend (EGL/OSMesa) can create a context; {INSTALL_HINT}")
    ensure_gl_backend()
    import imageio.v2 as imageio

    mbexp(tmp_path, [("exp_cfg.log_cfg.nrecord", "1")])
    for i in (1, 2):
        (video,) = (tmp_path / f"train_iter{i}").glob("*.mp4")
        assert video.name == "rollout0.mp4"
        frames = np.stack(imageio.mimread(video, memtest=False))
        assert frames.shape[0] == 8
        assert np.any(frames[0] != frames[-1], axis=-1).mean() > 0.001  # the model moves


@pytest.mark.workflow
def test_workflow_per_env_override_wins_over_the_global_one(tmp_path: Path) -> None:
    config = {
        "grid": {"env": ["cartpole", "pusher"], "method": [{"model": "PE", "prop": "TSinf"}],
                 "opt": ["CEM"], "seed": [0]},
        "device": "cpu",
        "overrides": {"exp_cfg.sim_cfg.task_hor": 5, "ctrl_cfg.opt_cfg.plan_hor": 3},
        "env_overrides": {"cartpole": {"exp_cfg.sim_cfg.task_hor": 7}},
    }  # fmt: skip
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    args = [sys.executable, "-m", "snakemake", "--dry-run", "--printshellcmds", "--cores", "2"]
    proc = subprocess.run([*args, "--configfile", str(path)], cwd=REPO, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    commands = [line for line in proc.stdout.splitlines() if "pets mbexp" in line]
    by_env = {env: [c for c in commands if f"-env {env}" in c] for env in ("cartpole", "pusher")}
    assert len(by_env["cartpole"]) == 1 and len(by_env["pusher"]) == 1, commands
    assert "-o exp_cfg.sim_cfg.task_hor 7" in by_env["cartpole"][0]
    assert "-o exp_cfg.sim_cfg.task_hor 5" not in by_env["cartpole"][0]
    assert "-o exp_cfg.sim_cfg.task_hor 5" in by_env["pusher"][0]
    assert all("-o ctrl_cfg.opt_cfg.plan_hor 3" in c for c in commands)
