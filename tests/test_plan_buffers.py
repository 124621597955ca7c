"""The re-plan's buffered TSinf forward (pets.planning.forward, `Propagation.propagate`).

Two kinds of check, so that every one holds on any CPU:

* The forward's arithmetic: `PlanningForward` (`bmm` then bias `add_`) and `Ensemble.forward`
  (`baddbmm`) are different kernels, and how each rounds depends on the CPU and its BLAS (an AMD
  EPYC's MKL path differs from an Intel Xeon's). Both are held to the exact forward (the model
  in float64) within the rounding bound `rounding.forward_bound` derives, and the particle loop
  of `reference_planning.propagate_reference` likewise (`rounding.sample_bound`).
* The buffering and grouping logic: the buffered path against the generic propagation path and
  the eager candidate cost written out here as it was before the buffers (cat of inputs,
  grouping copies, fresh tensors per op), with the model behind `SameKernels`, whose forward
  runs the same `bmm` + `add_` kernels in the same order. Those must agree bit for bit on any
  one machine, so any difference is a logic error, not rounding.

Every test runs twice (`rounding` fixture): natively, and with `torch.bmm` summing its inner
dimension in another order (`rounding.reordered_bmm`), the kind of change another CPU makes.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from reference_planning import propagate_reference
from rounding import forward_bound, max_relative, reordered_bmm, sample_bound, unit_roundoff
from torch import Tensor, nn

from pets.config import apply_override, default_config
from pets.envs import make_env, make_task
from pets.models import Ensemble
from pets.planning.forward import PlanningForward, forward_key
from pets.planning.mpc import NAN_COST, PlanningTask, candidate_costs
from pets.planning.propagation import DynamicsModel, Propagation
from pets.run.experiment import build_controller, build_model


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


@pytest.fixture(autouse=True, params=["native", "reordered"])
def rounding(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test natively and with `bmm` rounding otherwise (the fast path's kernel only)."""
    if request.param == "reordered":
        monkeypatch.setattr(torch, "bmm", reordered_bmm)
    return str(request.param)


class SameKernels(nn.Module):
    """Not an `Ensemble`, so `Propagation.propagate` takes the generic path (the old eager one).

    Its forward runs a fresh `PlanningForward` on whatever the generic path hands it: the same
    `bmm` + `add_` kernels, in the same order and on the same shapes, as the buffered path, so
    the two paths agree bit for bit on one machine and only the logic around the forward is
    compared. That forward is held to the exact one by the first tests of this file.
    """

    def __init__(self, model: Ensemble) -> None:
        super().__init__()
        self.model = model
        self.ensemble_size, self.in_dim, self.out_dim = (
            model.ensemble_size,
            model.in_dim,
            model.out_dim,
        )

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        return fresh_forward(self.model, x)


def fresh_forward(model: Ensemble, x: Tensor) -> tuple[Tensor, Tensor | None]:
    """`PlanningForward` in new buffers: mean, var for [E, B, d_in] inputs (copies)."""
    fwd = PlanningForward(model, x.shape[1])
    fwd.input.copy_(x)
    mean, var = fwd(model)
    return mean.clone(), None if var is None else var.clone()


def exact_forward(model: Ensemble, x: Tensor) -> tuple[Tensor, Tensor | None]:
    """The model's forward in float64: the exact values, to ~1e-16 relative."""
    with torch.no_grad():
        return copy.deepcopy(model).to(torch.float64)(x.to(torch.float64))


def assert_within_bound(got: Tensor, exact: Tensor, bound: Tensor, what: str) -> None:
    ratio = max_relative(got, exact, bound)
    print(f"{what}: {ratio:.3g} of the bound")
    assert ratio <= 1.0, f"{what}: off by {ratio:.3g} × the rounding bound"


# --- the buffered forward ------------------------------------------------------------------------


@pytest.mark.parametrize("probabilistic", [True, False], ids=["PE", "DE"])
def test_planning_forward_is_within_rounding_of_the_exact_forward(probabilistic: bool) -> None:
    """Both the buffered and the eager forward within `forward_bound` of the float64 forward.

    The bound is about 1e-5 relative at these sizes; a dropped bias, a missing swish, the scaler
    or a log-variance bound applied wrongly are off by the size of that term (≥ 1e-2).
    """
    model = _ensemble(probabilistic=probabilistic)
    x = torch.randn(2, 24, 6, generator=_gen(2)) * 3
    fwd = PlanningForward(model, 24)
    fwd.input.copy_(x)
    mean, var = fwd(model)
    eager_mean, eager_var = model(x)
    want_mean, want_var = exact_forward(model, x)
    mean_bound, var_bound = forward_bound(model, x)
    assert_within_bound(mean, want_mean, mean_bound, "buffered mean")
    assert_within_bound(eager_mean, want_mean, mean_bound, "eager mean")
    if probabilistic:
        assert var is not None and eager_var is not None
        assert want_var is not None and var_bound is not None
        assert_within_bound(var, want_var, var_bound, "buffered var")
        assert_within_bound(eager_var, want_var, var_bound, "eager var")
        assert (want_var > want_var.min() * 2).any()  # the bounded range is exercised, not flat
    else:
        assert var is None


@pytest.mark.parametrize("env", ["cartpole", "reacher", "pusher", "halfcheetah"])
def test_planning_forward_is_within_rounding_at_the_paper_shapes(env: str) -> None:
    """The envs' networks (200- and 500-wide) at a re-plan's rows per member (400·20/5).

    Inputs scaled by a fitted-looking scaler, so the layers see the magnitudes of planning.
    """
    _, model, _, _ = _env_setup(env)
    rows = 1600 if env == "cartpole" else 400
    g = _gen(9)
    with torch.no_grad():
        model.scaler.mu.normal_(generator=g)
        model.scaler.sigma.uniform_(0.5, 2.0, generator=g)
    x = torch.randn(model.ensemble_size, rows, model.in_dim, generator=g) * 2
    mean, var = fresh_forward(model, x)
    want_mean, want_var = exact_forward(model, x)
    mean_bound, var_bound = forward_bound(model, x)
    assert_within_bound(mean, want_mean, mean_bound, f"{env} mean")
    assert var is not None and want_var is not None and var_bound is not None
    assert_within_bound(var, want_var, var_bound, f"{env} var")


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
    assert torch.equal(mean2, fresh_forward(model, x)[0])  # same kernels: bit for bit
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
    # Both against the exact sample: TSinf gives row m to member (m mod P)/(P/E), and draws
    # its noise [M, d_out] last, so the same generator gives the same ε to both.
    member = (torch.arange(N * P) % P) // (P // E)  # [M]
    every = rows.expand(E, -1, -1)  # every row through every member: [E, M, d_in]
    mean, var = exact_forward(model, every)
    mean_err, var_err = forward_bound(model, every)
    assert var is not None and var_err is not None
    pick = torch.arange(N * P)
    eps = torch.randn(N * P, 4, generator=_gen(5)).to(torch.float64)
    exact = mean[member, pick] + eps * var[member, pick].sqrt()
    u = unit_roundoff(torch.float32)
    bound = sample_bound(
        mean[member, pick], var[member, pick], mean_err[member, pick], var_err[member, pick], eps, u
    )
    assert_within_bound(got, exact, bound, "buffered TSinf")
    assert_within_bound(want, exact, bound, "particle loop")


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
    want = _buffered(prop, SameKernels(model), features, actions, seed=6)
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
    assert torch.equal(fewer, _buffered(prop, SameKernels(model), features[:P], actions[:1], 7))
    want = _buffered(prop, SameKernels(wide), features.double(), actions.double(), 7)
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
    """`pets.planning.mpc.candidate_costs` as it was before the buffers: the reference oracle."""
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


@pytest.mark.parametrize(
    ("env", "candidates"), [("cartpole", 400), ("reacher", 16), ("pusher", 16), ("halfcheetah", 16)]
)
def test_candidate_costs_equal_the_eager_path_bit_for_bit(env: str, candidates: int) -> None:
    """The buffered costs against the eager ones, the same forward kernels on both sides.

    Cartpole at the paper's 400 candidates (1600 rows per member of its 500-wide layers).
    """
    task, model, prop, obs = _env_setup(env)
    actions = torch.rand(candidates, 3, task.act_dim, generator=_gen(1)) * 2 - 1
    with torch.no_grad():
        got = candidate_costs(task, model, prop, obs, actions, _gen(2))
        want = _eager_costs(task, SameKernels(model), prop, obs, actions, _gen(2))
    assert len(prop._forwards) == 1
    assert torch.equal(got, want)


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
    eager = build_controller(cfg, task, SameKernels(model), _gen(3))  # type: ignore[arg-type]
    for mpc in (buffered, eager):
        mpc.reset(gym_env)
    got = np.stack([buffered.act(obs) for _ in range(3)])
    want = np.stack([eager.act(obs) for _ in range(3)])
    gym_env.close()
    assert len(buffered.propagation._forwards) == 1
    assert np.array_equal(got, want) and np.ptp(got) > 0
