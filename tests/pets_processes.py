"""`pets` and a workflow dry run in child processes, with a test's environment (a plugin or a
user's module on PYTHONPATH), for the tests that check what another process finds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def run_pets(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m pets ARGS` with environment `env`; output captured, exit code not checked."""
    return subprocess.run(
        [sys.executable, "-m", "pets", *args], env=env, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip


def planned_mbexp_commands(
    config: dict[str, Any], folder: Path, env: dict[str, str]
) -> tuple[list[str], str]:
    """Dry-run the workflow on `config` (written to `folder`); return its `pets mbexp` shell
    commands and its whole stdout. Fails the test where the dry run fails."""
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", "-n", "-p", "--forceall", "--cores", "2",
           "--configfile", str(path)]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                          check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    prefix = "Shell command: pets mbexp"
    return [line for line in proc.stdout.splitlines() if line.startswith(prefix)], proc.stdout
