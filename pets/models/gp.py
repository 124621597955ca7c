"""The GP dynamics model of PETS' baselines: sparse GP regression with Titsias' collapsed bound.

Owns the model of `-ca model-type GP` (`docs/spec/pets-facts.md` §5.7, the original's `TFGP.py`, a
gpflow 1.x `SGPR`): one RBF kernel with ARD lengthscales over the model input, shared by every
output dimension (one independent zero-mean GP per output), a Gaussian likelihood, and M
inducing points. The formulas are gpflow 1.x's `SGPR._build_likelihood` and
`_build_predict(full_cov=False)`, in float64. Training (`fit_gp`) lives in `pets.models.gp_fit`.

Prediction is the latent function's mean and variance (no observation noise), float64 inside and
float32 out, batched over all inputs; the predictive factors are precomputed after each fit, so a
prediction is two matmuls against fixed buffers (CUDA-graph safe). Knows nothing of
environments, propagation or planners.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

# gpflow 1.x defaults (gpflowrc and transforms.positive):
JITTER = 1e-6  # settings.numerics.jitter_level, added to the diagonal of Kuu
POSITIVE_LOWER = 1e-6  # transforms.Log1pe: value = softplus(raw) + 1e-6
INITIAL_VALUE = 1.0  # RBF(ARD=True) lengthscales and variance, Gaussian likelihood variance

__all__ = [
    "INITIAL_VALUE",
    "JITTER",
    "POSITIVE_LOWER",
    "SparseGP",
    "from_positive",
    "negative_bound",
    "rbf",
    "to_positive",
]


def to_positive(raw: Tensor) -> Tensor:
    """gpflow 1.x's `Log1pe` transform: unconstrained `raw` -> `softplus(raw) + 1e-6`."""
    return torch.nn.functional.softplus(raw) + POSITIVE_LOWER


def from_positive(value: float) -> float:
    """The inverse of `to_positive` for one value (gpflow's `Log1pe.backward`)."""
    y = max(value - POSITIVE_LOWER, 1e-300)
    return y + math.log(-math.expm1(-y))


def rbf(x: Tensor, z: Tensor, lengthscales: Tensor, variance: Tensor) -> Tensor:
    """ARD RBF kernel `σ²·exp(−½·Σ_k ((x_k − z_k)/ℓ_k)²)` (gpflow 1.x `RBF`).

    Args:
        x: [..., A, d] points.
        z: [B, d] points.
        lengthscales: [d] ℓ.
        variance: [] σ².

    Returns:
        [..., A, B] kernel matrix.
    """
    xs, zs = x / lengthscales, z / lengthscales
    # gpflow's square_dist: |x|² + |z|² − 2·x·zᵀ, clipped at 0 against round-off.
    sq = xs.square().sum(-1, keepdim=True) + zs.square().sum(-1) - 2.0 * xs @ zs.T  # [..., A, B]
    return variance * torch.exp(-0.5 * sq.clamp_min(0.0))


def _factors(
    x: Tensor, y: Tensor, z: Tensor, lengthscales: Tensor, variance: Tensor, noise: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The shared intermediates of gpflow's SGPR: L, A, LB and c (names as in gpflow)."""
    m = z.shape[0]
    eye = torch.eye(m, dtype=x.dtype, device=x.device)
    kuu = rbf(z, z, lengthscales, variance) + JITTER * eye  # [M, M]
    kuf = rbf(z, x, lengthscales, variance)  # [M, N]
    chol = torch.linalg.cholesky(kuu)  # L
    sigma = noise.sqrt()
    a = torch.linalg.solve_triangular(chol, kuf, upper=False) / sigma  # [M, N]
    chol_b = torch.linalg.cholesky(a @ a.T + eye)  # LB of B = AAᵀ + I
    c = torch.linalg.solve_triangular(chol_b, a @ y, upper=False) / sigma  # [M, d_out]
    return chol, a, chol_b, c


def negative_bound(
    x: Tensor, y: Tensor, z: Tensor, lengthscales: Tensor, variance: Tensor, noise: Tensor
) -> Tensor:
    """Minus Titsias' (2009) collapsed lower bound on log p(Y), summed over output dimensions.

    `log N(y | 0, Qff + σ²I) − tr(Kff − Qff)/(2σ²)` per output column, with
    `Qff = Kfu·Kuu⁻¹·Kuf`, in gpflow 1.x `SGPR._build_likelihood`'s Cholesky form.

    Args:
        x: [N, d_in] training inputs.
        y: [N, d_out] training targets.
        z: [M, d_in] inducing points.
        lengthscales: [d_in] ℓ.
        variance: [] kernel variance σ_f².
        noise: [] likelihood variance σ².

    Returns:
        [] the negative bound (what gpflow's optimiser minimises).
    """
    n, d_out = y.shape
    _, a, chol_b, c = _factors(x, y, z, lengthscales, variance, noise)
    trace_kff = n * variance  # Σ Kdiag: the RBF's diagonal is σ_f²
    bound = -d_out * chol_b.diagonal().log().sum() - 0.5 * n * d_out * math.log(2 * math.pi)
    bound = bound - 0.5 * n * d_out * noise.log()
    bound = bound - 0.5 * y.square().sum() / noise
    bound = bound + 0.5 * c.square().sum()
    bound = bound - 0.5 * d_out * trace_kff / noise
    bound = bound + 0.5 * d_out * a.square().sum()  # tr(AAᵀ)
    return -bound


class SparseGP(torch.nn.Module):
    """SGPR with a shared ARD RBF kernel, as the original's `TFGP` (`docs/spec/pets-facts.md` §5.7).

    Satisfies the dynamics-model interface of `pets.planning.propagation` as a one-member
    "ensemble": `forward(x [1, B, d_in]) -> (mean, var)`, both `[1, B, d_out]` float32, the latent
    function's moments (gpflow's `_build_predict(full_cov=False)`); the variance is the same
    for every output dimension (one kernel). Until the first fit it predicts mean 0 and the
    prior variance 1.

    State (all buffers, fixed shapes, so `state_dict` saves and restores it): the unconstrained
    hyperparameters (gpflow's starting values 1 on the first fit, then warm-started from the
    previous fit as gpflow's anchored parameters are), the inducing points, and the predictive
    factors `alpha` [M, d_out] and `q` [M, M] with
    `mean = k·alpha`, `var = σ_f² + rowsum((k·q) ∘ k)`, `k = k(x, Z)`.

    Args:
        in_dim: d_in, the model input width (`obs_preproc(obs) ++ action`).
        out_dim: d_out, the target width.
        num_inducing: M inducing points (200, or 300 for halfcheetah).
    """

    ensemble_size = 1
    io_dtype: Tensor
    raw_lengthscales: Tensor
    raw_variance: Tensor
    raw_noise: Tensor
    inducing: Tensor
    alpha: Tensor
    q: Tensor

    def __init__(self, in_dim: int, out_dim: int, *, num_inducing: int) -> None:
        super().__init__()
        if min(in_dim, out_dim, num_inducing) < 1:
            raise ValueError(
                f"in_dim, out_dim and num_inducing must be positive, got "
                f"{in_dim}, {out_dim}, {num_inducing}"
            )
        self.in_dim, self.out_dim, self.num_inducing = in_dim, out_dim, num_inducing
        f64 = torch.float64
        # First float buffer: the planner's dtype is read from it
        # (pets.planning.mpc.model_device_dtype);
        # PETS: the GP computes in float64 and casts its predictions to float32.
        self.register_buffer("io_dtype", torch.zeros((), dtype=torch.float32))
        raw = from_positive(INITIAL_VALUE)
        self.register_buffer("raw_lengthscales", torch.full((in_dim,), raw, dtype=f64))
        self.register_buffer("raw_variance", torch.tensor(raw, dtype=f64))
        self.register_buffer("raw_noise", torch.tensor(raw, dtype=f64))
        self.register_buffer("inducing", torch.zeros(num_inducing, in_dim, dtype=f64))
        self.register_buffer("alpha", torch.zeros(num_inducing, out_dim, dtype=f64))
        self.register_buffer("q", torch.zeros(num_inducing, num_inducing, dtype=f64))

    def architecture(self) -> dict[str, int]:
        """Constructor arguments, for saving."""
        return {"in_dim": self.in_dim, "out_dim": self.out_dim, "num_inducing": self.num_inducing}

    @property
    def lengthscales(self) -> Tensor:
        return to_positive(self.raw_lengthscales)

    @property
    def variance(self) -> Tensor:
        return to_positive(self.raw_variance)

    @property
    def noise(self) -> Tensor:
        return to_positive(self.raw_noise)

    @torch.no_grad()
    def set_posterior(self, x: Tensor, y: Tensor) -> None:
        """Precompute the predictive factors from training data and the current state.

        With gpflow's L, LB and c: `alpha = L⁻ᵀ·LB⁻ᵀ·c` and `q = L⁻ᵀ·(B⁻¹ − I)·L⁻¹`, so that
        `k·alpha` is `tmp2ᵀ·c` and `σ_f² + kᵀ·q·k` is `Kss + Σ tmp2² − Σ tmp1²` of
        `_build_predict`.

        Args:
            x: [N, d_in] float64 training inputs.
            y: [N, d_out] float64 training targets.
        """
        chol, _, chol_b, c = _factors(
            x, y, self.inducing, self.lengthscales, self.variance, self.noise
        )
        w = torch.linalg.solve_triangular(chol_b.T, c, upper=True)  # LB⁻ᵀ·c
        self.alpha.copy_(torch.linalg.solve_triangular(chol.T, w, upper=True))
        m = self.num_inducing
        eye = torch.eye(m, dtype=x.dtype, device=x.device)
        l_inv = torch.linalg.solve_triangular(chol, eye, upper=False)  # L⁻¹
        lb_inv = torch.linalg.solve_triangular(chol_b, eye, upper=False)  # LB⁻¹
        b_inv_minus_eye = lb_inv.T @ lb_inv - eye
        self.q.copy_(l_inv.T @ b_inv_minus_eye @ l_inv)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Latent predictive mean and variance, batched over every leading dimension.

        Args:
            x: [E, B, d_in] (E = 1 from propagation) or [B, d_in] model inputs, any float dtype.

        Returns:
            mean and var, each x's leading shape + [d_out], float32.
        """
        xd = x.to(torch.float64)
        k = rbf(xd, self.inducing, self.lengthscales, self.variance)  # [.., B, d_in] -> [.., B, M]
        mean = k @ self.alpha  # [..., B, M] -> [..., B, d_out]
        var = self.variance + ((k @ self.q) * k).sum(-1, keepdim=True)  # -> [..., B, 1]
        # DEVIATION: clipped at 0; round-off can push the exact-zero variance of a noiseless fit
        # slightly negative, where gpflow would give NaN samples.
        var = var.clamp_min(0.0).expand(mean.shape)  # [..., B, 1] -> [..., B, d_out]
        return mean.to(torch.float32), var.to(torch.float32)
