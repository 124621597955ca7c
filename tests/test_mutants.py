"""The mutation checks stay keyed to the code: a move or a reformat retires no mutant silently.

`tests/mutants.py` plants each bug by replacing an exact text, which must occur once in its file;
`tests/mutation_score.py` mutates the files of named module groups. A file move or a reformat
would turn a mutant into a no-op ("NOT APPLIED") that nobody reads, so this default-run test
checks every key without planting anything, and `mutants.main` fails on a mutant not applied.
"""

from __future__ import annotations

from pathlib import Path

import mutants
import pytest
from mutation_score import GROUPS

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "mutant", mutants.MUTANTS, ids=[f"{i}-{m[0]}" for i, m in enumerate(mutants.MUTANTS)]
)
def test_mutant_text_occurs_once_in_an_existing_file(mutant: tuple) -> None:
    name, path, old, new, tests = mutant
    source = REPO / path
    assert source.is_file(), f"{name}: {path} does not exist (moved?)"
    count = source.read_text(encoding="utf-8").count(old)
    assert count == 1, f"{name}: its text occurs {count} times in {path}, not once"
    assert new != old, f"{name}: the mutant changes nothing"
    missing = [t for t in tests if not (REPO / t).exists()]
    assert tests and not missing, f"{name}: its test files {missing or tests} do not exist"


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_mutation_score_group_names_existing_files(group: str) -> None:
    sources, tests = GROUPS[group]
    missing = [p for p in (*sources, *tests) if not (REPO / p).exists()]
    assert not missing, f"mutation-score group {group}: {missing} do not exist"


def test_main_fails_on_a_mutant_that_is_not_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "code.py").write_text("X = 1\nX = 1\n", encoding="utf-8")
    planted = [
        ("text absent", "code.py", "Y = 1", "Y = 2", ["tests/none.py"]),
        ("text twice", "code.py", "X = 1", "X = 2", ["tests/none.py"]),
    ]
    monkeypatch.setattr(mutants, "MUTANTS", planted)
    assert mutants.main([str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "text absent\tNOT APPLIED (0 matches)" in out
    assert "text twice\tNOT APPLIED (2 matches)" in out
    assert (tmp_path / "code.py").read_text(encoding="utf-8") == "X = 1\nX = 1\n"
