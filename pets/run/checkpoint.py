"""What a run saves after every finished iteration (`checkpoint.pt`), and how it is restored.

Everything a killed run needs to continue bit-identically on the same machine: the data, the
returns, the model and optimiser state and every random stream. Split from `pets.run.experiment`
(the loop).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pets.models import Ensemble, SparseGP
from pets.models.termination import TerminationModel
from pets.run.building import Rngs
from pets.run.runlog import Episode, ProgressRow
from pets.util.torchfile import load_torch, require_keys, save_torch


@dataclass
class RunState:
    """Everything a run has produced so far; saved after every finished iteration."""

    iteration: int = 0  # finished training iterations (0 after the initial rollouts)
    episodes: list[Episode] = field(default_factory=list)
    returns: list[float] = field(default_factory=list)
    progress: list[ProgressRow] = field(default_factory=list)
    trained: bool = False
    last_loss: float = math.nan
    last_train_seconds: float = 0.0


def checkpoint_payload(
    state: RunState,
    model: Ensemble | SparseGP,
    optimizer: Any,
    rngs: Rngs,
    env: Any,
    termination: TerminationModel | None = None,
) -> dict:
    return {
        "iteration": state.iteration,
        "episodes": [
            {
                "observations": e.observations,
                "actions": e.actions,
                "rewards": e.rewards,
                "plan_seconds": e.plan_seconds,
                "terminated": e.terminated,
            }
            for e in state.episodes
        ],
        "returns": list(state.returns),
        "progress": [list(vars(r).values()) for r in state.progress],
        "trained": state.trained,
        "last_loss": state.last_loss,
        "last_train_seconds": state.last_train_seconds,
        "model": model.state_dict(),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "rngs": rngs.state(),
        "env_rng": env.unwrapped.np_random.bit_generator.state,
        **({} if termination is None else {"termination": termination.state_dict()}),
    }


CHECKPOINT_KEYS = (
    "iteration", "episodes", "returns", "progress", "trained", "last_loss",
    "last_train_seconds", "model", "optimizer", "rngs", "env_rng",
)  # fmt: skip
CHECKPOINT_REMEDY = (
    "restore it from a copy, or delete it to start this run over (its results will be replaced)"
)


def restore_checkpoint(
    ckpt: dict,
    model: Ensemble | SparseGP,
    optimizer: Any,
    rngs: Rngs,
    env: Any,
    termination: TerminationModel | None = None,
) -> RunState:
    model.load_state_dict(ckpt["model"])
    if termination is not None:
        termination.load_state_dict(ckpt["termination"])
    if optimizer is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
    rngs.restore(ckpt["rngs"], iteration=int(ckpt["iteration"]))
    env.unwrapped.np_random.bit_generator.state = ckpt["env_rng"]
    episodes = [
        Episode(
            observations=e["observations"].numpy(),
            actions=e["actions"].numpy(),
            rewards=e["rewards"].numpy(),
            plan_seconds=float(e["plan_seconds"]),
            terminated=bool(e.get("terminated", False)),  # older checkpoints: never terminated
        )
        for e in ckpt["episodes"]
    ]
    return RunState(
        iteration=int(ckpt["iteration"]),
        episodes=episodes,
        returns=[float(r) for r in ckpt["returns"]],
        progress=[ProgressRow(*row) for row in ckpt["progress"]],
        trained=bool(ckpt["trained"]),
        last_loss=float(ckpt["last_loss"]),
        last_train_seconds=float(ckpt["last_train_seconds"]),
    )


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
