"""The four PETS tasks (placeholder until the environments land; see issue 3)."""

from __future__ import annotations


def register_envs() -> None:
    """Register the gymnasium ids of the four tasks."""
