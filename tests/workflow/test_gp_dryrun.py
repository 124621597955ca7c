"""Dry runs of the optional GP method group (config `gp_baselines`, config/presets/gp.yaml)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from wfutil import REPO, job_counts, tool_env, write_config

pytestmark = pytest.mark.workflow

RUN_OUTPUT = re.compile(r"output: results/runs/(\w+)/(\w+)-(\w+)-(\w+)/seed(\d+)/logs\.mat")


def dry_run(configfile: Path) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", "snakemake", "--dry-run", "--printshellcmds", "--cores", "2"]
    return subprocess.run(
        [*args, "--configfile", str(configfile)],
        cwd=REPO,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_gp_preset_adds_the_three_cartpole_gp_rows_to_the_papers_grid() -> None:
    result = dry_run(REPO / "config/presets/gp.yaml")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert job_counts(result.stdout)["train"] == 168 + 3 * 3  # GP-E/DS/MM x 3 seeds
    cells = {c for c in RUN_OUTPUT.findall(result.stdout) if c[1] == "GP"}
    assert cells == {
        ("cartpole", "GP", prop, "CEM", str(seed))
        for prop in ("E", "DS", "MM")
        for seed in (0, 1, 2)
    }
    assert "-ca model-type GP -ca prop-type MM" in result.stdout


def test_gp_cells_leave_out_overrides_the_gp_does_not_have(tmp_path: Path) -> None:
    config = {
        "grid": {"env": ["cartpole"], "method": [{"model": "PE", "prop": "TSinf"}], "seed": [0]},
        "gp_baselines": {"env": ["cartpole"]},
        "results": "results/gp-test",
        "overrides": {
            "ctrl_cfg.prop_cfg.model_train_cfg.epochs": 2,
            "ctrl_cfg.prop_cfg.model_init_cfg.num_inducing_points": 50,
            "exp_cfg.exp_cfg.ntrain_iters": 3,
        },
    }
    result = dry_run(write_config(tmp_path / "gp.yaml", config))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    commands = [line for line in result.stdout.splitlines() if "pets mbexp" in line]
    assert len(commands) == 4  # PE-TSinf + GP-E, GP-DS, GP-MM
    for cmd in commands:
        assert "ntrain_iters 3" in cmd
        if "model-type GP" in cmd:
            assert "num_inducing_points 50" in cmd and "model_train_cfg" not in cmd
        else:
            assert "model_train_cfg.epochs 2" in cmd and "num_inducing_points" not in cmd
