"""CPU threads of a run: how many cores this process may use, and handing that count to torch.

A run uses exactly the cores it is given (`pets mbexp -threads N`, Snakemake's `threads`, SLURM's
`--cpus-per-task`), never more: two jobs of a workflow on a 2-core machine each run one thread,
since OpenMP threads that outnumber free cores spin and wait on each other. Imports torch only
inside `set_threads`, so the config layer can ask for `available_cores` without it.
"""

from __future__ import annotations

import os


def available_cores() -> int:
    """Return the number of CPUs this process may run on (its affinity mask, e.g. a cgroup)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no sched_getaffinity (macOS)
        return os.cpu_count() or 1


def set_threads(threads: int) -> None:
    """Make torch's intra-op pool (OpenMP, MKL, oneDNN) use `threads` threads.

    Args:
        threads: ≥ 1.
    """
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
