"""Device choice shared by the runner and the benchmarks: `auto|cpu|cuda[:i]` to a torch device."""

from __future__ import annotations

import torch

from pets.errors import ConfigError


def resolve_device(device: str) -> torch.device:
    """Map auto/cpu/cuda[:i] to a torch device, failing clearly when CUDA is asked but absent.

    Raises:
        ConfigError: CUDA was asked for and is not available.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"-device {device} was asked for, but CUDA is not available here")
    return torch.device(device)


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work (for timing); a no-op on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
