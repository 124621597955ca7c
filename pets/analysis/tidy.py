"""The tidy frames' layout: column lists, factor orders, dtypes, sort, and reading them back.

Owns the one long layout every table and figure starts from (`docs/spec/interfaces.md` §6): one
row per `env, model, prop, opt, seed, iteration`, factors as ordered categoricals, the column list
a constant checked on load. Must not import torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pets.config.registry import BUILTIN_PROPAGATIONS, MODEL_TYPES, optimizers, propagations
from pets.envs.registry import task_names
from pets.errors import ConfigError

MODEL_ORDER = MODEL_TYPES  # GP: the paper's baselines, last
PROP_ORDER = BUILTIN_PROPAGATIONS  # the paper's five (method colours, sort)
FACTORS = ("env", "model", "prop", "opt")


def factor_order(factor: str) -> tuple[str, ...]:
    """The canonical order of a factor's levels: the registries' order (the paper's first)."""
    if factor == "env":
        return task_names()
    if factor == "model":
        return MODEL_ORDER
    if factor == "prop":
        return tuple(propagations())
    return tuple(optimizers())


RUN_KEYS = ("env", "model", "prop", "opt", "seed")  # identify one run
TIDY_COLUMNS = (
    "env",
    "model",
    "prop",
    "opt",
    "method",
    "seed",
    "iteration",
    "env_steps",
    "episode_return",
    "max_return",
)
DIAGNOSTIC_VALUES = ("model_loss", "train_seconds", "plan_seconds", "ms_per_action")
DIAGNOSTIC_COLUMNS = (*TIDY_COLUMNS[:8], *DIAGNOSTIC_VALUES)
_INT_COLUMNS = ("seed", "iteration", "env_steps")


def empty_frame(columns: Sequence[str]) -> pd.DataFrame:
    """A frame with `columns` and no rows."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def _categories(values: Iterable[str], order: Sequence[str]) -> list[str]:
    """Known levels in the canonical order, then unknown ones sorted; only levels present."""
    present = set(values)
    return [v for v in order if v in present] + sorted(present - set(order))


def method_order(methods: Iterable[str]) -> list[str]:
    """Methods `model-prop` ordered by model (D, P, DE, PE, GP), then prop (E, DS, TS1, ...)."""

    def key(method: str) -> tuple[int, str, int, str]:
        model, _, prop = method.partition("-")
        m = MODEL_ORDER.index(model) if model in MODEL_ORDER else len(MODEL_ORDER)
        p = PROP_ORDER.index(prop) if prop in PROP_ORDER else len(PROP_ORDER)
        return (m, model, p, prop)

    return sorted(set(methods), key=key)


def categorize(frame: pd.DataFrame, columns: Sequence[str] = TIDY_COLUMNS) -> pd.DataFrame:
    """Check the column list, set dtypes and ordered factors, and sort rows deterministically.

    Args:
        frame: rows with (at least) `columns`.
        columns: the expected column list, e.g. `TIDY_COLUMNS` or `DIAGNOSTIC_COLUMNS`.

    Returns:
        A new frame with exactly `columns`: factors as ordered categoricals holding only the
        levels present, integer columns int64, the rest float64; sorted by the run keys and
        iteration.

    Raises:
        ConfigError: a column is missing.
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ConfigError(f"table lacks columns {missing}; expected {list(columns)}")
    out = frame.loc[:, list(columns)].copy()
    for factor in FACTORS:
        levels = _categories(out[factor].astype(str), factor_order(factor))
        out[factor] = pd.Categorical(out[factor].astype(str), categories=levels, ordered=True)
    methods = method_order(out["method"].astype(str))
    out["method"] = pd.Categorical(out["method"].astype(str), categories=methods, ordered=True)
    for column in columns:
        if column in _INT_COLUMNS:
            out[column] = out[column].astype(np.int64)
        elif column not in FACTORS and column != "method":
            out[column] = out[column].astype(np.float64)
    return out.sort_values([*RUN_KEYS, "iteration"], kind="stable").reset_index(drop=True)


def read_table(path: Path, columns: Sequence[str] = TIDY_COLUMNS) -> pd.DataFrame:
    """Read a tidy table written by `aggregate` (e.g. `returns.csv`) back into typed form.

    Raises:
        ConfigError: the file is missing or its columns are not `columns`.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such table (run `pets aggregate` first)")
    frame = pd.read_csv(path)
    if tuple(frame.columns) != tuple(columns):
        raise ConfigError(f"{path}: columns {list(frame.columns)} are not {list(columns)}")
    return categorize(frame, columns)
