"""What benchmarks/gpu-check.sh needs beside torch, derived from pyproject.toml, and a check of it.

`list` prints one requirement a line: the runtime dependencies and the test extras of
pyproject.toml, and its build requirements (the package is built on the GPU machine without
network access), less what the GPU check never runs (torch, which the machine brings with
CUDA; the workflow tools; the linters). benchmarks/gpu-wheels.sh fetches these with all their
dependencies (glfw and PyOpenGL, which gymnasium's MuJoCo renderer imports, come with mujoco),
and gpu-check.sh installs them from that folder.

`check` tells, one line each, which of them is missing, too old or too new, or fails to import
(every top-level module of each distribution), and exits 1 if any does; so a bare machine fails
in the install step, before the timed steps begin.

Usage: python benchmarks/gpu_requirements.py list|check
Standard library only (Python ≥ 3.11); `check` compares versions with `packaging` when present.
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import re
import sys
import tomllib
import warnings
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
# Not needed by the GPU check: torch comes with the machine (a CUDA build that pip must keep);
# the workflow tools and linters are not run there.
LEFT_OUT = ("torch", "snakemake", "dvc", "ruff", "mypy", "types-", "snakefmt")


def _name(requirement: str) -> str:
    """The distribution name of a requirement line (PEP 508), normalised (PEP 503)."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if match is None:
        raise ValueError(f"not a requirement: {requirement!r}")
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def requirements(pyproject: Path = PYPROJECT) -> list[str]:
    """The requirement lines the GPU check installs beside torch (see the module docstring)."""
    data = tomllib.loads(pyproject.read_text())
    lines = [
        *data["project"]["dependencies"],
        *data["project"].get("optional-dependencies", {}).get("test", []),
        *data["build-system"]["requires"],
    ]
    return [line for line in lines if not _name(line).startswith(LEFT_OUT)]


def _top_level_modules(dist: metadata.Distribution) -> list[str]:
    """The importable top-level modules a distribution installs."""
    names = set()
    for file in dist.files or ():
        top = file.parts[0]
        if top.endswith((".dist-info", ".data", ".pth")) or top in ("..", "__pycache__"):
            continue
        if len(file.parts) == 1:  # a single-file module, e.g. six.py
            if top.endswith(".py"):
                names.add(top[:-3])
        elif file.name == "__init__.py" and len(file.parts) == 2:
            names.add(top)
    # private helpers (_pytest, _distutils_hack, _yaml) come with their public module
    return sorted(n for n in names if n.isidentifier() and not n.startswith("_"))


def problems(lines: list[str]) -> list[str]:
    """One line per requirement that is missing, of a version out of range, or not importable.

    Without `packaging` (itself one of them, through pytest and matplotlib) the versions are
    not checked, and its absence is one of the lines.
    """
    try:
        from packaging.requirements import Requirement
    except ImportError:
        Requirement = None
    found = []
    for line in lines:
        name = _name(line)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            found.append(f"{name}: not installed (needs {line})")
            continue
        if Requirement is not None and not Requirement(line).specifier.contains(
            dist.version, prereleases=True
        ):
            found.append(f"{name}: {dist.version} installed, needs {line}")
            continue
        for module in _top_level_modules(dist):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    importlib.import_module(module)
            except Exception as err:  # any failure to import is what this check reports
                first = str(err).strip().splitlines()[0] if str(err).strip() else ""
                found.append(f"{name}: import {module} fails ({type(err).__name__}: {first})")
    return found


def main(argv: list[str]) -> int:
    if argv == ["list"]:
        print("\n".join(requirements()))
        return 0
    if argv == ["check"]:
        lines = requirements()
        found = problems(lines)
        for line in found:
            print(f"gpu-check: missing: {line}", file=sys.stderr)
        if not found:
            print(f"gpu-check: all {len(lines)} requirements installed and importable")
        return 1 if found else 0
    print("usage: python benchmarks/gpu_requirements.py list|check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
