"""Reference returns of the original PETS, and how our returns are compared with them.

Reads each task's reference (the original TensorFlow code's max-so-far return at the paper's
horizon, `docs/spec/reference-numbers.md` §1, `docs/spec/pets-facts.md` §10) and random-policy
returns from the task registry, and owns the comparisons the summary reports: the
our/reference ratio, the "90 % of the reference" threshold and the margin over a random policy.
No torch.
"""

from __future__ import annotations

import math

from pets.envs.registry import RandomPolicyReturns, Reference, tasks

# "Steps to reach 90 % of the reference" (docs/spec/reference-numbers.md §1).
THRESHOLD_FRACTION = 0.9


def references() -> dict[str, Reference]:
    """env → reference return, for every registered task that has one (`pets.envs.registry`)."""
    return {name: spec.reference for name, spec in tasks().items() if spec.reference}


REFERENCE_METHOD = "PE-TSinf"  # the configuration the reference numbers were obtained with
REFERENCE_OPT = "CEM"


def reference_near(ref: Reference, env_steps: int) -> tuple[float, int]:
    """The reference level for a run of `env_steps` steps: the earliest read-off point at or
    after `env_steps` (the original had at least as many steps there), else the last point.

    Returns:
        (return, env steps of that point); (NaN, 0) for a reference without curve points.
    """
    if not ref.curve:
        return (math.nan, 0)
    later = [point for point in ref.curve if point[0] >= env_steps]
    steps, value = later[0] if later else ref.curve[-1]
    return (value, steps)


# The random policy's returns are each task's registry entry (`python tools/random_policy.py
# --episodes 20 --seed 0` printed them; tests/analysis/test_random_policy.py recomputes them).
RANDOM_POLICY_EPISODES = 20
RANDOM_POLICY_SEED = 0


def random_policies() -> dict[str, RandomPolicyReturns]:
    """env → a uniformly random policy's returns, for every registered task that has them."""
    return {name: spec.random_policy for name, spec in tasks().items() if spec.random_policy}


def margin_in_sd(ours: float, random: RandomPolicyReturns | None) -> float:
    """(ours − random mean) / random SD: how far above a random policy a return lies."""
    if random is None or not random.sd > 0:
        return math.nan
    return (ours - random.mean) / random.sd


def ratio_to_reference(ours: float, reference: float) -> float:
    """Compare a return with the reference so that 1 means "as good" and more means better.

    Positive references are rewards: ratio = ours / reference.
    Negative references (tasks scored by a cost) are costs in disguise (return = −cost): the
    ratio of costs, reference / ours = cost_ref / cost_ours, keeps "more is better"; it is +inf
    when our return is not negative (zero cost), which the costs of those tasks never reach.

    Args:
        ours: our return (e.g. the seed-mean final max-so-far return).
        reference: the reference return.

    Returns:
        The ratio, or NaN when either value is NaN or the reference is 0.
    """
    if math.isnan(ours) or math.isnan(reference) or reference == 0:
        return math.nan
    if reference > 0:
        return ours / reference
    return reference / ours if ours < 0 else math.inf


def threshold_return(reference: float, fraction: float = THRESHOLD_FRACTION) -> float:
    """The return at which `ratio_to_reference` reaches `fraction`.

    Positive reference: fraction · reference (90 % of the reward). Negative reference:
    reference / fraction (a cost 1/0.9 ≈ 1.11 times the reference cost; reacher −38 → −42.2).
    A return reaches the threshold when it is greater than or equal to it.

    Returns:
        The threshold return, NaN for a NaN or zero reference.
    """
    if math.isnan(reference) or reference == 0:
        return math.nan
    return reference * fraction if reference > 0 else reference / fraction
