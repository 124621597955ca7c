"""Tests of `pets.models` against independent oracles (spec formulas, numpy references, statistics).

References: `docs/spec/pets-facts.md` §4.1–§4.2 (sizes), §5.1–§5.6 (layers, scaler, loss, training).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import pytest
import reference_models as ref
import torch
from torch.testing import assert_close

from pets.errors import ConfigError
from pets.models import (
    Ensemble,
    fit,
    load_model,
    make_optimizer,
    model_loss,
    predict_aggregated,
    save_model,
)
from pets.models.adam import Adam
from pets.models.fused_step import FusedStep

# docs/spec/pets-facts.md §4.1 (MODEL_IN / MODEL_OUT) and §4.2 (layers, width, params per BNN net).
SPEC_ARCHITECTURES = {
    "cartpole": (6, 4, 3, 500, 508_508),
    "reacher": (24, 17, 4, 200, 132_434),
    "pusher": (27, 20, 3, 200, 94_040),
    "halfcheetah": (24, 18, 4, 200, 132_836),
}


@pytest.fixture(autouse=True)
def single_thread() -> Iterator[None]:
    """Run these tiny models on one thread: on a shared, busy 2-core machine two intra-op
    threads spin against each other and make each step about 5x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_model(
    in_dim: int = 3,
    out_dim: int = 2,
    *,
    ensemble_size: int = 3,
    hidden_layers: int = 2,
    hidden_width: int = 16,
    decays: tuple[float, ...] | None = None,
    probabilistic: bool = True,
    seed: int = 0,
) -> Ensemble:
    if decays is None:
        decays = tuple(1e-3 * (i + 1) for i in range(hidden_layers + 1))
    return Ensemble(
        in_dim,
        out_dim,
        ensemble_size=ensemble_size,
        hidden_layers=hidden_layers,
        hidden_width=hidden_width,
        weight_decays=decays,
        probabilistic=probabilistic,
        generator=torch.Generator().manual_seed(seed),
    )


def randomise_non_weights(model: Ensemble, gen: torch.Generator) -> None:
    """Give scaler, biases and bounds non-default values so the reference checks every term."""
    with torch.no_grad():
        model.scaler.mu.copy_(torch.randn(model.scaler.mu.shape, generator=gen))
        model.scaler.sigma.copy_(torch.rand(model.scaler.sigma.shape, generator=gen) + 0.5)
        for layer in model.layers:
            layer.bias.copy_(0.1 * torch.randn(layer.bias.shape, generator=gen))
        if model.max_logvar is not None and model.min_logvar is not None:
            model.max_logvar.copy_(torch.rand(model.max_logvar.shape, generator=gen))
            model.min_logvar.copy_(-10.0 + torch.rand(model.min_logvar.shape, generator=gen))


def all_equal(first: Iterable[torch.Tensor], second: Iterable[torch.Tensor]) -> bool:
    """True if the two sequences hold bitwise-equal tensors, pairwise."""
    return all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


def record_training_inputs(model: Ensemble) -> list[torch.Tensor]:
    """Record the raw [E, B, d_in] input of every forward run with gradients (training steps).

    Only autograd steps run the scaler per minibatch: train with `autograd_adam`. `fit`'s row
    bookkeeping is the same for both steps; the hand-written CPU step's own gather is checked
    against autograd in `tests/test_fused_step.py`.
    """
    seen: list[torch.Tensor] = []

    def hook(module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        if torch.is_grad_enabled():
            seen.append(args[0].detach().clone())

    model.scaler.register_forward_pre_hook(hook)
    return seen


def autograd_adam(model: Ensemble, lr: float = 1e-3) -> Adam:
    """A plain (unfused) Adam, which `fit` pairs with autograd steps (`train_step`)."""
    return Adam(model.parameters(), lr=lr)


# --- architecture and initialisation -------------------------------------------------------------


@pytest.mark.parametrize("env", list(SPEC_ARCHITECTURES), ids=list(SPEC_ARCHITECTURES))
def test_ensemble_parameter_count_matches_spec(env: str) -> None:
    d_in, d_out, layers, width, per_net = SPEC_ARCHITECTURES[env]
    decays = [1e-4] * (layers + 1)
    # Formula check of the spec's numbers: (d_in+1)·w + (layers−1)·(w+1)·w + (w+1)·2·d_out.
    assert (d_in + 1) * width + (layers - 1) * (width + 1) * width + (
        width + 1
    ) * 2 * d_out == per_net
    for e in (1, 5):
        model = Ensemble(
            d_in, d_out, ensemble_size=e, hidden_layers=layers, hidden_width=width,
            weight_decays=decays, probabilistic=True,
        )  # fmt: skip
        in_layers = sum(p.numel() for layer in model.layers for p in layer.parameters())
        assert in_layers == e * per_net
        # + the shared bounds, [1, d_out] each, not per member
        assert sum(p.numel() for p in model.parameters()) == e * per_net + 2 * d_out


def test_init_is_truncated_normal_with_original_sigma() -> None:
    model = make_model(in_dim=400, out_dim=2, ensemble_size=2, hidden_layers=1, hidden_width=500)
    w = model.layers[0].weight.detach().double()
    sigma = 1 / (2 * math.sqrt(400))
    assert float(w.abs().max()) <= 2 * sigma
    # A unit normal truncated at ±2 has std √(1 − 4φ(2)/(Φ(2) − Φ(−2))) = 0.87963; with 400k
    # draws the sample std has a relative standard error of about 0.1 %, we allow 1 %.
    phi2 = math.exp(-2) / math.sqrt(2 * math.pi)
    trunc_std = math.sqrt(1 - 4 * phi2 / math.erf(2 / math.sqrt(2)))
    assert float(w.std()) == pytest.approx(sigma * trunc_std, rel=0.01)
    assert float(w.mean()) == pytest.approx(0.0, abs=0.01 * sigma)
    for layer in model.layers:
        assert torch.count_nonzero(layer.bias) == 0


def test_ensemble_rejects_bad_architecture() -> None:
    with pytest.raises(ConfigError, match="weight_decays needs hidden_layers \\+ 1 = 3"):
        make_model(hidden_layers=2, decays=(1e-4, 1e-4))
    with pytest.raises(ConfigError, match="hidden_width must be a positive integer, got 0"):
        make_model(hidden_width=0)
    with pytest.raises(ConfigError, match="ensemble_size"):
        make_model(ensemble_size=0)


# --- forward, bounds, loss -----------------------------------------------------------------------


@pytest.mark.parametrize("probabilistic", [True, False], ids=["P", "D"])
def test_forward_matches_numpy_reference(probabilistic: bool) -> None:
    gen = torch.Generator().manual_seed(3)
    model = make_model(probabilistic=probabilistic).double()
    randomise_non_weights(model, gen)
    x = 3 * torch.randn(3, 7, 3, generator=gen, dtype=torch.float64)
    mean, var = model(x)
    ref_mean, ref_logvar = ref.forward(ref.net_from_model(model), x.numpy())
    assert_close(mean, torch.from_numpy(ref_mean), rtol=1e-12, atol=1e-12)
    if probabilistic:
        assert var is not None and ref_logvar is not None
        assert_close(var, torch.from_numpy(np.exp(ref_logvar)), rtol=1e-12, atol=1e-12)
    else:
        assert var is None


def test_logvar_stays_inside_bounds_shared_by_members() -> None:
    model = make_model(ensemble_size=4).double()
    assert model.max_logvar is not None and model.min_logvar is not None
    assert model.max_logvar.shape == (1, 2) and model.min_logvar.shape == (1, 2)
    assert torch.all(model.max_logvar == 0.5) and torch.all(model.min_logvar == -10.0)
    with torch.no_grad():  # huge output weights drive the raw log-variance to about ±1e4
        model.layers[-1].weight.mul_(1e4)
        x = 10 * torch.randn(4, 50, 3, generator=torch.Generator().manual_seed(0)).double()
        _, logvar = model.mean_and_logvar(x)
    assert logvar is not None
    # The bounds are soft (§5.3): since softplus(z) = z + log1p(e^−z), the largest value
    # is max + log1p(e^(min − max)) = 0.5 + 2.75e−5, the smallest exactly min.
    upper = 0.5 + math.log1p(math.exp(-10.5))
    assert float(logvar.max()) == pytest.approx(upper, abs=1e-12)
    assert float(logvar.min()) == pytest.approx(-10.0, abs=1e-12)


@pytest.mark.parametrize("probabilistic", [True, False], ids=["PE", "DE"])
def test_loss_matches_float64_reference(probabilistic: bool) -> None:
    gen = torch.Generator().manual_seed(5)
    model = make_model(ensemble_size=3, probabilistic=probabilistic).double()
    randomise_non_weights(model, gen)
    x = torch.randn(3, 9, 3, generator=gen, dtype=torch.float64)
    y = torch.randn(3, 9, 2, generator=gen, dtype=torch.float64)
    expected = ref.loss(ref.net_from_model(model), x.numpy(), y.numpy())
    assert float(model_loss(model, x, y).detach()) == pytest.approx(expected, rel=1e-12)
    # Padded minibatch: 4 garbage rows with weight 0 leave the mean over the 5 real rows.
    real = 5
    weights = (torch.arange(9) < real).double()
    x_pad, y_pad = x.clone(), y.clone()
    x_pad[:, real:] = 1e3
    y_pad[:, real:] = -1e3
    expected_real = ref.loss(ref.net_from_model(model), x[:, :real].numpy(), y[:, :real].numpy())
    got = float(model_loss(model, x_pad, y_pad, weights).detach())
    assert got == pytest.approx(expected_real, rel=1e-12)


def test_float32_loss_close_to_float64_reference() -> None:
    gen = torch.Generator().manual_seed(6)
    model = make_model(ensemble_size=2)
    randomise_non_weights(model, gen)
    x, y = torch.randn(2, 32, 3, generator=gen), torch.randn(2, 32, 2, generator=gen)
    expected = ref.loss(ref.net_from_model(model), x.double().numpy(), y.double().numpy())
    assert float(model_loss(model, x, y).detach()) == pytest.approx(expected, rel=1e-5)


def test_forward_rejects_wrong_shape() -> None:
    model = make_model(ensemble_size=3)
    with pytest.raises(ConfigError, match=r"shape \[E=3, B, d_in=3\], got \(2, 5, 3\)"):
        model(torch.zeros(2, 5, 3))
    with pytest.raises(ConfigError, match=r"\[B, d_in=3\], got \(5, 4\)"):
        predict_aggregated(model, torch.zeros(5, 4))


# --- aggregated prediction -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("probabilistic", "ensemble_size"),
    [(True, 4), (True, 1), (False, 4), (False, 1)],
    ids=["PE", "P", "DE", "D"],
)
def test_predict_aggregated_moments(probabilistic: bool, ensemble_size: int) -> None:
    gen = torch.Generator().manual_seed(7)
    model = make_model(ensemble_size=ensemble_size, probabilistic=probabilistic).double()
    randomise_non_weights(model, gen)
    x = torch.randn(11, 3, generator=gen, dtype=torch.float64)
    mean, var = predict_aggregated(model, x)
    tiled = np.broadcast_to(x.numpy(), (ensemble_size, 11, 3))
    means, logvars = ref.forward(ref.net_from_model(model), tiled)
    expected_var = np.var(means, axis=0)  # ddof 0: (1/E)·Σ (μ_e − mean)²
    if probabilistic:
        assert logvars is not None
        expected_var = expected_var + np.exp(logvars).mean(axis=0)
    elif ensemble_size == 1:
        assert torch.count_nonzero(var) == 0
    assert_close(mean, torch.from_numpy(means.mean(axis=0)), rtol=1e-12, atol=1e-12)
    assert_close(var, torch.from_numpy(expected_var), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("ensemble_size", [1, 4], ids=["D", "DE"])
def test_deterministic_models_have_no_variance_state(ensemble_size: int) -> None:
    model = make_model(ensemble_size=ensemble_size, probabilistic=False)
    assert model(torch.zeros(ensemble_size, 2, 3))[1] is None
    assert not any("logvar" in key for key in model.state_dict())
    assert model.layers[-1].weight.shape[-1] == 2  # no variance head


# --- training ------------------------------------------------------------------------------------


def test_pe_recovers_heteroscedastic_toy_problem() -> None:
    """y = sin(x) + N(0, σ(x)²), σ(x) = 0.1 + 0.05x², x ~ U(−3, 3), N = 2000 (a smooth σ, so
    the network can represent it).

    Tolerances: a smoother of width ≈ 0.3 sees ≈ 100 points, so the sampling error of the mean
    is ≈ σ/10 ≤ 0.04 and of the std ≈ 7 %; we allow 0.1 absolute on the mean and 20 % on the
    std over |x| ≤ 2.5 (the edge half-unit is excluded: fewer points, one-sided). Outside the
    data (|x| = 6, 8) members disagree: their variance must exceed 10× the largest inside.
    """
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(2000, 1, generator=gen) * 6 - 3
    noise_std = 0.1 + 0.05 * x**2
    y = torch.sin(x) + noise_std * torch.randn(2000, 1, generator=gen)
    model = make_model(1, 1, ensemble_size=5, hidden_layers=2, hidden_width=50, decays=(0, 0, 0))
    report = fit(model, make_optimizer(model, 3e-3), x, y, epochs=25, batch_size=64, generator=gen)
    assert report.epoch_losses[-1] < report.epoch_losses[0]

    grid = torch.linspace(-2.5, 2.5, 51).unsqueeze(1)
    with torch.no_grad():
        means, variances = model(grid.expand(5, -1, -1))
        assert variances is not None
        mean, total_var = predict_aggregated(model, grid)
    aleatoric_std = variances.mean(dim=0).sqrt()
    true_std = 0.1 + 0.05 * grid**2
    assert float((mean - torch.sin(grid)).abs().max()) < 0.1
    ratio = aleatoric_std / true_std
    assert float(ratio.min()) > 0.8 and float(ratio.max()) < 1.2
    assert_close(total_var.sqrt(), true_std, rtol=0.2, atol=0.0)

    epistemic_inside = float(means.var(dim=0, unbiased=False).max())
    far = torch.tensor([[-8.0], [-6.0], [6.0], [8.0]])
    with torch.no_grad():
        far_means, _ = model(far.expand(5, -1, -1))
    epistemic_far = far_means.var(dim=0, unbiased=False)
    assert float(epistemic_far.min()) > 10 * epistemic_inside


def identity_coded_fit(
    num_rows: int, *, ensemble_size: int, epochs: int, batch_size: int = 32, seed: int = 0
) -> tuple[list[np.ndarray], Ensemble]:
    """Fit on inputs x_i = i and return, per epoch, the [E, padded] row ids each member saw."""
    model = make_model(1, 1, ensemble_size=ensemble_size, hidden_layers=1, hidden_width=4)
    seen = record_training_inputs(model)
    rows = torch.arange(num_rows, dtype=torch.float32).unsqueeze(1)
    gen = torch.Generator().manual_seed(seed)
    fit(model, autograd_adam(model), rows, torch.zeros(num_rows, 1), epochs=epochs,
        batch_size=batch_size, generator=gen)  # fmt: skip
    steps = math.ceil(num_rows / batch_size)
    assert len(seen) == epochs * steps and all(s.shape[1] == batch_size for s in seen)
    ids = [torch.cat(seen[i * steps : (i + 1) * steps], dim=1)[..., 0] for i in range(epochs)]
    return [t.long().numpy() for t in ids], model


def test_fit_bootstraps_each_member_and_reshuffles_each_epoch() -> None:
    n, members = 400, 4  # 13 minibatches of 32: 416 columns, the last 16 are padding
    epochs_ids, _ = identity_coded_fit(n, ensemble_size=members, epochs=3)
    sample = np.sort(epochs_ids[0][:, :n], axis=1)  # each member's bootstrap multiset
    for ids in epochs_ids:
        real, pad = ids[:, :n], ids[:, n:]
        # The multiset is fixed within the call; only the order changes between epochs.
        np.testing.assert_array_equal(np.sort(real, axis=1), sample)
        for e in range(members):
            assert set(pad[e]) <= set(sample[e])  # padding (weight 0) also from its own sample
    for e in range(members):
        assert not np.array_equal(epochs_ids[0][e], epochs_ids[1][e])
        assert not np.array_equal(epochs_ids[1][e], epochs_ids[2][e])
        # Drawn with replacement: a fraction 1 − (1 − 1/n)^n ≈ 0.633 of the rows are distinct
        # (std ≈ 0.016 at n = 400); we allow ±0.08.
        assert len(set(sample[e])) / n == pytest.approx(1 - (1 - 1 / n) ** n, abs=0.08)
    assert all(not np.array_equal(sample[0], sample[e]) for e in range(1, members))


def test_fit_bootstraps_a_single_network_and_redraws_per_call() -> None:
    first, model = identity_coded_fit(200, ensemble_size=1, epochs=1, seed=0)
    assert len(set(first[0][0, :200])) < 170  # ≈ 127 distinct: a resample, not a permutation
    seen = record_training_inputs(model)
    rows = torch.arange(200, dtype=torch.float32).unsqueeze(1)
    fit(model, autograd_adam(model), rows, torch.zeros(200, 1), epochs=1, batch_size=32,
        generator=torch.Generator().manual_seed(1))  # fmt: skip
    second = torch.cat(seen, dim=1)[0, :200, 0].long().numpy()
    assert not np.array_equal(np.sort(second), np.sort(first[0][0, :200]))


@pytest.mark.parametrize("path", ["fused", "autograd"])
def test_fit_epoch_losses_equal_reference_on_real_rows(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """50 rows in minibatches of 16: the 4th step of each epoch has 2 real rows and 14 padding
    rows. Each step's loss, recomputed by the float64 reference from the weights before that
    step on its real rows only, averages to the reported epoch loss — for the hand-written CPU
    step (`FusedStep`) and for autograd's."""
    n, batch = 50, 16
    model = make_model(1, 2, ensemble_size=2, hidden_layers=1, hidden_width=8).double()
    steps: list[tuple[np.ndarray, ref.NumpyNet]] = []
    rows = np.arange(n, dtype=np.float64)[:, None]  # identity-coded: input i ↔ target f(i)
    targets = np.column_stack([np.sin(rows[:, 0]), np.cos(rows[:, 0])])
    if path == "autograd":

        def snapshot(module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            if torch.is_grad_enabled():
                steps.append((args[0].numpy().copy(), ref.net_from_model(model)))

        model.scaler.register_forward_pre_hook(snapshot)
        optimizer = autograd_adam(model, 1e-2)
    else:
        fused_call = FusedStep.__call__

        def recording(step: FusedStep, *args: torch.Tensor) -> torch.Tensor:
            steps.append((rows[args[2].numpy()], ref.net_from_model(model)))  # raw [E, B, 1]
            return fused_call(step, *args)

        monkeypatch.setattr(FusedStep, "__call__", recording)
        optimizer = make_optimizer(model, 1e-2)
    report = fit(model, optimizer, rows, targets, epochs=2, batch_size=batch,
                 generator=torch.Generator().manual_seed(0))  # fmt: skip
    assert len(steps) == 8
    expected = []
    for epoch in range(2):
        losses = []
        for b in range(4):
            x, net = steps[4 * epoch + b]
            real = min(batch, n - b * batch)
            ids = x[:, :real, 0].astype(int)  # [E, real]
            y = np.stack([targets[ids[e]] for e in range(2)])
            losses.append(ref.loss(net, x[:, :real], y))
        expected.append(np.mean(losses))
    assert report.epoch_losses == pytest.approx(expected, rel=1e-10)


def test_fit_refits_scaler_with_numpy_statistics() -> None:
    gen = np.random.default_rng(0)
    data = np.column_stack(
        [
            gen.normal(5.0, 3.0, 300),
            gen.uniform(-100, 100, 300),
            np.full(300, 7.0),  # constant: std 0 → 1
            5.0 + 1e-14 * gen.normal(size=300),  # std ≈ 1e−14 < 1e−12 → 1
        ]
    )
    model = make_model(4, 1, ensemble_size=2).double()
    fit(model, make_optimizer(model, 1e-3), data, np.zeros((300, 1)), epochs=0, batch_size=32,
        generator=torch.Generator())  # fmt: skip
    expected_sigma = data.std(axis=0, ddof=0)
    expected_sigma[2:] = 1.0
    np.testing.assert_allclose(model.scaler.mu.numpy()[0], data.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(model.scaler.sigma.numpy()[0], expected_sigma, rtol=1e-13)
    assert "scaler.mu" in model.state_dict() and "scaler.sigma" in model.state_dict()


@pytest.mark.parametrize(
    ("ratio", "max_logging", "num_holdout"), [(0.25, 5000, 50), (0.5, 30, 30)], ids=["ratio", "cap"]
)
def test_fit_holdout_rows_are_never_trained_on(
    ratio: float, max_logging: int, num_holdout: int
) -> None:
    # 20 members: a training row escapes all 20 bootstraps with probability ≈ e^−20, so the
    # union of rows seen is the whole training split.
    n = 200
    model = make_model(1, 1, ensemble_size=20, hidden_layers=1, hidden_width=4).double()
    seen = record_training_inputs(model)
    rows = np.arange(n, dtype=np.float64)[:, None] ** 1.5  # distinct, non-uniform ids
    report = fit(model, autograd_adam(model), rows, np.zeros((n, 1)), epochs=1,
                 batch_size=50, generator=torch.Generator().manual_seed(0),
                 holdout_ratio=ratio, max_logging=max_logging)  # fmt: skip
    train_rows = np.unique(torch.cat(seen, dim=1).numpy())
    assert len(train_rows) == n - num_holdout
    np.testing.assert_allclose(model.scaler.mu.item(), train_rows.mean(), rtol=1e-12)
    np.testing.assert_allclose(model.scaler.sigma.item(), train_rows.std(ddof=0), rtol=1e-12)
    assert report.holdout_mse is not None and report.holdout_mse >= 0
    assert report.steps == math.ceil((n - num_holdout) / 50)


def test_fit_warm_starts_weights_and_adam_state() -> None:
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(100, 3, generator=gen), torch.randn(100, 2, generator=gen)
    model = make_model()
    optimizer = make_optimizer(model, 1e-3)
    first = fit(model, optimizer, x, y, epochs=2, batch_size=32, generator=gen)
    params_after = [p.detach().clone() for p in model.parameters()]
    adam_after = copy.deepcopy(optimizer.state_dict()["state"])
    checked: list[bool] = []

    def compare_at_first_step(module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        if torch.is_grad_enabled() and not checked:
            same = all_equal(params_after, model.parameters())
            state = optimizer.state_dict()["state"]
            same_adam = all(
                torch.equal(adam_after[k][name], state[k][name])
                for k in adam_after
                for name in ("exp_avg", "exp_avg_sq", "step")
            )
            checked.append(same and same_adam)

    model.scaler.register_forward_pre_hook(compare_at_first_step)
    second = fit(model, optimizer, x, y, epochs=1, batch_size=32, generator=gen)
    assert checked == [True]
    assert first.steps == 8 and second.steps == 4
    steps = {float(s["step"]) for s in optimizer.state_dict()["state"].values()}
    assert steps == {12.0}


def test_fit_is_deterministic_under_a_seed() -> None:
    def run(seed: int) -> tuple[list[torch.Tensor], list[float]]:
        data = torch.Generator().manual_seed(9)
        x, y = torch.randn(90, 3, generator=data), torch.randn(90, 2, generator=data)
        model = make_model(seed=4)
        report = fit(model, make_optimizer(model, 1e-3), x, y, epochs=2, batch_size=32,
                     generator=torch.Generator().manual_seed(seed), holdout_ratio=0.1)  # fmt: skip
        return [p.detach().clone() for p in model.parameters()], [
            *report.epoch_losses,
            report.train_mse,
            report.holdout_mse or 0.0,
        ]

    params_a, losses_a = run(1)
    params_b, losses_b = run(1)
    params_c, _ = run(2)
    assert losses_a == losses_b
    assert all_equal(params_a, params_b)
    assert not all_equal(params_a, params_c)


def test_fit_report_counts_epochs_and_steps() -> None:
    gen = torch.Generator().manual_seed(0)
    model = make_model(probabilistic=False)
    before = [p.detach().clone() for p in model.parameters()]
    x, y = torch.randn(70, 3, generator=gen), torch.randn(70, 2, generator=gen)
    idle = fit(model, make_optimizer(model, 1e-3), x, y, epochs=0, batch_size=32, generator=gen)
    assert idle.steps == 0 and idle.epoch_losses == [] and idle.holdout_mse is None
    assert all_equal(before, model.parameters())
    report = fit(model, make_optimizer(model, 1e-3), x, y, epochs=3, batch_size=32, generator=gen)
    assert report.steps == 9 and len(report.epoch_losses) == 3
    assert all(math.isfinite(v) for v in report.epoch_losses) and report.train_mse > 0


BAD_INPUTS: dict[str, tuple[Callable[[np.ndarray, np.ndarray], tuple], dict, str]] = {
    "nan-input": (lambda x, y: (np.where(x > 10, x, np.nan), y), {}, "inputs holds NaN or inf"),
    "inf-target": (lambda x, y: (x, np.full_like(y, np.inf)), {}, "targets holds NaN or inf"),
    "row-mismatch": (lambda x, y: (x, y[:-1]), {}, "same number of rows, got 10 and 9"),
    "width": (lambda x, y: (x[:, :2], y), {}, r"inputs must have shape \[N, 3\], got \(10, 2\)"),
    "1d": (lambda x, y: (x, y[:, 0]), {}, r"targets must have shape \[N, 2\]"),
    "empty": (lambda x, y: (x[:0], y[:0]), {}, "inputs is empty"),
    "batch": (lambda x, y: (x, y), {"batch_size": 0}, "batch_size must be an integer ≥ 1"),
    "epochs": (lambda x, y: (x, y), {"epochs": -1}, "epochs must be an integer ≥ 0"),
    "holdout": (lambda x, y: (x, y), {"holdout_ratio": 1.0}, r"holdout_ratio must be in \[0, 1\)"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS), ids=list(BAD_INPUTS))
def test_fit_rejects_bad_input(case: str) -> None:
    mutate, settings, message = BAD_INPUTS[case]
    x, y = mutate(np.ones((10, 3)), np.ones((10, 2)))
    model = make_model()
    kwargs = {"epochs": 1, "batch_size": 4, "generator": torch.Generator(), **settings}
    with pytest.raises(ConfigError, match=message):
        fit(model, make_optimizer(model, 1e-3), x, y, **kwargs)


# --- save / load ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("probabilistic", "ensemble_size"), [(True, 3), (False, 1)], ids=["PE", "D"]
)
def test_save_load_round_trip_is_bit_identical(
    tmp_path: object, probabilistic: bool, ensemble_size: int
) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "model.pt"
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 3, generator=gen), torch.randn(64, 2, generator=gen)
    model = make_model(ensemble_size=ensemble_size, probabilistic=probabilistic)
    optimizer = make_optimizer(model, 1e-3)
    fit(model, optimizer, x, y, epochs=1, batch_size=16, generator=gen)
    save_model(path, model, optimizer)
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.pt"]  # no temp file left
    assert set(torch.load(path, weights_only=True)) >= {"architecture", "state_dict", "optimizer"}

    rng_before = torch.get_rng_state()
    loaded, opt_state = load_model(path, device="cpu")
    assert torch.equal(torch.get_rng_state(), rng_before)  # loading draws no random numbers
    probe = torch.randn(ensemble_size, 20, 3, generator=gen)
    for a, b in zip(model(probe), loaded(probe), strict=True):
        assert (a is None and b is None) or torch.equal(a, b)
    assert all_equal(predict_aggregated(model, probe[0]), predict_aggregated(loaded, probe[0]))
    # The optimiser state resumes training exactly: both copies take identical steps.
    assert opt_state is not None
    loaded_opt = make_optimizer(loaded, 1e-3)
    loaded_opt.load_state_dict(opt_state)
    fit(model, optimizer, x, y, epochs=1, batch_size=16, generator=torch.Generator().manual_seed(5))
    fit(loaded, loaded_opt, x, y, epochs=1, batch_size=16,
        generator=torch.Generator().manual_seed(5))  # fmt: skip
    assert all_equal(model.parameters(), loaded.parameters())


def test_load_rejects_foreign_files(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "other.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(ConfigError, match="is not a PETS model file"):
        load_model(path)
    with pytest.raises(FileNotFoundError):
        load_model(Path(str(tmp_path)) / "missing.pt")
    model = make_model()
    save_model(path, model)
    assert load_model(path)[1] is None


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fit_on_cuda_matches_cpu() -> None:
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(100, 3, generator=gen), torch.randn(100, 2, generator=gen)
    results = []
    for device in ("cpu", "cuda"):
        model = make_model().to(device)
        report = fit(model, make_optimizer(model, 1e-3), x, y, epochs=2, batch_size=32,
                     generator=torch.Generator().manual_seed(1))  # fmt: skip
        results.append((report.epoch_losses, [p.detach().cpu() for p in model.parameters()]))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-4)
    for a, b in zip(results[0][1], results[1][1], strict=True):
        assert_close(a, b, rtol=1e-3, atol=1e-4)
