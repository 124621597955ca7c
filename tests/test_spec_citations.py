"""Citations resolve inside the repository (`docs/spec/README.md`).

Every `<file>.md §N` in the code, tests, workflow, configuration and documents names a file of the
repository (relative to the root, or to the citing file's folder) and a section heading `N` in
it; nothing points at documents outside the repository (the old `spec/...` files, a design or
style document, a "contract"); and no file but the historical notes of `tests/README.md` and
`benchmarks/README.md` names a project issue by number instead of giving the reason.

Oracles: the files and headings on disk; the scanner itself is checked on a planted tree with one
broken citation of each kind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: What is scanned: folders (recursively) and single files, relative to the repository root.
SCANNED = (
    ".test",
    "benchmarks",
    "config",
    "docs",
    "pets",
    "profiles",
    "tests",
    "tools",
    "workflow",
    "README.md",
    "Snakefile",
    "dvc.yaml",
    "environment.yml",
    "pyproject.toml",
)
TEXT_SUFFIXES = {".py", ".md", ".smk", ".yaml", ".yml", ".sh", ".toml", ".rst", ".cfg", ".txt"}
SKIPPED_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
#: Notes kept for their history; they may name the issue a measurement was made for.
HISTORY_NOTES = {"tests/README.md", "benchmarks/README.md"}
#: This file holds the patterns and the planted faults themselves.
NOT_SCANNED = {"tests/test_spec_citations.py"}

# A markdown file name (with an optional folder path) or a section sign with its number; a
# section is attributed to the last file named before it on the same line.
_TOKEN = re.compile(r"(?P<file>(?<![\w/.$-])(?:[\w.-]+/)*[\w-]+\.md\b)|§(?P<section>\d+(?:\.\d+)*)")
_HEADING = re.compile(r"^#{1,6}\s+(\d+(?:\.\d+)*)\.?\s")
# Documents that live outside the repository, and the words that cited them.
_OUTSIDE = re.compile(
    r"\.\./shared|peers-and-numbers|workflow-notes|"
    r"planners-and-gym-tasks|\bDESIGN\.md|\bSTYLE(?:\.md)? §|\b(?:team |pets_)?contract §|"
    r"team contract|\b(?:spec|pets-facts)'?s? §",
    re.IGNORECASE,
)
# A project issue by number ("issue 14", "Issue 16's"); upstream ones carry a '#' and pass.
_ISSUE = re.compile(r"\bissues? \d+", re.IGNORECASE)


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


def scanned_files(root: Path) -> list[Path]:
    """The text files under the scanned folders and the scanned single files that exist."""
    files: list[Path] = []
    for name in SCANNED:
        top = root / name
        if top.is_file():
            files.append(top)
        elif top.is_dir():
            files += [
                p
                for p in sorted(top.rglob("*"))
                if p.is_file()
                and p.suffix in TEXT_SUFFIXES
                and not SKIPPED_DIRS.intersection(p.relative_to(root).parts)
            ]
    return files


def headings(path: Path) -> set[str]:
    """The section numbers of a markdown file's numbered headings (`## 6.`, `### 6.5 ...`)."""
    return {
        m.group(1)
        for line in path.read_text(encoding="utf-8").splitlines()
        if (m := _HEADING.match(line))
    }


def _resolve(root: Path, citing: Path, name: str) -> Path | None:
    """The cited file inside the repository: relative to the citing file, then to the root."""
    for base in (citing.parent, root):
        target = (base / name).resolve()
        if target.is_file() and target.is_relative_to(root.resolve()):
            return target
    return None


def check(root: Path) -> list[Finding]:
    """Every broken or outside citation and every issue number in the scanned files."""
    found: list[Finding] = []
    sections: dict[Path, set[str]] = {}
    for path in scanned_files(root):
        rel = path.relative_to(root).as_posix()
        if rel in NOT_SCANNED:
            continue
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for m in _OUTSIDE.finditer(line):
                found.append(Finding(rel, lineno, f"cites a document outside: {m.group(0)!r}"))
            if rel not in HISTORY_NOTES:
                for m in _ISSUE.finditer(line):
                    found.append(Finding(rel, lineno, f"names an issue: {m.group(0)!r}"))
            cited: Path | None = None
            label = ""
            for m in _TOKEN.finditer(line):
                if name := m.group("file"):
                    # A path with a folder must resolve; a bare name only when a § follows it.
                    cited = _resolve(root, path, name)
                    section_follows = line[m.end() :].lstrip(" `").startswith("§")
                    if cited is None and ("/" in name or section_follows):
                        found.append(Finding(rel, lineno, f"cites {name}, not in the repository"))
                    label = name
                    continue
                if cited is None:
                    continue  # a bare § continues a citation made earlier in the file
                if cited not in sections:
                    sections[cited] = headings(cited)
                if (section := m.group("section")) not in sections[cited]:
                    found.append(Finding(rel, lineno, f"cites {label} §{section}: no such heading"))
    return found


def test_every_citation_resolves_in_the_repository() -> None:
    found = check(REPO)
    assert not found, "\n".join(map(str, found))


def test_spec_files_exist_with_the_cited_sections() -> None:
    # The sections most of the code cites, so an emptied or renumbered spec fails here too.
    facts = headings(REPO / "docs/spec/pets-facts.md")
    assert {"2.1", "3.3", "4.1", "4.3", "5.3", "5.5", "6.3", "6.4", "6.5", "7", "7.1", "10"} <= (
        facts
    )
    assert {"4", "5", "6"} <= headings(REPO / "docs/spec/environments.md")
    assert {"1", "2", "4", "5"} <= headings(REPO / "docs/spec/interfaces.md")


# The planted tree: good citations and one broken one of each kind.
_SPEC = "## 6. Controller\n\n### 6.5 CEM\n\nText.\n"
_PLANTED = {
    "docs/spec/facts.md": _SPEC,
    "pets/good.py": '"""Fine: `docs/spec/facts.md` §6.5 and §6.\n\nA bare §9 continues it."""\n',
    "pets/no_section.py": "# docs/spec/facts.md §6.7: no such heading\n",
    "pets/no_file.py": "# docs/spec/gone.md §1: no such file\n",
    "pets/outside.py": "# spec/pets-facts.md §6.5: outside the repository\n",
    "pets/bare.py": "# the spec §6.5 without a file\n",
    "pets/contract.py": "# the team contract §1\n",
    "workflow/rules/x.smk": "# faster since issue 14\n",
    "tests/README.md": "Measured for issue 14 (kept as history).\n",
    "docs/relative.md": "See [facts](spec/facts.md) §6.5.\n",
}


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    for name, text in _PLANTED.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_check_reports_each_planted_fault_and_nothing_else(planted: Path) -> None:
    found = {(f.path, f.what.split(":")[0].split(" ")[0]) for f in check(planted)}
    assert found == {
        ("pets/no_section.py", "cites"),
        ("pets/no_file.py", "cites"),
        ("pets/outside.py", "cites"),
        ("pets/bare.py", "cites"),
        ("pets/contract.py", "cites"),
        ("workflow/rules/x.smk", "names"),
    }
