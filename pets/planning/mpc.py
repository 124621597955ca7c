"""The MPC controller of PETS: candidate costs, warm start, action buffer, prediction logging.

Owns `docs/spec/pets-facts.md` §6.1, §6.2 and §6.7: the cost of candidate action sequences from
a task, a model and a propagation; the controller that re-plans every `per` steps with a shifted
warm start; and the re-propagation of a chosen plan for logging. Everything stays on the model's
device; `MPC.act` is the only host-device boundary. Knows nothing of file formats or training.
Random actions before the first training are the experiment's business, not the MPC's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor

from pets.errors import ConfigError
from pets.planning.capture import CaptureReplan, capture_replan
from pets.planning.optimizers import CostFn
from pets.planning.propagation import DynamicsModel, Propagation
from pets.util.capture import BufferKey, GraphCache, buffer_key

__all__ = [
    "MPC",
    "NAN_COST",
    "Optimizer",
    "PlanningTask",
    "StatefulOptimizer",
    "TransitionTask",
    "action_bounds",
    "candidate_costs",
    "model_device_dtype",
    "predict_trajectories",
    "shift_plan",
]

NAN_COST = 1e6  # docs/spec/pets-facts.md §6.2: NaN particle totals cost this much


class PlanningTask(Protocol):
    """The planning side of a task (`pets.envs.base.Task`) as the MPC uses it."""

    obs_dim: int
    act_dim: int
    ac_lb: np.ndarray
    ac_ub: np.ndarray

    def obs_preproc(self, obs: Tensor) -> Tensor: ...
    def obs_postproc(self, obs: Tensor, pred: Tensor) -> Tensor: ...
    def obs_cost(self, obs: Tensor) -> Tensor: ...
    def ac_cost(self, act: Tensor) -> Tensor: ...
    def update_goal(self, env: object) -> None: ...


@runtime_checkable
class TransitionTask(Protocol):
    """A task scored per transition (a gymnasium env's `GymTask`): minus its reward, and where
    the env can end an episode, whether each transition ends it."""

    terminates: bool

    def obs_preproc(self, obs: Tensor) -> Tensor: ...
    def obs_postproc(self, obs: Tensor, pred: Tensor) -> Tensor: ...
    def transition_cost(
        self, obs: Tensor, act: Tensor, next_obs: Tensor, pred: Tensor
    ) -> Tensor: ...
    def transition_terminated(self, obs: Tensor, act: Tensor, next_obs: Tensor) -> Tensor: ...


class Optimizer(Protocol):
    """An optimizer of action sequences (CEM, random shooting, iCEM, MPPI, a plugin's)."""

    lb: Tensor

    def solve(
        self,
        mean0: Tensor,
        var0: Tensor,
        cost_fn: CostFn,
        generator: torch.Generator,
    ) -> Tensor: ...


@runtime_checkable
class StatefulOptimizer(Protocol):
    """An optimizer that carries state from one re-plan to the next (iCEM, MPPI).

    Its state lives in fixed buffers (`state()`) that `solve` and `advance` read and write in
    place, so a captured re-plan stays valid; the MPC calls `advance(per, generator)` after each
    `solve` (inside the re-plan) and `reset()` at each episode's start, outside it.
    """

    def state(self) -> tuple[Tensor, ...]: ...
    def reset(self) -> None: ...
    def advance(self, steps: int, generator: torch.Generator) -> None: ...


def model_device_dtype(model: object) -> tuple[torch.device, torch.dtype]:
    """Return the device and dtype of the model's first float tensor (CPU float32 if none)."""
    if isinstance(model, torch.nn.Module):
        for t in (*model.parameters(), *model.buffers()):
            if t.is_floating_point():
                return t.device, t.dtype
    return torch.device("cpu"), torch.float32


def action_bounds(
    task: PlanningTask, plan_hor: int, *, device: torch.device | str, dtype: torch.dtype
) -> tuple[Tensor, Tensor]:
    """Tile the task's action bounds over the horizon, for the optimizers.

    Returns:
        lb [H, a] and ub [H, a] on `device`.
    """
    lb = torch.as_tensor(np.asarray(task.ac_lb), dtype=dtype, device=device)
    ub = torch.as_tensor(np.asarray(task.ac_ub), dtype=dtype, device=device)
    return lb.expand(plan_hor, -1).clone(), ub.expand(plan_hor, -1).clone()  # [a] -> [H, a]


def _rollout_states(
    task: PlanningTask,
    model: DynamicsModel,
    propagation: Propagation,
    state: Tensor,
    actions: Tensor,
    generator: torch.Generator,
) -> Tensor:
    """One propagation step: states [M, d], candidates' actions [N, a] -> next states [M, d]."""
    pred = propagation.propagate(model, task.obs_preproc(state), actions, generator)  # [M, d_out]
    # PETS: obs_postproc2 is the identity in all four tasks, so it is left out.
    return task.obs_postproc(state, pred)  # -> [M, d]


def candidate_costs(
    task: PlanningTask,
    model: DynamicsModel,
    propagation: Propagation,
    obs: Tensor,
    actions: Tensor,
    generator: torch.Generator,
) -> Tensor:
    """Score candidate action sequences by propagating particles (`docs/spec/pets-facts.md` §6.2).

    All `N·P` particles start at `obs`; a particle's total is
    `Σ_t obs_cost(s_{t+1}) + ac_cost(a_t)` over the horizon (no discount); NaN totals become
    `NAN_COST`; a candidate's cost is the mean over its P particles.

    Args:
        task: planning side of the task.
        model: the dynamics ensemble.
        propagation: how particles pass through the model; P = `propagation.npart`.
        obs: [d] current observation, on the model's device.
        actions: [N, H, a] candidate sequences.
        generator: random source on the model's device.

    Returns:
        [N] candidate costs.
    """
    if isinstance(task, TransitionTask):
        return _transition_costs(task, model, propagation, obs, actions, generator)
    n, h, a = actions.shape
    p = propagation.npart
    state = obs.expand(n * p, -1)  # [d] -> [M, d]
    ac_costs = task.ac_cost(actions.reshape(n * h, a)).view(n, h)  # [N·H, a] -> [N, H]
    total = torch.zeros((n, p), device=actions.device, dtype=actions.dtype)  # [N, P]
    for t in range(h):
        state = _rollout_states(task, model, propagation, state, actions[:, t], generator)
        # In place, in the order of `total + obs_cost + ac_cost`: the same roundings.
        total.add_(task.obs_cost(state).view(n, p)).add_(ac_costs[:, t : t + 1])  # [M] -> [N, P]
    total.masked_fill_(total.isnan(), NAN_COST)
    return total.mean(dim=1)  # [N, P] -> [N]


def _transition_costs(
    task: TransitionTask,
    model: DynamicsModel,
    propagation: Propagation,
    obs: Tensor,
    actions: Tensor,
    generator: torch.Generator,
) -> Tensor:
    """`candidate_costs` of a task scored per transition (`docs/spec/any-env.md` §3).

    A particle's total is `Σ_t −r(s_t, a_t, s_{t+1})`, where r is the env's reward function or
    the model's reward output; a particle stops collecting after the transition the task's
    termination function says ends the episode (that transition's reward still counts, as the
    env returns it). NaN totals and the mean over particles are as in `candidate_costs`.
    """
    n, h, _ = actions.shape
    p = propagation.npart
    state = obs.expand(n * p, -1)  # [d] -> [M, d]
    total = torch.zeros(n * p, device=actions.device, dtype=actions.dtype)  # [M]
    alive = torch.ones(n * p, device=actions.device, dtype=actions.dtype)  # [M], 1 until it ends
    for t in range(h):
        act = actions[:, t].repeat_interleave(p, dim=0)  # [N, a] -> [M, a], candidate-major
        pred = propagation.propagate(model, task.obs_preproc(state), actions[:, t], generator)
        nxt = task.obs_postproc(state, pred)  # [M, d]
        cost = task.transition_cost(state, act, nxt, pred)  # [M]
        if task.terminates:
            # A where, not alive · cost: the NaN cost of an ended particle must not count.
            total.add_(torch.where(alive > 0, cost, 0.0))
            alive.mul_(~task.transition_terminated(state, act, nxt))
        else:
            total.add_(cost)
        state = nxt
    total.masked_fill_(total.isnan(), NAN_COST)
    return total.view(n, p).mean(dim=1)  # [M] -> [N, P] -> [N]


def predict_trajectories(
    task: PlanningTask,
    model: DynamicsModel,
    propagation: Propagation,
    obs: Tensor,
    plan: Tensor,
    generator: torch.Generator,
) -> Tensor:
    """Propagate P particles along one plan and keep every state (`docs/spec/pets-facts.md` §6.7).

    Args:
        task: planning side of the task.
        model: the dynamics ensemble.
        propagation: how particles pass through the model; P = `propagation.npart`.
        obs: [d] start observation.
        plan: [H, a] the action sequence.
        generator: random source on the model's device.

    Returns:
        [H+1, P, d] particle states, the start state first.
    """
    p = propagation.npart
    state = obs.expand(p, -1)  # [d] -> [P, d]
    states = [state]
    for t in range(plan.shape[0]):
        state = _rollout_states(task, model, propagation, state, plan[t : t + 1], generator)
        # A copy: a task whose obs_postproc returns `pred` would hand back the propagation's
        # buffer, which the next step overwrites.
        states.append(state.clone())
    return torch.stack(states)  # H+1 × [P, d] -> [H+1, P, d]


class MPC:
    """Model-predictive control with a warm-started optimizer (`docs/spec/pets-facts.md` §6.1).

    Every `per` steps the optimizer solves from the previous solution shifted left by `per` steps
    (padded with the bounds' midpoint, which is 0 in all four tasks as the original's zeros) and
    the fixed initial variance `(ub − lb)²/16`; the first `per` actions are buffered and returned
    one per `act` call.

    On CUDA, `act` replays the re-plan as a CUDA graph (`pets.planning.capture`), captured at the
    first re-plan and kept across model updates, since training writes weights and scaler
    statistics in place; it is re-captured only when a buffer it reads is reallocated or
    reshaped, and if a capture fails, one line is logged and every later re-plan runs eagerly. A
    replay runs the eager re-plan's kernels with the same generator offsets, so it is meant to
    give the same actions bit for bit (the `gpu` tests in tests/test_capture.py check it).

    Args:
        task: planning side of the task, on the model's device and dtype.
        model: the dynamics ensemble; its device and dtype are the planner's.
        propagation: particle propagation, with `npart` particles.
        optimizer: CEM or random shooting, built with bounds [plan_hor, a] on the model's device.
        plan_hor: H.
        per: re-plan every `per` steps, 1 ≤ per ≤ H.
        npart: P, must equal `propagation.npart`.
        generator: random source on the model's device.
        capture: how `act` captures its re-plan: "auto" (`capture_replan` on CUDA, eager on the
            CPU), None (always eager) or a function `capture(mpc) -> replay` (tests, benchmarks).

    Raises:
        ConfigError: `per` out of range or `npart` not the propagation's.
    """

    def __init__(
        self,
        task: PlanningTask,
        model: DynamicsModel,
        propagation: Propagation,
        optimizer: Optimizer,
        *,
        plan_hor: int,
        per: int,
        npart: int,
        generator: torch.Generator,
        capture: CaptureReplan | Literal["auto"] | None = "auto",
    ) -> None:
        if not 1 <= per <= plan_hor:
            raise ConfigError(f"per must be in [1, plan_hor={plan_hor}], got {per}")
        if npart != propagation.npart:
            raise ConfigError(f"npart {npart} differs from the propagation's {propagation.npart}")
        device, dtype = model_device_dtype(model)
        lb, ub = action_bounds(task, plan_hor, device=device, dtype=dtype)
        if tuple(optimizer.lb.shape) != tuple(lb.shape):
            raise ConfigError(
                f"optimizer bounds are {tuple(optimizer.lb.shape)}, the MPC needs "
                f"[plan_hor, a] = {tuple(lb.shape)}"
            )
        self.task = task
        self.model = model
        self.propagation = propagation
        self.optimizer = optimizer
        self.plan_hor = plan_hor
        self.per = per
        self.npart = npart
        self.generator = generator
        self.device, self.dtype = device, dtype
        self._midpoint = (lb + ub) / 2  # [H, a]; PETS pads with zeros, the midpoint of all four
        self._init_var = (ub - lb).square() / 16  # [H, a], σ = (ub − lb)/4, same at every re-plan
        self._prev_sol = self._midpoint.clone()  # [H, a] warm start
        self._obs = torch.zeros(task.obs_dim, device=device, dtype=dtype)  # [d] static input
        self._buffer: list[np.ndarray] = []
        self.last_plan = self._midpoint.clone()  # [H, a]
        # iCEM and MPPI carry their own mean (and elites) between re-plans.
        self._stateful = optimizer if isinstance(optimizer, StatefulOptimizer) else None
        if capture == "auto":
            capture = capture_replan if device.type == "cuda" else None
        # None on the CPU, so the CPU re-plan does no extra work.
        self.graph: GraphCache[Callable[[], Tensor]] | None = None
        if capture is not None:
            capture_fn = capture
            self.graph = GraphCache("the re-plan", lambda: capture_fn(self))

    def model_updated(self) -> None:
        """Call after every change of the model's weights (training, a resume, a load): the
        planner's low-precision weight copies (`-precision bf16`) are made anew from them."""
        self.propagation.refresh(self.model)

    def reset(self, env: object) -> None:
        """Start an episode: warm start back to the midpoint, re-read the task's goal from `env`."""
        self._prev_sol.copy_(self._midpoint)
        if self._stateful is not None:
            # A new episode starts from scratch: no mean or elites of the last episode's end.
            self._stateful.reset()
        # DEVIATION: the original keeps leftover buffered actions across episodes; they were
        # planned for the previous episode, so they are dropped (same whenever task_hor % per == 0).
        self._buffer = []
        self.task.update_goal(env)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Return the next action, re-planning when the buffer is empty.

        Args:
            obs: [d] the current observation.

        Returns:
            [a] float32 action.
        """
        if not self._buffer:
            self.load_observation(obs)
            replay = None if self.graph is None else self.graph.get(self.buffer_key())
            plan = self.replan() if replay is None else replay()
            self._buffer = list(plan[: self.per].cpu().numpy().astype(np.float32))  # the one sync
        return self._buffer.pop(0)

    def buffer_key(self) -> BufferKey:
        """Identity of every buffer a captured re-plan reads or writes (`pets.util.capture`)."""
        tensors = [self._obs, self._prev_sol, self._init_var, self._midpoint, self.last_plan]
        tensors += self._optimizer_state()
        if isinstance(self.model, torch.nn.Module):
            tensors += [*self.model.parameters(), *self.model.buffers()]
        return buffer_key(tensors)

    @contextmanager
    def rehearsal(self) -> Iterator[None]:
        """Re-plans inside leave no trace: warm start, last plan and generator are put back.

        A capture needs eager warm-up re-plans; without this they would shift the warm start
        and advance the generator, and the run would differ from an eager one.
        """
        prev_sol, last_plan = self._prev_sol.clone(), self.last_plan.clone()
        saved = [t.clone() for t in self._optimizer_state()]
        gen_state = self.generator.get_state()
        try:
            yield
        finally:
            self._prev_sol.copy_(prev_sol)
            self.last_plan.copy_(last_plan)
            for buffer, value in zip(self._optimizer_state(), saved, strict=True):
                buffer.copy_(value)
            self.generator.set_state(gen_state)

    def _optimizer_state(self) -> list[Tensor]:
        """The buffers a stateful optimizer carries between re-plans (none for CEM, Random)."""
        return [] if self._stateful is None else list(self._stateful.state())

    def load_observation(self, obs: np.ndarray) -> None:
        """Copy `obs` [d] into the static input that `replan` reads."""
        self._obs.copy_(torch.as_tensor(np.asarray(obs), dtype=self.dtype))

    @torch.no_grad()
    def replan(self) -> Tensor:
        """Solve from the warm start for the loaded observation; no host sync.

        Reads only fixed buffers (observation, warm start, generator state) and writes only fixed
        buffers (warm start, `last_plan`), so one call can be captured as a CUDA graph
        (`capture_replan`).

        Returns:
            [H, a] the optimizer's solution: the `last_plan` buffer, overwritten by the next call.
        """
        plan = self.optimizer.solve(self._prev_sol, self._init_var, self.cost, self.generator)
        # In place: the re-plan reads and writes fixed buffers, so it can be captured as a graph.
        self._prev_sol.copy_(shift_plan(plan, self.per, self._midpoint))
        self.last_plan.copy_(plan)
        if self._stateful is not None:
            self._stateful.advance(self.per, self.generator)  # the first `per` actions are run
        return self.last_plan

    def cost(self, actions: Tensor) -> Tensor:
        """Cost of candidate sequences [N, H, a] -> [N] from the current observation."""
        return candidate_costs(
            self.task, self.model, self.propagation, self._obs, actions, self.generator
        )

    @torch.no_grad()
    def predict_particles(
        self, obs: np.ndarray, plan: Tensor, generator: torch.Generator
    ) -> Tensor:
        """Re-propagate `plan` from `obs` with fresh randomness (for `log_traj_preds`).

        Args:
            obs: [d] start observation.
            plan: [H, a] action sequence, e.g. `last_plan`.
            generator: random source on the model's device.

        Returns:
            [H+1, P, d] particle states, the start state first.
        """
        start = torch.as_tensor(np.asarray(obs), dtype=self.dtype, device=self.device)
        return predict_trajectories(self.task, self.model, self.propagation, start, plan, generator)


def shift_plan(plan: Tensor, per: int, pad: Tensor) -> Tensor:
    """Warm start: drop the first `per` steps of `plan` and append `per` steps of `pad`.

    Args:
        plan: [H, a] the last solution.
        per: steps executed from it.
        pad: [H, a] padding rows (the bounds' midpoint).

    Returns:
        [H, a] the shifted plan.
    """
    return torch.cat([plan[per:], pad[:per]])  # [H-per, a] ++ [per, a] -> [H, a]
