"""A learned termination: a Bernoulli classifier of whether a transition ends its episode.

For a gymnasium env whose termination pets does not know (`-ca termination learned`). It is
its own small network, not one more output of the dynamics ensemble, because that ensemble's
objective is a Gaussian likelihood on every output (and its CPU training step is hand-fused for
it); a Bernoulli output needs the cross-entropy. It is trained only once the data holds a
terminal transition, and until then predicts that nothing ends (`docs/spec/any-env.md` §4).
Knows nothing of environments or planners.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["TerminationModel"]


class TerminationModel(nn.Module):
    """p(terminated | o_t, a_t, o_{t+1}): a swish MLP on standardised inputs, one logit out.

    Args:
        obs_dim, act_dim: widths of the observation and the action.
        hidden_width, hidden_layers: the MLP's size.
        generator: CPU source of the initial weights (keeps the global stream untouched).
    """

    mu: Tensor
    sigma: Tensor
    fitted: Tensor

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        *,
        hidden_width: int = 200,
        hidden_layers: int = 2,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        width = 2 * obs_dim + act_dim
        sizes = [width] + [hidden_width] * hidden_layers + [1]
        linears = [nn.Linear(i, o) for i, o in itertools.pairwise(sizes)]
        with torch.no_grad():
            for layer in linears:
                bound = 1.0 / layer.in_features**0.5
                layer.weight.uniform_(-bound, bound, generator=generator)
                layer.bias.zero_()
        self.layers = nn.ModuleList(linears)
        self.register_buffer("mu", torch.zeros(width))
        self.register_buffer("sigma", torch.ones(width))
        # A tensor, not a Python bool: a captured re-plan reads it, and training flips it in place.
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    def logits(self, x: Tensor) -> Tensor:
        """[M, 2d + a] transitions -> [M] logits."""
        h = (x - self.mu) / self.sigma
        for layer in self.layers[:-1]:
            h = F.silu(layer(h))
        return self.layers[-1](h).squeeze(-1)

    def terminated(self, obs: Tensor, act: Tensor, next_obs: Tensor) -> Tensor:
        """bool [M]: p > 1/2, and nothing before the first fit."""
        x = torch.cat([obs, act, next_obs], dim=-1).to(self.mu.dtype)
        return (self.logits(x) > 0) & self.fitted

    def fit(
        self,
        x: Tensor,
        ended: Tensor,
        *,
        epochs: int = 20,
        batch_size: int = 256,
        lr: float = 1e-3,
        generator: torch.Generator | None = None,
    ) -> float:
        """Fit on transitions `x` [n, 2d + a] and 0/1 labels `ended` [n]; no-op without a 1.

        Terminal transitions are few (at most one per episode), so the positive class is
        weighted by negatives/positives: a balanced classifier, not one that says "never".

        Returns:
            The last epoch's mean weighted cross-entropy (NaN when nothing was fitted).
        """
        positives = float(ended.sum())
        if positives == 0:
            return float("nan")
        device = self.mu.device
        x, ended = x.to(device), ended.to(device, self.mu.dtype)
        self.mu.copy_(x.mean(dim=0))
        sigma = x.std(dim=0)
        self.sigma.copy_(torch.where(sigma < 1e-12, torch.ones_like(sigma), sigma))
        weight = torch.tensor((len(ended) - positives) / positives, device=device)
        optimizer = torch.optim.Adam(self.parameters(), lr=lr)
        loss_sum = torch.zeros((), device=device)
        for _ in range(epochs):
            order = torch.randperm(len(ended), generator=generator, device="cpu").to(device)
            loss_sum.zero_()
            for start in range(0, len(ended), batch_size):
                rows = order[start : start + batch_size]
                loss = F.binary_cross_entropy_with_logits(
                    self.logits(x[rows]), ended[rows], pos_weight=weight
                )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum += loss.detach() * len(rows)
        self.fitted.fill_(True)
        return float(loss_sum) / len(ended)
