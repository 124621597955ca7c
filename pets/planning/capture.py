"""The re-plan of `pets.planning.mpc.MPC` captured as one CUDA graph (`MPC.act` on CUDA).

Owns what capturing a re-plan adds to `pets.util.capture.capture_graph`: the eager warm-up
re-plans, rehearsed so that they leave no trace, and the replay function the MPC calls instead
of `replan`. Sees the controller only through the `Replanner` protocol, so it imports no MPC;
imports torch and `pets.util`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol

import torch
from torch import Tensor

from pets.util.capture import capture_graph

__all__ = ["REPLAN_WARMUP", "CaptureReplan", "Replanner", "capture_replan"]

REPLAN_WARMUP = 2  # eager re-plans rehearsed on a side stream before a capture


class Replanner(Protocol):
    """What a capture needs of the controller (`pets.planning.mpc.MPC`)."""

    device: torch.device
    generator: torch.Generator

    def replan(self) -> Tensor: ...
    def rehearsal(self) -> AbstractContextManager[None]: ...


CaptureReplan = Callable[[Replanner], Callable[[], Tensor]]
"""Captures `mpc.replan()` and returns `replay() -> [H, a]` (`capture_replan`)."""


def capture_replan(mpc: Replanner) -> Callable[[], Tensor]:
    """Capture one `mpc.replan()` as a CUDA graph and return a function that replays it.

    Before each replay, load the observation with `mpc.load_observation`; a replay is a whole
    re-plan (warm start read and shifted, `last_plan` written, the generator advanced) without
    any Python or kernel-launch overhead. The warm-up re-plans are rehearsed (`MPC.rehearsal`),
    so capturing changes no state. CUDA only; the MPC's generator must be a CUDA generator (it is
    registered with the graph). Checked by the `gpu`-marked tests.

    Args:
        mpc: a controller on a CUDA device.

    Returns:
        replay() -> [H, a], the `last_plan` buffer after the replay.
    """

    def warmup() -> None:
        for _ in range(REPLAN_WARMUP):
            mpc.replan()

    # The rehearsal also covers the capture: a capture runs no kernels, but one that fails
    # half-way must not leave the generator or the warm start changed for the eager fallback.
    with mpc.rehearsal():
        graph, plan = capture_graph(
            mpc.replan, device=mpc.device, warmup=warmup, generators=(mpc.generator,)
        )

    def replay() -> Tensor:
        graph.replay()
        return plan

    return replay
