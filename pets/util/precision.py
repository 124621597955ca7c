"""Matmul precision of a run: full float32 (default, faithful), opt-in TF32 on CUDA, or bf16
planning where the hardware has bf16 units.

`pets mbexp -precision fp32|tf32|bf16` is recorded in config.yaml like `-threads` and may change
between a kill and its resume (`pets.run.experiment`). It sets torch's float32 matmul precision,
which covers every batched matmul of the planner (ensemble forwards) and the trainer (forward and
backward); a captured CUDA graph keeps the precision it was captured with, so it is set before
anything is captured. On the CPU `tf32` has no effect: one log line says so and the run is
exactly an fp32 run (torch's "high" setting could switch oneDNN's CPU matmuls to bf16 passes,
which the original never did). `bf16` computes the planner's TSinf ensemble forward in bf16
(`pets.planning.forward`; training stays fp32) and is refused where the device has no bf16
units: on a CPU, neither AVX512-BF16 nor AMX (read from the CPU's flags, not the torch build,
which emulates bf16 more slowly than fp32 where the units are missing); on CUDA, a GPU before
compute capability 8.0. Imports only torch.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from pets.errors import ConfigError

__all__ = [
    "BF16_CPU_FLAGS",
    "TORCH_MATMUL_PRECISION",
    "bf16_missing",
    "check_precision_supported",
    "matmul_precision",
    "planning_dtype",
    "set_precision",
]

log = logging.getLogger(__name__)

# Our names -> torch.set_float32_matmul_precision's ("high" is TF32 on CUDA); bf16 leaves the
# float32 matmuls (training) at full precision.
TORCH_MATMUL_PRECISION = {"fp32": "highest", "tf32": "high", "bf16": "highest"}
# /proc/cpuinfo flags of x86 bf16 units: AVX512-BF16 (AMD Zen 4, Intel Cooper Lake on) and AMX
# (Intel Sapphire Rapids on), which oneDNN's bf16 matmuls use.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
CPUINFO = Path("/proc/cpuinfo")


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none, e.g. macOS)."""
    try:
        text = CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def bf16_missing(device: torch.device) -> str | None:
    """Why `device` has no bf16 units (None when it has them)."""
    if device.type == "cuda":
        major, _ = torch.cuda.get_device_capability(device)
        return None if major >= 8 else f"{device} is before compute capability 8.0"
    if device.type != "cpu":
        return f"bf16 planning is supported on CPUs and CUDA GPUs, not {device.type}"
    if any(flag in cpu_flags() for flag in BF16_CPU_FLAGS):
        return None
    return "this CPU has neither AVX512-BF16 nor AMX (no avx512_bf16 or amx_bf16 flag)"


def check_precision_supported(precision: str, device: torch.device) -> None:
    """Refuse `-precision bf16` where the device would emulate bf16 (slower than fp32).

    Raises:
        ConfigError: one line saying why and what to use instead.
    """
    if precision == "bf16" and (reason := bf16_missing(device)) is not None:
        raise ConfigError(
            f"-precision bf16 needs bf16 units: {reason}, and emulated bf16 is slower than "
            "fp32; use -precision fp32"
        )


def planning_dtype(precision: str) -> torch.dtype | None:
    """The dtype of the planner's ensemble layers for `precision` (None: the model's, fp32)."""
    return torch.bfloat16 if precision == "bf16" else None


def set_precision(precision: str, device: torch.device) -> bool:
    """Make CUDA's float32 matmuls run in `precision`; on the CPU, log that tf32 is ignored.

    Args:
        precision: fp32, tf32 or bf16 (validated by `pets.config.check_precision`).
        device: the run's device.

    Returns:
        True when TF32 matmuls are on.
    """
    if device.type != "cuda":
        if precision == "tf32":
            log.info("-precision tf32 has no effect on the CPU; matmuls run in fp32")
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
