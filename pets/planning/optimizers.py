"""Optimizers over action sequences: the cross-entropy method and random shooting.

Owns CEM (`docs/spec/pets-facts.md` §6.5) and random shooting (§6.6). Both minimise a batched cost
function `cost_fn(actions [N, H, a]) -> [N]` over sequences inside the box `[lb, ub]`, on the
device of the bounds, with a fixed number of steps and no host-device synchronisation, so a whole
solve can be captured as a CUDA graph. Knows nothing of models, tasks or propagation.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from pets.errors import ConfigError

__all__ = [
    "CEMOptimizer",
    "CostFn",
    "RandomOptimizer",
    "check_bounds",
    "truncated_standard_normal",
]

CostFn = Callable[[Tensor], Tensor]
"""Maps candidate action sequences [N, H, a] to their costs [N] (lower is better)."""

# docs/spec/pets-facts.md §6.5: TF's truncated_normal keeps draws within two standard deviations.
TRUNCATION = 2.0
_ERF_TRUNCATION = math.erf(TRUNCATION / math.sqrt(2.0))  # P(|Z| ≤ 2) = 0.9545


def truncated_standard_normal(u: Tensor) -> Tensor:
    """Map uniforms to N(0, 1) truncated to [−2, 2] by the inverse CDF.

    `z = Φ⁻¹(Φ(−2) + u·(Φ(2) − Φ(−2))) = √2·erfinv((2u − 1)·erf(√2))`. If u ~ U(0, 1), z has the
    CDF `(Φ(z) − Φ(−2)) / (Φ(2) − Φ(−2))` on [−2, 2]: exactly the distribution of TF's
    `truncated_normal`, which re-draws out-of-range values (rejection sampling yields the same
    conditional law). The inverse CDF needs one draw per sample, so shapes stay static and no
    data-dependent loop is needed. The clamp only guards float rounding at the ends.

    Args:
        u: uniforms in [0, 1), any shape.

    Returns:
        Samples of the same shape, in [−2, 2].
    """
    z = torch.erfinv((2.0 * u - 1.0) * _ERF_TRUNCATION) * math.sqrt(2.0)
    return z.clamp_(-TRUNCATION, TRUNCATION)


def check_bounds(lb: Tensor, ub: Tensor) -> None:
    """Raise ConfigError unless `lb` and `ub` are both [H, a]."""
    if lb.dim() != 2 or lb.shape != ub.shape:
        raise ConfigError(f"lb and ub must both be [H, a], got {tuple(lb.shape)} and {ub.shape}")


class CEMOptimizer:
    """The cross-entropy method of the original (`docs/spec/pets-facts.md` §6.5), TF branch.

    Each iteration: clip the variance so two standard deviations stay inside the bounds,
    `c = min(((m − lb)/2)², ((ub − m)/2)², v)`; draw `popsize` sequences from N(m, c) truncated at
    ±2σ; take the `num_elites` lowest-cost ones; `m ← α·m + (1 − α)·mean(elites)`,
    `v ← α·v + (1 − α)·var(elites)` (population variance). The original stops when
    `max(v) ≤ epsilon`; here every iteration runs and a converged state is frozen by masking,
    which returns the same mean without a host sync.

    Args:
        popsize: N, sequences per iteration.
        num_elites: elites per iteration (≤ popsize).
        max_iters: iterations.
        alpha: weight of the previous mean and variance.
        epsilon: variance below which the distribution is frozen.
        lb: [H, a] lower bounds of the actions.
        ub: [H, a] upper bounds of the actions.

    Raises:
        ConfigError: a setting out of range or bounds of different shapes.
    """

    def __init__(
        self,
        *,
        popsize: int,
        num_elites: int,
        max_iters: int,
        alpha: float,
        epsilon: float,
        lb: Tensor,
        ub: Tensor,
    ) -> None:
        if not 1 <= num_elites <= popsize:
            raise ConfigError(f"num_elites must be in [1, popsize={popsize}], got {num_elites}")
        if max_iters < 1:
            raise ConfigError(f"max_iters must be at least 1, got {max_iters}")
        if not 0.0 <= alpha <= 1.0:
            raise ConfigError(f"alpha must be in [0, 1], got {alpha}")
        check_bounds(lb, ub)
        self.popsize = popsize
        self.num_elites = num_elites
        self.max_iters = max_iters
        self.alpha = alpha
        self.epsilon = epsilon
        self.lb = lb
        self.ub = ub

    def solve(
        self, mean0: Tensor, var0: Tensor, cost_fn: CostFn, generator: torch.Generator
    ) -> Tensor:
        """Minimise `cost_fn` starting from N(mean0, var0).

        Args:
            mean0: [H, a] initial mean (the warm start).
            var0: [H, a] initial variance.
            cost_fn: candidate costs, [N, H, a] -> [N].
            generator: random source on the bounds' device.

        Returns:
            [H, a] the final smoothed mean (the original returns it, not the best sample).
        """
        mean, var = mean0, var0
        for _ in range(self.max_iters):
            active = var.amax() > self.epsilon  # [H, a] -> [] bool, stays on the device
            samples = self._sample(mean, var, generator)
            elites = self._elites(samples, cost_fn(samples))
            new_mean, new_var = self._update(mean, var, elites)
            mean = torch.where(active, new_mean, mean)
            var = torch.where(active, new_var, var)
        return mean

    def _sample(self, mean: Tensor, var: Tensor, generator: torch.Generator) -> Tensor:
        """Draw [N, H, a] sequences from N(mean, var) truncated at ±2σ inside the bounds."""
        lb_dist, ub_dist = mean - self.lb, self.ub - mean
        c = torch.minimum(torch.minimum((lb_dist / 2).square(), (ub_dist / 2).square()), var)
        u = torch.rand(
            (self.popsize, *mean.shape), generator=generator, device=mean.device, dtype=mean.dtype
        )  # [N, H, a]
        samples = truncated_standard_normal(u).mul_(c.sqrt()).add_(mean)  # [H, a] -> [N, H, a]
        # m ± 2·√c lies inside [lb, ub] by construction; the clamp only removes rounding.
        return torch.clamp(samples, self.lb, self.ub)

    def _elites(self, samples: Tensor, costs: Tensor) -> Tensor:
        """Select the `num_elites` lowest-cost sequences, [N, H, a] -> [K, H, a]."""
        idx = torch.topk(costs, self.num_elites, largest=False, sorted=False).indices  # [N] -> [K]
        return samples.index_select(0, idx)  # [N, H, a] -> [K, H, a]

    def _update(self, mean: Tensor, var: Tensor, elites: Tensor) -> tuple[Tensor, Tensor]:
        """Smooth the mean and variance towards the elites' moments."""
        elite_mean = elites.mean(dim=0)  # [K, H, a] -> [H, a]
        elite_var = (elites - elite_mean).square().mean(dim=0)  # -> [H, a], population variance
        a = self.alpha
        return a * mean + (1.0 - a) * elite_mean, a * var + (1.0 - a) * elite_var


class RandomOptimizer:
    """Random shooting (`docs/spec/pets-facts.md` §6.6): the best of `popsize` uniform sequences.

    Args:
        popsize: N, sequences drawn uniformly in the box.
        lb: [H, a] lower bounds of the actions.
        ub: [H, a] upper bounds of the actions.

    Raises:
        ConfigError: `popsize` < 1 or bounds of different shapes.
    """

    def __init__(self, *, popsize: int, lb: Tensor, ub: Tensor) -> None:
        if popsize < 1:
            raise ConfigError(f"popsize must be at least 1, got {popsize}")
        check_bounds(lb, ub)
        self.popsize = popsize
        self.lb = lb
        self.ub = ub

    def solve(
        self, mean0: Tensor, var0: Tensor, cost_fn: CostFn, generator: torch.Generator
    ) -> Tensor:
        """Return the lowest-cost of `popsize` uniform sequences.

        Args:
            mean0: [H, a] ignored (the original ignores the warm start too).
            var0: [H, a] ignored.
            cost_fn: candidate costs, [N, H, a] -> [N].
            generator: random source on the bounds' device.

        Returns:
            [H, a] the best sampled sequence.
        """
        u = torch.rand(
            (self.popsize, *self.lb.shape),
            generator=generator,
            device=self.lb.device,
            dtype=self.lb.dtype,
        )  # [N, H, a]
        samples = self.lb + (self.ub - self.lb) * u  # [N, H, a]
        best = cost_fn(samples).argmin().view(1)  # [N] -> [1]; no .item(): stays on the device
        return samples.index_select(0, best).squeeze(0)  # [N, H, a] -> [H, a]
