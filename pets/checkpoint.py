"""What a run saves after every finished iteration (`checkpoint.pt`), and how it is restored.

Everything a killed run needs to continue bit-identically on the same machine: the data, the
returns, the model and optimiser state and every random stream. Split from `pets.experiment`
(the loop).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pets.building import Rngs
from pets.models import Ensemble, SparseGP
from pets.runlog import Episode, ProgressRow


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
    state: RunState, model: Ensemble | SparseGP, optimizer: Any, rngs: Rngs, env: Any
) -> dict:
    return {
        "iteration": state.iteration,
        "episodes": [
            {
                "observations": e.observations,
                "actions": e.actions,
                "rewards": e.rewards,
                "plan_seconds": e.plan_seconds,
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
    }


CHECKPOINT_KEYS = (
    "iteration", "episodes", "returns", "progress", "trained", "last_loss",
    "last_train_seconds", "model", "optimizer", "rngs", "env_rng",
)  # fmt: skip
CHECKPOINT_REMEDY = (
    "restore it from a copy, or delete it to start this run over (its results will be replaced)"
)


def restore_checkpoint(
    ckpt: dict, model: Ensemble | SparseGP, optimizer: Any, rngs: Rngs, env: Any
) -> RunState:
    model.load_state_dict(ckpt["model"])
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
