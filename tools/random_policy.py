"""Print a uniformly random policy's returns per task: the `RANDOM_POLICY` table of
pets/analysis/reference.py (paste it there when the envs change).

    python tools/random_policy.py [--episodes 20] [--seed 0]
"""

from __future__ import annotations

import argparse

from pets.analysis.reference import RANDOM_POLICY_EPISODES, RANDOM_POLICY_SEED
from pets.config import ENV_NAMES
from pets.run.baseline import random_policy_returns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=RANDOM_POLICY_EPISODES)
    parser.add_argument("--seed", type=int, default=RANDOM_POLICY_SEED)
    args = parser.parse_args()
    for env in ENV_NAMES:
        r = random_policy_returns(env, args.episodes, args.seed)
        values = ", ".join(repr(float(v)) for v in (r.mean(), r.std(ddof=1), r.max()))
        print(f'    "{env}": RandomPolicyReturns({values}),')


if __name__ == "__main__":
    main()
