"""environment.yml agrees with pyproject.toml, the single source of the Python dependencies.

Conda is not available on our machines, so the file is checked statically: the python pin
satisfies `requires-python`, and every pip line is either an editable install of this
repository with existing extras, or a pinned requirement that pyproject.toml pins the same way.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
EDITABLE = re.compile(r"^-e \.(?:\[(?P<extras>[A-Za-z0-9_,\- ]+)\])?$")


@pytest.fixture(scope="module")
def env() -> dict:
    return yaml.safe_load((REPO / "environment.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def conda_deps(env: dict) -> list[str]:
    return [d for d in env["dependencies"] if isinstance(d, str)]


def pip_lines(env: dict) -> list[str]:
    sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(sections) == 1, "environment.yml needs exactly one pip section"
    return sections[0]


def pyproject_requirements(project: dict) -> dict[str, Requirement]:
    reqs = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    parsed = (Requirement(r) for r in reqs)
    return {r.name.lower(): r for r in parsed}


def test_environment_yml_python_pin_satisfies_requires_python(env: dict, project: dict) -> None:
    pins = [d for d in conda_deps(env) if re.match(r"^python[=<>! ]", d)]
    assert len(pins) == 1, f"expected one python pin, got {pins}"
    version = re.sub(r"^python\s*=*\s*", "", pins[0])
    # conda's `python=3.11` means any 3.11.x: check its first release against requires-python.
    assert Version(version) in SpecifierSet(project["requires-python"]), (
        f"{pins[0]} does not satisfy requires-python {project['requires-python']}"
    )


def test_environment_yml_has_pip(env: dict) -> None:
    assert "pip" in conda_deps(env)


def test_environment_yml_pip_lines_come_from_pyproject(env: dict, project: dict) -> None:
    extras = set(project.get("optional-dependencies", {}))
    pinned = pyproject_requirements(project)
    assert any(EDITABLE.match(line) for line in pip_lines(env)), "no `-e .` line"
    for line in pip_lines(env):
        match = EDITABLE.match(line)
        if match:
            wanted = {e.strip() for e in (match["extras"] or "").split(",") if e.strip()}
            assert wanted <= extras, f"{line}: unknown extras {sorted(wanted - extras)}"
            continue
        req = Requirement(line)
        assert req.name.lower() in pinned, f"{line} is not a dependency in pyproject.toml"
        assert req.specifier == pinned[req.name.lower()].specifier, (
            f"{line} pins differently from pyproject.toml ({pinned[req.name.lower()]})"
        )


def test_workflow_conda_env_installs_this_package(env: dict) -> None:
    rule_env = yaml.safe_load((REPO / "workflow/envs/pets.yaml").read_text(encoding="utf-8"))
    assert conda_deps(rule_env) == conda_deps(env)
    assert pip_lines(rule_env) == ["-e ../.."]  # ../.. = the repo, seen from .snakemake/conda
