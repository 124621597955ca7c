"""Learned dynamics models of PETS: D, P, DE, PE ensembles and the GP (docs/spec/pets-facts.md §5).

Owns the batched ensemble MLP, its input scaler, the training objective, the original-style
training call and save/load. Knows nothing of environments, propagation or planners (it imports
only torch, numpy, scipy.optimize (GP training, imported when first used) and
`pets.errors`/`pets.util.fileio`/`pets.util.capture`).

Modules: `ensemble` (layers, network, aggregated prediction), `losses` (the objective, term by
term), `adam` (the optimiser), `step` (one gradient step through autograd), `fused_step` (the
CPU step: hand-written backward and fused Adam), `graphed` (the step as a CUDA graph),
`training` (`fit`), `saving` (model files), `gp` (the sparse GP of `-ca model-type GP`) and
`gp_fit` (its L-BFGS-B training call).
"""

from __future__ import annotations

from pets.models.adam import Adam, StepOptimizer
from pets.models.ensemble import (
    Ensemble,
    EnsembleLinear,
    InputScaler,
    bound_logvar,
    init_pets_linear_,
    predict_aggregated,
)
from pets.models.gp import SparseGP
from pets.models.gp_fit import GPFitReport, fit_gp
from pets.models.graphed import GraphedStep
from pets.models.losses import (
    gaussian_nll_loss,
    half_mse_loss,
    logvar_bound_loss,
    member_mse,
    model_loss,
    weight_decay_loss,
)
from pets.models.saving import load_model, save_model
from pets.models.training import FitReport, fit, make_optimizer, train_step

__all__ = [
    "Adam",
    "Ensemble",
    "EnsembleLinear",
    "FitReport",
    "GPFitReport",
    "GraphedStep",
    "InputScaler",
    "SparseGP",
    "StepOptimizer",
    "bound_logvar",
    "fit",
    "fit_gp",
    "gaussian_nll_loss",
    "half_mse_loss",
    "init_pets_linear_",
    "load_model",
    "logvar_bound_loss",
    "make_optimizer",
    "member_mse",
    "model_loss",
    "predict_aggregated",
    "save_model",
    "train_step",
    "weight_decay_loss",
]
