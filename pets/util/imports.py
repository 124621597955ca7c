"""Objects named as `"module:name"`: a plugin's optimizer class or propagation function, a
task's reward or termination function, a user's own termination function."""

from __future__ import annotations

import importlib
from typing import Any

from pets.errors import ConfigError

__all__ = ["load_object"]


def load_object(path: str, what: str) -> Any:
    """Import `module` and return its attribute `name` from `"module:name"`.

    Args:
        path: `"module:name"`.
        what: what the object is, for the message (e.g. `"-ca termination"`).

    Raises:
        ConfigError: not of that form, or the module or the name cannot be found; the message
            names `what` and `path`.
    """
    module, sep, name = path.partition(":")
    if not (sep and module and name):
        raise ConfigError(f"{what} {path!r} is not of the form module:function")
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError as err:
        raise ConfigError(f"{what} {path!r}: cannot import {module!r} ({err})") from None
    except AttributeError:
        raise ConfigError(f"{what} {path!r}: module {module!r} has no {name!r}") from None
