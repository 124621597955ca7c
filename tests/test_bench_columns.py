"""The measured columns every benchmark row shares (pets.bench.timing), against hand arithmetic."""

from __future__ import annotations

from pets.bench.timing import Timing, replan_columns, step_columns


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
