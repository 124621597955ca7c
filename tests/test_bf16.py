"""`-precision bf16`: the planner's TSinf ensemble layers in bf16, refused without bf16 units.

Oracles: the exact forward (the model in float64) with the rounding bound `rounding.forward_bound`
derives for bf16 layers (float32 accumulation, every stored value rounded to bf16); the model's
own weights cast to bf16 (the planner's copies after every training call); a stand-in for the
CPU's feature flags (the refusal).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from rounding import SD_MULTIPLE, forward_bound, forward_error_sd, max_relative
from tiny_runs import TINY

from pets.cli import main
from pets.config import ConfigError, build_config
from pets.models import Ensemble
from pets.planning.forward import PlanningForward
from pets.planning.mpc import MPC
from pets.planning.propagation import Propagation
from pets.run import runlog
from pets.util import precision

BF16 = torch.bfloat16


@pytest.fixture
def bf16_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CPU that reports AMX, so bf16 runs are allowed whatever CPU runs the tests."""
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"amx_bf16", "avx512f"}))


@pytest.fixture(autouse=True)
def restore_torch() -> Iterator[None]:
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _model(width: int = 200, layers: int = 3) -> Ensemble:
    torch.manual_seed(0)
    model = Ensemble(10, 6, ensemble_size=5, hidden_layers=layers, hidden_width=width,
                     weight_decays=[0.0] * (layers + 1), probabilistic=True)  # fmt: skip
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for layer in model.layers:
            layer.bias.normal_(std=0.3, generator=g)
        model.scaler.mu.normal_(generator=g)
        model.scaler.sigma.uniform_(0.5, 2.0, generator=g)
    return model


def _forward(model: Ensemble, x: torch.Tensor, compute: torch.dtype | None) -> tuple:
    fwd = PlanningForward(model, x.shape[1], compute)
    fwd.input.copy_(x)
    mean, var = fwd(model)
    assert var is not None
    return mean.clone(), var.clone()


def test_bf16_forward_is_within_its_rounding_bound_on_a_small_net() -> None:
    """A 32-wide net with two hidden layers: the worst-case bound holds and stays useful."""
    model = _model(width=32, layers=2)
    x = torch.randn(5, 400, 10, generator=torch.Generator().manual_seed(2)) * 2
    with torch.no_grad():
        exact_mean, exact_var = copy.deepcopy(model).double()(x.double())
    assert exact_var is not None
    low_mean, low_var = _forward(model, x, BF16)
    bound_mean, bound_var = forward_bound(model, x, BF16)
    assert bound_var is not None
    assert max_relative(low_mean, exact_mean, bound_mean) <= 1.0
    assert max_relative(low_var, exact_var, bound_var) <= 1.0


def test_bf16_forward_at_the_paper_width_is_within_six_sd_of_its_rounding_and_is_really_bf16() -> (
    None
):
    """Three 200-wide hidden layers (reacher's and pusher's nets have 3-4): the bf16 and fp32
    forwards against the float64 one, each within `SD_MULTIPLE` × its rounding SD; the bf16 one
    is off by far more than the fp32 one (else the layers did not run in bf16)."""
    model = _model()
    x = torch.randn(5, 400, 10, generator=torch.Generator().manual_seed(2)) * 2
    with torch.no_grad():
        exact_mean, exact_var = copy.deepcopy(model).double()(x.double())
    assert exact_var is not None
    low_mean, low_var = _forward(model, x, BF16)
    full_mean, full_var = _forward(model, x, None)
    for got, want, (sd_mean, sd_var) in (
        ((low_mean, low_var), (exact_mean, exact_var), forward_error_sd(model, x, BF16)),
        ((full_mean, full_var), (exact_mean, exact_var), forward_error_sd(model, x)),
    ):
        assert sd_var is not None
        assert max_relative(got[0], want[0], SD_MULTIPLE * sd_mean) <= 1.0
        assert max_relative(got[1], want[1], SD_MULTIPLE * sd_var) <= 1.0
    assert low_mean.dtype == torch.float32  # moments and what follows stay fp32
    low_err = (low_mean.double() - exact_mean).abs().max()
    full_err = (full_mean.double() - exact_mean).abs().max()
    assert low_err > 100 * full_err  # bf16 keeps 8 bits, float32 24
    # Tight enough for the bugs a bf16 forward could have: a dropped bias is off by |b| ≈ 0.3.
    sd_mean, _ = forward_error_sd(model, x, BF16)
    assert float(SD_MULTIPLE * sd_mean.max()) < 0.1


def test_the_bf16_copies_follow_the_weights_only_when_refreshed() -> None:
    model = _model(width=32)
    prop = Propagation("TSinf", npart=5, ensemble_size=5, ign_var=False, compute_dtype=BF16)
    features = torch.randn(20, 8, generator=torch.Generator().manual_seed(3))
    actions = torch.randn(4, 2, generator=torch.Generator().manual_seed(4))

    def plan() -> torch.Tensor:
        with torch.no_grad():
            return prop.propagate(
                model, features, actions, torch.Generator().manual_seed(5)
            ).clone()

    before = plan()
    with torch.no_grad():  # as a training step does: in place
        for layer in model.layers:
            layer.weight.mul_(1.1)
    stale = plan()
    assert torch.equal(stale, before)  # the copies were made once, not per call
    prop.refresh(model)
    fresh = plan()
    (fwd,) = prop._forwards.values()
    for (w, b), layer in zip(fwd.params, model.layers, strict=True):
        assert torch.equal(w, layer.weight.to(BF16)) and torch.equal(b, layer.bias.to(BF16))
    assert not torch.equal(fresh, before)


def test_every_replan_of_a_bf16_run_sees_the_trained_weights(
    bf16_cpu: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checked at each re-plan of a real run: the planner's bf16 copies are the current weights
    cast, after each training call (a stale copy is the bug), and the run records bf16."""
    checked: list[int] = []
    act = MPC.act

    def checked_act(self: MPC, obs: np.ndarray) -> np.ndarray:
        for fwd in self.propagation._forwards.values():
            for (w, _), layer in zip(fwd.params, self.model.layers, strict=True):
                assert torch.equal(w, layer.weight.detach().to(BF16))
            checked.append(len(fwd.params))
        return act(self, obs)

    monkeypatch.setattr(MPC, "act", checked_act)
    # Three training calls, so iterations 2 and 3 plan after a training that followed the
    # copies' creation (with one, the copies are made after the only training and cannot go
    # stale).
    iters = [("exp_cfg.exp_cfg.ntrain_iters", "3")]
    tiny = [item for path, value in [*TINY, *iters] for item in ("-o", path, value)]
    argv = ["mbexp", "-env", "cartpole", "-device", "cpu", "-threads", "1", "-precision", "bf16"]
    assert main([*argv, "-outdir", str(tmp_path), *tiny]) == 0
    stored = runlog.read_config(tmp_path / runlog.CONFIG_FILE)
    assert stored["precision"] == "bf16"
    assert all(n == 4 for n in checked)  # 3 hidden layers and the output layer
    assert len(checked) > 2 * 4  # re-plans of iterations 2 and 3 (4 steps each) were checked
    (tmp_path / runlog.LOGS_FILE).unlink()  # resumed with fp32: the run's record is kept
    fp32 = [*argv[:-1], "fp32"]
    assert main([*fp32, "-outdir", str(tmp_path), *tiny]) == 0
    assert runlog.read_config(tmp_path / runlog.CONFIG_FILE)["precision"] == "bf16"


@pytest.mark.parametrize(
    ("flags", "allowed"),
    [(set(), False), ({"avx512f", "avx2"}, False), ({"avx512_bf16"}, True), ({"amx_bf16"}, True)],
)
def test_bf16_is_refused_on_a_cpu_without_bf16_units(
    flags: set[str], allowed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset(flags))
    cpu = torch.device("cpu")
    if allowed:
        precision.check_precision_supported("bf16", cpu)
        return
    with pytest.raises(ConfigError, match=r"neither AVX512-BF16 nor AMX.*use -precision fp32"):
        precision.check_precision_supported("bf16", cpu)
    precision.check_precision_supported("fp32", cpu)  # fp32 and tf32 need nothing
    precision.check_precision_supported("tf32", cpu)


def test_mbexp_refuses_bf16_without_units_in_one_line_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(precision, "cpu_flags", frozenset)
    out = tmp_path / "run"
    code = main(["mbexp", "-env", "cartpole", "-device", "cpu", "-precision", "bf16",
                 "-outdir", str(out)])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith("pets mbexp: error: -precision bf16 needs bf16 units")
    assert not out.exists()


def test_bf16_needs_a_propagation_with_a_bf16_forward() -> None:
    assert build_config("cartpole", precision="bf16").precision == "bf16"  # PE-TSinf
    with pytest.raises(ConfigError, match=r"bf16 .* for prop-type TSinf only; prop-type MM"):
        build_config("cartpole", [("prop-type", "MM")], precision="bf16")


def test_cpu_flags_are_read_from_the_cpuinfo_flags_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 amx_bf16 amx_tile\nbogomips\t: 1\n")
    monkeypatch.setattr(precision, "CPUINFO", info)
    assert precision.cpu_flags() == {"fpu", "avx2", "amx_bf16", "amx_tile"}
    monkeypatch.setattr(precision, "CPUINFO", tmp_path / "missing")
    assert precision.cpu_flags() == frozenset()
