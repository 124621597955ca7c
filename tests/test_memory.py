"""`pets.util.memory.keep_freed_memory`: freed blocks stay in the process, not re-faulted."""

from __future__ import annotations

import mmap
import subprocess
import sys

import pytest

from pets.util.memory import keep_freed_memory, usage

# Three 20 MB blocks alive at once, freed, allocated again: a horizon step's temporaries in small.
# glibc's defaults hand the freed top of the heap back to the kernel (trim threshold 2 x the
# dynamic mmap threshold), so each cycle faults its pages in again; kept memory is reused.
CYCLES = """
import sys
import numpy as np
from pets.util.memory import keep_freed_memory, usage
if sys.argv[1] == "keep":
    assert keep_freed_memory()
def cycle():
    blocks = [np.ones(2_500_000) for _ in range(3)]
    del blocks
for _ in range(2):
    cycle()
before = usage()
for _ in range(3):
    cycle()
print((usage() - before).minor_faults)
"""


def minor_faults(mode: str) -> int:
    env = {"PATH": "/usr/bin:/bin"}  # no GLIBC_TUNABLES / MALLOC_* from the caller
    out = subprocess.run(
        [sys.executable, "-c", CYCLES, mode], capture_output=True, text=True, env=env, check=True
    )
    return int(out.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_kept_memory_is_reused_without_page_faults() -> None:
    # 3 x 20 MB = 14,649 pages of 4 KiB per cycle; reusing them faults none.
    assert minor_faults("keep") < 100
    assert minor_faults("default") > 1000  # the faults that keeping memory removes


def test_explicit_glibc_tunables_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=0")
    assert keep_freed_memory() is False


def test_usage_counts_the_faults_of_fresh_pages() -> None:
    size = 8 * 1024 * 1024
    before = usage()
    with mmap.mmap(-1, size) as fresh:  # a new anonymous mapping: every page faults once
        for offset in range(0, size, mmap.PAGESIZE):
            fresh[offset] = 1
    assert (usage() - before).minor_faults >= size // mmap.PAGESIZE
