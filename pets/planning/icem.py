"""iCEM, the improved cross-entropy method of Pinneri et al. (CoRL 2020), as its authors run it.

Owns `docs/spec/planners.md` §1: coloured-noise samples clipped to the bounds, a population that
decays on a fixed schedule, the best elites of the previous iteration kept with their costs, the
best elites of the previous re-plan shifted into the next, the mean as a sample in the last
iteration, and the best sequence (not the mean) as the plan. Minimises the batched candidate cost
`cost_fn(actions [N, H, a]) -> [N]` of `pets.planning.mpc` on the bounds' device.

What iCEM carries from one re-plan to the next (its mean, its elites and their costs, the shifted
elites) lives in buffers allocated once and written in place, and the population of every
iteration is known at construction, so a whole re-plan (`solve`, then `advance`) has static shapes
and no host sync and can be captured as one CUDA graph. Knows nothing of models or tasks.
"""

from __future__ import annotations

import torch
from torch import Tensor

from pets.config.planners import icem_populations
from pets.errors import ConfigError
from pets.planning.noise import ColoredNoise
from pets.planning.optimizers import CostFn, check_bounds

__all__ = ["ICEMOptimizer"]


class ICEMOptimizer:
    """iCEM over action sequences in the box `[lb, ub]` (`docs/spec/planners.md` §1).

    Iteration i draws `N_i` sequences `clip(mean + std · noise, lb, ub)`, the noise coloured
    along the horizon (`pets.planning.noise`); iteration 0 adds the shifted elites of the last
    re-plan, iterations ≥ 1 the best `⌊elite_fraction·K⌋` elites of the previous iteration with
    their old costs (not simulated again); the last iteration's first sample is the mean. The K
    lowest-cost candidates are the elites; `mean ← (1 − α)·mean(elites) + α·mean`, and the same
    for the std (population std). The plan is the best candidate of the last iteration.

    Between re-plans (`advance`) the mean moves left by the executed steps, its last entry
    repeated; the std restarts from `init_std · (ub − lb)/2`. `reset` starts an episode: the
    mean back to the bounds' midpoint and no elites to shift.

    Args:
        popsize: N_0, samples of the first iteration.
        num_elites: K, 2 ≤ K ≤ popsize // 2.
        max_iters: iterations per re-plan.
        alpha: weight of the previous mean and std.
        decay: γ of the schedule N_i = max(2K, ⌊N_{i−1}/γ⌋).
        init_std: the std at each re-plan, in half action ranges.
        noise_beta: β of the noise's `f^−β` spectrum (0: white).
        elite_fraction: fraction of the K elites kept and shifted.
        keep_elites: add the previous iteration's best elites (iterations ≥ 1).
        shift_elites: add the previous re-plan's best elites, shifted (iteration 0).
        use_mean: the mean replaces the first sample of the last iteration.
        lb: [H, a] lower bounds.
        ub: [H, a] upper bounds.

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
        decay: float,
        init_std: float,
        noise_beta: float,
        elite_fraction: float,
        keep_elites: bool,
        shift_elites: bool,
        use_mean: bool,
        lb: Tensor,
        ub: Tensor,
    ) -> None:
        if not 2 <= num_elites <= popsize // 2:
            raise ConfigError(f"num_elites must be in [2, popsize // 2], got {num_elites}")
        if max_iters < 1 or decay < 1.0:
            raise ConfigError(f"max_iters must be ≥ 1 and decay ≥ 1, got {max_iters}, {decay}")
        check_bounds(lb, ub)
        self.populations = icem_populations(popsize, num_elites, max_iters, decay)
        self.num_elites = num_elites
        self.alpha = alpha
        self.noise = ColoredNoise(noise_beta, lb.shape[0], device=lb.device, dtype=lb.dtype)
        self.reused = int(num_elites * elite_fraction)  # the authors' int(K · fraction)
        self.keep = keep_elites and self.reused > 0
        self.shift = shift_elites and self.reused > 0
        self.use_mean = use_mean
        self.lb, self.ub = lb, ub
        self._midpoint = (lb + ub) / 2  # [H, a]
        self._init_std = init_std * (ub - lb) / 2  # [H, a]
        h, a = lb.shape
        # State across re-plans, written in place (a captured re-plan reads the same addresses).
        self.mean = self._midpoint.clone()  # [H, a]
        self.elites = self._midpoint.expand(num_elites, h, a).clone()  # [K, H, a] best first
        self.elite_costs = torch.full((num_elites,), torch.inf, device=lb.device, dtype=lb.dtype)
        self.shifted = self._midpoint.expand(self.reused, h, a).clone()  # [r, H, a]
        self.has_shifted = torch.zeros((), dtype=torch.bool, device=lb.device)

    def state(self) -> tuple[Tensor, ...]:
        """The buffers carried between re-plans (for a rehearsal and a graph's buffer key)."""
        return (self.mean, self.elites, self.elite_costs, self.shifted, self.has_shifted)

    def reset(self) -> None:
        """Start an episode: the mean at the midpoint, no elites (none are inherited)."""
        self.mean.copy_(self._midpoint)
        self.elites.copy_(self._midpoint.expand_as(self.elites))
        self.elite_costs.fill_(torch.inf)
        self.shifted.copy_(self._midpoint.expand_as(self.shifted))
        self.has_shifted.fill_(False)

    def solve(
        self, mean0: Tensor, var0: Tensor, cost_fn: CostFn, generator: torch.Generator
    ) -> Tensor:
        """Run the iterations from the carried mean and return the best sequence found.

        Args:
            mean0: [H, a] unused: iCEM carries its own mean between re-plans (shifted, last
                entry repeated, `advance`); the MPC's warm start pads with the midpoint instead.
            var0: [H, a] unused: the std restarts from `init_std` at every re-plan.
            cost_fn: candidate costs, [N, H, a] -> [N].
            generator: random source on the bounds' device.

        Returns:
            [H, a] the lowest-cost sequence of the last iteration.
        """
        mean, std = self.mean, self._init_std
        elites, elite_costs = self.elites, self.elite_costs
        last = len(self.populations) - 1
        for i, n in enumerate(self.populations):
            samples = self._sample(mean, std, n, generator)  # [N_i, H, a]
            if i == last and self.use_mean:
                samples = torch.cat([mean.unsqueeze(0), samples[1:]])  # sample 0 := mean
            if i == 0 and self.shift:
                samples = torch.cat([samples, self.shifted])  # [N_0 + r, H, a]
                costs = cost_fn(samples)  # [N_0 + r]
                # DEVIATION: at an episode's first re-plan there is nothing to shift; the authors
                # simulate N_0 candidates there, here the slots are simulated (static shapes)
                # but masked, so they can never be elites (docs/spec/planners.md §3).
                masked = torch.where(self.has_shifted, costs[n:], torch.inf)
                costs = torch.cat([costs[:n], masked])
            else:
                costs = cost_fn(samples)  # [N_i]
            if i > 0 and self.keep:
                r = self.reused
                samples = torch.cat([samples, elites[:r]])  # + [r, H, a], best first
                costs = torch.cat([costs, elite_costs[:r]])  # their old costs
            elites, elite_costs = self._elites(samples, costs)
            mean, std = self._update(mean, std, elites)
        self.mean.copy_(mean)
        self.elites.copy_(elites)
        self.elite_costs.copy_(elite_costs)
        return elites[0].clone()  # the best of the last iteration (elites are sorted)

    def advance(self, steps: int, generator: torch.Generator) -> None:
        """Move the carried state on by the `steps` actions executed from the last plan.

        The mean shifts left, its last entry repeated; the best `r` elites shift left too, and
        their last `steps` actions are drawn afresh from the shifted mean and the initial std
        (the last time slices of a full coloured draw, clipped), as the authors draw them.
        """
        # DEVIATION: the authors re-plan every step and shift by one; with PETS's `per` the
        # state moves on by the `per` executed steps, the same shift when per = 1.
        mean = self.mean
        self.mean.copy_(torch.cat([mean[steps:], mean[-1:].expand(steps, -1)]))  # [H, a]
        if self.shift:
            tail = self._sample(self.mean, self._init_std, self.reused, generator)[:, -steps:]
            kept = self.elites[: self.reused, steps:]  # [r, H − steps, a]
            self.shifted.copy_(torch.cat([kept, tail], dim=1))  # -> [r, H, a]
            self.has_shifted.fill_(True)

    def _sample(self, mean: Tensor, std: Tensor, n: int, generator: torch.Generator) -> Tensor:
        """Draw [n, H, a] sequences `clip(mean + std · coloured noise, lb, ub)`."""
        noise = self.noise.sample(n, mean.shape[1], generator)  # [n, H, a]
        # PETS's CEM truncates at 2σ inside the bounds; iCEM clips instead (point masses at
        # the bounds), as its authors do.
        return torch.clamp(noise * std + mean, self.lb, self.ub)

    def _elites(self, samples: Tensor, costs: Tensor) -> tuple[Tensor, Tensor]:
        """The K lowest-cost candidates and their costs, best first: [N, H, a] -> [K, H, a]."""
        best = torch.topk(costs, self.num_elites, largest=False, sorted=True)
        return samples.index_select(0, best.indices), best.values

    def _update(self, mean: Tensor, std: Tensor, elites: Tensor) -> tuple[Tensor, Tensor]:
        """Momentum update towards the elites' mean and population std."""
        a = self.alpha
        elite_mean = elites.mean(dim=0)  # [K, H, a] -> [H, a]
        elite_std = elites.std(dim=0, correction=0)  # -> [H, a], ddof 0 as numpy's std
        return (1.0 - a) * elite_mean + a * mean, (1.0 - a) * elite_std + a * std
