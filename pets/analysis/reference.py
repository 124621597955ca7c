"""Reference returns of the original PETS, and how our returns are compared with them.

Owns the reference table (one value per env, the original TensorFlow code's max-so-far return at
the paper's horizon, `docs/spec/reference-numbers.md` §1, `docs/spec/pets-facts.md` §10) and the
two comparisons the summary reports: the our/reference ratio and the "90 % of the reference"
threshold. Imports nothing from the rest of the package; no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# "Steps to reach 90 % of the reference" (docs/spec/reference-numbers.md §1).
THRESHOLD_FRACTION = 0.9


@dataclass(frozen=True)
class Reference:
    """One env's reference return.

    Attributes:
        value: max-so-far episode return of the original PETS (PE-TSinf, CEM).
        env_steps: environment steps at which `value` is read off (the paper's horizon).
        source: where the number comes from, in words.
    """

    value: float
    env_steps: int
    source: str
    curve: tuple[tuple[int, float], ...] = ()  # (env steps, return) points read off, in order


_QUANVUONG = (
    "TF original re-run, max-so-far, 1 seed, read off the plots of "
    "quanvuong/handful-of-trials-pytorch (docs/spec/reference-numbers.md §1)"
)

REFERENCES: dict[str, Reference] = {
    # docs/spec/pets-facts.md §10: the points read off the TF original's max-so-far curve.
    "cartpole": Reference(180.0, 3_000, _QUANVUONG, ((1_400, 175.0), (3_000, 180.0))),
    "reacher": Reference(
        -38.0, 15_000, _QUANVUONG, ((2_700, -48.0), (5_500, -40.0), (15_000, -38.0))
    ),
    "pusher": Reference(-67.0, 15_000, _QUANVUONG, ((3_000, -80.0), (15_000, -67.0))),
    "halfcheetah": Reference(
        15_000.0,
        300_000,
        "paper-level return, approximate: PETS paper Fig. 3 as quoted by the "
        "quanvuong/handful-of-trials-pytorch README (docs/spec/reference-numbers.md §1)",
        ((300_000, 15_000.0),),
    ),
}
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


@dataclass(frozen=True)
class RandomPolicyReturns:
    """A uniformly random policy's episode returns on one task (`pets.run.baseline`)."""

    mean: float
    sd: float  # sample standard deviation (ddof 1)
    best: float  # the highest of the episodes


# `python tools/random_policy.py --episodes 20 --seed 0` (mujoco 3, this package's envs);
# tests/analysis/test_random_policy.py recomputes it.
RANDOM_POLICY_EPISODES = 20
RANDOM_POLICY_SEED = 0
RANDOM_POLICY: dict[str, RandomPolicyReturns] = {
    "cartpole": RandomPolicyReturns(-4.270609548458408, 1.600043260459265, -0.3469554378916695),
    "reacher": RandomPolicyReturns(-1496.6028257430294, 51.6031574856358, -1409.310117141249),
    "pusher": RandomPolicyReturns(-296.3328587540563, 15.146932512748814, -266.5541185443507),
    "halfcheetah": RandomPolicyReturns(-283.4815422826389, 86.08835701090499, -144.19252120295798),
}


def margin_in_sd(ours: float, random: RandomPolicyReturns | None) -> float:
    """(ours − random mean) / random SD: how far above a random policy a return lies."""
    if random is None or not random.sd > 0:
        return math.nan
    return (ours - random.mean) / random.sd


def ratio_to_reference(ours: float, reference: float) -> float:
    """Compare a return with the reference so that 1 means "as good" and more means better.

    Positive references (cartpole, halfcheetah) are rewards: ratio = ours / reference.
    Negative references (reacher, pusher) are costs in disguise (return = −cost): the ratio of
    costs, reference / ours = cost_ref / cost_ours, keeps "more is better"; it is +inf when our
    return is not negative (zero cost), which the costs of those tasks never reach.

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
