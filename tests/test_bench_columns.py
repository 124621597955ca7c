"""The columns every benchmark row shares (pets.bench.timing): hand arithmetic, graph states."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from pets import experiment
from pets.bench import gp
from pets.bench.timing import Timing, graph_state, replan_columns, step_columns
from pets.capture import GraphCache
from pets.mpc import MPC


def test_replan_columns_from_one_median_timing() -> None:
    t = Timing(seconds=0.25, minor_faults=12, sys_s=0.0125)
    assert replan_columns(t, floor_s=0.2, gflop=5.0) == {
        "ms_per_replan": 250.0,
        "floor_ratio": 0.8,  # 0.2 s floor / 0.25 s
        "gflop_per_s": 20.0,  # 5 GFLOP / 0.25 s
        "minor_faults": 12,
        "sys_s": 0.013,  # rounded to ms
    }


def test_step_columns_are_per_step_of_a_multi_step_call() -> None:
    # one timed call of 4 steps: 0.5 s, 40 faults, 0.02 s system -> per step 0.125 s, 10, 5 ms
    t = Timing(seconds=0.5, minor_faults=40, sys_s=0.02)
    assert step_columns(t, floor_s=0.1, gflop=0.25, steps_per_call=4) == {
        "steps_per_s": 8.0,
        "floor_ratio": 0.8,  # 0.1 s floor step / 0.125 s
        "gflop_per_s": 2.0,
        "minor_faults": 10,
        "sys_ms": 5.0,
    }


def _failing_capture() -> object:
    raise RuntimeError("operation not permitted when stream is capturing")


def test_graph_column_of_a_failed_gp_capture_says_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    # The GP planner's MPC captures its re-plan on CUDA like any other; a capture that fails
    # must show in its row. Stand-ins: a controller whose capture fails, and timings without
    # the paper planner's seconds-long CPU re-plans.
    build = experiment.build_controller

    def controller_with_a_failed_capture(*args: Any, **kwargs: Any) -> MPC:
        mpc = build(*args, **kwargs)
        mpc.graph = GraphCache("the re-plan", _failing_capture)  # type: ignore[arg-type]
        mpc.graph.get(())
        return mpc

    def timings(variants: dict[str, object], **kwargs: Any) -> dict[tuple[str, int], Timing]:
        return {(v, n): Timing(1.0, 0, 0.0) for v in variants for n in kwargs["threads"]}

    monkeypatch.setattr(experiment, "build_controller", controller_with_a_failed_capture)
    monkeypatch.setattr(gp, "interleaved", timings)
    rows = gp.plan_rows(torch.device("cpu"), repeats=1, threads=[1])
    assert {r["variant"]: r["graph"] for r in rows} == {"gp-floor": "-", "gp-planner": "failed"}


def test_graph_state_names_captured_failed_and_eager() -> None:
    captured, failed = GraphCache("a", lambda: object()), GraphCache("b", _failing_capture)
    unused = GraphCache("c", lambda: object())
    captured.get(())
    failed.get(())
    assert [graph_state(g) for g in (captured, failed, unused, None)] == [
        "captured", "failed", "-", "-",
    ]  # fmt: skip
