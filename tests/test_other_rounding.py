"""The tests that compare computations hold under another BLAS code path, not only this CPU's.

MKL picks its matmul kernels by CPU: an AMD EPYC and an Intel Xeon sum `bmm` and `baddbmm` in
different orders, so a test that compares two kernels bit for bit can pass on one and fail on
the other. `MKL_CBWR=COMPATIBLE` makes MKL use its generic code path on any x86 CPU; on our Intel
Xeon it changes how `bmm` and `baddbmm` round (the check below prints whether it does here), as
an AMD CPU does. These test files must pass under it, as they pass natively; the other half of
the guard is `test_plan_buffers.py`'s reordered-`bmm` runs, which change rounding on every CPU.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Every file with a test that compares two kernel sequences or a kernel with an oracle.
COMPARING = [
    "tests/test_plan_buffers.py",
    "tests/test_fused_step.py",
    "tests/test_adam.py",
    "tests/test_propagation.py",
    "tests/test_mpc.py",
    "tests/test_capture.py",
    "tests/test_capture_training.py",
    "tests/test_optimizers.py",
]
_PROBE = (
    "import torch, hashlib;"
    "g = torch.Generator().manual_seed(0);"
    "x, w, b = (torch.randn(s, generator=g) for s in [(5, 400, 200), (5, 200, 200), (5, 1, 200)]);"
    "print(hashlib.sha256(torch.baddbmm(b, x, w).numpy().tobytes()).hexdigest())"
)


def _matmul_digest(env: dict[str, str]) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True
    )
    return proc.stdout.strip()


def test_comparing_tests_pass_under_mkls_generic_code_path() -> None:
    env = {**os.environ, "MKL_CBWR": "COMPATIBLE"}
    native = {k: v for k, v in os.environ.items() if k != "MKL_CBWR"}
    changed = _matmul_digest(env) != _matmul_digest(native)
    print(f"MKL_CBWR=COMPATIBLE changes baddbmm's rounding on this CPU: {changed}")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *COMPARING],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_the_comparing_list_names_existing_files() -> None:
    assert all((ROOT / f).is_file() for f in COMPARING)
