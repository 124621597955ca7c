"""A real `pets mbexp` stopped by SIGTERM/SIGINT, or by a full disk, keeps its last finished
iteration, says so in one line, and the same command resumes it.

The full disk is a real 256 MiB tmpfs filled while the run is paused (SIGSTOP); where mounting
is impossible (not root, no CAP_SYS_ADMIN) that test says so and skips, and a monkeypatched
write raising ENOSPC covers the same path in-process instead.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from test_experiment import checkpoint_iteration, load_logs, progress_rows, tiny_args

from pets.cli import main

THREE_ITERS = [("exp_cfg.exp_cfg.ntrain_iters", "3"), ("exp_cfg.sim_cfg.task_hor", "5")]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def command(run_dir: Path) -> list[str]:
    return [sys.executable, "-m", "pets", *tiny_args("cartpole", run_dir, THREE_ITERS)]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    """logs.mat of the same run, never interrupted."""
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    assert main(tiny_args("cartpole", run_dir, THREE_ITERS)) == 0
    return load_logs(run_dir)


def start_and_wait_for_iteration_1(run_dir: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(command(run_dir), env=ENV, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if progress_rows(run_dir) >= 1:
            return proc
        time.sleep(0.02)
    proc.kill()
    raise AssertionError("the run never finished iteration 1")


def assert_resumes_to(run_dir: Path, reference: dict[str, np.ndarray]) -> None:
    resumed = subprocess.run(command(run_dir), env=ENV, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from iteration" in resumed.stderr
    logs = load_logs(run_dir)
    for key, value in reference.items():
        np.testing.assert_array_equal(logs[key], value, err_msg=key)


def test_sigterm_stops_at_once_keeps_the_last_iteration_and_the_same_command_resumes(
    tmp_path: Path, reference: dict[str, np.ndarray], capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "run"
    proc = start_and_wait_for_iteration_1(run_dir)
    # meanwhile a second `pets mbexp` on the same directory is refused at once
    assert main(tiny_args("cartpole", run_dir, THREE_ITERS)) == 2
    second = capsys.readouterr().err.strip().splitlines()
    assert second == [
        f"pets mbexp: error: {run_dir} is in use by process {proc.pid} (a run directory belongs "
        "to one process); wait for it to end or choose another output directory"
    ]
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM == 143, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    match = re.fullmatch(
        rf"pets mbexp: stopped by SIGTERM at iteration (\d)/3 in {re.escape(str(run_dir))} "
        r"\((\d) finished and kept\); the same command resumes it",
        last,
    )
    assert match, last
    at, kept = int(match[1]), int(match[2])
    assert at == kept + 1 and kept == checkpoint_iteration(run_dir)
    assert not list(run_dir.rglob(".*.tmp*"))  # no half-written file left behind
    # what logs.mat holds (the kept iterations, maybe one more) is what the uninterrupted run logged
    returns = load_logs(run_dir)["returns"]
    assert returns.shape[1] >= kept
    np.testing.assert_array_equal(returns, reference["returns"][:, : returns.shape[1]])
    assert_resumes_to(run_dir, reference)


@pytest.mark.slow
def test_sigint_stops_with_exit_130_and_one_line(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = start_and_wait_for_iteration_1(run_dir)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert err.strip().splitlines()[-1].startswith("pets mbexp: stopped by SIGINT at iteration ")


# --- a full disk -------------------------------------------------------------------------------


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "tmpfs"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", str(mount_point)],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs ({done.stderr.strip()}); the mocked ENOSPC test runs")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(directory: Path) -> Path:
    ballast = directory / "ballast"
    with open(ballast, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * (1 << 20))
                fh.flush()
        except OSError as err:
            assert err.errno == errno.ENOSPC
    return ballast


def assert_write_error_keeps_the_run(err: str, run_dir: Path) -> int:
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert line.startswith("pets mbexp: error: "), line
    assert "[Errno 28] No space left on device" in line and str(run_dir) in line
    assert not list(run_dir.rglob(".*.tmp*"))  # the failed write cleaned up after itself
    kept = checkpoint_iteration(run_dir)  # loads: the checkpoint is whole
    assert len(load_logs(run_dir)["returns"][0]) >= kept  # logs.mat is whole too
    return kept


def test_a_full_disk_is_one_line_exit_1_and_resumes_once_space_is_freed(
    tmpfs: Path, reference: dict[str, np.ndarray]
) -> None:
    run_dir = tmpfs / "run"
    proc = start_and_wait_for_iteration_1(run_dir)
    proc.send_signal(signal.SIGSTOP)  # fill the disk while the run cannot write
    ballast = fill(tmpfs)
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert_write_error_keeps_the_run(err, run_dir)
    ballast.unlink()
    assert_resumes_to(run_dir, reference)


def test_mocked_enospc_is_one_line_exit_1_and_resumes(
    tmp_path: Path,
    reference: dict[str, np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import pets.util.torchfile

    if not _mount_fails():
        pytest.skip("a tmpfs mounts here: the real full-disk test covers ENOSPC")
    real_save, calls = torch.save, []

    def save_then_fill_up(obj: object, fh: object) -> None:
        calls.append(1)
        if len(calls) == 4:  # model.pt of iteration 2: a half-written file, then a full disk
            fh.write(b"partial")  # type: ignore[attr-defined]
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_save(obj, fh)

    monkeypatch.setattr(pets.util.torchfile.torch, "save", save_then_fill_up)
    run_dir = tmp_path / "run"
    assert main(tiny_args("cartpole", run_dir, THREE_ITERS)) == 1
    assert assert_write_error_keeps_the_run(capsys.readouterr().err, run_dir) == 1
    monkeypatch.setattr(pets.util.torchfile.torch, "save", real_save)
    assert_resumes_to(run_dir, reference)


def _mount_fails() -> bool:
    probe = Path(os.environ.get("TMPDIR", "/tmp")) / f"pets-tmpfs-probe-{os.getpid()}"
    probe.mkdir(exist_ok=True)
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(probe)], capture_output=True
        )
        if done.returncode == 0:
            subprocess.run(["umount", str(probe)], check=False)
        return done.returncode != 0
    finally:
        shutil.rmtree(probe, ignore_errors=True)
