"""The `pets` command line: the original's grammar, and one clear line + exit 2 for bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pets.cli import build_parser, main


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


BAD_MBEXP = [
    (["-env", "walker"], "-env 'walker' is not one of cartpole, reacher, pusher, halfcheetah, "),
    (["-env", "cartpole", "-ca", "model_type", "PE"], "unknown -ca key 'model_type'"),
    (["-env", "cartpole", "-ca", "prop-type", "TS"], "'TS' is not one of E, DS, TS1, TSinf, MM"),
    (
        ["-env", "cartpole", "-ca", "model-type", "D", "-ca", "prop-type", "DS"],
        "prop-type DS is not valid with model-type D (allowed: E)",
    ),
    (
        ["-env", "cartpole", "-o", "ctrl_cfg.opt_cfg.plan_horizon", "5"],
        "did you mean ctrl_cfg.opt_cfg.plan_hor",
    ),
    (["-env", "cartpole", "-o", "ctrl_cfg.per", "1.5"], "ctrl_cfg.per got '1.5'"),
    (
        ["-env", "cartpole", "-ca", "prop-type", "E", "-o", "ctrl_cfg.prop_cfg.npart", "4"],
        "read-only",
    ),
    (
        ["-env", "cartpole", "-o", "ctrl_cfg.opt_cfg.cfg.num_elites", "500"],
        "num_elites (500) must not exceed ctrl_cfg.opt_cfg.cfg.popsize (400)",
    ),
    (["-env", "cartpole", "-o", "ctrl_cfg.prop_cfg.npart", "0"], "npart must be at least 1"),
    (
        ["-env", "cartpole", "-o", "ctrl_cfg.prop_cfg.npart", "12"],
        "npart divisible by num_nets, got npart 12 and num_nets 5",
    ),
    (["-env", "cartpole", "-device", "tpu"], "-device 'tpu' is not one of"),
    (["-env", "cartpole", "-threads", "0"], "-threads must be at least 1, got 0"),
    (["-env", "cartpole", "-threads", "two"], "argument -threads/--threads: invalid int value"),
    (["-env", "cartpole", "-seed", "x"], "argument -seed/--seed: invalid int value: 'x'"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_MBEXP, ids=[m[:40] for _, m in BAD_MBEXP])
def test_mbexp_bad_input_is_one_line_exit_2_nothing_written(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logdir = tmp_path / "log"
    code, _, err = run_cli(["mbexp", *argv, "-logdir", str(logdir)], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("pets mbexp: error: ")
    assert message in lines[0]
    assert not logdir.exists()


def test_render_requires_an_existing_model(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    logdir = tmp_path / "log"
    argv = ["render", "-env", "cartpole", "-model-dir", str(tmp_path / "nope")]
    code, _, err = run_cli([*argv, "-logdir", str(logdir)], capsys)
    assert code == 2
    assert "holds no model.pt" in err
    assert not logdir.exists()


def test_logdir_and_outdir_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["mbexp", "-env", "cartpole", "-logdir", "a", "-outdir", "b"], capsys)
    assert code == 2 and "not allowed with argument" in err


def test_original_spellings_parse() -> None:
    parser = build_parser()
    args = parser.parse_args(
        ["mbexp", "--env", "reacher", "--ctrl_arg", "model-type", "DE", "--override",
         "ctrl_cfg.per", "2", "-ca", "prop-type", "TS1", "--outdir", "x", "--seed", "3"]
    )  # fmt: skip
    assert args.env == "reacher" and args.outdir == "x" and args.seed == 3
    assert args.ca == [["model-type", "DE"], ["prop-type", "TS1"]]
    assert args.o == [["ctrl_cfg.per", "2"]]
    for flag in ("-model-dir", "-model_dir", "--model-dir"):
        args = parser.parse_args(["render", "-env", "pusher", flag, "m", "-logdir", "l"])
        assert args.model_dir == "m"


def test_help_lists_controller_arguments_and_override_paths() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pets", "mbexp", "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0
    assert "model-type" in proc.stdout and "ctrl_cfg.opt_cfg.cfg.popsize" in proc.stdout


def test_bench_plan_passes_popsize(monkeypatch: pytest.MonkeyPatch) -> None:
    import pets.bench.plan as plan

    seen: dict[str, object] = {}

    def fake_run(envs: list[str], device: str, **kwargs: object) -> list[dict[str, object]]:
        seen.update(kwargs, envs=envs)
        return [{"env": envs[0], "popsize": kwargs["popsize"]}]

    monkeypatch.setattr(plan, "run", fake_run)
    assert main(["bench", "plan", "--env", "reacher", "--device", "cpu", "--popsize", "40"]) == 0
    assert seen["popsize"] == 40 and seen["envs"] == ["reacher"]
    assert main(["bench", "plan", "--env", "reacher", "--device", "cpu"]) == 0
    assert seen["popsize"] is None and seen["opt"] == "CEM"  # the paper's
    assert main(["bench", "plan", "--env", "reacher", "--device", "cpu", "--opt", "iCEM"]) == 0
    assert seen["opt"] == "iCEM"


def test_bench_popsize_is_refused_for_train(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "train", "--device", "cpu", "--popsize", "40"]) == 2
    assert "--popsize applies to bench plan only" in capsys.readouterr().err
    assert main(["bench", "train", "--device", "cpu", "--opt", "MPPI"]) == 2
    assert "--opt applies to bench plan only" in capsys.readouterr().err
