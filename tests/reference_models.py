"""Float64 numpy loop references for the dynamics models, written from `docs/spec/pets-facts.md` §5.

Independent of `pets.models`: plain loops over members and layers, formulas as the spec states
them. The tests hold the vectorised torch code to these.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class NumpyNet:
    """The parameters of an ensemble as float64 arrays.

    weights[l]: [E, d_l, d_{l+1}]; biases[l]: [E, 1, d_{l+1}]; mu, sigma: [1, d_in];
    max_logvar, min_logvar: [1, d_out] or None (deterministic).
    """

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    mu: np.ndarray
    sigma: np.ndarray
    max_logvar: np.ndarray | None
    min_logvar: np.ndarray | None
    decays: list[float]


def net_from_model(model) -> NumpyNet:  # type: ignore[no-untyped-def]
    """Copy a `pets.models.Ensemble`'s parameters into float64 arrays (by attribute name)."""

    def arr(t):  # type: ignore[no-untyped-def]
        return t.detach().cpu().double().numpy().copy()

    return NumpyNet(
        weights=[arr(layer.weight) for layer in model.layers],
        biases=[arr(layer.bias) for layer in model.layers],
        mu=arr(model.scaler.mu),
        sigma=arr(model.scaler.sigma),
        max_logvar=None if model.max_logvar is None else arr(model.max_logvar),
        min_logvar=None if model.min_logvar is None else arr(model.min_logvar),
        decays=list(model.weight_decays),
    )


def softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def swish(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


def forward(net: NumpyNet, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """x [E, B, d_in] -> mean [E, B, d_out], logvar [E, B, d_out] or None; one member at a time."""
    num_members = x.shape[0]
    means, logvars = [], []
    for e in range(num_members):
        h = (x[e] - net.mu[0]) / net.sigma[0]
        for layer, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
            h = h @ w[e] + b[e, 0]
            if layer < len(net.weights) - 1:
                h = swish(h)
        if net.max_logvar is None or net.min_logvar is None:
            means.append(h)
            continue
        d_out = h.shape[1] // 2
        mean, raw = h[:, :d_out], h[:, d_out:]
        upper = net.max_logvar[0] - softplus(net.max_logvar[0] - raw)
        logvar = net.min_logvar[0] + softplus(upper - net.min_logvar[0])
        means.append(mean)
        logvars.append(logvar)
    return np.stack(means), (np.stack(logvars) if logvars else None)


def loss(net: NumpyNet, x: np.ndarray, y: np.ndarray) -> float:
    """The §5.3/§5.4 objective on member minibatches x [E, B, d_in], y [E, B, d_out]."""
    mean, logvar = forward(net, x)
    total = 0.0
    for e in range(x.shape[0]):
        if logvar is None:
            total += np.mean(0.5 * (mean[e] - y[e]) ** 2)
        else:
            total += np.mean((mean[e] - y[e]) ** 2 * np.exp(-logvar[e])) + np.mean(logvar[e])
    for lam, w in zip(net.decays, net.weights, strict=True):
        total += lam * 0.5 * np.sum(w**2)
    if net.max_logvar is not None and net.min_logvar is not None:
        total += 0.01 * np.sum(net.max_logvar) - 0.01 * np.sum(net.min_logvar)
    return float(total)
