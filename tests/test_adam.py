"""`pets.models.Adam` against the oracle `torch.optim.Adam`: same updates bit for bit, state."""

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
