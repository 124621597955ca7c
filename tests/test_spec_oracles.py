"""Spec constants at the seams, pinned as literals copied from `docs/spec/pets-facts.md`.

Nothing here imports a constant from the module under test: every number below was typed from
the fact sheet (§2.1, §3, §4.1–§4.3, §5.5), so a changed weight, width, decay, learning rate,
planner setting or cost formula fails here even when the env and the task share the constant.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from pets.config import CEMCfg, RandomCfg, default_config
from pets.envs import make_env, make_task
from pets.models import make_optimizer
from pets.models.losses import weight_decay_loss
from pets.run.experiment import build_model

ENVS = ("cartpole", "reacher", "pusher", "halfcheetah")

# §4.1 (TASK_HORIZON, NTRAIN_ITERS, PLAN_HOR, CEM popsize/elites, Random popsize, MODEL_IN/OUT)
# env: task_hor, ntrain, plan_hor, CEM popsize, CEM elites, Random popsize, (model in, model out)
SCALARS = {
    "cartpole": (200, 50, 25, 400, 40, 2000, (6, 4)),
    "reacher": (150, 100, 25, 400, 40, 2000, (24, 17)),
    "pusher": (150, 100, 25, 500, 50, 2500, (27, 20)),
    "halfcheetah": (1000, 300, 30, 500, 50, 2500, (24, 18)),
}
KEYS = ("task_hor", "ntrain", "plan_hor", "pop", "elites", "rpop", "io")
# §4.2: hidden layers, width, per-layer weight decay (input -> output), learning rate
NETS = {
    "cartpole": (3, 500, (1e-4, 2.5e-4, 2.5e-4, 5e-4), 1e-3),
    "reacher": (4, 200, (2.5e-4, 5e-4, 5e-4, 5e-4, 7.5e-4), 7.5e-4),
    "pusher": (3, 200, (2.5e-4, 5e-4, 5e-4, 7.5e-4), 1e-3),
    "halfcheetah": (4, 200, (2.5e-5, 5e-5, 7.5e-5, 7.5e-5, 1e-4), 1e-3),
}


@pytest.mark.parametrize("env", ENVS)
def test_default_config_matches_the_spec_tables(env: str) -> None:
    s = dict(zip(KEYS, SCALARS[env], strict=True))
    cfg = default_config(env)
    assert cfg.exp_cfg.sim_cfg.task_hor == s["task_hor"]
    assert cfg.exp_cfg.sim_cfg.stochastic is False
    loop = cfg.exp_cfg.exp_cfg
    assert (loop.ntrain_iters, loop.nrollouts_per_iter, loop.ninit_rollouts) == (s["ntrain"], 1, 1)
    assert (cfg.exp_cfg.log_cfg.neval, cfg.exp_cfg.log_cfg.nrecord) == (1, 0)
    assert cfg.ctrl_cfg.per == 1
    opt = cfg.ctrl_cfg.opt_cfg
    assert (opt.opt_type, opt.plan_hor) == ("CEM", s["plan_hor"])
    assert isinstance(opt.cfg, CEMCfg)
    c = opt.cfg
    assert (c.popsize, c.num_elites, c.max_iters) == (s["pop"], s["elites"], 5)
    assert (c.alpha, c.epsilon) == (0.1, 0.001)
    prop = cfg.ctrl_cfg.prop_cfg
    assert (prop.prop_type, prop.npart, prop.ign_var, prop.model_pretrained) == (
        "TSinf",
        20,
        False,
        False,
    )
    train = prop.model_train_cfg
    assert (train.epochs, train.batch_size, train.holdout_ratio) == (5, 32, 0.0)
    init = prop.model_init_cfg
    layers, width, decays, lr = NETS[env]
    assert (init.model_type, init.num_nets) == ("PE", 5)
    assert (init.hidden_layers, init.hidden_width) == (layers, width)
    assert tuple(init.weight_decays) == decays
    assert init.lr == lr
    random = default_config(env, opt_type="Random").ctrl_cfg.opt_cfg.cfg
    assert isinstance(random, RandomCfg) and random.popsize == s["rpop"]
    assert default_config(env, prop_type="E").ctrl_cfg.prop_cfg.npart == 1


@pytest.mark.parametrize("env", ENVS)
def test_built_model_has_the_spec_architecture_decays_and_adam(env: str) -> None:
    layers, width, decays, lr = NETS[env]
    d_in, d_out = SCALARS[env][-1]
    cfg = default_config(env)
    model = build_model(cfg, make_task(env), torch.device("cpu"))
    shapes = [tuple(layer.weight.shape) for layer in model.layers]
    # PE: 5 members, swish hidden layers, output doubled for mean and log-variance (§4.2)
    dims = [d_in] + [width] * layers + [2 * d_out]
    assert shapes == [(5, a, b) for a, b in itertools.pairwise(dims)]
    # the decay term is Σ λ_l·½‖W_l‖² with the spec's λ per layer (§5.1)
    weights = [layer.weight.detach().double() for layer in model.layers]
    expected = sum(
        lam * 0.5 * float(w.square().sum()) for lam, w in zip(decays, weights, strict=True)
    )
    assert float(weight_decay_loss(model).detach()) == pytest.approx(expected, rel=1e-5)
    # Adam with TensorFlow's defaults β1 0.9, β2 0.999, ε 1e−8 and the env's learning rate
    opt = make_optimizer(model, cfg.ctrl_cfg.prop_cfg.model_init_cfg.lr)
    assert opt.lr == lr
    assert opt.betas == (0.9, 0.999)
    assert opt.eps == 1e-8
    # every weight, bias and both log-variance bounds are trained
    trained = {id(p) for p in opt.params}
    assert all(id(p) in trained for p in model.parameters())


def test_swish_hidden_activation() -> None:
    # one hidden layer, weights set by hand: output = W2·swish(W1·x) with swish(z) = z·sigmoid(z)
    cfg = default_config("cartpole", model_type="D", prop_type="E")
    model = build_model(cfg, make_task("cartpole"), torch.device("cpu"))
    x = torch.randn(7, 6, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.scaler.fit(torch.cat([x, -x]))  # mean 0
        h = (x - model.scaler.mu) / model.scaler.sigma
        for i, layer in enumerate(model.layers):
            h = h @ layer.weight[0] + layer.bias[0]
            if i < len(model.layers) - 1:
                h = h * torch.sigmoid(h)
        mean, _ = model(x.unsqueeze(0))
    torch.testing.assert_close(mean[0], h, rtol=1e-4, atol=1e-5)


# --- env rewards against the spec formulas (hand-made states) ------------------------------------


def _set(env: object, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
    base = env.unwrapped  # type: ignore[attr-defined]
    base.set_state(qpos, qvel)
    return base._get_obs()


def test_cartpole_reward_is_the_spec_formula() -> None:
    env = make_env("cartpole")
    env.reset(seed=0)
    _set(env, np.array([0.3, 2.5]), np.array([0.2, -1.0]))
    a = np.array([1.7], dtype=np.float32)
    obs, reward, *_ = env.step(a)
    x, th = obs[0], obs[1]
    ee = np.array([x - 0.6 * math.sin(th), -0.6 * math.cos(th)])
    expected = math.exp(-np.sum((ee - [0.0, 0.6]) ** 2) / 0.6**2) - 0.01 * 1.7**2
    assert reward == pytest.approx(expected, rel=1e-6)


def test_reacher_reward_is_the_spec_formula_with_mujoco_fingertips() -> None:
    env = make_env("reacher")
    env.reset(seed=3)
    base = env.unwrapped
    q = np.array([0.3, 0.4, -0.5, -0.9, 0.6, -0.7, 0.2])  # inside the limits, where FK is exact
    _set(env, q, np.zeros(7))
    a = np.array([1.0, -2.0, 0.5, 3.0, -1.0, 0.7, 0.2], dtype=np.float32)
    obs, reward, *_ = env.step(a)
    goal = obs[7:10]
    np.testing.assert_array_equal(goal, base.goal)
    d = base.data
    tips = [d.body("r_gripper_l_finger_tip_link").xpos, d.body("r_gripper_r_finger_tip_link").xpos]
    ee = (tips[0] + tips[1]) / 2  # §3.2: FK = midpoint of the fingertip-link origins
    expected = -np.sum((ee - goal) ** 2) - 0.01 * np.sum(a.astype(np.float64) ** 2)
    assert reward == pytest.approx(expected, rel=1e-5)
    # and the planning cost of the same state is its negative (same formula, other module)
    task = make_task("reacher", dtype=torch.float64)
    task.update_goal(env)
    cost = task.obs_cost(torch.as_tensor(obs)[None]) + task.ac_cost(
        torch.as_tensor(a)[None].double()
    )
    assert float(cost[0]) == pytest.approx(-expected, rel=1e-5)


def test_pusher_reward_is_the_spec_formula_on_the_pre_step_state() -> None:
    env = make_env("pusher")
    obs0, _ = env.reset(seed=1)
    a = np.array([0.5, -1.0, 1.5, -0.3, 0.2, 1.0, -2.0], dtype=np.float32)
    _, reward, *_ = env.step(a)
    tip, obj = obs0[14:17], obs0[17:20]
    goal = np.array([0.45, -0.05, -0.323])  # docs/spec/pets-facts.md §3.3: goal body, slides at 0
    expected = -(
        1.25 * np.abs(obj - goal).sum()
        + 0.5 * np.abs(obj - tip).sum()
        + 0.1 * np.sum(a.astype(np.float64) ** 2)
    )
    assert reward == pytest.approx(expected, rel=1e-6)
    np.testing.assert_allclose(env.unwrapped.ac_goal_pos, goal, atol=1e-9)


def test_halfcheetah_reward_is_forward_velocity_minus_action_cost() -> None:
    env = make_env("halfcheetah")
    env.reset(seed=0)
    x0 = float(env.unwrapped.data.qpos[0])
    a = np.array([0.5, -0.4, 0.9, -1.0, 0.3, 0.7], dtype=np.float32)
    obs, reward, *_ = env.step(a)
    x1 = float(env.unwrapped.data.qpos[0])
    assert obs[0] == pytest.approx((x1 - x0) / 0.05, rel=1e-9)  # dt = 0.01 × 5
    expected = (x1 - x0) / 0.05 - 0.1 * np.sum(a.astype(np.float64) ** 2)
    assert reward == pytest.approx(expected, rel=1e-9)


# --- planning costs against the spec formulas (§4.3) ---------------------------------------------


def test_cartpole_task_cost_formula() -> None:
    task = make_task("cartpole", dtype=torch.float64)
    obs = torch.tensor([[0.3, 2.5, 0.1, -0.4], [-1.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    act = torch.tensor([[1.5], [-3.0]], dtype=torch.float64)
    cost = task.obs_cost(obs) + task.ac_cost(act)
    for i, (x, th) in enumerate(obs[:, :2].tolist()):
        d2 = (x - 0.6 * math.sin(th)) ** 2 + (-0.6 * math.cos(th) - 0.6) ** 2
        expected = -math.exp(-d2 / 0.36) + 0.01 * act[i, 0].item() ** 2
        assert float(cost[i]) == pytest.approx(expected, rel=1e-12)


def test_pusher_task_cost_formula() -> None:
    task = make_task("pusher", dtype=torch.float64)
    env = make_env("pusher")
    env.reset(seed=0)
    task.update_goal(env)
    obs = torch.zeros(1, 20, dtype=torch.float64)
    obs[0, 14:17] = torch.tensor([0.8, -0.5, -0.2])
    obs[0, 17:20] = torch.tensor([0.6, -0.3, -0.275])
    act = torch.full((1, 7), 0.5, dtype=torch.float64)
    cost = float((task.obs_cost(obs) + task.ac_cost(act))[0])
    near = abs(0.8 - 0.6) + abs(-0.5 + 0.3) + abs(-0.2 + 0.275)
    dist = abs(0.45 - 0.6) + abs(-0.05 + 0.3) + abs(-0.323 + 0.275)
    assert cost == pytest.approx(0.5 * near + 1.25 * dist + 0.1 * 7 * 0.25, rel=1e-6)


def test_halfcheetah_task_cost_formula() -> None:
    task = make_task("halfcheetah", dtype=torch.float64)
    obs = torch.zeros(2, 18, dtype=torch.float64)
    obs[:, 0] = torch.tensor([2.5, -1.0])
    obs[:, 2] = 0.7  # a pitch: the original's pitch penalty has weight 0
    act = torch.tensor([[0.5] * 6, [1.0] * 6], dtype=torch.float64)
    cost = task.obs_cost(obs) + task.ac_cost(act)
    torch.testing.assert_close(cost, torch.tensor([-2.5 + 0.1 * 1.5, 1.0 + 0.1 * 6.0]).double())


def test_reacher_task_cost_formula() -> None:
    task = make_task("reacher", dtype=torch.float64)
    env = make_env("reacher")
    env.reset(seed=5)
    task.update_goal(env)
    # at the zero pose the end effector is at (0.98928, −0.188, 0) (docs/spec/pets-facts.md §3.2)
    obs = torch.zeros(1, 17, dtype=torch.float64)
    act = torch.full((1, 7), 2.0, dtype=torch.float64)
    g = env.unwrapped.goal
    expected = float(np.sum((np.array([0.98928, -0.188, 0.0]) - g) ** 2)) + 0.01 * 7 * 4.0
    assert float((task.obs_cost(obs) + task.ac_cost(act))[0]) == pytest.approx(expected, abs=1e-4)
