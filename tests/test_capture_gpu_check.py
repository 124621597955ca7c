"""benchmarks/gpu-check.sh and its summary, as far as a machine without a GPU can check them.

Oracles: the 9-minute budget (`docs/spec/reference-numbers.md` §6) for the steps' timeouts; the
script's documented errors; for the summary, bench tables written by `pets.cli.format_table` from
hand-made rows and progress files written by `pets.runlog`, whose values must reappear in the
right cells.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from pets import runlog
from pets.cli import format_table
from pets.runlog import ProgressRow

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu-check.sh"
BUDGET_S = 9 * 60  # the whole check within 9 minutes on one H100/H200


def _summary_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gpu_summary", ROOT / "benchmarks" / "gpu_summary.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _requirements_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gpu_requirements", ROOT / "benchmarks" / "gpu_requirements.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_is_valid_bash() -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
def test_script_passes_shellcheck() -> None:
    subprocess.run(["shellcheck", str(SCRIPT)], check=True)


def test_step_timeouts_fit_the_nine_minute_budget() -> None:
    text = SCRIPT.read_text()
    limits = [int(m) for m in re.findall(r"^step [\w-]+ (\d+) ", text, re.M)]
    names = re.findall(r"^step ([\w-]+) ", text, re.M)
    assert names == [
        "install", "environment", "pytest-gpu", "bench-plan", "bench-train", "cartpole-runs",
        "aggregate", "figures",
    ]  # fmt: skip
    # A step that ignores SIGTERM runs KILL_AFTER seconds past its limit; every timeout call
    # uses that grace and no other.
    (kill_after,) = (int(m) for m in re.findall(r"^KILL_AFTER=(\d+)", text, re.M))
    assert re.findall(r"--kill-after=\S+", text) == ['--kill-after="$KILL_AFTER"'] * 2
    # The summary and the tarball after the steps take seconds; leave them 10 s.
    assert sum(limits) + len(limits) * kill_after + 10 <= BUDGET_S


def test_requirements_are_pyprojects_less_torch_the_workflow_tools_and_linters(
    tmp_path: Path,
) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[build-system]\nrequires = ["setuptools>=69", "wheel"]\n'
        '[project]\ndependencies = ["torch>=2.4", "numpy>=2.0", "snakemake>=9", '
        '"snakemake-executor-plugin-slurm>=2", "dvc>=3", "Py_Yaml.X>=6"]\n'
        '[project.optional-dependencies]\ntest = ["pytest>=8", "ruff==0.1", "mypy>=1", '
        '"types-PyYAML>=6", "snakefmt==2"]\n'
    )
    reqs = _requirements_module()
    assert reqs.requirements(pyproject) == [
        "numpy>=2.0", "Py_Yaml.X>=6", "pytest>=8", "setuptools>=69", "wheel",
    ]  # fmt: skip
    names = {re.split(r"[<>=!~ ;\[]", line)[0].lower() for line in reqs.requirements()}
    # what a machine with only Python and a CUDA torch lacks (those pyproject names directly)
    assert names >= {
        "numpy", "scipy", "pyyaml", "tqdm", "imageio", "pandas", "seaborn", "matplotlib",
        "pytest", "setuptools", "gymnasium", "mujoco",
    }  # fmt: skip
    assert not names & {"torch", "snakemake", "dvc"}


def test_requirement_check_names_each_missing_or_out_of_range_distribution() -> None:
    found = _requirements_module().problems(["numpy>=1", "pets-no-such-dist>=1", "numpy<1"])
    assert len(found) == 2
    assert found[0] == "pets-no-such-dist: not installed (needs pets-no-such-dist>=1)"
    assert re.fullmatch(r"numpy: \S+ installed, needs numpy<1", found[1])


def test_dry_run_on_a_bare_python_stops_in_the_install_step(tmp_path: Path) -> None:
    # A Python without any requirement (and without pip): the install step names what is
    # missing, the check stops before any timed step, and nothing is written into the checkout.
    venv = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)

    def written() -> set[Path]:
        return {p for p in ROOT.rglob("*") if p.name in ("__pycache__", "pets.egg-info", "build")}

    before = written()
    env = dict(
        os.environ, PYTHON=str(venv / "bin" / "python"), PETS_WHEELS=str(tmp_path / "none"),
        PETS_GPU_DRY_RUN="1",
    )  # fmt: skip
    done = subprocess.run(
        ["bash", str(SCRIPT), str(tmp_path / "out")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "gpu-check: install: failed(rc=1)" in done.stdout
    assert "missing: numpy: not installed" in done.stderr
    assert done.stderr.endswith("no GPU step was run\n")
    steps = (tmp_path / "out" / "logs" / "steps.tsv").read_text().splitlines()
    assert [line.split("\t")[0] for line in steps] == ["step", "install"]
    assert written() == before


def _run_script(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHON=sys.executable, PETS_WHEELS=str(tmp_path / "no-wheels"))
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_script_needs_an_outdir(tmp_path: Path) -> None:
    done = _run_script(tmp_path=tmp_path)
    assert done.returncode == 2
    assert done.stderr == "gpu-check: error: usage: benchmarks/gpu-check.sh OUTDIR\n"


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is not None and __import__("torch").cuda.is_available(),
    reason="this machine has CUDA",
)
def test_script_refuses_to_run_without_cuda(tmp_path: Path) -> None:
    done = _run_script(str(tmp_path / "out"), tmp_path=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("gpu-check: error: no CUDA device")
    assert done.stderr.count("\n") == 1
    assert list((tmp_path / "out").iterdir()) == []  # nothing installed, run or written


def _bench_rows(variants: dict[str, tuple[str, float]], key: str) -> list[dict[str, object]]:
    return [
        {"env": env, "device": "cuda:0", "threads": 1, "variant": name, "graph": graph, key: value}
        for env in ("cartpole", "halfcheetah")
        for name, (graph, value) in variants.items()
    ]


def test_summary_pivots_benchmarks_runs_and_targets(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "steps.tsv").write_text(
        "step\tstatus\tseconds\tlimit_s\ninstall\tok\t12\t45\ncartpole-runs\ttimeout\t170\t170\n"
    )
    (tmp_path / "pytest-gpu.txt").write_text("....\n===== 14 passed, 2 skipped in 31.2s =====\n")
    plan = _bench_rows(
        {
            "planner": ("-", 61.5),
            "planner+graph": ("captured", 7.25),
            "planner+graph+tf32": ("failed", 58.0),
        },
        "ms_per_replan",
    )
    (tmp_path / "bench-plan.txt").write_text("pets bench: a log line\n" + format_table(plan) + "\n")
    train = _bench_rows({"step": ("-", 450.0), "fit+graph": ("captured", 2400.5)}, "steps_per_s")
    (tmp_path / "bench-train.txt").write_text(format_table(train) + "\n")
    run_dir = tmp_path / "runs" / "cartpole-PE-TSinf-seed0"
    run_dir.mkdir(parents=True)
    rows = [
        ProgressRow(i, 200 * (i + 1), ret, best, 0.5, 1.5, 2.0, ms)
        for i, ret, best, ms in [(1, 40.0, 40.0, 9.0), (2, 170.25, 170.25, 11.0)]
    ]
    runlog.write_progress(run_dir / runlog.PROGRESS_FILE, rows)

    text = _summary_module().summary(tmp_path)
    lines = text.splitlines()
    assert "pytest -m gpu: 14 passed, 2 skipped in 31.2s" in lines
    assert any(re.fullmatch(r"\s*cartpole-runs\s+timeout\s+170\s+170", ln) for ln in lines)
    # Plan pivot: variants in the documented order, the failed capture marked as an eager time.
    header = next(ln for ln in lines if ln.split()[:2] == ["env", "planner"])
    assert header.split() == ["env", "planner", "planner+graph", "planner+graph+tf32"]
    cheetah = next(ln for ln in lines if ln.split()[:1] == ["halfcheetah"] and "61.5" in ln)
    assert cheetah.split() == ["halfcheetah", "61.5", "7.25", "58", "(eager!)"]
    # Runs: last iteration, last and best return, mean ms/action (9 and 11 -> 10.00).
    run = next(ln for ln in lines if "cartpole-PE-TSinf-seed0" in ln)
    assert run.split() == ["cartpole-PE-TSinf-seed0", "2", "170.2", "170.2", "10.00", "1.50"]
    assert "  half-cheetah re-plan, fp32 captured: 7.25 ms (target ≤ 10 ms)" in lines
    # format_table keeps 4 significant digits: 2400.5 -> 2400.
    assert "  half-cheetah training through fit+graph: 2400 steps/s (target ≥ 2000)" in lines


def test_summary_of_an_empty_outdir_says_what_is_missing(tmp_path: Path) -> None:
    text = _summary_module().summary(tmp_path)
    assert "steps: (missing)" in text and "pytest -m gpu: (missing)" in text
    assert text.count("  (missing)") == 3  # plan, train, runs
    assert "fp32 captured: not measured" in text
