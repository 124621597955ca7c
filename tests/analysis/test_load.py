"""Reading run directories into the tidy frame (pets.analysis.load)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.io

from pets.analysis.load import find_run_dirs, load_runs, read_run
from pets.analysis.tidy import DIAGNOSTIC_COLUMNS, TIDY_COLUMNS, categorize, read_table
from pets.errors import ConfigError, DamagedFileError

RunWriter = Callable[..., Path]  # the make_run fixture (conftest.py)


def test_read_run_known_returns_steps_and_max_so_far(make_run: RunWriter) -> None:
    run = make_run([1.0, 3.0, 2.0], env="pusher", model="DE", prop="TS1", seed=4, ninit=2)
    rows, diag = read_run(run)
    assert tuple(rows.columns) == TIDY_COLUMNS
    # env steps = (ninit + i·nrollouts)·T = (2 + i)·10 for i = 1, 2, 3
    assert rows["env_steps"].tolist() == [30, 40, 50]
    assert rows["iteration"].tolist() == [1, 2, 3]
    assert rows["episode_return"].tolist() == [1.0, 3.0, 2.0]
    assert rows["max_return"].tolist() == [1.0, 3.0, 3.0]  # running max of 1, 3, 2
    first = rows.iloc[0]
    assert (first.env, first.model, first.prop, first.opt, first.method, first.seed) == (
        "pusher",
        "DE",
        "TS1",
        "CEM",
        "DE-TS1",
        4,
    )
    assert diag.empty  # no progress.csv


def test_read_run_several_evaluations_and_rollouts_per_iteration(make_run: RunWriter) -> None:
    # neval = 2: iterations hold (1, 5), (2, 2), (7, 0)
    run = make_run([1.0, 5.0, 2.0, 2.0, 7.0, 0.0], neval=2, nrollouts=2, ninit=1)
    rows, _ = read_run(run)
    assert rows["episode_return"].tolist() == [3.0, 2.0, 3.5]  # per-iteration means
    assert rows["max_return"].tolist() == [5.0, 5.0, 7.0]  # best single episode so far
    assert rows["env_steps"].tolist() == [30, 50, 70]  # (1 + 2i)·10


def test_max_so_far_skips_a_nan_return(make_run: RunWriter) -> None:
    # A diverged episode logs NaN; the running best of 1, NaN, 3, 2 is 1, 1, 3, 3 (np.fmax).
    rows, _ = read_run(make_run([1.0, float("nan"), 3.0, 2.0]))
    assert rows["max_return"].tolist() == [1.0, 1.0, 3.0, 3.0]
    assert np.isnan(rows["episode_return"].iloc[1])  # the raw return stays NaN


def test_read_run_original_tf_format_from_path(make_run: RunWriter) -> None:
    # rewards [N, T, 1], observations [N, T, d], no config.yaml: factors from the path,
    # T = 150 from rewards, ninit = nrollouts = 1 → env steps (1 + i)·150
    run = make_run([-60.0, -50.0, -55.0], env="reacher", seed=3, task_hor=150, original_format=True)
    assert not (run / "config.yaml").exists()
    rows, _ = read_run(run)
    assert rows["env_steps"].tolist() == [300, 450, 600]
    assert rows["max_return"].tolist() == [-60.0, -50.0, -50.0]
    assert set(rows["env"]) == {"reacher"} and set(rows["seed"]) == {3}
    assert set(rows["method"]) == {"PE-TSinf"} and set(rows["opt"]) == {"CEM"}


def test_read_run_factors_from_config_when_path_does_not_match(
    make_run: RunWriter, tmp_path: Path
) -> None:
    run = make_run([5.0], env="halfcheetah", model="P", prop="MM", opt="Random", seed=9)
    moved = run.rename(tmp_path / "somewhere")
    rows, _ = read_run(moved)
    first = rows.iloc[0]
    assert (first.env, first.method, first.opt, first.seed) == ("halfcheetah", "P-MM", "Random", 9)


def test_read_run_config_wins_over_path_with_a_warning(
    make_run: RunWriter, caplog: pytest.LogCaptureFixture
) -> None:
    run = make_run([5.0], seed=0, config_overrides={"seed": 5})  # stored under seed0/
    with caplog.at_level("WARNING", logger="pets.analysis.load"):
        rows, _ = read_run(run)
    assert set(rows["seed"]) == {5}
    assert "differs from the path" in caplog.text and "'seed': (0, 5)" in caplog.text


def test_read_run_without_config_or_pattern_names_what_is_missing(
    make_run: RunWriter, tmp_path: Path
) -> None:
    run = make_run([5.0], original_format=True)
    moved = run.rename(tmp_path / "loose_run")
    with pytest.raises(DamagedFileError, match=r"loose_run.*env, model, prop, opt, seed"):
        read_run(moved)


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(_truncate, id="truncated"),
        pytest.param(lambda p: p.write_bytes(b"\x00garbage" * 20), id="garbage"),
        pytest.param(lambda p: p.write_bytes(b""), id="empty"),
        pytest.param(lambda p: p.unlink(), id="missing"),
        pytest.param(  # [iters, neval] instead of the original's [1, iters·neval]
            lambda p: scipy.io.savemat(
                p, {"returns": np.ones((2, 3)), "rewards": np.ones((7, 10))}
            ),
            id="returns-2d",
        ),
    ],
)
def test_read_run_bad_logs_mat_error_names_file(make_run: RunWriter, damage) -> None:
    run = make_run([1.0, 2.0, 3.0])
    damage(run / "logs.mat")
    with pytest.raises(DamagedFileError, match=r"logs\.mat") as info:
        read_run(run)
    assert str(run / "logs.mat") in str(info.value)
    assert info.value.path == run / "logs.mat"
    assert isinstance(info.value, ConfigError)


def test_read_run_bad_config_and_progress_name_the_file(make_run: RunWriter) -> None:
    run = make_run([1.0])
    (run / "config.yaml").write_text("env: [unclosed\n")
    with pytest.raises(DamagedFileError, match=r"config\.yaml"):
        read_run(run)
    other = make_run([1.0], seed=1, progress={"iteration": [1], "model_loss": ["abc"]})
    with pytest.raises(DamagedFileError, match=r"progress\.csv.*not a number"):
        read_run(other)


def test_read_run_diagnostics_from_progress(make_run: RunWriter) -> None:
    progress = {
        "iteration": [1, 2],
        "env_steps": [20, 30],
        "model_loss": [0.5, 0.25],
        "ms_per_action": [12.0, 11.0],
    }  # no train_seconds / plan_seconds columns: NaN
    run = make_run([1.0, 2.0], progress=progress)
    _, diag = read_run(run)
    assert tuple(diag.columns) == DIAGNOSTIC_COLUMNS
    assert diag["model_loss"].tolist() == [0.5, 0.25]
    assert diag["ms_per_action"].tolist() == [12.0, 11.0]
    assert diag["env_steps"].tolist() == [20, 30]
    assert diag["train_seconds"].isna().all() and diag["plan_seconds"].isna().all()


def test_progress_without_env_steps_counts_them_from_the_config(make_run: RunWriter) -> None:
    # ninit 2, nrollouts 3, T 10: (2 + 3i)·10 = 50, 80 env steps after iterations 1, 2.
    progress = {"iteration": [1, 2], "model_loss": [0.5, 0.25]}
    run = make_run([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], ninit=2, nrollouts=3, neval=3, progress=progress)
    _, diag = read_run(run)
    assert diag["env_steps"].tolist() == [50, 80]


def test_load_runs_bad_run_fails_by_default_and_is_skipped_on_request(
    make_run: RunWriter, tmp_path: Path
) -> None:
    good = make_run([1.0, 2.0], seed=0)
    bad = make_run([1.0, 2.0], seed=1)
    _truncate(bad / "logs.mat")
    with pytest.raises(DamagedFileError, match=re.escape(str(bad / "logs.mat"))):
        load_runs([good, bad])
    runs = load_runs([good, bad], skip_bad=True)
    assert [p for p, _ in runs.skipped] == [bad]
    assert str(bad / "logs.mat") in runs.skipped[0][1]
    assert set(runs.returns["seed"]) == {0}


def test_load_runs_orders_factors_and_rows(make_run: RunWriter, tmp_path: Path) -> None:
    # written in an order opposite to the canonical one
    make_run([1.0], env="halfcheetah", model="PE", prop="MM", seed=1)
    make_run([2.0], env="halfcheetah", model="PE", prop="MM", seed=0)
    make_run([3.0], env="cartpole", model="PE", prop="TSinf", opt="Random")
    make_run([4.0], env="cartpole", model="D", prop="E")
    make_run([5.0], env="cartpole", model="PE", prop="DS")
    runs = load_runs([tmp_path / "runs"])  # a directory above the runs is expanded
    df = runs.returns
    assert tuple(df.columns) == TIDY_COLUMNS
    for factor in ("env", "model", "prop", "opt", "method"):
        assert isinstance(df[factor].dtype, pd.CategoricalDtype) and df[factor].cat.ordered
    assert list(df["env"].cat.categories) == ["cartpole", "halfcheetah"]
    assert list(df["method"].cat.categories) == ["D-E", "PE-DS", "PE-TSinf", "PE-MM"]
    assert df["episode_return"].tolist() == [4.0, 5.0, 3.0, 2.0, 1.0]
    assert df["seed"].dtype == np.int64 and df["env_steps"].dtype == np.int64


def test_load_runs_duplicate_run_is_an_error(make_run: RunWriter, tmp_path: Path) -> None:
    run = make_run([1.0])
    copy = tmp_path / "copy" / "cartpole" / "PE-TSinf-CEM" / "seed0"
    copy.mkdir(parents=True)
    for name in ("logs.mat", "config.yaml"):
        (copy / name).write_bytes((run / name).read_bytes())
    with pytest.raises(ConfigError, match="both hold run"):
        load_runs([run, copy])


def test_find_run_dirs_expands_and_dedupes(make_run: RunWriter, tmp_path: Path) -> None:
    a, b = make_run([1.0], seed=0), make_run([1.0], seed=1)
    assert find_run_dirs([tmp_path / "runs", a, b / "logs.mat"]) == [a, b]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert find_run_dirs([empty]) == [empty]
    with pytest.raises(DamagedFileError, match=r"missing logs\.mat"):
        load_runs([empty])


def test_read_table_checks_the_column_list(tmp_path: Path) -> None:
    path = tmp_path / "returns.csv"
    pd.DataFrame({"env": ["cartpole"], "return": [1.0]}).to_csv(path, index=False)
    with pytest.raises(ConfigError, match="columns"):
        read_table(path)
    with pytest.raises(ConfigError, match="lacks columns"):
        categorize(pd.DataFrame({"env": ["cartpole"]}))
