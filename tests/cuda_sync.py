"""A CUDA check shared by the gpu-marked planning tests."""

from __future__ import annotations

from typing import Any

import torch


def replan_without_host_sync(mpc: Any) -> None:
    """Re-plan once under torch's sync debug mode "error": a host sync inside raises."""
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        mpc.replan()
    finally:
        torch.cuda.set_sync_debug_mode(0)
