"""gymnasium's standard tasks whose rewards and terminations pets knows, as registry entries.

One `TaskSpec` per task, named by its gymnasium id, with the torch functions of
`pets.envs.standard` that compute its reward and `terminated` exactly as gymnasium does
(`docs/spec/gym-tasks.md`). The locomotion tasks are made with the x position in the observation
(their forward reward is its change over dt) and keep it out of the model's input. Settings are
`generic_defaults` at each env's TimeLimit. No published PETS numbers exist for these v5 envs
(MBBL's and POPLIN's tables use modified rewards and older envs; `docs/spec/any-env.md` §8), so
no reference is given. Strings only: importing this module loads neither gymnasium nor torch.
"""

from __future__ import annotations

from pets.envs.registry import (
    GymFacts,
    RandomPolicyReturns,
    TaskSpec,
    generic_defaults,
    register_task,
)

_XPOS = {"exclude_current_positions_from_observation": False}


def _random(mean: float, sd: float, best: float) -> RandomPolicyReturns:
    return RandomPolicyReturns(mean, sd, best)


def _standard(
    env_id: str,
    module: str,
    function: str,
    horizon: int,
    terminates: bool,
    random_policy: RandomPolicyReturns,
    *,
    xpos: bool = False,
    best_possible_return: float | None = None,
) -> None:
    """Register one task; `xpos`: made with the x position in the observation (column 0),
    which its forward reward needs and the model's input leaves out."""
    where = f"pets.envs.standard.{module}:{function}"
    register_task(
        TaskSpec(
            name=env_id,
            env_id=env_id,
            label=env_id,
            # Random episodes of these end after a few steps: 20 of them give the first training
            # some 100-400 rows (the paper's tasks start from 150-1000).
            defaults=generic_defaults(horizon, ninit_rollouts=20 if terminates else 1),
            gym=GymFacts(
                reward=f"{where}_reward",
                termination=f"{where}_terminated" if terminates else None,
                terminates=terminates,
                make_kwargs=_XPOS if xpos else {},
                hidden_columns=1 if xpos else 0,
            ),
            random_policy=random_policy,
            best_possible_return=best_possible_return,
        )
    )


# Random policy: mean, SD, best of `python tools/random_policy.py --env <id>` (20 episodes,
# seed 0, the TimeLimit); tests/analysis/test_random_policy.py recomputes them.
_standard(
    "InvertedPendulum-v5",
    "classic",
    "inverted_pendulum",
    1000,
    True,
    _random(4.4, 2.6237779110122466, 11.0),
)
_standard(
    "InvertedDoublePendulum-v5", "classic", "inverted_double_pendulum", 1000, True,
    _random(38.427158085056774, 10.08055276818255, 62.8616747223627),
)  # fmt: skip
_standard(
    "Pendulum-v1",
    "classic",
    "pendulum",
    200,
    False,
    _random(-1218.7697023445057, 316.59182398145066, -693.0192260064931),
    best_possible_return=0.0,  # every reward is −(θ² + 0.1·θ̇² + 0.001·u²) ≤ 0
)
_standard(
    "Reacher-v5",
    "arms",
    "reacher",
    50,
    False,
    _random(-43.3758028763229, 4.3098227880373825, -35.31677708261263),
)
_standard(
    "Pusher-v5",
    "arms",
    "pusher",
    100,
    False,
    _random(-148.97997145414638, 6.054791603082507, -140.53526494691855),
)
_standard(
    "HalfCheetah-v5",
    "locomotion",
    "half_cheetah",
    1000,
    False,
    _random(-300.56737213986884, 80.35797169036367, -106.80498098522756),
    xpos=True,
)
_standard(
    "Hopper-v5",
    "locomotion",
    "hopper",
    1000,
    True,
    _random(21.9290059790295, 23.862150548089833, 104.22484617250144),
    xpos=True,
)
_standard(
    "Walker2d-v5",
    "locomotion",
    "walker2d",
    1000,
    True,
    _random(1.8167304581488621, 9.173752188817335, 24.86043240280218),
    xpos=True,
)
