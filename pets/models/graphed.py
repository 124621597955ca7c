"""The training step captured as a CUDA graph over fixed minibatch buffers (`fit(step=...)`).

A CUDA run trains through one `GraphedStep`: each step gathers the members' minibatches into
buffers allocated once, then replays the captured forward + backward + Adam step. The graph is
captured at the first step and serves every later `fit` call: `fit` refits the scaler in place,
Adam (capturable) writes its state in place, and the buffers depend only on the model and the
batch size. It is re-captured only when a buffer it uses is reallocated or reshaped, and a failed
capture is one log line, then eager steps on the same buffers (`pets.util.capture.GraphCache`).
Imports only torch, `pets.util.capture` and `pets.models`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

import torch
from torch import Tensor

from pets.models.adam import Adam
from pets.models.ensemble import Ensemble
from pets.models.step import batch_step
from pets.util.capture import BufferKey, GraphCache, buffer_key, capture_graph

__all__ = ["STEP_WARMUP", "CaptureStep", "GraphedStep", "capture_step"]

STEP_WARMUP = 3  # eager steps rehearsed on a side stream before a capture (as torch's docs)

CaptureStep = Callable[[Callable[[], Tensor], Callable[[], None]], Callable[[], Tensor]]
"""`capture(step, warmup) -> replay`: run `warmup`, capture `step`, return a replay of it."""


def capture_step(device: torch.device) -> CaptureStep:
    """The CUDA capture of a training step on `device` (`pets.util.capture.capture_graph`)."""

    def capture(step: Callable[[], Tensor], warmup: Callable[[], None]) -> Callable[[], Tensor]:
        graph, loss = capture_graph(step, device=device, warmup=warmup)

        def replay() -> Tensor:
            graph.replay()
            return loss

        return replay

    return capture


class GraphedStep:
    """One training step of `model` and `optimizer`, captured once, replayed for every minibatch.

    Args:
        model: the ensemble.
        optimizer: its capturable Adam (`make_optimizer` on CUDA).
        capture: "auto" (`capture_step` on CUDA, eager elsewhere), None (eager on the fixed
            buffers) or a `CaptureStep` (tests, benchmarks).

    Raises:
        ValueError: the optimizer is not capturable.
    """

    def __init__(
        self,
        model: Ensemble,
        optimizer: Adam,
        *,
        capture: CaptureStep | Literal["auto"] | None = "auto",
    ) -> None:
        if not optimizer.capturable:
            raise ValueError("GraphedStep needs a capturable Adam (make_optimizer on CUDA)")
        self.model, self.optimizer = model, optimizer
        device = next(model.parameters()).device
        if capture == "auto":
            capture = capture_step(device) if device.type == "cuda" else None
        self.graph: GraphCache[Callable[[], Tensor]] | None = None
        if capture is not None:
            capture_fn = capture
            self.graph = GraphCache(
                "the training step", lambda: capture_fn(self._step, self._warmup)
            )
        self.inputs: Tensor | None = None  # [E, B, d_in] once allocated
        self.targets: Tensor | None = None  # [E, B, d_out]
        self.row_weights: Tensor | None = None  # [B]
        self._replay: Callable[[], Tensor] | None = None  # valid until `recheck`
        self._checked = False

    def recheck(self) -> None:
        """Check the buffers' identity again at the next step (`fit` calls it once per call).

        Within one `fit` call only `fit` writes the buffers, and in place, so the check (about
        30 µs for a half-cheetah ensemble and its Adam state) is not repeated at every step.
        """
        self._checked = False

    def __call__(self, inputs: Tensor, targets: Tensor, idx: Tensor, row_weights: Tensor) -> Tensor:
        """One step on rows `idx` of the data, as `pets.models.train_step` (same arguments).

        Args:
            inputs: [N, d_in] all training inputs, on the model's device.
            targets: [N, d_out] all training targets.
            idx: [E, B] row indices, member e's minibatch in row e.
            row_weights: [B] 1 for real rows, 0 for padding.

        Returns:
            [] the loss before the step; a captured step's loss buffer, overwritten by the next.
        """
        self._load(inputs, targets, idx, row_weights)
        if self.graph is not None and not self._checked:
            self._replay = self.graph.get(self.buffer_key())
            self._checked = True
        return self._step() if self._replay is None else self._replay()

    def buffer_key(self) -> BufferKey:
        """Identity of every buffer the captured step reads or writes (`pets.util.capture`)."""
        assert self.inputs is not None and self.targets is not None and self.row_weights is not None
        return buffer_key(
            [
                *self.model.parameters(),
                *self.model.buffers(),
                *self.optimizer.state_tensors(),
                self.inputs,
                self.targets,
                self.row_weights,
            ]
        )

    def _load(self, inputs: Tensor, targets: Tensor, idx: Tensor, row_weights: Tensor) -> None:
        """Gather the minibatches into the fixed buffers (allocated for the first batch shape)."""
        e, b = idx.shape
        if self.inputs is None or self.inputs.shape[:2] != (e, b):
            self.inputs = inputs.new_empty(e, b, inputs.shape[1])
            self.targets = targets.new_empty(e, b, targets.shape[1])
            self.row_weights = row_weights.new_empty(b)
            self._checked = False  # new buffers: the graph must be captured for them
        assert self.targets is not None and self.row_weights is not None
        rows = idx.reshape(e * b)  # [E, B] -> [E·B], member-major as inputs[idx]
        torch.index_select(inputs, 0, rows, out=self.inputs.view(e * b, -1))
        torch.index_select(targets, 0, rows, out=self.targets.view(e * b, -1))
        self.row_weights.copy_(row_weights)

    def _step(self) -> Tensor:
        assert self.inputs is not None and self.targets is not None and self.row_weights is not None
        return batch_step(self.model, self.optimizer, self.inputs, self.targets, self.row_weights)

    def _warmup(self) -> None:
        with self.rehearsal():
            for _ in range(STEP_WARMUP):
                self._step()
        self.optimizer.zero_grad(set_to_none=True)  # the capture allocates its own gradients

    @contextmanager
    def rehearsal(self) -> Iterator[None]:
        """Steps inside leave no trace: weights, scaler and Adam state are put back in place.

        A capture needs eager warm-up steps; without this they would train on the first
        minibatch four times.
        """
        tensors = [*self.model.parameters(), *self.model.buffers(), *self.optimizer.state_tensors()]
        saved = [t.detach().clone() for t in tensors]
        try:
            yield
        finally:
            with torch.no_grad():
                for t, s in zip(tensors, saved, strict=True):
                    t.copy_(s)
