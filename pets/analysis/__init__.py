"""Analysis: run directories' logs.mat → tidy tables → summary tables and figures.

`aggregate` reads runs and writes `returns.csv`, `summary.csv`, `summary.md`,
`diagnostics.csv` and `metrics.json`; `make_figures` draws `learning_curves`, `ablation` and
`diagnostics` (PNG and PDF) from those tables. Submodules: `load` (run directory → rows),
`tidy` (the frames' layout), `tables`, `figures`, `reference`, `pipeline`. Must not import torch
(a test checks it in a fresh interpreter); matplotlib and seaborn load only to draw figures.
"""

from __future__ import annotations

from pets.analysis.load import Runs, load_runs
from pets.analysis.pipeline import aggregate, make_figures
from pets.analysis.tables import SUMMARY_COLUMNS, summarize
from pets.analysis.tidy import DIAGNOSTIC_COLUMNS, TIDY_COLUMNS, read_table

__all__ = [
    "DIAGNOSTIC_COLUMNS",
    "SUMMARY_COLUMNS",
    "TIDY_COLUMNS",
    "Runs",
    "aggregate",
    "load_runs",
    "make_figures",
    "read_table",
    "summarize",
]
