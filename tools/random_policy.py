"""Print a uniformly random policy's returns per task, as the `random_policy` entries of the task
registry (`pets/envs/registry.py`, `pets/envs/gym_registry.py`) hold them.

    python tools/random_policy.py [--env NAME ...] [--episodes 20] [--seed 0]
"""

from __future__ import annotations

import argparse

from pets.analysis.reference import RANDOM_POLICY_EPISODES, RANDOM_POLICY_SEED
from pets.envs.registry import task_names
from pets.run.baseline import random_policy_returns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", nargs="+", default=list(task_names()), help="tasks or gym ids")
    parser.add_argument("--episodes", type=int, default=RANDOM_POLICY_EPISODES)
    parser.add_argument("--seed", type=int, default=RANDOM_POLICY_SEED)
    args = parser.parse_args()
    for env in args.env:
        r = random_policy_returns(env, args.episodes, args.seed)
        values = ", ".join(repr(float(v)) for v in (r.mean(), r.std(ddof=1), r.max()))
        print(f"    {env!r}: RandomPolicyReturns({values}),")


if __name__ == "__main__":
    main()
