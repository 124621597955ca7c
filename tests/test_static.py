"""The developers' static checks, run by CI: ruff (lint and format), mypy over the package and
import-linter's contracts (the layers of docs/spec/interfaces.md §3; no torch in analysis, config).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


# import-linter has no `python -m` entry; its console script sits beside this interpreter.
LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    command = list(args) if args[0] == LINT_IMPORTS else [sys.executable, "-m", *args]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "args",
    [
        ("ruff", "check", "."),
        ("ruff", "format", "--check", "."),
        ("mypy", "pets"),
        (LINT_IMPORTS, "--no-cache"),
    ],
    ids=["ruff-check", "ruff-format", "mypy", "lint-imports"],
)
def test_static_check_is_clean(args: tuple[str, ...]) -> None:
    result = _run(*args)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
