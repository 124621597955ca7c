"""The hand-written CPU training step (`pets.models.fused_step`) against autograd and torch's Adam.

Oracles: autograd's gradient of `model_loss` (float64, so any wrong term shows far above
rounding), `torch.optim.Adam(fused=True)` with one parameter group per weight decay (the update
bit for bit), and whole `fit` calls through autograd steps (the same training, float64).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from pets.models import Ensemble, fit, make_optimizer, model_loss
from pets.models.adam import Adam
from pets.models.fused_step import FusedStep, row_scale

DECAYS = [1e-3, 2e-3, 5e-3, 1e-2]  # distinct per layer, so a decay on the wrong weight shows


def make_model(probabilistic: bool, ensemble_size: int) -> Ensemble:
    torch.manual_seed(0)
    model = Ensemble(
        5, 3, ensemble_size=ensemble_size, hidden_layers=3, hidden_width=16,
        weight_decays=DECAYS, probabilistic=probabilistic,
    ).double()  # fmt: skip
    if probabilistic:  # bounds away from their initial values, so each softplus matters
        with torch.no_grad():
            model.max_logvar.uniform_(-1.0, 1.0)
            model.min_logvar.uniform_(-6.0, -4.0)
    return model


def fused_gradients(
    model: Ensemble, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor, weights: torch.Tensor
) -> tuple[float, list[torch.Tensor]]:
    """The step's loss and the gradients it hands to Adam, decay added (`p.grad + λ·p`)."""
    optimizer = Adam(model.parameters(), lr=1e-3, fused=True)
    handed: list[torch.Tensor] = []

    def capture(decays: list[float]) -> None:
        pairs = zip(model.parameters(), decays, strict=True)
        handed.extend(p.grad + lam * p.detach() for p, lam in pairs)

    optimizer.step_with_decay = capture  # type: ignore[method-assign]
    step = FusedStep(model, optimizer, idx.shape[1])
    loss = step(model.scaler(x), y, idx, row_scale(weights, model.out_dim))
    return float(loss), handed


@pytest.mark.parametrize("ensemble_size", [1, 3])
@pytest.mark.parametrize("probabilistic", [True, False], ids=["P", "D"])
def test_gradients_equal_autograd(probabilistic: bool, ensemble_size: int) -> None:
    model = make_model(probabilistic, ensemble_size)
    gen = torch.Generator().manual_seed(1)
    x = 3.0 * torch.randn(60, 5, generator=gen, dtype=torch.float64)
    y = torch.randn(60, 3, generator=gen, dtype=torch.float64)
    model.scaler.fit(x)
    idx = torch.randint(60, (ensemble_size, 8), generator=gen)
    weights = torch.tensor([1.0] * 5 + [0.0] * 3, dtype=torch.float64)  # a padded minibatch
    reference = copy.deepcopy(model)
    expected = model_loss(reference, x[idx], y[idx], weights)
    expected.backward()
    expected = expected.detach()
    loss, grads = fused_gradients(model, x, y, idx, weights)
    assert loss == pytest.approx(float(expected), rel=1e-12)
    names = [name for name, _ in model.named_parameters()]
    for name, got, p in zip(names, grads, reference.parameters(), strict=True):
        assert p.grad is not None
        torch.testing.assert_close(got, p.grad, rtol=1e-10, atol=1e-13, msg=name)


def test_gradients_equal_autograd_where_softplus_saturates() -> None:
    """Raw log-variances far outside the bounds take softplus beyond its threshold of 20."""
    model = make_model(True, 2)
    with torch.no_grad():
        model.layers[-1].bias[..., 3:] = torch.tensor([40.0, -40.0, 0.0], dtype=torch.float64)
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(30, 5, generator=gen, dtype=torch.float64)
    y = torch.randn(30, 3, generator=gen, dtype=torch.float64)
    model.scaler.fit(x)
    idx = torch.randint(30, (2, 6), generator=gen)
    weights = torch.ones(6, dtype=torch.float64)
    reference = copy.deepcopy(model)
    model_loss(reference, x[idx], y[idx], weights).backward()
    _, grads = fused_gradients(model, x, y, idx, weights)
    for got, p in zip(grads, reference.parameters(), strict=True):
        assert p.grad is not None
        torch.testing.assert_close(got, p.grad, rtol=1e-10, atol=1e-13)


def test_fused_adam_with_decay_is_torch_fused_adam_bit_for_bit() -> None:
    """Our `step_with_decay` = `torch.optim.Adam(fused=True)` with a parameter group per λ."""
    gen = torch.Generator().manual_seed(3)
    shapes = [(3, 4, 5), (3, 1, 5), (3, 5, 2), (1, 2)]
    decays = [1e-3, 0.0, 5e-4, 0.0]
    ours = [torch.randn(s, generator=gen).requires_grad_() for s in shapes]
    theirs = [p.detach().clone().requires_grad_() for p in ours]
    adam = Adam(ours, lr=3e-3, fused=True)
    groups = [{"params": [p], "weight_decay": lam} for p, lam in zip(theirs, decays, strict=True)]
    reference = torch.optim.Adam(groups, lr=3e-3, betas=(0.9, 0.999), eps=1e-8, fused=True)
    for _ in range(5):
        grads = [torch.randn(s, generator=gen) for s in shapes]
        for p, q, g in zip(ours, theirs, grads, strict=True):
            p.grad, q.grad = g.clone(), g.clone()
        adam.step_with_decay(decays)
        reference.step()
    for p, q in zip(ours, theirs, strict=True):
        assert torch.equal(p.detach(), q.detach())
    state = adam.state_dict()["state"][0]
    assert torch.equal(state["exp_avg_sq"], reference.state[theirs[0]]["exp_avg_sq"])
    assert float(state["step"]) == 5.0


@pytest.mark.parametrize("probabilistic", [True, False], ids=["PE", "DE"])
def test_fit_through_the_fused_step_trains_as_autograd_does(probabilistic: bool) -> None:
    """Whole `fit` calls, padded last minibatch included: the same weights as autograd steps."""
    fused_model = make_model(probabilistic, 3)
    autograd_model = copy.deepcopy(fused_model)
    gen = np.random.default_rng(4)
    x, y = gen.normal(size=(70, 5)), gen.normal(size=(70, 3))  # 70 rows: 3 batches, 26 padded
    settings = {"epochs": 3, "batch_size": 32}
    fused_adam = make_optimizer(fused_model, 1e-2)
    assert fused_adam.fused
    plain_adam = Adam(autograd_model.parameters(), lr=1e-2)  # unfused: autograd steps
    for call in range(2):  # warm start: weights and Adam state carry over
        a = fit(fused_model, fused_adam, x, y, generator=torch.Generator().manual_seed(call),
                **settings)  # fmt: skip
        b = fit(autograd_model, plain_adam, x, y, generator=torch.Generator().manual_seed(call),
                **settings)  # fmt: skip
        assert a.epoch_losses == pytest.approx(b.epoch_losses, rel=1e-9)
    for p, q in zip(fused_model.parameters(), autograd_model.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-8, atol=1e-10)
