"""Save and load a PETS ensemble with its optimiser state in a safe format.

A model file is one `torch.save`d dict of plain values and tensors, so
`torch.load(path, weights_only=True)` reads it: `format`, `architecture` (constructor arguments
and dtype), `state_dict` (weights, scaler buffers, log-variance bounds) and `optimizer` (the
optimiser's state dict or None). Writes are atomic (`pets.util.torchfile.save_torch`); a damaged or
foreign file is one `DamagedFileError`.
"""

from __future__ import annotations

import os

import torch

from pets.errors import DamagedFileError
from pets.models.adam import StepOptimizer
from pets.models.ensemble import Ensemble
from pets.models.gp import SparseGP
from pets.util.torchfile import first_line, load_torch, require_keys, save_torch

MODEL_FORMAT = "pets.models.Ensemble/1"
# DEVIATION: the original's TFGP.save does nothing; ours is saved so `pets render` and resume work.
GP_FORMAT = "pets.models.SparseGP/1"
_DTYPES = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}
_MODEL_KEYS = ("format", "architecture", "state_dict", "optimizer")
_REMEDY = "point model_dir (render: -model-dir) at a run directory whose model.pt is whole"


def save_model(
    path: str | os.PathLike[str],
    model: Ensemble | SparseGP,
    optimizer: StepOptimizer | None = None,
) -> None:
    """Write `model` (and the optimiser's state, for resuming training) to `path` atomically.

    Args:
        path: destination file (conventionally `model.pt`).
        model: the ensemble or the GP.
        optimizer: its optimiser, or None to store no optimiser state (always None for the GP).
    """
    if isinstance(model, SparseGP):
        _save_gp(path, model)
        return
    dtype = next(model.parameters()).dtype
    architecture = {**model.architecture(), "dtype": str(dtype).removeprefix("torch.")}
    blob = {
        "format": MODEL_FORMAT,
        "architecture": architecture,
        "state_dict": model.state_dict(),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
    }
    save_torch(path, blob)


def _save_gp(path: str | os.PathLike[str], model: SparseGP) -> None:
    blob = {
        "format": GP_FORMAT,
        "architecture": model.architecture(),
        "state_dict": model.state_dict(),
        "optimizer": None,
    }
    save_torch(path, blob)


def load_model(
    path: str | os.PathLike[str], *, device: str | torch.device = "cpu"
) -> tuple[Ensemble | SparseGP, dict | None]:
    """Read a file written by `save_model`.

    The model is rebuilt from its stored architecture without touching the global random
    state, then given the stored tensors, so it predicts bit-identically to the saved one.

    Args:
        path: the model file.
        device: where to put the model and the optimiser state.

    Returns:
        The model and the optimiser state dict (None if none was saved); restore the latter
        with `make_optimizer(model, lr).load_state_dict(state)`.

    Raises:
        FileNotFoundError: `path` does not exist.
        DamagedFileError: the file is truncated, corrupt, or not a PETS model file.
    """
    blob = load_torch(path, remedy=_REMEDY, map_location=device)
    known = (MODEL_FORMAT, GP_FORMAT)
    if isinstance(blob, dict) and blob.get("format", MODEL_FORMAT) not in known:
        problem = f"is not a PETS model file (format {blob['format']!r}, expected {MODEL_FORMAT!r})"
        raise DamagedFileError(path, problem, _REMEDY)
    blob = require_keys(path, blob, _MODEL_KEYS, what="PETS model file", remedy=_REMEDY)
    try:
        architecture = dict(blob["architecture"])
        if blob["format"] == GP_FORMAT:
            gp = SparseGP(**architecture).to(device)
            gp.load_state_dict(blob["state_dict"])
            return gp, None
        dtype = _DTYPES[architecture.pop("dtype")]
        # A private generator: loading must not advance the caller's global random state.
        model = Ensemble(**architecture, generator=torch.Generator())
        model.to(device=device, dtype=dtype)
        model.load_state_dict(blob["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        problem = f"holds an inconsistent model ({first_line(err)})"
        raise DamagedFileError(path, problem, _REMEDY) from err
    return model, blob["optimizer"]
