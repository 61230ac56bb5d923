"""A run kept as the sampler made it: its Canvas and its StepRecords, and the state at any step from them.

Data flows one way: sampling (Canvas, StepRecord) -> Trajectory -> wire format, views, API, export.
The Trajectory adds no meaning of its own: the state at step k is the canvas with the commits of
records 1..k written in, and the guesses of record k under the masks left.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..sampling import Canvas, SamplingSettings, StepRecord


@dataclass
class StepView:
    """The canvas at one step (step 0: before the first forward pass), as the token grid shows it."""

    step: int
    block: int  # the active block (the first one at step 0)
    tokens: np.ndarray  # (N,) ids, mask id where masked
    masked: np.ndarray  # (N,) bool
    guesses: np.ndarray  # (N,) the model's prediction under each mask at this step (mask id elsewhere)
    confidence: np.ndarray  # (N,) at commit time for committed cells, this step's for masked ones
    committed_now: np.ndarray  # (N,) bool: committed after step `since` (default: at this step)
    commit_step: np.ndarray  # (N,) step of commit at this point (0: given, -1: not yet)


@dataclass
class Trajectory:
    """Every step of one run of one sequence."""

    canvas: Canvas
    settings: SamplingSettings | None = None
    label: str = ""  # the model that ran it
    records: list[StepRecord] = field(default_factory=list)

    def __post_init__(self):
        given = self.canvas.initial != self.canvas.mask_id
        self._commit_step = np.where(given, 0, -1).astype(np.int16)  # after the last record
        self._tokens = self.canvas.initial.copy()  # after the last record
        self._commit_confidence = np.where(given, 1.0, np.nan).astype(np.float32)
        records, self.records = self.records, []
        for record in records:
            self.add(record)

    def add(self, record: StepRecord) -> None:
        """Keep the next step's record."""
        if record.step != self.steps_done + 1:
            raise ValueError(f"expected step {self.steps_done + 1}, got step {record.step}")
        self.records.append(record)
        self._tokens[record.committed] = record.tokens
        self._commit_step[record.committed] = record.step
        self._commit_confidence[record.committed] = record.confidence[record.committed]

    # ---- the run so far -------------------------------------------------------------------------
    @property
    def steps_done(self) -> int:
        return len(self.records)

    @property
    def steps(self) -> int:
        return self.canvas.steps

    @property
    def length(self) -> int:
        return self.canvas.length

    @property
    def mask_id(self) -> int:
        return self.canvas.mask_id

    @property
    def prompt_tokens(self) -> np.ndarray:
        return self.canvas.prompt

    @property
    def forward_passes(self) -> int:
        return self.records[-1].forward_passes if self.records else 0

    @property
    def elapsed(self) -> float:
        return self.records[-1].elapsed if self.records else 0.0

    @property
    def finished(self) -> bool:
        return self.steps_done == self.steps

    def final_tokens(self) -> np.ndarray:
        """(N,) the canvas after the last step kept."""
        return self._tokens.copy()

    # ---- any step ---------------------------------------------------------------------------------
    def view(self, step: int, since: int | None = None) -> StepView:
        """The canvas at `step` (0 .. steps done). Cells committed after step `since` (default: the step
        before) count as new, so a live view that skips steps still marks all that came since it drew."""
        step = max(0, min(int(step), self.steps_done))
        since = step - 1 if since is None else since
        commit = np.where(self._commit_step > step, -1, self._commit_step).astype(np.int16)
        masked = commit < 0
        tokens = np.where(masked, self.mask_id, self._tokens)
        guesses = np.full(self.length, self.mask_id, dtype=np.int64)
        confidence = np.where(masked, np.nan, self._commit_confidence).astype(np.float32)
        block = 0
        if step > 0:
            record = self.records[step - 1]
            guesses[masked] = record.guesses
            confidence[masked] = record.confidence[masked]
            block = record.block
        return StepView(step=step, block=block, tokens=tokens, masked=masked, guesses=guesses, confidence=confidence,
                        committed_now=(commit > since) & (commit > 0), commit_step=commit)

    def confidence_matrix(self) -> np.ndarray:
        """(steps done, N) float32: the model's confidence in its prediction at every step and cell."""
        if not self.records:
            return np.zeros((0, self.length), np.float32)
        return np.stack([r.confidence for r in self.records])

    def masks_left(self) -> np.ndarray:
        """(steps done + 1,) masked cells before the first step and after each step."""
        start = int((self.canvas.initial == self.mask_id).sum())
        return start - np.concatenate([[0], np.cumsum([len(r.committed) for r in self.records])]).astype(int)

    def committed_per_step(self) -> np.ndarray:
        return np.array([len(r.committed) for r in self.records], dtype=int)
