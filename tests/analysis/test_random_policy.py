"""The recorded random-policy returns (pets.analysis.reference.RANDOM_POLICY) are what the envs
give now, and agree with what the action box alone implies."""

from __future__ import annotations

import numpy as np
import pytest

from pets.analysis.reference import RANDOM_POLICY_EPISODES, RANDOM_POLICY_SEED, random_policies
from pets.run.baseline import random_policy_returns


# The paper's four, then gymnasium's tasks whose rewards pets knows (episodes that end early).
@pytest.mark.parametrize(
    "env",
    ["cartpole", "reacher", "pusher", "halfcheetah", "InvertedPendulum-v5",
     "InvertedDoublePendulum-v5", "Pendulum-v1", "Reacher-v5", "Pusher-v5", "HalfCheetah-v5",
     "Hopper-v5", "Walker2d-v5"],
)  # fmt: skip
def test_recorded_random_policy_returns_are_reproduced(env: str) -> None:
    returns = random_policy_returns(env, RANDOM_POLICY_EPISODES, RANDOM_POLICY_SEED)
    recorded = random_policies()[env]
    assert returns.mean() == pytest.approx(recorded.mean, rel=1e-9)
    assert returns.std(ddof=1) == pytest.approx(recorded.sd, rel=1e-9)
    assert returns.max() == pytest.approx(recorded.best, rel=1e-9)


def test_reacher_random_return_is_dominated_by_its_action_cost() -> None:
    """Reacher cost per step = ‖ee − goal‖² + 0.01‖a‖² (docs/spec/pets-facts.md §4.3) with
    a ~ U[−20, 20]^7: E[0.01‖a‖²] = 0.01 · 7 · 400/3 per step, 1,400 per 150-step episode; the
    distance term only lowers the return. SD of the episode's action cost:
    sqrt(1050 · 1e-4 · (20⁴/5 − (400/3)²))."""
    returns = random_policy_returns("reacher", RANDOM_POLICY_EPISODES, RANDOM_POLICY_SEED)
    action_cost = 150 * 0.01 * 7 * 400 / 3
    sd_of_mean = np.sqrt(1050 * 1e-4 * (20**4 / 5 - (400 / 3) ** 2)) / np.sqrt(len(returns))
    assert returns.mean() < -action_cost + 4 * sd_of_mean
    assert returns.mean() > -action_cost - 400  # distance ≤ ~1.5 m → ≤ 2.3 per step
