"""End to end with the local executor on CI's tiny grid, in a temporary copy of the repository.

One copy serves the sequence: full run -> second run does nothing -> figures redrawn without
training. A second copy checks that a run killed mid-way resumes from its checkpoint.
"""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from wfutil import (
    TEST_CONFIG,
    assert_results,
    copy_repo,
    grid_run_dirs,
    job_counts,
    load_yaml,
    snakemake,
    stop_gracefully,
    tool_env,
    write_config,
)

pytestmark = pytest.mark.workflow

CONFIG = ["--configfile", ".test/config/config.yaml"]


@pytest.fixture(scope="module")
def ran_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repo in which the .test grid has run once, successfully."""
    root = copy_repo(tmp_path_factory.mktemp("e2e"))
    snakemake(["--cores", "2", *CONFIG], cwd=root, timeout=240, check=True)
    return root


def test_e2e_local_run_produces_runs_tables_figures(ran_repo: Path) -> None:
    config = load_yaml(TEST_CONFIG)
    assert_results(ran_repo, config)
    ntrain_iters = config["overrides"]["exp_cfg.exp_cfg.ntrain_iters"]
    for directory in grid_run_dirs(ran_repo, config):
        rows = list(csv.DictReader((directory / "progress.csv").open()))
        assert [int(r["iteration"]) for r in rows] == list(range(1, ntrain_iters + 1))
    for rule in ("train", "aggregate", "plot_figures"):
        assert any((ran_repo / "logs" / rule).rglob("*.log")), f"no log of {rule}"
        assert any((ran_repo / "benchmarks" / rule).rglob("*.tsv")), f"no benchmark of {rule}"


def test_e2e_local_second_run_does_nothing(ran_repo: Path) -> None:
    result = snakemake(["--cores", "2", *CONFIG], cwd=ran_repo, timeout=60, check=True)
    assert "Nothing to be done" in result.stdout


def test_e2e_local_figures_target_redraws_without_training(ran_repo: Path) -> None:
    config = load_yaml(TEST_CONFIG)
    logs = [d / "logs.mat" for d in grid_run_dirs(ran_repo, config)]
    trained = {path: path.stat().st_mtime_ns for path in logs}
    figure = ran_repo / "results/figures/learning_curves.png"
    drawn = figure.stat().st_mtime_ns
    result = snakemake(
        # Targets before --configfile, which takes several values.
        ["figures", "--cores", "2", "--forcerun", "aggregate", *CONFIG],
        cwd=ran_repo,
        timeout=120,
        check=True,
    )
    assert job_counts(result.stdout) == {"aggregate": 1, "plot_figures": 1, "figures": 1}
    assert figure.stat().st_mtime_ns > drawn
    assert {path: path.stat().st_mtime_ns for path in logs} == trained


def test_e2e_local_report_holds_tables_and_figures(ran_repo: Path) -> None:
    snakemake(["--report", "report.html", *CONFIG], cwd=ran_repo, timeout=120, check=True)
    html = (ran_repo / "report.html").read_text(encoding="utf-8", errors="replace")
    for name in ("learning_curves.png", "ablation.png", "diagnostics.png", "summary.csv"):
        assert name in html, f"{name} is not in the report"


# ---- a killed run resumes ---------------------------------------------------------------------

RESUME_ITERS = 5


def resume_config() -> dict:
    """One D-E cell of the tiny grid with more (slightly longer) iterations, so a kill lands
    between the first finished iteration and the last."""
    config = load_yaml(TEST_CONFIG)
    config["grid"]["method"] = [{"model": "D", "prop": "E"}]
    config["overrides"]["exp_cfg.exp_cfg.ntrain_iters"] = RESUME_ITERS
    config["overrides"]["exp_cfg.sim_cfg.task_hor"] = 30
    return config


def mbexp_pids(root: Path) -> list[int]:
    """Pids of the `pets mbexp` processes running in `root` (started by this test's Snakemake)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if b"mbexp" in cmdline and Path(cwd) == root:
            pids.append(int(proc.name))
    return pids


def progress_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open())) if path.is_file() else []


def test_e2e_local_killed_run_resumes_from_checkpoint(tmp_path: Path) -> None:
    root = copy_repo(tmp_path)
    config = resume_config()
    write_config(root / "resume.yaml", config)
    (outdir,) = grid_run_dirs(root, config)
    args = [sys.executable, "-m", "snakemake", "--cores", "1", "--configfile", "resume.yaml"]
    proc = subprocess.Popen(
        args,
        cwd=root,
        env=tool_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        # Row 2 is written after the checkpoint of iteration 1, so the run is resumable from 2+.
        while len(progress_rows(outdir / "progress.csv")) < 2:
            assert proc.poll() is None, "snakemake ended before the second iteration"
            assert time.monotonic() < deadline, "no second iteration within 180 s"
            time.sleep(0.05)
        # Crash everything, as a lost node would: Snakemake first, then the run it started.
        os.killpg(proc.pid, signal.SIGKILL)
        for pid in mbexp_pids(root):
            os.kill(pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            stop_gracefully(proc, grace=5)
    before = progress_rows(outdir / "progress.csv")
    assert 2 <= len(before) < RESUME_ITERS, "the kill missed the middle of the run"
    assert (outdir / "checkpoint.pt").is_file()

    # A killed Snakemake leaves its lock behind; --unlock is what a user runs after a crash.
    snakemake([*args[3:], "--unlock"], cwd=root, timeout=60, check=True)
    snakemake([*args[3:], "--rerun-incomplete"], cwd=root, timeout=240, check=True)
    after = progress_rows(outdir / "progress.csv")
    assert [int(r["iteration"]) for r in after] == list(range(1, RESUME_ITERS + 1))
    log = (root / "logs/train/cartpole/D-E-CEM/seed0.log").read_text()
    match = re.search(r"resuming from iteration (\d+)", log)
    assert match, log[-2000:]
    resumed_at = int(match[1])
    # The last checkpoint is iteration len(before) or, if the kill hit between writing a row
    # and checkpointing, the one before it.
    assert len(before) <= resumed_at <= len(before) + 1
    assert "iteration 1/" not in log
    # Rows of checkpointed iterations are kept as they were, wall-clock timings included,
    # which a restarted run could not reproduce.
    assert after[: resumed_at - 1] == before[: resumed_at - 1]
