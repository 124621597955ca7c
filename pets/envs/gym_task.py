"""The planning side of a gymnasium env that pets did not write: `GymTask`.

The paper's four tasks define their own cost (`pets.envs.base.Task`). Any other env is planned
on through its reward: the model predicts the change of the observation (and, where the reward
is learned, the reward as one more output), and a step's cost is minus the reward of
(obs, act, next_obs) (`docs/spec/any-env.md` §2). Where the env can end an episode, a
termination function of (obs, act, next_obs) stops a particle's rewards after the step that
ends it (`pets.planning.mpc.candidate_costs`). Knows nothing of models: a learned termination is
handed in as a function by the run (`set_termination`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from pets.envs.registry import TaskSpec
from pets.errors import ConfigError
from pets.util.imports import load_object

__all__ = ["REWARD_CHOICES", "TERMINATION_CHOICES", "GymTask", "load_function"]

TransitionFn = Callable[[Tensor, Tensor, Tensor], Tensor]
"""(obs [M, d], act [M, a], next_obs [M, d]) -> [M] (a reward, or a bool `terminated`)."""

#: `-ca reward`: the env's own reward function (where pets has one) or a learned model output.
REWARD_CHOICES = ("known", "learned")
#: `-ca termination`, besides a user's `module:function`.
TERMINATION_CHOICES = ("known", "learned", "never")


def load_function(path: str, what: str) -> TransitionFn:
    """Import `"module:function"` (`pets.util.imports.load_object`), checking it is callable.

    Raises:
        ConfigError: not of that form, the module or function cannot be found, or it is not
            callable.
    """
    fn = load_object(path, what)
    if not callable(fn):
        raise ConfigError(f"{what} {path!r} is not a function")
    return fn  # type: ignore[no-any-return]


class GymTask:
    """A gymnasium env's planning side: delta dynamics, rewards and terminations in torch.

    Args:
        spec: the task's registry entry (`spec.gym` set).
        obs_dim, ac_lb, ac_ub: the env's observation width and action bounds.
        task_hor: steps per episode.
        reward: "known" (the registered function) or "learned" (model output `obs_dim`).
        termination: "known", "never", "learned" (set later with `set_termination`) or a user's
            `module:function`.
        device, dtype: of the task's constants and of the tensors it is given.

    Raises:
        ConfigError: "known" asked for where pets has no function for this env.
    """

    def __init__(
        self,
        spec: TaskSpec,
        *,
        obs_dim: int,
        ac_lb: np.ndarray,
        ac_ub: np.ndarray,
        task_hor: int,
        reward: str,
        termination: str,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        assert spec.gym is not None, "GymTask is for gymnasium envs"
        self.device, self.dtype = torch.device(device), dtype
        self.name = spec.name
        self.obs_dim, self.act_dim, self.task_hor = obs_dim, int(ac_lb.shape[0]), task_hor
        self.hidden = spec.gym.hidden_columns
        self.ac_lb = np.asarray(ac_lb, dtype=np.float32)
        self.ac_ub = np.asarray(ac_ub, dtype=np.float32)
        self.learned_reward = reward == "learned"
        self.model_in_dim = obs_dim - self.hidden + self.act_dim
        self.model_out_dim = obs_dim + int(self.learned_reward)
        self._reward: TransitionFn | None = None
        if not self.learned_reward:
            if spec.gym.reward is None:
                raise ConfigError(
                    f"-ca reward known: pets has no reward function for {spec.name!r}; "
                    "use -ca reward learned"
                )
            self._reward = load_function(spec.gym.reward, "reward")
        self._terminated: TransitionFn | None = None
        if termination == "known":
            if spec.default_termination != "known":
                raise ConfigError(
                    f"-ca termination known: pets has no termination function for "
                    f"{spec.name!r}; use -ca termination learned, never or module:function"
                )
            if spec.gym.termination is not None:
                self._terminated = load_function(spec.gym.termination, "termination")
        elif termination not in ("never", "learned"):
            self._terminated = load_function(termination, "-ca termination")

    def set_termination(self, fn: TransitionFn | None) -> None:
        """Use `fn` as the termination function (a learned one, once it has been trained)."""
        self._terminated = fn

    @property
    def terminates(self) -> bool:
        """Whether planning stops particles at a predicted termination."""
        return self._terminated is not None

    def obs_preproc(self, obs: Tensor) -> Tensor:
        """Model features: the observation without its hidden leading columns."""
        return obs[..., self.hidden :]

    def targ_proc(self, obs: Tensor, next_obs: Tensor) -> Tensor:
        """Training target: the change of the observation (the reward column is added apart)."""
        return next_obs - obs

    def obs_postproc(self, obs: Tensor, pred: Tensor) -> Tensor:
        """Next observation from a prediction: obs + predicted change."""
        return obs + pred[..., : self.obs_dim]

    def obs_cost(self, obs: Tensor) -> Tensor:
        raise NotImplementedError("a GymTask scores transitions: transition_cost")

    def ac_cost(self, act: Tensor) -> Tensor:
        raise NotImplementedError("a GymTask scores transitions: transition_cost")

    def transition_cost(self, obs: Tensor, act: Tensor, next_obs: Tensor, pred: Tensor) -> Tensor:
        """Minus the reward of each transition, [M]: the env's function, or the model's output."""
        if self._reward is None:
            return -pred[..., self.obs_dim]
        return -self._reward(obs, act, next_obs)

    def transition_terminated(self, obs: Tensor, act: Tensor, next_obs: Tensor) -> Tensor:
        """Whether each transition ends its episode, bool [M] (only when `terminates`)."""
        assert self._terminated is not None
        return self._terminated(obs, act, next_obs)

    def update_goal(self, env: object) -> None:
        """No goal is read from the env (its reward function sees what the observation holds)."""
