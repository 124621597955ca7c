"""What a run directory holds, and how each file is written (atomically) and read back.

Owns the run directory (`docs/spec/interfaces.md` §4): its file names and the workflow's layout
of run directories, and the formats of `logs.mat` (the original's keys, real shapes;
`docs/spec/pets-facts.md` §7), `progress.csv`, `config.yaml` and `predictions.mat`, written by
the run and read back by the run and by the analysis. Torch-free, so the analysis reads runs
through it; the torch checkpoint (`checkpoint.pt`) is `pets.run.checkpoint`'s. A damaged file
is a `pets.errors.DamagedFileError` wherever it is read. Knows nothing of models, planners or
environments beyond plain arrays.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from pets.errors import DamagedFileError
from pets.util.fileio import write_atomic, write_text_atomic

LOGS_FILE = "logs.mat"
PROGRESS_FILE = "progress.csv"
CONFIG_FILE = "config.yaml"
MODEL_FILE = "model.pt"
CHECKPOINT_FILE = "checkpoint.pt"
PREDICTIONS_FILE = "predictions.mat"
# The workflow's layout of run directories under a results root (docs/spec/interfaces.md §4).
RUN_PATTERN = "{env}/{model}-{prop}-{opt}/seed{seed}"

# Keys of logs.mat and their number of axes: observations [N, T+1, d], actions [N, T, a],
# rewards [N, T], returns [1, iters·neval] (docs/spec/pets-facts.md §7; the README's are off),
# and our lengths [1, N]: steps of each rollout, the rest of its rows NaN (docs/spec/any-env.md §6).
LOGS_NDIM = {"observations": 3, "actions": 3, "rewards": 2, "returns": 2, "lengths": 2}


@dataclass(frozen=True)
class Episode:
    """One rollout of T steps (fewer than the task horizon where the env terminated it)."""

    observations: np.ndarray  # [T+1, d]
    actions: np.ndarray  # [T, a] executed actions before any action noise
    rewards: np.ndarray  # [T]
    plan_seconds: float  # time spent choosing actions
    terminated: bool = False  # the env ended it (its last step is a terminal one)

    @property
    def ret(self) -> float:
        return float(self.rewards.sum())

    @property
    def length(self) -> int:
        """Steps taken, T."""
        return int(self.rewards.shape[0])


@dataclass(frozen=True)
class ProgressRow:
    """One line of progress.csv: a finished training iteration."""

    iteration: int
    env_steps: int  # steps of the rollouts trained on so far, initial random ones included (§7)
    episode_return: float  # mean return of this iteration's neval evaluation rollouts
    max_return: float  # best return so far (the paper's "max-so-far")
    model_loss: float  # last-epoch training loss of the model that planned this iteration
    train_seconds: float  # time of that training call
    plan_seconds: float  # time spent planning in this iteration's rollouts
    ms_per_action: float


PROGRESS_COLUMNS = tuple(f.name for f in fields(ProgressRow))


def write_logs(path: Path, episodes: Sequence[Episode], returns: Sequence[float]) -> None:
    """Write logs.mat with the original's keys and shapes, atomically.

    Rollouts that ended early are padded with NaN to the longest one's T; `lengths` [1, N]
    holds the steps each rollout took (all equal to T for the paper's tasks).
    """
    steps = max(e.length for e in episodes)
    data = {
        "observations": _padded([e.observations for e in episodes], steps + 1),
        "actions": _padded([e.actions for e in episodes], steps),
        "rewards": _padded([e.rewards for e in episodes], steps),
        "returns": np.asarray(returns, dtype=np.float64).reshape(1, -1),
        "lengths": np.asarray([e.length for e in episodes], dtype=np.int64).reshape(1, -1),
    }
    import scipy.io  # here, not at import: ~0.25 s of a run's start-up (`pets bench startup`)

    write_atomic(path, lambda tmp: scipy.io.savemat(tmp, data))


def _padded(arrays: Sequence[np.ndarray], rows: int) -> np.ndarray:
    """Stack [T_i, ...] arrays into [N, rows, ...], NaN past each one's end."""
    out = np.full((len(arrays), rows, *arrays[0].shape[1:]), np.nan)
    for i, a in enumerate(arrays):
        out[i, : a.shape[0]] = a
    return out


def write_progress(path: Path, rows: Sequence[ProgressRow]) -> None:
    """Write progress.csv (one row per finished iteration), atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=PROGRESS_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _fmt(v) for k, v in asdict(row).items()})
    write_text_atomic(path, buf.getvalue())


def _fmt(value: object) -> object:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    return value


def write_config(path: Path, data: Mapping[str, Any]) -> None:
    """Write the resolved configuration as YAML, atomically."""
    write_text_atomic(path, yaml.safe_dump(dict(data), sort_keys=False))


def read_config(path: Path, *, remedy: str = "restore it from a copy") -> dict[str, Any]:
    """Read a config.yaml written by `write_config`.

    Raises:
        FileNotFoundError: `path` does not exist.
        DamagedFileError: not UTF-8, not YAML, or not a mapping of settings.
    """
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        reason = err.strerror if isinstance(err, OSError) else type(err).__name__
        raise DamagedFileError(path, f"cannot be read as YAML ({reason})", remedy) from err
    if not isinstance(data, dict):
        problem = f"is not a mapping of settings (holds a {type(data).__name__})"
        raise DamagedFileError(path, problem, remedy)
    return data


def write_predictions(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write predictions.mat (`predictions`, or `means`/`vars`), atomically.

    The keys are the original's (`docs/spec/pets-facts.md` §6.7).
    """
    import scipy.io

    write_atomic(path, lambda tmp: scipy.io.savemat(tmp, dict(arrays)))


def read_log_returns(path: Path, *, remedy: str) -> tuple[np.ndarray, int, np.ndarray | None]:
    """Read the evaluation returns, the episode length and the rollouts' lengths of a `logs.mat`.

    Accepts ours (rewards [N, T]) and the original's (rewards [N, T] or [N, T, 1]);
    observations and actions are not read (their T or T+1 rows do not matter here).

    Returns:
        returns: [iters·neval] evaluation returns in logged order.
        task_hor: T, the rewards' second axis.
        lengths: [N] steps of each rollout (None in logs without `lengths`, as the original's).

    Raises:
        DamagedFileError: the file is missing, truncated, corrupt or lacks `returns`/`rewards`.
    """
    path = Path(path)
    if not path.is_file():
        raise DamagedFileError(
            path, "missing logs.mat (has the run finished an iteration?)", remedy
        )
    import scipy.io

    try:
        mat = scipy.io.loadmat(path, variable_names=("returns", "rewards", "lengths"))
    except Exception as exc:  # scipy raises many types for damaged files; all mean the same here
        reason = f"{type(exc).__name__}: {exc}"
        raise DamagedFileError(
            path, f"cannot read, truncated or corrupt ({reason})", remedy
        ) from exc
    for key in ("returns", "rewards"):
        if key not in mat:
            raise DamagedFileError(path, f"has no {key!r} (truncated, or not a PETS log)", remedy)
        if not np.issubdtype(mat[key].dtype, np.number):
            raise DamagedFileError(path, f"{key!r} is not numeric ({mat[key].dtype})", remedy)
    rewards, returns = mat["rewards"], mat["returns"]
    if rewards.ndim == 3 and rewards.shape[2] == 1:
        rewards = rewards[:, :, 0]  # the original's README layout [N, T, 1]
    if rewards.ndim != 2:
        raise DamagedFileError(
            path, f"rewards must be [N, T] or [N, T, 1], got {rewards.shape}", remedy
        )
    if returns.ndim > 2 or (returns.ndim == 2 and min(returns.shape) > 1):
        raise DamagedFileError(path, f"returns must be [1, K], got {returns.shape}", remedy)
    lengths = mat.get("lengths")
    if lengths is not None:
        lengths = np.asarray(lengths).ravel()
        if lengths.size != rewards.shape[0] or not np.issubdtype(lengths.dtype, np.integer):
            raise DamagedFileError(
                path,
                f"lengths must be [1, N] integers, got {lengths.shape} {lengths.dtype}",
                remedy,
            )
    return returns.astype(np.float64).ravel(), int(rewards.shape[1]), lengths
