"""What a run directory holds, and how each file is written (atomically) and read back.

Owns the file formats of a run (`docs/spec/interfaces.md` §4): `logs.mat` (the original's keys,
real shapes; `docs/spec/pets-facts.md` §7), `progress.csv`, `config.yaml`, `predictions.mat` and
the resume checkpoint. Knows nothing of models, planners or environments beyond plain arrays.
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
import torch
import yaml

from pets.errors import DamagedFileError
from pets.util.fileio import write_atomic, write_text_atomic
from pets.util.torchfile import load_torch, require_keys, save_torch

LOGS_FILE = "logs.mat"
PROGRESS_FILE = "progress.csv"
CONFIG_FILE = "config.yaml"
MODEL_FILE = "model.pt"
CHECKPOINT_FILE = "checkpoint.pt"
PREDICTIONS_FILE = "predictions.mat"

# Keys of logs.mat and their number of axes: observations [N, T+1, d], actions [N, T, a],
# rewards [N, T], returns [1, iters·neval] (docs/spec/pets-facts.md §7; the README's are off).
LOGS_NDIM = {"observations": 3, "actions": 3, "rewards": 2, "returns": 2}


@dataclass(frozen=True)
class Episode:
    """One rollout of exactly T steps."""

    observations: np.ndarray  # [T+1, d]
    actions: np.ndarray  # [T, a] executed actions before any action noise
    rewards: np.ndarray  # [T]
    plan_seconds: float  # time spent choosing actions

    @property
    def ret(self) -> float:
        return float(self.rewards.sum())


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
    """Write logs.mat with the original's keys and shapes, atomically."""
    data = {
        "observations": np.stack([e.observations for e in episodes]),
        "actions": np.stack([e.actions for e in episodes]),
        "rewards": np.stack([e.rewards for e in episodes]),
        "returns": np.asarray(returns, dtype=np.float64).reshape(1, -1),
    }
    import scipy.io  # here, not at import: ~0.25 s of a run's start-up (`pets bench startup`)

    write_atomic(path, lambda tmp: scipy.io.savemat(tmp, data))


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


def save_checkpoint(path: Path, state: Mapping[str, Any]) -> None:
    """Save the resume state (tensors, numbers, RNG states), atomically.

    Numpy arrays are stored as tensors so that `torch.load(weights_only=True)` reads it back.

    Raises:
        WriteError: an OS error while writing (the previous checkpoint stays whole).
    """
    save_torch(path, _to_torch(state))


def load_checkpoint(path: Path, keys: Sequence[str], *, remedy: str) -> dict[str, Any]:
    """Load a checkpoint written by `save_checkpoint` (arrays come back as CPU tensors).

    Args:
        path: the checkpoint.
        keys: the top-level keys it must hold.
        remedy: what the user can do about a damaged checkpoint.

    Raises:
        DamagedFileError: truncated, corrupt, foreign, or missing one of `keys`.
    """
    blob = load_torch(path, remedy=remedy)
    return dict(require_keys(path, blob, keys, what="PETS checkpoint", remedy=remedy))


def _to_torch(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, Mapping):
        return {k: _to_torch(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_to_torch(v) for v in obj]
    return obj
