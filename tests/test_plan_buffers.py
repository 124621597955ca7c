"""The re-plan's buffered TSinf forward (pets.planning_forward, `Propagation.propagate`).

Oracles: the plain `Ensemble.forward` (the eager path every other caller uses), the particle loop
of `reference_planning.propagate_reference`, and the eager candidate cost written out here as
it was before the buffers (cat of inputs, grouping copies, fresh tensors per op). Where the
layers' `bmm` + bias `add_` rounds as `baddbmm` does (inner dims ≤ 200 on this CPU), results
must be equal bit for bit; for cartpole's 500-wide layers costs must stay within 1e-5 relative
(the bound for any change that alters the planner's float rounding).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from reference_planning import propagate_reference
from torch import Tensor, nn

from pets.config import apply_override, default_config
from pets.envs import make_env, make_task
from pets.experiment import build_controller, build_model
from pets.models import Ensemble
from pets.mpc import NAN_COST, PlanningTask, candidate_costs
from pets.planning_forward import PlanningForward, forward_key
from pets.propagation import DynamicsModel, Propagation


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _ensemble(
    in_dim: int = 6,
    out_dim: int = 4,
    *,
    width: int = 32,
    e: int = 2,
    probabilistic: bool = True,
    dtype: torch.dtype = torch.float32,
) -> Ensemble:
    """A small PE/DE with a non-trivial scaler and log-variance bounds (all code paths live)."""
    model = Ensemble(
        in_dim, out_dim, ensemble_size=e, hidden_layers=2, hidden_width=width,
        weight_decays=[0.0] * 3, probabilistic=probabilistic, generator=_gen(0),
    )  # fmt: skip
    g = _gen(1)
    with torch.no_grad():
        for layer in model.layers:
            layer.bias.normal_(generator=g)  # nonzero biases: a dropped bias shows
        model.layers[-1].weight.mul_(30.0)  # raw log-variances beyond softplus's threshold 20
        model.scaler.mu.normal_(generator=g)
        model.scaler.sigma.uniform_(0.5, 2.0, generator=g)
        if model.max_logvar is not None and model.min_logvar is not None:
            model.max_logvar.add_(torch.rand(1, out_dim, generator=g))
            model.min_logvar.add_(torch.rand(1, out_dim, generator=g))
    return model.to(dtype)


class Plain(nn.Module):
    """Not an `Ensemble`: `Propagation.propagate` takes the generic path (the old eager one)."""

    def __init__(self, model: Ensemble) -> None:
        super().__init__()
        self.model = model
        self.ensemble_size, self.in_dim, self.out_dim = (
            model.ensemble_size,
            model.in_dim,
            model.out_dim,
        )

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        return self.model(x)


# --- the buffered forward ------------------------------------------------------------------------


@pytest.mark.parametrize("probabilistic", [True, False])
def test_planning_forward_equals_the_ensemble_forward_bit_for_bit(probabilistic: bool) -> None:
    model = _ensemble(probabilistic=probabilistic)
    x = torch.randn(2, 24, 6, generator=_gen(2)) * 3
    fwd = PlanningForward(model, 24)
    fwd.input.copy_(x)
    mean, var = fwd(model)
    want_mean, want_var = model(x)
    assert torch.equal(mean, want_mean)
    if probabilistic:
        assert var is not None and want_var is not None
        assert torch.equal(var, want_var)
        assert (var > want_var.min() / 2).all()  # the bounded range is exercised, not NaN
    else:
        assert var is None


def test_planning_forward_reuses_its_buffers_and_reads_weights_written_in_place() -> None:
    model = _ensemble()
    fwd = PlanningForward(model, 8)
    x = torch.randn(2, 8, 6, generator=_gen(3))
    fwd.input.copy_(x)
    mean1, var1 = fwd(model)
    ptrs = (mean1.data_ptr(), None if var1 is None else var1.data_ptr())
    mean1 = mean1.clone()
    with torch.no_grad():  # as training does: in place, same addresses
        model.layers[0].weight.mul_(1.5)
        model.scaler.mu.add_(0.25)
    fwd.input.copy_(x)
    mean2, var2 = fwd(model)
    assert (mean2.data_ptr(), None if var2 is None else var2.data_ptr()) == ptrs
    assert not torch.equal(mean1, mean2)
    assert torch.equal(mean2, model(x)[0])
    assert fwd.key == forward_key(model, 8) != forward_key(model, 9)
    assert fwd.key != forward_key(copy.deepcopy(model).to(torch.float64), 8)


# --- Propagation.propagate -----------------------------------------------------------------------

N, P, E = 3, 4, 2


def _inputs(f: int = 4, a: int = 2) -> tuple[Tensor, Tensor]:
    g = _gen(4)
    return torch.randn(N * P, f, generator=g), torch.randn(N, a, generator=g)


def _buffered(
    prop: Propagation, model: DynamicsModel, features: Tensor, actions: Tensor, seed: int
) -> Tensor:
    with torch.no_grad():
        return prop.propagate(model, features, actions, _gen(seed)).clone()


def test_tsinf_propagate_matches_the_particle_loop_reference() -> None:
    model = _ensemble()
    features, actions = _inputs()
    prop = Propagation("TSinf", npart=P, ensemble_size=E, ign_var=False)
    got = _buffered(prop, model, features, actions, seed=5)
    assert len(prop._forwards) == 1  # the buffered path ran, not the generic one
    rows = torch.cat([features, actions.repeat_interleave(P, dim=0)], dim=1)  # [M, d_in]
    with torch.no_grad():
        want = propagate_reference("TSinf", model, rows, npart=P, ign_var=False, generator=_gen(5))
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("probabilistic", "ign_var"), [(True, False), (True, True), (False, False)]
)
def test_tsinf_propagate_equals_the_generic_path_bit_for_bit(
    probabilistic: bool, ign_var: bool
) -> None:
    model = _ensemble(probabilistic=probabilistic)
    features, actions = _inputs()
    prop = Propagation("TSinf", npart=P, ensemble_size=E, ign_var=ign_var)
    got = _buffered(prop, model, features, actions, seed=6)
    want = _buffered(prop, Plain(model), features, actions, seed=6)
    assert len(prop._forwards) == 1
    assert torch.equal(got, want)


@pytest.mark.parametrize("prop_type", ["E", "DS", "TS1", "MM"])
def test_other_propagations_take_the_generic_path(prop_type: str) -> None:
    model = _ensemble()
    npart = 1 if prop_type == "E" else P
    g = _gen(4)
    features, actions = torch.randn(N * npart, 4, generator=g), torch.randn(N, 2, generator=g)
    prop = Propagation(prop_type, npart=npart, ensemble_size=E, ign_var=False)
    got = _buffered(prop, model, features, actions, seed=6)
    rows = torch.cat([features, actions.repeat_interleave(npart, dim=0)], dim=1)  # [M, d_in]
    with torch.no_grad():
        want = prop(model, rows, _gen(6))
    assert not prop._forwards
    assert torch.equal(got, want)


def test_propagate_keeps_one_buffer_set_per_shape() -> None:
    model = _ensemble()
    features, actions = _inputs()
    prop = Propagation("TSinf", npart=P, ensemble_size=E, ign_var=False)
    with torch.no_grad():
        first = prop.propagate(model, features, actions, _gen(7))
        again = prop.propagate(model, features, actions, _gen(8))
        assert again.data_ptr() == first.data_ptr()  # reused, not reallocated
        # Fewer candidates, then float64: new buffers, while the first set stays alive (a
        # captured re-plan keeps replaying on its addresses).
        fewer = prop.propagate(model, features[:P], actions[:1], _gen(7))
        wide = copy.deepcopy(model).to(torch.float64)
        f64 = prop.propagate(wide, features.double(), actions.double(), _gen(7))
    assert len(prop._forwards) == 3
    assert f64.dtype == torch.float64
    assert torch.equal(fewer, _buffered(prop, Plain(model), features[:P], actions[:1], 7))
    want = _buffered(prop, Plain(wide), features.double(), actions.double(), 7)
    assert torch.equal(f64, want)


def test_propagate_rejects_inputs_that_do_not_fit_the_model() -> None:
    model = _ensemble()
    features, actions = _inputs()
    prop = Propagation("TSinf", npart=P, ensemble_size=E, ign_var=False)
    with torch.no_grad(), pytest.raises(ValueError, match="d_in 6"):
        prop.propagate(model, features[:, :3], actions, _gen(0))


# --- candidate costs and the MPC at the envs' architectures --------------------------------------


def _eager_costs(
    task: PlanningTask, model: DynamicsModel, prop: Propagation, obs: Tensor, actions: Tensor,
    generator: torch.Generator,
) -> Tensor:  # fmt: skip
    """`pets.mpc.candidate_costs` as it was before the buffers: the reference oracle."""
    n, h, a = actions.shape
    p = prop.npart
    state = obs.expand(n * p, -1)
    acts = actions.transpose(0, 1).unsqueeze(2).expand(h, n, p, a).reshape(h, n * p, a)
    ac_costs = task.ac_cost(actions.reshape(n * h, a)).view(n, h)
    total = torch.zeros((n, p), dtype=actions.dtype)
    for t in range(h):
        inputs = torch.cat([task.obs_preproc(state), acts[t]], dim=-1)
        state = task.obs_postproc(state, prop(model, inputs, generator))
        total = total + task.obs_cost(state).view(n, p) + ac_costs[:, t : t + 1]
    total = torch.where(total.isnan(), NAN_COST, total)
    return total.mean(dim=1)


def _nonzero_biases(model: object) -> Ensemble:
    """Biases as after training: the zeros of the initialisation hide how they are rounded."""
    assert isinstance(model, Ensemble)
    with torch.no_grad():
        for layer in model.layers:
            layer.bias.normal_(std=0.1, generator=_gen(5))
    return model


def _env_setup(env: str) -> tuple[PlanningTask, Ensemble, Propagation, Tensor]:
    cfg = default_config(env)
    task = make_task(env)
    model = _nonzero_biases(build_model(cfg, task, torch.device("cpu"), _gen(0)))
    gym_env = make_env(env)
    obs, _ = gym_env.reset(seed=0)
    task.update_goal(gym_env)
    gym_env.close()
    prop = Propagation("TSinf", npart=20, ensemble_size=5, ign_var=False)
    return task, model, prop, torch.as_tensor(obs, dtype=torch.float32)


@pytest.mark.parametrize("env", ["reacher", "pusher", "halfcheetah"])
def test_candidate_costs_equal_the_eager_path_bit_for_bit(env: str) -> None:
    task, model, prop, obs = _env_setup(env)
    actions = torch.rand(16, 4, task.act_dim, generator=_gen(1)) * 2 - 1
    with torch.no_grad():
        got = candidate_costs(task, model, prop, obs, actions, _gen(2))
        want = _eager_costs(task, model, prop, obs, actions, _gen(2))
    assert len(prop._forwards) == 1
    assert torch.equal(got, want)


def test_cartpole_costs_at_the_paper_rows_stay_within_1e5_relative() -> None:
    # 400 candidates × 20 particles / 5 members = 1600 rows per member, the 500-wide layers of
    # the paper's cartpole: here bmm + add_ rounds the bias differently from baddbmm.
    task, model, prop, obs = _env_setup("cartpole")
    actions = torch.rand(400, 3, task.act_dim, generator=_gen(1)) * 2 - 1
    with torch.no_grad():
        got = candidate_costs(task, model, prop, obs, actions, _gen(2))
        want = _eager_costs(task, model, prop, obs, actions, _gen(2))
    assert len(prop._forwards) == 1
    rel = ((got - want).abs() / want.abs()).max()
    print(f"max relative cost difference {rel:.2e}")
    assert rel <= 1e-5


def test_nan_particle_totals_still_cost_1e6_on_the_buffered_path() -> None:
    task, model, prop, obs = _env_setup("reacher")
    with torch.no_grad():
        model.layers[-1].bias[1].fill_(float("nan"))  # member 1's particles turn NaN
        actions = torch.zeros(4, 2, task.act_dim)
        got = candidate_costs(task, model, prop, obs, actions, _gen(0))
    # 4 of 20 particles per candidate are member 1's: NaN -> 1e6 each, in the mean.
    assert torch.all(got > 4 / 20 * NAN_COST * 0.99)
    assert torch.all(got < 4 / 20 * NAN_COST * 1.01)


def test_reacher_mpc_plans_the_same_actions_as_the_eager_path() -> None:
    cfg = default_config("reacher")
    small = {"plan_hor": "4", "cfg.popsize": "20", "cfg.num_elites": "4", "cfg.max_iters": "2"}
    for path, value in small.items():
        cfg = apply_override(cfg, f"ctrl_cfg.opt_cfg.{path}", value)
    task = make_task("reacher")
    model = _nonzero_biases(build_model(cfg, task, torch.device("cpu"), _gen(0)))
    gym_env = make_env("reacher")
    obs, _ = gym_env.reset(seed=0)
    buffered = build_controller(cfg, task, model, _gen(3))
    eager = build_controller(cfg, task, Plain(model), _gen(3))  # type: ignore[arg-type]
    for mpc in (buffered, eager):
        mpc.reset(gym_env)
    got = np.stack([buffered.act(obs) for _ in range(3)])
    want = np.stack([eager.act(obs) for _ in range(3)])
    gym_env.close()
    assert len(buffered.propagation._forwards) == 1
    assert np.array_equal(got, want) and np.ptp(got) > 0
