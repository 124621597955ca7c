"""Tests of `pets.planning.optimizers`: truncated sampling, CEM's update and stop, random shooting.

Oracles: scipy's truncated normal, a quadratic with a closed-form minimiser, and the loop
references of `reference_planning.py`.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from reference_planning import cem_reference, random_reference
from scipy import stats

from pets.errors import ConfigError
from pets.planning.optimizers import CEMOptimizer, RandomOptimizer, truncated_standard_normal

H, A = 3, 2


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _bounds(lo: float = -1.0, hi: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.full((H, A), lo), torch.full((H, A), hi)


def _cem(
    popsize: int = 200, num_elites: int = 20, max_iters: int = 5, **kw: object
) -> CEMOptimizer:
    lb, ub = _bounds()
    args: dict = dict(alpha=0.1, epsilon=1e-3, lb=lb, ub=ub) | kw
    return CEMOptimizer(popsize=popsize, num_elites=num_elites, max_iters=max_iters, **args)


# A quadratic with a known minimiser: J(x) = Σ (x − x*)ᵀ diag(w) (x − x*), x* inside the box.
X_STAR = torch.tensor([[0.3, -0.5], [0.1, 0.6], [-0.2, 0.0]])
WEIGHTS = torch.tensor([[1.0, 3.0], [0.5, 2.0], [1.5, 1.0]])


def quadratic(actions: torch.Tensor) -> torch.Tensor:
    return ((actions - X_STAR).square() * WEIGHTS).sum(dim=(1, 2))  # [N, H, a] -> [N]


# --- truncated normal ----------------------------------------------------------------------------


def test_truncated_standard_normal_matches_scipy() -> None:
    u = torch.rand(200_000, generator=_gen())
    z = truncated_standard_normal(u).double().numpy()
    assert z.min() >= -2.0 and z.max() <= 2.0
    ks = stats.kstest(z, stats.truncnorm(-2.0, 2.0).cdf)
    assert ks.pvalue > 1e-3
    # variance of N(0,1) | |Z| ≤ 2: 1 − 2·2φ(2)/(Φ(2) − Φ(−2)) = 0.7737
    phi2 = math.exp(-2.0) / math.sqrt(2 * math.pi)
    var = 1 - 4 * phi2 / math.erf(2 / math.sqrt(2))
    assert abs(z.var() - var) < 5 * math.sqrt(2 / z.size) * var


def test_cem_samples_stay_in_bounds_and_within_two_sigma() -> None:
    recorded: list[torch.Tensor] = []

    def spy(actions: torch.Tensor) -> torch.Tensor:
        recorded.append(actions.clone())
        return quadratic(actions)

    lb, ub = torch.full((H, A), -1.0), torch.full((H, A), 2.0)
    cem = CEMOptimizer(
        popsize=4000, num_elites=40, max_iters=1, alpha=0.1, epsilon=1e-3, lb=lb, ub=ub
    )
    mean0 = torch.tensor([[-0.9, 0.5], [1.8, 0.0], [0.5, 1.9]])  # some near a bound
    var0 = torch.full((H, A), 4.0)
    cem.solve(mean0, var0, spy, _gen())
    s = recorded[0]
    assert ((s >= lb) & (s <= ub)).all()
    # Constrained variance by hand (docs/spec/pets-facts.md §6.5):
    # min(((m − lb)/2)², ((ub − m)/2)², v).
    m, lo, hi = mean0.double().numpy(), lb.double().numpy(), ub.double().numpy()
    c = np.minimum(np.minimum(((m - lo) / 2) ** 2, ((hi - m) / 2) ** 2), var0.double().numpy())
    z = (s.double().numpy() - m) / np.sqrt(c)
    assert np.abs(z).max() <= 2.0 + 1e-4
    for j in range(H):
        for k in range(A):
            assert stats.kstest(z[:, j, k], stats.truncnorm(-2, 2).cdf).pvalue > 1e-4


# --- CEM -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings",
    [
        dict(max_iters=5, epsilon=1e-3, alpha=0.1),
        dict(max_iters=6, epsilon=0.02, alpha=0.1),  # stops early on ε: mask == break
        dict(max_iters=3, epsilon=1e-3, alpha=0.0),
        dict(max_iters=4, epsilon=1e-3, alpha=0.9),
    ],
    ids=["paper", "early-stop", "alpha0", "alpha0.9"],
)
def test_cem_matches_loop_reference(settings: dict) -> None:
    lb, ub = _bounds()
    cem = _cem(popsize=60, num_elites=6, **settings)
    mean0 = torch.zeros(H, A)
    var0 = torch.full((H, A), 0.25)
    got = cem.solve(mean0, var0, quadratic, _gen(2))
    want = cem_reference(
        mean0, var0, quadratic, _gen(2), lb=lb, ub=ub, popsize=60, num_elites=6, **settings
    )
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_cem_frozen_below_epsilon_returns_the_start() -> None:
    mean0 = torch.full((H, A), 0.25)
    got = _cem(epsilon=1e-3).solve(mean0, torch.full((H, A), 1e-4), quadratic, _gen())
    assert torch.equal(got, mean0)  # the original's loop never runs: max var ≤ ε


def test_cem_update_is_alpha_smoothed_elite_moments() -> None:
    # One iteration with num_elites = popsize: the elites are all samples, so by hand
    # m1 = α·m0 + (1 − α)·mean(samples), v1 ... checked through the returned mean.
    recorded: list[torch.Tensor] = []

    def spy(actions: torch.Tensor) -> torch.Tensor:
        recorded.append(actions.clone())
        return quadratic(actions)

    cem = _cem(popsize=10, num_elites=10, max_iters=1, alpha=0.3)
    mean0 = torch.full((H, A), 0.2)
    got = cem.solve(mean0, torch.full((H, A), 0.1), spy, _gen())
    torch.testing.assert_close(got, 0.3 * mean0 + 0.7 * recorded[0].mean(0))


def test_cem_finds_the_quadratic_minimum() -> None:
    # Tolerance: with 10 % elites in D = 6 dims, the elites of an isotropic quadratic are the
    # samples with χ²_6 below its 10 % quantile (2.20), whose mean is ≈ 1.5, i.e. ≈ 0.25 of the
    # per-dim variance; with α = 0.1 the variance shrinks by ≈ 0.1 + 0.9·0.25 ≈ 1/3 per iteration.
    # From σ0 = 0.5, after 20 iterations σ ≈ 0.5·3^−10 ≈ 1e-5, and the returned mean is within a
    # few σ of the optimum. The weights' condition number (6) slows the stiff directions; 1e-3
    # leaves a factor > 10 for that.
    cem = _cem(popsize=400, num_elites=40, max_iters=20, epsilon=0.0)
    got = cem.solve(torch.zeros(H, A), torch.full((H, A), 0.25), quadratic, _gen(1))
    torch.testing.assert_close(got, X_STAR, rtol=0.0, atol=1e-3)


def test_random_shooting_does_worse_than_cem_at_equal_budget() -> None:
    # Budget 5 × 400 = 2000 cost evaluations each. A uniform sample lands within cost gap g of
    # the minimum with probability vol{ellipsoid} / vol{box} ∝ g³ (D = 6), so the best of 2000
    # has a gap of order 0.1, orders of magnitude above CEM's.
    cem = _cem(popsize=400, num_elites=40, max_iters=5)
    rs = RandomOptimizer(popsize=2000, lb=cem.lb, ub=cem.ub)
    start, var0 = torch.zeros(H, A), torch.full((H, A), 0.25)
    for seed in range(3):
        cem_gap = float(quadratic(cem.solve(start, var0, quadratic, _gen(seed))[None]))
        rs_gap = float(quadratic(rs.solve(start, var0, quadratic, _gen(seed))[None]))
        assert rs_gap > 20 * cem_gap


# --- random shooting -----------------------------------------------------------------------------


def test_random_matches_loop_reference_and_bounds() -> None:
    lb, ub = torch.full((H, A), -1.0), torch.full((H, A), 3.0)
    rs = RandomOptimizer(popsize=500, lb=lb, ub=ub)
    got = rs.solve(torch.zeros(H, A), torch.ones(H, A), quadratic, _gen(4))
    want = random_reference(quadratic, _gen(4), lb=lb, ub=ub, popsize=500)
    torch.testing.assert_close(got, want)
    assert ((got >= lb) & (got <= ub)).all()


def test_same_seed_gives_same_solution() -> None:
    cem = _cem()
    a = cem.solve(torch.zeros(H, A), torch.full((H, A), 0.25), quadratic, _gen(9))
    b = cem.solve(torch.zeros(H, A), torch.full((H, A), 0.25), quadratic, _gen(9))
    assert torch.equal(a, b)


def test_bad_settings_raise_config_error() -> None:
    lb, ub = _bounds()
    with pytest.raises(ConfigError, match="num_elites"):
        CEMOptimizer(popsize=10, num_elites=11, max_iters=5, alpha=0.1, epsilon=0, lb=lb, ub=ub)
    with pytest.raises(ConfigError, match="alpha"):
        CEMOptimizer(popsize=10, num_elites=1, max_iters=5, alpha=1.5, epsilon=0, lb=lb, ub=ub)
    with pytest.raises(ConfigError, match="popsize"):
        RandomOptimizer(popsize=0, lb=lb, ub=ub)
    with pytest.raises(ConfigError, match=r"\[H, a\]"):
        RandomOptimizer(popsize=3, lb=lb[0], ub=ub[0])
