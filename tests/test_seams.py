"""Seams between modules: training data vs a hand-built expectation, config -> built objects.

The training data of every task is rebuilt here from a short real rollout with the spec's
per-env formulas written out in numpy (`docs/spec/pets-facts.md` §4.3, §5.5); the config wiring is
checked for every model type and prop type against the spec's matrix (§6.3, §6.4).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pets.config import ALLOWED_PROPS, default_config
from pets.envs import make_env, make_task
from pets.planning.optimizers import CEMOptimizer, RandomOptimizer
from pets.run.experiment import build_controller, build_model
from pets.run.rollout import RandomPolicy, rollout, training_data


def _expected_inputs_targets(env: str, o: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, ...]:
    """§4.3: inputs = obs_preproc(o_t) ++ a_t, targets = targ_proc(o_t, o_{t+1})."""
    now, nxt = o[:-1], o[1:]
    if env == "cartpole":  # [sin θ, cos θ, x, ẋ, θ̇]
        pre = np.stack([np.sin(now[:, 1]), np.cos(now[:, 1]), now[:, 0], now[:, 2], now[:, 3]], 1)
        targ = nxt - now
    elif env == "halfcheetah":  # drops o0; o0 is predicted absolutely, the rest as deltas
        pre = np.concatenate(
            [now[:, 1:2], np.sin(now[:, 2:3]), np.cos(now[:, 2:3]), now[:, 3:]], axis=1
        )
        targ = np.concatenate([nxt[:, :1], nxt[:, 1:] - now[:, 1:]], axis=1)
    else:  # reacher, pusher: identity, deltas
        pre, targ = now, nxt - now
    return np.concatenate([pre, a], axis=1), targ


@pytest.mark.parametrize("env", ["cartpole", "reacher", "pusher", "halfcheetah"])
def test_training_data_of_a_real_rollout_matches_the_spec(env: str) -> None:
    gym_env = make_env(env)
    gym_env.reset(seed=4)
    task = make_task(env, dtype=torch.float64)
    policy = RandomPolicy(task.ac_lb, task.ac_ub, np.random.default_rng(0))
    episodes = [rollout(gym_env, policy, 6), rollout(gym_env, policy, 4)]
    inputs, targets = training_data(task, episodes)
    exp = [_expected_inputs_targets(env, e.observations, e.actions) for e in episodes]
    exp_in = np.concatenate([x for x, _ in exp])
    exp_t = np.concatenate([t for _, t in exp])
    assert (
        inputs.shape == exp_in.shape and targets.shape == exp_t.shape
    )  # 10 rows, no cross-episode
    np.testing.assert_allclose(inputs.numpy(), exp_in, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(targets.numpy(), exp_t, rtol=1e-6, atol=1e-6)
    # the targets are informative: the state moved, so target ≠ next state and ≠ 0
    assert np.abs(exp_t).max() > 1e-4


@pytest.mark.parametrize("env", ["cartpole", "reacher", "pusher", "halfcheetah"])
def test_postproc_inverts_targ_proc(env: str) -> None:
    # the planner's next state from a perfect prediction is the real next state (§4.3)
    gym_env = make_env(env)
    gym_env.reset(seed=1)
    task = make_task(env, dtype=torch.float64)
    policy = RandomPolicy(task.ac_lb, task.ac_ub, np.random.default_rng(1))
    ep = rollout(gym_env, policy, 5)
    o = torch.as_tensor(ep.observations)
    pred = task.targ_proc(o[:-1], o[1:])
    torch.testing.assert_close(task.obs_postproc(o[:-1], pred), o[1:])


# docs/spec/pets-facts.md §6.4: model type -> (probabilistic head, ensemble size)
MODEL_TYPES = {"D": (False, 1), "P": (True, 1), "DE": (False, 5), "PE": (True, 5)}
COMBOS = [(m, p) for m, props in ALLOWED_PROPS.items() for p in props if m in MODEL_TYPES]


@pytest.mark.parametrize(("model_type", "prop_type"), COMBOS, ids=[f"{m}-{p}" for m, p in COMBOS])
def test_config_builds_the_named_model_and_propagation(model_type: str, prop_type: str) -> None:
    probabilistic, members = MODEL_TYPES[model_type]
    cfg = default_config("cartpole", model_type=model_type, prop_type=prop_type)
    task = make_task("cartpole")
    model = build_model(cfg, task, torch.device("cpu"))
    assert model.ensemble_size == members
    assert model.probabilistic is probabilistic
    out_width = model.layers[-1].weight.shape[-1]
    assert out_width == (8 if probabilistic else 4)  # mean (+ log-variance) of 4 state dims
    mean, var = model(torch.zeros(members, 3, 6))
    assert mean.shape == (members, 3, 4)
    assert (var is not None) is probabilistic
    assert (model.max_logvar is not None) is probabilistic
    mpc = build_controller(cfg, task, model, torch.Generator().manual_seed(0))
    prop = mpc.propagation
    assert prop.prop_type == prop_type
    assert prop.ensemble_size == members
    assert prop.npart == mpc.npart == (1 if prop_type == "E" else 20)
    # DE under TS uses the means only (read-only in the original); nowhere else
    assert prop.ign_var is (model_type == "DE" and prop_type in ("TS1", "TSinf"))
    assert isinstance(mpc.optimizer, CEMOptimizer)
    assert (mpc.optimizer.popsize, mpc.optimizer.num_elites) == (400, 40)
    assert mpc.plan_hor == 25


@pytest.mark.parametrize(
    ("env", "prop_type", "inducing"),
    [("cartpole", "E", 200), ("cartpole", "DS", 200), ("halfcheetah", "MM", 300)],
)
def test_config_builds_the_gp_with_the_originals_inducing_points(
    env: str, prop_type: str, inducing: int
) -> None:
    # §5 (TFGP): 200 inducing points (cartpole, reacher, pusher), 300 (half-cheetah); the
    # GP allows E, DS and MM only, and E plans with one particle
    from pets.models import SparseGP

    assert set(ALLOWED_PROPS["GP"]) == {"E", "DS", "MM"}
    cfg = default_config(env, model_type="GP", prop_type=prop_type)
    task = make_task(env)
    model = build_model(cfg, task, torch.device("cpu"))
    assert isinstance(model, SparseGP)
    assert model.num_inducing == inducing
    assert (model.in_dim, model.out_dim) == (task.model_in_dim, task.model_out_dim)
    mpc = build_controller(cfg, task, model, torch.Generator().manual_seed(0))
    assert mpc.propagation.prop_type == prop_type
    assert mpc.npart == (1 if prop_type == "E" else 20)


def test_random_shooting_is_built_with_its_popsize() -> None:
    cfg = default_config("pusher", opt_type="Random")
    task = make_task("pusher")
    model = build_model(cfg, task, torch.device("cpu"))
    mpc = build_controller(cfg, task, model, torch.Generator().manual_seed(0))
    assert isinstance(mpc.optimizer, RandomOptimizer)
    assert mpc.optimizer.popsize == 2500
    np.testing.assert_array_equal(mpc.optimizer.lb.numpy(), np.full((25, 7), -2.0))
    np.testing.assert_array_equal(mpc.optimizer.ub.numpy(), np.full((25, 7), 2.0))


@pytest.mark.parametrize("model_type", ["D", "P", "DE", "PE"])
def test_the_built_model_is_trained_with_its_own_loss(model_type: str) -> None:
    # a deterministic model's loss is ½·MSE (§5.4); a probabilistic one's the NLL (§5.3):
    # with zero weights (mean 0, logvar at its bound) the two differ in a known way
    from pets.models.losses import model_loss

    probabilistic, members = MODEL_TYPES[model_type]
    cfg = default_config("cartpole", model_type=model_type, prop_type="E")
    model = build_model(cfg, make_task("cartpole"), torch.device("cpu"))
    with torch.no_grad():
        for layer in model.layers:
            layer.weight.zero_()
            layer.bias.zero_()
    x = torch.zeros(members, 4, 6)
    y = torch.full((members, 4, 4), 2.0)
    loss = float(model_loss(model, x, y).detach())
    if probabilistic:
        # raw logvar 0: l1 = 0.5 − softplus(0.5); logvar = −10 + softplus(l1 + 10)
        l1 = 0.5 - float(torch.nn.functional.softplus(torch.tensor(0.5)))
        lv = -10 + float(torch.nn.functional.softplus(torch.tensor(l1 + 10)))
        per_member = 4.0 * np.exp(-lv) + lv
        expected = members * per_member + 0.01 * 4 * 0.5 - 0.01 * 4 * -10
    else:
        expected = members * 0.5 * 4.0
    assert loss == pytest.approx(expected, rel=1e-5)
