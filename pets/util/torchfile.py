"""Torch files of a run (`checkpoint.pt`, `model.pt`): atomic saves, safe and checked loads.

Saving writes through a Python file object, so a full disk surfaces as an OSError (and then as
`WriteError`) rather than as one of torch's internal RuntimeErrors. Loading is always
`weights_only=True`; a file that cannot be read becomes one `DamagedFileError`.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterable, Mapping
from typing import Any

import torch

from pets.errors import DamagedFileError, original_error
from pets.util.fileio import atomic_path

# What torch.load raises for truncated, random or foreign bytes (checked on torch 2.x: a cut zip
# is RuntimeError, an empty file EOFError, text KeyError, a pickle of other objects
# UnpicklingError).
_UNREADABLE = (RuntimeError, EOFError, pickle.UnpicklingError, KeyError, ValueError, IndexError)


def save_torch(path: str | os.PathLike[str], obj: object) -> None:
    """`torch.save(obj)` to `path` atomically.

    Raises:
        WriteError: an OS error while writing (a full disk, a quota).
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        try:
            torch.save(obj, fh)
        except RuntimeError as err:  # the zip writer's clean-up error hides a full disk
            os_error = original_error(err, OSError)
            if os_error is None:
                raise
            raise os_error from None


def load_torch(
    path: str | os.PathLike[str], *, remedy: str, map_location: str | torch.device = "cpu"
) -> Any:
    """`torch.load(path, weights_only=True)`, with unreadable content as a `DamagedFileError`.

    Args:
        path: the file.
        remedy: what the user can do about a damaged file (the message's second half).
        map_location: where tensors go.

    Raises:
        FileNotFoundError: `path` does not exist.
        DamagedFileError: the file is truncated, corrupt, or not a plain torch file.
    """
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except OSError as err:  # a directory, no permission
        raise DamagedFileError(path, f"cannot be read ({err.strerror or err})", remedy) from err
    except _UNREADABLE as err:
        problem = "is not a readable torch file (truncated, damaged, or not written by pets)"
        raise DamagedFileError(path, problem, remedy) from err


def require_keys(
    path: str | os.PathLike[str], blob: object, keys: Iterable[str], *, what: str, remedy: str
) -> Mapping[str, Any]:
    """Check that a loaded file is a mapping holding `keys`; return it.

    Raises:
        DamagedFileError: not a mapping, or keys missing (named in the message).
    """
    if not isinstance(blob, Mapping):
        problem = f"is not a {what} (holds a {type(blob).__name__}, not a mapping)"
        raise DamagedFileError(path, problem, remedy)
    missing = [k for k in keys if k not in blob]
    if missing:
        raise DamagedFileError(path, f"is not a {what} (missing {', '.join(missing)})", remedy)
    return blob


def first_line(err: BaseException, limit: int = 120) -> str:
    """The first line of an exception's message, cut to `limit` characters (torch's are long)."""
    text = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return text if len(text) <= limit else text[: limit - 1] + "…"
