"""The ensemble forward of a re-plan's TS propagation, run in buffers allocated once.

Owns the planner's copy of `pets.models.Ensemble.forward` (scaler, swish layers, output split,
log-variance bounds, exp; `docs/spec/pets-facts.md` §5.2–§5.3) for one fixed set of shapes. A
re-plan runs this forward `max_iters · H` times with the same shapes, so every intermediate gets
one buffer, written in place, instead of a fresh tensor per op: no allocator work and no page
faults per forward (glibc hands large freed blocks back to the kernel and faults them in again;
`benchmarks/README.md` measures it), and a CUDA graph of the re-plan reads and writes the same
addresses every replay.

Each element-wise op is the one the eager forward runs, rounded alike. The layers differ:
`bmm` then `add_(bias)` (measured faster on the CPU than `baddbmm`) adds the bias after the
matmul's sum instead of inside it, and a BLAS may sum the two kernels in different orders (MKL
does on an AMD EPYC, and on an Intel Xeon for 500-wide layers). So results equal the eager
forward's within float32 rounding, not bit for bit; tests/test_plan_buffers.py holds both to
the float64 forward within a derived bound. Knows nothing of propagation, tasks or planners.
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor

from pets.models import Ensemble
from pets.models.ensemble import EnsembleLinear

__all__ = ["ForwardKey", "PlanningForward", "forward_key"]

ForwardKey = tuple[int, int, tuple[int, ...], bool, torch.dtype, torch.device, torch.dtype]
"""rows, E, layer widths (input first), probabilistic, dtype, device, compute dtype: what the
buffers fit."""

# F.softplus's defaults (beta, threshold); the out= overload keeps its kernel and rounding.
_SOFTPLUS_BETA = 1.0
_SOFTPLUS_THRESHOLD = 20.0


def forward_key(model: Ensemble, rows: int, compute: torch.dtype | None = None) -> ForwardKey:
    """The shapes, dtypes and device that a `PlanningForward` for `model` and `rows` fits.

    `compute` is the dtype of the layers' matmuls, bias adds and swish (None: the model's).
    """
    weights = model.weights()
    widths = (weights[0].shape[1], *(w.shape[2] for w in weights))
    w0 = weights[0]
    dtype = w0.dtype if compute is None else compute
    return (rows, model.ensemble_size, widths, model.probabilistic, w0.dtype, w0.device, dtype)


def _linear(layer: object) -> EnsembleLinear:
    return cast(EnsembleLinear, layer)


def _softplus_(t: Tensor) -> Tensor:
    """`F.softplus(t)` written into `t` (the same kernel as the eager forward's)."""
    return torch.ops.aten.softplus.out(t, _SOFTPLUS_BETA, _SOFTPLUS_THRESHOLD, out=t)


class PlanningForward:
    """`Ensemble.forward` for inputs [E, rows, d_in], with every intermediate in a fixed buffer.

    The caller writes raw (unscaled) inputs into `input` and calls the object; the returned
    mean and variance are views of buffers that the next call overwrites. The model's weights,
    scaler statistics and log-variance bounds are read at each call, so training (which writes
    them in place) needs no rebuild; a model of other shapes, dtype or device needs a new one
    (`forward_key`).

    With a lower `compute` dtype (bf16, `-precision bf16`) the layers run in it on copies of the
    weights and biases made once here and again by `refresh` after every model update (not per
    call; a captured re-plan keeps reading the same copies); the input scaling, the output's
    moments and everything after them stay in the model's dtype.

    Args:
        model: the ensemble whose shapes, dtype and device the buffers take.
        rows: B, rows per member (N·P/E for TSinf).
        compute: the layers' dtype (None: the model's).
    """

    def __init__(self, model: Ensemble, rows: int, compute: torch.dtype | None = None) -> None:
        self.key = forward_key(model, rows, compute)
        _, e, widths, _, dtype, device, low = self.key
        self.out_dim = model.out_dim

        def buffer(width: int, kind: torch.dtype = dtype) -> Tensor:
            return torch.empty(e, rows, width, dtype=kind, device=device)

        self.input = buffer(widths[0])  # [E, rows, d_in]; scaled in place
        self.outputs = [buffer(w, low) for w in widths[1:]]  # one per layer
        self.var = buffer(model.out_dim) if model.probabilistic else None  # [E, rows, d_out]
        # For the caller's per-row results in its own order (TSinf's samples, particle order).
        self.samples = torch.empty(e * rows, model.out_dim, dtype=dtype, device=device)
        # Low precision: the scaled input and the output layer in the model's dtype, and the
        # layers' own copies of the weights and biases.
        self.low_input: Tensor | None = None
        self.final: Tensor | None = None
        self.params: list[tuple[Tensor, Tensor]] = []
        if low != dtype:
            self.low_input = buffer(widths[0], low)
            self.final = buffer(widths[-1])
            self.params = [
                (layer.weight.detach().to(low), layer.bias.detach().to(low))
                for layer in map(_linear, model.layers)
            ]

    @torch.no_grad()
    def refresh(self, model: Ensemble) -> None:
        """Copy the model's current weights and biases into the low-precision copies (in place,
        so a captured re-plan reads them); nothing to do at the model's own precision."""
        if not self.params:
            return
        for (w, b), layer in zip(self.params, map(_linear, model.layers), strict=True):
            w.copy_(layer.weight)
            b.copy_(layer.bias)

    @torch.no_grad()
    def __call__(self, model: Ensemble) -> tuple[Tensor, Tensor | None]:
        """Run `model` on the raw inputs in `input` (which it overwrites with the scaled ones).

        Args:
            model: an ensemble whose `forward_key(model, rows)` is this object's `key`.

        Returns:
            mean [E, rows, d_out] and var [E, rows, d_out] (None for D/DE), as
            `Ensemble.forward` returns them, in this object's buffers.
        """
        scaler = model.scaler
        h = self.input.sub_(scaler.mu).div_(scaler.sigma)  # (x − μ)/σ, as InputScaler
        if self.low_input is not None:
            h = self.low_input.copy_(h)  # rounded to the compute dtype once
        params = self.params or [(lin.weight, lin.bias) for lin in map(_linear, model.layers)]
        last = len(self.outputs) - 1
        for i, ((weight, bias), out) in enumerate(zip(params, self.outputs, strict=True)):
            if self.params:  # bf16: a separate add_ costs 0.6 ms where baddbmm adds 0.2 (CPU)
                torch.baddbmm(bias, h, weight, out=out)  # [E, rows, in] -> [E, rows, out]
            else:
                torch.bmm(h, weight, out=out)  # [E, rows, in] -> [E, rows, out]
                out.add_(bias)
            if i < last:
                F.silu(out, inplace=True)  # swish
            h = out
        if self.final is not None:
            h = self.final.copy_(h)  # back to the model's dtype for the moments
        return self._moments(model, h)

    def _moments(self, model: Ensemble, h: Tensor) -> tuple[Tensor, Tensor | None]:
        """The output layer's [E, rows, d_out (·2)] split into mean and bounded variance."""
        if self.var is None or model.max_logvar is None or model.min_logvar is None:
            return h, None
        mean, raw = h.split(self.out_dim, dim=-1)  # [E, rows, 2·d_out] -> 2 × [E, rows, d_out]
        # bound_logvar (pets.models.ensemble) op by op, then exp: the same roundings.
        t = torch.sub(model.max_logvar, raw, out=self.var)
        upper = torch.sub(model.max_logvar, _softplus_(t), out=t)
        t = _softplus_(upper.sub_(model.min_logvar))
        return mean, torch.add(model.min_logvar, t, out=t).exp_()
