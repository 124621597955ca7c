"""Timing shared by the benchmarks: interleaved variants, medians, page faults and system time.

Variants take turns within each repeat (A B A B …), so a load change on a shared machine hits
them alike and their ratios stay comparable; every timed call also records its minor page faults
and system time (`pets.memory.usage`), since an allocator that returns memory to the kernel turns
into faults and system time that the wall clock alone would hide.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from pets.capture import GraphCache
from pets.device import synchronize
from pets.memory import usage
from pets.threads import available_cores, set_threads


@dataclass(frozen=True)
class Timing:
    """Medians over the repeats of one variant: seconds, minor faults and system s per call."""

    seconds: float
    minor_faults: int
    sys_s: float


def thread_counts(threads: Sequence[int] | None) -> list[int]:
    """The thread counts to measure: the given ones, or 1 and all cores (once if they agree)."""
    if threads is None:
        return sorted({1, available_cores()})
    return list(dict.fromkeys(threads))


def interleaved(
    variants: dict[str, Callable[[], object]],
    *,
    repeats: int,
    warmup: int,
    device: torch.device,
    threads: Sequence[int],
) -> dict[tuple[str, int], Timing]:
    """Time every variant at every thread count, interleaved, after `warmup` untimed calls each.

    Args:
        variants: name -> a call to time.
        repeats: timed calls per variant and thread count; the median is reported.
        warmup: untimed calls per variant and thread count first.
        device: synchronised around every call.
        threads: torch intra-op thread counts (ignored by CUDA kernels).

    Returns:
        (variant, threads) -> its median timing.
    """
    samples: dict[tuple[str, int], list[tuple[float, int, float]]] = {
        (name, n): [] for name in variants for n in threads
    }
    for rep in range(warmup + repeats):
        for n in threads:
            set_threads(n)
            for name, fn in variants.items():
                synchronize(device)
                before, start = usage(), time.perf_counter()
                fn()
                synchronize(device)
                seconds, spent = time.perf_counter() - start, usage() - before
                if rep >= warmup:
                    samples[(name, n)].append((seconds, spent.minor_faults, spent.sys_s))
    return {
        key: Timing(
            seconds=statistics.median(s for s, _, _ in runs),
            minor_faults=int(statistics.median(f for _, f, _ in runs)),
            sys_s=statistics.median(y for _, _, y in runs),
        )
        for key, runs in samples.items()
    }


def replan_columns(t: Timing, *, floor_s: float, gflop: float) -> dict[str, object]:
    """The measured columns of a re-plan row: ms per re-plan, floor ratio, GFLOP/s, faults, sys."""
    return {
        "ms_per_replan": round(1e3 * t.seconds, 1),
        "floor_ratio": round(floor_s / t.seconds, 3),
        "gflop_per_s": round(gflop / t.seconds, 1),
        "minor_faults": t.minor_faults,
        "sys_s": round(t.sys_s, 3),
    }


def step_columns(
    t: Timing, *, floor_s: float, gflop: float, steps_per_call: int = 1
) -> dict[str, object]:
    """The measured columns of a training-step row, per step of a call of `steps_per_call`."""
    per_step = t.seconds / steps_per_call
    return {
        "steps_per_s": round(1 / per_step, 1),
        "floor_ratio": round(floor_s / per_step, 3),
        "gflop_per_s": round(gflop / per_step, 1),
        "minor_faults": round(t.minor_faults / steps_per_call),
        "sys_ms": round(1e3 * t.sys_s / steps_per_call, 3),
    }


def graph_state(graph: GraphCache[Any] | None) -> str:
    """The `graph` column of a benchmark row, from the variant's graph cache.

    Returns:
        "captured" (replays a graph), "failed" (eager after a failed capture, which a CUDA run
        logs once) or "-" (eager by design: no cache, e.g. on the CPU, or nothing captured yet).
    """
    if graph is None:
        return "-"
    if graph.failed:
        return "failed"
    return "captured" if graph.captures > 0 else "-"
