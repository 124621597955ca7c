"""The scale every learning result is read against: a uniformly random policy's returns.

The policy is the one a run starts with (`pets.run.rollout.RandomPolicy`, uniform in the action
box, `docs/spec/pets-facts.md` §6.1), on the same env and episode length, so "far above random"
means above what a run's own initial rollouts score (episodes end where the env ends them).
The recorded numbers are each task's registry entry; `tools/random_policy.py` regenerates them.
"""

from __future__ import annotations

import numpy as np

from pets.config import build_config
from pets.envs import make_env, make_task
from pets.run.rollout import RandomPolicy, rollout


def random_policy_returns(env_name: str, episodes: int, seed: int = 0) -> np.ndarray:
    """Returns of `episodes` uniformly random episodes of the task's horizon, seeded.

    The env is seeded once with `seed` (as a run seeds it) and the actions come from one
    generator seeded with `seed`, so the numbers repeat on every machine with the same MuJoCo.
    """
    task_hor = build_config(env_name, [], []).exp_cfg.sim_cfg.task_hor
    env = make_env(env_name, max_episode_steps=task_hor)
    task = make_task(env_name)
    policy = RandomPolicy(task.ac_lb, task.ac_ub, np.random.default_rng(seed))
    env.reset(seed=seed)
    returns = [rollout(env, policy, task_hor).ret for _ in range(episodes)]
    env.close()
    return np.asarray(returns)
