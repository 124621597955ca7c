"""The batched ensemble MLP of PETS: layers, input scaler, variance head and aggregation.

Owns the network that maps model inputs to moments (`docs/spec/pets-facts.md` §5.1–§5.4). It knows
nothing of environments, propagation or planners: no mode flags, no elites, no sampling.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pets.errors import ConfigError

# docs/spec/pets-facts.md §5.3: initial values of the trainable log-variance bounds.
MAX_LOGVAR_INIT = 0.5
MIN_LOGVAR_INIT = -10.0
# docs/spec/pets-facts.md §5.2: a standard deviation below this is replaced by 1.
SCALER_MIN_STD = 1e-12


def init_pets_linear_(
    weight: Tensor, bias: Tensor, generator: torch.Generator | None = None
) -> None:
    """Initialise one ensemble layer in place as the original `FC.py` does.

    Weights are drawn from a normal with σ = 1/(2·√d_in) truncated at ±2σ (TF's
    `truncated_normal` redraws samples beyond 2σ; inverse-CDF truncation gives the same
    distribution); biases are zero (`docs/spec/pets-facts.md` §5.1).

    Args:
        weight: [E, d_in, d_out] weights, overwritten.
        bias: [E, 1, d_out] biases, set to zero.
        generator: random source; the global one when None.
    """
    std = 1.0 / (2.0 * math.sqrt(weight.shape[-2]))
    with torch.no_grad():
        nn.init.trunc_normal_(
            weight, mean=0.0, std=std, a=-2.0 * std, b=2.0 * std, generator=generator
        )
        bias.zero_()


class EnsembleLinear(nn.Module):
    """E independent affine maps applied in one batched matmul.

    Args:
        ensemble_size: E.
        in_dim: input width of every member.
        out_dim: output width of every member.
        generator: random source for the initialisation; the global one when None.
    """

    def __init__(
        self,
        ensemble_size: int,
        in_dim: int,
        out_dim: int,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(ensemble_size, in_dim, out_dim))
        self.bias = nn.Parameter(torch.empty(ensemble_size, 1, out_dim))
        init_pets_linear_(self.weight, self.bias, generator)

    def forward(self, x: Tensor) -> Tensor:
        """Apply member e to slice e.

        Args:
            x: [E, B, in_dim] inputs.

        Returns:
            [E, B, out_dim] outputs, bias + x @ weight per member.
        """
        return torch.baddbmm(self.bias, x, self.weight)


class InputScaler(nn.Module):
    """Standardise inputs as (x − μ)/σ with statistics stored as buffers (saved in state_dict).

    Refit by `fit` at the start of every training call (`docs/spec/pets-facts.md` §5.2). The buffers
    are updated in place, so a captured CUDA graph sees new statistics.

    Args:
        dim: d_in.
    """

    mu: Tensor
    sigma: Tensor

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mu", torch.zeros(1, dim))
        self.register_buffer("sigma", torch.ones(1, dim))

    @torch.no_grad()
    def fit(self, x: Tensor) -> None:
        """Set μ to the mean and σ to the population std (ddof 0) of `x`; σ < 1e−12 → 1.

        Args:
            x: [N, d_in] training inputs (N ≥ 1). Statistics are computed in float64.
        """
        x64 = x.to(torch.float64)
        mu = x64.mean(dim=0, keepdim=True)
        sigma = x64.std(dim=0, correction=0, keepdim=True)
        sigma = torch.where(sigma < SCALER_MIN_STD, torch.ones_like(sigma), sigma)
        self.mu.copy_(mu)
        self.sigma.copy_(sigma)

    def forward(self, x: Tensor) -> Tensor:
        """Standardise `x` ([..., d_in] → [..., d_in])."""
        return (x - self.mu) / self.sigma


def bound_logvar(raw: Tensor, max_logvar: Tensor, min_logvar: Tensor) -> Tensor:
    """Squash a raw log-variance softly into [min_logvar, max_logvar] (§5.3).

    l1 = max − softplus(max − ρ); logvar = min + softplus(l1 − min).

    Args:
        raw: [E, B, d_out] raw log-variance ρ.
        max_logvar: [1, d_out] upper bound (trainable, shared by members).
        min_logvar: [1, d_out] lower bound (trainable, shared by members).

    Returns:
        [E, B, d_out] bounded log-variance.
    """
    upper = max_logvar - F.softplus(max_logvar - raw)
    return min_logvar + F.softplus(upper - min_logvar)


class Ensemble(nn.Module):
    """The PETS dynamics network: D, P (E = 1) and DE, PE (E > 1) (§5.3–§5.4).

    Input scaler, `hidden_layers` swish layers of `hidden_width`, a linear output layer. A
    probabilistic model's output layer is twice as wide (mean and raw log-variance), and its
    log-variance is bounded by the trainable, member-shared `max_logvar`/`min_logvar` [1, d_out].

    Args:
        in_dim: d_in.
        out_dim: d_out.
        ensemble_size: E ≥ 1.
        hidden_layers: number of hidden layers (≥ 1).
        hidden_width: width of each hidden layer.
        weight_decays: λ per weight matrix, input → … → output (hidden_layers + 1 values).
        probabilistic: True for P/PE (mean and variance), False for D/DE (mean only).
        generator: random source for the initialisation; the global one when None.

    Raises:
        ConfigError: a size is not positive or `weight_decays` has the wrong length.
    """

    max_logvar: nn.Parameter | None
    min_logvar: nn.Parameter | None

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        *,
        ensemble_size: int,
        hidden_layers: int,
        hidden_width: int,
        weight_decays: Sequence[float],
        probabilistic: bool,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        for key, value in (
            ("in_dim", in_dim),
            ("out_dim", out_dim),
            ("ensemble_size", ensemble_size),
            ("hidden_layers", hidden_layers),
            ("hidden_width", hidden_width),
        ):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{key} must be a positive integer, got {value!r}")
        decays = tuple(float(w) for w in weight_decays)
        if len(decays) != hidden_layers + 1:
            raise ConfigError(
                f"weight_decays needs hidden_layers + 1 = {hidden_layers + 1} values "
                f"(input → … → output), got {len(decays)}: {decays}"
            )
        if any(not math.isfinite(w) or w < 0 for w in decays):
            raise ConfigError(f"weight_decays must be finite and ≥ 0, got {decays}")
        self.in_dim = in_dim
        self.out_dim = out_dim
        self.ensemble_size = ensemble_size
        self.hidden_layers = hidden_layers
        self.hidden_width = hidden_width
        self.weight_decays = decays
        self.probabilistic = bool(probabilistic)

        widths = [in_dim] + [hidden_width] * hidden_layers + [out_dim * (2 if probabilistic else 1)]
        self.scaler = InputScaler(in_dim)
        self.layers = nn.ModuleList(
            EnsembleLinear(ensemble_size, d_i, d_o, generator=generator)
            for d_i, d_o in itertools.pairwise(widths)
        )
        if self.probabilistic:
            self.max_logvar = nn.Parameter(torch.full((1, out_dim), MAX_LOGVAR_INIT))
            self.min_logvar = nn.Parameter(torch.full((1, out_dim), MIN_LOGVAR_INIT))
        else:
            self.max_logvar = None
            self.min_logvar = None

    def architecture(self) -> dict[str, object]:
        """Return the constructor arguments (plain Python values) that rebuild this model."""
        return {
            "in_dim": self.in_dim,
            "out_dim": self.out_dim,
            "ensemble_size": self.ensemble_size,
            "hidden_layers": self.hidden_layers,
            "hidden_width": self.hidden_width,
            "weight_decays": list(self.weight_decays),
            "probabilistic": self.probabilistic,
        }

    def weights(self) -> list[Tensor]:
        """The layers' weight tensors [E, d_in, d_out], input → output (the matmul shapes)."""
        return [cast(EnsembleLinear, layer).weight for layer in self.layers]

    def mean_and_logvar(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """Run every member on its slice and return the mean and the bounded log-variance.

        Args:
            x: [E, B, d_in] raw (unscaled) inputs, member e's rows in slice e.

        Returns:
            mean [E, B, d_out] and logvar [E, B, d_out] (None for deterministic models).

        Raises:
            ConfigError: `x` is not [E, B, d_in].
        """
        if x.dim() != 3 or x.shape[0] != self.ensemble_size or x.shape[2] != self.in_dim:
            raise ConfigError(
                f"model input must have shape [E={self.ensemble_size}, B, d_in={self.in_dim}], "
                f"got {tuple(x.shape)}"
            )
        *hidden, output = self.layers
        h = self.scaler(x)
        for layer in hidden:
            h = F.silu(layer(h))  # swish(x) = x·sigmoid(x)
        out = output(h)
        if self.max_logvar is None or self.min_logvar is None:
            return out, None
        mean, raw = out.split(self.out_dim, dim=-1)  # [E, B, 2·d_out] -> 2 × [E, B, d_out]
        return mean, bound_logvar(raw, self.max_logvar, self.min_logvar)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """Predict per-member moments (the call used by TS propagation).

        Args:
            x: [E, B, d_in] raw inputs, member e's rows in slice e.

        Returns:
            mean [E, B, d_out] and var [E, B, d_out] (None for D/DE).
        """
        mean, logvar = self.mean_and_logvar(x)
        return mean, None if logvar is None else logvar.exp()


def predict_aggregated(model: Ensemble, x: Tensor) -> tuple[Tensor, Tensor]:
    """Predict the ensemble's moment-matched output for shared inputs (DS, MM, E propagation).

    mean = (1/E)·Σ_e μ_e; var = (1/E)·Σ_e var_e + (1/E)·Σ_e (μ_e − mean)² for P/PE, and only the
    variance of the means for D/DE (all zeros when E = 1) (`docs/spec/pets-facts.md` §5.3–§5.4).

    Args:
        model: the ensemble.
        x: [B, d_in] raw inputs, given to every member.

    Returns:
        mean [B, d_out] and var [B, d_out].

    Raises:
        ConfigError: `x` is not [B, d_in].
    """
    if x.dim() != 2 or x.shape[1] != model.in_dim:
        raise ConfigError(f"inputs must have shape [B, d_in={model.in_dim}], got {tuple(x.shape)}")
    xe = x.unsqueeze(0).expand(model.ensemble_size, -1, -1)  # [B, d_in] -> [E, B, d_in]
    means, variances = model(xe)
    mean = means.mean(dim=0)  # [E, B, d_out] -> [B, d_out]
    var = (means - mean).square().mean(dim=0)
    if variances is not None:
        var = var + variances.mean(dim=0)
    return mean, var
