"""Re-plan latency benchmark: ms per MPC re-plan at each env's paper configuration.

Times one re-plan (CEM, 5 iterations, PE ensemble of 5 with the env's architecture, TSinf, 20
particles, the env's popsize and horizon; `spec/pets-facts.md` §4.1, §6) from a real reset
observation, in variants timed in the same run so their ratios are comparable:

- `reference`: a plain eager re-plan written straight from the spec the way a port would
  (`plain_replan`): CEM with the original's early stop read back each iteration, truncation by
  re-drawing out-of-range samples (TF's `truncated_normal`), elites by a full sort;
- `planner`: `pets.mpc.MPC.act` as the experiment runs it (eager, no host sync inside; it
  always runs `max_iters` CEM iterations, masking after convergence, so when the reference
  stops early on ε it does less work — rare at the paper's 10 % elites);
- `planner+graph` (CUDA only): the same re-plan captured once as a CUDA graph and replayed.

The model is untrained (timing does not depend on the weights). On CPU a full re-plan takes
seconds, so the popsize (and elites) are divided by `CPU_POPSIZE_DIVISOR` unless given; each row
says which popsize it used. Returns rows of plain values; only the CLI prints. Not imported by
tests.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from pets.config import CEMCfg, Config, apply_override, default_config
from pets.device import resolve_device, synchronize
from pets.envs import make_env, make_task
from pets.envs.base import Task
from pets.errors import ConfigError
from pets.models import Ensemble
from pets.mpc import MPC, NAN_COST, capture_replan

CPU_POPSIZE_DIVISOR = 10  # a paper-size re-plan takes 10–30 s on 2 CPU cores
WARMUP = 1


def _median_ms(
    variants: dict[str, Callable[[], object]], repeats: int, device: torch.device
) -> dict[str, float]:
    """Median wall time in ms of each variant, after a warm-up, the device synchronised.

    The variants take turns within each repeat, so a load change on a shared machine hits them
    alike and their ratios stay comparable.
    """
    for fn in variants.values():
        for _ in range(WARMUP):
            fn()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            synchronize(device)
            start = time.perf_counter()
            fn()
            synchronize(device)
            times[name].append(time.perf_counter() - start)
    return {name: 1e3 * statistics.median(t) for name, t in times.items()}


# --- the plain eager reference -------------------------------------------------------------------


@torch.no_grad()
def plain_replan(
    task: Task, model: Ensemble, obs: np.ndarray, cfg: Config, generator: torch.Generator
) -> np.ndarray:
    """One re-plan (PE, TSinf, CEM) written plainly from spec §6.2–§6.5; returns the first action.

    Uses the task and model only; nothing of `pets.propagation`, `pets.optimizers`, `pets.mpc`.
    """
    opt, prop = cfg.ctrl_cfg.opt_cfg, cfg.ctrl_cfg.prop_cfg
    c = opt.cfg
    assert isinstance(c, CEMCfg)
    h, n, p = opt.plan_hor, c.popsize, prop.npart
    e = model.ensemble_size
    dev = next(model.parameters()).device
    lb = torch.as_tensor(task.ac_lb, dtype=torch.float32, device=dev).repeat(h)  # [H·a]
    ub = torch.as_tensor(task.ac_ub, dtype=torch.float32, device=dev).repeat(h)
    a = lb.numel() // h
    start = torch.as_tensor(obs, dtype=torch.float32, device=dev)

    def costs(samples: Tensor) -> Tensor:
        acs = samples.view(n, h, a).transpose(0, 1)[:, :, None].expand(h, n, p, a)
        acs = acs.reshape(h, n * p, a)
        state = start.repeat(n * p, 1)
        total = torch.zeros(n * p, device=dev)
        for t in range(h):
            x = torch.cat([task.obs_preproc(state), acs[t]], dim=-1)
            x = x.view(n, e, p // e, -1).transpose(0, 1).reshape(e, n * p // e, -1)
            mean, var = model(x)
            pred = mean + torch.randn(mean.shape, generator=generator, device=dev) * var.sqrt()
            pred = pred.view(e, n, p // e, -1).transpose(0, 1).reshape(n * p, -1)
            state = task.obs_postproc(state, pred)
            total += task.obs_cost(state) + task.ac_cost(acs[t])
        total[torch.isnan(total)] = NAN_COST
        return total.view(n, p).mean(dim=1)

    mean, var = (lb + ub) / 2, (ub - lb) ** 2 / 16
    for _ in range(c.max_iters):
        if var.max().item() <= c.epsilon:
            break
        std = torch.minimum(torch.minimum(((mean - lb) / 2) ** 2, ((ub - mean) / 2) ** 2), var)
        z = torch.randn(n, h * a, generator=generator, device=dev)
        while (bad := z.abs() > 2).any():  # TF truncated_normal: re-draw out-of-range values
            z[bad] = torch.randn(int(bad.sum()), generator=generator, device=dev)
        samples = mean + z * std.sqrt()
        elites = samples[costs(samples).argsort()[: c.num_elites]]
        mean = c.alpha * mean + (1 - c.alpha) * elites.mean(dim=0)
        var = c.alpha * var + (1 - c.alpha) * elites.var(dim=0, unbiased=False)
    return mean[:a].cpu().numpy()


# --- our planner, eager and captured -------------------------------------------------------------


def _graph_replan(mpc: MPC, obs: np.ndarray) -> Callable[[], object]:
    """`capture_replan` of the controller, the observation fixed; each call reads the action."""
    mpc.load_observation(obs)
    replay = capture_replan(mpc)
    return lambda: replay()[0].cpu().numpy()


def _bench_env(
    env: str, device: torch.device, repeats: int, popsize: int | None
) -> list[dict[str, object]]:
    from pets.experiment import build_controller, build_model  # exactly as runs build them

    cfg = default_config(env)  # PE, TSinf, CEM: the paper's configuration
    paper_popsize = cfg.ctrl_cfg.opt_cfg.cfg.popsize
    if popsize is None:
        popsize = paper_popsize // CPU_POPSIZE_DIVISOR if device.type == "cpu" else paper_popsize
    cfg = apply_override(cfg, "ctrl_cfg.opt_cfg.cfg.popsize", str(popsize))
    cfg = apply_override(cfg, "ctrl_cfg.opt_cfg.cfg.num_elites", str(max(1, popsize // 10)))
    task = make_task(env, device=device)
    model = build_model(cfg, task, device, torch.Generator().manual_seed(0))
    gym_env = make_env(env)
    obs, _ = gym_env.reset(seed=0)

    def controller(seed: int) -> MPC:
        mpc = build_controller(cfg, task, model, torch.Generator(device=device).manual_seed(seed))
        mpc.reset(gym_env)
        return mpc

    mpc = controller(0)
    ref_gen = torch.Generator(device=device).manual_seed(0)
    variants: dict[str, Callable[[], object]] = {
        "reference": lambda: plain_replan(task, model, obs, cfg, ref_gen),
        "planner": lambda: mpc.act(obs),
    }
    if device.type == "cuda":  # its own controller and generator, registered with the graph
        variants["planner+graph"] = _graph_replan(controller(1), obs)
    timings = _median_ms(variants, repeats, device)
    gym_env.close()
    opt = cfg.ctrl_cfg.opt_cfg
    base: dict[str, object] = {
        "env": env,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "popsize": popsize,
        "paper_popsize": paper_popsize,
        "plan_hor": opt.plan_hor,
        "npart": cfg.ctrl_cfg.prop_cfg.npart,
        "iters": opt.cfg.max_iters if isinstance(opt.cfg, CEMCfg) else 1,
    }
    return [
        {
            **base,
            "variant": name,
            "ms_per_replan": round(ms, 2),
            "speedup_vs_reference": round(timings["reference"] / ms, 2),
        }
        for name, ms in timings.items()
    ]


def run(
    envs: Sequence[str], device: str, *, repeats: int = 5, popsize: int | None = None
) -> list[dict[str, object]]:
    """Measure ms per re-plan at each env's paper configuration beside a plain eager reference.

    Args:
        envs: env names (`pets.envs.ENV_NAMES`).
        device: auto, cpu, cuda or cuda:<i>.
        repeats: timed re-plans per variant (after one warm-up); the median is reported.
        popsize: CEM popsize for every env (elites = popsize/10); None means the paper's, divided
            by `CPU_POPSIZE_DIVISOR` on CPU.

    Returns:
        One row per env and variant: env, device, threads, popsize, paper_popsize, plan_hor,
        npart, iters, variant, ms_per_replan, speedup_vs_reference.

    Raises:
        ConfigError: an unknown env or device, or a non-positive count.
    """
    if repeats < 1 or (popsize is not None and popsize < 10):
        raise ConfigError(f"repeats must be ≥ 1 and popsize ≥ 10, got {repeats} and {popsize}")
    torch_device = resolve_device(device)
    rows: list[dict[str, object]] = []
    for env in envs:
        rows.extend(_bench_env(env, torch_device, repeats, popsize))
    return rows
