"""CUDA-graph capture shared by the planner and the trainer, with an eager fallback.

Owns the mechanics that `pets.mpc` (the re-plan) and `pets.models.graphed` (the training step)
have in common: capturing a call as a CUDA graph after a warm-up on a side stream, the key that
says when a capture is stale (the shapes and addresses of every buffer the graph reads or
writes), and the fallback that turns a failed capture into one log line and eager execution.
A graph replays kernels on fixed addresses, so it stays valid across model updates as long as
weights, scaler statistics and optimiser state are written in place; it must be re-captured when
any of those buffers is reallocated or changes shape. Imports only torch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Generic, TypeVar

import torch
from torch import Tensor

__all__ = ["BufferKey", "GraphCache", "buffer_key", "capture_graph"]

log = logging.getLogger(__name__)

R = TypeVar("R")

BufferKey = tuple[tuple[torch.device, int, torch.Size, torch.dtype], ...]
"""Per buffer: device, address, shape and dtype; a capture is valid while its key is unchanged."""


def buffer_key(tensors: Iterable[Tensor]) -> BufferKey:
    """The identity of the buffers a graph uses: a new key means the graph must be re-captured.

    Args:
        tensors: every tensor the captured call reads or writes in place, in a fixed order.
    """
    return tuple((t.device, t.data_ptr(), t.shape, t.dtype) for t in tensors)


def capture_graph(
    fn: Callable[[], R],
    *,
    device: torch.device,
    warmup: Callable[[], None],
    generators: Sequence[torch.Generator] = (),
) -> tuple[torch.cuda.CUDAGraph, R]:
    """Capture one call of `fn` as a CUDA graph; return the graph and `fn`'s (static) output.

    `warmup` runs first on a side stream, as capture requires (lazy library initialisation and
    the allocator's pools must be settled); it should leave no trace (e.g. rehearse and restore),
    since capturing records `fn` without running it. It runs under torch's sync debug mode
    "error", so a host sync in the captured code fails here, before any capture has begun. The
    whole capture runs with `device` current: `torch.cuda.graph` records the current device's
    work only, so a run on another GPU than the current one would capture an empty graph.

    A capture that fails leaves things as an eager run needs them: the previous stream current
    again, and every generator the capture marked (those given and `device`'s default one) with
    a fresh state of the same seed and offset, since torch before its per-capture generator
    states clears that mark only when a capture ends well, and refuses eager draws while it is
    set ("Offset increment outside graph capture encountered unexpectedly"). CUDA only.

    Args:
        fn: the call to capture; it must read and write only fixed buffers and never sync.
        device: a CUDA device.
        warmup: untimed eager calls before the capture.
        generators: CUDA generators `fn` draws from, registered so replays advance them.

    Raises:
        Exception: whatever the warm-up or the capture raised, after the clean-up above.
    """
    with torch.cuda.device(device):
        previous = torch.cuda.current_stream(device)
        side = torch.cuda.Stream(device=device)
        side.wait_stream(previous)
        with torch.cuda.stream(side), _syncs_raise():
            warmup()
        previous.wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        for gen in generators:
            graph.register_generator_state(gen)
        try:
            # The side stream, not torch.cuda.graph's class-wide default: that one belongs to
            # whichever device was current at the first capture of the process, and after a
            # failed capture it may still feed the failed graph's memory pool.
            with torch.cuda.graph(graph, stream=side):
                out = fn()
        except BaseException:
            _fresh_generator_states([*generators, _default_generator(device)])
            raise
        finally:
            # torch.cuda.graph's exit leaves the capture stream current when ending the capture
            # raises, and so does its entry when beginning it raises.
            torch.cuda.set_stream(previous)
    return graph, out


@contextmanager
def _syncs_raise() -> Iterator[None]:
    """Run the block under torch's sync debug mode "error" (a host sync raises), then restore."""
    before = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode(before)


def _default_generator(device: torch.device) -> torch.Generator:
    """`device`'s default CUDA generator, which every capture on it registers."""
    index = device.index if device.index is not None else torch.cuda.current_device()
    return torch.cuda.default_generators[index]


def _fresh_generator_states(generators: Iterable[torch.Generator]) -> None:
    """Give each generator a new state object with its seed and offset (not capturing)."""
    for gen in generators:
        # clone_state copies seed and offset into a new state, whose capture mark is clear;
        # graphsafe_set_state installs it in this generator object, which the MPC, the run's
        # random streams and its checkpoints all hold.
        gen.graphsafe_set_state(gen.clone_state())


class GraphCache(Generic[R]):
    """One captured call, re-captured when its buffer key changes, eager after a failed capture.

    Args:
        what: names the call in the fallback log line (e.g. "the re-plan").
        capture: builds the replay function; any exception it raises means "run eagerly".
    """

    def __init__(self, what: str, capture: Callable[[], R]) -> None:
        self.what = what
        self._capture = capture
        self._key: BufferKey | None = None
        self._replay: R | None = None
        self.failed = False
        self.captures = 0  # how many times a graph was captured (re-captures included)

    def get(self, key: BufferKey) -> R | None:
        """The replay function for buffers `key`, capturing it first if needed; None: go eager."""
        if self.failed:
            return None
        if self._replay is not None and key == self._key:
            return self._replay
        self._replay = None
        try:
            replay = self._capture()
        # A failed capture (an op that cannot be captured, a driver without graph support, an
        # out-of-memory pool) must not end a run: the eager path runs the same code, so a real
        # bug raises again there rather than being hidden here.
        except Exception as err:
            self.failed = True
            message = str(err).strip().splitlines()[0] if str(err).strip() else ""
            log.warning(
                "CUDA-graph capture of %s failed (%s: %s); running it eagerly",
                self.what,
                type(err).__name__,
                message,
            )
            return None
        self._key, self._replay = key, replay
        self.captures += 1
        return replay
