"""The README's two set-up commands are the ones CI and users run."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def setup_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section, flags=re.S)


def test_readme_has_exactly_two_setup_commands() -> None:
    main_cmd, test_cmd = setup_commands()
    assert "\n" not in main_cmd and "\n" not in test_cmd
    assert "snakemake --cores all --configfile config/presets/quick.yaml" in main_cmd
    assert test_cmd.endswith("pytest")


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    _, test_cmd = setup_commands()
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_cmd in ci_lines


def test_quick_preset_named_by_the_readme_exists() -> None:
    assert (ROOT / "config" / "presets" / "quick.yaml").is_file()


def test_readme_override_table_is_generated_from_the_config() -> None:
    from pets.config import override_table

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert override_table(markdown=True) in text
