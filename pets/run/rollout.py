"""Rollouts in the real environment: the random policy, one episode, training data, videos.

Owns what happens between a policy and a gymnasium env (docs/spec/pets-facts.md §7 step 4, §5.5).
Knows nothing of configs, checkpoints or the trial loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from pets.run.runlog import Episode
from pets.util.fileio import write_atomic


class Policy(Protocol):
    def reset(self, env: Any) -> None: ...
    def act(self, obs: np.ndarray) -> np.ndarray: ...


class RandomPolicy:
    """Uniform random actions: the controller before its model is first trained (§6.1)."""

    def __init__(self, lb: np.ndarray, ub: np.ndarray, rng: np.random.Generator) -> None:
        self.lb, self.ub, self.rng = lb, ub, rng

    def reset(self, env: Any) -> None:
        pass

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.rng.uniform(self.lb, self.ub).astype(np.float32)


def rollout(
    env: Any,
    policy: Policy,
    task_hor: int,
    *,
    noise_std: float | None = None,
    rng: np.random.Generator | None = None,
    frames: list[np.ndarray] | None = None,
    on_step: Callable[[np.ndarray], None] | None = None,
) -> Episode:
    """Run one episode of `task_hor` steps, or fewer where the env terminates it (§7 step 4).

    Args:
        env: a gymnasium env; the paper's tasks never terminate, a gymnasium env may.
        policy: `reset(env)` after the env reset, then `act(obs)` each step.
        task_hor: steps per episode.
        noise_std: if given, N(0, noise_std²) is added to the action and clipped to the bounds;
            the logged action is the noiseless one (as the original).
        rng: the generator of the action noise.
        frames: if given, the rendered frame after every step is appended (T frames).
        on_step: called with the observation each step after acting (prediction logging).
    """
    obs, _ = env.reset()
    policy.reset(env)
    low, high = env.action_space.low, env.action_space.high
    observations, actions, rewards = [obs], [], []
    plan_seconds = 0.0
    for _ in range(task_hor):
        start = time.perf_counter()
        action = np.asarray(policy.act(obs), dtype=np.float32)
        plan_seconds += time.perf_counter() - start
        if on_step is not None:
            on_step(obs)
        executed = action
        if noise_std is not None and rng is not None:
            noisy = action + rng.normal(0.0, noise_std, size=action.shape)
            executed = np.clip(noisy, low, high).astype(np.float32)
        obs, reward, terminated, _, _ = env.step(executed)
        observations.append(obs)
        actions.append(action)
        rewards.append(reward)
        if frames is not None:
            frames.append(env.render())
        if terminated:
            break  # a truncation can only come from the TimeLimit, at task_hor steps
    return Episode(
        observations=np.asarray(observations, dtype=np.float64),
        actions=np.asarray(actions, dtype=np.float64),
        rewards=np.asarray(rewards, dtype=np.float64),
        plan_seconds=plan_seconds,
        terminated=bool(terminated) if actions else False,
    )


def _transitions(episodes: list[Episode]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(o_t, a_t, o_{t+1}) of every step of `episodes`, in float64."""
    obs = torch.as_tensor(np.concatenate([e.observations[:-1] for e in episodes]))
    act = torch.as_tensor(np.concatenate([e.actions for e in episodes]))
    nxt = torch.as_tensor(np.concatenate([e.observations[1:] for e in episodes]))
    return obs, act, nxt


def training_data(task: Any, episodes: list[Episode]) -> tuple[torch.Tensor, torch.Tensor]:
    """Model inputs [obs_preproc(o_t), a_t] and targets targ_proc(o_t, o_{t+1}) (§5.5).

    A task with a learned reward (`task.learned_reward`) gets r_t as one more target column.
    """
    obs, act, nxt = _transitions(episodes)
    inputs = torch.cat([task.obs_preproc(obs), act], dim=-1)
    targets = task.targ_proc(obs, nxt)
    if getattr(task, "learned_reward", False):
        rewards = torch.as_tensor(np.concatenate([e.rewards for e in episodes]))
        targets = torch.cat([targets, rewards.unsqueeze(-1).to(targets.dtype)], dim=-1)
    return inputs.float(), targets.float()


def termination_data(episodes: list[Episode]) -> tuple[torch.Tensor, torch.Tensor]:
    """[o_t, a_t, o_{t+1}] of every transition, and whether it ended its episode (0/1)."""
    ended = np.concatenate([_ends(e) for e in episodes])
    return torch.cat(_transitions(episodes), dim=-1).float(), torch.as_tensor(ended).float()


def _ends(episode: Episode) -> np.ndarray:
    flags = np.zeros(episode.length)
    flags[-1:] = float(episode.terminated)
    return flags


def write_video(path: Path, frames: Sequence[np.ndarray], fps: int) -> None:
    """Write frames to an mp4 atomically (imageio-ffmpeg's bundled ffmpeg)."""
    import imageio.v2 as imageio

    write_atomic(path, lambda tmp: imageio.mimsave(tmp, list(frames), fps=fps, macro_block_size=1))
