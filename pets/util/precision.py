"""Matmul precision of a run: full float32 (default, faithful) or opt-in TF32 on CUDA.

`pets mbexp -precision fp32|tf32` is recorded in config.yaml like `-threads` and may change
between a kill and its resume (`pets.run.experiment`). It sets torch's float32 matmul precision,
which covers every batched matmul of the planner (ensemble forwards) and the trainer (forward and
backward); a captured CUDA graph keeps the precision it was captured with, so it is set before
anything is captured. On the CPU `tf32` has no effect: one log line says so and the run is
exactly an fp32 run (torch's "high" setting could switch oneDNN's CPU matmuls to bf16 passes,
which the original never did). Imports only torch.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["TORCH_MATMUL_PRECISION", "matmul_precision", "set_precision"]

log = logging.getLogger(__name__)

# Our names -> torch.set_float32_matmul_precision's ("high" is TF32 on CUDA).
TORCH_MATMUL_PRECISION = {"fp32": "highest", "tf32": "high"}


def set_precision(precision: str, device: torch.device) -> bool:
    """Make CUDA's float32 matmuls run in `precision`; on the CPU, log that tf32 is ignored.

    Args:
        precision: fp32 or tf32 (validated by `pets.config.check_precision`).
        device: the run's device.

    Returns:
        True when TF32 matmuls are on.
    """
    if device.type != "cuda":
        if precision != "fp32":
            log.info("-precision %s has no effect on the CPU; matmuls run in fp32", precision)
        return False
    # One API for both settings: torch raises if the legacy allow_tf32 flags and the newer
    # fp32_precision ones are mixed, and set_float32_matmul_precision keeps them consistent.
    torch.set_float32_matmul_precision(TORCH_MATMUL_PRECISION[precision])
    return precision == "tf32"


@contextmanager
def matmul_precision(precision: str, device: torch.device) -> Iterator[None]:
    """Run the block with `precision` (`set_precision`), then restore torch's previous setting.

    For benchmarks that time fp32 and tf32 variants in one process; a CUDA graph captured inside
    keeps the block's precision when replayed outside.
    """
    before = torch.get_float32_matmul_precision()
    set_precision(precision, device)
    try:
        yield
    finally:
        if device.type == "cuda":
            torch.set_float32_matmul_precision(before)
