"""The `pets` command: `mbexp`, `render` (the original scripts), `aggregate`, `figures`, `bench`.

Handlers only parse and dispatch; the one place that prints. Faults are one line on stderr,
never a traceback: `pets <cmd>: error: <message>` and exit 2 for a user mistake (ConfigError, a
missing or damaged file, a run directory in use by another process), exit 1 for an OS error
while writing (a full disk); a stop by SIGTERM/SIGINT says where the run stood, exit 143/130.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from pets import __version__
from pets.config import MODEL_TYPES, optimizers, override_table, propagations
from pets.config.registry import allowed_props
from pets.envs.registry import PAPER_TASKS, generic_defaults, load_plugins, task_names
from pets.errors import ConfigError, RunLockedError, StopRequested, WriteError
from pets.util.memory import keep_freed_memory
from pets.util.stopping import stop_in, stop_on_signals

EXIT_USAGE = 2  # bad input, damaged or foreign files, a locked run directory (argparse's code)
EXIT_OS_ERROR = 1  # an OS error while writing or reading, e.g. a full disk


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is a single line naming the command (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _ca_help() -> str:
    """The -ca keys, values and valid methods, from the registries."""
    methods = "; ".join(f"{m}-{{{', '.join(allowed_props(m))}}}" for m in MODEL_TYPES)
    opts = ", ".join(f"{name} ({spec.summary})" for name, spec in optimizers().items())
    return f"""controller arguments (-ca KEY VALUE):
  model-type  {", ".join(MODEL_TYPES)} (default PE; GP: sparse GP, the paper's baselines)
  prop-type   {", ".join(propagations())} (default TSinf)
  opt-type    {opts} (default CEM)
  valid methods: {methods}
  reward      known (the env's own reward function, where pets has one) or learned (one more
              model output); gymnasium envs only, default known where pets has it
  termination known, learned (a Bernoulli classifier, trained once an episode has ended early),
              never, or module:function (f(obs, act, next_obs) -> bool [M], batched torch);
              gymnasium envs only, default known where pets has it, else learned

{_generic_help()}
override paths (-o PATH VALUE):
"""


def _generic_help() -> str:
    d = generic_defaults(0)
    cem = d.optimizers["CEM"]
    return (
        "any other gymnasium id (or module:EnvName-vN, which imports module first) runs with:\n"
        "  task_hor the env's TimeLimit; ntrain_iters "
        f"{d.ntrain_iters}; plan_hor {d.plan_hor}; {d.hidden_layers} x {d.hidden_width} "
        f"networks, lr {d.lr}; CEM popsize {cem['popsize']}, num_elites {cem['num_elites']}\n"
        "  (the original's half-cheetah settings; change them with -o as usual)\n"
    )


def _add_run_args(p: argparse.ArgumentParser) -> None:
    tasks = ", ".join(task_names())
    p.add_argument(
        "-env", "--env", required=True,
        help=f"a registered task ({tasks}), any other gymnasium id with continuous spaces, "
        "or module:EnvName-vN (imports module first)",
    )  # fmt: skip
    p.add_argument(
        "-ca", "--ctrl_arg", "--ctrl-arg", dest="ca", nargs=2, action="append",
        metavar=("KEY", "VALUE"), default=[], help="controller argument (repeatable)",
    )  # fmt: skip
    p.add_argument(
        "-o", "--override", dest="o", nargs=2, action="append", metavar=("PATH", "VALUE"),
        default=[], help="override a config leaf by its dotted path (repeatable)",
    )  # fmt: skip
    p.add_argument("-seed", "--seed", type=int, default=0, help="drives torch, numpy and the env")
    p.add_argument(
        "-device", "--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:<i>"
    )
    p.add_argument(
        "-threads", "--threads", type=int, default=None, metavar="N",
        help="CPU threads for torch (default: all cores this process may use)",
    )  # fmt: skip
    p.add_argument(
        "-precision", "--precision", default="fp32", metavar="fp32|tf32|bf16",
        help="fp32 (default, as the original); tf32: CUDA float32 matmuls of planning and "
        "training in TF32 (opt-in; no effect on the CPU); bf16: the planner's TSinf ensemble "
        "layers in bf16 on a CPU or GPU with bf16 units (opt-in; training stays fp32)",
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """The whole command-line grammar (single-dash long flags as the original's scripts)."""
    parser = _Parser(prog="pets", description="PETS (Chua et al. 2018) on PyTorch + MuJoCo.")
    parser.add_argument("--version", action="version", version=f"pets {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    epilog = _ca_help() + override_table()
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser(
        "mbexp", help="run an experiment (the original's scripts/mbexp.py)",
        description="Run PETS on one environment; results go to <logdir>/<date--time>/ "
        "or exactly to -outdir (resumed if it holds an unfinished run).",
        epilog=epilog, formatter_class=fmt, allow_abbrev=False,
    )  # fmt: skip
    _add_run_args(p)
    where = p.add_mutually_exclusive_group()
    where.add_argument("-logdir", "--logdir", default="log", help="parent of timestamped runs")
    where.add_argument("-outdir", "--outdir", help="write (or resume) exactly this run directory")

    p = sub.add_parser(
        "render", help="record one MPC rollout with a saved model (scripts/render.py)",
        description="Load model.pt from -model-dir and record one MPC rollout to "
        "<logdir>/<date--time>/train_iter1/rollout0.mp4, without training.",
        epilog=epilog, formatter_class=fmt, allow_abbrev=False,
    )  # fmt: skip
    _add_run_args(p)
    p.add_argument(
        "-model-dir", "-model_dir", "--model-dir", "--model_dir", dest="model_dir",
        required=True, help="directory holding model.pt (a run directory)",
    )  # fmt: skip
    p.add_argument("-logdir", "--logdir", required=True, help="parent of the timestamped run")

    p = sub.add_parser("aggregate", help="runs' logs.mat -> tables and metrics.json")
    p.add_argument("--runs", nargs="+", required=True, type=Path, help="run directories")
    p.add_argument("--tables", required=True, type=Path, help="output directory for tables")
    p.add_argument("--metrics", required=True, type=Path, help="output metrics.json for DVC")
    p.add_argument("--skip-bad", action="store_true", help="skip and list unreadable runs")

    p = sub.add_parser("figures", help="tables -> paper-style figures (PNG and PDF)")
    p.add_argument("--tables", required=True, type=Path, help="directory written by aggregate")
    p.add_argument("--out", required=True, type=Path, help="output directory for figures")

    p = sub.add_parser("bench", help="measure training steps, re-plans or start-up time")
    p.add_argument("what", choices=("train", "plan", "startup"), help="what to measure")
    p.add_argument(
        "--env", nargs="+", default=list(PAPER_TASKS),
        help="tasks or gymnasium ids (default: the paper's four)",
    )  # fmt: skip
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:<i>")
    p.add_argument(
        "--threads", nargs="+", type=int, metavar="N",
        help="torch CPU thread counts to measure (default: 1 and all cores)",
    )  # fmt: skip
    p.add_argument("--repeats", type=int, default=3, help="timed repeats per variant (medians)")
    p.add_argument(
        "--popsize", type=int, metavar="N",
        help="plan only: CEM popsize for every env, elites popsize/10 (default: the paper's)",
    )  # fmt: skip
    p.add_argument(
        "--opt", default="CEM", choices=tuple(optimizers()),
        help="plan only: the optimizer, at its task defaults (default: CEM, the paper's)",
    )  # fmt: skip
    return parser


def _threads(args: argparse.Namespace) -> int:
    """`-threads N`, or every core this process may use (recorded in the run's config.yaml)."""
    from pets.util.threads import available_cores

    return available_cores() if args.threads is None else args.threads


def _cmd_mbexp(args: argparse.Namespace) -> int:
    from pets.config import build_config

    cfg = build_config(
        args.env, args.ca, args.o, seed=args.seed, device=args.device, threads=_threads(args),
        precision=args.precision,
    )  # fmt: skip
    from pets.run.experiment import new_run_dir, preflight, run  # torch loads only for valid input

    pretrained = preflight(cfg)
    outdir = Path(args.outdir) if args.outdir else new_run_dir(Path(args.logdir))
    run(cfg, outdir, pretrained=pretrained)
    print(f"results in {outdir}")
    return 0


def _cmd_render(args: argparse.Namespace) -> int:
    from pets.config import build_config

    # PETS: render.py appends these overrides after the user's (docs/spec/pets-facts.md §7.2).
    forced = [
        ("ctrl_cfg.prop_cfg.model_init_cfg.model_dir", str(args.model_dir)),
        ("ctrl_cfg.prop_cfg.model_init_cfg.load_model", "True"),
        ("ctrl_cfg.prop_cfg.model_pretrained", "True"),
        ("exp_cfg.exp_cfg.ninit_rollouts", "0"),
        ("exp_cfg.exp_cfg.ntrain_iters", "1"),
        ("exp_cfg.log_cfg.nrecord", "1"),
    ]
    cfg = build_config(
        args.env, args.ca, [*args.o, *forced], seed=args.seed, device=args.device,
        threads=_threads(args), precision=args.precision,
    )  # fmt: skip
    from pets.run.experiment import new_run_dir, preflight, run

    pretrained = preflight(cfg)
    outdir = new_run_dir(Path(args.logdir))
    run(cfg, outdir, pretrained=pretrained)
    print(f"video in {outdir / 'train_iter1' / 'rollout0.mp4'}")
    return 0


def _cmd_aggregate(args: argparse.Namespace) -> int:
    from pets.analysis import aggregate
    from pets.analysis.pipeline import read_verdicts

    skipped = aggregate(args.runs, args.tables, args.metrics, skip_bad=args.skip_bad)
    for path in skipped:
        print(f"skipped unreadable run: {path}", file=sys.stderr)
    for line in read_verdicts(args.tables):
        print(line)
    print(f"tables in {args.tables}, metrics in {args.metrics}")
    return 0


def _cmd_figures(args: argparse.Namespace) -> int:
    from pets.analysis import make_figures

    for path in make_figures(args.tables, args.out):
        print(path)
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from pets.config import check_device

    check_device(args.device)
    if args.popsize is not None and args.what != "plan":
        raise ConfigError(f"--popsize applies to bench plan only, not bench {args.what}")
    if args.opt != "CEM" and args.what != "plan":
        raise ConfigError(f"--opt applies to bench plan only, not bench {args.what}")
    if args.what == "train":
        from pets.bench import train as bench
    elif args.what == "plan":
        from pets.bench import plan as bench  # type: ignore[no-redef]
    else:
        from pets.bench import startup as bench  # type: ignore[no-redef]
    extra = {"popsize": args.popsize, "opt": args.opt} if args.what == "plan" else {}
    rows = bench.run(args.env, args.device, repeats=args.repeats, threads=args.threads, **extra)
    print(format_table(rows))
    return 0


def format_table(rows: Sequence[dict[str, object]]) -> str:
    """Rows of equal keys as an aligned plain-text table."""
    if not rows:
        return "(no rows)"
    keys = list(rows[0])
    cells = [[_cell(r.get(k)) for k in keys] for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    lines = ["  ".join(k.ljust(w) for k, w in zip(keys, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def _cell(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


_HANDLERS = {
    "mbexp": _cmd_mbexp,
    "render": _cmd_render,
    "aggregate": _cmd_aggregate,
    "figures": _cmd_figures,
    "bench": _cmd_bench,
}


def _stopped_line(args: argparse.Namespace, stop: StopRequested) -> str:
    """Where a stopped command stood and how to go on."""
    name = signal.Signals(stop.signum).name
    head = f"pets {args.command}: stopped by {name}"
    if stop.run_dir is None:
        return f"{head} before a run directory was in use"
    if args.command == "render":
        return f"{head}; {stop.run_dir} holds no video, the same command records one again"
    again = "the same command"
    if not getattr(args, "outdir", None):
        again += f" with -outdir {stop.run_dir} in place of -logdir"
    if stop.finished is None:
        return f"{head} in {stop.run_dir}; {again} resumes it"
    return (
        f"{head} at iteration {stop.finished + 1}/{stop.total} in {stop.run_dir} "
        f"({stop.finished} finished and kept); {again} resumes it"
    )


def _run_handler(args: argparse.Namespace) -> int:
    try:
        return _HANDLERS[args.command](args)
    except Exception as err:
        stop = stop_in(err)  # a stop that third-party clean-up code replaced by its own error
        if stop is None:
            raise
        raise stop from None


def main(argv: list[str] | None = None) -> int:
    """Entry point of `pets` and `python -m pets`; returns the exit code."""
    keep_freed_memory()  # before torch and any large allocation
    try:
        load_plugins()  # the user's tasks and optimizers, before -env and -ca are checked
    except ConfigError as err:
        print(f"pets: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format=f"pets {args.command}: %(message)s", stream=sys.stderr
    )
    logging.getLogger("pets").setLevel(logging.INFO)  # ours at INFO, third parties' quieter
    prefix = f"pets {args.command}: error:"
    try:
        with stop_on_signals():
            return _run_handler(args)
    except StopRequested as stop:
        print(_stopped_line(args, stop), file=sys.stderr)
        return 128 + stop.signum  # the shell's code for death by that signal (143, 130)
    except ConfigError as err:
        print(f"{prefix} {err}", file=sys.stderr)
        return EXIT_USAGE
    except (RunLockedError, FileNotFoundError) as err:
        print(f"{prefix} {err}", file=sys.stderr)
        return EXIT_USAGE
    except WriteError as err:
        again = "free space, then run the same command again"
        if args.command == "mbexp":
            where = "" if args.outdir else "with -outdir <its run directory> in place of -logdir; "
            again += f" ({where}it resumes from the last finished iteration)"
        print(f"{prefix} {err} — {again}", file=sys.stderr)
        return EXIT_OS_ERROR
    except OSError as err:  # the environment's, e.g. a directory that cannot be made
        print(f"{prefix} {err}", file=sys.stderr)
        return EXIT_OS_ERROR
    except KeyboardInterrupt:
        print(f"pets {args.command}: interrupted", file=sys.stderr)
        return 130
