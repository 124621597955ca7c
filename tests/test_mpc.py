"""Tests of `pets.planning.mpc`: candidate costs, NaN handling, warm start, action buffer,
determinism.

Oracles: a point mass with an exactly known model (closed-form costs and LQ optimum), hand-worked
NaN cases, spy optimizers that record what the MPC passes them, and the loop references.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from cuda_sync import replan_without_host_sync
from reference_planning import (
    AffineEnsemble,
    PointMassTask,
    candidate_costs_reference,
    point_mass_model,
    shift_reference,
)

from pets.errors import ConfigError
from pets.planning.capture import capture_replan
from pets.planning.mpc import (
    MPC,
    NAN_COST,
    action_bounds,
    candidate_costs,
    shift_plan,
)
from pets.planning.optimizers import CEMOptimizer
from pets.planning.propagation import PROP_TYPES, Propagation

E = 5
D = 2  # obs dim = act dim of the point mass


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _task(lo: float = -1.0, hi: float = 1.0, ac_weight: float = 0.5) -> PointMassTask:
    return PointMassTask(D, D, ac_lb=np.full(D, lo), ac_ub=np.full(D, hi), ac_weight=ac_weight)


class SpyOptimizer:
    """Records (mean0, var0) of each solve; the k-th solve returns 100·k + arange(H·a) as [H, a]."""

    def __init__(self, plan_hor: int, act_dim: int) -> None:
        self.lb = torch.zeros(plan_hor, act_dim)
        self.calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def solve(self, mean0, var0, cost_fn, generator) -> torch.Tensor:
        self.calls.append((mean0.clone(), var0.clone()))
        h, a = self.lb.shape
        return 100.0 * len(self.calls) + torch.arange(h * a, dtype=torch.float32).view(h, a)


def _spy_mpc(task: PointMassTask, plan_hor: int, per: int) -> tuple[MPC, SpyOptimizer]:
    spy = SpyOptimizer(plan_hor, task.act_dim)
    prop = Propagation("E", npart=1, ensemble_size=1, ign_var=False)
    mpc = MPC(
        task,
        point_mass_model(D, 1, None),
        prop,
        spy,
        plan_hor=plan_hor,
        per=per,
        npart=1,
        generator=_gen(),
    )
    return mpc, spy


# --- candidate costs -----------------------------------------------------------------------------


def _point_mass_cost(s0: np.ndarray, actions: np.ndarray, ac_weight: float) -> np.ndarray:
    """Closed form of docs/spec/pets-facts.md §6.2 for s_{t+1} = s_t + a_t, goal 0.

    Cost Σ_t ‖s_{t+1}‖² + λ‖a_t‖².
    """
    states = s0 + np.cumsum(actions, axis=1)  # [N, H, d]
    return (states**2).sum(axis=(1, 2)) + ac_weight * (actions**2).sum(axis=(1, 2))


@pytest.mark.parametrize(
    ("prop_type", "npart", "nets"), [("E", 1, 1), ("E", 1, E), ("TSinf", 10, E), ("TS1", 10, E)]
)
def test_candidate_costs_equal_closed_form_for_exact_model(
    prop_type: str, npart: int, nets: int
) -> None:
    task = _task()
    actions = torch.rand(6, 4, D, generator=_gen(1)) * 2 - 1
    s0 = np.array([0.6, -0.4], dtype=np.float32)
    prop = Propagation(prop_type, npart=npart, ensemble_size=nets, ign_var=True)
    got = candidate_costs(
        task, point_mass_model(D, nets, None), prop, torch.from_numpy(s0), actions, _gen()
    )
    want = _point_mass_cost(s0.astype(np.float64), actions.double().numpy(), 0.5)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5)


@pytest.mark.parametrize("prop_type", PROP_TYPES)
def test_candidate_costs_match_loop_reference(prop_type: str) -> None:
    g = _gen(3)
    model = AffineEnsemble(
        0.3 * torch.randn(E, 2 * D, D, generator=g),
        0.1 * torch.randn(E, D, generator=g),
        0.05 * torch.rand(E, D, generator=g) + 0.01,
    )
    task = _task()
    npart = 1 if prop_type == "E" else 10
    prop = Propagation(prop_type, npart=npart, ensemble_size=E, ign_var=False)
    obs = torch.tensor([0.3, -0.2])
    actions = torch.rand(4, 3, D, generator=g) * 2 - 1
    got = candidate_costs(task, model, prop, obs, actions, _gen(8))
    want = candidate_costs_reference(
        task, model, prop_type, obs, actions, npart=npart, ign_var=False, generator=_gen(8)
    )
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


class NaNAboveTask(PointMassTask):
    """Point mass whose state cost is NaN above 0.5 in the first coordinate."""

    def obs_cost(self, obs: torch.Tensor) -> torch.Tensor:
        cost = super().obs_cost(obs)
        return torch.where(obs[:, 0] > 0.5, torch.nan, cost)


def test_nan_particle_totals_cost_1e6_before_the_mean() -> None:
    # One step, d = a = 1, s0 = 0. Member k of a deterministic ensemble predicts Δ = a + 0.2·k,
    # and under TSinf with P = 10, E = 5 particles 2k, 2k+1 use member k: s1 = a + 0.2·k.
    task = NaNAboveTask(1, 1, ac_lb=np.array([-1.0]), ac_ub=np.array([1.0]), ac_weight=0.5)
    w = torch.tensor([[[0.0], [1.0]]]).expand(E, 2, 1)
    b = 0.2 * torch.arange(E, dtype=torch.float32).view(E, 1)
    model = AffineEnsemble(w, b, None)
    prop = Propagation("TSinf", npart=10, ensemble_size=E, ign_var=True)
    actions = torch.tensor([[[-1.0]], [[0.0]], [[0.4]]])
    got = candidate_costs(task, model, prop, torch.zeros(1), actions, _gen())

    def by_hand(a: float) -> float:
        totals = []
        for k in range(E):
            s1 = a + 0.2 * k
            total = float("nan") if s1 > 0.5 else s1**2 + 0.5 * a**2
            totals += [NAN_COST if np.isnan(total) else total] * 2
        return sum(totals) / 10

    # a = −1: no NaN; a = 0: members 3, 4 NaN (4 of 10 particles); a = 0.4: all but member 0.
    want = torch.tensor([by_hand(-1.0), by_hand(0.0), by_hand(0.4)])
    assert want[1] > 4 * NAN_COST / 10 and want[0] < 10
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-4)


# --- warm start, buffer, reset -------------------------------------------------------------------


def test_warm_start_shifts_left_and_pads_with_the_midpoint() -> None:
    task = PointMassTask(D, D, ac_lb=np.array([0.0, -1.0]), ac_ub=np.array([2.0, 3.0]))
    mpc, spy = _spy_mpc(task, plan_hor=5, per=1)
    midpoint = torch.tensor([1.0, 1.0]).expand(5, D)
    init_var = torch.tensor([2.0**2 / 16, 4.0**2 / 16]).expand(5, D)  # (ub − lb)²/16
    mpc.act(np.zeros(D))
    mpc.act(np.zeros(D))
    (m0, v0), (m1, v1) = spy.calls
    torch.testing.assert_close(m0, midpoint)
    first_plan = 100.0 + torch.arange(10.0).view(5, D)
    torch.testing.assert_close(m1, shift_reference(first_plan, 1, midpoint))
    torch.testing.assert_close(v0, init_var)
    torch.testing.assert_close(v1, init_var)  # the variance is not warm-started


def test_shift_plan_matches_reference() -> None:
    plan = torch.arange(12.0).view(6, 2)
    pad = torch.full((6, 2), -7.0)
    for per in (1, 2, 6):
        torch.testing.assert_close(shift_plan(plan, per, pad), shift_reference(plan, per, pad))


def test_action_buffer_replans_every_per_steps() -> None:
    mpc, spy = _spy_mpc(_task(), plan_hor=5, per=3)
    actions = [mpc.act(np.zeros(D)) for _ in range(7)]
    assert len(spy.calls) == 3  # re-plans before steps 0, 3 and 6
    plans = [100.0 * k + np.arange(10.0).reshape(5, D) for k in (1, 2, 3)]
    want = [plans[0][0], plans[0][1], plans[0][2], plans[1][0], plans[1][1], plans[1][2]]
    np.testing.assert_array_equal(np.stack(actions[:6]), np.stack(want))
    np.testing.assert_array_equal(actions[6], plans[2][0])
    # The second solve starts from the first plan shifted by 3: rows 3, 4, then two midpoints.
    np.testing.assert_array_equal(spy.calls[1][0][:2].numpy(), plans[0][3:])
    np.testing.assert_array_equal(spy.calls[1][0][2:].numpy(), np.zeros((3, D)))
    assert all(a.dtype == np.float32 and a.shape == (D,) for a in actions)


def test_reset_restores_the_midpoint_and_updates_the_goal() -> None:
    task = _task()
    mpc, spy = _spy_mpc(task, plan_hor=4, per=2)
    mpc.act(np.zeros(D))  # plans, buffers one more action
    mpc.reset(SimpleNamespace(goal=np.array([0.25, -0.5])))
    mpc.act(np.zeros(D))  # the buffer was dropped: a fresh plan from the midpoint
    assert len(spy.calls) == 2
    torch.testing.assert_close(spy.calls[1][0], torch.zeros(4, D))
    torch.testing.assert_close(task.goal, torch.tensor([0.25, -0.5]))
    assert task.goal_updates == 1


# --- planning end to end -------------------------------------------------------------------------


def _lq_first_action(s0: np.ndarray, plan_hor: int, ac_weight: float) -> np.ndarray:
    """Minimiser of ‖s0·1 + L·a‖² + λ‖a‖² per dim (L lower-triangular ones): the first action."""
    lower = np.tril(np.ones((plan_hor, plan_hor)))
    q = lower.T @ lower + ac_weight * np.eye(plan_hor)
    a = -np.linalg.solve(q, lower.T @ np.ones(plan_hor))[:, None] * s0[None, :]  # [H, d]
    return a[0]


def _cem_mpc(
    task: PointMassTask, model, prop, *, plan_hor: int, seed: int, device: str = "cpu", **cem
) -> MPC:
    lb, ub = action_bounds(task, plan_hor, device=device, dtype=torch.float32)
    args = dict(popsize=300, num_elites=30, max_iters=5, alpha=0.1, epsilon=1e-3) | cem
    opt = CEMOptimizer(lb=lb, ub=ub, **args)
    gen = torch.Generator(device=device).manual_seed(seed)
    return MPC(task, model, prop, opt, plan_hor=plan_hor, per=1, npart=prop.npart, generator=gen)


def test_mpc_finds_the_known_optimal_first_action() -> None:
    # Exact point-mass model as a DE ensemble under TSinf (every member exact). The LQ optimum
    # lies inside the box. Tolerance as in test_optimizers.test_cem_finds_the_quadratic_minimum:
    # after 20 iterations CEM's σ is ~1e-5; the cost's condition number here is ≈ 15, so 2e-3.
    task = _task(ac_weight=0.5)
    s0 = np.array([0.6, -0.4])
    want = _lq_first_action(s0, 4, 0.5)
    assert np.abs(want).max() < 1.0
    prop = Propagation("TSinf", npart=5, ensemble_size=E, ign_var=True)
    mpc = _cem_mpc(
        task, point_mass_model(D, E, None), prop, plan_hor=4, seed=0, max_iters=20, epsilon=0.0
    )
    np.testing.assert_allclose(mpc.act(s0), want, atol=2e-3)


def _stochastic_mpc(seed: int) -> MPC:
    model = point_mass_model(D, E, 0.01)
    prop = Propagation("TSinf", npart=10, ensemble_size=E, ign_var=False)
    return _cem_mpc(_task(), model, prop, plan_hor=5, seed=seed, popsize=50, num_elites=5)


def test_same_seed_on_cpu_gives_same_actions() -> None:
    obs = np.array([0.6, -0.4])
    a, b, c = _stochastic_mpc(5), _stochastic_mpc(5), _stochastic_mpc(6)
    seq_a = np.stack([a.act(obs + 0.1 * t) for t in range(3)])
    seq_b = np.stack([b.act(obs + 0.1 * t) for t in range(3)])
    np.testing.assert_array_equal(seq_a, seq_b)
    assert not np.array_equal(seq_a[0], c.act(obs))  # another seed, other actions


def test_predict_particles_follow_the_plan() -> None:
    task = _task()
    prop = Propagation("TSinf", npart=10, ensemble_size=E, ign_var=True)
    mpc = _cem_mpc(task, point_mass_model(D, E, None), prop, plan_hor=3, seed=0)
    plan = torch.tensor([[0.1, -0.2], [0.3, 0.0], [-0.5, 0.5]])
    s0 = np.array([1.0, 2.0])
    traj = mpc.predict_particles(s0, plan, _gen())
    assert traj.shape == (4, 10, D)
    want = torch.cat([torch.zeros(1, D), plan.cumsum(0)]) + torch.tensor(s0, dtype=torch.float32)
    torch.testing.assert_close(traj, want[:, None, :].expand(4, 10, D))


def test_mpc_rejects_bad_settings() -> None:
    task = _task()
    prop = Propagation("TSinf", npart=10, ensemble_size=E, ign_var=True)
    model = point_mass_model(D, E, None)
    opt = SpyOptimizer(3, D)
    with pytest.raises(ConfigError, match="per"):
        MPC(task, model, prop, opt, plan_hor=3, per=4, npart=10, generator=_gen())
    with pytest.raises(ConfigError, match="npart 20"):
        MPC(task, model, prop, opt, plan_hor=3, per=1, npart=20, generator=_gen())
    with pytest.raises(ConfigError, match="plan_hor"):
        MPC(task, model, prop, SpyOptimizer(4, D), plan_hor=3, per=1, npart=10, generator=_gen())


def test_replan_has_no_host_sync(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every way Python code reads a tensor's value back raises inside the re-plan; on CUDA each
    # would be a device-to-host synchronisation (and would break graph capture).
    model = point_mass_model(D, E, 0.01)
    for prop_type in PROP_TYPES:
        npart = 1 if prop_type == "E" else 10
        prop = Propagation(prop_type, npart=npart, ensemble_size=E, ign_var=False)
        mpc = _cem_mpc(_task(), model, prop, plan_hor=3, seed=0, popsize=20, num_elites=4)
        mpc._obs.copy_(torch.tensor([0.3, 0.1]))
        with monkeypatch.context() as patch:
            for name in ("__bool__", "__int__", "__float__", "__index__", "item", "tolist"):
                patch.setattr(torch.Tensor, name, _forbidden(name))
            for name in ("cpu", "numpy"):
                patch.setattr(torch.Tensor, name, _forbidden(name))
            plan = mpc.replan()
        assert plan.shape == (3, D)


def _forbidden(name: str) -> Callable[..., None]:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"host sync: Tensor.{name} called inside a re-plan")

    return fail


# --- CUDA (skipped without it) ------------------------------------------------------------------

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def test_a_cpu_controller_never_sets_up_a_graph_capture() -> None:
    """capture="auto" is eager on the CPU: no graph cache, so the CPU re-plan does no extra work
    and logs no capture failure (mutation-score survivors: the "auto" and None tests flipped)."""
    task = _task(ac_weight=0.5)
    prop = Propagation("TSinf", npart=5, ensemble_size=E, ign_var=True)
    model = point_mass_model(D, E, None)
    assert _cem_mpc(task, model, prop, plan_hor=3, seed=0).graph is None
    lb, ub = action_bounds(task, 3, device="cpu", dtype=torch.float32)
    opt = CEMOptimizer(lb=lb, ub=ub, popsize=20, num_elites=2, max_iters=1, alpha=0.1, epsilon=0)
    gen = torch.Generator().manual_seed(0)
    eager = MPC(task, model, prop, opt, plan_hor=3, per=1, npart=5, generator=gen, capture=None)
    assert eager.graph is None


# The setup runs on every device; only the CUDA-specific part needs a GPU.
DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu, requires_cuda])]


@pytest.mark.parametrize("device", DEVICES)
def test_replan_never_synchronises(device: str) -> None:
    model = point_mass_model(D, E, 0.01).to(device)
    task = PointMassTask(D, D, ac_lb=np.full(D, -1.0), ac_ub=np.full(D, 1.0), device=device)
    for prop_type in PROP_TYPES:
        npart = 1 if prop_type == "E" else 10
        prop = Propagation(prop_type, npart=npart, ensemble_size=E, ign_var=False)
        mpc = _cem_mpc(
            task, model, prop, plan_hor=3, seed=0, device=device, popsize=20, num_elites=2
        )
        mpc.load_observation(np.array([0.3, 0.1]))
        mpc.replan()  # first call: lazy CUDA initialisation may synchronise
        if device != "cuda":
            assert torch.isfinite(mpc.replan()).all()
            continue
        replan_without_host_sync(mpc)


@pytest.mark.parametrize("device", DEVICES)
def test_captured_replan_finds_the_known_optimal_first_action(device: str) -> None:
    # As test_mpc_finds_the_known_optimal_first_action, but for two observations through the
    # re-plan a run uses: on CUDA a captured graph that reads the loaded observation and the
    # shifted warm start, on the CPU the eager re-plan with the same buffers.
    task = PointMassTask(D, D, ac_lb=np.full(D, -1.0), ac_ub=np.full(D, 1.0), device=device)
    prop = Propagation("TSinf", npart=5, ensemble_size=E, ign_var=True)
    model = point_mass_model(D, E, None).to(device)
    mpc = _cem_mpc(task, model, prop, plan_hor=4, seed=0, device=device, max_iters=20, epsilon=0.0)
    replay = capture_replan(mpc) if device == "cuda" else mpc.replan
    for s0 in (np.array([0.6, -0.4]), np.array([-0.3, 0.5])):
        mpc.load_observation(s0)
        first = replay()[0].cpu().numpy()
        np.testing.assert_allclose(first, _lq_first_action(s0, 4, 0.5), atol=2e-3)
