"""Adam for the ensemble, without `torch.optim` (whose first call imports `torch._dynamo`).

`torch.optim.Optimizer` wraps `add_param_group` and `step` in dynamo-disabling decorators, and
the first call of one imports `torch._dynamo` (about 1.7 s, a third of a run's start-up on our
machines) although PETS never compiles. This class does the arithmetic of `torch.optim.Adam`'s
single-tensor path (its default on the CPU) in the same order, or with `fused=True` (what
`make_optimizer` picks on the CPU) calls the kernel of `torch.optim.Adam(fused=True)`: the same
kernels in the same order, so on any one machine its results equal the matching torch
optimiser's bit for bit. It reads and writes that optimiser's state dict
format, so checkpoints and model files of either load into the other. With `capturable=True`
(what `make_optimizer` picks on CUDA) step counts live in device tensors that the same fused
kernel reads there, so a whole training step can be captured as a CUDA graph
(`pets.models.graphed`); its state is then allocated up front and every later write,
`load_state_dict` included, goes in place.
Imports only torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

import torch
from torch import Tensor

from pets.errors import ConfigError


class StepOptimizer(Protocol):
    """What training needs of an optimiser (`Adam`, or any `torch.optim.Optimizer`)."""

    def zero_grad(self, set_to_none: bool = True) -> None: ...
    def step(self) -> object: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state_dict: dict[str, Any]) -> None: ...


@dataclass
class _FusedGroup:
    """One call of the fused kernel: parameters of one weight decay, their gradients and state."""

    decay: float
    members: list[int]
    params: list[Tensor]
    grads: list[Tensor]
    exp_avgs: list[Tensor]
    exp_avg_sqs: list[Tensor]


class Adam:
    """Adam (Kingma & Ba 2015) with bias correction, no weight decay and no amsgrad.

    Per parameter, with gradient g at step t: `m ← lerp(m, g, 1 − β1)`,
    `v ← β2·v + (1 − β2)·g²`, `p ← p − lr/(1 − β1^t) · m / (√v / √(1 − β2^t) + ε)`; parameters
    without a gradient are skipped and keep their step count, as in `torch.optim.Adam`.

    Args:
        params: the tensors to train (leaf tensors that require grad).
        lr: learning rate.
        betas: (β1, β2).
        eps: ε.
        capturable: keep step counts as float32 device tensors and update with torch's fused
            kernel, which reads them on the device (no Python scalar that changes per step), so
            `step` can be captured: what `torch.optim.Adam(fused=True)` runs, bit for bit
            (equal to the default path up to float32 rounding).
        fused: update with torch's fused kernel (`torch._fused_adam_`, what
            `torch.optim.Adam(fused=True)` runs): one pass over memory instead of seven, what
            `make_optimizer` picks on the CPU; rounded as that kernel rounds, bit for bit.

    Raises:
        ConfigError: no parameters, or a setting out of range.
    """

    def __init__(
        self,
        params: Iterable[Tensor],
        *,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        capturable: bool = False,
        fused: bool = False,
    ) -> None:
        if capturable and fused:
            raise ConfigError("Adam is either capturable (CUDA graphs) or fused (CPU), not both")
        self.fused = bool(fused)
        self.params = list(params)
        if not self.params:
            raise ConfigError("Adam got no parameters to train")
        if not (lr > 0 and 0 <= betas[0] < 1 and 0 <= betas[1] < 1 and eps >= 0):
            raise ConfigError(f"Adam needs lr > 0, betas in [0, 1) and eps ≥ 0, got {lr}, {betas}")
        self.lr, self.betas, self.eps = float(lr), (float(betas[0]), float(betas[1])), float(eps)
        self.steps = [0] * len(self.params)  # per parameter, as torch keeps them
        self.exp_avgs: list[Tensor | None] = [None] * len(self.params)
        self.exp_avg_sqs: list[Tensor | None] = [None] * len(self.params)
        self.capturable = bool(capturable)
        # fused: the kernel's argument lists, kept while the gradients are the same tensors
        self._fused_cache: tuple[tuple[object, ...], list[_FusedGroup]] | None = None
        self.step_counts: list[Tensor] = []  # capturable only: [] float32 per parameter
        if self.capturable:
            self.exp_avgs = [torch.zeros_like(p) for p in self.params]
            self.exp_avg_sqs = [torch.zeros_like(p) for p in self.params]
            # float32, as the fused kernel reads them (exact up to 2^24 steps, far above a run's)
            self.step_counts = [
                torch.zeros((), dtype=torch.float32, device=p.device) for p in self.params
            ]

    def state_tensors(self) -> list[Tensor]:
        """Every state tensor a captured step writes (capturable), for `pets.capture.buffer_key`."""
        moments = [t for t in (*self.exp_avgs, *self.exp_avg_sqs) if t is not None]
        return [*moments, *self.step_counts]

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop (or zero) every parameter's gradient."""
        for p in self.params:
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        """Update every parameter that has a gradient (torch's `_single_tensor_adam` order)."""
        if self.capturable:
            self._step_on_device()
            return
        if self.fused:
            self._step_fused()
            return
        beta1, beta2 = self.betas
        for i, param in enumerate(self.params):
            grad = param.grad
            if grad is None:
                continue
            exp_avg, exp_avg_sq = self.exp_avgs[i], self.exp_avg_sqs[i]
            if exp_avg is None or exp_avg_sq is None:
                exp_avg = self.exp_avgs[i] = torch.zeros_like(param)
                exp_avg_sq = self.exp_avg_sqs[i] = torch.zeros_like(param)
            self.steps[i] += 1
            step = self.steps[i]
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            bias_correction1 = 1 - beta1**step
            bias_correction2_sqrt = (1 - beta2**step) ** 0.5
            denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(self.eps)
            param.addcdiv_(exp_avg, denom, value=-(self.lr / bias_correction1))

    @torch.no_grad()
    def step_with_decay(self, decays: Sequence[float]) -> None:
        """A fused step that adds λ_i·p_i to parameter i's gradient first (L2 weight decay).

        As `torch.optim.Adam(fused=True)` with one parameter group per λ does, bit for bit: the
        gradient of a loss term λ·½·‖p‖² added inside the kernel rather than by autograd.

        Args:
            decays: λ per parameter (in `params` order), ≥ 0.

        Raises:
            ValueError: not a fused Adam, or not one λ per parameter.
        """
        if not self.fused or len(decays) != len(self.params):
            raise ValueError(
                f"step_with_decay needs a fused Adam and {len(self.params)} decays, got "
                f"fused={self.fused} and {len(decays)}"
            )
        self._step_fused([float(lam) for lam in decays])

    def _step_fused(self, decays: list[float] | None = None) -> None:
        """`step` as torch's fused Adam kernel (`torch.optim.Adam(fused=True)`), per λ group.

        One pass over each parameter's memory instead of seven: the same formula, rounded as
        torch's fused kernel rounds it (bit-identical to `torch.optim.Adam(fused=True)`). The
        kernel's argument lists are built once and reused while the gradients and state
        tensors stay the same objects (a training call writes its gradients in place).
        """
        grads = [p.grad for p in self.params]
        key = (None if decays is None else tuple(decays), tuple(map(id, grads)))
        if self._fused_cache is None or self._fused_cache[0] != key:
            self._fused_cache = (key, self._fused_groups(grads, decays))
        groups = self._fused_cache[1]
        counts = set()
        for group in groups:
            for i in group.members:
                self.steps[i] += 1
                counts.add(self.steps[i])
        steps = {c: torch.tensor(float(c)) for c in counts}  # one when every parameter trains
        beta1, beta2 = self.betas
        for group in groups:
            torch._fused_adam_(
                group.params,
                group.grads,
                group.exp_avgs,
                group.exp_avg_sqs,
                [],
                [steps[self.steps[i]] for i in group.members],
                lr=self.lr,
                beta1=beta1,
                beta2=beta2,
                weight_decay=group.decay,
                eps=self.eps,
                amsgrad=False,
                maximize=False,
            )

    def _fused_groups(
        self, grads: list[Tensor | None], decays: list[float] | None
    ) -> list[_FusedGroup]:
        """The parameters that have gradients, grouped by λ, with their state (allocated here)."""
        by_decay: dict[float, _FusedGroup] = {}
        for i, (param, grad) in enumerate(zip(self.params, grads, strict=True)):
            if grad is None:
                continue
            if self.exp_avgs[i] is None:
                self.exp_avgs[i] = torch.zeros_like(param)
                self.exp_avg_sqs[i] = torch.zeros_like(param)
            lam = 0.0 if decays is None else decays[i]
            group = by_decay.setdefault(lam, _FusedGroup(lam, [], [], [], [], []))
            group.members.append(i)
            group.params.append(param)
            group.grads.append(grad)
            group.exp_avgs.append(cast(Tensor, self.exp_avgs[i]))
            group.exp_avg_sqs.append(cast(Tensor, self.exp_avg_sqs[i]))
        return list(by_decay.values())

    def _step_on_device(self) -> None:
        """`step` with the step counts on the device: one multi-tensor add, one fused Adam kernel.

        As `torch.optim.Adam(fused=True)` with device step tensors does (the kernel reads each
        count on the device and computes its bias corrections there), so nothing on the host
        changes from step to step and the update can be captured: two multi-tensor kernels
        instead of about 18 small ops per parameter tensor, rounded as that kernel rounds.
        """
        beta1, beta2 = self.betas
        groups: dict[tuple[torch.device, torch.dtype], list[int]] = {}
        for i, param in enumerate(self.params):
            if param.grad is not None:
                groups.setdefault((param.device, param.dtype), []).append(i)
        # The fused kernel takes tensors of one device and dtype per call, as torch.optim
        # groups them (a PETS model has one group).
        for members in groups.values():
            steps = [self.step_counts[i] for i in members]
            torch._foreach_add_(steps, 1)
            torch._fused_adam_(
                [self.params[i] for i in members],
                [cast(Tensor, self.params[i].grad) for i in members],
                [cast(Tensor, self.exp_avgs[i]) for i in members],
                [cast(Tensor, self.exp_avg_sqs[i]) for i in members],
                [],
                steps,
                lr=self.lr,
                beta1=beta1,
                beta2=beta2,
                weight_decay=0.0,
                eps=self.eps,
                amsgrad=False,
                maximize=False,
            )

    def state_dict(self) -> dict[str, Any]:
        """The state in `torch.optim.Adam.state_dict()`'s format (steps as float32 tensors)."""
        state: dict[int, dict[str, Tensor]] = {}
        steps = [int(c) for c in self.step_counts] if self.capturable else self.steps
        for i, (m, v) in enumerate(zip(self.exp_avgs, self.exp_avg_sqs, strict=True)):
            # As torch: a parameter never stepped has no state (capturable zeros are not state).
            if m is not None and v is not None and (steps[i] > 0 or not self.capturable):
                step = torch.tensor(float(steps[i]), dtype=torch.float32)
                state[i] = {"step": step, "exp_avg": m.clone(), "exp_avg_sq": v.clone()}
        group = {
            "lr": self.lr,
            "betas": self.betas,
            "eps": self.eps,
            "weight_decay": 0,
            "amsgrad": False,
            "maximize": False,
            "foreach": None,
            "capturable": False,
            "differentiable": False,
            "fused": True if self.fused else None,
            "decoupled_weight_decay": False,
            "params": list(range(len(self.params))),
        }
        return {"state": state, "param_groups": [group]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state written by `state_dict` or by `torch.optim.Adam` (one group).

        Raises:
            ConfigError: the state belongs to another set of parameters or settings.
        """
        groups = state_dict["param_groups"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(self.params):
            sizes = [len(g["params"]) for g in groups]
            raise ConfigError(
                f"optimizer state has parameter groups of sizes {sizes}, this model needs one "
                f"group of {len(self.params)}"
            )
        group = groups[0]
        if group.get("weight_decay", 0) or group.get("amsgrad", False):
            raise ConfigError("optimizer state uses weight_decay or amsgrad, which PETS never does")
        self._fused_cache = None  # the state tensors are replaced below
        self.lr, self.eps = float(group["lr"]), float(group["eps"])
        self.betas = (float(group["betas"][0]), float(group["betas"][1]))
        for i, param in enumerate(self.params):
            entry = state_dict["state"].get(i)
            if self.capturable:
                self._load_in_place(i, entry)
                continue
            if entry is None:
                self.steps[i], self.exp_avgs[i], self.exp_avg_sqs[i] = 0, None, None
                continue
            self.steps[i] = int(entry["step"])
            self.exp_avgs[i] = entry["exp_avg"].to(param.device, param.dtype, copy=True)
            self.exp_avg_sqs[i] = entry["exp_avg_sq"].to(param.device, param.dtype, copy=True)

    def _load_in_place(self, i: int, entry: dict[str, Tensor] | None) -> None:
        """Capturable: overwrite parameter i's state tensors, so a captured step stays valid."""
        exp_avg, exp_avg_sq = self.exp_avgs[i], self.exp_avg_sqs[i]
        assert exp_avg is not None and exp_avg_sq is not None  # allocated in __init__
        if entry is None:
            exp_avg.zero_()
            exp_avg_sq.zero_()
            self.step_counts[i].zero_()
            return
        if tuple(entry["exp_avg"].shape) != tuple(exp_avg.shape):
            raise ConfigError(
                f"optimizer state of parameter {i} has shape {tuple(entry['exp_avg'].shape)}, "
                f"the model's is {tuple(exp_avg.shape)}"
            )
        exp_avg.copy_(entry["exp_avg"])
        exp_avg_sq.copy_(entry["exp_avg_sq"])
        self.step_counts[i].fill_(float(entry["step"]))
