"""Slow loop references of the planning kernels, and small stand-ins for models and tasks.

Each reference walks over candidates, particles, members and samples one at a time, the way the spec
describes the operation (`docs/spec/pets-facts.md` §6), so the vectorised kernels in
`pets.planning.propagation`, `pets.planning.optimizers` and `pets.planning.mpc` can be held to them
(torchrl style). The references consume the generator in the same order and shapes as the kernels
(one draw of the whole noise tensor per step), so with equal generator states the outputs agree up
to float rounding. The stand-ins follow the model interface of `docs/spec/interfaces.md` §1
(`ensemble_size`, `probabilistic`, `in_dim`, `out_dim`, `forward(x [E, B, d_in]) -> (mean, var |
None)`) and the planning side of a task, with exactly known behaviour; no env or trained model is
involved.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from statistics import NormalDist

import numpy as np
import torch
from torch import Tensor, nn

NAN_COST = 1e6  # docs/spec/pets-facts.md §6.2, restated here on purpose (an independent oracle)

# --- stand-ins -----------------------------------------------------------------------------------


class AffineEnsemble(nn.Module):
    """Members with exactly known moments: mean_e = x·W_e + b_e, var_e = const_e (per output).

    Args:
        weight: [E, d_in, d_out].
        bias: [E, d_out].
        var: [E, d_out] member variances, or None for a deterministic ensemble (D/DE).
    """

    def __init__(self, weight: Tensor, bias: Tensor, var: Tensor | None) -> None:
        super().__init__()
        self.register_buffer("weight", weight.clone())
        self.register_buffer("bias", bias.clone())
        self.register_buffer("var", None if var is None else var.clone())
        self.ensemble_size, self.in_dim, self.out_dim = weight.shape
        self.probabilistic = var is not None

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        assert x.shape[0] == self.ensemble_size and x.shape[2] == self.in_dim
        mean = torch.baddbmm(self.bias.unsqueeze(1), x, self.weight)  # [E, B, d_out]
        if self.var is None:
            return mean, None
        return mean, self.var.unsqueeze(1).expand_as(mean)


class IdentityCodedEnsemble(nn.Module):
    """Member e returns `1000·e + x[..., 0]` in every output (mbrl-lib's identity-coded mocks).

    With a particle's row index in input column 0, each output names both the member that made it
    and the particle it belongs to. The variance is `var_value` (or None).
    """

    def __init__(
        self, ensemble_size: int, in_dim: int, out_dim: int, var_value: float | None
    ) -> None:
        super().__init__()
        self.ensemble_size, self.in_dim, self.out_dim = ensemble_size, in_dim, out_dim
        self.probabilistic = var_value is not None
        self.var_value = var_value
        self.register_buffer("_dummy", torch.zeros(1))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        e = torch.arange(self.ensemble_size, dtype=x.dtype, device=x.device).view(-1, 1, 1)
        mean = (1000.0 * e + x[..., :1]).expand(-1, -1, self.out_dim)  # [E, B, d_out]
        if self.var_value is None:
            return mean, None
        return mean, torch.full_like(mean, self.var_value)


class PointMassTask:
    """s' = s + Δ (Δ predicted), cost ‖s' − goal‖² + λ‖a‖², box action bounds; any dims."""

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        *,
        ac_lb: np.ndarray,
        ac_ub: np.ndarray,
        ac_weight: float = 0.5,
        goal: np.ndarray | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        self.name = "pointmass"
        self.obs_dim, self.act_dim = obs_dim, act_dim
        self.model_in_dim, self.model_out_dim = obs_dim + act_dim, obs_dim
        self.ac_lb = np.asarray(ac_lb, dtype=np.float32)
        self.ac_ub = np.asarray(ac_ub, dtype=np.float32)
        self.ac_weight = ac_weight
        goal_ = torch.zeros(obs_dim) if goal is None else torch.as_tensor(goal).float()
        self.goal = goal_.to(device)
        self.goal_updates = 0

    def obs_preproc(self, obs: Tensor) -> Tensor:
        return obs

    def targ_proc(self, obs: Tensor, next_obs: Tensor) -> Tensor:
        return next_obs - obs

    def obs_postproc(self, obs: Tensor, pred: Tensor) -> Tensor:
        return obs + pred

    def obs_cost(self, obs: Tensor) -> Tensor:
        return (obs - self.goal).square().sum(dim=-1)

    def ac_cost(self, act: Tensor) -> Tensor:
        return self.ac_weight * act.square().sum(dim=-1)

    def update_goal(self, env: object) -> None:
        self.goal.copy_(torch.as_tensor(env.goal, dtype=self.goal.dtype))  # type: ignore[attr-defined]
        self.goal_updates += 1


def point_mass_model(obs_dim: int, ensemble_size: int, var: float | None) -> AffineEnsemble:
    """The exact model of `PointMassTask` with Δ = a (needs act_dim == obs_dim): W = [0; I]."""
    d = obs_dim
    w = torch.cat([torch.zeros(d, d), torch.eye(d)]).expand(ensemble_size, 2 * d, d)
    variance = None if var is None else torch.full((ensemble_size, d), var)
    return AffineEnsemble(w, torch.zeros(ensemble_size, d), variance)


# --- propagation (§6.3) ---------------------------------------------------------------------------


def _member_moments(model: nn.Module, row: Tensor, member: int) -> tuple[Tensor, Tensor | None]:
    """One member on one input row: [d_in] -> 2 × [d_out]."""
    x = row.expand(model.ensemble_size, 1, -1)
    mean, var = model(x)
    return mean[member, 0], None if var is None else var[member, 0]


def _aggregate_row(model: nn.Module, row: Tensor) -> tuple[Tensor, Tensor]:
    """Ensemble mean of means; mean of variances plus variance of means (§5.3–§5.4)."""
    e = model.ensemble_size
    moments = [_member_moments(model, row, k) for k in range(e)]
    mean = sum(mu for mu, _ in moments) / e
    var = sum((mu - mean) ** 2 for mu, _ in moments) / e
    if moments[0][1] is not None:
        var = var + sum(v for _, v in moments) / e
    return mean, var


def propagate_reference(
    prop_type: str,
    model: nn.Module,
    inputs: Tensor,
    *,
    npart: int,
    ign_var: bool,
    generator: torch.Generator,
) -> Tensor:
    """Loop version of `Propagation.__call__`: one particle at a time."""
    m, _ = inputs.shape
    p, e = npart, model.ensemble_size
    n = m // p
    means: list[Tensor] = []
    variances: list[Tensor | None] = []
    if prop_type in ("TS1", "TSinf"):
        member_of = [0] * m
        if prop_type == "TS1":
            noise = torch.rand((n, p), generator=generator, device=inputs.device)
            for c in range(n):
                order = sorted(range(p), key=lambda q, c=c: float(noise[c, q]))
                for slot, particle in enumerate(order):
                    member_of[c * p + particle] = slot // (p // e)
        else:
            for row in range(m):
                member_of[row] = (row % p) // (p // e)
        for row in range(m):
            mu, var = _member_moments(model, inputs[row], member_of[row])
            means.append(mu)
            variances.append(var)
    else:
        for row in range(m):
            mu, var = _aggregate_row(model, inputs[row])
            means.append(mu)
            variances.append(var)
    if variances[0] is None or ign_var or prop_type == "E":
        return torch.stack(means)
    d = means[0].shape[0]
    eps = torch.randn((m, d), generator=generator, device=inputs.device)
    out = [means[row] + eps[row] * variances[row].sqrt() for row in range(m)]  # type: ignore[union-attr]
    if prop_type == "MM":
        z = torch.randn((m, d), generator=generator, device=inputs.device)
        for c in range(n):
            block = out[c * p : (c + 1) * p]
            mu = sum(block) / p
            var = sum((x - mu) ** 2 for x in block) / p  # biased, as the original
            for q in range(p):
                out[c * p + q] = mu + z[c * p + q] * var.sqrt()
    return torch.stack(out)


# --- candidate cost (§6.2) ------------------------------------------------------------------------


def candidate_costs_reference(
    task: PointMassTask,
    model: nn.Module,
    prop_type: str,
    obs: Tensor,
    actions: Tensor,
    *,
    npart: int,
    ign_var: bool,
    generator: torch.Generator,
) -> Tensor:
    """Loop version of `pets.planning.mpc.candidate_costs`: particle totals, NaN -> 1e6, mean."""
    n, h, _ = actions.shape
    p = npart
    states = [obs.clone() for _ in range(n * p)]
    totals = [0.0] * (n * p)
    for t in range(h):
        rows = [
            torch.cat([task.obs_preproc(states[row]), actions[row // p, t]]) for row in range(n * p)
        ]
        preds = propagate_reference(
            prop_type, model, torch.stack(rows), npart=p, ign_var=ign_var, generator=generator
        )
        for row in range(n * p):
            states[row] = task.obs_postproc(states[row], preds[row])
            step = task.obs_cost(states[row][None])[0] + task.ac_cost(actions[row // p, t][None])[0]
            totals[row] += float(step)
    costs = []
    for c in range(n):
        block = [NAN_COST if math.isnan(x) else x for x in totals[c * p : (c + 1) * p]]
        costs.append(sum(block) / p)
    return torch.tensor(costs, dtype=actions.dtype)


# --- optimizers (§6.5, §6.6) ----------------------------------------------------------------------

_STD = NormalDist()
_PHI_LO, _PHI_HI = _STD.cdf(-2.0), _STD.cdf(2.0)


def truncated_normal_reference(u: float) -> float:
    """Inverse CDF of N(0, 1) truncated to [−2, 2], via the standard library's NormalDist."""
    return _STD.inv_cdf(_PHI_LO + u * (_PHI_HI - _PHI_LO))


def cem_reference(
    mean0: Tensor,
    var0: Tensor,
    cost_fn: Callable[[Tensor], Tensor],
    generator: torch.Generator,
    *,
    lb: Tensor,
    ub: Tensor,
    popsize: int,
    num_elites: int,
    max_iters: int,
    alpha: float,
    epsilon: float,
) -> Tensor:
    """Loop version of `CEMOptimizer.solve` with the original's early stop (a `while` loop)."""
    mean = mean0.double().clone()
    var = var0.double().clone()
    lo, hi = lb.double(), ub.double()
    shape = mean.shape
    t = 0
    while t < max_iters and float(var.max()) > epsilon:
        u = torch.rand((popsize, *shape), generator=generator, dtype=mean0.dtype)
        samples = torch.empty((popsize, *shape), dtype=torch.float64)
        for i in range(popsize):
            for j in range(shape[0]):
                for k in range(shape[1]):
                    m = float(mean[j, k])
                    c = min(((m - lo[j, k]) / 2) ** 2, ((hi[j, k] - m) / 2) ** 2, float(var[j, k]))
                    samples[i, j, k] = m + math.sqrt(c) * truncated_normal_reference(
                        float(u[i, j, k])
                    )
        costs = cost_fn(samples.to(mean0.dtype)).tolist()
        order = sorted(range(popsize), key=lambda i: costs[i])[:num_elites]
        elites = samples[order]
        elite_mean = sum(elites[i] for i in range(num_elites)) / num_elites
        elite_var = sum((elites[i] - elite_mean) ** 2 for i in range(num_elites)) / num_elites
        mean = alpha * mean + (1 - alpha) * elite_mean
        var = alpha * var + (1 - alpha) * elite_var
        t += 1
    return mean.to(mean0.dtype)


def random_reference(
    cost_fn: Callable[[Tensor], Tensor],
    generator: torch.Generator,
    *,
    lb: Tensor,
    ub: Tensor,
    popsize: int,
) -> Tensor:
    """Loop version of `RandomOptimizer.solve`: uniform samples, the lowest cost."""
    u = torch.rand((popsize, *lb.shape), generator=generator, dtype=lb.dtype)
    samples = torch.stack([lb + (ub - lb) * u[i] for i in range(popsize)])
    costs = cost_fn(samples).tolist()
    best = min(range(popsize), key=lambda i: costs[i])
    return samples[best]


def shift_reference(plan: Tensor, per: int, pad: Tensor) -> Tensor:
    """Warm start of §6.1: rows per..H−1 of the plan, then `per` rows of the padding."""
    h = plan.shape[0]
    rows = [plan[t + per] if t + per < h else pad[t + per - h] for t in range(h)]
    return torch.stack(rows)
