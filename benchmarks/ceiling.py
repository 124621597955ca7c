"""How close eager torch can get to its matmul floors: a re-plan and a training step taken apart.

    python benchmarks/ceiling.py [--what {train,plan,layers} ...] [--env ENV ...]
        [--threads N ...] [--repeats R] [--compile]

Times, interleaved in one process (`pets.bench.timing.interleaved`), at each thread count:

- plan, per env at the paper's planner (`pets bench plan`'s configuration):
  - `floor`: the re-plan's batched matmuls alone (`pets.bench.plan.bmm_floor`);
  - `forwards`: the re-plan's `max_iters · H` ensemble forwards alone (`PlanningForward`:
    matmuls, bias adds, swish, log-variance bounds), no sampling, costs or CEM;
  - `planner`: the whole re-plan (`MPC.act`), as `pets bench plan` times it;
  - `no-bias-swish`: the whole re-plan with every layer's bias add and swish skipped: a wrong
    model, timed only to bound what any faster bias + swish kernel could give.
- train, per env architecture at batch 32 (`pets bench train`'s data):
  - `floor`: the step's forward and backward matmuls alone (`pets.bench.train.matmul_floor`);
  - `floor+adam`: the same matmuls plus the fused Adam update of every parameter, per step:
    what a step costs if everything else in it were free;
  - `fused-step`: the CPU training step `fit` runs (`FusedStep`);
  - `compiled` (with `--compile`): `torch.compile` (inductor, default mode) of `model_loss`'s
    forward and backward, then the same fused Adam: compiling, weighed for training.

- layers, per env: one ensemble forward at the re-plan's shapes (rows = popsize · npart / E),
  as `bmm` alone (`floor`), `bmm` + swish, and `bmm` + bias + swish (what `PlanningForward`
  runs per layer), each layer into its own buffer: what swish costs even fused with the bias.

Prints one row per variant with its time and `floor_ratio` (floor / variant), to weigh against
the CPU targets of `docs/spec/reference-numbers.md` §6. Not imported by `pets`; results in
benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Callable
from typing import cast

import torch

from pets.bench import plan, train
from pets.bench.timing import interleaved, thread_counts
from pets.envs import ENV_NAMES, make_env, make_task
from pets.models import Ensemble
from pets.models.ensemble import EnsembleLinear
from pets.models.fused_step import FusedStep
from pets.models.losses import model_loss
from pets.models.training import make_optimizer
from pets.planning.forward import PlanningForward
from pets.planning.mpc import MPC
from pets.run.experiment import build_controller, build_model

CPU = torch.device("cpu")
BATCH, STEPS = 32, 100
LAYER_FORWARDS = 20


class _NoBiasSwish(PlanningForward):
    """`PlanningForward` with every layer a bare `bmm` (no bias add, no swish): timing only.

    Scaling the inputs is skipped too (two passes over [E, rows, d_in], thin).
    """

    @torch.no_grad()
    def __call__(self, model: Ensemble) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.input
        for layer, out in zip(model.layers, self.outputs, strict=True):
            h = torch.bmm(h, cast(EnsembleLinear, layer).weight, out=out)
        return self._moments(model, h)  # the log-variance bounds and exp, as PlanningForward


def plan_variants(env: str) -> tuple[dict[str, Callable[[], object]], int]:
    """The plan variants of `env` and the forwards per re-plan."""
    cfg = plan._paper_config(env, None)
    task = make_task(env, device=CPU)
    model = build_model(cfg, task, CPU, torch.Generator().manual_seed(0))
    assert isinstance(model, Ensemble)
    gym_env = make_env(env)
    obs, _ = gym_env.reset(seed=0)

    def controller(seed: int) -> MPC:
        mpc = build_controller(cfg, task, model, torch.Generator().manual_seed(seed))
        mpc.reset(gym_env)
        mpc.act(obs)  # builds the PlanningForward
        return mpc

    whole, skipped = controller(0), controller(1)
    forwards = skipped.propagation._forwards
    ((key, fwd),) = forwards.items()
    forwards[key] = _NoBiasSwish(model, key[0])
    count, _, _ = plan._replan_shapes(cfg, model)
    fwd.input.normal_()
    raw = fwd.input.clone()

    def forwards_alone() -> None:
        for _ in range(count):
            fwd.input.copy_(raw)
            fwd(model)

    return {
        "floor": plan.bmm_floor(cfg, model),
        "forwards": forwards_alone,
        "planner": lambda: whole.act(obs),
        "no-bias-swish": lambda: skipped.act(obs),
    }, 1


def train_variants(env: str, compile: bool = False) -> tuple[dict[str, Callable[[], object]], int]:
    """The train variants of `env` and the steps per call."""
    model, lr = train._build(env, CPU)
    data = train.bench_data(model, BATCH, CPU)
    floor = train.matmul_floor(model, BATCH, STEPS)

    adam_model = copy.deepcopy(model)
    adam = make_optimizer(adam_model, lr)
    decays = FusedStep(adam_model, adam, BATCH).decays  # allocates the gradients

    def floor_adam() -> None:
        floor()
        for _ in range(STEPS):
            adam.step_with_decay(decays)

    variants: dict[str, Callable[[], object]] = {
        "floor": floor,
        "floor+adam": floor_adam,
        "fused-step": train._fused_steps(copy.deepcopy(model), lr, data, STEPS),
    }
    if compile:
        variants["compiled"] = _compiled_steps(copy.deepcopy(model), lr, data)
    return variants, STEPS


def _compiled_steps(model: Ensemble, lr: float, data: train.Data) -> Callable[[], None]:
    """`STEPS` autograd steps of `model_loss` compiled by inductor, each with the fused Adam."""
    x, y, idx, _ = data
    optimizer = make_optimizer(model, lr)
    no_decay = [0.0] * len(optimizer.params)  # model_loss holds the weight decay itself
    loss = torch.compile(lambda xb, yb: model_loss(model, xb, yb), dynamic=False)

    def run() -> None:
        for i in range(STEPS):
            rows = idx[i % idx.shape[0]]
            for p in model.parameters():
                p.grad = None
            loss(x[rows], y[rows]).backward()
            optimizer.step_with_decay(no_decay)

    run()  # compiles
    return run


def layer_variants(env: str) -> tuple[dict[str, Callable[[], object]], int]:
    """The layer variants of `env`'s forward at its re-plan shapes, and forwards per call."""
    cfg = plan._paper_config(env, None)
    model = build_model(cfg, make_task(env, device=CPU), CPU, torch.Generator().manual_seed(0))
    assert isinstance(model, Ensemble)
    _, rows, _ = plan._replan_shapes(cfg, model)
    gen = torch.Generator().manual_seed(0)
    layers = [cast(EnsembleLinear, layer) for layer in model.layers]
    ops = [
        (torch.randn(model.ensemble_size, rows, layer.weight.shape[1], generator=gen),
         layer.weight.detach(), layer.bias.detach(),
         torch.empty(model.ensemble_size, rows, layer.weight.shape[2]), k < len(layers) - 1)
        for k, layer in enumerate(layers)
    ]  # fmt: skip

    def forward(bias: bool, swish: bool) -> Callable[[], None]:
        def run() -> None:
            for _ in range(LAYER_FORWARDS):
                for x, w, b, out, hidden in ops:
                    torch.bmm(x, w, out=out)
                    if bias:
                        out.add_(b)
                    if swish and hidden:
                        torch.nn.functional.silu(out, inplace=True)

        return run

    return {
        "floor": forward(False, False),
        "bmm+swish": forward(False, True),
        "bmm+bias+swish": forward(True, True),
    }, LAYER_FORWARDS


WHAT = ("train", "plan", "layers")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", nargs="+", choices=ENV_NAMES, default=list(ENV_NAMES))
    parser.add_argument("--threads", nargs="+", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="train: add the compiled step")
    parser.add_argument("--what", nargs="+", choices=WHAT, default=list(WHAT))
    args = parser.parse_args()
    threads = thread_counts(args.threads)
    print(f"{'what':6} {'env':12} {'threads':>7} {'variant':14} {'ms':>10} {'floor_ratio':>11}")
    builders: dict[str, Callable[[str], tuple[dict[str, Callable[[], object]], int]]] = {
        "train": lambda env: train_variants(env, args.compile),
        "plan": plan_variants,
        "layers": layer_variants,
    }
    for what in args.what:
        for env in args.env:
            variants, per_call = builders[what](env)
            timings = interleaved(
                variants, repeats=args.repeats, warmup=1, device=CPU, threads=threads
            )
            for n in threads:
                floor = timings[("floor", n)].seconds
                for name in variants:
                    t = timings[(name, n)].seconds
                    ms = 1e3 * t / per_call
                    print(f"{what:6} {env:12} {n:>7} {name:14} {ms:>10.3f} {floor / t:>11.3f}")


if __name__ == "__main__":
    main()
