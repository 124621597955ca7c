"""Turn SIGTERM and SIGINT into a `StopRequested` exception raised in the main thread.

SLURM (at a time limit), Snakemake and `kill` send SIGTERM; Ctrl-C sends SIGINT. Raising lets
the stack unwind at once, through the atomic writers' clean-up, while the checkpoint of the last
finished iteration stays whole. Imports nothing from the rest of the package but `pets.errors`.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from pets.errors import StopRequested, original_error

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    # A second signal kills the process outright: a stuck clean-up can always be ended, and the
    # files on disk are whole either way (atomic writes).
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    raise StopRequested(signum)


def stop_in(err: BaseException) -> StopRequested | None:
    """The `StopRequested` that `err` is, or that third-party clean-up code replaced."""
    return original_error(err, StopRequested)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGINT raise `StopRequested`; handlers restored after.

    Outside the main thread (where Python cannot install handlers) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _raise_stop) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
