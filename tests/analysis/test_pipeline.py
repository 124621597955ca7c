"""`aggregate` and `make_figures` end to end on synthetic runs; no torch import."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from pets.analysis import aggregate, make_figures
from pets.analysis.tables import SUMMARY_COLUMNS
from pets.analysis.tidy import DIAGNOSTIC_COLUMNS, TIDY_COLUMNS
from pets.errors import DamagedFileError

RunWriter = Callable[..., Path]  # the make_run fixture (conftest.py)
PROGRESS = {
    "iteration": [1, 2],
    "env_steps": [20, 30],
    "episode_return": [1.0, 2.0],
    "max_return": [1.0, 2.0],
    "model_loss": [0.3, 0.2],
    "train_seconds": [1.0, 1.1],
    "plan_seconds": [4.0, 4.0],
    "ms_per_action": [20.0, 21.0],
}


def _aggregate(tmp_path: Path, **kwargs: object) -> list[Path]:
    return aggregate([tmp_path / "runs"], tmp_path / "tables", tmp_path / "metrics.json", **kwargs)


def test_aggregate_writes_tables_and_metrics(make_run: RunWriter, tmp_path: Path) -> None:
    make_run([1.0, 2.0], seed=0, progress=PROGRESS)
    make_run([3.0, 1.0], seed=1)  # no progress.csv
    assert _aggregate(tmp_path) == []
    tables = tmp_path / "tables"
    returns = pd.read_csv(tables / "returns.csv")
    assert tuple(returns.columns) == TIDY_COLUMNS and len(returns) == 4
    assert returns["max_return"].tolist() == [1.0, 2.0, 3.0, 3.0]
    summary = pd.read_csv(tables / "summary.csv")
    assert tuple(summary.columns) == SUMMARY_COLUMNS
    # final max-so-far 2 and 3 → 2.5
    assert summary.loc[0, "final_max_return_mean"] == 2.5
    diag = pd.read_csv(tables / "diagnostics.csv")
    assert tuple(diag.columns) == DIAGNOSTIC_COLUMNS and diag["seed"].tolist() == [0, 0]
    assert "| cartpole | PE-TSinf | CEM | 2 |" in (tables / "summary.md").read_text()
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["n_runs"] == 2 and m["cartpole/PE-TSinf/CEM/final_max_return_mean"] == 2.5

    first = {p.name: p.read_bytes() for p in [*tables.iterdir(), tmp_path / "metrics.json"]}
    _aggregate(tmp_path)  # same runs → same bytes (DVC hashes move only with the numbers)
    assert first == {p.name: p.read_bytes() for p in [*tables.iterdir(), tmp_path / "metrics.json"]}


def test_pets_aggregate_prints_the_verdict(
    make_run: RunWriter, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Final max-so-far 2.5 against cartpole's random policy (−4.27 ± 1.60, docs/spec's
    reference-numbers): (2.5 + 4.27)/1.60 = 4.2 SD, under the 5 SD that count as learned."""
    from pets.cli import main as pets_main

    make_run([1.0, 2.0], seed=0)
    make_run([3.0, 1.0], seed=1)
    argv = ["aggregate", "--runs", str(tmp_path / "runs"), "--tables", str(tmp_path / "t")]
    assert pets_main([*argv, "--metrics", str(tmp_path / "m.json")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(
        "cartpole PE-TSinf CEM: NOT learned (final max-so-far 2.5, 2 seeds, 4.2 SD"
    )
    assert out[-1].startswith("tables in ")


def test_aggregate_bad_run_fails_clearly_or_is_skipped(make_run: RunWriter, tmp_path: Path) -> None:
    make_run([1.0, 2.0], seed=0)
    bad = make_run([1.0, 2.0], seed=1)
    (bad / "logs.mat").write_bytes((bad / "logs.mat").read_bytes()[:100])
    with pytest.raises(DamagedFileError, match=r"seed1/logs\.mat: cannot read"):
        _aggregate(tmp_path)
    assert not (tmp_path / "tables").exists()  # nothing half-written
    assert _aggregate(tmp_path, skip_bad=True) == [bad]
    assert pd.read_csv(tmp_path / "tables" / "returns.csv")["seed"].unique().tolist() == [0]


def test_make_figures_writes_png_and_pdf(make_run: RunWriter, tmp_path: Path) -> None:
    make_run([1.0, 2.0], seed=0)
    _aggregate(tmp_path)
    (tmp_path / "tables" / "diagnostics.csv").unlink()  # optional: a note panel instead
    written = make_figures(tmp_path / "tables", tmp_path / "figures")
    names = ["learning_curves", "ablation", "diagnostics"]
    assert [p.name for p in written] == [f"{n}.{ext}" for n in names for ext in ("png", "pdf")]
    for path in written:
        head = path.read_bytes()[:8]
        assert head.startswith(b"\x89PNG" if path.suffix == ".png" else b"%PDF")
    assert sorted(written) == sorted((tmp_path / "figures").iterdir())  # no temporary files


def test_import_does_not_load_torch() -> None:
    code = (
        "import sys, pets.analysis, pets.analysis.figures\n"
        "bad = [m for m in ('torch', 'mujoco') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
