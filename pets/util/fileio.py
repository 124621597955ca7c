"""Atomic file writes: every result file goes through here, so a kill never leaves half a file.

An OS error on the way (a full disk, a quota, a read-only mount) becomes `WriteError` naming the
final file, and the previous version of that file stays as it was. Imports nothing from the rest
of the package but `pets.errors` (and no torch), so analysis code may use it too.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from pets.errors import WriteError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it over `path`.

    The temporary file lives in the same directory, so `os.replace` is atomic on POSIX. On any
    exception the temporary file is removed and `path` is left as it was.

    Args:
        path: the final destination.

    Yields:
        A fresh path to write to (it does not exist yet) whose suffix equals `path`'s, so
        writers that pick a format by suffix (savemat, savefig) still work.

    Raises:
        WriteError: an OS error while creating, writing or renaming the file.
    """
    dest = Path(path)
    tmp: Path | None = None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{dest.stem}.", suffix=f".tmp{dest.suffix}", dir=dest.parent
        )
        os.close(fd)
        tmp = Path(tmp_name)
        tmp.unlink()
        yield tmp
        with open(tmp, "rb+") as fh:  # flush to disk before the rename makes it visible
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    except OSError as err:
        raise WriteError(dest, err) from err
    finally:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def write_atomic(path: str | os.PathLike[str], writer: Callable[[Path], object]) -> None:
    """Call `writer(tmp_path)` and move the result to `path` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write `text` to `path` atomically (UTF-8)."""
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
