"""What a run tells the rest of the program: a `Canvas` before its first step, a `StepRecord` per step.

These two types are the one shape a run has from the sampler to the trajectory, the views, the API
and the export: the trajectory keeps them as they are, the wire format encodes them field by field.
Positions count on the canvas: the answer after the prompt or, when infilling, the whole text.
A record holds only what its step adds; the state at any step follows from the canvas and the
records before it (`trace.Trajectory`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Canvas:
    """The positions a run fills and its plan, known before the first forward pass."""

    prompt: np.ndarray  # (L,) int64 ids before the canvas (empty when infilling)
    initial: np.ndarray  # (N,) int64 the canvas before the first step: mask_id where the run fills
    mask_id: int
    block_spans: tuple[tuple[int, int], ...]  # canvas positions [start, end) of every block
    steps_per_block: tuple[int, ...]
    notes: tuple[str, ...] = ()  # settings that were adjusted, and how (Schedule.notes)

    @property
    def length(self) -> int:
        return len(self.initial)

    @property
    def steps(self) -> int:
        return sum(self.steps_per_block)

    @property
    def blocks(self) -> int:
        return len(self.block_spans)

    @property
    def block_starts(self) -> tuple[int, ...]:
        return tuple(s for s, _ in self.block_spans)


@dataclass(frozen=True, eq=False)
class Resume:
    """Where a run goes on from (`denoise(..., resume=)`): the canvas after step `step`, edits included
    (mask_id where masked), the block that step was in, and the forward passes so far. The continuation
    keeps the plan: the blocks and steps per block that remain after `step`; its records count on."""

    tokens: np.ndarray  # (N,) int64
    step: int
    block: int
    forward_passes: int


@dataclass(frozen=True, eq=False)
class StepRecord:
    """One reverse step of one sequence: what it committed and what the model thought everywhere."""

    step: int  # 1-based index of this step
    block: int  # 0-based index of the active block
    forward_passes: int  # forward passes so far, this step's included
    elapsed: float  # seconds from the start of the run to the end of this step
    committed: np.ndarray  # (k,) int32 canvas positions unmasked at this step, ascending
    tokens: np.ndarray  # (k,) int64 the token ids written there
    confidence: np.ndarray  # (N,) float32 p(x0_hat) at every canvas position; nan where nothing was masked
    guesses: np.ndarray  # (m,) int64 x0_hat at the positions still masked after this step, ascending
