"""The PETS training objective, one free function per term (docs/spec/pets-facts.md §5.3–§5.4).

Every data term takes optional `row_weights` [B] (1 for a real row, 0 for padding) so a
training step has the same shapes for every minibatch; with weights the term equals the
original's mean over the real rows only. Imports only `pets.models.ensemble`.
"""

from __future__ import annotations

from typing import cast

from torch import Tensor

from pets.models.ensemble import Ensemble, EnsembleLinear

# docs/spec/pets-facts.md §5.3: weight of the log-variance bound regulariser.
LOGVAR_BOUND_COEF = 0.01


def _member_mean(per_element: Tensor, row_weights: Tensor | None) -> Tensor:
    """Mean over rows and output dims per member ([E, B, d_out] -> [E])."""
    per_row = per_element.mean(dim=-1)  # [E, B, d_out] -> [E, B]
    if row_weights is None:
        return per_row.mean(dim=-1)
    return (per_row * row_weights).sum(dim=-1) / row_weights.sum()  # [E, B] -> [E]


def gaussian_nll_loss(
    mean: Tensor, logvar: Tensor, targets: Tensor, row_weights: Tensor | None = None
) -> Tensor:
    """Σ_e [ mean_{n,d} (μ − y)²·exp(−logvar) + mean_{n,d} logvar ] (P/PE data term).

    Args:
        mean: [E, B, d_out] predicted means.
        logvar: [E, B, d_out] bounded log-variances.
        targets: [E, B, d_out] each member's targets.
        row_weights: [B] 1 for real rows, 0 for padding; None means all rows are real.

    Returns:
        [] the summed loss.
    """
    # PETS: no ½ factors, so this is twice the Gaussian NLL per element up to a constant.
    per_element = (mean - targets).square() * (-logvar).exp() + logvar
    return _member_mean(per_element, row_weights).sum()


def half_mse_loss(mean: Tensor, targets: Tensor, row_weights: Tensor | None = None) -> Tensor:
    """Σ_e mean_{n,d} ½(μ − y)² (D/DE data term).

    Args:
        mean: [E, B, d_out] predicted means.
        targets: [E, B, d_out] each member's targets.
        row_weights: [B] 1 for real rows, 0 for padding; None means all rows are real.

    Returns:
        [] the summed loss.
    """
    return _member_mean(0.5 * (mean - targets).square(), row_weights).sum()


def weight_decay_loss(model: Ensemble) -> Tensor:
    """Σ_l λ_l·½·‖W_l‖² over each whole [E, d_in, d_out] weight tensor; biases are not decayed.

    Args:
        model: the ensemble; `model.weight_decays` holds λ_l, input → … → output.

    Returns:
        [] the penalty.
    """
    terms = [
        lam * 0.5 * cast(EnsembleLinear, layer).weight.square().sum()
        for lam, layer in zip(model.weight_decays, model.layers, strict=True)
    ]
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def logvar_bound_loss(model: Ensemble) -> Tensor:
    """0.01·Σ_d max_logvar_d − 0.01·Σ_d min_logvar_d: pulls the two bounds towards each other.

    Args:
        model: a probabilistic ensemble.

    Returns:
        [] the penalty.
    """
    assert model.max_logvar is not None and model.min_logvar is not None
    return LOGVAR_BOUND_COEF * (model.max_logvar.sum() - model.min_logvar.sum())


def model_loss(
    model: Ensemble, inputs: Tensor, targets: Tensor, row_weights: Tensor | None = None
) -> Tensor:
    """The objective Adam minimises in one training step.

    P/PE: gaussian_nll_loss + weight_decay_loss + logvar_bound_loss.
    D/DE: half_mse_loss + weight_decay_loss.

    Args:
        model: the ensemble.
        inputs: [E, B, d_in] raw inputs, member e's minibatch in slice e.
        targets: [E, B, d_out] matching targets.
        row_weights: [B] 1 for real rows, 0 for padding; None means all rows are real.

    Returns:
        [] the loss.
    """
    mean, logvar = model.mean_and_logvar(inputs)
    if logvar is None:
        data = half_mse_loss(mean, targets, row_weights)
    else:
        data = gaussian_nll_loss(mean, logvar, targets, row_weights) + logvar_bound_loss(model)
    return data + weight_decay_loss(model)


def member_mse(mean: Tensor, targets: Tensor) -> Tensor:
    """Mean squared error of the means per member, the original's logged "mse" (no variance).

    Args:
        mean: [E, B, d_out] predicted means.
        targets: [E, B, d_out] targets.

    Returns:
        [E] per-member MSE.
    """
    return (mean - targets).square().mean(dim=(1, 2))
