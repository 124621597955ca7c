"""Tests of iCEM, MPPI and their coloured noise (`pets.planning.icem`, `.mppi`, `.noise`).

Oracles, none taken from the code under test: the noise's periodogram computed with numpy's own
FFT and fitted in numpy (slope −β, docs/spec/planners.md §1.1); sample moments with tolerances
derived from the sample size; the population schedule and the MPPI update written out by hand
(§1.3, §2.2); hand-built costs whose best candidates are known by construction (kept and shifted
elites, §1.2, §1.4); scipy's normal law for the iCEM that reduces to clipped Gaussian random
shooting and for the noise MPPI filters.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from collections.abc import Callable
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from reference_planning import PointMassTask, point_mass_model
from scipy import stats

from pets.config.planners import ICEMCfg, icem_populations
from pets.config.registry import get_optimizer, optimizers
from pets.planning.icem import ICEMOptimizer
from pets.planning.mpc import MPC, action_bounds
from pets.planning.mppi import MPPIOptimizer
from pets.planning.noise import ColoredNoise, powerlaw_basis
from pets.planning.propagation import Propagation

H, A = 6, 2


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _bounds(lo: float = -1.0, hi: float = 1.0, h: int = H) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.full((h, A), lo), torch.full((h, A), hi)


def _icem(h: int = H, lo: float = -1.0, hi: float = 1.0, **kw: object) -> ICEMOptimizer:
    lb, ub = _bounds(lo, hi, h)
    args: dict = dict(
        popsize=40, num_elites=10, max_iters=3, alpha=0.1, decay=1.25, init_std=0.5,
        noise_beta=3.0, elite_fraction=0.3, keep_elites=True, shift_elites=True, use_mean=True,
    ) | kw  # fmt: skip
    return ICEMOptimizer(lb=lb, ub=ub, **args)


class Recorder:
    """A cost function that records the candidates and costs it returns."""

    def __init__(self, cost: Callable[[torch.Tensor, int], torch.Tensor]) -> None:
        self.cost = cost
        self.actions: list[torch.Tensor] = []
        self.costs: list[torch.Tensor] = []

    def __call__(self, actions: torch.Tensor) -> torch.Tensor:
        costs = self.cost(actions, len(self.actions))
        self.actions.append(actions.clone())
        self.costs.append(costs.clone())
        return costs


# --- coloured noise ------------------------------------------------------------------------------


@pytest.mark.parametrize("beta", [0.0, 0.25, 1.0, 2.0, 3.0])
def test_noise_power_spectrum_falls_as_f_to_the_minus_beta(beta: float) -> None:
    # Periodogram by numpy's FFT, averaged over M·a = 512 sequences of n = 1024 steps: each
    # |Y_k|² is s_k²·Exp(1)-distributed, so log of the mean has sd ≈ 1/√512 ≈ 0.044 per
    # frequency; a least-squares slope over 511 frequencies (sd of log f ≈ 1) then has sd ≈
    # 0.044/√511 ≈ 0.002. Tolerance 0.03: 15 sd, and a β/2 or sign error is off by ≥ 0.125.
    n = 1024
    noise = ColoredNoise(beta, n, device=torch.device("cpu"), dtype=torch.float64)
    y = noise.sample(256, 2, _gen(1)).numpy()  # [M, n, a]
    y = np.moveaxis(y, 1, -1).reshape(-1, n)  # [M·a, n]
    power = (np.abs(np.fft.rfft(y, axis=1)) ** 2).mean(axis=0)
    f = np.fft.rfftfreq(n)
    inner = slice(1, n // 2)  # leave out f = 0 (cut off) and the Nyquist frequency (real only)
    slope, _ = np.polyfit(np.log(f[inner]), np.log(power[inner]), 1)
    assert abs(slope + beta) < 0.03, slope


@pytest.mark.parametrize("horizon", [25, 30])
@pytest.mark.parametrize("beta", [0.0, 0.25, 3.0, 3.5])
def test_noise_has_zero_mean_and_unit_variance_at_every_step(beta: float, horizon: int) -> None:
    # M = 20,000 draws of each of the H·a elements: the sample variance has sd √(2/M) = 0.010
    # and the mean sd 1/√M = 0.007; 5 sd bounds over 50-60 elements.
    m = 20_000
    noise = ColoredNoise(beta, horizon, device=torch.device("cpu"), dtype=torch.float64)
    y = noise.sample(m, 2, _gen(2)).numpy()  # [M, H, a]
    assert np.abs(y.var(axis=0) - 1.0).max() < 5 * math.sqrt(2 / m)
    assert np.abs(y.mean(axis=0)).max() < 5 / math.sqrt(m)
    # Action dimensions are independent: their correlation at equal steps is 0.
    corr = (y[:, :, 0] * y[:, :, 1]).mean(axis=0)
    assert np.abs(corr).max() < 5 / math.sqrt(m)


@pytest.mark.parametrize("horizon", [7, 30])
def test_white_noise_is_uncorrelated_in_time(horizon: int) -> None:
    # β = 0: the covariance over time is the identity, exactly in the basis (orthonormal rows)
    # and within sampling error in draws (entries of a sample covariance: sd 1/√M).
    basis = powerlaw_basis(0.0, horizon)
    np.testing.assert_allclose(basis @ basis.T, np.eye(horizon), atol=1e-12)
    m = 20_000
    noise = ColoredNoise(0.0, horizon, device=torch.device("cpu"), dtype=torch.float64)
    y = noise.sample(m, 1, _gen(3)).numpy()[:, :, 0]  # [M, H]
    assert np.abs(np.cov(y, rowvar=False, bias=True) - np.eye(horizon)).max() < 5 / math.sqrt(m)


def test_coloured_noise_is_smooth_in_time() -> None:
    # β = 3 puts most power in the lowest frequencies: neighbouring steps are strongly correlated
    # (white noise: 0). A sign error of β (blue noise) makes them anti-correlated.
    noise = ColoredNoise(3.0, 30, device=torch.device("cpu"), dtype=torch.float64)
    y = noise.sample(5_000, 1, _gen(4)).numpy()[:, :, 0]
    lag1 = (y[:, 1:] * y[:, :-1]).mean()
    assert lag1 > 0.8


# --- iCEM: schedule ------------------------------------------------------------------------------


def test_population_schedule_is_the_authors() -> None:
    # N_0 = popsize, N_i = max(2K, ⌊N_{i−1}/γ⌋), written out:
    # 40 → ⌊40/1.25⌋ = 32 → ⌊32/1.25⌋ = ⌊25.6⌋ = 25;
    # 100 → 50 → 25 → max(20, 12) = 20 → max(20, 10) = 20; γ = 1 keeps N.
    assert icem_populations(40, 10, 3, 1.25) == (40, 32, 25)
    assert icem_populations(100, 10, 5, 2.0) == (100, 50, 25, 20, 20)
    assert icem_populations(30, 5, 3, 1.0) == (30, 30, 30)
    assert icem_populations(40, 10, 1, 1.25) == (40,)


def test_icem_simulates_the_schedule_plus_the_shifted_elites_and_not_the_kept_ones() -> None:
    # K = 10, frac 0.3: int(3.0) = 3 shifted elites join iteration 0; the 3 kept elites of
    # iterations 1 and 2 are not simulated again, so the cost function sees 43, 32, 25 rows.
    rec = Recorder(lambda a, call: a.square().sum(dim=(1, 2)))
    _icem().solve(torch.zeros(H, A), torch.ones(H, A), rec, _gen())
    assert [len(a) for a in rec.actions] == [43, 32, 25]
    assert ICEMCfg().populations() == (43, 32, 25)
    assert ICEMCfg(shift_elites=False).populations() == (40, 32, 25)


# --- iCEM: kept and shifted elites ---------------------------------------------------------------


def _by_index_first_call(actions: torch.Tensor, call: int) -> torch.Tensor:
    """Candidate j of the first call costs j; every later candidate costs 1000 + j."""
    j = torch.arange(len(actions), dtype=actions.dtype)
    return j if call == 0 else 1000.0 + j


def test_kept_elites_are_the_best_of_the_previous_iteration_with_their_old_costs() -> None:
    # Iteration 0's candidates 0, 1, 2 cost 0, 1, 2; every later sample costs ≥ 1000. So the 3
    # kept elites (the best of iteration 0) stay the best through iterations 1 and 2 with their
    # old costs, and the plan is iteration 0's candidate 0. If the kept elites were not the best
    # (say the worst of the 10), or were re-simulated (costing ≥ 1000), the plan would differ.
    opt = _icem(shift_elites=False)
    rec = Recorder(_by_index_first_call)
    plan = opt.solve(torch.zeros(H, A), torch.ones(H, A), rec, _gen(5))
    torch.testing.assert_close(plan, rec.actions[0][0], rtol=0, atol=0)
    # The elites after the last iteration: the 3 kept ones first, with costs 0, 1, 2.
    torch.testing.assert_close(opt.elite_costs[:3], torch.tensor([0.0, 1.0, 2.0]))
    torch.testing.assert_close(opt.elites[:3], rec.actions[0][:3], rtol=0, atol=0)


def test_without_kept_elites_the_plan_is_the_last_iterations_best() -> None:
    opt = _icem(shift_elites=False, keep_elites=False)
    rec = Recorder(_by_index_first_call)
    plan = opt.solve(torch.zeros(H, A), torch.ones(H, A), rec, _gen(5))
    torch.testing.assert_close(plan, rec.actions[-1][0], rtol=0, atol=0)  # cost 1000, the min


@pytest.mark.parametrize("steps", [1, 3])
def test_shifted_elites_are_the_last_replans_best_moved_left(steps: int) -> None:
    # One iteration per re-plan (no kept elites). Re-plan 1: candidate j costs j, so the best 3
    # are candidates 0, 1, 2. After `steps` executed actions, re-plan 2 appends them moved left
    # by `steps`, their last `steps` actions fresh draws inside the bounds.
    opt = _icem(max_iters=1, use_mean=False, lo=-1.0, hi=2.0)
    first = Recorder(lambda a, call: torch.arange(len(a), dtype=a.dtype))
    opt.solve(torch.zeros(H, A), torch.ones(H, A), first, _gen(6))
    opt.advance(steps, _gen(7))
    second = Recorder(lambda a, call: a.square().sum(dim=(1, 2)))
    opt.solve(torch.zeros(H, A), torch.ones(H, A), second, _gen(8))
    shifted = second.actions[0][40:]  # [3, H, a] after the 40 fresh samples
    assert shifted.shape == (3, H, A)
    best = first.actions[0][:3]
    torch.testing.assert_close(shifted[:, : H - steps], best[:, steps:], rtol=0, atol=0)
    tail = shifted[:, H - steps :]
    assert ((tail >= -1.0) & (tail <= 2.0)).all()
    assert not torch.equal(tail, best[:, -steps:])  # fresh, not the old last actions


def test_an_episode_inherits_no_elites() -> None:
    # The shifted slots are simulated (static shapes) but cost nothing here: if they counted,
    # they would be the plan. At an episode's first re-plan, and after reset(), they must not.
    def slots_best(actions: torch.Tensor, call: int) -> torch.Tensor:
        cost = 100.0 + torch.arange(len(actions), dtype=actions.dtype)
        cost[40:] = -1e6 + torch.arange(3, dtype=actions.dtype)  # the slots, best first
        return cost

    opt = _icem(max_iters=1, use_mean=False)
    for replan in range(3):
        rec = Recorder(slots_best)
        plan = opt.solve(torch.zeros(H, A), torch.ones(H, A), rec, _gen(replan))
        if replan == 1:  # the second re-plan of an episode may take a shifted elite
            torch.testing.assert_close(plan, rec.actions[0][40], rtol=0, atol=0)
        else:
            torch.testing.assert_close(plan, rec.actions[0][0], rtol=0, atol=0)
        opt.advance(1, _gen(10 + replan))
        if replan == 1:
            opt.reset()  # a new episode


def test_the_last_iteration_evaluates_the_mean() -> None:
    # Iteration 1's first candidate is the mean after iteration 0's update, by hand:
    # (1 − α)·mean(elites) + α·midpoint, the elites being the 10 lowest-cost of iteration 0.
    opt = _icem(max_iters=2, shift_elites=False, keep_elites=False, alpha=0.3)
    rec = Recorder(lambda a, call: (a - 0.3).square().sum(dim=(1, 2)))
    opt.solve(torch.zeros(H, A), torch.ones(H, A), rec, _gen(11))
    x0, c0 = rec.actions[0].double().numpy(), rec.costs[0].double().numpy()
    elites = x0[np.argsort(c0)[:10]]
    want = 0.7 * elites.mean(axis=0) + 0.3 * 0.0
    np.testing.assert_allclose(rec.actions[1][0].double().numpy(), want, atol=1e-6)


def test_the_update_moves_mean_and_std_towards_the_elites_with_momentum() -> None:
    # One iteration: the carried mean after solve is (1 − α)·mean(elites) + α·midpoint, and the
    # next re-plan's spread restarts at init_std: both by hand from the recorded candidates.
    opt = _icem(max_iters=1, shift_elites=False, use_mean=False, alpha=0.2, lo=0.0, hi=2.0)
    rec = Recorder(lambda a, call: (a - 1.5).square().sum(dim=(1, 2)))
    opt.solve(torch.zeros(H, A), torch.ones(H, A), rec, _gen(12))
    x, c = rec.actions[0].double().numpy(), rec.costs[0].double().numpy()
    want = 0.8 * x[np.argsort(c)[:10]].mean(axis=0) + 0.2 * 1.0
    np.testing.assert_allclose(opt.mean.double().numpy(), want, atol=1e-6)


def test_one_white_iteration_is_clipped_gaussian_random_shooting() -> None:
    # β = 0, one iteration, no decay, no kept or shifted elites, no mean sample: candidates are
    # clip(N(midpoint, σ²)) with σ = init_std·(ub − lb)/2 = 0.5 on [−1, 1], i.e. clipped at 2σ,
    # and the plan is the lowest-cost candidate. Inside the box the law is N(0, σ²) truncated at
    # ±2σ (KS test); each bound holds Φ(−2) = 0.02275 of the draws (binomial sd √(p(1−p)/n)).
    opt = _icem(
        h=5, popsize=20_000, num_elites=10, max_iters=1, decay=1.0, noise_beta=0.0,
        keep_elites=False, shift_elites=False, use_mean=False,
    )  # fmt: skip
    rec = Recorder(lambda a, call: (a - 0.2).square().sum(dim=(1, 2)))
    plan = opt.solve(torch.zeros(5, A), torch.ones(5, A), rec, _gen(13))
    x = rec.actions[0].double().numpy()
    assert x.min() >= -1.0 and x.max() <= 1.0
    z = x.ravel() / 0.5
    n, p = z.size, stats.norm.cdf(-2.0)
    for at_bound in (z == -2.0, z == 2.0):
        assert abs(at_bound.mean() - p) < 5 * math.sqrt(p * (1 - p) / n)
    inside = z[np.abs(z) < 2.0]
    assert stats.kstest(inside, stats.truncnorm(-2.0, 2.0).cdf).pvalue > 1e-3
    lag1 = np.corrcoef(x[:, :-1, 0].ravel(), x[:, 1:, 0].ravel())[0, 1]
    assert abs(lag1) < 5 / math.sqrt(x[:, :-1, 0].size)  # white: steps uncorrelated
    best = int(np.argmin(rec.costs[0].numpy()))
    torch.testing.assert_close(plan, rec.actions[0][best], rtol=0, atol=0)


def test_icem_samples_are_clipped_to_the_bounds() -> None:
    # With init_std 2 (a σ of two half ranges), many raw draws leave [0, 1]: all are clipped.
    opt = _icem(init_std=2.0, lo=0.0, hi=1.0, max_iters=1, use_mean=False)
    rec = Recorder(lambda a, call: a.sum(dim=(1, 2)))
    opt.solve(torch.zeros(H, A), torch.ones(H, A), rec, _gen(14))
    x = rec.actions[0][:40]
    assert x.min() == 0.0 and x.max() == 1.0
    assert ((x == 0.0) | (x == 1.0)).float().mean() > 0.3  # point masses at the bounds


# --- MPPI ----------------------------------------------------------------------------------------


def _mppi(lo: float = -1.0, hi: float = 1.0, **kw: object) -> MPPIOptimizer:
    lb, ub = _bounds(lo, hi)
    args: dict = dict(popsize=200, kappa=1.0, sigma=0.9, beta=0.9) | kw
    return MPPIOptimizer(lb=lb, ub=ub, **args)


def _mppi_by_hand(samples: np.ndarray, costs: np.ndarray, kappa: float) -> np.ndarray:
    """docs/spec/planners.md §2.2 in float64: w = exp(κ(R − max R)), R = −cost."""
    r = -costs
    w = np.exp(kappa * (r - r.max()))
    return (w[:, None, None] * samples).sum(axis=0) / (w.sum() + 1e-10)


@pytest.mark.parametrize("offset", [-100.0, 0.0, 1000.0], ids=["rewards-100", "0", "costs1000"])
@pytest.mark.parametrize("kappa", [1.0, 10.0])
def test_mppi_mean_is_the_reward_weighted_average(kappa: float, offset: float) -> None:
    # Costs offset by −100 (R ≈ 100: exp(κR) overflows float32) or +1000 (exp(−κ·cost)
    # underflows to 0): only the subtraction of max R keeps the weights finite and nonzero.
    opt = _mppi(kappa=kappa)
    rec = Recorder(lambda a, call: offset + 4.0 * (a - 0.25).square().sum(dim=(1, 2)))
    got = opt.solve(torch.zeros(H, A), torch.ones(H, A), rec, _gen(15))
    x, c = rec.actions[0].double().numpy(), rec.costs[0].double().numpy()
    want = _mppi_by_hand(x, c, kappa)
    assert np.isfinite(got.numpy()).all()
    np.testing.assert_allclose(got.double().numpy(), want, rtol=1e-3, atol=1e-5)
    torch.testing.assert_close(opt.mean, got)


def test_mppi_filters_gaussian_noise_along_the_horizon() -> None:
    # With a box too wide to clip, the noise is recovered from the candidates by inverting the
    # filter: ε_t = (a_t − (1 − β)·a_{t−1})/β − μ_t, a_{−1} the previous action (the midpoint
    # at an episode's start). It must be i.i.d. N(0, σ²), σ = sigma·(ub − lb)/2 = 0.1·50 = 5;
    # the filtered actions have sd β·σ/√(1 − (1 − β)²) ≈ 3.3, so ±50 (15 sd) never clips.
    beta, lo, hi = 0.6, -50.0, 50.0
    opt = _mppi(lo=lo, hi=hi, popsize=4000, sigma=0.1, beta=beta)
    opt.mean.copy_(torch.linspace(-1.0, 1.0, H * A).view(H, A))  # a known, nonzero mean
    mu = opt.mean.double().numpy()
    rec = Recorder(lambda a, call: a.square().sum(dim=(1, 2)))
    opt.solve(torch.zeros(H, A), torch.ones(H, A), rec, _gen(16))
    a = rec.actions[0].double().numpy()
    prev = np.concatenate([np.zeros((a.shape[0], 1, A)), a[:, :-1]], axis=1)
    eps = (a - (1 - beta) * prev) / beta - mu
    z = eps.ravel() / 5.0
    assert stats.kstest(z, "norm").pvalue > 1e-3
    lag1 = np.corrcoef(eps[:, :-1].ravel(), eps[:, 1:].ravel())[0, 1]
    assert abs(lag1) < 5 / math.sqrt(eps[:, :-1].size)


def test_mppi_advance_shifts_the_mean_and_remembers_the_last_executed_action() -> None:
    opt = _mppi()
    old = torch.arange(H * A, dtype=torch.float32).view(H, A) / 100
    opt.mean.copy_(old)
    opt.advance(2, _gen())
    torch.testing.assert_close(opt.prev_action, old[1])  # the last of the 2 executed actions
    want = torch.cat([old[2:], old[-1:], old[-1:]])  # left by 2, last entry repeated
    torch.testing.assert_close(opt.mean, want)
    opt.reset()
    assert torch.equal(opt.mean, torch.zeros(H, A)) and torch.equal(opt.prev_action, torch.zeros(A))


def test_mppi_clips_its_candidates() -> None:
    opt = _mppi(sigma=3.0)
    rec = Recorder(lambda a, call: a.sum(dim=(1, 2)))
    opt.solve(torch.zeros(H, A), torch.ones(H, A), rec, _gen(17))
    x = rec.actions[0]
    assert x.min() == -1.0 and x.max() == 1.0


# --- every optimizer inside the MPC --------------------------------------------------------------

# docs/spec/pets-facts.md §6.2: a particle whose total cost is NaN costs 1e6 (typed here, not
# imported: a flipped sign in the code must not flip the oracle too).
EXPECTED_NAN_COST = 1e6
SMALL = {
    "CEM": {"popsize": 100, "num_elites": 10, "max_iters": 3},
    "Random": {"popsize": 200},
    "iCEM": {"popsize": 100},
    "MPPI": {"popsize": 200},
}
PLAN_HOR = 3
OPT_NAMES = tuple(optimizers(plugins=False))


class NaNBeyondHalfTask(PointMassTask):
    """1-D point mass rewarded for moving right (cost −s) until s > 0.5, where the cost is NaN.

    The best finite sequences ride up to the NaN region's edge, so an optimizer that ranks NaN
    candidates well walks straight into it.
    """

    def obs_cost(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.where(obs[:, 0] > 0.5, torch.nan, -obs[:, 0])


def _optimizer(name: str, lb: torch.Tensor, ub: torch.Tensor) -> object:
    """Build a registered optimizer as a run does (`pets.run.building.build_controller`)."""
    spec = get_optimizer(name)
    module, _, cls = spec.implementation.partition(":")
    cfg = spec.make_config(SMALL[name])
    cfg.check()
    return getattr(importlib.import_module(module), cls)(**dataclasses.asdict(cfg), lb=lb, ub=ub)


def _mpc(name: str, seed: int, task: PointMassTask | None = None, per: int = 1) -> MPC:
    task = task or NaNBeyondHalfTask(1, 1, ac_lb=np.array([-1.0]), ac_ub=np.array([1.0]))
    lb, ub = action_bounds(task, PLAN_HOR, device="cpu", dtype=torch.float32)
    prop = Propagation("TSinf", npart=5, ensemble_size=5, ign_var=True)
    model = point_mass_model(task.obs_dim, 5, None)  # exact: s' = s + a for every member
    return MPC(
        task, model, prop, _optimizer(name, lb, ub), plan_hor=PLAN_HOR, per=per, npart=5,
        generator=_gen(seed),
    )  # fmt: skip


@pytest.mark.parametrize("name", list(SMALL))
def test_a_candidate_whose_particles_go_nan_is_never_chosen(name: str) -> None:
    assert set(SMALL) == set(OPT_NAMES)  # every registered optimizer is covered
    mpc = _mpc(name, seed=1)
    seen: list[tuple[float, torch.Tensor, torch.Tensor]] = []
    cost = mpc.cost
    s = 0.0

    def spy(actions: torch.Tensor) -> torch.Tensor:
        costs = cost(actions)
        seen.append((s, actions.clone(), costs.clone()))
        return costs

    mpc.cost = spy  # type: ignore[method-assign]
    mpc.reset(SimpleNamespace(goal=np.zeros(1)))
    for _ in range(4):
        a = float(mpc.act(np.array([s], dtype=np.float32))[0])
        plan = mpc.last_plan.double().numpy()[:, 0]
        # The chosen plan keeps every particle finite: all its states s + Σ a stay ≤ 0.5.
        assert (s + np.cumsum(plan)).max() <= 0.5 + 1e-5, (name, plan)
        s = min(s + a, 0.4)  # the true point mass, kept where finite plans exist
    # The costs the optimizer saw, by hand (the model is exact, so a candidate's particles are
    # all NaN or all finite): 1e6 where its states s_t = s + Σ a cross 0.5, else
    # Σ_t (−s_t + 0.5·a_t²).
    crossed = 0
    for s0, actions, costs in seen:
        x = actions.double().numpy()[..., 0]  # [N, H]
        states = s0 + np.cumsum(x, axis=1)
        nan = states.max(axis=1) > 0.5
        want = np.where(nan, EXPECTED_NAN_COST, (-states + 0.5 * x**2).sum(axis=1))
        np.testing.assert_allclose(costs.double().numpy(), want, rtol=1e-5, atol=1e-4)
        crossed += int(nan.sum())
    assert crossed > 0  # the optimizers did try the NaN region


@pytest.mark.parametrize("name", ["iCEM", "MPPI"])
def test_the_same_seed_gives_the_same_actions_and_reset_forgets_the_episode(name: str) -> None:
    task = PointMassTask(1, 1, ac_lb=np.array([-1.0]), ac_ub=np.array([1.0]))
    goal = SimpleNamespace(goal=np.zeros(1))
    obs = [np.array([0.8 - 0.1 * t], dtype=np.float32) for t in range(4)]
    a, b = _mpc(name, 3, task), _mpc(name, 3, task)
    for mpc in (a, b):
        mpc.reset(goal)
    run_a = [a.act(o) for o in obs]
    run_b = [b.act(o) for o in obs]
    np.testing.assert_array_equal(np.stack(run_a), np.stack(run_b))
    # After reset, a planner that has run an episode acts as a fresh one given the same
    # generator state: nothing (mean, elites, previous action) is carried into the new episode.
    a.reset(goal)
    fresh = _mpc(name, 99, task)
    fresh.reset(goal)
    fresh.generator.set_state(a.generator.get_state())
    np.testing.assert_array_equal(
        np.stack([a.act(o) for o in obs]), np.stack([fresh.act(o) for o in obs])
    )


@pytest.mark.parametrize("name", ["iCEM", "MPPI"])
def test_a_rehearsed_replan_leaves_the_planner_state_as_it_was(name: str) -> None:
    # A graph capture runs eager re-plans inside `rehearsal`; they must leave no trace, or a
    # CUDA run would differ from a CPU one after the capture.
    mpc = _mpc(name, 4, PointMassTask(1, 1, ac_lb=np.array([-1.0]), ac_ub=np.array([1.0])))
    mpc.reset(SimpleNamespace(goal=np.zeros(1)))
    mpc.act(np.array([0.3], dtype=np.float32))
    before = [t.clone() for t in mpc.optimizer.state()]  # type: ignore[attr-defined]
    with mpc.rehearsal():
        mpc.replan()
        mpc.replan()
    after = mpc.optimizer.state()  # type: ignore[attr-defined]
    assert all(torch.equal(x, y) for x, y in zip(before, after, strict=True))
    assert len(mpc.buffer_key()) > len(_mpc("CEM", 4).buffer_key())  # the state is keyed too


@pytest.mark.parametrize("name", ["iCEM", "MPPI"])
def test_a_replan_has_no_host_sync(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every way Python reads a tensor's value back raises inside the re-plan (solve + advance).
    mpc = _mpc(name, 5, PointMassTask(1, 1, ac_lb=np.array([-1.0]), ac_ub=np.array([1.0])))
    mpc.reset(SimpleNamespace(goal=np.zeros(1)))
    mpc.load_observation(np.array([0.3]))
    mpc.replan()  # the first re-plan of the episode, then one with shifted elites
    with monkeypatch.context() as patch:
        for attr in ("__bool__", "__int__", "__float__", "__index__", "item", "tolist", "cpu"):
            patch.setattr(torch.Tensor, attr, _forbidden(attr))
        plan = mpc.replan()
    assert plan.shape == (PLAN_HOR, 1)


def _forbidden(name: str) -> Callable[..., None]:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"host sync: Tensor.{name} called inside a re-plan")

    return fail


def test_the_mpc_moves_the_planners_on_by_per_steps() -> None:
    # per = 2: after a re-plan, MPPI's mean is its plan moved left by 2 (last entry repeated)
    # and its previous action the plan's second; iCEM holds its best elites moved left by 2.
    task = PointMassTask(1, 1, ac_lb=np.array([-1.0]), ac_ub=np.array([1.0]))
    goal = SimpleNamespace(goal=np.zeros(1))
    mppi = _mpc("MPPI", 6, task, per=2)
    mppi.reset(goal)
    mppi.act(np.array([0.3], dtype=np.float32))
    plan = mppi.last_plan
    opt = mppi.optimizer
    torch.testing.assert_close(opt.mean, torch.cat([plan[2:], plan[-1:], plan[-1:]]))  # type: ignore[attr-defined]
    torch.testing.assert_close(opt.prev_action, plan[1])  # type: ignore[attr-defined]
    icem = _mpc("iCEM", 6, task, per=2)
    icem.reset(goal)
    icem.act(np.array([0.3], dtype=np.float32))
    opt = icem.optimizer
    r = opt.reused  # type: ignore[attr-defined]
    assert bool(opt.has_shifted)  # type: ignore[attr-defined]
    torch.testing.assert_close(
        opt.shifted[:, : PLAN_HOR - 2],
        opt.elites[:r, 2:],
        rtol=0,
        atol=0,  # type: ignore[attr-defined]
    )


# --- configuration -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("opt", "path", "value", "message"),
    [
        ("iCEM", "num_elites", "30", "num_elites must be in [2, popsize // 2 = 20], got 30"),
        ("iCEM", "num_elites", "1", "num_elites must be in [2, popsize // 2 = 20], got 1"),
        ("iCEM", "decay", "0.8", "decay must be at least 1, got 0.8"),
        ("iCEM", "elite_fraction", "1.5", "elite_fraction must be in [0, 1], got 1.5"),
        ("iCEM", "noise_beta", "-1", "noise_beta must be at least 0, got -1.0"),
        ("iCEM", "init_std", "0", "init_std must be positive, got 0.0"),
        ("MPPI", "beta", "0", "beta must be in (0, 1], got 0.0"),
        ("MPPI", "kappa", "-2", "kappa must be positive, got -2.0"),
        ("MPPI", "sigma", "0", "sigma must be positive, got 0.0"),
        ("MPPI", "decay", "2", "opt-type MPPI has no decay (iCEM only)"),
    ],
)
def test_bad_planner_settings_are_one_line_errors_and_write_nothing(
    opt: str, path: str, value: str, message: str, tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pets.cli import main

    out = tmp_path / "run"
    argv = ["mbexp", "-env", "cartpole", "-ca", "opt-type", opt, "-outdir", str(out),
            "-o", f"ctrl_cfg.opt_cfg.cfg.{path}", value]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pets mbexp: error: ") and message in err and "\n" not in err
    assert not out.exists()


def test_the_task_registry_gives_icem_the_authors_half_cheetah_beta() -> None:
    # docs/spec/planners.md §1.5: β 3.0 by default, 0.25 for half-cheetah running.
    from pets.config import build_config

    beta = {e: build_config(e, [("opt-type", "iCEM")]).ctrl_cfg.opt_cfg.cfg.noise_beta
            for e in ("cartpole", "halfcheetah")}  # fmt: skip
    assert beta == {"cartpole": 3.0, "halfcheetah": 0.25}


def test_bench_plan_counts_the_candidates_each_optimizer_simulates() -> None:
    # The floor's FLOPs are 2·H·E·rows·Σ(in·out) summed over iterations, rows = candidates·P/E,
    # so at one model the ratio of two optimizers' FLOPs is the ratio of their candidates per
    # re-plan: iCEM's defaults 43 + 32 + 25 = 100, MPPI's 700, cartpole's CEM 400 × 5 = 2000.
    from pets.bench.plan import _paper_config, replan_flops
    from pets.envs import make_task
    from pets.run.building import build_model

    cem = _paper_config("cartpole", None)
    model = build_model(cem, make_task("cartpole"), torch.device("cpu"), _gen())
    flops = {opt: replan_flops(_paper_config("cartpole", None, opt), model) for opt in SMALL}
    assert flops["iCEM"] / flops["CEM"] == pytest.approx(100 / 2000, rel=1e-12)
    assert flops["MPPI"] / flops["CEM"] == pytest.approx(700 / 2000, rel=1e-12)
    assert flops["Random"] / flops["CEM"] == pytest.approx(2000 / 2000, rel=1e-12)


requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.gpu
@requires_cuda
@pytest.mark.parametrize("name", ["iCEM", "MPPI"])
def test_a_captured_replan_equals_the_eager_one_and_never_syncs(name: str) -> None:
    # Two controllers with the same seed on CUDA, one eager and one replaying its re-plan as a
    # CUDA graph (the run's path): the same actions over an episode and after a reset, since a
    # replay runs the eager kernels on the same buffers and generator offsets.
    from cuda_sync import replan_without_host_sync

    from pets.planning.capture import capture_replan

    def controller(capture: object) -> MPC:
        task = PointMassTask(1, 1, ac_lb=np.array([-1.0]), ac_ub=np.array([1.0]), device="cuda")
        lb, ub = action_bounds(task, PLAN_HOR, device="cuda", dtype=torch.float32)
        prop = Propagation("TSinf", npart=5, ensemble_size=5, ign_var=False)
        model = point_mass_model(1, 5, 0.01).to("cuda")
        gen = torch.Generator(device="cuda").manual_seed(7)
        return MPC(
            task, model, prop, _optimizer(name, lb, ub), plan_hor=PLAN_HOR, per=1, npart=5,
            generator=gen, capture=capture,  # type: ignore[arg-type]
        )  # fmt: skip

    eager, graphed = controller(None), controller(capture_replan)
    goal = SimpleNamespace(goal=np.zeros(1))
    for episode in range(2):
        acts = {}
        for label, mpc in (("eager", eager), ("graphed", graphed)):
            mpc.reset(goal)
            acts[label] = np.stack(
                [mpc.act(np.array([0.4 - 0.1 * t], dtype=np.float32)) for t in range(4)]
            )
        np.testing.assert_array_equal(acts["eager"], acts["graphed"], err_msg=f"episode {episode}")
    assert graphed.graph is not None and not graphed.graph.failed  # replayed, not eager
    replan_without_host_sync(eager)
