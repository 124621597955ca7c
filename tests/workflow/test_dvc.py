"""`dvc repro` over the workflow in a temporary git repository holding a copy of this one.

The copy's config/config.yaml becomes a one-cell grid (the .test settings, D-E, seed 0), since
DVC reads its params from that file. The sequence: repro trains and aggregates -> a second repro
is a no-op -> adding a seed trains only the new cell -> `dvc metrics show` prints the metrics
-> push to a local remote, pull into a fresh clone, redraw the figures without training.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from wfutil import (
    REPO,
    TEST_CONFIG,
    assert_results,
    copy_repo,
    grid_run_dirs,
    job_counts,
    load_yaml,
    run_tool,
    write_config,
)

pytestmark = pytest.mark.workflow

DVC = [sys.executable, "-m", "dvc"]
GIT_IDENTITY = ["-c", "user.name=pets-ci", "-c", "user.email=pets-ci@localhost"]


def merged(base: dict, top: dict) -> dict:
    """Snakemake's --configfile merge: mappings merge key by key, everything else replaces."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", *GIT_IDENTITY, *args], cwd=root, check=True, capture_output=True, timeout=60
    )


def test_dvc_repro_noop_new_seed_and_metrics(tmp_path: Path) -> None:
    root = copy_repo(tmp_path)
    config = merged(load_yaml(REPO / "config/config.yaml"), load_yaml(TEST_CONFIG))
    config["grid"]["method"] = [{"model": "D", "prop": "E"}]
    config["grid"]["seed"] = [0]
    write_config(root / "config/config.yaml", config)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "tiny grid")

    first = run_tool([*DVC, "repro"], root, timeout=240, check=True)
    assert job_counts(first.stdout)["train"] == 1
    assert_results(root, config)
    (seed0,) = grid_run_dirs(root, config)
    trained = (seed0 / "logs.mat").stat().st_mtime_ns

    second = run_tool([*DVC, "repro"], root, timeout=60, check=True)
    assert "Data and pipelines are up to date" in second.stdout
    assert "Job stats" not in second.stdout  # Snakemake was not even started

    config["grid"]["seed"] = [0, 1]
    write_config(root / "config/config.yaml", config)
    third = run_tool([*DVC, "repro"], root, timeout=240, check=True)
    assert job_counts(third.stdout)["train"] == 1  # the new cell only
    assert (seed0 / "logs.mat").stat().st_mtime_ns == trained
    assert_results(root, config)

    metrics = run_tool([*DVC, "metrics", "show"], root, timeout=60, check=True)
    assert "results/metrics.json" in metrics.stdout
    assert "n_runs" in metrics.stdout

    # Share through a DVC remote: a fresh clone pulls the results and redraws the tables and
    # figures without training anything (`dvc pull && snakemake --touch`, as the README says).
    remote = tmp_path / "remote"
    run_tool([*DVC, "remote", "add", "-d", "local", str(remote)], root, timeout=60, check=True)
    run_tool([*DVC, "push"], root, timeout=120, check=True)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "results")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(root), str(clone)], check=True, timeout=60)
    run_tool([*DVC, "pull"], clone, timeout=120, check=True)
    snakemake = [sys.executable, "-m", "snakemake", "--cores", "1"]
    run_tool([*snakemake, "--touch"], clone, timeout=120, check=True)
    redraw = run_tool([*snakemake, "figures", "--forcerun", "aggregate"], clone, 180, check=True)
    assert "train" not in job_counts(redraw.stdout)
    assert_results(clone, config)
