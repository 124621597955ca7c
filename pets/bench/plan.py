"""Re-plan latency benchmark: our MPC re-plan beside its batched-matmul floor, per env and threads.

Times one re-plan (CEM, 5 iterations, PE ensemble of 5 with the env's architecture, TSinf, 20
particles, the env's paper popsize and horizon; `docs/spec/pets-facts.md` §4.1, §6) from a real
reset observation, beside its **bmm floor**: the same sequence of batched matmuls
`[E, rows, in] × [E, in, out]` that the re-plan's ensemble forwards run (H forwards of every
layer per iteration, rows = candidates·npart/E), into buffers allocated once, timed alone.
Another registered optimizer (`opt`, e.g. iCEM or MPPI at its defaults) replaces CEM; its
iterations' candidates come from `pets.config.registry.candidates_per_replan` (iCEM's decaying
population included). The floor is
what the re-plan would cost if everything but the matmuls were free; `ratio` = floor / ours.
Variants, interleaved in one process (`pets.bench.timing.interleaved`):

- `floor`: the bmm sequence alone;
- `planner`: `pets.planning.mpc.MPC.act` re-planning eagerly (no host sync inside), as a CPU run
  does;
- `planner+graph` (CUDA only): `MPC.act` as a CUDA run does it, replaying the re-plan captured
  once as a CUDA graph (fp32);
- `planner+tf32`, `planner+graph+tf32` (CUDA only): the same two with `-precision tf32`;
- `floor+bf16`, `planner+bf16` (where the device has bf16 units): the bmm sequence in bf16, and
  the eager re-plan with `-precision bf16` (`ratio` stays against the fp32 floor).

Each is measured at 1 thread and at all cores (or the given thread counts) and reports GFLOP/s of
the matmul work, minor page faults and system seconds per re-plan; `graph` says whether the
variant replays a graph (`captured`), fell back to eager after a failed capture (`failed`: its
time is then an eager one) or is eager by design (`-`). For cartpole, GP-MM rows (`gp-floor`,
`gp-planner`, `pets.bench.gp`) follow. The model is untrained (timing
does not depend on the weights). Returns rows of plain values; only the CLI prints.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
import torch

from pets.bench import gp
from pets.bench.timing import graph_state, interleaved, replan_columns, thread_counts
from pets.config import Config, apply_override, default_config
from pets.config.registry import candidates_per_replan
from pets.envs import make_env, make_task
from pets.errors import ConfigError
from pets.models import Ensemble
from pets.planning.mpc import MPC
from pets.util.capture import GraphCache
from pets.util.device import resolve_device
from pets.util.precision import bf16_missing, matmul_precision

WARMUP = 1


def _replan_shapes(cfg: Config, model: Ensemble) -> tuple[int, list[int], list[tuple[int, int]]]:
    """Forwards per iteration (H), rows per member of each iteration and (in, out) of each layer,
    for TS propagation."""
    opt, prop = cfg.ctrl_cfg.opt_cfg, cfg.ctrl_cfg.prop_cfg
    rows = [n * prop.npart // model.ensemble_size for n in candidates_per_replan(opt.cfg)]
    layers = [(w.shape[1], w.shape[2]) for w in model.weights()]
    return opt.plan_hor, rows, layers


def replan_flops(cfg: Config, model: Ensemble) -> float:
    """Multiply-add FLOPs (2 per MAC) of the ensemble matmuls of one re-plan."""
    forwards, rows, layers = _replan_shapes(cfg, model)
    return 2.0 * forwards * model.ensemble_size * sum(rows) * sum(i * o for i, o in layers)


def bmm_floor(
    cfg: Config, model: Ensemble, dtype: torch.dtype = torch.float32
) -> Callable[[], None]:
    """The re-plan's matmuls alone: each layer's `bmm` into a buffer allocated once.

    Every layer reads its own fixed input buffer, so the sequence has the re-plan's shapes and
    weights but no data dependence and no element-wise work. `dtype`: the matmuls' (bf16 for
    the floor of `-precision bf16`).
    """
    forwards, iteration_rows, layers = _replan_shapes(cfg, model)
    weights = [w.detach().to(dtype) for w in model.weights()]
    dev, e = weights[0].device, model.ensemble_size
    gen = torch.Generator(device=dev).manual_seed(0)
    iterations = []
    for rows in iteration_rows:  # one buffer set per distinct iteration shape, as the re-plan's
        inputs = [torch.randn(e, rows, i, generator=gen, device=dev).to(dtype) for i, _ in layers]
        outputs = [torch.empty(e, rows, o, device=dev, dtype=dtype) for _, o in layers]
        iterations.append(list(zip(inputs, weights, outputs, strict=True)))

    def run() -> None:
        for pairs in iterations:
            for _ in range(forwards):
                for x, w, out in pairs:
                    torch.bmm(x, w, out=out)

    return run


def _paper_config(env: str, popsize: int | None, opt: str = "CEM") -> Config:
    cfg = default_config(env, opt_type=opt)  # PE, TSinf and CEM: the paper's configuration
    if popsize is not None:
        cfg = apply_override(cfg, "ctrl_cfg.opt_cfg.cfg.popsize", str(popsize))
        if opt == "CEM":
            elites = str(max(1, popsize // 10))
            cfg = apply_override(cfg, "ctrl_cfg.opt_cfg.cfg.num_elites", elites)
    return cfg


def _bench_env(
    env: str,
    device: torch.device,
    repeats: int,
    popsize: int | None,
    threads: list[int],
    opt: str = "CEM",
) -> list[dict[str, object]]:
    from pets.run.experiment import build_controller, build_model  # exactly as runs build them

    cfg = _paper_config(env, popsize, opt)
    task = make_task(env, device=device)
    model = build_model(cfg, task, device, torch.Generator().manual_seed(0))
    assert isinstance(model, Ensemble)  # the paper's configuration is PE
    gym_env = make_env(env)
    obs, _ = gym_env.reset(seed=0)

    def controller(seed: int) -> MPC:
        mpc = build_controller(cfg, task, model, torch.Generator(device=device).manual_seed(seed))
        mpc.reset(gym_env)
        return mpc

    mpc = controller(0)
    mpc.graph = None  # the eager re-plan, also on CUDA
    variants: dict[str, Callable[[], object]] = {
        "floor": bmm_floor(cfg, model),
        "planner": lambda: mpc.act(obs),
    }
    controllers = {"planner": mpc}
    if bf16_missing(device) is None:  # where -precision bf16 is allowed
        low_cfg = dataclasses.replace(cfg, precision="bf16")
        low = build_controller(low_cfg, task, model, torch.Generator(device=device).manual_seed(0))
        low.reset(gym_env)
        low.graph = None
        variants |= {
            "floor+bf16": bmm_floor(cfg, model, torch.bfloat16),
            "planner+bf16": lambda: low.act(obs),
        }
        controllers["planner+bf16"] = low
    if device.type == "cuda":
        cuda_variants, cuda_controllers = _cuda_variants(controller, obs, device)
        variants |= cuda_variants
        controllers |= cuda_controllers
    timings = interleaved(variants, repeats=repeats, warmup=WARMUP, device=device, threads=threads)
    gym_env.close()
    opt_cfg = cfg.ctrl_cfg.opt_cfg
    gflop = replan_flops(cfg, model) / 1e9
    rows = []
    for n in threads:
        floor = timings[("floor", n)].seconds
        for name in variants:
            t = timings[(name, n)]
            rows.append(
                {
                    "env": env,
                    "device": str(device),
                    "threads": n,
                    "opt": opt_cfg.opt_type,
                    "popsize": opt_cfg.cfg.popsize,
                    "plan_hor": opt_cfg.plan_hor,
                    "npart": cfg.ctrl_cfg.prop_cfg.npart,
                    "variant": name,
                    "graph": graph_state(_graph_of(controllers.get(name))),
                    **replan_columns(t, floor_s=floor, gflop=gflop),
                }
            )
    return rows


def _cuda_variants(
    controller: Callable[[int], MPC], obs: np.ndarray, device: torch.device
) -> tuple[dict[str, Callable[[], object]], dict[str, MPC]]:
    """The run's captured re-plan, and TF32 eager and captured; each its own controller.

    Each controller has its own generator (a graph registers it). The TF32 graph is captured
    inside the TF32 setting (its first `act`), and its replays keep that precision.
    """
    graphed, eager_tf32, graphed_tf32 = controller(1), controller(2), controller(3)
    eager_tf32.graph = None
    with matmul_precision("tf32", device):
        graphed_tf32.act(obs)

    def tf32_act() -> object:
        with matmul_precision("tf32", device):
            return eager_tf32.act(obs)

    variants: dict[str, Callable[[], object]] = {
        "planner+graph": lambda: graphed.act(obs),
        "planner+tf32": tf32_act,
        "planner+graph+tf32": lambda: graphed_tf32.act(obs),
    }
    controllers = {
        "planner+graph": graphed,
        "planner+tf32": eager_tf32,
        "planner+graph+tf32": graphed_tf32,
    }
    return variants, controllers


def _graph_of(mpc: MPC | None) -> GraphCache[Callable[[], torch.Tensor]] | None:
    """The variant's re-plan graph cache (None: eager by design, or no MPC)."""
    return None if mpc is None else mpc.graph


def run(
    envs: Sequence[str],
    device: str,
    *,
    repeats: int = 3,
    popsize: int | None = None,
    threads: Sequence[int] | None = None,
    opt: str = "CEM",
) -> list[dict[str, object]]:
    """Measure ms per re-plan at each env's paper configuration beside its bmm floor.

    Args:
        envs: env names (`pets.envs.ENV_NAMES`).
        device: auto, cpu, cuda or cuda:<i>.
        repeats: timed re-plans per variant and thread count (after one warm-up); medians.
        popsize: popsize for every env (CEM: elites = popsize/10); None means the defaults.
        threads: torch thread counts to measure; None means 1 and all cores.
        opt: a registered optimizer, at its task defaults; the GP rows are CEM's only.

    Returns:
        One row per env, thread count and variant: env, device, threads, opt, popsize, plan_hor,
        npart, variant, graph (captured, failed or -), ms_per_replan, floor_ratio (floor time /
        this time), gflop_per_s (of the ensemble matmuls), minor_faults and sys_s (per re-plan).

    Raises:
        ConfigError: an unknown env or device, or a count out of range.
    """
    if repeats < 1 or (popsize is not None and popsize < 10):
        raise ConfigError(f"repeats must be ≥ 1 and popsize ≥ 10, got {repeats} and {popsize}")
    counts = thread_counts(threads)
    if any(n < 1 for n in counts):
        raise ConfigError(f"thread counts must be ≥ 1, got {counts}")
    torch_device = resolve_device(device)
    rows: list[dict[str, object]] = []
    for env in envs:
        rows.extend(_bench_env(env, torch_device, repeats, popsize, counts, opt))
        if (
            env == gp.GP_ENV and opt == "CEM"
        ):  # the paper's GP baseline, GP-MM at the paper's planner
            rows.extend(gp.plan_rows(torch_device, repeats, counts))
    return rows
