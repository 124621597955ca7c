"""GP rows of `pets bench plan` and `pets bench train` (cartpole, `-ca model-type GP`).

- plan: one GP-MM re-plan at the paper's cartpole planner (CEM popsize 400, 5 iterations,
  horizon 25, 20 particles) beside its matmul floor: the float64 products of the GP's forwards
  (`x·Zᵀ` of the kernel, `k·q` of the variance, `k·alpha` of the mean), `max_iters · H` times on
  `popsize · npart` rows, into buffers allocated once.
- train: objective evaluations (the negative collapsed bound and its gradient, what L-BFGS-B
  calls) per second at N training rows, beside the evaluation's forward matmul floor
  (`Kuf`'s `Z·Xᵀ` and `A·Aᵀ`, float64).

The rows have the same columns as the ensemble rows of `pets.bench.plan`/`pets.bench.train`,
with `variant` prefixed `gp-`. Returns rows of plain values; only the CLI prints.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from pets.bench.timing import graph_state, interleaved, replan_columns, step_columns
from pets.config import CEMCfg, build_config
from pets.envs import make_env, make_task
from pets.envs.registry import PAPER_TASKS
from pets.models import SparseGP
from pets.models.gp import negative_bound, to_positive

GP_ENV = PAPER_TASKS[0]  # the paper's first task: its GP rows fit a CPU
TRAIN_ROWS = (2000, 10200)  # after 10 episodes, and at the end of a paper run (51 × 200)
WARMUP = 1


def _plan_floor(gp: SparseGP, rows: int, forwards: int) -> tuple[Callable[[], None], float]:
    """The re-plan's GP matmuls alone, and their FLOPs."""
    m, d, o = gp.num_inducing, gp.in_dim, gp.out_dim
    dev, f64 = gp.inducing.device, torch.float64
    gen = torch.Generator(device=dev).manual_seed(0)
    x = torch.randn(rows, d, generator=gen, device=dev, dtype=f64)
    k = torch.randn(rows, m, generator=gen, device=dev, dtype=f64)
    out_k, out_q, out_m = (torch.empty(rows, w, device=dev, dtype=f64) for w in (m, m, o))
    z_t, q, alpha = gp.inducing.T.contiguous(), gp.q, gp.alpha

    def run() -> None:
        for _ in range(forwards):
            torch.mm(x, z_t, out=out_k)
            torch.mm(k, q, out=out_q)
            torch.mm(k, alpha, out=out_m)

    return run, 2.0 * forwards * rows * (d * m + m * m + m * o)


def plan_rows(device: torch.device, repeats: int, threads: list[int]) -> list[dict[str, object]]:
    """Rows of ms per GP-MM re-plan at the paper's cartpole planner, beside the floor."""
    from pets.run.experiment import build_controller, build_model  # exactly as runs build them

    cfg = build_config(GP_ENV, [("model-type", "GP"), ("prop-type", "MM")], device=str(device))
    task = make_task(GP_ENV, device=device)
    model = build_model(cfg, task, device)
    assert isinstance(model, SparseGP)
    gym_env = make_env(GP_ENV)
    obs, _ = gym_env.reset(seed=0)
    mpc = build_controller(cfg, task, model, torch.Generator(device=device).manual_seed(0))
    mpc.reset(gym_env)
    opt, prop = cfg.ctrl_cfg.opt_cfg, cfg.ctrl_cfg.prop_cfg
    assert isinstance(opt.cfg, CEMCfg)
    floor, flops = _plan_floor(
        model, opt.cfg.popsize * prop.npart, opt.cfg.max_iters * opt.plan_hor
    )
    variants: dict[str, Callable[[], object]] = {
        "gp-floor": floor,
        "gp-planner": lambda: mpc.act(obs),
    }
    timings = interleaved(variants, repeats=repeats, warmup=WARMUP, device=device, threads=threads)
    gym_env.close()
    rows = []
    for n in threads:
        base = timings[("gp-floor", n)].seconds
        for name in variants:
            t = timings[(name, n)]
            rows.append(
                {
                    "env": GP_ENV,
                    "device": str(device),
                    "threads": n,
                    "opt": opt.opt_type,
                    "popsize": opt.cfg.popsize,
                    "plan_hor": opt.plan_hor,
                    "npart": prop.npart,
                    "variant": name,
                    # as pets.bench.plan's rows: a CUDA GP re-plan is captured like any other
                    "graph": graph_state(mpc.graph if name == "gp-planner" else None),
                    **replan_columns(t, floor_s=base, gflop=flops / 1e9),
                }
            )
    return rows


def _evaluation(gp: SparseGP, rows: int) -> tuple[Callable[[], None], Callable[[], None], float]:
    """One objective evaluation (bound + gradient) on `rows` random rows, its floor and FLOPs."""
    m, d, o = gp.num_inducing, gp.in_dim, gp.out_dim
    dev, f64 = gp.inducing.device, torch.float64
    gen = torch.Generator(device=dev).manual_seed(0)
    x = torch.randn(rows, d, generator=gen, device=dev, dtype=f64)
    y = torch.randn(rows, o, generator=gen, device=dev, dtype=f64)
    z = x[:m].clone()
    theta = torch.zeros(d + 2, dtype=f64, device=dev)

    def evaluate() -> None:
        t = theta.clone().requires_grad_(True)
        zt = z.clone().requires_grad_(True)
        loss = negative_bound(x, y, zt, to_positive(t[:d]), to_positive(t[d]), to_positive(t[-1]))
        torch.autograd.grad(loss, (t, zt))

    a = torch.randn(m, rows, generator=gen, device=dev, dtype=f64)
    out_kuf = torch.empty(m, rows, device=dev, dtype=f64)
    out_aat = torch.empty(m, m, device=dev, dtype=f64)

    def floor() -> None:
        torch.mm(z, x.T, out=out_kuf)
        torch.mm(a, a.T, out=out_aat)

    return evaluate, floor, 2.0 * rows * (m * d + m * m)


def train_rows(device: torch.device, repeats: int, threads: list[int]) -> list[dict[str, object]]:
    """Rows of GP objective evaluations per second at `TRAIN_ROWS` training rows."""
    cfg = build_config(GP_ENV, [("model-type", "GP"), ("prop-type", "MM")])
    task = make_task(GP_ENV)
    init = cfg.ctrl_cfg.prop_cfg.model_init_cfg
    assert init.num_inducing_points is not None
    gp = SparseGP(task.model_in_dim, task.model_out_dim, num_inducing=init.num_inducing_points)
    gp = gp.to(device)
    rows: list[dict[str, object]] = []
    for n_rows in TRAIN_ROWS:
        evaluate, floor, flops = _evaluation(gp, n_rows)
        variants: dict[str, Callable[[], object]] = {"gp-floor": floor, "gp-eval": evaluate}
        timings = interleaved(
            variants, repeats=repeats, warmup=WARMUP, device=device, threads=threads
        )
        for n in threads:
            base = timings[("gp-floor", n)].seconds
            for name in variants:
                t = timings[(name, n)]
                rows.append(
                    {
                        "env": GP_ENV,
                        "device": str(device),
                        "threads": n,
                        "batch": n_rows,  # training rows N of the bound
                        "variant": f"{name}-N{n_rows}",
                        "graph": "-",  # the columns of pets.bench.train's rows
                        **step_columns(t, floor_s=base, gflop=flops / 1e9),
                    }
                )
    return rows
