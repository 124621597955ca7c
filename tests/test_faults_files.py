"""Damaged or foreign files and a run directory in use: one line, exit 2, nothing changed.

Each damaged file is written by the test (truncated copies, random bytes, a zip of other
content, a torch file with missing keys, YAML that is not a mapping); a second process holding
the lock is a real subprocess.
"""

from __future__ import annotations

import errno
import io
import os
import pickle
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from test_experiment import TINY, o_flags, tiny_args

from pets.cli import main
from pets.errors import DamagedFileError, WriteError
from pets.models import load_model
from pets.run import runlog
from pets.util.runlock import LOCK_FILE, run_lock

ONE_ITER = [("exp_cfg.exp_cfg.ntrain_iters", "1"), ("exp_cfg.sim_cfg.task_hor", "5")]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    assert main(tiny_args("cartpole", run_dir, ONE_ITER)) == 0
    return run_dir


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def one_error_line(err: str, command: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"pets {command}: error: "), lines[0]
    assert "Traceback" not in err
    return lines[0]


def zip_of_other_content() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("notes/readme.txt", "not a torch file")
    return buf.getvalue()


def torch_bytes(obj: object) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


class _TouchOnLoad:
    """Unpickling it creates a file: proof that a full (unsafe) unpickler ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.marker,))


def damaged_torch_files(good: bytes, marker: Path) -> dict[str, bytes]:
    return {
        "truncated": good[: len(good) // 2],
        "empty": b"",
        "random-bytes": os.urandom(4096),
        "zip-of-other-content": zip_of_other_content(),
        "missing-keys": torch_bytes({"iteration": 1, "returns": [0.5]}),
        "not-a-mapping": torch_bytes([torch.zeros(3)]),
        "unsafe-pickle": pickle.dumps(_TouchOnLoad(marker), protocol=2),
    }


CASES = list(damaged_torch_files(b"x" * 100, Path("m")))


@pytest.mark.parametrize("case", CASES)
def test_damaged_checkpoint_is_one_line_exit_2_and_nothing_changes(
    case: str, finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    ckpt = run_dir / runlog.CHECKPOINT_FILE
    marker = tmp_path / "unpickled"
    ckpt.write_bytes(damaged_torch_files(ckpt.read_bytes(), marker)[case])
    before = snapshot(run_dir)
    assert main(tiny_args("cartpole", run_dir, ONE_ITER)) == 2
    line = one_error_line(capsys.readouterr().err, "mbexp")
    assert line.startswith(f"pets mbexp: error: {ckpt}: ")
    assert " — " in line  # what is wrong — what to do
    assert snapshot(run_dir) == before  # nothing good overwritten, nothing deleted
    assert not marker.exists()  # weights_only loading never runs foreign code


def test_checkpoint_with_the_right_keys_but_wrong_content_is_refused(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    ckpt = run_dir / runlog.CHECKPOINT_FILE
    blob = torch.load(ckpt, weights_only=True)
    blob["model"] = {k: v[..., :1] for k, v in blob["model"].items()}  # other shapes
    torch.save(blob, ckpt)
    before = snapshot(run_dir)
    assert main(tiny_args("cartpole", run_dir, ONE_ITER)) == 2
    line = one_error_line(capsys.readouterr().err, "mbexp")
    assert line.startswith(f"pets mbexp: error: {ckpt}: does not fit this run")
    assert snapshot(run_dir) == before


@pytest.mark.parametrize(
    "content", [b"- a list\n- not a mapping\n", b"key: [unclosed\n", b"\xff\xfe\x00garbage"]
)
def test_damaged_config_of_a_resumed_run_is_refused(
    content: bytes, finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    (run_dir / runlog.CONFIG_FILE).write_bytes(content)
    before = snapshot(run_dir)
    assert main(tiny_args("cartpole", run_dir, ONE_ITER)) == 2
    line = one_error_line(capsys.readouterr().err, "mbexp")
    assert line.startswith(f"pets mbexp: error: {run_dir / runlog.CONFIG_FILE}: ")
    assert " — " in line
    assert snapshot(run_dir) == before


@pytest.mark.parametrize("case", [*CASES, "foreign-format", "inconsistent-architecture"])
def test_damaged_model_file_fails_render_before_anything_is_written(
    case: str, finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    good = (finished_run / runlog.MODEL_FILE).read_bytes()
    marker = tmp_path / "unpickled"
    blob = torch.load(finished_run / runlog.MODEL_FILE, weights_only=True)
    extra = {
        "foreign-format": torch_bytes({**blob, "format": "someone.else/3"}),
        "inconsistent-architecture": torch_bytes(
            {**blob, "architecture": {**blob["architecture"], "hidden_width": 7}}
        ),
    }
    path = model_dir / runlog.MODEL_FILE
    path.write_bytes({**damaged_torch_files(good, marker), **extra}[case])
    with pytest.raises(DamagedFileError, match=r"model\.pt: "):
        load_model(path)
    logdir = tmp_path / "renders"
    argv = ["render", "-env", "cartpole", "-model-dir", str(model_dir), "-logdir", str(logdir)]
    argv += ["-device", "cpu", *o_flags([(p, v) for p, v in TINY if "ntrain" not in p])]
    assert main(argv) == 2
    line = one_error_line(capsys.readouterr().err, "render")
    assert line.startswith(f"pets render: error: {path}: ")
    assert " — " in line
    assert not logdir.exists()
    assert not marker.exists()


@pytest.mark.parametrize("case", ["truncated", "random-bytes", "zip-of-other-content", "no-keys"])
def test_damaged_logs_mat_fails_aggregate_with_one_line(
    case: str, finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "cartpole" / "PE-TSinf-CEM" / "seed0"
    shutil.copytree(finished_run, run_dir)
    logs = run_dir / runlog.LOGS_FILE
    good = logs.read_bytes()
    if case == "no-keys":
        scipy.io.savemat(logs, {"something_else": [[1.0]]})
    else:
        logs.write_bytes(
            {
                "truncated": good[: len(good) // 2],
                "random-bytes": os.urandom(2048),
                "zip-of-other-content": zip_of_other_content(),
            }[case]
        )
    tables = tmp_path / "tables"
    argv = ["aggregate", "--runs", str(run_dir), "--tables", str(tables)]
    assert main([*argv, "--metrics", str(tmp_path / "metrics.json")]) == 2
    line = one_error_line(capsys.readouterr().err, "aggregate")
    assert line.startswith(f"pets aggregate: error: {logs}: ")
    assert line.endswith("pass --skip-bad to leave it out")
    assert not tables.exists()


HOLD_LOCK = "import sys; from pets.util.runlock import run_lock\nwith run_lock(sys.argv[1]):\n" \
    "    print('locked', flush=True); sys.stdin.read()\n"  # fmt: skip


def test_a_run_directory_in_use_refuses_a_second_process_and_a_killed_holder_frees_it(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    (run_dir / runlog.LOGS_FILE).unlink()  # a second run would rewrite it if it ran
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(run_dir)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        before = snapshot(run_dir)
        assert main(tiny_args("cartpole", run_dir, ONE_ITER)) == 2
        line = one_error_line(capsys.readouterr().err, "mbexp")
        assert f"{run_dir} is in use by process {holder.pid}" in line
        assert snapshot(run_dir) == before  # nothing written, logs.mat not restored
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    # SIGKILL leaves no stale lock: the OS released it with the process.
    with run_lock(run_dir):
        assert (run_dir / LOCK_FILE).read_text() == f"{os.getpid()}\n"
    assert (run_dir / LOCK_FILE).read_text() == ""


def _episode(reward: float) -> runlog.Episode:
    return runlog.Episode(
        observations=np.zeros((3, 2)), actions=np.zeros((2, 1)),
        rewards=np.array([reward, 1.0]), plan_seconds=0.0,
    )  # fmt: skip


def _row(iteration: int) -> runlog.ProgressRow:
    return runlog.ProgressRow(iteration, 10 * iteration, 1.0, 2.0, 0.5, 0.1, 0.2, 3.0)


WRITES = {
    # logs.mat is written by scipy's savemat, progress.csv as text: break each writer half-way.
    runlog.LOGS_FILE: (
        lambda path, n: runlog.write_logs(path, [_episode(float(k)) for k in range(n)], [0.0] * n),
        (scipy.io, "savemat"),
    ),
    runlog.PROGRESS_FILE: (
        lambda path, n: runlog.write_progress(path, [_row(k + 1) for k in range(n)]),
        (Path, "write_text"),
    ),
}


@pytest.mark.parametrize("name", list(WRITES))
def test_a_write_that_fails_half_way_leaves_the_previous_file_whole(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write, (owner, attr) = WRITES[name]
    path = tmp_path / name
    write(path, 1)
    before = path.read_bytes()

    def half_then_full_disk(target: object, *args: object, **kwargs: object) -> None:
        Path(str(target)).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(owner, attr, half_then_full_disk)
    with pytest.raises(WriteError, match="No space left"):
        write(path, 2)
    monkeypatch.undo()
    assert path.read_bytes() == before  # the previous version, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no temporary file left
