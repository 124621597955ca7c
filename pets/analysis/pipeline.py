"""The two entry points the command line and the workflow call: `aggregate` and `make_figures`.

Owns which files are written and their names (`docs/spec/interfaces.md` §5); every file goes
through `pets.util.fileio`, so a killed call never leaves half a table or figure. Must not import
torch.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pets.analysis.load import load_runs
from pets.analysis.tables import (
    VERDICT_HEADING,
    metrics,
    summarize,
    summary_markdown,
    to_csv_text,
)
from pets.analysis.tidy import (
    DIAGNOSTIC_COLUMNS,
    TIDY_COLUMNS,
    categorize,
    empty_frame,
    read_table,
)
from pets.util.fileio import write_atomic, write_text_atomic

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

RETURNS_TABLE = "returns.csv"
SUMMARY_TABLE = "summary.csv"
SUMMARY_MARKDOWN = "summary.md"
DIAGNOSTICS_TABLE = "diagnostics.csv"
FIGURE_NAMES = ("learning_curves", "ablation", "diagnostics")
FIGURE_FORMATS = ("png", "pdf")
FIGURE_DPI = 200
# No timestamps or versions in the files, so the same numbers give the same bytes (DVC hashes).
_FIGURE_METADATA = {"png": {"Software": None}, "pdf": {"CreationDate": None, "Creator": None}}


def aggregate(
    run_dirs: Sequence[Path], tables_dir: Path, metrics_path: Path, *, skip_bad: bool = False
) -> list[Path]:
    """Read run directories and write the tables and the DVC metrics.

    Writes `returns.csv`, `summary.csv`, `summary.md` and `diagnostics.csv` under `tables_dir`
    and `metrics_path` (JSON), each atomically.

    Args:
        run_dirs: run directories (or directories above them, e.g. `results/runs`).
        tables_dir: where the tables go (created if needed).
        metrics_path: the metrics file, e.g. `results/metrics.json`.
        skip_bad: leave out unreadable runs (logged and returned) instead of failing.

    Returns:
        The run directories that were skipped as bad (empty without `skip_bad`).

    Raises:
        DamagedFileError: a missing, truncated or corrupt run file (without `skip_bad`); the
            message names it and what to do.
        ConfigError: no run directories, or two directories holding the same run.
    """
    runs = load_runs(run_dirs, skip_bad=skip_bad)
    tables_dir = Path(tables_dir)
    summary = summarize(runs.returns)
    n_runs = len(runs.returns[["env", "model", "prop", "opt", "seed"]].drop_duplicates())
    write_text_atomic(tables_dir / RETURNS_TABLE, to_csv_text(runs.returns))
    write_text_atomic(tables_dir / SUMMARY_TABLE, to_csv_text(summary))
    write_text_atomic(tables_dir / SUMMARY_MARKDOWN, summary_markdown(summary))
    write_text_atomic(tables_dir / DIAGNOSTICS_TABLE, to_csv_text(runs.diagnostics))
    text = json.dumps(metrics(summary, n_runs=n_runs), indent=2, allow_nan=False)
    write_text_atomic(Path(metrics_path), text + "\n")
    log.info("aggregated %d runs into %s (%d skipped)", n_runs, tables_dir, len(runs.skipped))
    return [run_dir for run_dir, _ in runs.skipped]


def read_verdicts(tables_dir: Path) -> list[str]:
    """The verdict lines of `summary.md` under `tables_dir` (did each cell learn?)."""
    text = (Path(tables_dir) / SUMMARY_MARKDOWN).read_text(encoding="utf-8")
    _, _, section = text.partition(VERDICT_HEADING)
    return [line[2:] for line in section.splitlines() if line.startswith("- ")]


def make_figures(tables_dir: Path, out_dir: Path) -> list[Path]:
    """Draw the three figures from the tables `aggregate` wrote, as PNG and PDF.

    Args:
        tables_dir: holds `returns.csv` (required) and `diagnostics.csv` (optional).
        out_dir: where `learning_curves`, `ablation` and `diagnostics` `.png`/`.pdf` go.

    Returns:
        The written figure files, in `FIGURE_NAMES` × `FIGURE_FORMATS` order.

    Raises:
        ConfigError: `returns.csv` is missing or has other columns than the tidy frame.
    """
    # seaborn/matplotlib load here, not at `import pets.analysis` (the CLI stays quick)
    from pets.analysis.figures import plot_ablation, plot_diagnostics, plot_learning_curves

    tables_dir, out_dir = Path(tables_dir), Path(out_dir)
    returns = read_table(tables_dir / RETURNS_TABLE, TIDY_COLUMNS)
    diag_path = tables_dir / DIAGNOSTICS_TABLE
    diagnostics = (
        read_table(diag_path, DIAGNOSTIC_COLUMNS)
        if diag_path.is_file()
        else categorize(empty_frame(DIAGNOSTIC_COLUMNS), DIAGNOSTIC_COLUMNS)
    )
    figures = {
        "learning_curves": plot_learning_curves(returns),
        "ablation": plot_ablation(returns),
        "diagnostics": plot_diagnostics(diagnostics),
    }
    written = []
    for name in FIGURE_NAMES:
        fig = figures[name]
        for fmt in FIGURE_FORMATS:
            path = out_dir / f"{name}.{fmt}"
            write_atomic(path, functools.partial(_save_figure, fig, fmt=fmt))
            written.append(path)
    return written


def _save_figure(fig: Figure, tmp: Path, *, fmt: str) -> None:
    # PDF font subsetting logs every table at INFO through fontTools; keep a CLI's log readable
    fonttools = logging.getLogger("fontTools")
    level = fonttools.level
    fonttools.setLevel(max(level, logging.WARNING))
    try:
        fig.savefig(tmp, format=fmt, dpi=FIGURE_DPI, metadata=_FIGURE_METADATA[fmt])
    finally:
        fonttools.setLevel(level)
