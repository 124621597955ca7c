"""The sparse GP (`pets.models.gp`, `gp_fit`) against independent numpy/scipy oracles.

Oracles: the exact GP posterior in closed form (Rasmussen & Williams eq. 2.25-2.26) when the
inducing points are the training inputs; Titsias' (2009) collapsed bound written from its
definition with scipy's multivariate normal; lengthscales of data drawn from a known GP prior;
the propagation formulas of docs/spec/pets-facts.md §6.3 checked by their moments.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from pets.models import SparseGP, fit_gp, load_model, save_model
from pets.models.gp import JITTER, from_positive, negative_bound, to_positive
from pets.models.gp_fit import initial_inducing_points
from pets.planning.mpc import model_device_dtype
from pets.planning.propagation import Propagation


def np_rbf(a: np.ndarray, b: np.ndarray, ls: np.ndarray, var: float) -> np.ndarray:
    """σ²·exp(−½·Σ((a−b)/ℓ)²) by explicit differences (not the |a|²+|b|²−2ab trick)."""
    diff = (a[:, None, :] - b[None, :, :]) / ls
    return var * np.exp(-0.5 * (diff**2).sum(-1))


def set_hypers(gp: SparseGP, ls: np.ndarray, var: float, noise: float, z: np.ndarray) -> None:
    gp.raw_lengthscales.copy_(torch.tensor([from_positive(v) for v in ls], dtype=torch.float64))
    gp.raw_variance.fill_(from_positive(var))
    gp.raw_noise.fill_(from_positive(noise))
    gp.inducing.copy_(torch.from_numpy(z))


def test_positive_transform_is_gpflow_log1pe_and_starts_at_one() -> None:
    # gpflow 1.x Log1pe: log(1 + e^x) + 1e-6; parameters start at 1 (RBF and Gaussian defaults)
    raw = torch.tensor([-3.0, 0.0, 2.5], dtype=torch.float64)
    np.testing.assert_allclose(to_positive(raw).numpy(), np.log1p(np.exp(raw.numpy())) + 1e-6)
    gp = SparseGP(3, 2, num_inducing=4)
    for value in (gp.lengthscales, gp.variance, gp.noise):
        torch.testing.assert_close(value, torch.ones_like(value), rtol=1e-12, atol=0)


def test_prediction_equals_the_exact_gp_posterior_when_inducing_points_are_the_data() -> None:
    rng = np.random.default_rng(0)
    n, d, o = 25, 3, 2
    x, xs = rng.normal(size=(n, d)), rng.normal(size=(7, d))
    y = rng.normal(size=(n, o))
    ls, var, noise = np.array([0.7, 1.3, 2.0]), 1.8, 0.05
    gp = SparseGP(d, o, num_inducing=n)
    set_hypers(gp, ls, var, noise, x)
    gp.set_posterior(torch.from_numpy(x), torch.from_numpy(y))
    mean, pvar = gp(torch.from_numpy(xs).float().unsqueeze(0))  # [1, 7, d] -> 2 × [1, 7, o]
    assert mean.dtype == pvar.dtype == torch.float32 and mean.shape == (1, 7, o)
    # R&W eq. 2.25/2.26: latent f* | y, no observation noise in the variance
    k = np_rbf(x, x, ls, var) + noise * np.eye(n)
    ks = np_rbf(xs, x, ls, var)
    exact_mean = ks @ np.linalg.solve(k, y)
    exact_var = var - np.einsum("ij,ji->i", ks, np.linalg.solve(k, ks.T))
    # Z = X differs from the exact GP only by the 1e-6 jitter on Kuu; outputs are float32.
    np.testing.assert_allclose(mean[0].numpy(), exact_mean, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(pvar[0].numpy(), np.repeat(exact_var[:, None], o, 1), atol=1e-4)
    assert exact_var.min() > 1e-3  # the oracle is not trivially zero


def titsias_bound(x, y, z, ls, var, noise) -> float:
    """Σ over outputs of log N(y_j | 0, Qff + σ²I) − tr(Kff − Qff)/(2σ²) (Titsias 2009, eq. 9)."""
    kuu = np_rbf(z, z, ls, var) + JITTER * np.eye(len(z))
    kuf = np_rbf(z, x, ls, var)
    qff = kuf.T @ np.linalg.solve(kuu, kuf)
    cov = qff + noise * np.eye(len(x))
    fit = sum(
        stats.multivariate_normal(np.zeros(len(x)), cov).logpdf(y[:, j]) for j in range(y.shape[1])
    )
    trace = np.trace(np_rbf(x, x, ls, var) - qff)
    return float(fit - y.shape[1] * trace / (2 * noise))


def test_negative_bound_matches_titsias_formula() -> None:
    rng = np.random.default_rng(1)
    x, y, z = rng.normal(size=(40, 2)), rng.normal(size=(40, 3)), rng.normal(size=(6, 2))
    ls, var, noise = np.array([0.9, 1.7]), 1.3, 0.2
    t = torch.from_numpy
    ours = negative_bound(t(x), t(y), t(z), t(ls), torch.tensor(var, dtype=torch.float64),
                          torch.tensor(noise, dtype=torch.float64))  # fmt: skip
    expected = -titsias_bound(x, y, z, ls, var, noise)
    assert float(ours) == pytest.approx(expected, rel=1e-9)
    # with Z = X the bound is the exact log marginal likelihood (trace term 0)
    ours_full = negative_bound(t(x), t(y), t(x), t(ls), torch.tensor(var, dtype=torch.float64),
                               torch.tensor(noise, dtype=torch.float64))  # fmt: skip
    cov = np_rbf(x, x, ls, var) + noise * np.eye(40)
    exact = sum(stats.multivariate_normal(np.zeros(40), cov).logpdf(y[:, j]) for j in range(3))
    assert float(ours_full) == pytest.approx(-exact, rel=1e-5)


def test_inducing_points_are_permuted_rows_then_zero_rows() -> None:
    x = torch.arange(10.0, dtype=torch.float64).view(5, 2)
    z = initial_inducing_points(x, 8, torch.Generator().manual_seed(0))
    rows = {tuple(r) for r in z[:5].tolist()}
    assert rows == {tuple(r) for r in x.tolist()}  # every row exactly once, permuted
    assert torch.all(z[5:] == 0)
    few = initial_inducing_points(x, 3, torch.Generator().manual_seed(0))
    assert few.shape == (3, 2) and {tuple(r) for r in few.tolist()} <= rows


@pytest.mark.slow  # ~3 min on a shared 2-core machine (360 inducing coordinates optimised)
def test_fit_recovers_the_lengthscales_of_a_known_gp() -> None:
    """Targets drawn from a GP prior with ℓ = (0.6, 2.5, 20): ML-II finds them (ARD)."""
    rng = np.random.default_rng(3)
    n = 120
    x = rng.uniform(-3, 3, size=(n, 3))
    ls = np.array([0.6, 2.5, 20.0])
    cov = np_rbf(x, x, ls, 1.5) + 1e-8 * np.eye(n)
    f = np.linalg.cholesky(cov) @ rng.normal(size=(n, 2))  # two independent output functions
    y = f + math.sqrt(0.01) * rng.normal(size=(n, 2))
    gp = SparseGP(3, 2, num_inducing=n)  # Z = all inputs: the exact GP's evidence
    report = fit_gp(gp, x, y, generator=torch.Generator().manual_seed(0))
    fitted = gp.lengthscales.numpy()
    np.testing.assert_allclose(fitted[:2], ls[:2], rtol=0.25)
    assert fitted[2] > 5.0  # the irrelevant input is switched off
    assert float(gp.noise) == pytest.approx(0.01, rel=0.5)
    assert report.train_mse < 0.02 and report.steps > 0


def test_fit_warm_starts_hyperparameters_and_predicts_the_training_targets() -> None:
    rng = np.random.default_rng(4)
    x = rng.uniform(-2, 2, size=(25, 1))
    y = np.sin(2 * x)
    # M = N: every fit's inducing points are the same rows permuted, so the optimum is the same
    gp = SparseGP(1, 1, num_inducing=25)
    fit_gp(gp, x, y, generator=torch.Generator().manual_seed(0), maxiter=100)
    after_first = gp.lengthscales.clone()
    assert abs(float(after_first) - 1.0) > 0.1  # moved well away from gpflow's start value 1
    second = fit_gp(gp, x, y, generator=torch.Generator().manual_seed(1), maxiter=0)
    # no iteration (scipy may still probe one step): the hyperparameters stay near where the
    # previous fit left them instead of restarting from 1
    torch.testing.assert_close(gp.lengthscales, after_first, rtol=0.01, atol=0)
    assert second.steps <= 1
    mean, _ = gp(torch.from_numpy(x))
    np.testing.assert_allclose(mean.numpy(), y, atol=0.05)


def test_gp_plans_in_float32_on_its_device_and_round_trips_through_model_files(tmp_path) -> None:
    gp = SparseGP(4, 2, num_inducing=5)
    rng = np.random.default_rng(5)
    fit_gp(gp, rng.normal(size=(12, 4)), rng.normal(size=(12, 2)),
           generator=torch.Generator().manual_seed(0), maxiter=20)  # fmt: skip
    assert model_device_dtype(gp) == (torch.device("cpu"), torch.float32)
    save_model(tmp_path / "model.pt", gp)
    loaded, opt = load_model(tmp_path / "model.pt")
    assert isinstance(loaded, SparseGP) and opt is None
    q = torch.randn(1, 9, 4)
    for a, b in zip(gp(q), loaded(q), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def _fitted_gp() -> tuple[SparseGP, torch.Tensor]:
    gp = SparseGP(2, 3, num_inducing=4)
    rng = np.random.default_rng(6)
    set_hypers(gp, np.array([1.0, 0.5]), 2.0, 0.1, rng.normal(size=(4, 2)))
    gp.set_posterior(
        torch.from_numpy(rng.normal(size=(4, 2))), torch.from_numpy(rng.normal(size=(4, 3)))
    )
    return gp, torch.tensor([[0.3, -0.2]])


def test_gp_expectation_is_its_mean_with_one_particle() -> None:
    gp, x = _fitted_gp()
    out = Propagation("E", npart=1, ensemble_size=1, ign_var=False)(gp, x, torch.Generator())
    torch.testing.assert_close(out, gp(x)[0], rtol=0, atol=0)


@pytest.mark.parametrize("prop", ["DS", "MM"])
def test_gp_sampling_propagations_have_the_latent_moments(prop: str) -> None:
    """DS samples N(μ, σ²) of the GP per particle; MM refits per candidate then redraws: with
    P = 20000 particles of one candidate both have mean μ and variance σ² within 5 SE."""
    gp, x = _fitted_gp()
    mean, var = (t[0] for t in gp(x))
    p = 20000
    out = Propagation(prop, npart=p, ensemble_size=1, ign_var=False)(
        gp, x.expand(p, -1), torch.Generator().manual_seed(0)
    )
    assert out.shape == (p, 3)
    se_mean = (var / p).sqrt()
    assert torch.all((out.mean(0) - mean).abs() < 5 * se_mean)
    se_var = var * math.sqrt(2 / p)
    assert torch.all((out.var(0) - var).abs() < 5 * se_var)
    assert var.min() > 0.05  # the check is not trivial


def test_gp_ign_var_returns_the_mean_for_every_particle() -> None:
    gp, x = _fitted_gp()
    out = Propagation("DS", npart=3, ensemble_size=1, ign_var=True)(
        gp, x.expand(3, -1), torch.Generator()
    )
    torch.testing.assert_close(out, gp(x)[0][0].expand(3, -1), rtol=0, atol=0)
