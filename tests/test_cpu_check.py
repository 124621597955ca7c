"""benchmarks/cpu-check.sh without running its ten minutes of benchmarks.

Oracles: bash's own parser, and the `pets` command line parser, which must accept every
`pets bench` line of the script (a renamed flag or subcommand would otherwise only show when
someone finally runs it on a quiet machine).
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

from pets.cli import build_parser

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "cpu-check.sh"


def test_script_is_valid_bash() -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


def test_every_bench_line_parses_and_the_three_benchmarks_run() -> None:
    lines = re.findall(r"^pets (bench [^|]+)\|", SCRIPT.read_text(), re.M)
    parsed = [build_parser().parse_args(shlex.split(line)) for line in lines]
    assert [args.what for args in parsed] == ["train", "plan", "startup"]
    assert all(args.device == "cpu" for args in parsed)


def test_script_without_outdir_fails_with_its_usage(tmp_path: Path) -> None:
    out = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode != 0 and "usage: benchmarks/cpu-check.sh OUTDIR" in out.stderr
