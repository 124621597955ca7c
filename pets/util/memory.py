"""Process memory settings: make glibc's allocator keep the memory a re-plan frees.

A re-plan allocates and frees megabyte-sized temporaries at every horizon step. With glibc's
defaults a freed block above the dynamic mmap threshold goes back to the kernel (`munmap`), and
the top of the heap is trimmed once 128 KiB are free, so the next step faults the same pages in
again: up to millions of minor faults and seconds of system time per paper-size re-plan,
depending on the process's allocation history rather than on its code (`benchmarks/README.md`).
Fixed thresholds make freed memory stay in the process and be reused. Set once, at `pets`
start-up, before the first large allocation; the cost is that the process's resident size does
not shrink after a peak (at most the planner's working set, tens of MB). Imports no torch.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import resource
from dataclasses import dataclass

log = logging.getLogger(__name__)

# glibc <malloc.h> parameter numbers of mallopt().
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3

# Blocks up to 32 MiB come from the heap (glibc's largest mmap threshold on 64-bit, its
# DEFAULT_MMAP_THRESHOLD_MAX); a planner's largest temporary is 16 MB (cartpole's hidden layer at
# the paper popsize, [5, 1600, 500] float32). Setting it also turns off the dynamic threshold.
MMAP_THRESHOLD = 32 * 1024 * 1024
# Never trim the heap top below 1 GiB of free memory (mallopt takes an int), and grow the heap in
# 64 MiB steps, so a re-plan's working set is mapped once and stays mapped.
TRIM_THRESHOLD = 1024 * 1024 * 1024
TOP_PAD = 64 * 1024 * 1024


def keep_freed_memory() -> bool:
    """Set glibc's malloc thresholds so freed memory stays in the process for reuse.

    A no-op (returning False) where the C library is not glibc (musl, macOS), or when the
    `GLIBC_TUNABLES`/`MALLOC_*_` environment already set them: explicit settings win.

    Returns:
        True if all three thresholds were set.
    """
    if "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", "") or any(
        k in os.environ for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
    ):
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        log.debug("no mallopt in the C library (%s); allocator left at its defaults", name)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    settings = (
        (M_MMAP_THRESHOLD, MMAP_THRESHOLD),
        (M_TRIM_THRESHOLD, TRIM_THRESHOLD),
        (M_TOP_PAD, TOP_PAD),
    )
    return all(mallopt(param, value) == 1 for param, value in settings)


@dataclass(frozen=True)
class Usage:
    """Resource use of this process so far (`resource.getrusage`)."""

    minor_faults: int
    major_faults: int
    user_s: float
    sys_s: float

    def __sub__(self, other: Usage) -> Usage:
        return Usage(
            self.minor_faults - other.minor_faults,
            self.major_faults - other.major_faults,
            self.user_s - other.user_s,
            self.sys_s - other.sys_s,
        )


def usage() -> Usage:
    """Page faults and CPU times of this process (all its threads) so far."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return Usage(r.ru_minflt, r.ru_majflt, r.ru_utime, r.ru_stime)
