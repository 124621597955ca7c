"""Coloured (power-law) Gaussian noise along the plan horizon, for iCEM's samples.

Owns the Timmer–König construction (`docs/spec/planners.md` §1.1): every Fourier component of a
length-H sequence gets a Gaussian real and imaginary part scaled by `f^(−β/2)`, the zero
frequency takes the lowest nonzero frequency's scale, and an inverse real DFT turns them into a
sequence whose power spectrum falls as `f^−β`. The inverse DFT of Gaussian components is a fixed
linear map of white noise, so it is built once as a matrix `[H, R]` (R = the real components
that are not always zero) and a draw is one batched matmul of `torch.randn` draws from the run's
generator: static shapes, no FFT plan, the same on every device. Knows nothing of optimizers.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

__all__ = ["ColoredNoise", "powerlaw_basis"]


def powerlaw_basis(beta: float, horizon: int) -> np.ndarray:
    """The matrix that maps white Gaussian components to unit-variance `f^−β` noise.

    Row t of the inverse real DFT of length n = H (numpy's `irfft` convention) is
    `y_t = (1/n)·[X_0 + X_{n/2}·(−1)^t + 2·Σ_k (Re X_k·cos(2πkt/n) − Im X_k·sin(2πkt/n))]`,
    over 1 ≤ k < n/2 (the Nyquist term only for even n). With `Re X_k, Im X_k ~ N(0, s_k²)`,
    `s_k = (k/n)^(−β/2)`, `s_0 = s_1`, the imaginary parts of the zero and Nyquist frequencies
    zero and their real parts scaled by √2 (so that β = 0 gives exactly white noise), every
    `y_t` has the variance `(2·s_0² + 4·Σ_k s_k² + 2·s_{n/2}²)/n²`; the matrix is divided by
    its square root, so the noise has unit variance at every step.

    Args:
        beta: the spectral exponent β (0: white noise).
        horizon: n = H, the sequence length.

    Returns:
        [H, R] float64, R = n columns (one per nonzero real component).
    """
    n = horizon
    t = np.arange(n)
    if n == 1:
        return np.ones((1, 1))  # one step has no spectrum: a single standard normal
    k = np.arange(1, n // 2 + 1)  # nonzero frequencies k/n, the Nyquist one last for even n
    scale = (k / n) ** (-beta / 2.0)  # s_k
    columns = [math.sqrt(2.0) * scale[0] * np.ones(n) / n]  # zero frequency, s_0 = s_1
    interior = k[k < n / 2]
    for kk, s in zip(interior, scale[: len(interior)], strict=True):
        angle = 2.0 * math.pi * kk * t / n
        columns += [2.0 * s * np.cos(angle) / n, -2.0 * s * np.sin(angle) / n]
    if n % 2 == 0:
        columns.append(math.sqrt(2.0) * scale[-1] * (-1.0) ** t / n)  # Nyquist, real
    basis = np.stack(columns, axis=1)  # R × [H] -> [H, R]
    # DEVIATION: divided by the exact standard deviation, the zero frequency included;
    # colorednoise leaves it out, so its noise has a variance of 1.2-1.4 at β 3 and H 30
    # (docs/spec/planners.md §3).
    return basis / np.sqrt((basis**2).sum(axis=1, keepdims=True))  # unit variance per step


class ColoredNoise:
    """Draws `[N, H, a]` noise: power law `f^−β` along H, independent per action dimension.

    Args:
        beta: the spectral exponent β (0: white noise).
        horizon: H.
        device: where the draws live.
        dtype: their dtype.
    """

    def __init__(
        self, beta: float, horizon: int, *, device: torch.device, dtype: torch.dtype
    ) -> None:
        self.basis = torch.as_tensor(powerlaw_basis(beta, horizon), dtype=dtype, device=device)

    def sample(self, n: int, act_dim: int, generator: torch.Generator) -> Tensor:
        """Draw n sequences of `act_dim` independent unit-variance coloured noise channels.

        Args:
            n: N, sequences.
            act_dim: a, independent channels per sequence.
            generator: the run's random source, on the basis's device.

        Returns:
            [N, H, a] noise.
        """
        r = self.basis.shape[1]
        z = torch.randn(
            (n, r, act_dim), generator=generator, device=self.basis.device, dtype=self.basis.dtype
        )  # [N, R, a] white components
        return torch.matmul(self.basis, z)  # [H, R] @ [N, R, a] -> [N, H, a]
