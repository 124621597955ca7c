"""The captured re-plan: when `MPC.act` captures, falls back, re-captures, and what it computes.

On the CPU the capture is replaced by stand-ins that run the graph path's code eagerly (rehearsed
warm-up, fixed buffers, replay function) or raise; the oracle for actions is the plain eager MPC
with the same seed, which must agree bit for bit. The `gpu` tests hold the real CUDA graph to the
eager re-plan the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pytest
import torch
from reference_planning import PointMassTask

from pets.capture import GraphCache, buffer_key, capture_graph
from pets.models import Ensemble, fit, make_optimizer
from pets.mpc import MPC, REPLAN_WARMUP, action_bounds, capture_replan
from pets.optimizers import CEMOptimizer
from pets.propagation import Propagation

D, E, H = 2, 5, 4
CAPTURE_LOG = "CUDA-graph capture of the re-plan failed"


def _model(device: str = "cpu") -> Ensemble:
    gen = torch.Generator().manual_seed(0)
    return Ensemble(
        2 * D, D, ensemble_size=E, hidden_layers=2, hidden_width=16,
        weight_decays=(1e-4, 1e-4, 1e-4), probabilistic=True, generator=gen,
    ).to(device)  # fmt: skip


def _mpc(model: Ensemble, capture: object, device: str = "cpu", seed: int = 3) -> MPC:
    task = PointMassTask(D, D, ac_lb=np.full(D, -1.0), ac_ub=np.full(D, 1.0), device=device)
    lb, ub = action_bounds(task, H, device=device, dtype=torch.float32)
    opt = CEMOptimizer(popsize=40, num_elites=4, max_iters=3, alpha=0.1, epsilon=1e-3, lb=lb, ub=ub)
    prop = Propagation("TSinf", npart=10, ensemble_size=E, ign_var=False)
    gen = torch.Generator(device=device).manual_seed(seed)
    return MPC(
        task, model, prop, opt, plan_hor=H, per=1, npart=10, generator=gen,
        capture=capture,  # type: ignore[arg-type]
    )  # fmt: skip


class EagerCapture:
    """`capture_replan` without CUDA: the same rehearsed warm-up, then `replan` as the replay."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, mpc: MPC) -> Callable[[], torch.Tensor]:
        self.calls += 1
        with mpc.rehearsal():
            for _ in range(REPLAN_WARMUP):
                mpc.replan()
        return mpc.replan


class FailingCapture:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, mpc: MPC) -> Callable[[], torch.Tensor]:
        self.calls += 1
        raise RuntimeError("operation not permitted when stream is capturing\nsecond line")


def _train(model: Ensemble, optimizer: object, seed: int) -> None:
    """One fit on random transitions: the weights and the scaler change (in place)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 2 * D, generator=gen) * (1 + seed)
    y = torch.randn(64, D, generator=gen) * 0.1
    fit(model, optimizer, x, y, epochs=1, batch_size=16, generator=gen)  # type: ignore[arg-type]


def _episode(mpc: MPC, seed: int, steps: int = 3) -> list[np.ndarray]:
    obs = np.random.default_rng(seed).uniform(-1, 1, (steps, D))
    return [mpc.act(o) for o in obs]


def _run_with_updates(capture: object, device: str = "cpu") -> tuple[list[np.ndarray], MPC]:
    """Three episodes of three actions, with a model update (fit) before each."""
    model = _model(device)
    optimizer = make_optimizer(model, 1e-3)
    mpc = _mpc(model, capture, device)
    actions: list[np.ndarray] = []
    for k in range(3):
        _train(model, optimizer, seed=k)
        actions += _episode(mpc, seed=k)
    return actions, mpc


def test_cpu_controller_replans_eagerly_without_a_graph() -> None:
    # The CPU hot path is the plain re-plan: no graph object, so no key or replay work per act.
    mpc = _mpc(_model(), capture="auto")
    assert mpc.graph is None


def test_graph_path_gives_the_plain_actions_across_model_updates() -> None:
    # Plain eager MPC as oracle. Fails if the warm-up leaves a trace (shifted warm start,
    # advanced generator), if the replay runs before the observation is loaded, or if the
    # buffers the replay reads are not the ones training updates.
    plain, _ = _run_with_updates(capture=None)
    capture = EagerCapture()
    graphed, mpc = _run_with_updates(capture=capture)
    assert len(plain) == len(graphed) == 9
    for a, b in zip(plain, graphed, strict=True):
        np.testing.assert_array_equal(a, b)
    # Captured once for the whole run: fit writes weights and scaler statistics in place.
    assert capture.calls == 1
    assert mpc.graph is not None and mpc.graph.captures == 1


def test_fit_updates_every_buffer_the_graph_reads_in_place() -> None:
    model = _model()
    optimizer = make_optimizer(model, 1e-3)
    before = {name: t.data_ptr() for name, t in [*model.named_parameters(), *model.named_buffers()]}
    values = {name: t.clone() for name, t in [*model.named_parameters(), *model.named_buffers()]}
    _train(model, optimizer, seed=1)
    after = {name: t.data_ptr() for name, t in [*model.named_parameters(), *model.named_buffers()]}
    assert after == before
    # ... and they did change (so the check above is about identity, not about no update).
    changed = [n for n, t in [*model.named_parameters(), *model.named_buffers()]
               if not torch.equal(t, values[n])]  # fmt: skip
    assert {"scaler.mu", "scaler.sigma", "layers.0.weight"} <= set(changed)


def test_reallocated_weights_are_recaptured() -> None:
    model = _model()
    capture = EagerCapture()
    mpc = _mpc(model, capture)
    plain = _mpc(_model(), capture=None)
    _episode(mpc, seed=0, steps=2)
    _episode(plain, seed=0, steps=2)
    # A new tensor object for a weight (as `module.to()` or assigning `.data` would make): the
    # old graph would read freed memory, so the next re-plan must capture again.
    for m in (model, plain.model):
        first = m.layers[0]  # type: ignore[union-attr]
        first.weight.data = first.weight.data.clone() * 0.5
    a = _episode(mpc, seed=1, steps=2)
    b = _episode(plain, seed=1, steps=2)
    assert capture.calls == 2
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_capture_failure_logs_one_line_and_replans_eagerly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    plain, _ = _run_with_updates(capture=None)
    capture = FailingCapture()
    with caplog.at_level(logging.INFO, logger="pets"):
        fallback, mpc = _run_with_updates(capture=capture)
    for a, b in zip(plain, fallback, strict=True):
        np.testing.assert_array_equal(a, b)
    assert capture.calls == 1  # tried once, not at every re-plan
    records = [r for r in caplog.records if CAPTURE_LOG in r.getMessage()]
    assert len(records) == 1
    message = records[0].getMessage()
    assert "RuntimeError" in message and "eagerly" in message and "\n" not in message
    assert mpc.graph is not None and mpc.graph.failed


def test_rehearsal_puts_back_warm_start_last_plan_and_generator() -> None:
    mpc = _mpc(_model(), capture=None)
    mpc.load_observation(np.array([0.4, -0.2]))
    mpc.replan()  # a non-trivial warm start and last plan
    saved = (mpc._prev_sol.clone(), mpc.last_plan.clone(), mpc.generator.get_state())
    with mpc.rehearsal():
        mpc.replan()
        mpc.replan()
        assert not torch.equal(mpc._prev_sol, saved[0])  # the rehearsal did change them
    assert torch.equal(mpc._prev_sol, saved[0])
    assert torch.equal(mpc.last_plan, saved[1])
    assert torch.equal(mpc.generator.get_state(), saved[2])


def test_graph_cache_recaptures_only_for_a_new_key() -> None:
    made: list[int] = []

    def capture() -> Callable[[], int]:
        made.append(len(made))
        return lambda: len(made)

    cache = GraphCache("a test call", capture)
    a, b = torch.zeros(3), torch.zeros(3)
    first = cache.get(buffer_key([a]))
    assert cache.get(buffer_key([a])) is first
    a.add_(1)  # in-place writes keep the key
    assert cache.get(buffer_key([a])) is first
    assert cache.get(buffer_key([b])) is not first  # another buffer: another capture
    assert cache.get(buffer_key([a.view(1, 3)])) is not None  # same memory, other shape
    assert made == [0, 1, 2] and cache.captures == 3


# --- CUDA (skipped without it) ------------------------------------------------------------------

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.gpu
@requires_cuda
def test_captured_replan_equals_eager_replan_on_cuda() -> None:
    # The CUDA graph replays the eager kernels with the same generator offsets: identical
    # actions, also after fits that update the weights in place, from one capture.
    eager, _ = _run_with_updates(capture=None, device="cuda")
    graphed, mpc = _run_with_updates(capture="auto", device="cuda")
    assert mpc.graph is not None and mpc.graph.captures == 1 and not mpc.graph.failed
    for a, b in zip(eager, graphed, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.gpu
@requires_cuda
def test_capture_replan_changes_no_state_on_cuda() -> None:
    mpc = _mpc(_model("cuda"), capture=None, device="cuda")
    mpc.load_observation(np.array([0.4, -0.2]))
    before = (mpc._prev_sol.clone(), mpc.generator.get_state())
    replay = capture_replan(mpc)
    assert torch.equal(mpc._prev_sol, before[0])
    assert torch.equal(mpc.generator.get_state(), before[1])
    twin = _mpc(_model("cuda"), capture=None, device="cuda")
    twin.load_observation(np.array([0.4, -0.2]))
    assert torch.equal(replay().clone(), twin.replan())


@pytest.mark.gpu
@requires_cuda
def test_failed_capture_on_cuda_falls_back_to_the_eager_actions(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A real capture failure: a host sync inside the captured call is refused by CUDA. The
    # controller must then re-plan eagerly with the generator and buffers left usable.
    def syncing_capture(mpc: MPC) -> Callable[[], torch.Tensor]:
        def replan_and_sync() -> torch.Tensor:
            plan = mpc.replan()
            float(plan.sum())  # not allowed while a stream is capturing
            return plan

        with mpc.rehearsal():  # as capture_replan
            _, plan = capture_graph(
                replan_and_sync, device=mpc.device, warmup=lambda: None,
                generators=(mpc.generator,),
            )  # fmt: skip
        return lambda: plan

    eager, _ = _run_with_updates(capture=None, device="cuda")
    with caplog.at_level(logging.INFO, logger="pets"):
        fallback, mpc = _run_with_updates(capture=syncing_capture, device="cuda")
    assert mpc.graph is not None and mpc.graph.failed
    assert sum(CAPTURE_LOG in r.getMessage() for r in caplog.records) == 1
    for a, b in zip(eager, fallback, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.gpu
@requires_cuda
def test_a_failed_capture_leaves_generators_and_stream_usable_on_cuda() -> None:
    # Whatever torch's generator bookkeeping, after a capture that fails half-way the
    # registered and the default generator draw eagerly from where they were, on the
    # stream that was current before.
    device = torch.device("cuda")
    gen = torch.Generator(device=device).manual_seed(5)
    twin = torch.Generator(device=device).manual_seed(5)
    default_before = torch.cuda.default_generators[torch.cuda.current_device()].get_state()
    stream_before = torch.cuda.current_stream()

    def draw_and_sync() -> torch.Tensor:
        x = torch.rand(8, generator=gen, device=device) + torch.rand(8, device=device)
        float(x.sum())  # not allowed while a stream is capturing
        return x

    with pytest.raises(RuntimeError):
        capture_graph(draw_and_sync, device=device, warmup=lambda: None, generators=(gen,))
    assert torch.cuda.current_stream() == stream_before
    expected = torch.rand(8, generator=twin, device=device)
    assert torch.equal(torch.rand(8, generator=gen, device=device), expected)
    default = torch.cuda.default_generators[torch.cuda.current_device()]
    assert torch.equal(default.get_state(), default_before)
    torch.rand(8, device=device)  # the default generator draws eagerly too


@pytest.mark.gpu
@requires_cuda
def test_a_host_sync_in_the_warm_up_fails_before_the_capture_on_cuda() -> None:
    x = torch.ones(4, device="cuda")
    with pytest.raises(RuntimeError, match="synchroniz"):
        capture_graph(lambda: x * 2, device=x.device, warmup=lambda: float(x.sum()))
    assert torch.cuda.get_sync_debug_mode() == 0


@pytest.mark.gpu
@pytest.mark.skipif(
    not torch.cuda.is_available() or torch.cuda.device_count() < 2, reason="needs two GPUs"
)
def test_captured_replan_on_the_second_gpu_equals_eager() -> None:
    # cuda:0 stays current: the capture must still record cuda:1's work (an empty graph
    # would replay nothing and repeat a stale plan).
    eager, _ = _run_with_updates(capture=None, device="cuda:1")
    graphed, mpc = _run_with_updates(capture="auto", device="cuda:1")
    assert torch.cuda.current_device() == 0
    assert mpc.graph is not None and mpc.graph.captures == 1 and not mpc.graph.failed
    for a, b in zip(eager, graphed, strict=True):
        np.testing.assert_array_equal(a, b)
