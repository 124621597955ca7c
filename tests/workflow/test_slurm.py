"""CI's tiny grid through profiles/ci-slurm on the one-node test cluster.

Start the cluster first (as root): `bash tools/slurm-cluster.sh start`. A misconfigured status
check makes Snakemake wait forever, so the run has a hard timeout: SIGINT (Snakemake cancels its
SLURM jobs), then SIGKILL.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from wfutil import TEST_CONFIG, assert_results, copy_repo, load_yaml, snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.slurm]


def cluster_state() -> str | None:
    """The reason to skip, or None when a SLURM node is ready."""
    if shutil.which("sinfo") is None:
        return "sinfo not found: no SLURM here (apt-get install -y slurm-wlm munge)"
    try:
        result = subprocess.run(
            ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20
        )
    except subprocess.TimeoutExpired:
        return "sinfo timed out: is slurmctld running? (bash tools/slurm-cluster.sh start)"
    states = result.stdout.split()
    if result.returncode != 0 or not {"idle", "mixed", "allocated"} & set(states):
        seen = result.stdout.strip() or result.stderr.strip()
        return f"no SLURM node ready ({seen}); run bash tools/slurm-cluster.sh start"
    return None


@pytest.fixture(scope="module")
def cluster() -> None:
    reason = cluster_state()
    if reason:
        pytest.skip(reason)


def test_slurm_ci_profile_runs_the_test_grid(cluster: None, tmp_path: Path) -> None:
    root = copy_repo(tmp_path)
    args = ["--profile", "profiles/ci-slurm", "--configfile", ".test/config/config.yaml"]
    result = snakemake(args, cwd=root, timeout=300, check=True)
    assert_results(root, load_yaml(TEST_CONFIG))
    # The training cells went through sbatch (aggregation is a localrule).
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", result.stdout)
    assert len(submitted) == 2, result.stdout[-3000:]
    assert "Falling back to 'sacct'" not in result.stdout
