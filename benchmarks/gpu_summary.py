"""Summary table of one `benchmarks/gpu-check.sh` run: steps, tests, benchmarks, cartpole runs.

Usage: python benchmarks/gpu_summary.py OUTDIR (prints; gpu-check.sh tees it to summary.txt).
Reads only what the check wrote (standard library only, so it runs whatever else failed): the
step table, the pytest output, the `pets bench` tables and each run's progress.csv. Missing or
unreadable inputs become "(missing)" lines, never an error.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

# The GPU targets of docs/spec/reference-numbers.md §6 on one H200 (recorded, never asserted).
TARGET_REPLAN_MS = 10.0  # half-cheetah re-plan at the paper's settings, fp32 captured
TARGET_STEPS_PER_S = 2000.0  # training steps/s at batch 32
PLAN_ORDER = ("floor", "planner", "planner+graph", "planner+tf32", "planner+graph+tf32")
TRAIN_ORDER = ("floor", "step", "fit", "cuda-graph", "step+graph", "fit+graph", "fit+graph+tf32")


def read_table(path: Path) -> list[dict[str, str]]:
    """Rows of a `pets bench` table (`pets.cli.format_table`), skipping any lines around it."""
    if not path.is_file():
        return []
    lines = path.read_text(errors="replace").splitlines()
    for i, line in enumerate(lines):
        header = line.split()
        if header[:1] == ["env"] and "variant" in header:
            rows = []
            for row in lines[i + 1 :]:
                cells = row.split()
                if len(cells) != len(header):
                    break
                rows.append(dict(zip(header, cells, strict=True)))
            return rows
    return []


def pivot(
    rows: list[dict[str, str]], value: str, order: tuple[str, ...]
) -> tuple[list[str], list[list[str]]]:
    """env × variant table of `value`; a variant whose capture failed is marked `(eager!)`."""
    variants = [v for v in order if any(r["variant"] == v for r in rows)]
    variants += sorted({r["variant"] for r in rows} - set(variants))
    table = []
    for env in dict.fromkeys(r["env"] for r in rows):
        cells = [env]
        for v in variants:
            match = [r for r in rows if r["env"] == env and r["variant"] == v]
            if not match:
                cells.append("-")
                continue
            mark = " (eager!)" if match[0].get("graph") == "failed" else ""
            cells.append(match[0][value] + mark)
        table.append(cells)
    return ["env", *variants], table


def format_rows(header: list[str], rows: list[list[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join("  " + line.rstrip() for line in lines)


def pytest_line(path: Path) -> str:
    if not path.is_file():
        return "(missing)"
    lines = [ln.strip("= ") for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    summary = [
        ln
        for ln in lines
        if " in " in ln and any(w in ln for w in ("passed", "failed", "error", "skipped"))
    ]
    return summary[-1] if summary else (lines[-1] if lines else "(empty)")


def run_rows(runs: Path) -> list[list[str]]:
    rows = []
    for progress in sorted(runs.glob("*/progress.csv")):
        with progress.open(newline="") as f:
            records = list(csv.DictReader(f))
        if not records:
            rows.append([progress.parent.name, "0", "-", "-", "-", "-"])
            continue
        last = records[-1]
        ms = [float(r["ms_per_action"]) for r in records]
        rows.append(
            [
                progress.parent.name,
                last["iteration"],
                f"{float(last['episode_return']):.1f}",
                f"{float(last['max_return']):.1f}",
                f"{sum(ms) / len(ms):.2f}",
                f"{float(last['train_seconds']):.2f}",
            ]
        )
    return rows


def _value(rows: list[dict[str, str]], env: str, variant: str, key: str) -> float | None:
    for r in rows:
        if r["env"] == env and r["variant"] == variant and r.get("graph") != "failed":
            return float(r[key])
    return None


def targets(plan: list[dict[str, str]], train: list[dict[str, str]]) -> list[str]:
    replan = _value(plan, "halfcheetah", "planner+graph", "ms_per_replan")
    steps = _value(train, "halfcheetah", "fit+graph", "steps_per_s")
    out = []
    got = "not measured" if replan is None else f"{replan:g} ms"
    out.append(f"  half-cheetah re-plan, fp32 captured: {got} (target ≤ {TARGET_REPLAN_MS:g} ms)")
    got = "not measured" if steps is None else f"{steps:g} steps/s"
    out.append(
        f"  half-cheetah training through fit+graph: {got} (target ≥ {TARGET_STEPS_PER_S:g})"
    )
    return out


def summary(outdir: Path) -> str:
    parts = [f"GPU check summary: {outdir}"]
    steps = outdir / "logs" / "steps.tsv"
    if steps.is_file():
        with steps.open(newline="") as f:
            records = list(csv.reader(f, delimiter="\t"))
        parts += ["steps:", format_rows(records[0], records[1:])] if records else []
    else:
        parts.append("steps: (missing)")
    parts.append(f"pytest -m gpu: {pytest_line(outdir / 'pytest-gpu.txt')}")
    plan = read_table(outdir / "bench-plan.txt")
    train = read_table(outdir / "bench-train.txt")
    parts.append("re-plan ms (pets bench plan --device cuda, paper settings):")
    parts.append(format_rows(*pivot(plan, "ms_per_replan", PLAN_ORDER)) if plan else "  (missing)")
    parts.append("training steps/s (pets bench train --device cuda, batch 32):")
    parts.append(format_rows(*pivot(train, "steps_per_s", TRAIN_ORDER)) if train else "  (missing)")
    runs = run_rows(outdir / "runs")
    parts.append("cartpole PE-TSinf runs (paper planner settings):")
    header = ["run", "iterations", "last return", "max return", "ms/action", "last train s"]
    parts.append(format_rows(header, runs) if runs else "  (missing)")
    parts.append("targets (docs/spec/reference-numbers.md §6; recorded, never asserted):")
    parts += targets(plan, train)
    return "\n".join(parts)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python benchmarks/gpu_summary.py OUTDIR")
    print(summary(Path(sys.argv[1])))
