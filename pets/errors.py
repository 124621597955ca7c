"""Errors that the command line turns into one line and an exit code, never a traceback.

Owns the typed faults a user or the machine causes: bad input (`ConfigError`), a damaged or
foreign file (`DamagedFileError`), a run directory held by another process (`RunLockedError`),
a failed write such as a full disk (`WriteError`) and a stop by signal (`StopRequested`). Deep
code raises them; only `pets.cli` prints. Imports nothing from the rest of the package.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

_E = TypeVar("_E", bound=BaseException)


class ConfigError(ValueError):
    """A user-supplied value is invalid; the message names the value and what is allowed."""


class DamagedFileError(ConfigError):
    """A file is truncated, corrupt or not what its name says; nothing was changed.

    The message reads `<file>: <what is wrong> — <what to do>`.

    Attributes:
        path: the offending file.
    """

    def __init__(self, path: str | os.PathLike[str], problem: str, remedy: str) -> None:
        self.path = Path(path)
        super().__init__(f"{path}: {problem} — {remedy}")


class RunLockedError(Exception):
    """Another live process holds the run directory's lock.

    Attributes:
        run_dir: the locked run directory.
        pid: the holder's process id, or None where it could not be read.
    """

    def __init__(self, run_dir: str | os.PathLike[str], pid: int | None) -> None:
        self.run_dir, self.pid = Path(run_dir), pid
        holder = "another process" if pid is None else f"process {pid}"
        super().__init__(
            f"{run_dir} is in use by {holder} (a run directory belongs to one process); "
            "wait for it to end or choose another output directory"
        )


class WriteError(Exception):
    """An OS error (a full disk, a quota, a read-only mount) while writing a result file.

    Attributes:
        path: the file that could not be written.
        error: the OS error.
    """

    def __init__(self, path: str | os.PathLike[str], error: OSError) -> None:
        self.path, self.error = Path(path), error
        reason = error.strerror or str(error)
        errno = f"[Errno {error.errno}] " if error.errno is not None else ""
        super().__init__(f"cannot write {path}: {errno}{reason}")


class StopRequested(BaseException):
    """SIGTERM or SIGINT asked the process to stop (a BaseException, like KeyboardInterrupt,
    so that no `except Exception` on the way swallows it).

    `pets.run.experiment.run` fills in where the run stood before it lets the exception go on.

    Attributes:
        signum: the signal number.
        run_dir: the run directory, once known.
        finished: training iterations kept in the checkpoint (None: nothing saved yet).
        total: the run's number of training iterations.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.run_dir: Path | None = None
        self.finished: int | None = None
        self.total: int | None = None


def original_error(err: BaseException, kind: type[_E]) -> _E | None:
    """The `kind` exception that `err` is, or that it replaced, else None.

    torch.save's C++ zip writer, interrupted by a signal or a full disk, raises its own
    RuntimeError "during handling" of the real cause while cleaning up; the cause is what the
    user must hear about.
    """
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
