"""MPPI in the form PDDM (Nagabandi et al., CoRL 2019) plans with, as its authors' code runs it.

Owns `docs/spec/planners.md` §2: Gaussian noise around the carried mean, filtered along the
horizon (`a_t = β·(μ_t + ε_t) + (1 − β)·a_{t−1}`, starting from the previous executed action),
clipped to the bounds; one reward-weighted average per re-plan, `w_k = exp(κ·(R_k − max R))`
with `R = −cost`. Minimises the batched candidate cost `cost_fn(actions [N, H, a]) -> [N]` of
`pets.planning.mpc` on the bounds' device.

The mean and the previous action are carried between re-plans in buffers allocated once and
written in place; shapes are static and nothing syncs with the host, so a whole re-plan (`solve`,
then `advance`) can be captured as one CUDA graph. Knows nothing of models or tasks.
"""

from __future__ import annotations

import torch
from torch import Tensor

from pets.errors import ConfigError
from pets.planning.optimizers import CostFn, check_bounds

__all__ = ["WEIGHT_EPS", "MPPIOptimizer", "mppi_mean"]

WEIGHT_EPS = 1e-10  # docs/spec/planners.md §2.2: added to the sum of the weights


def mppi_mean(samples: Tensor, costs: Tensor, kappa: float) -> Tensor:
    """The reward-weighted mean of candidate sequences (`docs/spec/planners.md` §2.2).

    `R = −cost`, `w_k = exp(κ·(R_k − max R))` (the best candidate weighs 1, so the sum never
    underflows), `μ = Σ_k w_k·a_k / (Σ_k w_k + 1e−10)`.

    Args:
        samples: [N, H, a] candidate sequences.
        costs: [N] their costs.
        kappa: κ.

    Returns:
        [H, a] the new mean.
    """
    rewards = -costs  # [N]; PDDM weights rewards, PETS minimises costs
    weights = torch.exp(kappa * (rewards - rewards.max()))  # [N]
    weighted = (weights[:, None, None] * samples).sum(dim=0)  # [N, H, a] -> [H, a]
    return weighted / (weights.sum() + WEIGHT_EPS)


class MPPIOptimizer:
    """PDDM's MPPI over action sequences in the box `[lb, ub]` (`docs/spec/planners.md` §2).

    Each re-plan draws `ε ~ N(0, σ²)` with `σ = sigma · (ub − lb)/2` (PDDM's actions lie in
    [−1, 1], where this is its σ), filters `a_0 = β·(μ_0 + ε_0) + (1 − β)·a_prev`,
    `a_t = β·(μ_t + ε_t) + (1 − β)·a_{t−1}`, clips to the bounds, and sets the mean to the
    weighted average of the clipped candidates (`mppi_mean`); the plan is that mean.

    Between re-plans (`advance`) the previous action becomes the last executed mean entry and the
    mean moves left, its last entry repeated. `reset` starts an episode at the midpoint.

    Args:
        popsize: N, candidates per re-plan.
        kappa: κ, the weights' temperature.
        sigma: the noise std in half action ranges.
        beta: β of the filter (1: unfiltered).
        lb: [H, a] lower bounds.
        ub: [H, a] upper bounds.

    Raises:
        ConfigError: a setting out of range or bounds of different shapes.
    """

    def __init__(
        self, *, popsize: int, kappa: float, sigma: float, beta: float, lb: Tensor, ub: Tensor
    ) -> None:
        if popsize < 1 or not 0.0 < beta <= 1.0:
            raise ConfigError(f"popsize must be ≥ 1 and beta in (0, 1], got {popsize}, {beta}")
        check_bounds(lb, ub)
        self.popsize = popsize
        self.kappa = kappa
        self.beta = beta
        self.lb, self.ub = lb, ub
        # DEVIATION: PDDM's actions lie in [-1, 1]; σ is taken in half action ranges and the
        # samples are clipped to [lb, ub], which is PDDM's rule on its box.
        self._std = sigma * (ub - lb) / 2  # [H, a]
        self._midpoint = (lb + ub) / 2  # [H, a]
        # State across re-plans, written in place (a captured re-plan reads the same addresses).
        self.mean = self._midpoint.clone()  # [H, a]
        self.prev_action = self._midpoint[0].clone()  # [a]

    def state(self) -> tuple[Tensor, ...]:
        """The buffers carried between re-plans (for a rehearsal and a graph's buffer key)."""
        return (self.mean, self.prev_action)

    def reset(self) -> None:
        """Start an episode: mean and previous action at the midpoint (PDDM's zeros)."""
        # DEVIATION: PDDM never resets its MPPI, so an episode starts from the last one's
        # mean; here each episode starts afresh, as PETS's warm start does
        # (docs/spec/planners.md §3).
        self.mean.copy_(self._midpoint)
        self.prev_action.copy_(self._midpoint[0])

    def solve(
        self, mean0: Tensor, var0: Tensor, cost_fn: CostFn, generator: torch.Generator
    ) -> Tensor:
        """One MPPI update from the carried mean.

        Args:
            mean0: [H, a] unused: MPPI carries its own mean (shifted with its last entry
                repeated, `advance`); the MPC's warm start pads with the midpoint instead.
            var0: [H, a] unused: the noise is always `sigma` half ranges.
            cost_fn: candidate costs, [N, H, a] -> [N].
            generator: random source on the bounds' device.

        Returns:
            [H, a] the new mean, whose first actions are executed.
        """
        samples = self._sample(generator)
        mean = mppi_mean(samples, cost_fn(samples), self.kappa)
        self.mean.copy_(mean)
        return mean

    def advance(self, steps: int, generator: torch.Generator) -> None:
        """Move on by the `steps` executed actions: the last of them filters the next draw."""
        self.prev_action.copy_(self.mean[steps - 1])
        self.mean.copy_(torch.cat([self.mean[steps:], self.mean[-1:].expand(steps, -1)]))

    def _sample(self, generator: torch.Generator) -> Tensor:
        """Draw [N, H, a] filtered candidates, clipped to the bounds."""
        h, a = self.mean.shape
        eps = (
            torch.randn(
                (self.popsize, h, a),
                generator=generator,
                device=self.lb.device,
                dtype=self.lb.dtype,
            )
            * self._std
        )  # [N, H, a]
        drive = self.beta * (self.mean + eps)  # β·(μ_t + ε_t), [N, H, a]
        samples = torch.empty_like(drive)
        prev = self.prev_action.expand(self.popsize, a)  # [N, a]
        for t in range(h):  # the filter runs on the unclipped actions, as PDDM's
            prev = drive[:, t] + (1.0 - self.beta) * prev
            samples[:, t] = prev
        return torch.clamp(samples, self.lb, self.ub)
