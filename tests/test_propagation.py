"""Tests of `pets.planning.propagation` against identity-coded members, exact moments and loop
references.
"""

from __future__ import annotations

import math
import re

import pytest
import torch
from reference_planning import AffineEnsemble, IdentityCodedEnsemble, propagate_reference

from pets.errors import ConfigError
from pets.planning.propagation import PROP_TYPES, Propagation, check_combination

E, P, N = 5, 20, 6  # members, particles per candidate, candidates
D_IN, D_OUT = 3, 2


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _coded_inputs(n: int = N, p: int = P) -> torch.Tensor:
    """[M, D_IN] inputs whose column 0 is the particle's row index m."""
    x = torch.zeros(n * p, D_IN)
    x[:, 0] = torch.arange(n * p, dtype=torch.float32)
    return x


def _decode(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Identity-coded outputs -> (member index, particle row) per output row."""
    code = out[:, 0].round().long()
    return code // 1000, code % 1000


def _affine(probabilistic: bool, seed: int = 1) -> AffineEnsemble:
    g = _gen(seed)
    w = torch.randn(E, D_IN, D_OUT, generator=g)
    b = torch.randn(E, D_OUT, generator=g)
    var = torch.rand(E, D_OUT, generator=g) + 0.1 if probabilistic else None
    return AffineEnsemble(w, b, var)


# --- particle layout (identity-coded members) -------------------------------------------------


def test_tsinf_assigns_fixed_balanced_blocks() -> None:
    prop = Propagation("TSinf", npart=P, ensemble_size=E, ign_var=False)
    model = IdentityCodedEnsemble(E, D_IN, D_OUT, var_value=None)
    x = _coded_inputs()
    rows = torch.arange(N * P)
    # docs/spec/pets-facts.md §6.3: particles kρ..(k+1)ρ−1 -> member k
    expected_member = (rows % P) // (P // E)
    g = _gen()
    for _ in range(3):  # the same assignment at every step
        member, row = _decode(prop(model, x, g))
        torch.testing.assert_close(member, expected_member)
        torch.testing.assert_close(row, rows)  # every output went back to its own particle


def test_ts1_redraws_balanced_assignment_every_step() -> None:
    prop = Propagation("TS1", npart=P, ensemble_size=E, ign_var=False)
    model = IdentityCodedEnsemble(E, D_IN, D_OUT, var_value=None)
    x = _coded_inputs()
    g = _gen()
    steps = 400
    members = []
    for _ in range(steps):
        member, row = _decode(prop(model, x, g))
        torch.testing.assert_close(row, torch.arange(N * P))
        counts = torch.stack([torch.bincount(c, minlength=E) for c in member.view(N, P)])
        assert (counts == P // E).all()  # balanced: exactly P/E particles per member
        members.append(member)
    stacked = torch.stack(members)  # [steps, M]
    assert (stacked[1:] != stacked[:-1]).any(dim=1).all()  # re-drawn at every step
    # Each particle's member is uniform on E: frequency 1/E ± 5 binomial standard deviations.
    freq = torch.stack([(stacked == k).float().mean(0) for k in range(E)])  # [E, M]
    sd = math.sqrt((1 / E) * (1 - 1 / E) / steps)
    assert (freq - 1 / E).abs().max() < 5 * sd


def test_ts_with_probabilistic_members_samples_each_members_gaussian() -> None:
    # member k: mean 1000k + m, variance 4 -> (out − mean)/2 ~ N(0, 1) over all particles.
    prop = Propagation("TSinf", npart=P, ensemble_size=E, ign_var=False)
    model = IdentityCodedEnsemble(E, D_IN, D_OUT, var_value=4.0)
    n = 500
    x = _coded_inputs(n=n)
    out = prop(model, x, _gen())
    rows = torch.arange(n * P, dtype=torch.float32)
    member = (torch.arange(n * P) % P) // (P // E)
    z = (out - (1000.0 * member + rows).unsqueeze(1)) / 2.0
    count = z.numel()  # 20 000: mean within 5/√count, variance within 5·√(2/count)
    assert abs(float(z.mean())) < 5 / math.sqrt(count)
    assert abs(float(z.var()) - 1.0) < 5 * math.sqrt(2 / count)


@pytest.mark.parametrize("prop_type", ["TS1", "TSinf"])
def test_ts_uses_means_for_deterministic_members_or_ign_var(prop_type: str) -> None:
    x = _coded_inputs()
    for model, ign_var in (
        (IdentityCodedEnsemble(E, D_IN, D_OUT, var_value=None), False),  # DE
        (IdentityCodedEnsemble(E, D_IN, D_OUT, var_value=9.0), True),  # PE with ign_var
    ):
        out = Propagation(prop_type, npart=P, ensemble_size=E, ign_var=ign_var)(model, x, _gen())
        assert torch.equal(out, out.round())  # exactly the coded means: no noise added


# --- aggregated modes: exact moments ---------------------------------------------------------


def _aggregate_by_hand(model: AffineEnsemble, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Mean of means; mean of variances + population variance of the means.

    The aggregation of `docs/spec/pets-facts.md` §5.3.
    """
    mus = torch.stack([x @ model.weight[k] + model.bias[k] for k in range(E)])  # [E, M, d_out]
    mean = mus.mean(0)
    var = ((mus - mean) ** 2).mean(0)
    if model.var is not None:
        var = var + model.var.mean(0)
    return mean, var


@pytest.mark.parametrize("probabilistic", [True, False], ids=["PE", "DE"])
def test_e_returns_the_ensemble_mean_of_means(probabilistic: bool) -> None:
    model = _affine(probabilistic)
    x = torch.randn(7, D_IN, generator=_gen(3))
    out = Propagation("E", npart=1, ensemble_size=E, ign_var=False)(model, x, _gen())
    torch.testing.assert_close(out, _aggregate_by_hand(model, x)[0])


@pytest.mark.parametrize("probabilistic", [True, False], ids=["PE", "DE"])
def test_ds_samples_the_aggregated_gaussian(probabilistic: bool) -> None:
    model = _affine(probabilistic)
    n, p = 1, 40_000  # one input row repeated: the samples' moments are the Gaussian's
    x = torch.randn(1, D_IN, generator=_gen(3)).expand(n * p, -1)
    out = Propagation("DS", npart=p, ensemble_size=E, ign_var=False)(model, x, _gen())
    mean, var = (t[0] for t in _aggregate_by_hand(model, x[:1]))
    sd = var.sqrt()
    # mean within 5σ/√p; variance within 5·σ²·√(2/p) (Gaussian sampling errors)
    assert ((out.mean(0) - mean).abs() < 5 * sd / math.sqrt(p)).all()
    assert ((out.var(0) - var).abs() < 5 * var * math.sqrt(2 / p)).all()


def test_mm_moments_equal_the_empirical_moments_of_the_ds_samples() -> None:
    model = _affine(True)
    n, p = 3, 20_000
    x = torch.randn(n, D_IN, generator=_gen(4)).repeat_interleave(p, dim=0)  # [M, D_IN]
    ds = Propagation("DS", npart=p, ensemble_size=E, ign_var=False)
    mm = Propagation("MM", npart=p, ensemble_size=E, ign_var=False)
    # MM draws its DS samples first, so the same generator state reproduces them exactly.
    ds_out = ds(model, x, _gen(5)).view(n, p, D_OUT)
    mm_out = mm(model, x, _gen(5)).view(n, p, D_OUT)
    target_mean = ds_out.mean(1)
    target_var = ds_out.var(1, unbiased=False)  # the biased 1/P variance of §6.3
    sd = target_var.sqrt()
    assert ((mm_out.mean(1) - target_mean).abs() < 5 * sd / math.sqrt(p)).all()
    assert (
        (mm_out.var(1, unbiased=False) - target_var).abs() < 5 * target_var * math.sqrt(2 / p)
    ).all()
    assert not torch.equal(mm_out, ds_out)  # fresh draws, not the DS samples themselves


def test_mm_replaces_particles_by_fresh_draws_per_candidate() -> None:
    # Two candidates with very different inputs keep their own moments (no mixing across them).
    model = _affine(True)
    p = 5_000
    x = torch.stack([torch.full((D_IN,), -3.0), torch.full((D_IN,), 3.0)]).repeat_interleave(p, 0)
    out = Propagation("MM", npart=p, ensemble_size=E, ign_var=False)(model, x, _gen()).view(
        2, p, -1
    )
    mean, var = _aggregate_by_hand(model, x[::p])
    assert ((out.mean(1) - mean).abs() < 6 * var.sqrt() / math.sqrt(p)).all()


# --- kernels vs loop references ------------------------------------------------------------------


@pytest.mark.parametrize("probabilistic", [True, False], ids=["PE", "DE"])
@pytest.mark.parametrize("prop_type", PROP_TYPES)
def test_kernel_matches_loop_reference(prop_type: str, probabilistic: bool) -> None:
    model = _affine(probabilistic)
    n, p = 3, 1 if prop_type == "E" else 10
    x = torch.randn(n * p, D_IN, generator=_gen(7))
    ign_var = not probabilistic and prop_type in ("TS1", "TSinf")
    kernel = Propagation(prop_type, npart=p, ensemble_size=E, ign_var=ign_var)
    g1, g2 = _gen(11), _gen(11)
    for _ in range(2):  # two steps: TS1 re-draws, TSinf keeps, noise advances
        got = kernel(model, x, g1)
        want = propagate_reference(prop_type, model, x, npart=p, ign_var=ign_var, generator=g2)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert torch.equal(g1.get_state(), g2.get_state())  # the same random draws were consumed


def test_same_seed_gives_same_outputs() -> None:
    model = _affine(True)
    x = torch.randn(N * P, D_IN, generator=_gen(7))
    for prop_type in ("DS", "TS1", "TSinf", "MM"):
        prop = Propagation(prop_type, npart=P, ensemble_size=E, ign_var=False)
        assert torch.equal(prop(model, x, _gen(3)), prop(model, x, _gen(3)))


# --- validity ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_type", "prop_type", "npart", "nets", "named"),
    [
        ("D", "DS", 20, 1, ("D", "DS")),
        ("D", "TSinf", 20, 1, ("D", "TSinf")),
        ("P", "TS1", 20, 1, ("P", "TS1")),
        ("P", "TSinf", 20, 1, ("P", "TSinf")),
        ("PE", "TSinf", 21, 5, ("TSinf", "21", "5")),
        ("DE", "TS1", 7, 5, ("TS1", "7", "5")),
        ("PE", "DS", 20, 1, ("PE", "1")),
    ],
)
def test_bad_combination_raises_naming_the_values(
    model_type: str, prop_type: str, npart: int, nets: int, named: tuple[str, ...]
) -> None:
    with pytest.raises(ConfigError) as info:
        check_combination(model_type, prop_type, npart, nets)
    for value in named:
        assert re.search(rf"\b{value}\b", str(info.value)), (value, str(info.value))


@pytest.mark.parametrize(
    ("model_type", "prop_type"),
    [("D", "E"), ("P", "E"), ("P", "DS"), ("P", "MM")]
    + [(m, p) for m in ("DE", "PE") for p in PROP_TYPES],
)
def test_valid_combinations_pass(model_type: str, prop_type: str) -> None:
    nets = 5 if model_type in ("DE", "PE") else 1
    check_combination(model_type, prop_type, 1 if prop_type == "E" else 20, nets)


def test_propagation_rejects_bad_layouts() -> None:
    with pytest.raises(ConfigError, match=r"npart 21.*ensemble size 5"):
        Propagation("TSinf", npart=21, ensemble_size=5, ign_var=False)
    with pytest.raises(ConfigError, match="npart 20"):
        Propagation("E", npart=20, ensemble_size=5, ign_var=False)
    with pytest.raises(ConfigError, match="'TS2'"):
        Propagation("TS2", npart=20, ensemble_size=5, ign_var=False)


@pytest.mark.parametrize("prop_type", ["E", "DS", "MM"])
def test_a_single_network_propagates(prop_type: str) -> None:
    """D and P models are ensembles of one (docs/spec/pets-facts.md §6.4: D-E, P-E/DS/MM); E gives
    the exact affine mean x·W + b, DS and MM keep every particle's row (mutation-score survivor:
    size 1 refused)."""
    g = _gen(3)
    w, b = torch.randn(1, D_IN, D_OUT, generator=g), torch.randn(1, D_OUT, generator=g)
    model = AffineEnsemble(w, b, torch.full((1, D_OUT), 0.5))
    npart = 1 if prop_type == "E" else 4
    prop = Propagation(prop_type, npart=npart, ensemble_size=1, ign_var=False)
    x = torch.randn(3 * npart, D_IN, generator=g)
    out = prop(model, x, _gen(4))
    assert out.shape == (3 * npart, D_OUT)
    if prop_type == "E":
        torch.testing.assert_close(out, x @ w[0] + b[0])
