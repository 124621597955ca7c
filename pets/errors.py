"""Errors raised for bad user input.

Owns the one exception type that the command line turns into a one-line message and exit code 2.
Imports nothing from the rest of the package.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A user-supplied value is invalid; the message names the value and what is allowed."""
