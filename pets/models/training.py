"""One original-style training call of a PETS ensemble (`docs/spec/pets-facts.md` §5.5).

Owns the optimiser factory and `fit`: input checks, holdout split, scaler refit, bootstrap,
epochs of minibatches. Each minibatch is one step of a strategy chosen once per call
(`_minibatch_step`): the reference autograd step (`pets.models.step`), the CPU step with a
hand-written backward (`pets.models.fused_step`), or one replay of a captured step
(`pets.models.graphed`, on CUDA); all three take one Adam step on `pets.models.losses.model_loss`.
Imports only `pets.models` and `pets.errors`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from pets.errors import ConfigError
from pets.models.adam import Adam, StepOptimizer
from pets.models.ensemble import Ensemble
from pets.models.fused_step import FusedStep, row_scale
from pets.models.graphed import GraphedStep
from pets.models.losses import member_mse
from pets.models.step import train_step

__all__ = ["ADAM_BETAS", "ADAM_EPS", "FitReport", "fit", "make_optimizer", "train_step"]

MinibatchStep = Callable[[Tensor, int], Tensor]
"""`step(idx, b) -> loss`: one gradient step on minibatch `b` of a pass, given its row indices
idx [E, B]; returns the loss before the step ([])."""

# docs/spec/pets-facts.md §4.2: Adam with TensorFlow's defaults.
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


@dataclass(frozen=True)
class FitReport:
    """What one `fit` call reports.

    Attributes:
        epoch_losses: per epoch, the mean over its minibatches of the training objective.
        train_mse: after training, the MSE of the means on (up to `max_logging` of) each
            member's own bootstrap rows, averaged over members (the original's progress value).
        holdout_mse: the same on the held-out rows, or None without a holdout.
        steps: gradient steps taken (epochs · ceil(N_train / batch_size)).
    """

    epoch_losses: list[float]
    train_mse: float
    holdout_mse: float | None
    steps: int


def make_optimizer(model: Ensemble, lr: float) -> Adam:
    """Adam over every weight, bias and log-variance bound, with TF defaults (β 0.9/0.999, ε 1e−8).

    On CUDA the optimiser is capturable (step counts on the device), so `GraphedStep` can
    capture the whole training step; on the CPU it is fused (torch's fused kernel, one pass over
    memory), which `fit` pairs with the hand-written backward of `FusedStep`.

    Args:
        model: the ensemble to train.
        lr: learning rate (per env, `docs/spec/pets-facts.md` §4.2).

    Raises:
        ConfigError: `lr` is not a positive finite number.
    """
    if not (isinstance(lr, int | float) and math.isfinite(lr) and lr > 0):
        raise ConfigError(f"lr must be a positive finite number, got {lr!r}")
    # DEVIATION: TF1's Adam adds ε to √v = √v̂·√(1 − β2^t), torch's to the bias-corrected √v̂;
    # with ε = 1e−8 the two updates differ only while √v̂ is itself of order 1e−7.
    on_cuda = next(model.parameters()).device.type == "cuda"
    return Adam(
        model.parameters(),
        lr=lr,
        betas=ADAM_BETAS,
        eps=ADAM_EPS,
        capturable=on_cuda,
        fused=not on_cuda,
    )


def _model_device_dtype(model: Ensemble) -> tuple[torch.device, torch.dtype]:
    weight = next(model.parameters())
    return weight.device, weight.dtype


def _check_data(name: str, value: Tensor | np.ndarray, width: int, model: Ensemble) -> Tensor:
    """Return `value` as a [N, width] tensor on the model's device and dtype, or raise."""
    device, dtype = _model_device_dtype(model)
    data = torch.as_tensor(value)
    if data.dim() != 2 or data.shape[1] != width:
        raise ConfigError(f"{name} must have shape [N, {width}], got {tuple(data.shape)}")
    if data.shape[0] == 0:
        raise ConfigError(f"{name} is empty (0 rows); fit needs at least one transition")
    data = data.to(device=device, dtype=dtype)
    finite = torch.isfinite(data).all(dim=1)
    if not bool(finite.all()):  # one host sync per fit call, never per step
        bad = (~finite).nonzero().flatten()
        raise ConfigError(
            f"{name} holds NaN or inf in {bad.numel()} of {data.shape[0]} rows "
            f"(first bad row {int(bad[0])}); the training data must be finite"
        )
    return data


def _check_settings(
    epochs: int, batch_size: int, holdout_ratio: float, max_logging: int, generator: object
) -> None:
    if not isinstance(epochs, int) or epochs < 0:
        raise ConfigError(f"epochs must be an integer ≥ 0, got {epochs!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be an integer ≥ 1, got {batch_size!r}")
    if not (isinstance(holdout_ratio, int | float) and 0.0 <= holdout_ratio < 1.0):
        raise ConfigError(f"holdout_ratio must be in [0, 1), got {holdout_ratio!r}")
    if not isinstance(max_logging, int) or max_logging < 1:
        raise ConfigError(f"max_logging must be an integer ≥ 1, got {max_logging!r}")
    if not isinstance(generator, torch.Generator):
        raise ConfigError(f"generator must be a torch.Generator, got {type(generator).__name__}")


def _shuffle_rows(order: Tensor, generator: torch.Generator) -> Tensor:
    """Permute each row of `order` [E, N] independently (the original's argsort of uniforms)."""
    keys = torch.rand(order.shape, generator=generator, device=order.device)
    return order.gather(1, keys.argsort(dim=1))


def _pad_cyclic(order: Tensor, width: int) -> Tensor:
    """Extend [E, N] to [E, width] by repeating each row from its start.

    Padding rows are thus taken from the member's own bootstrap sample; they carry weight 0.
    """
    reps = -(-width // order.shape[1])
    return order.repeat(1, reps)[:, :width]


def _fused_step(model: Ensemble, optimizer: StepOptimizer, batch_size: int) -> FusedStep | None:
    """The hand-written CPU step for this model and optimiser, or None where it does not apply.

    It applies to a fused `Adam` (`make_optimizer` on the CPU); any other optimiser (a
    `torch.optim` one, the capturable Adam of a CUDA run without a graph) trains through
    autograd (`train_step`).
    """
    params = list(model.parameters())
    if (
        isinstance(optimizer, Adam)
        and optimizer.fused
        and len(optimizer.params) == len(params)
        and all(a is b for a, b in zip(optimizer.params, params, strict=True))
    ):
        return FusedStep(model, optimizer, batch_size)
    return None


def _minibatch_step(
    model: Ensemble,
    optimizer: StepOptimizer,
    x: Tensor,
    y: Tensor,
    row_weights: Tensor,
    *,
    step: GraphedStep | None,
) -> MinibatchStep:
    """Choose, once per `fit` call, how every minibatch of the call is trained.

    In order: the captured `step` when one is given (CUDA runs); the hand-written CPU step
    (`FusedStep`, on inputs scaled once) for a fused Adam over this model; else one autograd step
    (`train_step`), the reference the other two are tested against.

    Args:
        model: the ensemble, its scaler already refit.
        optimizer: its optimiser.
        x: [N, d_in] training inputs (unscaled).
        y: [N, d_out] training targets.
        row_weights: [num_batches, B] 1 for real rows, 0 for the last minibatch's padding.
        step: the captured step of this model and optimiser, or None.
    """
    if step is not None:
        graphed = step

        def replay(idx: Tensor, b: int) -> Tensor:
            return graphed(x, y, idx, row_weights[b])

        return replay
    num_batches, batch_size = row_weights.shape
    fused = _fused_step(model, optimizer, batch_size)
    if fused is not None:
        x_scaled = model.scaler(x)  # scaled once, not per minibatch
        full, last = (row_scale(row_weights[b], model.out_dim) for b in (0, num_batches - 1))

        def fused_minibatch(idx: Tensor, b: int) -> Tensor:
            # Only the last minibatch is padded.
            return fused(x_scaled, y, idx, last if b == num_batches - 1 else full)

        return fused_minibatch

    def autograd_minibatch(idx: Tensor, b: int) -> Tensor:
        return train_step(model, optimizer, x, y, idx, row_weights[b])

    return autograd_minibatch


@torch.no_grad()
def _mean_member_mse(model: Ensemble, inputs: Tensor, targets: Tensor) -> float:
    """Average over members of the MSE of the means; inputs [E, B, d_in], targets [E, B, d_out]."""
    mean, _ = model.mean_and_logvar(inputs)
    return float(member_mse(mean, targets).mean())


def fit(
    model: Ensemble,
    optimizer: StepOptimizer,
    inputs: Tensor | np.ndarray,
    targets: Tensor | np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    generator: torch.Generator,
    holdout_ratio: float = 0.0,
    max_logging: int = 5000,
    on_step: Callable[[int, int], None] | None = None,
    step: GraphedStep | None = None,
) -> FitReport:
    """Train the model once on all data, as the original's `BNN.train`/`NN.train` call does.

    Steps (`docs/spec/pets-facts.md` §5.5): hold out min(⌊N·holdout_ratio⌋, max_logging) random rows
    (reported only); refit the input scaler on the remaining N' rows; draw a fresh bootstrap of
    N' indices with replacement per member (also when E = 1); run `epochs` passes of
    ⌈N'/batch_size⌉ minibatches, member e taking its columns of its own index row, and shuffle
    every row independently after each pass. Weights and optimiser state are never reset (warm
    start). Targets are not normalised. The last minibatch of a pass is padded to `batch_size`
    with zero-weight rows, so every step has the same shapes and the same loss as the original.

    Args:
        model: the ensemble, trained in place.
        optimizer: its optimiser (from `make_optimizer`); its state carries across calls.
        inputs: [N, d_in] model inputs (tensor or array), converted to the model's device/dtype.
        targets: [N, d_out] model targets.
        epochs: passes over the bootstrap sample (5 in every original config).
        batch_size: rows per member per step (32 in every original config).
        generator: the random source of holdout, bootstrap and shuffles (any device).
        holdout_ratio: fraction of rows held out for reporting, in [0, 1).
        max_logging: cap on held-out rows and on rows used for the reported MSE.
        on_step: called as `on_step(done, total)` after each gradient step (progress display).
        step: the captured step of this model and optimiser (CUDA runs), kept across calls so
            one capture serves the whole run; None runs each step eagerly.

    Returns:
        The losses and errors of this call.

    Raises:
        ConfigError: shapes do not match the model, data is empty or not finite, or a setting is
            out of range.
    """
    _check_settings(epochs, batch_size, holdout_ratio, max_logging, generator)
    if step is not None and (step.model is not model or step.optimizer is not optimizer):
        raise ValueError("step was built for another model or optimizer")
    if step is not None:
        step.recheck()  # weights or optimiser state may have been replaced since the last call
    x = _check_data("inputs", inputs, model.in_dim, model)
    y = _check_data("targets", targets, model.out_dim, model)
    if x.shape[0] != y.shape[0]:
        raise ConfigError(
            f"inputs and targets must have the same number of rows, got {x.shape[0]} and "
            f"{y.shape[0]}"
        )
    device = x.device
    rng_device = generator.device

    num_holdout = min(math.floor(x.shape[0] * holdout_ratio), max_logging)
    if num_holdout >= x.shape[0]:
        raise ConfigError(
            f"holdout_ratio {holdout_ratio} leaves no training rows out of {x.shape[0]}"
        )
    x_hold = y_hold = None
    if num_holdout > 0:
        perm = torch.randperm(x.shape[0], generator=generator, device=rng_device).to(device)
        x_hold, y_hold = x[perm[:num_holdout]], y[perm[:num_holdout]]
        x, y = x[perm[num_holdout:]], y[perm[num_holdout:]]

    model.scaler.fit(x)

    n, num_members = x.shape[0], model.ensemble_size
    num_batches = -(-n // batch_size)
    padded = num_batches * batch_size
    row_weights = (torch.arange(padded, device=device) < n).to(x.dtype)  # [padded]
    row_weights = row_weights.view(num_batches, batch_size)  # -> [num_batches, batch_size]
    # PETS: every member, even a single network, trains on its own bootstrap resample.
    order = torch.randint(n, (num_members, n), generator=generator, device=rng_device)  # [E, n]

    train_minibatch = _minibatch_step(model, optimizer, x, y, row_weights, step=step)
    loss_sums = torch.zeros(epochs, dtype=x.dtype, device=device)
    for epoch in range(epochs):
        idx = _pad_cyclic(order, padded).to(device)  # [E, n] -> [E, padded]
        for b in range(num_batches):
            loss = train_minibatch(idx[:, b * batch_size : (b + 1) * batch_size], b)
            loss_sums[epoch] += loss
            if on_step is not None:
                on_step(epoch * num_batches + b + 1, epochs * num_batches)
        order = _shuffle_rows(order, generator)

    log_idx = order[:, :max_logging].to(device)  # [E, ≤max_logging]
    train_mse = _mean_member_mse(model, x[log_idx], y[log_idx])
    holdout_mse = None
    if x_hold is not None and y_hold is not None:
        xh = x_hold.unsqueeze(0).expand(num_members, -1, -1)  # [Nh, d_in] -> [E, Nh, d_in]
        yh = y_hold.unsqueeze(0).expand(num_members, -1, -1)
        holdout_mse = _mean_member_mse(model, xh, yh)
    return FitReport(
        epoch_losses=(loss_sums / num_batches).tolist(),
        train_mse=train_mse,
        holdout_mse=holdout_mse,
        steps=epochs * num_batches,
    )
