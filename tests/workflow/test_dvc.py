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
    # The target: a plain `dvc pull` would also ask for the presets' never-run outputs.
    run_tool([*DVC, "pull", "dvc.yaml"], clone, timeout=120, check=True)
    snakemake = [sys.executable, "-m", "snakemake", "--cores", "1"]
    run_tool([*snakemake, "--touch"], clone, timeout=120, check=True)
    redraw = run_tool([*snakemake, "figures", "--forcerun", "aggregate"], clone, 180, check=True)
    assert "train" not in job_counts(redraw.stdout)
    assert_results(clone, config)


def test_dvc_repro_of_a_preset_trains_under_its_own_root_only(tmp_path: Path) -> None:
    """config/presets/dvc.yaml: a preset's stages fill its results root, never results/runs,
    and a plain `dvc repro` (the paper grid) does not see them."""
    root = copy_repo(tmp_path)
    preset = merged(load_yaml(TEST_CONFIG), {"results": "results/quick"})
    preset["grid"]["method"] = [{"model": "D", "prop": "E"}]
    write_config(root / "config/presets/quick.yaml", preset)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "tiny preset")

    first = run_tool([*DVC, "repro", "config/presets/dvc.yaml:aggregate@quick"], root, 240, True)
    assert job_counts(first.stdout)["train"] == 1
    config = merged(load_yaml(REPO / "config/config.yaml"), preset)
    assert_results(root, config)
    assert not (root / "results" / "runs").exists()
    assert "train@cpu-evidence" not in first.stdout  # only the named preset's stages ran

    again = run_tool([*DVC, "repro", "config/presets/dvc.yaml:aggregate@quick"], root, 60, True)
    assert "Job stats" not in again.stdout
    listed = run_tool([*DVC, "status", "dvc.yaml"], root, timeout=60, check=True)
    assert "quick" not in listed.stdout  # the top-level pipeline is the paper grid's alone
