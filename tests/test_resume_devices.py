"""A run resumed on another device than the one its checkpoint was saved on.

A CUDA generator's state is 16 bytes and a CPU one's 5056; neither loads into the other, so a
checkpoint's device streams are reseeded from the run's seed and iteration when the device
changes. On the CPU a 16-byte uint8 tensor stands for a CUDA generator's state. Oracles: the
saved streams' own next draws (same device: exact), and for a reseed the properties it must
have (the same on every resume, other per iteration and per seed, not the run's first streams).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from test_experiment import load_logs, tiny_args

from pets import experiment, runlog
from pets.building import Rngs, make_rngs
from pets.cli import main

CPU = torch.device("cpu")
CUDA_STATE = torch.zeros(16, dtype=torch.uint8)  # seed and offset, as torch's CUDA generator
RESEED_LOG = "no longer bit-identical"


def _draws(rngs: Rngs) -> dict[str, np.ndarray]:
    """The next values of every stream (advances them)."""
    return {
        "actions": rngs.actions.random(3),
        "train": torch.rand(3, generator=rngs.train).numpy(),
        "plan": torch.rand(3, generator=rngs.plan).numpy(),
        "torch_global": torch.rand(3).numpy(),
    }


def _saved_on_cuda(state: dict, *, with_devices: bool) -> dict:
    moved = {**state, "train": CUDA_STATE.clone(), "plan": CUDA_STATE.clone()}
    if with_devices:
        moved["devices"] = {"train": "cuda:0", "plan": "cuda:0"}
    else:
        moved.pop("devices")
    return moved


def _used_rngs(seed: int) -> tuple[Rngs, dict]:
    """Streams of seed `seed` after some use, and their state."""
    rngs = make_rngs(seed, CPU)
    _draws(rngs)
    return rngs, rngs.state()


@pytest.mark.parametrize("with_devices", [True, False], ids=["devices", "older-checkpoint"])
def test_streams_saved_on_the_same_device_continue_exactly(
    with_devices: bool, caplog: pytest.LogCaptureFixture
) -> None:
    rngs, state = _used_rngs(0)
    assert state["devices"] == {"train": "cpu", "plan": "cpu"}
    if not with_devices:
        state.pop("devices")
    expected = _draws(rngs)
    restored = make_rngs(0, CPU)
    with caplog.at_level(logging.INFO, logger="pets"):
        restored.restore(state, iteration=4)
    for name, values in _draws(restored).items():
        np.testing.assert_array_equal(values, expected[name], err_msg=name)
    assert not [r for r in caplog.records if RESEED_LOG in r.getMessage()]


@pytest.mark.parametrize("with_devices", [True, False], ids=["devices", "older-checkpoint"])
def test_streams_saved_on_cuda_are_reseeded_from_seed_and_iteration_on_the_cpu(
    with_devices: bool, caplog: pytest.LogCaptureFixture
) -> None:
    rngs, state = _used_rngs(0)
    expected = _draws(rngs)
    moved = _saved_on_cuda(state, with_devices=with_devices)

    def resumed(seed: int, iteration: int) -> dict[str, np.ndarray]:
        fresh = make_rngs(seed, CPU)
        fresh.restore(moved, iteration=iteration)
        return _draws(fresh)

    with caplog.at_level(logging.INFO, logger="pets"):
        first = resumed(0, 2)
    lines = [r.getMessage() for r in caplog.records if RESEED_LOG in r.getMessage()]
    assert len(lines) == 1 and "\n" not in lines[0]
    assert "seed 0 and iteration 2" in lines[0] and "on cpu" in lines[0]
    assert ("cuda:0" in lines[0]) == with_devices
    # host streams as saved; device streams the same on every resume, other per iteration and
    # per seed, and not a restart of the run's own first streams
    for name in ("actions", "torch_global"):
        np.testing.assert_array_equal(first[name], expected[name], err_msg=name)
    again, later, other_seed = resumed(0, 2), resumed(0, 3), resumed(1, 2)
    start = _draws(make_rngs(0, CPU))
    for name in ("train", "plan"):
        np.testing.assert_array_equal(again[name], first[name], err_msg=name)
        for other in (later, other_seed, start):
            assert not np.array_equal(other[name], first[name]), name
    assert not np.array_equal(first["train"], first["plan"])


def test_a_run_killed_on_cuda_resumes_on_the_cpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A run stopped after iteration 1, its checkpoint made to look CUDA-made (16-byte generator
    # states, devices cuda:0), resumed with -device cpu: it finishes, says once that it is no
    # longer bit-identical, and two such resumes give the same logs.
    extra = [("exp_cfg.exp_cfg.ntrain_iters", "2"), ("exp_cfg.sim_cfg.task_hor", "6")]
    stopped = tmp_path / "stopped"
    save = experiment._Run.checkpoint

    def save_then_stop(self: experiment._Run, state: experiment.RunState) -> None:
        save(self, state)
        if state.iteration == 1:
            raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(experiment._Run, "checkpoint", save_then_stop)
        assert main(tiny_args("cartpole", stopped, extra)) == 130
    ckpt_path = stopped / runlog.CHECKPOINT_FILE
    ckpt = torch.load(ckpt_path, weights_only=True)
    assert ckpt["iteration"] == 1
    ckpt["rngs"] = _saved_on_cuda(ckpt["rngs"], with_devices=True)
    torch.save(ckpt, ckpt_path)

    runs = [tmp_path / "a", tmp_path / "b"]
    for run in runs:
        shutil.copytree(stopped, run)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="pets"):
            assert main(tiny_args("cartpole", run, extra)) == 0
        assert sum(RESEED_LOG in r.getMessage() for r in caplog.records) == 1
        assert load_logs(run)["returns"].shape == (1, 2)
    a, b = load_logs(runs[0]), load_logs(runs[1])
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


# --- CUDA (skipped without it) ------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_streams_move_between_cpu_and_cuda_both_ways() -> None:
    cuda = torch.device("cuda")
    for saved_on, resumed_on in ((CPU, cuda), (cuda, CPU), (cuda, cuda)):
        rngs = make_rngs(0, saved_on)
        torch.rand(3, generator=rngs.plan, device=saved_on)
        state = rngs.state()
        expected = torch.rand(3, generator=rngs.plan, device=saved_on).cpu()
        restored = make_rngs(0, resumed_on)
        restored.restore(state, iteration=2)
        got = torch.rand(3, generator=restored.plan, device=resumed_on).cpu()
        assert torch.equal(got, expected) == (saved_on == resumed_on), (saved_on, resumed_on)
