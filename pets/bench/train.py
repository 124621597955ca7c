"""Training-speed benchmark: a PE model's gradient step beside its forward+backward matmul floor.

For each env's network (PE, E = 5, `pets.config.default_config(env)`), `batch_size` rows per
member, the PETS loss and Adam, in variants interleaved in one process
(`pets.bench.timing.interleaved`):

- `floor`: the step's batched matmuls alone, into buffers allocated once: per layer the forward
  `X·W`, the weight gradient `Xᵀ·dY` and (above the first layer) the input gradient `dY·Wᵀ`;
- `step`: `pets.models.train_step` (autograd, then `make_optimizer`'s Adam), the step of any
  optimiser other than our fused Adam;
- `fused-step` (CPU only): `pets.models.fused_step.FusedStep`, the hand-written backward and
  fused Adam that `fit` runs on the CPU;
- `fit`: whole `fit` calls (5 epochs, bootstrap, shuffles, padded last minibatch, loss
  bookkeeping), per gradient step;
- `cuda-graph` (CUDA only): a plain captured PyTorch step for reference: `torch.optim.Adam`
  (capturable), fresh minibatch indices copied into its static index buffer, one replay;
- `step+graph`, `fit+graph` (CUDA only): our `pets.models.GraphedStep` per step, and whole `fit`
  calls through it, as a CUDA run trains;
- `fit+graph+tf32` (CUDA only): the same `fit` with `-precision tf32` (captured under TF32).

Each variant trains its own copy of the model (parameters, gradients, optimiser state).
`floor_ratio` = floor time / the variant's time per step; `graph` says whether the variant
replays our captured step (`captured`), fell back to eager after a failed capture (`failed`: an
eager time) or is something else (`-`). Returns rows of plain values; only the CLI prints. For
cartpole, GP rows follow (`pets.bench.gp`: objective evaluations per second of the GP's L-BFGS-B
fit at 2000 and 10200 rows, `batch` = rows). Not imported by tests.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch

from pets.bench import gp
from pets.bench.timing import graph_state, interleaved, step_columns, thread_counts
from pets.config import default_config
from pets.envs import make_task
from pets.errors import ConfigError
from pets.models import Ensemble, GraphedStep, fit, make_optimizer, train_step
from pets.models.fused_step import FusedStep, row_scale
from pets.models.training import ADAM_BETAS, ADAM_EPS
from pets.util.capture import GraphCache
from pets.util.device import resolve_device
from pets.util.precision import matmul_precision

DATA_ROWS = 4096  # rows the `step` minibatches are drawn from
EPOCHS = 5  # as every original config
WARMUP = 1

Data = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def _build(env: str, device: torch.device) -> tuple[Ensemble, float]:
    """The env's PE network on `device` and its learning rate."""
    from pets.run.experiment import build_model  # exactly as runs build it

    cfg = default_config(env)  # PE with the paper's ensemble of 5
    model = build_model(cfg, make_task(env), device, torch.Generator().manual_seed(0))
    assert isinstance(model, Ensemble)  # default_config is PE
    return model, cfg.ctrl_cfg.prop_cfg.model_init_cfg.lr


def bench_data(model: Ensemble, batch: int, device: torch.device) -> Data:
    """Random inputs and targets, 64 minibatches of row indices per member, all-ones weights."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(DATA_ROWS, model.in_dim, generator=gen).to(device)
    y = torch.randn(DATA_ROWS, model.out_dim, generator=gen).to(device)
    idx = torch.randint(DATA_ROWS, (64, model.ensemble_size, batch), generator=gen).to(device)
    return x, y, idx, torch.ones(batch, device=device)


def step_flops(model: Ensemble, batch: int) -> float:
    """FLOPs (2 per MAC) of one step's matmuls: forward, weight and (layers > 0) input gradients."""
    per_member = 0
    for k, weight in enumerate(model.weights()):
        _, d_in, d_out = weight.shape
        per_member += (3 if k > 0 else 2) * batch * d_in * d_out
    return 2.0 * model.ensemble_size * per_member


def matmul_floor(model: Ensemble, batch: int, steps: int) -> Callable[[], None]:
    """`steps` repetitions of one step's matmuls (`step_flops`), into buffers allocated once."""
    weights = [w.detach() for w in model.weights()]
    gen = torch.Generator(device=weights[0].device).manual_seed(0)
    ops = []
    for k, w in enumerate(weights):
        e, d_in, d_out = w.shape
        x = torch.randn(e, batch, d_in, generator=gen, device=w.device)
        dy = torch.randn(e, batch, d_out, generator=gen, device=w.device)
        ops.append((x, w, torch.empty(e, batch, d_out, device=w.device)))  # forward X·W
        ops.append((x.transpose(1, 2), dy, torch.empty_like(w)))  # weight gradient Xᵀ·dY
        if k > 0:
            ops.append((dy, w.transpose(1, 2), torch.empty_like(x)))  # input gradient dY·Wᵀ

    def run() -> None:
        for _ in range(steps):
            for a, b, out in ops:
                torch.bmm(a, b, out=out)

    return run


def _steps(model: Ensemble, lr: float, data: Data, steps: int) -> Callable[[], None]:
    x, y, idx, weights = data
    optimizer = make_optimizer(model, lr)

    def run() -> None:
        for i in range(steps):
            train_step(model, optimizer, x, y, idx[i % idx.shape[0]], weights)

    return run


def _fused_steps(model: Ensemble, lr: float, data: Data, steps: int) -> Callable[[], None]:
    """`steps` calls of the CPU step `fit` runs (`FusedStep`), on pre-scaled inputs."""
    x, y, idx, weights = data
    optimizer = make_optimizer(model, lr)
    step = FusedStep(model, optimizer, idx.shape[2])
    x_scaled, scale = model.scaler(x), row_scale(weights, model.out_dim)

    def run() -> None:
        for i in range(steps):
            step(x_scaled, y, idx[i % idx.shape[0]], scale)

    return run


def _fit(
    model: Ensemble, lr: float, batch: int, steps: int, *, graphed: bool = False
) -> tuple[Callable[[], object], GraphedStep | None]:
    """Whole `fit` calls of `steps` gradient steps (EPOCHS passes over steps/EPOCHS batches).

    With `graphed`, through a `GraphedStep` kept across calls, as a CUDA run trains.
    """
    gen = torch.Generator().manual_seed(1)
    # One row short of full batches, so each pass ends with the padded last minibatch.
    rows = (steps // EPOCHS) * batch - 1
    x = torch.randn(rows, model.in_dim, generator=gen)
    y = torch.randn(rows, model.out_dim, generator=gen)
    optimizer = make_optimizer(model, lr)
    step = GraphedStep(model, optimizer) if graphed else None

    def run() -> object:
        return fit(
            model, optimizer, x, y, epochs=EPOCHS, batch_size=batch, generator=gen, step=step
        )

    return run, step


def _graphed_steps(
    model: Ensemble, lr: float, data: Data, steps: int
) -> tuple[Callable[[], None], GraphedStep]:
    """`steps` calls of our captured step (`GraphedStep`: gather into its buffers, replay)."""
    x, y, idx, weights = data
    step = GraphedStep(model, make_optimizer(model, lr))

    def run() -> None:
        for i in range(steps):
            step(x, y, idx[i % idx.shape[0]], weights)

    return run, step


def _in_tf32(fn: Callable[[], object], device: torch.device) -> Callable[[], object]:
    def run() -> object:
        with matmul_precision("tf32", device):
            return fn()

    return run


def _graph_of(step: GraphedStep | None) -> GraphCache[Callable[[], torch.Tensor]] | None:
    """The variant's training-step graph cache (None: not our captured step)."""
    return None if step is None else step.graph


def _graph_step(model: Ensemble, lr: float, data: Data, steps: int) -> Callable[[], None]:
    """Capture one training step as a CUDA graph; each call copies new indices and replays."""
    x, y, idx, weights = data
    optimizer = torch.optim.Adam(
        model.parameters(), lr=lr, betas=ADAM_BETAS, eps=ADAM_EPS, capturable=True
    )
    static_idx = idx[0].clone()
    side = torch.cuda.Stream(device=x.device)
    side.wait_stream(torch.cuda.current_stream(x.device))
    with torch.cuda.stream(side):  # warm up on a side stream, as capture requires
        for _ in range(3):
            train_step(model, optimizer, x, y, static_idx, weights)
    torch.cuda.current_stream(x.device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    optimizer.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        train_step(model, optimizer, x, y, static_idx, weights)

    def run() -> None:
        for i in range(steps):
            static_idx.copy_(idx[i % idx.shape[0]])
            graph.replay()

    return run


def _bench_env(
    env: str, device: torch.device, steps: int, batch: int, repeats: int, threads: list[int]
) -> list[dict[str, object]]:
    model, lr = _build(env, device)
    data = bench_data(model, batch, device)
    fit_steps = EPOCHS * (steps // EPOCHS)

    def own() -> Ensemble:
        # Each variant trains its own copy: sharing one model let a variant's autograd step swap
        # the `.grad` tensors that another variant's FusedStep writes into (a slower, wrong step).
        return copy.deepcopy(model)

    variants: dict[str, Callable[[], object]] = {
        "floor": matmul_floor(model, batch, steps),
        "step": _steps(own(), lr, data, steps),
        "fit": _fit(own(), lr, batch, fit_steps)[0],
    }
    if device.type == "cpu":
        variants["fused-step"] = _fused_steps(own(), lr, data, steps)
    graphs: dict[str, GraphedStep | None] = {}
    if device.type == "cuda":
        variants["cuda-graph"] = _graph_step(own(), lr, data, steps)
        variants["step+graph"], graphs["step+graph"] = _graphed_steps(own(), lr, data, steps)
        variants["fit+graph"], graphs["fit+graph"] = _fit(own(), lr, batch, fit_steps, graphed=True)
        fit_tf32, graphs["fit+graph+tf32"] = _fit(own(), lr, batch, fit_steps, graphed=True)
        variants["fit+graph+tf32"] = _in_tf32(fit_tf32, device)
    per_call = {name: fit_steps if name.startswith("fit") else steps for name in variants}
    timings = interleaved(variants, repeats=repeats, warmup=WARMUP, device=device, threads=threads)
    gflop = step_flops(model, batch) / 1e9
    rows = []
    for n in threads:
        floor = timings[("floor", n)].seconds / steps
        for name in variants:
            t = timings[(name, n)]
            rows.append(
                {
                    "env": env,
                    "device": str(device),
                    "threads": n,
                    "batch": batch,
                    "variant": name,
                    "graph": graph_state(_graph_of(graphs.get(name))),
                    **step_columns(t, floor_s=floor, gflop=gflop, steps_per_call=per_call[name]),
                }
            )
    return rows


def run(
    envs: Sequence[str],
    device: str,
    *,
    steps: int = 200,
    batch_size: int = 32,
    repeats: int = 3,
    threads: Sequence[int] | None = None,
) -> list[dict[str, object]]:
    """Measure a PE (E = 5) model's training step per env architecture beside its matmul floor.

    Args:
        envs: env names (`pets.envs.ENV_NAMES`).
        device: auto, cpu, cuda or cuda:<i>.
        steps: gradient steps per timed call of each variant.
        batch_size: rows per member per step (32 as in the original).
        repeats: timed calls per variant and thread count (after one warm-up); medians.
        threads: torch thread counts to measure; None means 1 and all cores.

    Returns:
        One row per env, thread count and variant: env, device, threads, batch, variant, graph
        (captured, failed or -), steps_per_s, floor_ratio (floor time per step / this time per
        step), gflop_per_s (of the step's matmuls), minor_faults and sys_ms per step.

    Raises:
        ConfigError: an unknown env or device, or a count out of range.
    """
    if steps < EPOCHS or batch_size < 1 or repeats < 1:
        raise ConfigError(
            f"steps must be ≥ {EPOCHS}, batch_size and repeats ≥ 1, got {steps}, {batch_size}, "
            f"{repeats}"
        )
    counts = thread_counts(threads)
    if any(n < 1 for n in counts):
        raise ConfigError(f"thread counts must be ≥ 1, got {counts}")
    torch_device = resolve_device(device)
    rows: list[dict[str, object]] = []
    for env in envs:
        rows.extend(_bench_env(env, torch_device, steps, batch_size, repeats, counts))
        if env == gp.GP_ENV:  # the paper's GP baseline: L-BFGS-B objective evaluations
            rows.extend(gp.train_rows(torch_device, repeats, counts))
    return rows
