"""Propagation of candidate × particle model inputs through a dynamics ensemble.

Owns the five PETS propagation modes (`docs/spec/pets-facts.md` §6.3): E, DS, TS1, TSinf and MM. One
call maps the model inputs of all particles of all candidates, `[M, d_in]` with `M = N·P` in the
original's candidate-major layout (row `m = n·P + p`), to one sampled model output per particle,
`[M, d_out]`, with exactly one ensemble forward and no Python loop over particles, candidates or
members. It knows nothing of environments, costs or optimizers; the model is anything with
`ensemble_size`, `in_dim`, `out_dim` and `forward(x [E, B, d_in]) -> (mean, var | None)`
(`pets.models.Ensemble`, or the GP `pets.models.SparseGP` as a one-member model whose E, DS and MM
use its latent mean and variance); aggregation over members is `pets.models.predict_aggregated`.

The model × propagation matrix of §6.4 is checked in one place, `pets.config.check_combination`
(re-exported here); `Propagation` itself only checks the layout its kernels need.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, cast

import torch
from torch import Tensor

from pets.config import PROP_TYPES, check_combination, get_propagation
from pets.errors import ConfigError
from pets.models import Ensemble, predict_aggregated
from pets.planning.forward import ForwardKey, PlanningForward, forward_key
from pets.util.imports import load_object

__all__ = ["PROP_TYPES", "DynamicsModel", "Propagation", "check_combination"]

TS_TYPES = ("TS1", "TSinf")


class DynamicsModel(Protocol):
    """What propagation needs of a model (`pets.models.Ensemble` satisfies it)."""

    ensemble_size: int
    in_dim: int
    out_dim: int

    def __call__(self, x: Tensor) -> tuple[Tensor, Tensor | None]: ...


class Propagation:
    """Map particle model inputs to sampled model outputs (`docs/spec/pets-facts.md` §6.3).

    Holds static settings, plus the buffers of `propagate`'s TSinf forward (one set per shape,
    kept for the object's life, so a captured re-plan's addresses stay valid); randomness comes
    from the generator of each call, so the same generator state gives the same outputs.

    - TSinf: within each candidate, particles `[k·P/E, (k+1)·P/E)` use member k, always.
    - TS1: before each call, each candidate's particles are shuffled by a fresh uniform
      permutation (argsort of uniform noise) and then split into the same balanced blocks.
    - DS: every particle samples the ensemble-aggregated Gaussian.
    - MM: DS, then each candidate's P samples are replaced by fresh draws from a diagonal
      Gaussian with their mean and biased (1/P) variance (the model output, not the state).
    - E: the ensemble mean of the means, one particle per candidate.

    Outputs are sampled as `μ + ε·σ` when the model gives a variance and `ign_var` is off;
    otherwise (E, `ign_var`, or a deterministic ensemble under TS) the mean is returned.

    Args:
        prop_type: E, DS, TS1, TSinf or MM.
        npart: P, particles per candidate.
        ensemble_size: E, members of the model this propagation will be called with.
        ign_var: use the predicted means only (the original forces it for DE under TS).
        compute_dtype: the dtype of the TSinf buffered forward's layers (`-precision bf16`);
            None computes them in the model's dtype.

    Raises:
        ConfigError: an unknown `prop_type`, `npart` < 1, TS with `npart` not divisible by
            `ensemble_size`, or E with `npart` ≠ 1.
    """

    def __init__(
        self,
        prop_type: str,
        *,
        npart: int,
        ensemble_size: int,
        ign_var: bool,
        compute_dtype: torch.dtype | None = None,
    ) -> None:
        spec = get_propagation(prop_type)  # a registered method (ConfigError naming the others)
        # A method of the user's own: its registered function does the whole call.
        self._own: Callable[..., Tensor] | None = None
        if spec.implementation is not None:
            self._own = load_object(spec.implementation, f"prop-type {prop_type}'s implementation")
        elif prop_type not in PROP_TYPES:
            raise ConfigError(f"prop-type {prop_type} is registered without an implementation")
        if npart < 1 or ensemble_size < 1:
            raise ConfigError(
                f"npart and ensemble_size must be positive, got {npart} and {ensemble_size}"
            )
        # The kernels' layout preconditions; the full matrix is pets.config.check_combination.
        if prop_type in TS_TYPES and npart % ensemble_size != 0:
            raise ConfigError(
                f"prop-type {prop_type} needs npart divisible by the ensemble size, "
                f"got npart {npart} and ensemble size {ensemble_size}"
            )
        if prop_type == "E" and npart != 1:
            raise ConfigError(f"prop-type E uses one particle, got npart {npart}")
        self.prop_type = prop_type
        self.npart = npart
        self.ensemble_size = ensemble_size
        self.ign_var = ign_var
        self.compute_dtype = compute_dtype  # the buffered forward's layers (None: the model's)
        self._forwards: dict[ForwardKey, PlanningForward] = {}

    def __repr__(self) -> str:
        return (
            f"Propagation({self.prop_type!r}, npart={self.npart}, "
            f"ensemble_size={self.ensemble_size}, ign_var={self.ign_var})"
        )

    def __call__(self, model: DynamicsModel, inputs: Tensor, generator: torch.Generator) -> Tensor:
        """Sample one model output per particle.

        Args:
            model: the dynamics ensemble, on the device of `inputs`.
            inputs: [M, d_in] model inputs (preprocessed state ++ action), M = N·P candidate-major.
            generator: random source on the device of `inputs`.

        Returns:
            [M, d_out] sampled model outputs (for the PETS tasks, state deltas).

        Raises:
            ValueError: the model's ensemble size or `inputs`' shape does not fit the settings.
        """
        if model.ensemble_size != self.ensemble_size:
            raise ValueError(
                f"{self!r} was built for {self.ensemble_size} members, the model has "
                f"{model.ensemble_size}"
            )
        if inputs.dim() != 2 or inputs.shape[0] % self.npart != 0:
            raise ValueError(
                f"inputs must be [N·P, d_in] with P = {self.npart}, got {inputs.shape}"
            )
        if self._own is not None:
            return self._own(
                model, inputs, npart=self.npart, ign_var=self.ign_var, generator=generator
            )
        if self.prop_type in TS_TYPES:
            mean, var = self._ts_moments(model, inputs, generator)
        else:
            # predict_aggregated only calls model(x [E, M, d_in]), so any DynamicsModel works.
            ensemble = cast("Ensemble", model)
            mean, var = predict_aggregated(ensemble, inputs)  # [M, d_in] -> 2 × [M, d_out]
        if var is None or self.ign_var or self.prop_type == "E":
            return mean
        out = sample_gaussian(mean, var, generator)
        if self.prop_type == "MM":
            out = moment_match(out, self.npart, generator)
        return out

    def propagate(
        self, model: DynamicsModel, features: Tensor, actions: Tensor, generator: torch.Generator
    ) -> Tensor:
        """Sample one model output per particle from its features and its candidate's action.

        The same outputs as `self(model, features ++ actions per particle, generator)`. For
        TSinf with an `Ensemble` and gradients off (a re-plan), the inputs are written straight
        into the grouped input buffer of a `PlanningForward` and the samples into an output
        buffer, in particle order: no grouping, ungrouping or concatenation copies and no
        allocation. Other settings take the generic path.

        Args:
            model: the dynamics ensemble, on the device of `features`.
            features: [M, d_in - a] preprocessed particle states, M = N·P candidate-major.
            actions: [N, a] each candidate's action, shared by its P particles.
            generator: random source on the device of `features`.

        Returns:
            [M, d_out] sampled model outputs; on the TSinf path a buffer that the next call with
            the same shapes overwrites.
        """
        n, a = actions.shape
        if self.prop_type != "TSinf" or not isinstance(model, Ensemble) or torch.is_grad_enabled():
            acts = actions.unsqueeze(1).expand(n, self.npart, a)  # [N, a] -> [N, P, a]
            acts = acts.reshape(n * self.npart, a)  # -> [M, a], candidate-major
            return self(model, torch.cat([features, acts], dim=-1), generator)  # -> [M, d_out]
        return self._tsinf_buffered(model, features, actions, generator)

    def _tsinf_buffered(
        self, model: Ensemble, features: Tensor, actions: Tensor, generator: torch.Generator
    ) -> Tensor:
        """TSinf through a `PlanningForward`: member k takes particles [k·P/E, (k+1)·P/E)."""
        (m, f), (n, a) = features.shape, actions.shape
        e, p = self.ensemble_size, self.npart
        r = p // e
        if model.ensemble_size != e or m != n * p or f + a != model.in_dim:
            raise ValueError(
                f"{self!r} got features {tuple(features.shape)} and actions "
                f"{tuple(actions.shape)} for a model of {model.ensemble_size} members and "
                f"d_in {model.in_dim}"
            )
        fwd = self._forward(model, n * r)
        x = fwd.input.view(e, n, r, f + a).transpose(0, 1)  # [E, N·P/E, d_in] -> [N, E, P/E, d_in]
        x[..., :f].copy_(features.reshape(n, e, r, f))  # [M, f] -> [N, E, P/E, f]
        x[..., f:].copy_(actions.reshape(n, 1, 1, a))  # [N, a] broadcast over E, P/E
        mean, var = fwd(model)  # 2 × [E, N·P/E, d_out]
        d = model.out_dim
        out = fwd.samples  # [M, d_out], particle order
        grouped = out.view(n, e, r, d).transpose(0, 1)  # [M, d_out] -> [E, N, P/E, d_out] view
        mean = mean.view(e, n, r, d)  # [E, N·P/E, d_out] -> [E, N, P/E, d_out]
        if var is None or self.ign_var:
            grouped.copy_(mean)
            return out
        # sample_gaussian element by element in place: ε drawn in particle order, as it does.
        out.normal_(generator=generator)
        grouped.mul_(var.sqrt_().view(e, n, r, d)).add_(mean)
        return out

    def _forward(self, model: Ensemble, rows: int) -> PlanningForward:
        """The buffered forward for these shapes, built at first use and kept."""
        key = forward_key(model, rows, self.compute_dtype)
        fwd = self._forwards.get(key)
        if fwd is None:
            fwd = self._forwards[key] = PlanningForward(model, rows, self.compute_dtype)
        return fwd

    def refresh(self, model: DynamicsModel) -> None:
        """After a model update: re-copy its weights into every low-precision forward's copies."""
        if isinstance(model, Ensemble):
            fits = forward_key(model, 0, self.compute_dtype)[1:]  # all but the rows
            for fwd in self._forwards.values():
                if fwd.key[1:] == fits:
                    fwd.refresh(model)

    def _ts_moments(
        self, model: DynamicsModel, inputs: Tensor, generator: torch.Generator
    ) -> tuple[Tensor, Tensor | None]:
        """Run each particle through its member; return per-particle moments in particle order."""
        m, d_in = inputs.shape
        e, p = self.ensemble_size, self.npart
        n, r = m // p, p // e  # candidates, particles per member per candidate
        rows = None
        if self.prop_type == "TS1":
            rows = ts1_rows(n, p, generator, inputs.device)  # [M]: slot -> particle row
            inputs = inputs.index_select(0, rows)  # [M, d_in] -> [M, d_in] permuted per candidate
        x = inputs.view(n, e, r, d_in)  # [M, d_in] -> [N, E, P/E, d_in]
        x = x.transpose(0, 1).reshape(e, n * r, d_in)  # -> [E, N·P/E, d_in]
        mean, var = model(x)  # [E, N·P/E, d_in] -> 2 × [E, N·P/E, d_out]
        mean = _ungroup(mean, n, rows)
        var = None if var is None else _ungroup(var, n, rows)
        return mean, var


def ts1_rows(n: int, p: int, generator: torch.Generator, device: torch.device) -> Tensor:
    """Draw TS1's per-candidate permutations as flat row indices.

    Slot `q` of candidate `n` (which goes to member `q // (P/E)`) is taken by particle row
    `rows[n·P + q]`; the permutation is the argsort of uniform noise, as the original.

    Args:
        n: N candidates.
        p: P particles per candidate.
        generator: random source on `device`.
        device: where the indices live.

    Returns:
        [M] int64 row indices, a permutation of `range(M)` within each candidate's block.
    """
    noise = torch.rand((n, p), generator=generator, device=device)
    perm = noise.argsort(dim=1)  # [N, P] particle index per slot
    offsets = torch.arange(n, device=device).mul_(p).unsqueeze(1)  # [N] -> [N, 1]
    return (perm + offsets).reshape(n * p)  # [N, P] -> [M]


def _ungroup(t: Tensor, n: int, rows: Tensor | None) -> Tensor:
    """Undo the TS grouping (and the TS1 permutation when `rows` is given)."""
    e, nr, d = t.shape
    t = t.view(e, n, nr // n, d)  # [E, N·P/E, d_out] -> [E, N, P/E, d_out]
    t = t.transpose(0, 1).reshape(n * e * (nr // n), d)  # -> [M, d_out]
    if rows is None:
        return t
    return torch.empty_like(t).index_copy_(0, rows, t)  # slot order -> particle order


def sample_gaussian(mean: Tensor, var: Tensor, generator: torch.Generator) -> Tensor:
    """Draw `mean + ε·√var` with ε ~ N(0, I), one draw per element.

    Args:
        mean: [M, d_out] means.
        var: [M, d_out] variances.
        generator: random source on the device of `mean`.

    Returns:
        [M, d_out] samples.
    """
    eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    return eps.mul_(var.sqrt()).add_(mean)


def moment_match(samples: Tensor, npart: int, generator: torch.Generator) -> Tensor:
    """Replace each candidate's P samples by fresh draws from their fitted diagonal Gaussian.

    The variance is the biased (1/P) one, as the original (`docs/spec/pets-facts.md` §6.3).

    Args:
        samples: [M, d_out] sampled model outputs, candidate-major.
        npart: P.
        generator: random source on the device of `samples`.

    Returns:
        [M, d_out] fresh draws.
    """
    m, d = samples.shape
    x = samples.view(m // npart, npart, d)  # [M, d_out] -> [N, P, d_out]
    mean = x.mean(dim=1, keepdim=True)  # [N, P, d_out] -> [N, 1, d_out]
    var = (x - mean).square().mean(dim=1, keepdim=True)  # -> [N, 1, d_out]
    z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return z.mul_(var.sqrt()).add_(mean).view(m, d)  # [N, P, d_out] -> [M, d_out]
