"""`pets.models.Adam` against the oracles `torch.optim.Adam` (bit for bit) and Adam in float64."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from pets.errors import ConfigError
from pets.models import Adam

SHAPES = [(5, 7, 11), (5, 1, 11), (1, 3), (5, 11, 6)]  # ensemble weight, bias, logvar bound, ...
LR, BETAS, EPS = 1e-3, (0.9, 0.999), 1e-8


def make_params(seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=gen).requires_grad_() for s in SHAPES]


def set_grads(params: list[torch.Tensor], step: int) -> None:
    """Fresh pseudo-random gradients; parameter 2 gets none on every third step."""
    gen = torch.Generator().manual_seed(1000 + step)
    for i, p in enumerate(params):
        p.grad = None if (i == 2 and step % 3 == 0) else torch.randn(p.shape, generator=gen)


def run(opt: object, params: list[torch.Tensor], steps: range) -> None:
    for step in steps:
        set_grads(params, step)
        opt.step()  # type: ignore[attr-defined]


def test_updates_equal_torch_adam_bit_for_bit() -> None:
    ours, theirs = make_params(), make_params()
    run(Adam(ours, lr=LR, betas=BETAS, eps=EPS), ours, range(25))
    run(torch.optim.Adam(theirs, lr=LR, betas=BETAS, eps=EPS), theirs, range(25))
    for a, b in zip(ours, theirs, strict=True):
        assert torch.equal(a, b)


def adam_l2_reference(
    p: torch.Tensor, grads: list[torch.Tensor], decays: list[float]
) -> torch.Tensor:
    """Adam (Kingma & Ba 2015, Algorithm 1) on g + λ·p, written out step by step in float64."""
    p, m, v = p.clone(), torch.zeros_like(p), torch.zeros_like(p)
    (b1, b2), lr, eps = BETAS, LR, EPS
    for t, (g, lam) in enumerate(zip(grads, decays, strict=True), start=1):
        g = g + lam * p  # the gradient of λ·½·‖p‖²
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr / (1 - b1**t) * m / (v.sqrt() / (1 - b2**t) ** 0.5 + eps)
    return p


def test_fused_step_with_decay_follows_each_calls_decays() -> None:
    # The fused kernel's argument lists are cached while the gradient tensors stay the same
    # objects (as FusedStep writes them in place); a change of λ between calls must still apply.
    gen = torch.Generator().manual_seed(3)
    start = torch.randn(4, 6, generator=gen, dtype=torch.float64)
    grads = [torch.randn(4, 6, generator=gen, dtype=torch.float64) for _ in range(5)]
    decays = [0.0, 0.5, 0.5, 0.0, 2.0]
    p = start.clone().requires_grad_()
    p.grad = torch.zeros_like(p)
    opt = Adam([p], lr=LR, betas=BETAS, eps=EPS, fused=True)
    for g, lam in zip(grads, decays, strict=True):
        p.grad.copy_(g)  # in place: the same gradient object every step
        if lam == 0.0:
            opt.step()
        else:
            opt.step_with_decay([lam])
    expected = adam_l2_reference(start, grads, decays)
    torch.testing.assert_close(p.detach(), expected, rtol=1e-12, atol=1e-12)


def test_capturable_updates_equal_torch_fused_adam_bit_for_bit() -> None:
    # The capturable step is the CUDA path's code (device step counts, one multi-tensor add,
    # torch's fused kernel); on the CPU the same calls run torch's CPU kernels, so it must equal
    # torch.optim.Adam(fused=True) exactly, including the parameter that skips every third step
    # (its step count must not advance then).
    ours, theirs = make_params(), make_params()
    opt = Adam(ours, lr=LR, betas=BETAS, eps=EPS, capturable=True)
    run(opt, ours, range(25))
    run(torch.optim.Adam(theirs, lr=LR, betas=BETAS, eps=EPS, fused=True), theirs, range(25))
    for a, b in zip(ours, theirs, strict=True):
        assert torch.equal(a, b)
    assert [float(c) for c in opt.step_counts] == [25.0, 25.0, 16.0, 25.0]  # 9 of 25 skipped


def test_capturable_step_follows_the_float64_formula() -> None:
    # Independent of torch's optimisers: Adam written out in float64 (no decay).
    gen = torch.Generator().manual_seed(4)
    start = torch.randn(3, 5, generator=gen, dtype=torch.float64)
    grads = [torch.randn(3, 5, generator=gen, dtype=torch.float64) for _ in range(7)]
    p = start.clone().requires_grad_()
    opt = Adam([p], lr=LR, betas=BETAS, eps=EPS, capturable=True)
    for g in grads:
        p.grad = g.clone()
        opt.step()
    expected = adam_l2_reference(start, grads, [0.0] * len(grads))
    torch.testing.assert_close(p.detach(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("direction", ["torch-to-ours", "ours-to-torch"])
def test_state_dict_moves_between_torch_adam_and_ours(direction: str) -> None:
    """Resume halfway with the other implementation: same parameters as never stopping."""
    reference = make_params()
    run(torch.optim.Adam(reference, lr=LR, betas=BETAS, eps=EPS), reference, range(12))

    params = make_params()
    torch_opt = torch.optim.Adam(params, lr=LR, betas=BETAS, eps=EPS)
    our_opt = Adam(params, lr=LR, betas=BETAS, eps=EPS)
    first, second = (torch_opt, our_opt) if direction == "torch-to-ours" else (our_opt, torch_opt)
    run(first, params, range(6))
    second.load_state_dict(first.state_dict())
    run(second, params, range(6, 12))
    for a, b in zip(params, reference, strict=True):
        assert torch.equal(a, b)


def test_state_of_another_model_is_refused() -> None:
    params = make_params()
    state = Adam(params[:2], lr=LR).state_dict()
    with pytest.raises(ConfigError, match="one group of 4"):
        Adam(params, lr=LR).load_state_dict(state)


def test_a_run_never_imports_torch_dynamo(tmp_path: object) -> None:
    """Start-up: a whole tiny `pets mbexp` (train, plan, save) without torch._dynamo's ~2 s."""
    code = f"""
import sys
from pets.cli import main
args = ["mbexp", "-env", "cartpole", "-device", "cpu", "-threads", "1", "-outdir", r"{tmp_path}"]
for path, value in [("exp_cfg.sim_cfg.task_hor", "5"), ("exp_cfg.exp_cfg.ntrain_iters", "1"),
                    ("ctrl_cfg.opt_cfg.plan_hor", "2"), ("ctrl_cfg.opt_cfg.cfg.popsize", "8"),
                    ("ctrl_cfg.opt_cfg.cfg.num_elites", "2"), ("ctrl_cfg.prop_cfg.npart", "5")]:
    args += ["-o", path, value]
assert main(args) == 0
print("dynamo imported:", "torch._dynamo" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "dynamo imported: False" in out.stdout, out.stdout + out.stderr
