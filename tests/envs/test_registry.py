"""Behaviour shared by the four tasks: registry, spaces, episode length, reward = −cost, replay.

Oracles: the spec's numbers (`docs/spec/pets-facts.md` §2.1, §4.1), a fresh interpreter for the
import weight, and the env's own reward on real random-action rollouts for the planning cost
(the original defines them equal, `docs/spec/pets-facts.md` §4.3).
"""

from __future__ import annotations

import importlib
import pickle
import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import pets
from pets.envs import ENV_NAMES, env_id, make_env, make_task
from pets.envs.base import Task
from pets.errors import ConfigError

# name: (gym id, obs dim, act dim, action bound, dt, task horizon, model in/out dims)
# from docs/spec/pets-facts.md §2.1 and §4.1.
SPEC = {
    "cartpole": ("pets/Cartpole-v0", 4, 1, 3.0, 0.04, 200, 6, 4),
    "reacher": ("pets/Reacher3D-v0", 17, 7, 20.0, 0.02, 150, 24, 17),
    "pusher": ("pets/Pusher-v0", 20, 7, 2.0, 0.04, 150, 27, 20),
    "halfcheetah": ("pets/HalfCheetah-v0", 18, 6, 1.0, 0.05, 1000, 24, 18),
}
#: Steps per rollout in the reward/replay tests (halfcheetah is cut short to save time).
ROLLOUT_STEPS = {"cartpole": 200, "reacher": 150, "pusher": 150, "halfcheetah": 300}
#: The env reward is computed on the state before the step only for the pusher (PETS).
PRE_STEP_REWARD = {"pusher"}

envs = pytest.mark.parametrize("name", ENV_NAMES, ids=ENV_NAMES)


def rollout(name: str, seed: int, steps: int) -> tuple[gym.Env, np.ndarray, np.ndarray, np.ndarray]:
    """Run uniform random actions; return env, obs [T+1, d], actions [T, a], rewards [T]."""
    env = make_env(name)
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed + 1000)
    low, high = env.action_space.low, env.action_space.high
    observations, actions, rewards = [obs], [], []
    for _ in range(steps):
        action = rng.uniform(low, high).astype(np.float32)
        obs, reward, terminated, _, _ = env.step(action)
        assert not terminated
        observations.append(obs)
        actions.append(action)
        rewards.append(reward)
    return env, np.array(observations), np.array(actions), np.array(rewards)


def test_env_names_are_the_originals() -> None:
    assert ENV_NAMES == ("cartpole", "reacher", "pusher", "halfcheetah")


@envs
def test_env_id_maps_short_names(name: str) -> None:
    assert env_id(name) == SPEC[name][0]
    assert SPEC[name][0] in gym.registry


@pytest.mark.parametrize("factory", [env_id, make_env, make_task], ids=["env_id", "env", "task"])
def test_unknown_name_raises_config_error_listing_names(factory: object) -> None:
    with pytest.raises(ConfigError, match=r"'Reacher'.*cartpole, reacher, pusher, halfcheetah"):
        factory("Reacher")  # type: ignore[operator]


def test_import_pets_loads_neither_torch_nor_mujoco() -> None:
    code = (
        "import sys, pets, pets.envs; "
        "heavy = [m for m in ('torch', 'mujoco') if m in sys.modules]; "
        "assert not heavy, heavy; "
        "assert 'pets/Pusher-v0' in __import__('gymnasium').registry"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_register_envs_is_idempotent() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pets.envs.register_envs()


@envs
def test_env_spaces_dt_and_horizon_match_spec(name: str) -> None:
    _, d, a, bound, dt, horizon, _, _ = SPEC[name]
    env = make_env(name)
    assert env.observation_space.shape == (d,)
    assert env.observation_space.dtype == np.float64
    assert env.action_space.shape == (a,)
    np.testing.assert_array_equal(env.action_space.low, np.full(a, -bound, np.float32))
    np.testing.assert_array_equal(env.action_space.high, np.full(a, bound, np.float32))
    assert env.unwrapped.dt == pytest.approx(dt, abs=1e-12)
    assert env.metadata["render_fps"] == round(1 / dt)
    assert env.spec.max_episode_steps == horizon
    module = importlib.import_module(f"pets.envs.{name}")
    assert horizon == module.TASK_HORIZON


@envs
def test_episode_lasts_task_horizon_without_termination(name: str) -> None:
    horizon = SPEC[name][5] if name != "halfcheetah" else 40
    env = make_env(name, max_episode_steps=None if name != "halfcheetah" else horizon)
    env.reset(seed=0)
    zero = np.zeros(env.action_space.shape, np.float32)
    for t in range(horizon):
        _, _, terminated, truncated, _ = env.step(zero)
        assert not terminated
        assert truncated == (t == horizon - 1)


@envs
def test_env_passes_gymnasium_check_env(name: str) -> None:
    env = make_env(name).unwrapped
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unbounded Box / unnormalised actions are the spec's
        check_env(env, skip_render_check=True)  # rendering: tests/envs/test_render.py


@envs
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_task_dims_bounds_and_dtype(name: str, dtype: torch.dtype) -> None:
    _, d, a, bound, _, horizon, d_in, d_out = SPEC[name]
    task = make_task(name, dtype=dtype)
    assert isinstance(task, Task)
    assert (task.name, task.obs_dim, task.act_dim, task.task_hor) == (name, d, a, horizon)
    assert (task.model_in_dim, task.model_out_dim) == (d_in, d_out)
    np.testing.assert_array_equal(task.ac_lb, np.full(a, -bound, np.float32))
    np.testing.assert_array_equal(task.ac_ub, np.full(a, bound, np.float32))
    m = 5
    obs = torch.randn(m, d, dtype=dtype)
    act = torch.randn(m, a, dtype=dtype)
    features = task.obs_preproc(obs)
    target = task.targ_proc(obs, obs + 1)
    assert features.shape == (m, d_in - a) and features.dtype == dtype
    assert target.shape == (m, d_out) and target.dtype == dtype
    assert task.obs_postproc(obs, target).shape == (m, d)
    assert task.obs_cost(obs).shape == (m,) and task.obs_cost(obs).dtype == dtype
    assert task.ac_cost(act).shape == (m,) and task.ac_cost(act).dtype == dtype


@pytest.mark.gpu
@envs
def test_task_runs_on_cuda(name: str) -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    task = make_task(name, device="cuda")
    obs = torch.randn(4, task.obs_dim, device="cuda")
    cost = task.obs_cost(task.obs_postproc(obs, task.targ_proc(obs, obs)))
    assert cost.device.type == "cuda"
    task.update_goal(make_env(name))


@envs
def test_env_reward_equals_minus_task_cost(name: str) -> None:
    env, obs, actions, rewards = rollout(name, seed=3, steps=ROLLOUT_STEPS[name])
    task = make_task(name, dtype=torch.float64)
    task.update_goal(env)  # through the wrappers of gym.make
    states = obs[:-1] if name in PRE_STEP_REWARD else obs[1:]
    cost = task.obs_cost(torch.from_numpy(states)) + task.ac_cost(
        torch.from_numpy(actions.astype(np.float64))
    )
    torch.testing.assert_close(torch.from_numpy(rewards), -cost, rtol=1e-12, atol=1e-12)


@envs
def test_postproc_inverts_targ_proc_on_real_transitions(name: str) -> None:
    _, obs, _, _ = rollout(name, seed=4, steps=50)
    task = make_task(name, dtype=torch.float64)
    o, o_next = torch.from_numpy(obs[:-1]), torch.from_numpy(obs[1:])
    torch.testing.assert_close(task.obs_postproc(o, task.targ_proc(o, o_next)), o_next)


@envs
def test_same_seed_replays_and_other_seed_differs(name: str) -> None:
    _, obs_a, _, rew_a = rollout(name, seed=7, steps=30)
    _, obs_b, _, rew_b = rollout(name, seed=7, steps=30)
    _, obs_c, _, _ = rollout(name, seed=8, steps=30)
    np.testing.assert_array_equal(obs_a, obs_b)
    np.testing.assert_array_equal(rew_a, rew_b)
    assert not np.array_equal(obs_a[0], obs_c[0])


@envs
def test_env_pickles_and_replays(name: str) -> None:
    env = make_env(name).unwrapped
    clone = pickle.loads(pickle.dumps(env))
    np.testing.assert_array_equal(env.reset(seed=5)[0], clone.reset(seed=5)[0])


@envs
def test_render_fps_follows_frame_skip(name: str) -> None:
    cls = type(make_env(name).unwrapped)
    env = cls(frame_skip=3)
    assert env.metadata["render_fps"] == round(1 / env.dt)
    assert cls.metadata["render_fps"] == round(1 / SPEC[name][4])
