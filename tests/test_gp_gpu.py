"""The GP on CUDA (skipped without it): same numbers as on the CPU, sync-free and capturable
re-plans for GP-E, GP-DS and GP-MM."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cuda_sync import replan_without_host_sync

from pets.config import build_config
from pets.envs import make_env, make_task
from pets.models import SparseGP, fit_gp
from pets.models.gp import negative_bound
from pets.planning.capture import capture_replan

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


def _fitted(device: str) -> SparseGP:
    task = make_task("cartpole")
    gp = SparseGP(task.model_in_dim, task.model_out_dim, num_inducing=16).to(device)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, task.model_in_dim))
    y = rng.normal(size=(64, task.model_out_dim))
    fit_gp(gp, x, y, generator=torch.Generator(device=device).manual_seed(0), maxiter=5)
    return gp


def test_bound_and_prediction_on_cuda_match_cpu() -> None:
    cpu = _fitted("cpu")
    cuda = SparseGP(cpu.in_dim, cpu.out_dim, num_inducing=cpu.num_inducing).to("cuda")
    cuda.load_state_dict(cpu.state_dict())
    q = torch.randn(1, 50, cpu.in_dim, generator=torch.Generator().manual_seed(1))
    for a, b in zip(cpu(q), cuda(q.cuda()), strict=True):
        torch.testing.assert_close(a, b.cpu(), rtol=1e-5, atol=1e-5)
    g = torch.Generator().manual_seed(2)
    x, y = (
        torch.randn(40, 3, generator=g, dtype=torch.float64),
        torch.randn(40, 2, dtype=torch.float64),
    )
    args = (x[:8], torch.tensor([0.5, 1.0, 2.0]), torch.tensor(1.3), torch.tensor(0.1))
    args = tuple(a.to(torch.float64) for a in args)
    on_cpu = negative_bound(x, y, *args)
    on_cuda = negative_bound(x.cuda(), y.cuda(), *(a.cuda() for a in args))
    assert float(on_cuda) == pytest.approx(float(on_cpu), rel=1e-9)


@pytest.mark.parametrize("prop", ["E", "DS", "MM"])
def test_gp_replan_on_cuda_never_synchronises_and_captures(prop: str) -> None:
    from pets.run.experiment import build_controller

    overrides = [("ctrl_cfg.opt_cfg.cfg.popsize", "64"), ("ctrl_cfg.opt_cfg.cfg.num_elites", "8")]
    if prop != "E":
        overrides.append(("ctrl_cfg.prop_cfg.npart", "8"))
    cfg = build_config(
        "cartpole", [("model-type", "GP"), ("prop-type", prop)], overrides, device="cuda"
    )
    task = make_task("cartpole", device="cuda")
    gp = _fitted("cuda")
    env = make_env("cartpole")
    obs, _ = env.reset(seed=0)
    mpc = build_controller(cfg, task, gp, torch.Generator(device="cuda").manual_seed(0))
    mpc.reset(env)
    mpc.load_observation(obs)
    mpc.replan()  # lazy CUDA initialisation may synchronise
    replan_without_host_sync(mpc)
    replay = capture_replan(mpc)
    plan = replay().cpu().numpy()
    assert np.isfinite(plan).all() and np.abs(plan).max() <= 3.0  # cartpole's action bound
    env.close()
