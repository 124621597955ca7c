"""CPU threads: a run uses exactly the threads it is given and records them in config.yaml."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from tiny_runs import tiny_cartpole_run

from pets.run import runlog


@pytest.fixture(autouse=True)
def restore_threads() -> Iterator[None]:
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def run(outdir: Path, *flags: str) -> dict:
    return tiny_cartpole_run(outdir, *flags)


def test_threads_flag_sets_torch_and_is_recorded(tmp_path: Path) -> None:
    torch.set_num_threads(3)  # as if the environment had asked for more
    stored = run(tmp_path, "-threads", "1")
    assert stored["threads"] == 1
    assert torch.get_num_threads() == 1


def test_default_is_every_core_the_process_may_use(tmp_path: Path) -> None:
    torch.set_num_threads(7)
    stored = run(tmp_path)
    cores = len(os.sched_getaffinity(0))  # the cgroup / taskset / SLURM allocation
    assert stored["threads"] == cores
    assert torch.get_num_threads() == cores


def test_resume_with_other_threads_continues_the_same_run(tmp_path: Path) -> None:
    run(tmp_path, "-threads", "1")
    (tmp_path / runlog.LOGS_FILE).unlink()  # as Snakemake does before re-running a job
    stored = run(tmp_path, "-threads", "2")  # not "a run with a different configuration"
    assert stored["threads"] == 1  # the run's own record is kept
    assert (tmp_path / runlog.LOGS_FILE).is_file()
