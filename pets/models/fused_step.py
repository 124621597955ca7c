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

from typing import cast

import torch
from torch import Tensor

from pets.models.adam import Adam
from pets.models.ensemble import Ensemble, EnsembleLinear
from pets.models.losses import LOGVAR_BOUND_COEF

# torch's F.softplus defaults (beta 1, threshold 20), which `bound_logvar` uses.
_SOFTPLUS_BETA, _SOFTPLUS_THRESHOLD = 1.0, 20.0


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

    @torch.no_grad()
    def __call__(self, x_scaled: Tensor, targets: Tensor, idx: Tensor, scale: Tensor) -> Tensor:
        """One Adam step; returns the loss before it ([], the `model_loss` value).

        Args:
            x_scaled: [N, d_in] all training inputs, already through `model.scaler`.
            targets: [N, d_out] all training targets.
            idx: [E, B] row indices, member e's minibatch in row e.
            scale: [1, B, 1] `row_scale` of this minibatch's row weights.
        """
        flat = idx.reshape(-1)
        h, z, layers = self.h, self.z, self.layers
        torch.index_select(x_scaled, 0, flat, out=h[0].view(flat.numel(), -1))
        torch.index_select(targets, 0, flat, out=self.y.view(flat.numel(), -1))
        for k, layer in enumerate(layers[:-1]):
            torch.baddbmm(layer.bias, h[k], layer.weight, out=z[k])
            torch.ops.aten.silu.out(z[k], out=h[k + 1])
        torch.baddbmm(layers[-1].bias, h[-1], layers[-1].weight, out=self.out)
        loss = self._loss_and_output_grad(scale)
        self._backward()
        self.optimizer.step_with_decay(self.decays)
        return loss

    def _loss_and_output_grad(self, scale: Tensor) -> Tensor:
        """The loss, with ∂loss/∂(output layer's output) written to `self.dout`."""
        model, d = self.model, self.model.out_dim
        mean, dout = self.out[..., :d], self.dout
        diff = mean - self.y
        if model.max_logvar is None or model.min_logvar is None:  # D/DE: Σ_e mean ½(μ − y)²
            torch.mul(diff, scale, out=dout)
            data = (diff.square() * scale).sum() * 0.5
        else:
            data = self._gaussian_terms(diff, scale, model.max_logvar, model.min_logvar)
        return data + self._penalty()

    def _gaussian_terms(
        self, diff: Tensor, scale: Tensor, max_lv: Tensor, min_lv: Tensor
    ) -> Tensor:
        """NLL and bound terms of P/PE; writes dmean, draw to `dout` and the bounds' gradients."""
        d = self.model.out_dim
        raw = self.out[..., d:]
        a = max_lv - raw  # logvar = min + softplus(max − softplus(max − raw) − min)
        upper = max_lv - torch.nn.functional.softplus(a)
        c = upper - min_lv
        logvar = min_lv + torch.nn.functional.softplus(c)
        inv_var = torch.exp(-logvar)
        weighted_sq = diff.square().mul_(inv_var)
        data = ((weighted_sq + logvar) * scale).sum()
        torch.mul(diff * inv_var, scale * 2.0, out=self.dout[..., :d])  # ∂/∂μ = 2(μ−y)/var
        dlogvar = (1.0 - weighted_sq).mul_(scale)  # ∂/∂logvar = 1 − (μ−y)²/var
        dc = torch.ops.aten.softplus_backward(dlogvar, c, _SOFTPLUS_BETA, _SOFTPLUS_THRESHOLD)
        draw = torch.ops.aten.softplus_backward.grad_input(
            dc, a, _SOFTPLUS_BETA, _SOFTPLUS_THRESHOLD, grad_input=self.dout[..., d:]
        )
        sum_dc = dc.sum(dim=(0, 1))
        assert max_lv.grad is not None and min_lv.grad is not None  # set in __init__
        torch.sub(sum_dc, draw.sum(dim=(0, 1)), out=max_lv.grad[0]).add_(LOGVAR_BOUND_COEF)
        torch.sub(dlogvar.sum(dim=(0, 1)), sum_dc, out=min_lv.grad[0]).sub_(LOGVAR_BOUND_COEF)
        return data

    def _penalty(self) -> Tensor:
        """Σ_l λ_l·½·‖W_l‖² + 0.01·(Σ max_logvar − Σ min_logvar), the loss terms without data.

        The decay's gradient λ_l·W_l is added by the fused Adam, the bounds' ±0.01 in
        `_gaussian_terms`.
        """
        sums, num_layers = self.penalty_sums, len(self.layers)
        for k, layer in enumerate(self.layers):
            w = layer.weight.view(-1)
            torch.dot(w, w, out=sums[k])
        model = self.model
        if model.max_logvar is not None and model.min_logvar is not None:
            torch.sum(model.max_logvar.view(-1), 0, out=sums[num_layers])
            torch.sum(model.min_logvar.view(-1), 0, out=sums[num_layers + 1])
        return torch.dot(sums, self.penalty_coefs)

    def _backward(self) -> None:
        """Every layer's weight and bias gradient, from `dout` down to the first layer."""
        grad = self.dout
        for k in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[k]
            w_grad, b_grad = layer.weight.grad, layer.bias.grad
            assert w_grad is not None and b_grad is not None  # set in __init__
            # h_kᵀ·dY; the decay's gradient λ·W is added inside the fused Adam kernel.
            torch.bmm(self.h[k].transpose(1, 2), grad, out=w_grad)
            torch.sum(grad, dim=1, keepdim=True, out=b_grad)
            if k == 0:
                break
            torch.bmm(grad, layer.weight.transpose(1, 2), out=self.dh[k])
            grad = self.dz[k - 1]
            torch.ops.aten.silu_backward.grad_input(self.dh[k], self.z[k - 1], grad_input=grad)
