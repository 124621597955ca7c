"""Reference returns of the original PETS, and how our returns are compared with them.

Owns the reference table (one value per env, the original TensorFlow code's max-so-far return at
the paper's horizon, `spec/peers-and-numbers.md` §4, `spec/pets-facts.md` §10) and the two
comparisons the summary reports: the our/reference ratio and the "90 % of the reference"
threshold. Imports nothing from the rest of the package; no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

THRESHOLD_FRACTION = 0.9  # "steps to reach 90 % of the reference" (issue 8)


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


_QUANVUONG = (
    "TF original re-run, max-so-far, 1 seed, read off the plots of "
    "quanvuong/handful-of-trials-pytorch (pets-facts §10, peers-and-numbers §4)"
)

REFERENCES: dict[str, Reference] = {
    "cartpole": Reference(180.0, 3_000, _QUANVUONG),
    "reacher": Reference(-38.0, 15_000, _QUANVUONG),
    "pusher": Reference(-67.0, 15_000, _QUANVUONG),
    "halfcheetah": Reference(
        15_000.0,
        300_000,
        "paper-level return, approximate: PETS paper Fig. 3 as quoted by the "
        "quanvuong/handful-of-trials-pytorch README (pets-facts §10, peers-and-numbers §4)",
    ),
}
REFERENCE_METHOD = "PE-TSinf"  # the configuration the reference numbers were obtained with
REFERENCE_OPT = "CEM"


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
