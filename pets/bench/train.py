"""Training-speed benchmark: gradient steps per second of a PE model per env architecture.

Measures the step `pets.models.fit` takes (PE, E = 5 by default, `batch_size` rows per member,
the PETS loss, Adam) for each env's network (`pets.config.default_config(env)`), in variants
timed in the same run so their ratios are comparable:

- `eager`: `pets.models.train_step` with `make_optimizer`'s Adam, the step `fit` runs;
- `fused-adam`: the same step with `torch.optim.Adam(fused=True)`;
- `cuda-graph` (CUDA only): the eager step captured once as a CUDA graph (capturable Adam) and
  replayed with fresh minibatch indices copied into its static index buffer;
- `fit`: one whole `fit` call of `steps` minibatches (bootstrap, shuffles, loss bookkeeping).

Returns rows of plain values; only the CLI prints. Not imported by tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import torch

from pets.config import default_config
from pets.device import resolve_device, synchronize
from pets.envs import make_task
from pets.errors import ConfigError
from pets.models import Ensemble, StepOptimizer, fit, make_optimizer, train_step
from pets.models.training import ADAM_BETAS, ADAM_EPS

DATA_ROWS = 4096  # rows the minibatches are drawn from
WARMUP_STEPS = 10


def _build(env: str, device: torch.device) -> tuple[Ensemble, float]:
    """The env's PE network on `device` and its learning rate."""
    from pets.experiment import build_model  # exactly as runs build it

    cfg = default_config(env)  # PE with the paper's ensemble of 5
    model = build_model(cfg, make_task(env), device, torch.Generator().manual_seed(0))
    return model, cfg.ctrl_cfg.prop_cfg.model_init_cfg.lr


def _time_steps(step: Callable[[int], object], steps: int, device: torch.device) -> float:
    """Seconds for `steps` calls of step(i) after a warm-up, the device synchronised around."""
    for i in range(WARMUP_STEPS):
        step(i)
    synchronize(device)
    start = time.perf_counter()
    for i in range(steps):
        step(i)
    synchronize(device)
    return time.perf_counter() - start


def _eager_step(
    model: Ensemble,
    optimizer: StepOptimizer,
    data: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
) -> Callable[[int], object]:
    x, y, idx, weights = data
    return lambda i: train_step(model, optimizer, x, y, idx[i % idx.shape[0]], weights)


def _graph_step(
    model: Ensemble,
    lr: float,
    data: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
) -> Callable[[int], object]:
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

    def step(i: int) -> None:
        static_idx.copy_(idx[i % idx.shape[0]])
        graph.replay()

    return step


def _bench_env(
    env: str, device: torch.device, steps: int, batch_size: int
) -> list[dict[str, object]]:
    gen = torch.Generator().manual_seed(0)
    model, lr = _build(env, device)
    x = torch.randn(DATA_ROWS, model.in_dim, generator=gen).to(device)
    y = torch.randn(DATA_ROWS, model.out_dim, generator=gen).to(device)
    idx = torch.randint(DATA_ROWS, (64, model.ensemble_size, batch_size), generator=gen).to(device)
    weights = torch.ones(batch_size, device=device)
    data = (x, y, idx, weights)
    per_net = sum(p.numel() for layer in model.layers for p in layer.parameters())
    base: dict[str, object] = {
        "env": env,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "ensemble": model.ensemble_size,
        "batch": batch_size,
        "params_per_net": per_net // model.ensemble_size,
        "steps": steps,
    }
    timings: dict[str, float] = {}
    timings["eager"] = _time_steps(
        _eager_step(model, make_optimizer(model, lr), data), steps, device
    )
    fused = torch.optim.Adam(model.parameters(), lr=lr, betas=ADAM_BETAS, eps=ADAM_EPS, fused=True)
    timings["fused-adam"] = _time_steps(_eager_step(model, fused, data), steps, device)
    if device.type == "cuda":
        timings["cuda-graph"] = _time_steps(_graph_step(model, lr, data), steps, device)
    # A whole fit call with exactly `steps` minibatches (timed once, after the warm-ups above).
    rows = steps * batch_size
    fit_x = torch.randn(rows, model.in_dim, generator=gen)
    fit_y = torch.randn(rows, model.out_dim, generator=gen)
    optimizer = make_optimizer(model, lr)
    synchronize(device)
    start = time.perf_counter()
    fit(model, optimizer, fit_x, fit_y, epochs=1, batch_size=batch_size, generator=gen)
    synchronize(device)
    timings["fit"] = time.perf_counter() - start

    eager_rate = steps / timings["eager"]
    return [
        {
            **base,
            "variant": name,
            "steps_per_s": round(steps / seconds, 1),
            "ms_per_step": round(1e3 * seconds / steps, 3),
            "vs_eager": round(steps / seconds / eager_rate, 2),
        }
        for name, seconds in timings.items()
    ]


def run(
    envs: Sequence[str], device: str, *, steps: int = 200, batch_size: int = 32
) -> list[dict[str, object]]:
    """Measure gradient steps per second of a PE (E = 5) model for each env's architecture.

    Args:
        envs: env names (`pets.envs.ENV_NAMES`).
        device: auto, cpu, cuda or cuda:<i>.
        steps: timed steps per variant (after 10 warm-up steps).
        batch_size: rows per member per step (32 as in the original).

    Returns:
        One row per env and variant: env, device, threads, ensemble, batch, params_per_net,
        steps, variant, steps_per_s, ms_per_step, vs_eager (rate relative to `eager`).

    Raises:
        ConfigError: an unknown env or device, or a non-positive count.
    """
    if steps < 1 or batch_size < 1:
        raise ConfigError(f"steps and batch_size must be ≥ 1, got {steps} and {batch_size}")
    torch_device = resolve_device(device)
    rows: list[dict[str, object]] = []
    for env in envs:
        rows.extend(_bench_env(env, torch_device, steps, batch_size))
    return rows
