"""A tiny real `pets mbexp` run for tests that check what a run records, not what it learns."""

from __future__ import annotations

from pathlib import Path

from pets.cli import main
from pets.run import runlog

TINY = [
    ("exp_cfg.sim_cfg.task_hor", "4"),
    ("exp_cfg.exp_cfg.ntrain_iters", "1"),
    ("ctrl_cfg.opt_cfg.plan_hor", "2"),
    ("ctrl_cfg.opt_cfg.cfg.popsize", "8"),
    ("ctrl_cfg.opt_cfg.cfg.num_elites", "2"),
    ("ctrl_cfg.prop_cfg.npart", "5"),
]


def tiny_cartpole_run(outdir: Path, *flags: str) -> dict:
    """Run a tiny cartpole experiment with extra CLI `flags`; return its recorded config.yaml."""
    argv = ["mbexp", "-env", "cartpole", "-device", "cpu", "-outdir", str(outdir), *flags]
    argv += [item for path, value in TINY for item in ("-o", path, value)]
    assert main(argv) == 0
    return runlog.read_config(outdir / runlog.CONFIG_FILE)
