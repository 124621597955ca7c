"""Helpers for the workflow tests: run snakemake/dvc in a subprocess, copy the repo, read job stats.

Snakemake is run as a subprocess (`python -m snakemake`), which is more stable than its Python
API; the `pets` command is found through PATH, which starts with this interpreter's bin dir.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TEST_CONFIG = REPO / ".test" / "config" / "config.yaml"
JOB_STATS_ROW = re.compile(r"^(\w+)\s+(\d+)$")


def tool_env() -> dict[str, str]:
    """The environment for spawned tools: this venv first on PATH, no colour, one thread."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["OMP_NUM_THREADS"] = "1"
    env["NO_COLOR"] = "1"
    return env


def run_tool(
    args: list[str], cwd: Path, timeout: float, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing stdout+stderr together; SIGINT then SIGKILL on timeout."""
    proc = subprocess.Popen(
        args,
        cwd=cwd,
        env=tool_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        out = stop_gracefully(proc)
        pytest.fail(f"{' '.join(args)} ran over {timeout} s; output:\n{out[-4000:]}")
    result = subprocess.CompletedProcess(args, proc.returncode, out, None)
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(args)} exited {result.returncode}:\n{out[-6000:]}")
    return result


def stop_gracefully(proc: subprocess.Popen[str], grace: float = 30.0) -> str:
    """SIGINT the process group (Snakemake cancels its jobs), then SIGKILL after `grace` s."""
    os.killpg(proc.pid, signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
    return out or ""


def snakemake(
    args: list[str], cwd: Path = REPO, timeout: float = 60, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run `python -m snakemake ARGS` in `cwd`."""
    return run_tool([sys.executable, "-m", "snakemake", *args], cwd, timeout, check)


def job_counts(output: str) -> dict[str, int]:
    """Parse the first "Job stats" table of a Snakemake run into {rule: count}."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Job stats"))
    counts: dict[str, int] = {}
    for line in lines[start + 3 :]:
        match = JOB_STATS_ROW.match(line.strip())
        if not match:
            break
        counts[match[1]] = int(match[2])
    counts.pop("total", None)
    return counts


def copy_repo(dest: Path) -> Path:
    """Copy the repository's tracked and not-ignored files (no .venv, no results) to `dest`."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout.decode()
    for rel in filter(None, listing.split("\0")):
        if rel.startswith("results/"):  # a user's own results (e.g. the quick preset's tables)
            continue
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def write_config(path: Path, config: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def run_dir(
    root: Path, env: str, model: str, prop: str, opt: str, seed: int, results: str = "results"
) -> Path:
    """The run directory of `docs/spec/interfaces.md` §4, under results root `results`."""
    return root / results / "runs" / env / f"{model}-{prop}-{opt}" / f"seed{seed}"


def grid_run_dirs(root: Path, config: dict) -> list[Path]:
    grid = config["grid"]
    return [
        run_dir(root, env, m["model"], m["prop"], opt, seed, config.get("results", "results"))
        for env in grid["env"]
        for m in grid["method"]
        for opt in grid["opt"]
        for seed in grid["seed"]
    ]


TABLE_FILES = ("returns.csv", "summary.csv", "summary.md", "diagnostics.csv")
FIGURES = ("learning_curves", "ablation", "diagnostics")
FIGURE_FILES = tuple(f"{name}.{fmt}" for name in FIGURES for fmt in ("png", "pdf"))


def assert_results(root: Path, config: dict) -> None:
    """Every configured cell has a finished run; tables, metrics and figures exist."""
    for directory in grid_run_dirs(root, config):
        for name in ("logs.mat", "config.yaml", "progress.csv"):
            assert (directory / name).is_file(), f"missing {directory / name}"
    top = root / config.get("results", "results")
    for name in TABLE_FILES:
        assert (top / "tables" / name).stat().st_size > 0, name
    for name in FIGURE_FILES:
        assert (top / "figures" / name).stat().st_size > 0, name
    assert (top / "metrics.json").stat().st_size > 0
