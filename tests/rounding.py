"""Rounding bounds and a rounding perturbation for tests that compare different kernels.

Two computations of one value by different kernel sequences (`bmm` then `add_` against
`baddbmm`; MKL's blocking on an Intel against an AMD CPU) agree only to within rounding, so such
a test asserts a tolerance, derived here rather than guessed:

* the unit roundoff u of the dtype (float32: 2⁻²⁴ ≈ 6.0e-8; float64: 2⁻⁵³);
* a sum of n terms computed in any order is within γ_n·Σ|terms| of the exact sum,
  γ_n = n·u/(1 − n·u) (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., §3.1),
  so a layer `h @ W + b` with inner dimension K is within γ_{K+1}·(|h|·|W| + |b|) whatever
  kernel and summation order a CPU uses;
* an error δ already in a layer's input reaches its output as at most |δ|·|W|; swish's slope is
  at most 1.0998 in magnitude, softplus's at most 1, and exp turns a log-domain error δ into a
  relative error e^δ − 1 ≤ 2δ for δ ≤ 1;
* one element-wise op adds u relative, a transcendental one (exp, log1p inside swish and
  softplus) at most `TRANSCENDENTAL_ULPS` u (torch's vectorised kernels are within 2-3 ulp).

`forward_bound` walks these through `pets.models.Ensemble.forward` in float64, element by
element, giving a bound on |computed − exact| for each output that holds on any CPU. Against the
exact values (the float64 forward, itself within ~1e-16 relative), a planted bug of the kind the
tests exist for (a dropped bias, a missing swish, a wrong scaler or log-variance bound) is off by
the size of the term it breaks, orders of magnitude above the bound.

`reordered_bmm` computes `torch.bmm` with its inner sum split in two halves and added, another
summation order with other roundings on every CPU; the tests run the fast path under it as well
as natively, so a test that only holds for one CPU's rounding fails here too.
"""

from __future__ import annotations

import math
from typing import cast

import torch
from torch import Tensor
from torch.nn import functional as F

from pets.models import Ensemble
from pets.models.ensemble import EnsembleLinear

SWISH_MAX_SLOPE = 1.0998  # max |d/dz z·σ(z)|, reached at z ≈ ±2.4
TRANSCENDENTAL_ULPS = 8  # generous for torch's exp/log1p/sigmoid kernels (≤ 2-3 ulp measured)


def unit_roundoff(dtype: torch.dtype) -> float:
    """u = 2^-(mantissa bits + 1): the largest relative error of one correctly rounded op."""
    return float(torch.finfo(dtype).eps) / 2


def gamma(n: int, u: float) -> float:
    """γ_n = n·u/(1 − n·u): the relative error bound of an n-term sum in any order."""
    assert n * u < 1
    return n * u / (1 - n * u)


@torch.no_grad()
def forward_bound(
    model: Ensemble, x: Tensor, compute: torch.dtype | None = None
) -> tuple[Tensor, Tensor | None]:
    """Bound |computed − exact| of `model(x)`'s mean and variance, element by element.

    With a lower `compute` dtype c (bf16, unit roundoff u_c) the layers run as
    `pets.planning.forward` runs them then: the scaled input, the weights and the biases rounded
    to c (u_c each), the products summed in float32 (a bf16 product is exact in float32;
    γ_K(u)), the sum, the bias add and the swish each rounded to c (u_c each).

    Args:
        model: the ensemble as computed (its dtype sets u).
        x: [E, B, d_in] raw inputs.
        compute: the layers' dtype (None: the model's).

    Returns:
        float64 bounds [E, B, d_out] for the mean and the variance (None for D/DE).
    """
    u = unit_roundoff(model.layers[0].weight.dtype)
    uc = 0.0 if compute is None else unit_roundoff(compute)
    tu = TRANSCENDENTAL_ULPS * u
    f64 = torch.float64
    h = (x.to(f64) - model.scaler.mu.to(f64)) / model.scaler.sigma.to(f64)
    err = (2 * u + uc) * h.abs()  # one subtraction and one division, each within u
    last = len(model.layers) - 1
    for i, layer in enumerate(model.layers):
        linear = cast(EnsembleLinear, layer)
        w, b = linear.weight.to(f64), linear.bias.to(f64)
        k = w.shape[1]
        z = torch.baddbmm(b, h, w)
        products = torch.bmm(h.abs(), w.abs())  # |h|·|W|
        magnitude = products + b.abs()
        err = torch.bmm(err, w.abs()) + gamma(k + 1, u) * magnitude
        # Low precision: W rounded, the sum rounded, b rounded, the add rounded.
        err = err + 2 * uc * products + 2 * uc * b.abs() + uc * z.abs()
        if i < last:
            h = F.silu(z)
            err = SWISH_MAX_SLOPE * err + (tu + uc) * h.abs()
        else:
            h = z
    d = model.out_dim
    if not model.probabilistic or model.max_logvar is None or model.min_logvar is None:
        return err, None
    mean_err, raw = err[..., :d], h[..., d:]
    hi, lo = model.max_logvar.to(f64), model.min_logvar.to(f64)
    # bound_logvar op by op: l1 = hi − softplus(hi − ρ); lv = lo + softplus(l1 − lo).
    t1 = hi - raw
    e = err[..., d:] + u * t1.abs()
    s1 = F.softplus(t1)
    e = e + tu * s1.abs()  # softplus's slope ≤ 1 carries e through unchanged
    upper = hi - s1
    e = e + u * upper.abs()
    t2 = upper - lo
    e = e + u * t2.abs()
    s2 = F.softplus(t2)
    e = e + tu * s2.abs()
    logvar = lo + s2
    e = e + u * logvar.abs()
    assert float(e.max()) <= 1.0  # so that e^δ − 1 ≤ 2δ below
    var = logvar.exp()
    return mean_err, var * (2 * e + tu)


def reordered_bmm(a: Tensor, b: Tensor, *, out: Tensor | None = None) -> Tensor:
    """`torch.bmm(a, b)` summed as (first half of K) + (second half): other roundings."""
    k = a.shape[-1]
    half = max(1, k // 2)
    first = _BMM(a[..., :half], b[:, :half])
    result = first if half == k else torch.baddbmm(first, a[..., half:], b[:, half:])
    if out is None:
        return result
    return out.copy_(result)


_BMM = torch.bmm


def max_relative(got: Tensor, want: Tensor, bound: Tensor) -> float:
    """max |got − want| / bound: ≤ 1 when `got` is within the bound (for messages)."""
    diff = (got.detach().to(torch.float64) - want.detach().to(torch.float64)).abs()
    return float((diff / bound.clamp_min(math.ulp(0.0))).max())


def sample_bound(
    mean: Tensor, var: Tensor, mean_err: Tensor, var_err: Tensor, eps: Tensor, u: float
) -> Tensor:
    """Bound |computed − exact| of a sample `mean + eps·sqrt(var)` (TS propagation).

    Args:
        mean, var: exact (float64) moments; mean_err, var_err: their bounds (`forward_bound`).
        eps: the standard-normal draws, exact as drawn.
        u: the unit roundoff of the computation.

    Returns:
        The float64 bound, element by element: the moments' errors carried through sqrt
        (slope 1/(2·sqrt(var))) and the product, plus one rounding each for sqrt, × and +.
    """
    std = var.sqrt()
    std_err = var_err / (2 * std) + u * std
    spread = eps.abs() * std
    return mean_err + eps.abs() * std_err + u * spread + u * (mean.abs() + spread)


# λ for `forward_error_sd`: a rounding error beyond 6 SD has probability ≈ 2e-9 per element (a
# sum of many independent small errors is near Gaussian), so a test over ~1e4 elements fails by
# chance with probability ≈ 2e-5, and a fixed seed makes it repeat exactly.
SD_MULTIPLE = 6.0


@torch.no_grad()
def forward_error_sd(
    model: Ensemble, x: Tensor, compute: torch.dtype | None = None
) -> tuple[Tensor, Tensor | None]:
    """The SD of `model(x)`'s rounding error, element by element, with rounding errors modelled
    as independent and uniform in [−u, u] relative (variance u²/3; Higham and Mary, "A new
    approach to probabilistic rounding error analysis", SIAM J. Sci. Comput. 2019).

    The worst-case `forward_bound` adds every error with the same sign through every layer,
    which for bf16 (u = 2⁻⁹) and four 200-wide layers exceeds the outputs themselves; here
    variances add: an input error's variance reaches the next layer as var @ W², each product's
    rounding (W to bf16, the float32 accumulation over K terms) as (u²/3)·h²@W², each stored
    result's rounding as (u²/3)·value². Swish and softplus carry an error with their slope
    (|swish'| ≤ 1.1, softplus' ≤ 1). `SD_MULTIPLE` × this SD is the tolerance a test asserts.

    Args, Returns: as `forward_bound` (SDs instead of bounds).
    """
    u = unit_roundoff(model.layers[0].weight.dtype)
    uc = 0.0 if compute is None else unit_roundoff(compute)
    v32, vc = u * u / 3, uc * uc / 3  # variance of one relative rounding
    vt = (TRANSCENDENTAL_ULPS * u) ** 2 / 3
    f64 = torch.float64
    h = (x.to(f64) - model.scaler.mu.to(f64)) / model.scaler.sigma.to(f64)
    var = (2 * v32 + vc) * h.square()
    last = len(model.layers) - 1
    for i, layer in enumerate(model.layers):
        linear = cast(EnsembleLinear, layer)
        w, b = linear.weight.to(f64), linear.bias.to(f64)
        k = w.shape[1]
        z = torch.baddbmm(b, h, w)
        sq = torch.bmm(h.square(), w.square())  # Σ_k h_k² W_kj²
        var = torch.bmm(var, w.square()) + (k * v32 + vc) * sq
        var = var + (v32 + 2 * vc) * z.square() + vc * b.square()  # sum, add, b rounded
        if i < last:
            h = F.silu(z)
            var = SWISH_MAX_SLOPE**2 * var + (vt + vc) * h.square()
        else:
            h = z
    d = model.out_dim
    if not model.probabilistic or model.max_logvar is None or model.min_logvar is None:
        return var.sqrt(), None
    raw = h[..., d:]
    hi, lo = model.max_logvar.to(f64), model.min_logvar.to(f64)
    upper = hi - F.softplus(hi - raw)
    logvar = lo + F.softplus(upper - lo)
    v = var[..., d:] + (2 * vt + 4 * v32) * (raw.square() + logvar.square() + hi.square())
    out = logvar.exp()
    return var[..., :d].sqrt(), out * (v + vt).sqrt()
