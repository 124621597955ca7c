"""One process per run directory: an exclusive `flock` on a lock file inside it.

The OS drops the lock when its holder exits in any way (SIGKILL included), so no stale lock
ever needs removing by hand. The lock file
stays in place (deleting it would let two processes lock two different files of one name); it
holds the holder's pid while locked and is empty otherwise, so its content never changes a
finished run's hash. Imports nothing from the rest of the package but `pets.errors`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from pets.errors import RunLockedError

LOCK_FILE = ".pets.lock"


@contextlib.contextmanager
def run_lock(run_dir: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the lock of `run_dir` (an existing directory) for the block.

    Raises:
        RunLockedError: another live process holds it; nothing was written.
    """
    path = Path(run_dir) / LOCK_FILE
    # O_CLOEXEC: a child such as ffmpeg must not inherit (and so prolong) the lock.
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunLockedError(run_dir, _holder(fd)) from None
        with contextlib.suppress(OSError):  # the pid only informs; a full disk must not stop us
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the lock


def _holder(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode("ascii").strip())
    except (OSError, ValueError, UnicodeDecodeError):  # the holder has not written its pid yet
        return None
