"""Run directories → tidy frames: one of returns, one of diagnostics.

Owns reading a finished (or still running) run directory (`logs.mat`, `config.yaml`,
`progress.csv`; `docs/spec/interfaces.md` §4, `docs/spec/pets-facts.md` §7), including `logs.mat`
files written by the original TensorFlow code, into the layout of `pets.analysis.tidy`, through
the run-directory module `pets.run.runlog` (file names, layout, the logs.mat reader). A damaged
file is a `pets.errors.DamagedFileError` naming it, with `AGGREGATE_REMEDY`. Must not import
torch.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pets.analysis.tidy import (
    DIAGNOSTIC_COLUMNS,
    DIAGNOSTIC_VALUES,
    RUN_KEYS,
    TIDY_COLUMNS,
    categorize,
    empty_frame,
)
from pets.config.labels import model_label
from pets.envs.registry import tasks
from pets.errors import ConfigError, DamagedFileError
from pets.run.runlog import (
    CONFIG_FILE,
    LOGS_FILE,
    PROGRESS_FILE,
    RUN_PATTERN,
    read_log_returns,
)
from pets.run.runlog import read_config as read_config_file

log = logging.getLogger(__name__)

AGGREGATE_REMEDY = "re-run or remove that run, or pass --skip-bad to leave it out"


_METHOD_DIR = re.compile(r"^(?P<model>[^-]+)-(?P<prop>[^-]+)-(?P<opt>[^-]+)$")
_SEED_DIR = re.compile(r"^seed(?P<seed>-?\d+)$")


def _short_name(env: str) -> str:
    """A registered task's short name for its gymnasium id (a config may name either)."""
    by_id = {spec.env_id: name for name, spec in tasks().items()}
    return by_id.get(env, env)


def _bad(path: Path, reason: str) -> DamagedFileError:
    """A run's file (or directory) that the analysis cannot read, with what to do about it."""
    return DamagedFileError(path, reason, AGGREGATE_REMEDY)


@dataclass(frozen=True)
class RunInfo:
    """What the tables need to know about one run besides its returns.

    Attributes:
        run_dir: the run directory.
        env, model, prop, opt, seed: the grid factors.
        task_hor: steps per episode (T); None until known from config.yaml or logs.mat.
        ninit_rollouts: random rollouts before the first training.
        nrollouts_per_iter: rollouts per training iteration.
        neval: evaluation returns logged per iteration.
    """

    run_dir: Path
    env: str
    model: str
    prop: str
    opt: str
    seed: int
    task_hor: int | None = None
    ninit_rollouts: int = 1
    nrollouts_per_iter: int = 1
    neval: int = 1
    lengths: tuple[int, ...] | None = None  # steps of each logged rollout (logs.mat `lengths`)

    @property
    def method(self) -> str:
        """The paper's name of the model × propagation pair, e.g. `PE-TSinf`."""
        return f"{self.model}-{self.prop}"

    def env_steps(self, iteration: np.ndarray) -> np.ndarray:
        """Env steps taken by the end of each (1-based) iteration, random rollouts included.

        Counted from the rollouts' `lengths` where logs.mat has them (episodes that end early),
        else as the original: every rollout takes `task_hor` steps.
        """
        rollouts = self.ninit_rollouts + iteration * self.nrollouts_per_iter
        if self.lengths is not None and len(self.lengths) >= int(np.max(rollouts, initial=0)):
            steps = np.concatenate([[0], np.cumsum(self.lengths, dtype=np.int64)])
            return steps[rollouts]
        assert self.task_hor is not None, "task_hor is resolved before steps are counted"
        return rollouts * self.task_hor


@dataclass(frozen=True)
class Runs:
    """Everything read from a set of run directories.

    Attributes:
        returns: the tidy frame (`TIDY_COLUMNS`), one row per run × iteration.
        diagnostics: `DIAGNOSTIC_COLUMNS`, one row per progress.csv line (may be empty).
        skipped: `(run_dir, message)` of each bad run left out (only with `skip_bad`).
    """

    returns: pd.DataFrame
    diagnostics: pd.DataFrame
    skipped: tuple[tuple[Path, str], ...] = ()


# --- finding runs ------------------------------------------------------------------------------


def find_run_dirs(paths: Iterable[str | Path]) -> list[Path]:
    """Expand paths into run directories.

    A path holding `logs.mat` (or naming a `logs.mat` file) is one run. A directory without one
    stands for every run below it (e.g. `results/runs`) when any is found; otherwise it is kept
    as is, so that reading it reports the missing file. Duplicates are dropped, order is kept.
    """
    found: dict[Path, None] = {}
    for raw in paths:
        path = Path(raw)
        if path.name == LOGS_FILE and path.is_file():
            path = path.parent
        if path.is_dir() and not (path / LOGS_FILE).exists():
            below = sorted(p.parent for p in path.rglob(LOGS_FILE))
            if below:
                found.update(dict.fromkeys(below))
                continue
        found[path] = None
    return list(found)


# --- config and factors ------------------------------------------------------------------------


def _lookup(tree: Mapping[str, Any], dotted: str) -> Any:
    node: Any = tree
    for key in dotted.split("."):
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _factors_from_path(run_dir: Path) -> dict[str, Any]:
    """Factors from `.../{env}/{model}-{prop}-{opt}/seed{seed}/`; empty when it does not match."""
    parts = run_dir.absolute().parts
    if len(parts) < 3:
        return {}
    method, seed = _METHOD_DIR.match(parts[-2]), _SEED_DIR.match(parts[-1])
    if method is None or seed is None:
        return {}
    return {"env": parts[-3], **method.groupdict(), "seed": int(seed["seed"])}


def _factors_from_config(config: Mapping[str, Any]) -> dict[str, Any]:
    sources = {
        "env": ("env",),
        "model": ("model_type", "ctrl_cfg.prop_cfg.model_init_cfg.model_type"),
        "prop": ("prop_type", "ctrl_cfg.prop_cfg.prop_type"),
        "opt": ("opt_type", "ctrl_cfg.opt_cfg.opt_type"),
        "seed": ("seed",),
    }
    out: dict[str, Any] = {}
    for factor, keys in sources.items():
        value = next((v for v in (_lookup(config, k) for k in keys) if v is not None), None)
        if value is not None:
            out[factor] = value
    if "model" in out and "env" in out:  # a learned reward or termination marks the model
        reward, termination = config.get("reward", "known"), config.get("termination", "known")
        out["model"] = model_label(str(out["model"]), str(out["env"]), reward, termination)
    return out


def read_config(run_dir: Path) -> dict[str, Any] | None:
    """Read `config.yaml` of a run; None when the run has none (e.g. the original's runs).

    Raises:
        DamagedFileError: the file exists but is not a YAML mapping.
    """
    try:
        return read_config_file(Path(run_dir) / CONFIG_FILE, remedy=AGGREGATE_REMEDY)
    except FileNotFoundError:
        return None


def _count(config: Mapping[str, Any], key: str, default: int, minimum: int, path: Path) -> int:
    value = _lookup(config, key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _bad(path, f"{key} must be an integer >= {minimum}, got {value!r}")
    return value


def run_info(run_dir: Path, config: Mapping[str, Any] | None) -> RunInfo:
    """Resolve a run's factors and loop settings.

    Factors come from `config.yaml` where it has them, else from the path pattern
    `RUN_PATTERN`. Loop settings come from the config; without one they default to the
    original's 1 random rollout, 1 rollout per iteration and 1 evaluation, and `task_hor` is
    left for `logs.mat` (its rewards' second axis) to fill in.

    Raises:
        DamagedFileError: a factor is in neither place, or a setting is not a valid count.
    """
    run_dir = Path(run_dir)
    from_path = _factors_from_path(run_dir)
    cfg_path = run_dir / CONFIG_FILE
    factors = {**from_path, **_factors_from_config(config or {})}
    differ = {k: (v, factors[k]) for k, v in from_path.items() if str(factors[k]) != str(v)}
    if differ:  # config.yaml wins: it is what the run was started with
        log.warning("%s: config.yaml differs from the path in %s", run_dir, differ)
    missing = [f for f in RUN_KEYS if f not in factors]
    if missing:
        where = "config.yaml or the path" if config is not None else "the path (no config.yaml)"
        raise _bad(
            run_dir, f"cannot tell {', '.join(missing)} from {where}; expected .../{RUN_PATTERN}/"
        )
    seed = factors["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise _bad(cfg_path, f"seed must be an integer, got {seed!r}")
    env = str(factors["env"])
    cfg = config or {}
    return RunInfo(
        run_dir=run_dir,
        env=_short_name(env),
        model=str(factors["model"]),
        prop=str(factors["prop"]),
        opt=str(factors["opt"]),
        seed=seed,
        task_hor=_count(cfg, "exp_cfg.sim_cfg.task_hor", 0, 1, cfg_path) or None,
        ninit_rollouts=_count(cfg, "exp_cfg.exp_cfg.ninit_rollouts", 1, 0, cfg_path),
        nrollouts_per_iter=_count(cfg, "exp_cfg.exp_cfg.nrollouts_per_iter", 1, 1, cfg_path),
        neval=_count(cfg, "exp_cfg.log_cfg.neval", 1, 1, cfg_path),
    )


# --- logs.mat and progress.csv -----------------------------------------------------------------


def read_logs(path: Path) -> tuple[np.ndarray, int, np.ndarray | None]:
    """`pets.run.runlog.read_log_returns` of a run's `logs.mat`: returns, T and lengths."""
    return read_log_returns(path, remedy=AGGREGATE_REMEDY)


def _return_rows(info: RunInfo, returns: np.ndarray, path: Path) -> pd.DataFrame:
    if returns.size == 0:
        raise _bad(path, "logs.mat holds no evaluation returns (no finished iteration)")
    if returns.size % info.neval:
        raise _bad(
            path, f"{returns.size} returns is not a multiple of exp_cfg.log_cfg.neval={info.neval}"
        )
    per_iter = returns.reshape(-1, info.neval)  # [iters·neval] -> [iters, neval]
    # Max-so-far over every evaluation episode, as the paper plots (docs/spec/pets-facts.md §10);
    # fmax skips NaN.
    best = np.fmax.accumulate(returns).reshape(-1, info.neval)[:, -1]
    iteration = np.arange(1, per_iter.shape[0] + 1, dtype=np.int64)
    return pd.DataFrame(
        {
            **_factor_columns(info),
            "iteration": iteration,
            "env_steps": info.env_steps(iteration),
            "episode_return": per_iter.mean(axis=1),
            "max_return": best,
        }
    )


def _factor_columns(info: RunInfo) -> dict[str, Any]:
    return {
        "env": info.env,
        "model": info.model,
        "prop": info.prop,
        "opt": info.opt,
        "method": info.method,
        "seed": info.seed,
    }


def read_progress(info: RunInfo) -> pd.DataFrame:
    """Read a run's `progress.csv` into `DIAGNOSTIC_COLUMNS` rows (empty when there is none).

    Diagnostic columns the file lacks are NaN; `env_steps` is counted from the config when
    absent.

    Raises:
        DamagedFileError: the file exists but cannot be parsed, lacks `iteration`, or holds a value
            that is not a number.
    """
    path = info.run_dir / PROGRESS_FILE
    if not path.is_file():
        return empty_frame(DIAGNOSTIC_COLUMNS)
    try:
        raw = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise _bad(path, f"corrupt progress.csv ({exc})") from exc
    if "iteration" not in raw.columns:
        raise _bad(path, "progress.csv has no 'iteration' column")
    try:
        iteration = pd.to_numeric(raw["iteration"]).astype(np.int64).to_numpy()
        values = {c: _numeric(raw, c, len(raw)) for c in DIAGNOSTIC_VALUES}
        steps = (
            pd.to_numeric(raw["env_steps"]).astype(np.int64).to_numpy()
            if "env_steps" in raw.columns
            else info.env_steps(iteration)
        )
    except (ValueError, TypeError) as exc:
        reason = f"progress.csv holds a value that is not a number ({exc})"
        raise _bad(path, reason) from exc
    frame = {**_factor_columns(info), "iteration": iteration, "env_steps": steps, **values}
    return pd.DataFrame(frame, columns=list(DIAGNOSTIC_COLUMNS))


def _numeric(raw: pd.DataFrame, column: str, n: int) -> np.ndarray:
    if column not in raw.columns:
        return np.full(n, np.nan)
    return pd.to_numeric(raw[column]).astype(np.float64).to_numpy()


def read_run(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read one run directory.

    Returns:
        The run's tidy return rows (`TIDY_COLUMNS`) and diagnostic rows (`DIAGNOSTIC_COLUMNS`),
        factors as plain strings (see `categorize`).

    Raises:
        DamagedFileError: a missing, truncated or corrupt file, named in the message.
    """
    run_dir = Path(run_dir)
    returns, task_hor, lengths = read_logs(run_dir / LOGS_FILE)
    info = run_info(run_dir, read_config(run_dir))
    if info.task_hor is None:
        info = dataclasses.replace(info, task_hor=task_hor)
    if lengths is not None:
        info = dataclasses.replace(info, lengths=tuple(int(n) for n in lengths))
    rows = _return_rows(info, returns, run_dir / LOGS_FILE)
    return rows, read_progress(info)


# --- many runs ---------------------------------------------------------------------------------


def load_runs(run_dirs: Sequence[str | Path], *, skip_bad: bool = False) -> Runs:
    """Read run directories (expanded by `find_run_dirs`) into tidy frames.

    Args:
        run_dirs: run directories, or directories above them.
        skip_bad: leave out runs whose files cannot be read, listing them in `skipped`,
            instead of failing on the first.

    Returns:
        The tidy returns and diagnostics, sorted, factors as ordered categoricals.

    Raises:
        DamagedFileError: a bad run (without `skip_bad`).
        ConfigError: no run directory given, or two directories hold the same run.
    """
    dirs = find_run_dirs(run_dirs)
    if not dirs:
        raise ConfigError("no run directories given")
    returns: list[pd.DataFrame] = []
    diagnostics: list[pd.DataFrame] = []
    skipped: list[tuple[Path, str]] = []
    owner: dict[tuple[Any, ...], Path] = {}
    for run_dir in dirs:
        try:
            rows, diag = read_run(run_dir)
        except DamagedFileError as exc:
            if not skip_bad:
                raise
            log.warning("skipping bad run %s", exc)
            skipped.append((run_dir, str(exc)))
            continue
        key = tuple(rows.loc[0, list(RUN_KEYS)])
        if key in owner:
            raise ConfigError(
                f"{owner[key]} and {run_dir} both hold run "
                + ", ".join(f"{k}={v}" for k, v in zip(RUN_KEYS, key, strict=True))
            )
        owner[key] = run_dir
        returns.append(rows)
        diagnostics.append(diag)
    return Runs(
        returns=_concat(returns, TIDY_COLUMNS),
        diagnostics=_concat(diagnostics, DIAGNOSTIC_COLUMNS),
        skipped=tuple(skipped),
    )


def _concat(frames: list[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    frame = pd.concat(frames, ignore_index=True) if frames else empty_frame(columns)
    return categorize(frame, columns)
