"""The CPU training step of a PETS ensemble with a hand-written backward pass (`fit` on the CPU).

Autograd and a per-tensor Adam spend about four fifths of a CPU training step outside its
matmuls: a node per op, a temporary per intermediate, the weight-decay term's own passes over
every weight, seven passes of Adam over every parameter. This step computes the same gradients
of `pets.models.losses.model_loss` by hand into buffers allocated once per `fit` call: each
layer's weight gradient and weight decay are one `baddbmm` (`λ·W + hᵀ·dz`), swish and softplus
use aten's own backward kernels, and the update is one call of torch's fused Adam
(`Adam(fused=True)`). The gradients equal autograd's up to float rounding (the decay term is
added inside the matmul rather than after it), checked by the tests. Shapes never depend on the
data. Imports only torch and `pets.models`.
"""

from __future__ import annotations

from typing import NamedTuple, cast

import torch
from torch import Tensor

from pets.models.adam import Adam
from pets.models.ensemble import Ensemble, EnsembleLinear
from pets.models.losses import LOGVAR_BOUND_COEF

# torch's F.softplus defaults (beta 1, threshold 20), which `bound_logvar` uses.
_SOFTPLUS_BETA, _SOFTPLUS_THRESHOLD = 1.0, 20.0
# aten's kernels, looked up once (each `torch.ops` attribute lookup costs microseconds).
_silu_out = torch.ops.aten.silu.out
_silu_backward_out = torch.ops.aten.silu_backward.grad_input
_softplus = torch.nn.functional.softplus
_softplus_backward = torch.ops.aten.softplus_backward.default
_softplus_backward_out = torch.ops.aten.softplus_backward.grad_input


class HiddenOp(NamedTuple):
    """One hidden layer's forward: `z = bias + h·weight`, then `h_next = swish(z)`."""

    bias: Tensor  # [E, 1, w_out]
    h: Tensor  # [E, B, w_in] the layer's input
    weight: Tensor  # [E, w_in, w_out]
    z: Tensor  # [E, B, w_out] pre-activation (kept for the backward)
    h_next: Tensor  # [E, B, w_out] the next layer's input


class OutputOp(NamedTuple):
    """The output layer's forward: `out = bias + h·weight` (no activation)."""

    bias: Tensor  # [E, 1, 2·d_out] or [E, 1, d_out]
    h: Tensor  # [E, B, w_in]
    weight: Tensor  # [E, w_in, w_out]
    out: Tensor  # [E, B, w_out] mean (and raw log-variance) of the network


class GradOp(NamedTuple):
    """One layer's backward, from the gradient at its output `grad` (layer k, output to input).

    The last four are None for the first layer, whose input needs no gradient.
    """

    h_t: Tensor  # [E, w_in, B] h_kᵀ, the layer's input transposed
    grad: Tensor  # [E, B, w_out] dY_k, the gradient at the layer's output
    w_grad: Tensor  # [E, w_in, w_out] ∂W_k, written
    b_grad: Tensor  # [E, 1, w_out] ∂b_k, written
    w_t: Tensor | None  # [E, w_out, w_in] W_kᵀ
    dh: Tensor | None  # [E, B, w_in] gradient at the layer's input, written
    z: Tensor | None  # [E, B, w_in] pre-activation of the hidden layer below
    dz: Tensor | None  # [E, B, w_in] gradient at that pre-activation, written


class LogvarBounds(NamedTuple):
    """The log-variance bounds of P/PE, with views of their gradients and penalty sums."""

    max_logvar: Tensor  # [1, d_out] parameter
    min_logvar: Tensor  # [1, d_out] parameter
    max_grad: Tensor  # [d_out] its gradient's row, written
    min_grad: Tensor  # [d_out]
    max_flat: Tensor  # [d_out] the parameter flattened, for its sum
    min_flat: Tensor  # [d_out]
    max_sum: Tensor  # [] Σ max_logvar, an entry of `penalty_sums`
    min_sum: Tensor  # [] Σ min_logvar


def row_scale(row_weights: Tensor, out_dim: int) -> Tensor:
    """∂loss/∂per-element term: [B] weights -> [1, B, 1] of w_b / (Σ w · d_out).

    The data term of `model_loss` is Σ_e Σ_b w_b · mean_d(term) / Σ_b w_b, so every element of
    member e's [B, d_out] terms enters the loss with this factor.
    """
    return (row_weights / (row_weights.sum() * out_dim)).view(1, -1, 1)


class FusedStep:
    """Forward, hand-written backward and fused Adam of one minibatch per member, on the CPU.

    Args:
        model: the ensemble (on the CPU).
        optimizer: its Adam, built with `fused=True` (`make_optimizer` on the CPU).
        batch_size: rows per member per step.

    Raises:
        ValueError: the optimizer is not a fused Adam over this model's parameters.
    """

    def __init__(self, model: Ensemble, optimizer: Adam, batch_size: int) -> None:
        if not (isinstance(optimizer, Adam) and optimizer.fused):
            raise ValueError("FusedStep needs a fused Adam (make_optimizer on the CPU)")
        self.model, self.optimizer = model, optimizer
        self.layers = [cast(EnsembleLinear, layer) for layer in model.layers]
        e, b, dtype = model.ensemble_size, batch_size, self.layers[0].weight.dtype
        widths = [model.in_dim] + [layer.weight.shape[2] for layer in self.layers]

        def buffer(width: int) -> Tensor:
            return torch.empty(e, b, width, dtype=dtype)

        # h[k]: input of layer k (h[0] the scaled minibatch); z[k]: pre-activation of hidden k.
        self.h = [buffer(w) for w in widths[:-1]]
        self.z = [buffer(w) for w in widths[1:-1]]
        self.dh = [buffer(w) for w in widths[:-1]]  # dh[0] unused: inputs need no gradient
        self.dz = [buffer(w) for w in widths[1:-1]]
        self.out, self.dout = buffer(widths[-1]), buffer(widths[-1])
        self.y = buffer(model.out_dim)
        # λ per parameter for the optimiser: each weight's decay, 0 for biases and bounds.
        by_param = {
            id(layer.weight): lam
            for layer, lam in zip(self.layers, model.weight_decays, strict=True)
        }
        self.decays = [by_param.get(id(p), 0.0) for p in optimizer.params]
        # The penalties as one dot product: [‖W_l‖² per layer, Σ max_logvar, Σ min_logvar] ·
        # [λ_l/2 per layer, 0.01, −0.01] (the bounds only for P/PE).
        coefs = [0.5 * lam for lam in model.weight_decays]
        if model.probabilistic:
            coefs += [LOGVAR_BOUND_COEF, -LOGVAR_BOUND_COEF]
        self.penalty_coefs = torch.tensor(coefs, dtype=dtype)
        self.penalty_sums = torch.zeros(len(coefs), dtype=dtype)
        for p in model.parameters():
            if p.grad is None or p.grad.shape != p.shape or not p.grad.is_contiguous():
                p.grad = torch.zeros_like(p, memory_format=torch.contiguous_format)
        self._prepare_views()

    def _prepare_views(self) -> None:
        """Every view the hot path uses, made once: a view costs a dispatch per step otherwise.

        Views of parameters and their gradients stay valid: Adam and `load_state_dict` write
        them in place, and a `FusedStep` lives for one `fit` call.
        """
        d, layers = self.model.out_dim, self.layers
        weights = [layer.weight for layer in layers]
        grads = [
            (cast(Tensor, layer.weight.grad), cast(Tensor, layer.bias.grad)) for layer in layers
        ]
        self.forward_ops = [
            HiddenOp(layer.bias, self.h[k], layer.weight, self.z[k], self.h[k + 1])
            for k, layer in enumerate(layers[:-1])
        ]
        self.output_op = OutputOp(layers[-1].bias, self.h[-1], layers[-1].weight, self.out)
        outgoing = [*self.dz, self.dout]  # dY_k: the gradient at layer k's output
        self.backward_ops = [
            GradOp(
                h_t=self.h[k].transpose(1, 2),
                grad=outgoing[k],
                w_grad=grads[k][0],
                b_grad=grads[k][1],
                w_t=weights[k].transpose(1, 2) if k else None,
                dh=self.dh[k] if k else None,
                z=self.z[k - 1] if k else None,
                dz=self.dz[k - 1] if k else None,
            )
            for k in range(len(layers) - 1, -1, -1)
        ]
        self.mean, self.raw = self.out[..., :d], self.out[..., d:]
        self.dmean, self.draw = self.dout[..., :d], self.dout[..., d:]
        self.flat_x, self.flat_y = self.h[0].view(-1, self.model.in_dim), self.y.view(-1, d)
        sums = self.penalty_sums
        self.weight_sums = [(w.view(-1), sums[k]) for k, w in enumerate(weights)]
        model = self.model
        self.bounds: LogvarBounds | None = None  # None for D/DE
        if model.max_logvar is not None and model.min_logvar is not None:
            n = len(layers)
            max_grad, min_grad = (
                cast(Tensor, model.max_logvar.grad),
                cast(Tensor, model.min_logvar.grad),
            )
            self.bounds = LogvarBounds(
                max_logvar=model.max_logvar,
                min_logvar=model.min_logvar,
                max_grad=max_grad[0],
                min_grad=min_grad[0],
                max_flat=model.max_logvar.view(-1),
                min_flat=model.min_logvar.view(-1),
                max_sum=sums[n],
                min_sum=sums[n + 1],
            )

    @torch.no_grad()
    def __call__(self, x_scaled: Tensor, targets: Tensor, idx: Tensor, scale: Tensor) -> Tensor:
        """One Adam step; returns the loss before it ([], the `model_loss` value).

        Args:
            x_scaled: [N, d_in] all training inputs, already through `model.scaler`.
            targets: [N, d_out] all training targets.
            idx: [E, B] row indices, member e's minibatch in row e.
            scale: [1, B, 1] `row_scale` of this minibatch's row weights.
        """
        flat = idx.reshape(-1)  # a copy: idx is a column slice of the epoch's order
        torch.index_select(x_scaled, 0, flat, out=self.flat_x)
        torch.index_select(targets, 0, flat, out=self.flat_y)
        for bias, h, weight, z, h_next in self.forward_ops:
            torch.baddbmm(bias, h, weight, out=z)
            _silu_out(z, out=h_next)
        bias, h, weight, out = self.output_op
        torch.baddbmm(bias, h, weight, out=out)
        diff = self.mean - self.y
        if self.bounds is not None:
            data = self._gaussian_terms(diff, scale, self.bounds)
        else:  # D/DE: Σ_e mean ½(μ − y)²
            torch.mul(diff, scale, out=self.dout)
            data = (diff.square() * scale).sum() * 0.5
        loss = data + self._penalty()
        self._backward()
        self.optimizer.step_with_decay(self.decays)
        return loss

    def _gaussian_terms(self, diff: Tensor, scale: Tensor, bounds: LogvarBounds) -> Tensor:
        """NLL of P/PE; writes dmean, draw to `dout` and the bounds' gradients (with ±0.01)."""
        max_lv, min_lv = bounds.max_logvar, bounds.min_logvar
        max_grad, min_grad = bounds.max_grad, bounds.min_grad
        a = max_lv - self.raw  # logvar = min + softplus(max − softplus(max − raw) − min)
        upper = max_lv - _softplus(a)
        c = upper - min_lv
        logvar = min_lv + _softplus(c)
        inv_var = torch.exp(-logvar)
        weighted_sq = diff.square().mul_(inv_var)
        data = ((weighted_sq + logvar) * scale).sum()
        torch.mul(diff * inv_var, scale * 2.0, out=self.dmean)  # ∂/∂μ = 2(μ−y)/var
        dlogvar = (1.0 - weighted_sq).mul_(scale)  # ∂/∂logvar = 1 − (μ−y)²/var
        dc = _softplus_backward(dlogvar, c, _SOFTPLUS_BETA, _SOFTPLUS_THRESHOLD)
        draw = _softplus_backward_out(
            dc, a, _SOFTPLUS_BETA, _SOFTPLUS_THRESHOLD, grad_input=self.draw
        )
        sum_dc = dc.sum(dim=(0, 1))
        torch.sub(sum_dc, draw.sum(dim=(0, 1)), out=max_grad).add_(LOGVAR_BOUND_COEF)
        torch.sub(dlogvar.sum(dim=(0, 1)), sum_dc, out=min_grad).sub_(LOGVAR_BOUND_COEF)
        return data

    def _penalty(self) -> Tensor:
        """Σ_l λ_l·½·‖W_l‖² + 0.01·(Σ max_logvar − Σ min_logvar), the loss terms without data.

        The decay's gradient λ_l·W_l is added by the fused Adam, the bounds' ±0.01 in
        `_gaussian_terms`.
        """
        for w, out in self.weight_sums:
            torch.dot(w, w, out=out)
        if self.bounds is not None:
            torch.sum(self.bounds.max_flat, 0, out=self.bounds.max_sum)
            torch.sum(self.bounds.min_flat, 0, out=self.bounds.min_sum)
        return torch.dot(self.penalty_sums, self.penalty_coefs)

    def _backward(self) -> None:
        """Every layer's weight and bias gradient, from `dout` down to the first layer."""
        for h_t, grad, w_grad, b_grad, w_t, dh, z, dz in self.backward_ops:
            # h_kᵀ·dY; the decay's gradient λ·W is added inside the fused Adam kernel.
            torch.bmm(h_t, grad, out=w_grad)
            torch.sum(grad, dim=1, keepdim=True, out=b_grad)
            if w_t is not None:
                torch.bmm(grad, w_t, out=dh)
                _silu_backward_out(dh, z, grad_input=dz)
