"""Static checks of the workflow: snakemake --lint, snakefmt, and the config schema's shape."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from wfutil import REPO, load_yaml, run_tool, snakemake

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"


@pytest.mark.workflow
def test_lint_snakemake_lint_is_clean() -> None:
    result = snakemake(["--lint"], timeout=90)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "Congratulations" in result.stdout


@pytest.mark.workflow
def test_lint_snakefmt_check_is_clean() -> None:
    # pyproject.toml's [tool.snakefmt] carries the directive order of docs/spec/interfaces.md §7.
    args = ["--check", "Snakefile", "workflow/"]
    result = run_tool([sys.executable, "-m", "snakefmt", *args], REPO, timeout=60)
    assert result.returncode == 0, result.stdout[-4000:]


def schema_nodes(node: dict, path: str = "config") -> Iterator[tuple[str, dict]]:
    """Yield (path, schema) for every key the schema declares, items and map values included."""
    for key, sub in node.get("properties", {}).items():
        yield f"{path}.{key}", sub
        yield from schema_nodes(sub, f"{path}.{key}")
    if isinstance(node.get("items"), dict):
        yield f"{path}[]", node["items"]
        yield from schema_nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield f"{path}.*", node["additionalProperties"]


def test_lint_schema_every_key_has_type_description_default() -> None:
    schema = load_yaml(SCHEMA)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    nodes = list(schema_nodes(schema))
    assert len(nodes) > 20
    for path, node in nodes:
        for field in ("type", "description", "default"):
            assert field in node, f"{path} has no {field}"
        if node["type"] == "object" and "properties" in node:
            assert node.get("additionalProperties") is False, f"{path} accepts unknown keys"
    assert schema["additionalProperties"] is False


def test_lint_schema_leaves_registered_names_to_the_registries() -> None:
    """Tasks, propagations and optimizers come from the registries (plugins add to them), so
    the schema only shapes them; the model types are fixed (GP has its own group)."""
    grid = load_yaml(SCHEMA)["properties"]["grid"]["properties"]
    method = grid["method"]["items"]["properties"]
    for entry in (grid["env"]["items"], method["prop"], grid["opt"]["items"]):
        assert "enum" not in entry and "pattern" in entry
    assert method["model"]["enum"] == ["D", "P", "DE", "PE"]


def test_lint_config_readme_explains_every_top_level_and_grid_key() -> None:
    schema = load_yaml(SCHEMA)
    readme = (REPO / "config/README.md").read_text(encoding="utf-8")
    keys = list(schema["properties"]) + list(schema["properties"]["grid"]["properties"])
    for key in keys:
        assert f"`{key}`" in readme, f"config/README.md does not explain `{key}`"
