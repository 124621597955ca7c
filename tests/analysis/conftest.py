"""Synthetic run directories with known returns, written the way a run writes them.

The layout is `docs/spec/interfaces.md` §4.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.io
import yaml


def write_run(
    root: Path,
    returns: Sequence[float],
    *,
    env: str = "cartpole",
    model: str = "PE",
    prop: str = "TSinf",
    opt: str = "CEM",
    seed: int = 0,
    task_hor: int = 10,
    ninit: int = 1,
    nrollouts: int = 1,
    neval: int = 1,
    config: bool = True,
    config_overrides: dict[str, Any] | None = None,
    progress: dict[str, Sequence[float]] | None = None,
    original_format: bool = False,
) -> Path:
    """Write `root/{env}/{model}-{prop}-{opt}/seed{seed}/` with the given evaluation returns.

    `original_format` writes what the TF code wrote (rewards [N, T, 1], observations [N, T, d]
    as its README claims, no config.yaml).
    """
    run_dir = root / env / f"{model}-{prop}-{opt}" / f"seed{seed}"
    run_dir.mkdir(parents=True)
    iters = len(returns) // neval
    n = ninit + iters * nrollouts
    rewards = np.full((n, task_hor), -1.0)
    obs_rows = task_hor if original_format else task_hor + 1
    data = {
        "observations": np.zeros((n, obs_rows, 3)),
        "actions": np.zeros((n, task_hor, 2)),
        "rewards": rewards[..., None] if original_format else rewards,
        "returns": np.asarray(returns, dtype=np.float64).reshape(1, -1),
    }
    scipy.io.savemat(run_dir / "logs.mat", data)
    if config and not original_format:
        tree = {
            "env": env,
            "seed": seed,
            "device": "cpu",
            "model_type": model,
            "prop_type": prop,
            "opt_type": opt,
            "exp_cfg": {
                "sim_cfg": {"task_hor": task_hor},
                "exp_cfg": {
                    "ntrain_iters": iters,
                    "nrollouts_per_iter": nrollouts,
                    "ninit_rollouts": ninit,
                },
                "log_cfg": {"nrecord": 0, "neval": neval},
            },
            "ctrl_cfg": {"prop_cfg": {"prop_type": prop}},
        }
        tree.update(config_overrides or {})
        (run_dir / "config.yaml").write_text(yaml.safe_dump(tree, sort_keys=False))
    if progress is not None:
        pd.DataFrame(progress).to_csv(run_dir / "progress.csv", index=False)
    return run_dir


@pytest.fixture
def make_run(tmp_path: Path) -> Callable[..., Path]:
    """`make_run(returns, **kwargs)` writes a run under `tmp_path/runs` (see `write_run`)."""

    def make(returns: Sequence[float], **kwargs: Any) -> Path:
        return write_run(tmp_path / "runs", returns, **kwargs)

    return make
