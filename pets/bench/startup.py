"""Start-up benchmark: seconds from a `pets mbexp` process's start to its first env step.

Each repeat starts a fresh interpreter that runs `pets.cli.main(["mbexp", ...])` exactly as the
command does, with the experiment's `rollout` wrapped so that the first `env.step` reports the
time since the process started (Linux `/proc/self/stat`, so interpreter start-up and every
import count) and its CPU time, then exits. Also reports whether `torch._dynamo` was imported by
then (it costs ~1.7 s and PETS never compiles). Returns rows of plain values; only the CLI prints.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from pets.errors import ConfigError

# Runs in the child. The wrapper changes nothing before the first step; it only reads clocks.
_CHILD = r"""
import json, os, resource, sys

def since_start():
    with open("/proc/self/stat") as f:
        start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")

import pets.run.experiment as experiment
rollout = experiment.rollout

def first_step_probe(env, *args, **kwargs):
    def step(action):
        r = resource.getrusage(resource.RUSAGE_SELF)
        print(json.dumps({"wall_s": since_start(), "cpu_s": r.ru_utime + r.ru_stime,
                          "dynamo": "torch._dynamo" in sys.modules}), flush=True)
        os._exit(0)
    env.step = step
    return rollout(env, *args, **kwargs)

experiment.rollout = first_step_probe
from pets.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _first_step(env: str, device: str, threads: int | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        argv = ["mbexp", "-env", env, "-device", device, "-outdir", str(Path(tmp) / "run")]
        if threads is not None:
            argv += ["-threads", str(threads)]
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, *argv], capture_output=True, text=True, check=False
        )
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"pets mbexp -env {env} did not reach its first step:\n{out.stderr}")
    return json.loads(lines[-1])


def run(
    envs: Sequence[str],
    device: str,
    *,
    repeats: int = 3,
    threads: Sequence[int] | None = None,
) -> list[dict[str, object]]:
    """Measure seconds from process start to the first env step of `pets mbexp`, per env.

    Args:
        envs: env names (`pets.envs.ENV_NAMES`).
        device: auto, cpu, cuda or cuda:<i>.
        repeats: fresh processes per env; medians are reported.
        threads: `-threads` of the runs (the first value); None means the default (all cores).

    Returns:
        One row per env: env, device, threads, first_step_s (wall, median), cpu_s (median),
        dynamo (whether any repeat had imported torch._dynamo by then).

    Raises:
        ConfigError: `repeats` < 1 or not on Linux (the process start time comes from /proc).
    """
    if repeats < 1:
        raise ConfigError(f"repeats must be ≥ 1, got {repeats}")
    if not Path("/proc/self/stat").is_file():
        raise ConfigError("pets bench startup reads the process start time from /proc (Linux)")
    n = None if threads is None else threads[0]
    rows: list[dict[str, object]] = []
    for env in envs:
        probes = [_first_step(env, device, n) for _ in range(repeats)]
        rows.append(
            {
                "env": env,
                "device": device,
                "threads": "all" if n is None else n,
                "first_step_s": round(statistics.median(p["wall_s"] for p in probes), 2),
                "cpu_s": round(statistics.median(p["cpu_s"] for p in probes), 2),
                "dynamo": any(p["dynamo"] for p in probes),
            }
        )
    return rows
