"""Automatic mutation score per module: random operator and constant mutants, each run alone.

Usage: `mkdir /tmp/ms && git ls-files -z | xargs -0 cp --parents -t /tmp/ms && cd /tmp/ms &&
PYTHONPATH=/tmp/ms python tests/mutation_score.py /tmp/ms [--per-module 10]`.
For each module group below, every mutation point of its files is listed (a comparison flipped,
an arithmetic operator swapped, a number changed, a boolean negated), a seeded sample of
`--per-module` points is drawn, and each mutant is planted alone in the scratch copy and the
group's test files are run (`pytest -x -q`, the default markers); a failing run kills it. Prints
one line per mutant and a score table (tests/README.md). Complements tests/mutants.py, whose
mutants are hand-written plausible bugs; these are blind, so some survivors are equivalent
mutants (a change no behaviour can show) — read them before adding tests.
"""

from __future__ import annotations

import argparse
import ast
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# module group -> (source files or folders under pets/, the test files that should catch them)
GROUPS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "envs": (("pets/envs",), ("tests/envs", "tests/test_spec_oracles.py", "tests/test_seams.py")),
    "models": (
        ("pets/models",),
        ("tests/test_models.py", "tests/test_adam.py", "tests/test_gp.py", "tests/test_seams.py"),
    ),
    "propagation": (("pets/planning/propagation.py",), ("tests/test_propagation.py",)),
    "optimizers": (("pets/planning/optimizers.py",), ("tests/test_optimizers.py",)),
    "mpc": (("pets/planning/mpc.py",), ("tests/test_mpc.py",)),
    "rollout": (("pets/run/rollout.py",), ("tests/test_seams.py", "tests/test_options.py")),
    "experiment": (
        ("pets/run/experiment.py", "pets/run/building.py", "pets/run/checkpoint.py"),
        ("tests/test_experiment.py", "tests/test_options.py", "tests/test_seams.py"),
    ),
    "analysis": (("pets/analysis",), ("tests/analysis",)),
}

_COMPARE_SWAP = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}  # fmt: skip
_BINOP_SWAP = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
    ast.FloorDiv: ast.Mult, ast.Pow: ast.Mult, ast.MatMult: ast.Mult,
}  # fmt: skip


@dataclass(frozen=True)
class Mutant:
    path: str
    line: int
    old: str  # the exact source segment
    new: str

    def describe(self) -> str:
        return f"{self.path}:{self.line}: {self.old!r} -> {self.new!r}"


def _mutated(node: ast.AST) -> ast.AST | None:
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        swap = _COMPARE_SWAP.get(type(node.ops[0]))
        return ast.Compare(node.left, [swap()], node.comparators) if swap else None
    if isinstance(node, ast.BinOp):
        swap = _BINOP_SWAP.get(type(node.op))
        return ast.BinOp(node.left, swap(), node.right) if swap else None
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        value = node.value
        return ast.Constant(value + 1 if isinstance(value, int) else value * 2 if value else 1.0)
    if isinstance(node, ast.Constant) and isinstance(node.value, bool):
        return ast.Constant(not node.value)
    return None


def _docstring_nodes(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            ids.add(id(body[0].value))
    return ids


def mutation_points(root: Path, rel: str) -> list[Mutant]:
    """Every single-line mutation of `rel` whose source segment occurs once in the file."""
    source = (root / rel).read_text(encoding="utf-8")
    tree = ast.parse(source)
    skip = _docstring_nodes(tree)
    points = []
    for node in ast.walk(tree):
        if id(node) in skip or getattr(node, "lineno", None) != getattr(node, "end_lineno", 0):
            continue
        changed = _mutated(node)
        segment = ast.get_source_segment(source, node) if changed is not None else None
        if changed is None or not segment or source.count(segment) != 1:
            continue
        new = ast.unparse(changed)
        if new != segment:
            points.append(Mutant(rel, node.lineno, segment, new))  # type: ignore[attr-defined]
    return points


def group_files(root: Path, sources: tuple[str, ...]) -> list[str]:
    files = []
    for src in sources:
        path = root / src
        found = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        files += [str(f.relative_to(root)) for f in found if f.name != "__init__.py"]
    return files


def run_mutant(root: Path, mutant: Mutant, tests: tuple[str, ...], timeout: float) -> bool:
    """Plant `mutant`, run `tests`; True if they fail (killed). Restores the file."""
    path = root / mutant.path
    original = path.read_text(encoding="utf-8")
    path.write_text(original.replace(mutant.old, mutant.new, 1), encoding="utf-8")
    try:
        cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
        proc = subprocess.run(cmd, cwd=root, capture_output=True, timeout=timeout)
        return proc.returncode != 0
    except subprocess.TimeoutExpired:
        return True  # a mutant that hangs the tests is caught by CI's time limit
    finally:
        path.write_text(original, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="a scratch copy of the repository")
    parser.add_argument("--per-module", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--groups", nargs="+", default=list(GROUPS))
    args = parser.parse_args()
    root = args.root.resolve()
    if (root / ".git").exists():  # a kill between plant and restore would leave the bug in
        sys.exit(f"mutation_score: {root} is a git checkout; give a scratch copy")
    rng = random.Random(args.seed)
    scores = []
    for name in args.groups:
        sources, tests = GROUPS[name]
        points = [m for f in group_files(root, sources) for m in mutation_points(root, f)]
        sample = rng.sample(points, min(args.per_module, len(points)))
        killed = 0
        for mutant in sample:
            start = time.monotonic()
            dead = run_mutant(root, mutant, tests, args.timeout)
            killed += dead
            verdict = "killed" if dead else "SURVIVED"
            print(f"{name}\t{verdict}\t{mutant.describe()}\t{time.monotonic() - start:.0f} s")
            sys.stdout.flush()
        scores.append((name, len(points), len(sample), killed))
    print("\n| module | mutation points | sampled | killed | score |\n|---|---|---|---|---|")
    for name, total, sampled, killed in scores:
        print(f"| {name} | {total} | {sampled} | {killed} | {killed / max(sampled, 1):.0%} |")


if __name__ == "__main__":
    main()
