"""`pets.capture.capture_graph` around torch.cuda, on the CPU, against a recording stand-in.

Only what needs a GPU is replaced (`FakeCuda`: devices, streams, the sync debug mode, the graph
and its capture context, generators). The stand-ins behave as torch's own code does where the
capture can go wrong: `torch.cuda.graph`'s entry and exit in torch's own order (the exit
ends the capture before it restores the stream, so a failing end leaves the capture stream
current), a capture records only the current device's work, and a generator's state is marked
capturing at the start of a capture and cleared only by a capture that ends well, an eager draw
from a marked state raising, as torch's CUDAGeneratorState did before per-capture states.
Oracles: the recorded call log and the generators' (seed, offset), which must be unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
import torch

from pets.capture import GraphCache, capture_graph

OFFSET_ERROR = "Offset increment outside graph capture encountered unexpectedly"


@dataclass
class FakeState:
    seed: int
    offset: int = 0
    capturing: bool = False


class FakeGenerator:
    """A CUDA generator: its state object, draws, clone_state and graphsafe_set_state."""

    def __init__(self, cuda: FakeCuda, seed: int) -> None:
        self.cuda, self.state = cuda, FakeState(seed)

    def draw(self) -> None:
        """A random op: torch's CUDAGeneratorState::increase (a capture counts apart)."""
        if self.cuda.capturing:
            return  # recorded as an offset inside the graph, not the eager offset
        if self.state.capturing:
            raise RuntimeError(OFFSET_ERROR)
        self.state.offset += 4

    def seed_and_offset(self) -> tuple[int, int]:
        return self.state.seed, self.state.offset

    def clone_state(self) -> FakeGenerator:
        twin = FakeGenerator(self.cuda, self.state.seed)
        twin.state.offset = self.state.offset  # a new state: not capturing
        return twin

    def graphsafe_set_state(self, other: FakeGenerator) -> None:
        self.state = other.state


@dataclass(frozen=True)
class FakeStream:
    name: str
    device: int

    def wait_stream(self, other: FakeStream) -> None:
        pass


class StreamContext:
    """torch.cuda.stream: a class, so an entry never exited never restores (no generator GC)."""

    def __init__(self, cuda: FakeCuda, stream: FakeStream) -> None:
        self.cuda, self.stream = cuda, stream

    def __enter__(self) -> None:
        self.before = self.cuda.streams[self.stream.device]
        self.cuda.streams[self.stream.device] = self.stream

    def __exit__(self, *args: object) -> None:
        self.cuda.streams[self.stream.device] = self.before


@dataclass
class FakeCuda:
    """The parts of torch.cuda that capture_graph uses, with a log of what happened where."""

    end_fails: bool = False  # capture_end raises (an invalidated capture)
    current_device: int = 0
    sync_mode: int = 0
    capturing: bool = False
    log: list[tuple[object, ...]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.streams = {d: FakeStream(f"default{d}", d) for d in (0, 1)}  # current per device
        self.default_generators = (FakeGenerator(self, 100), FakeGenerator(self, 101))
        self.made = 0

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        cuda = self

        class Graph:
            def __init__(self) -> None:
                self.states: list[FakeState] = []

            def register_generator_state(self, gen: FakeGenerator) -> None:
                self.states.append(gen.state)

            def capture_begin(self) -> None:
                dev = cuda.current_device
                cuda.log.append(("capture_begin", dev, cuda.streams[dev].name))
                # torch registers the capture device's default generator with every graph
                self.states.append(cuda.default_generators[dev].state)
                for state in self.states:
                    state.capturing = True
                cuda.capturing = True

            def capture_end(self) -> None:
                cuda.capturing = False
                if cuda.end_fails:
                    raise RuntimeError(
                        "CUDA error: operation not permitted when stream is capturing"
                    )
                for state in self.states:
                    state.capturing = False

        class GraphContext:  # torch.cuda.graph, entry and exit in torch's order
            def __init__(self, graph: Graph, stream: FakeStream | None = None) -> None:
                assert stream is not None, "capture_graph names its capture stream"
                self.graph, self.stream_ctx = graph, cuda.stream(stream)

            def __enter__(self) -> None:
                self.stream_ctx.__enter__()
                self.graph.capture_begin()

            def __exit__(self, *args: object) -> None:
                self.graph.capture_end()
                self.stream_ctx.__exit__(*args)

        for name, value in {
            "device": self.device,
            "current_stream": lambda device=None: self.streams[self._index(device)],
            "Stream": self.new_stream,
            "stream": self.stream,
            "set_stream": self.set_stream,
            "get_sync_debug_mode": lambda: self.sync_mode,
            "set_sync_debug_mode": self.set_sync_debug_mode,
            "CUDAGraph": Graph,
            "graph": GraphContext,
            "default_generators": self.default_generators,
            "current_device": lambda: self.current_device,
        }.items():
            monkeypatch.setattr(torch.cuda, name, value)

    def _index(self, device: torch.device | None) -> int:
        return self.current_device if device is None or device.index is None else device.index

    @contextmanager
    def device(self, device: torch.device) -> Iterator[None]:
        before, self.current_device = self.current_device, self._index(device)
        try:
            yield
        finally:
            self.current_device = before

    def new_stream(self, device: torch.device | None = None) -> FakeStream:
        self.made += 1
        return FakeStream(f"side{self.made}", self._index(device))

    def stream(self, stream: FakeStream) -> StreamContext:
        return StreamContext(self, stream)

    def set_stream(self, stream: FakeStream) -> None:
        self.streams[stream.device] = stream

    def set_sync_debug_mode(self, mode: int | str) -> None:
        self.sync_mode = {"default": 0, "warn": 1, "error": 2}.get(mode, mode)  # type: ignore[arg-type]


@pytest.fixture
def cuda(monkeypatch: pytest.MonkeyPatch) -> FakeCuda:
    fake = FakeCuda()
    fake.install(monkeypatch)
    return fake


def _capture(
    cuda: FakeCuda, gen: FakeGenerator, *, device: int = 0, fn: Callable[[], str] | None = None
) -> tuple[object, str]:
    def warmup() -> None:
        cuda.log.append(("warmup", cuda.current_device, cuda.sync_mode))

    def default_fn() -> str:
        gen.draw()  # inside the capture: recorded, allowed
        return "out"

    return capture_graph(  # type: ignore[return-value]
        fn or default_fn,
        device=torch.device("cuda", device),
        warmup=warmup,
        generators=(gen,),  # type: ignore[arg-type]
    )


def test_a_capture_that_ends_well_leaves_the_stream_and_generators_as_before(
    cuda: FakeCuda,
) -> None:
    gen = FakeGenerator(cuda, 7)
    _, out = _capture(cuda, gen)
    assert out == "out"
    assert cuda.streams[0].name == "default0"
    gen.draw()
    cuda.default_generators[0].draw()  # both usable eagerly again


@pytest.mark.parametrize("where", ["capture_end", "captured_call"])
def test_after_a_failed_capture_the_generators_draw_eagerly_from_the_same_offset(
    cuda: FakeCuda, where: str
) -> None:
    # Fails without the fresh generator states (the first eager re-plan would raise the
    # offset error and stop the run) or if they lose the seed or offset.
    gen = FakeGenerator(cuda, 7)
    gen.draw()
    before = (gen.seed_and_offset(), cuda.default_generators[0].seed_and_offset())
    cuda.end_fails = True

    def failing_call() -> str:
        raise RuntimeError("a host sync while capturing")

    with pytest.raises(RuntimeError):
        _capture(cuda, gen, fn=failing_call if where == "captured_call" else None)
    assert (gen.seed_and_offset(), cuda.default_generators[0].seed_and_offset()) == before
    gen.draw()
    cuda.default_generators[0].draw()
    assert gen.seed_and_offset() == (7, 8)


def test_a_failed_capture_end_puts_the_previous_stream_back(cuda: FakeCuda) -> None:
    # torch.cuda.graph's exit raises before restoring the stream; later eager work would
    # otherwise be queued on the dead capture stream.
    cuda.end_fails = True
    with pytest.raises(RuntimeError, match="not permitted"):
        _capture(cuda, FakeGenerator(cuda, 7))
    assert cuda.streams[0].name == "default0"
    assert cuda.current_device == 0


def test_the_warm_up_runs_with_host_syncs_as_errors_and_the_mode_is_restored(
    cuda: FakeCuda,
) -> None:
    cuda.sync_mode = 1  # a user's "warn" stays after the capture
    _capture(cuda, FakeGenerator(cuda, 7))
    assert [e for e in cuda.log if e[0] == "warmup"] == [("warmup", 0, 2)]
    assert cuda.sync_mode == 1


def test_a_failing_warm_up_restores_the_sync_mode_and_begins_no_capture(cuda: FakeCuda) -> None:
    def warmup() -> None:
        raise RuntimeError("called a synchronizing CUDA operation")

    with pytest.raises(RuntimeError, match="synchronizing"):
        capture_graph(lambda: None, device=torch.device("cuda", 0), warmup=warmup)
    assert cuda.sync_mode == 0
    assert not [e for e in cuda.log if e[0] == "capture_begin"]


def test_a_capture_on_another_gpu_than_the_current_one_runs_on_that_gpu(cuda: FakeCuda) -> None:
    # torch.cuda.graph records the current device's work only: with cuda:0 current, a run on
    # cuda:1 would capture an empty graph.
    gen = FakeGenerator(cuda, 7)
    _capture(cuda, gen, device=1)
    warmups = [e for e in cuda.log if e[0] == "warmup"]
    begins = [e for e in cuda.log if e[0] == "capture_begin"]
    assert warmups == [("warmup", 1, 2)]
    assert len(begins) == 1 and begins[0][1] == 1 and begins[0][2].startswith("side")
    assert cuda.current_device == 0  # the caller's current device again
    assert cuda.streams == {0: FakeStream("default0", 0), 1: FakeStream("default1", 1)}


def test_the_fallback_after_a_failed_capture_logs_once_and_draws_eagerly(cuda: FakeCuda) -> None:
    # The controller's sequence: GraphCache turns the failure into "go eager", and the eager
    # re-plan then draws from the same generator.
    cuda.end_fails = True
    gen = FakeGenerator(cuda, 7)
    cache: GraphCache[object] = GraphCache("the re-plan", lambda: _capture(cuda, gen))
    assert cache.get(()) is None and cache.failed
    for _ in range(3):
        assert cache.get(()) is None
        gen.draw()
    assert gen.seed_and_offset() == (7, 12)
