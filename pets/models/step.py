"""One gradient step of a PETS ensemble on one minibatch per member (docs/spec/pets-facts.md §5.5).

Shared by `fit`'s eager loop (`train_step`) and the captured step (`pets.models.graphed`), so both
run the same arithmetic in the same order. Shapes never depend on the data, so a step can be
captured as a CUDA graph. Imports only `pets.models`.
"""

from __future__ import annotations

from torch import Tensor

from pets.models.adam import StepOptimizer
from pets.models.ensemble import Ensemble
from pets.models.losses import model_loss


def batch_step(
    model: Ensemble,
    optimizer: StepOptimizer,
    inputs: Tensor,
    targets: Tensor,
    row_weights: Tensor,
) -> Tensor:
    """One optimiser step on gathered minibatches.

    Args:
        model: the ensemble.
        optimizer: its optimiser.
        inputs: [E, B, d_in] member e's minibatch in slice e.
        targets: [E, B, d_out] matching targets.
        row_weights: [B] 1 for real rows, 0 for padding.

    Returns:
        [] the loss before the step (detached, still on the device: no host sync).
    """
    loss = model_loss(model, inputs, targets, row_weights)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def train_step(
    model: Ensemble,
    optimizer: StepOptimizer,
    inputs: Tensor,
    targets: Tensor,
    idx: Tensor,
    row_weights: Tensor,
) -> Tensor:
    """One Adam step on one minibatch per member; shapes never depend on the data.

    Args:
        model: the ensemble.
        optimizer: its optimiser.
        inputs: [N, d_in] all training inputs, on the model's device.
        targets: [N, d_out] all training targets, on the model's device.
        idx: [E, B] row indices, member e's minibatch in row e.
        row_weights: [B] 1 for real rows, 0 for padding.

    Returns:
        [] the loss before the step (detached, still on the device: no host sync).
    """
    # [E, B] indices -> [E, B, d_*] minibatches
    return batch_step(model, optimizer, inputs[idx], targets[idx], row_weights)
