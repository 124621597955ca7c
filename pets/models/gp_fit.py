"""One original-style training call of the GP model (`docs/spec/pets-facts.md` §5.7, `TFGP.train`).

Owns `fit_gp`: fresh inducing points from a random permutation of the training inputs (zero rows
appended when there are fewer inputs than inducing points), then kernel variance, ARD
lengthscales, likelihood variance and inducing points optimised jointly by L-BFGS-B on the
negative collapsed bound, as gpflow 1.x's `ScipyOptimizer().minimize(model)` does: scipy's
`minimize(method="L-BFGS-B", options={"maxiter": 1000})` (and `disp=False`) with scipy's other
defaults, over the unconstrained (`Log1pe`) parameters, exact gradients (here torch autograd in
float64 on the model's device). Imports only torch, numpy, scipy and `pets.models.gp`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from pets.errors import ConfigError
from pets.models.gp import SparseGP, negative_bound, to_positive

MAXITER = 1000  # gpflow 1.x ScipyOptimizer.minimize's default
METHOD = "L-BFGS-B"  # TF ScipyOptimizerInterface's default method


@dataclass(frozen=True)
class GPFitReport:
    """What one `fit_gp` call reports, shaped like `pets.models.FitReport` for the run's log.

    Attributes:
        epoch_losses: one entry, the final negative bound divided by N·d_out (so runs with
            growing data stay comparable).
        train_mse: MSE of the predictive mean on the training data.
        holdout_mse: always None (the GP uses all data, as the original).
        steps: L-BFGS-B iterations taken.
        evaluations: objective evaluations (each one bound and its gradient).
        message: scipy's termination message.
    """

    epoch_losses: list[float]
    train_mse: float
    holdout_mse: None
    steps: int
    evaluations: int
    message: str


def initial_inducing_points(inputs: Tensor, num: int, generator: torch.Generator) -> Tensor:
    """The first `num` rows of a random permutation of `inputs`, zero-padded to `num` rows.

    Args:
        inputs: [N, d_in] training inputs.
        num: M.
        generator: random source on the device of `inputs`.

    Returns:
        [M, d_in] inducing points (a copy).
    """
    n, d = inputs.shape
    perm = torch.randperm(n, generator=generator, device=inputs.device)
    z = inputs.index_select(0, perm[:num])  # [min(N, M), d_in]
    if z.shape[0] < num:  # PETS: TFGP pads with zero rows
        pad = torch.zeros(num - z.shape[0], d, dtype=inputs.dtype, device=inputs.device)
        z = torch.cat([z, pad])  # -> [M, d_in]
    return z


def _unpack(theta: Tensor, d: int, m: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The flat vector [raw ℓ (d), raw σ_f², raw σ², Z (M·d)] as its four parameters."""
    return theta[:d], theta[d], theta[d + 1], theta[d + 2 :].view(m, d)


def fit_gp(
    model: SparseGP,
    inputs: Tensor | np.ndarray,
    targets: Tensor | np.ndarray,
    *,
    generator: torch.Generator,
    maxiter: int = MAXITER,
) -> GPFitReport:
    """Fit `model` to all of `inputs`/`targets` as one call of the original's `TFGP.train`.

    Hyperparameters start from their values after the previous call (gpflow anchors the
    optimised values), inducing points from a fresh permutation. A failed Cholesky during
    the line search counts as +inf, so L-BFGS-B backs off.

    Args:
        model: the GP, on the device the computation should run on.
        inputs: [N, d_in] training inputs.
        targets: [N, d_out] training targets.
        generator: random source (on the model's device) of the inducing-point permutation.
        maxiter: L-BFGS-B's iteration limit.

    Returns:
        The report; the model's state (hyperparameters, inducing points, predictive factors)
        is updated in place.

    Raises:
        ConfigError: empty or mismatched data.
    """
    device = model.inducing.device
    x = torch.as_tensor(inputs).to(device=device, dtype=torch.float64)
    y = torch.as_tensor(targets).to(device=device, dtype=torch.float64)
    if x.dim() != 2 or y.dim() != 2 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ConfigError(f"GP training needs [N, d] inputs and targets, got {x.shape}, {y.shape}")
    if x.shape[1] != model.in_dim or y.shape[1] != model.out_dim:
        raise ConfigError(
            f"GP expects {model.in_dim} inputs and {model.out_dim} targets, "
            f"got {x.shape[1]} and {y.shape[1]}"
        )
    d, m = model.in_dim, model.num_inducing
    z0 = initial_inducing_points(x, m, generator)
    theta0 = torch.cat(
        [model.raw_lengthscales, model.raw_variance[None], model.raw_noise[None], z0.reshape(-1)]
    )
    scale = 1.0 / (x.shape[0] * model.out_dim)

    def objective(flat: np.ndarray) -> tuple[float, np.ndarray]:
        theta = torch.from_numpy(flat).to(device).requires_grad_(True)
        ls, var, noise, z = _unpack(theta, d, m)
        try:
            loss = negative_bound(x, y, z, to_positive(ls), to_positive(var), to_positive(noise))
        except torch.linalg.LinAlgError:
            return float("inf"), np.zeros_like(flat)
        (grad,) = torch.autograd.grad(loss, theta)
        return float(loss.detach()), grad.cpu().numpy()

    import scipy.optimize  # here, not at start-up: only GP runs need it

    result = scipy.optimize.minimize(
        objective,
        theta0.cpu().numpy(),
        jac=True,
        method=METHOD,
        options={"maxiter": maxiter},  # gpflow also passes disp=False, scipy's default
    )
    theta = torch.from_numpy(np.asarray(result.x, dtype=np.float64)).to(device)
    ls, var, noise, z = _unpack(theta, d, m)
    model.raw_lengthscales.copy_(ls)
    model.raw_variance.copy_(var)
    model.raw_noise.copy_(noise)
    model.inducing.copy_(z)
    model.set_posterior(x, y)
    with torch.no_grad():
        mean, _ = model(x)
    mse = float((mean.to(torch.float64) - y).square().mean())
    return GPFitReport(
        epoch_losses=[float(result.fun) * scale],
        train_mse=mse,
        holdout_mse=None,
        steps=int(result.nit),
        evaluations=int(result.nfev),
        message=str(result.message),
    )
