"""The captured training step: capturable Adam, `GraphedStep` in `fit`, fallback, buffer identity.

Oracles: `torch.optim.Adam` for the capturable arithmetic (equal up to float32 rounding, see the
tolerance below); the eager `fit` (no step object, the same capturable Adam) for the graph path,
which must agree bit for bit on the CPU where stand-ins run the captured code eagerly; an
uninterrupted run for state restored in place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
import torch

from pets.capture import capture_graph
from pets.errors import ConfigError
from pets.models import Adam, Ensemble, GraphedStep, fit, make_optimizer
from pets.models.graphed import STEP_WARMUP

LR = 1e-3
CAPTURE_LOG = "CUDA-graph capture of the training step failed"


def _model(device: str = "cpu") -> Ensemble:
    gen = torch.Generator().manual_seed(0)
    return Ensemble(
        3, 2, ensemble_size=4, hidden_layers=2, hidden_width=8,
        weight_decays=(1e-4, 2e-4, 3e-4), probabilistic=True, generator=gen,
    ).to(device)  # fmt: skip


def _capturable(model: Ensemble) -> Adam:
    return Adam(model.parameters(), lr=LR, capturable=True)


def _data(rows: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(rows, 3, generator=gen) * 2 + 1, torch.randn(rows, 2, generator=gen)


class EagerCapture:
    """The captured path without CUDA: the rehearsed warm-up, then the step itself as replay."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(
        self, step: Callable[[], torch.Tensor], warmup: Callable[[], None]
    ) -> Callable[[], torch.Tensor]:
        self.calls += 1
        warmup()
        return step


class FailingCapture:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, step: object, warmup: object) -> Callable[[], torch.Tensor]:
        self.calls += 1
        raise RuntimeError("CUDA error: operation not permitted when stream is capturing")


def _train(step_capture: object | None, device: str = "cpu") -> tuple[list, Ensemble, object]:
    """Two fits on growing data (as a run's iterations); the step object is kept across them."""
    model = _model(device)
    optimizer = _capturable(model)
    step = None
    if step_capture is not None:
        step = GraphedStep(model, optimizer, capture=step_capture)  # type: ignore[arg-type]
    losses = []
    for k, rows in enumerate((70, 130)):  # 70 and 130 rows: padded last minibatches
        x, y = _data(rows, seed=k)
        gen = torch.Generator().manual_seed(10 + k)
        report = fit(model, optimizer, x, y, epochs=2, batch_size=16, generator=gen, step=step)
        losses += report.epoch_losses
    return losses, model, step


def test_capturable_adam_matches_torch_adam() -> None:
    # Oracle: torch.optim.Adam (default, CPU). The capturable update is the same formula with
    # the step scalars in device tensors; only the fused multiply-add of addcdiv_ rounds
    # differently, by ≤ 1 ulp of the update per step. 300 steps of updates ≤ lr = 1e-3 thus
    # differ by far less than 1e-6, while a wrong bias correction differs by ~1e-3.
    gen = torch.Generator().manual_seed(0)
    shapes = [(4, 3, 8), (4, 1, 8), (1, 2)]
    ours = [torch.randn(s, generator=gen).requires_grad_() for s in shapes]
    theirs = [p.detach().clone().requires_grad_() for p in ours]
    opt_ours, opt_theirs = Adam(ours, lr=LR, capturable=True), torch.optim.Adam(theirs, lr=LR)
    for step in range(300):
        g = torch.Generator().manual_seed(100 + step)
        grads = [torch.randn(s, generator=g) for s in shapes]
        for p, q, grad in zip(ours, theirs, grads, strict=True):
            p.grad, q.grad = grad.clone(), grad.clone()
        opt_ours.step()
        opt_theirs.step()
    for p, q in zip(ours, theirs, strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-6)


def test_make_optimizer_is_plain_on_the_cpu() -> None:
    # CPU results stay torch's Adam bit for bit (tests/test_adam.py): no capturable state there.
    assert not make_optimizer(_model(), LR).capturable


def test_graph_path_trains_exactly_as_eager_fit() -> None:
    # Fails if the rehearsed warm-up leaves a trace (4 updates on the first minibatch), if the
    # gather into the fixed buffers picks other rows than inputs[idx], or if padding weights
    # are not copied per step.
    eager_losses, eager_model, _ = _train(step_capture=None)
    capture = EagerCapture()
    losses, model, step = _train(step_capture=capture)
    assert losses == eager_losses
    for a, b in zip(model.parameters(), eager_model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert capture.calls == 1  # one capture for both fits
    assert isinstance(step, GraphedStep) and step.graph is not None and step.graph.captures == 1


def test_buffers_keep_their_memory_across_fits() -> None:
    capture = EagerCapture()
    model = _model()
    optimizer = _capturable(model)
    step = GraphedStep(model, optimizer, capture=capture)

    def pointers() -> list[int]:
        tensors = [*model.parameters(), *model.buffers(), *optimizer.state_tensors()]
        return [t.data_ptr() for t in tensors]

    start = pointers()
    for k in range(2):
        x, y = _data(50 + 40 * k, seed=k)
        fit(model, optimizer, x, y, epochs=1, batch_size=16,
            generator=torch.Generator().manual_seed(k), step=step)  # fmt: skip
    assert pointers() == start
    assert step.inputs is not None and step.inputs.shape == (4, 16, 3)
    assert capture.calls == 1


def test_replaced_weights_are_recaptured_at_the_next_fit() -> None:
    # A new tensor for a weight (as assigning `.data` or `module.to()` makes): the graph would
    # write freed memory, so the next fit captures again; steps inside one fit check once.
    capture = EagerCapture()
    model = _model()
    optimizer = _capturable(model)
    step = GraphedStep(model, optimizer, capture=capture)
    x, y = _data(70, seed=0)
    fit(model, optimizer, x, y, epochs=2, batch_size=16, generator=torch.Generator(), step=step)
    assert capture.calls == 1  # 10 steps, one capture
    first = model.layers[0]
    first.weight.data = first.weight.data.clone()  # type: ignore[union-attr]
    fit(model, optimizer, x, y, epochs=1, batch_size=16, generator=torch.Generator(), step=step)
    assert capture.calls == 2


def test_capture_failure_logs_one_line_and_trains_eagerly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    eager_losses, eager_model, _ = _train(step_capture=None)
    capture = FailingCapture()
    with caplog.at_level(logging.INFO, logger="pets"):
        losses, model, _ = _train(step_capture=capture)
    assert losses == eager_losses
    for a, b in zip(model.parameters(), eager_model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert capture.calls == 1
    records = [r for r in caplog.records if CAPTURE_LOG in r.getMessage()]
    assert len(records) == 1 and "RuntimeError" in records[0].getMessage()


def test_rehearsal_puts_back_weights_scaler_and_adam_state() -> None:
    model = _model()
    optimizer = _capturable(model)
    step = GraphedStep(model, optimizer, capture=None)
    x, y = _data(40, seed=0)
    idx = torch.arange(64).remainder(40).view(4, 16)
    step(x, y, idx, torch.ones(16))  # non-zero Adam state
    tensors = [*model.parameters(), *model.buffers(), *optimizer.state_tensors()]
    saved = [t.detach().clone() for t in tensors]
    with step.rehearsal():
        for _ in range(STEP_WARMUP):
            step(x, y, idx, torch.ones(16))
        model.scaler.fit(x)
    for t, s in zip(tensors, saved, strict=True):
        assert torch.equal(t, s)


def test_capturable_state_loads_in_place_and_resumes_exactly() -> None:
    # Oracle: the same 2 + 2 steps without interruption.
    def steps(model: Ensemble, optimizer: Adam, seeds: range) -> None:
        for s in seeds:
            x, y = _data(40, seed=s)
            fit(model, optimizer, x, y, epochs=1, batch_size=32,
                generator=torch.Generator().manual_seed(s))  # fmt: skip

    reference = _model()
    ref_opt = _capturable(reference)
    steps(reference, ref_opt, range(4))

    first = _model()
    first_opt = _capturable(first)
    steps(first, first_opt, range(2))
    resumed = _model()
    resumed_opt = _capturable(resumed)
    pointers = [t.data_ptr() for t in resumed_opt.state_tensors()]
    resumed.load_state_dict(first.state_dict())
    resumed_opt.load_state_dict(first_opt.state_dict())
    assert [t.data_ptr() for t in resumed_opt.state_tensors()] == pointers
    steps(resumed, resumed_opt, range(2, 4))
    for a, b in zip(resumed.parameters(), reference.parameters(), strict=True):
        assert torch.equal(a, b)
    # The state dict is torch's format: a plain Adam continues from it too.
    state = resumed_opt.state_dict()
    assert state["state"][0]["step"] == torch.tensor(8.0)  # 4 fits of 2 steps (40 rows / 32)
    Adam(_model().parameters(), lr=LR).load_state_dict(state)


def test_graphed_step_refuses_what_it_cannot_capture() -> None:
    model = _model()
    with pytest.raises(ValueError, match="capturable"):
        GraphedStep(model, Adam(model.parameters(), lr=LR))
    step = GraphedStep(model, _capturable(model), capture=None)
    x, y = _data(20, seed=0)
    with pytest.raises(ValueError, match="another model or optimizer"):
        fit(model, _capturable(model), x, y, epochs=1, batch_size=8,
            generator=torch.Generator(), step=step)  # fmt: skip
    with pytest.raises(ConfigError, match="shape"):
        other = _capturable(_model())
        bad = other.state_dict()
        bad["state"] = {0: {"step": torch.tensor(1.0), "exp_avg": torch.zeros(1),
                            "exp_avg_sq": torch.zeros(1)}}  # fmt: skip
        other.load_state_dict(bad)


# --- CUDA (skipped without it) ------------------------------------------------------------------

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.gpu
@requires_cuda
def test_captured_training_step_equals_eager_step_on_cuda() -> None:
    # Same kernels replayed: bit for bit the eager steps on the same buffers, from one capture.
    eager_losses, eager_model, _ = _train(step_capture=None, device="cuda")
    losses, model, step = _train(step_capture="auto", device="cuda")
    assert isinstance(step, GraphedStep) and step.graph is not None
    assert step.graph.captures == 1 and not step.graph.failed
    assert losses == eager_losses
    for a, b in zip(model.parameters(), eager_model.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.gpu
@requires_cuda
def test_capturable_adam_on_cuda_is_torch_fused_adam_bit_for_bit() -> None:
    # On CUDA the capturable step is torch's fused kernel reading device step counts, as
    # torch.optim.Adam(fused=True) runs it; one graph of the step replays the same kernels.
    gen = torch.Generator().manual_seed(0)
    shapes = [(4, 3, 8), (4, 1, 8), (1, 2)]
    ours = [torch.randn(s, generator=gen).cuda().requires_grad_() for s in shapes]
    theirs = [p.detach().clone().requires_grad_() for p in ours]
    graphed = [p.detach().clone().requires_grad_() for p in ours]
    opt_ours, opt_theirs = (
        Adam(ours, lr=LR, capturable=True),
        torch.optim.Adam(theirs, lr=LR, fused=True),
    )
    opt_graphed = Adam(graphed, lr=LR, capturable=True)
    for p in graphed:
        p.grad = torch.zeros_like(p)
    # No warm-up step: it would move the step counts; the capture itself runs no kernel.
    graph, _ = capture_graph(opt_graphed.step, device=torch.device("cuda"), warmup=lambda: None)
    for step in range(50):
        g = torch.Generator().manual_seed(100 + step)
        grads = [torch.randn(s, generator=g).cuda() for s in shapes]
        for p, q, r, grad in zip(ours, theirs, graphed, grads, strict=True):
            p.grad, q.grad = grad.clone(), grad.clone()
            r.grad.copy_(grad)  # type: ignore[union-attr]
        opt_ours.step()
        opt_theirs.step()
        graph.replay()
    for p, q, r in zip(ours, theirs, graphed, strict=True):
        assert torch.equal(p, q)
        assert torch.equal(r, q)


@pytest.mark.gpu
@requires_cuda
def test_captured_training_on_cuda_matches_the_cpu() -> None:
    # Against the plain CPU Adam: float32 rounding of different kernels only.
    cpu_losses, cpu_model, _ = _train(step_capture=None)
    losses, model, _ = _train(step_capture="auto", device="cuda")
    assert losses == pytest.approx(cpu_losses, rel=1e-4)
    for a, b in zip(model.parameters(), cpu_model.parameters(), strict=True):
        torch.testing.assert_close(a.detach().cpu(), b.detach(), rtol=1e-3, atol=1e-4)


@pytest.mark.gpu
@requires_cuda
def test_failed_capture_on_cuda_trains_as_eager(caplog: pytest.LogCaptureFixture) -> None:
    # A real capture failure (a host sync while capturing), then eager steps on the same buffers.
    def syncing_capture(
        step: Callable[[], torch.Tensor], warmup: Callable[[], None]
    ) -> Callable[[], torch.Tensor]:
        def step_and_sync() -> torch.Tensor:
            loss = step()
            float(loss)  # not allowed while a stream is capturing
            return loss

        _, loss = capture_graph(step_and_sync, device=torch.device("cuda"), warmup=warmup)
        return lambda: loss

    eager_losses, eager_model, _ = _train(step_capture=None, device="cuda")
    with caplog.at_level(logging.INFO, logger="pets"):
        losses, model, step = _train(step_capture=syncing_capture, device="cuda")
    assert isinstance(step, GraphedStep) and step.graph is not None and step.graph.failed
    assert sum(CAPTURE_LOG in r.getMessage() for r in caplog.records) == 1
    assert losses == eager_losses
    for a, b in zip(model.parameters(), eager_model.parameters(), strict=True):
        assert torch.equal(a, b)
