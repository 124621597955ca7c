"""`-precision fp32|tf32`: validated, recorded in config.yaml, ignored on the CPU, resumable."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from scipy.io import loadmat
from tiny_runs import tiny_cartpole_run

from pets.cli import main
from pets.config import ConfigError, build_config, from_dict, to_dict
from pets.run import runlog
from pets.util.precision import set_precision

IGNORED = "-precision tf32 has no effect on the CPU"


@pytest.fixture(autouse=True)
def restore_matmul_precision() -> Iterator[None]:
    before = torch.get_float32_matmul_precision()
    threads = torch.get_num_threads()
    yield
    torch.set_float32_matmul_precision(before)
    torch.set_num_threads(threads)


def run(outdir: Path, *flags: str) -> dict:
    return tiny_cartpole_run(outdir, "-threads", "1", *flags)


def test_default_is_fp32_and_recorded(tmp_path: Path) -> None:
    assert run(tmp_path)["precision"] == "fp32"


def test_tf32_on_the_cpu_is_recorded_ignored_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Ignored: the global matmul setting stays "highest", so the run is an fp32 run.
    with caplog.at_level(logging.INFO, logger="pets"):
        stored = run(tmp_path, "-precision", "tf32")
    assert stored["precision"] == "tf32"
    assert torch.get_float32_matmul_precision() == "highest"
    assert sum(IGNORED in r.getMessage() for r in caplog.records) == 1


def test_cpu_results_do_not_depend_on_the_flag(tmp_path: Path) -> None:
    run(tmp_path / "a")
    run(tmp_path / "b", "-precision", "tf32")
    logs = [loadmat(tmp_path / d / runlog.LOGS_FILE) for d in "ab"]
    for key in ("observations", "actions", "rewards", "returns"):
        assert (logs[0][key] == logs[1][key]).all()


@pytest.mark.parametrize("bad", ["fp16", "TF32", "BF16", ""])
def test_bad_precision_is_one_line_error(bad: str, capsys: pytest.CaptureFixture) -> None:
    code = main(["mbexp", "-env", "cartpole", "-device", "cpu", "-precision", bad])
    err = capsys.readouterr().err
    assert code == 2
    assert err == f"pets mbexp: error: -precision {bad!r} is not one of fp32, tf32, bf16\n"


def test_config_round_trip_and_old_configs_default_to_fp32() -> None:
    cfg = build_config("cartpole", precision="tf32")
    assert from_dict(to_dict(cfg)).precision == "tf32"
    old = to_dict(cfg)
    del old["precision"]  # a config.yaml written before the flag existed
    assert from_dict(old).precision == "fp32"
    with pytest.raises(ConfigError, match="-precision 'fp64'"):
        build_config("cartpole", precision="fp64")


def test_resume_with_another_precision_continues_the_same_run(tmp_path: Path) -> None:
    run(tmp_path, "-precision", "tf32")
    (tmp_path / runlog.LOGS_FILE).unlink()  # as Snakemake does before re-running a job
    stored = run(tmp_path, "-precision", "fp32")  # not "a run with a different configuration"
    assert stored["precision"] == "tf32"  # the run's own record is kept
    assert (tmp_path / runlog.LOGS_FILE).is_file()


def test_set_precision_leaves_the_cpu_alone() -> None:
    torch.set_float32_matmul_precision("highest")
    assert set_precision("tf32", torch.device("cpu")) is False
    assert torch.get_float32_matmul_precision() == "highest"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_set_precision_switches_cuda_matmuls() -> None:
    assert set_precision("tf32", torch.device("cuda")) is True
    assert torch.get_float32_matmul_precision() == "high"
    assert set_precision("fp32", torch.device("cuda")) is False
    assert torch.get_float32_matmul_precision() == "highest"
