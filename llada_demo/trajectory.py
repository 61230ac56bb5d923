"""A run's frames kept compactly for the views: heatmap rows, commit confidences, replay of any step.

Data flows one way: sampler frames -> Trajectory -> renderers. A Trajectory holds only the answer
region (or, for infilling, the whole text) of the first sequence of the batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .sampler import Frame


@dataclass
class StepView:
    """What the token grid shows at one step (step 0: before the first forward pass)."""

    step: int
    steps: int
    block: int
    blocks: int
    block_span: tuple[int, int]  # relative to the view's first position
    block_starts: tuple[int, ...]  # relative start of every block
    tokens: np.ndarray  # (N,) ids, mask id where masked
    masked: np.ndarray  # (N,) bool
    prediction: np.ndarray  # (N,) what the model would put there at this step
    confidence: np.ndarray  # (N,) confidence shown: at commit time for committed cells, current for masks
    committed_now: np.ndarray  # (N,) bool
    commit_step: np.ndarray  # (N,) step of commit (0 never masked, -1 not yet)


@dataclass
class Trajectory:
    """Every step of one run, for the first sequence of the batch."""

    prompt_tokens: np.ndarray  # (L,) ids of the prompt (the part before the view)
    start: int  # absolute position of the view's first cell
    initial_tokens: np.ndarray  # (N,) the view at step 0
    mask_id: int
    block_starts: tuple[int, ...] = ()  # relative to the view; known from the first frame on
    frames: list = field(default_factory=list)  # per step: dict of compact arrays
    confidence_rows: list = field(default_factory=list)  # per step: (N,) float32
    forward_passes: int = 0
    elapsed: float = 0.0
    notes: tuple[str, ...] = ()
    steps: int = 0  # steps the run will take in all
    label: str = ""  # the model that ran it

    @classmethod
    def start_for(cls, prompt_tokens, gen_length: int, mask_id: int, infill: bool = False, constraints=None):
        """An empty trajectory: the answer after the prompt, or for infilling the whole text."""
        prompt_tokens = np.asarray(prompt_tokens, dtype=np.int64).reshape(-1)
        if infill:
            return cls(np.zeros(0, np.int64), 0, prompt_tokens.copy(), mask_id)
        initial = np.full(gen_length, mask_id, dtype=np.int64)
        for pos, tok in (constraints or {}).items():
            initial[int(pos)] = int(tok)
        return cls(prompt_tokens, len(prompt_tokens), initial, mask_id)

    def add(self, frame: Frame) -> None:
        """Keep one sampler frame (the first sequence, from the view's first position on)."""
        s = self.start
        record = dict(
            tokens=frame.tokens[0, s:].astype(np.int32), prediction=frame.prediction[0, s:].astype(np.int32),
            committed=frame.committed[0, s:].copy(), commit_step=frame.commit_step[0, s:].copy(),
            block=frame.block, blocks=frame.blocks, block_span=(frame.block_span[0] - s, frame.block_span[1] - s),
            steps=frame.steps, forward_passes=frame.forward_passes, elapsed=frame.elapsed, notes=frame.notes,
            block_starts=tuple(b - s for b in frame.block_starts))
        self.append(record, np.nan_to_num(frame.confidence[0, s:], nan=1.0).astype(np.float32))

    def append(self, record: dict, confidence_row: np.ndarray) -> None:
        """Keep one step as stored by `add` (also how a stored run is rebuilt step by step)."""
        self.frames.append(record)
        self.confidence_rows.append(confidence_row)
        self.steps, self.forward_passes = record["steps"], record["forward_passes"]
        self.elapsed, self.notes = record["elapsed"], record["notes"]
        self.block_starts = record["block_starts"]

    def records(self):
        """The stored steps, in order, as `append` takes them."""
        return list(zip(self.frames, self.confidence_rows))

    @property
    def steps_done(self) -> int:
        return len(self.frames)

    @property
    def length(self) -> int:
        return len(self.initial_tokens)

    def confidence_matrix(self) -> np.ndarray:
        """(steps done, N) float32: the model's confidence in its prediction at every step and cell."""
        if not self.confidence_rows:
            return np.zeros((0, self.length), np.float32)
        return np.stack(self.confidence_rows)

    def commit_confidence(self, upto: int | None = None) -> np.ndarray:
        """(N,) the confidence each cell had when it was committed (nan if not committed by `upto`)."""
        upto = self.steps_done if upto is None else upto
        out = np.full(self.length, np.nan, np.float32)
        if upto == 0:
            return out
        commit = self.frames[upto - 1]["commit_step"]
        for i in np.nonzero(commit > 0)[0]:  # O(N): no stacking of every row at every view
            out[i] = self.confidence_rows[commit[i] - 1][i]
        out[commit == 0] = 1.0  # given (constraints, text around infill masks)
        return out

    def view(self, step: int, since: int | None = None) -> StepView:
        """The grid at `step` (0 .. steps done), for live display and for replay. Cells committed after
        step `since` count as new (default: at `step` itself), so a live view that skips frames still
        highlights everything committed since it last drew."""
        step = max(0, min(step, self.steps_done))
        if step == 0:
            n = self.length
            initial_commit = np.where(self.initial_tokens == self.mask_id, -1, 0).astype(np.int16)
            first = self.frames[0] if self.frames else dict(block=0, blocks=1, block_span=(0, n))
            return StepView(0, self.steps, first["block"], first["blocks"], first["block_span"], self.block_starts,
                            self.initial_tokens, self.initial_tokens == self.mask_id,
                            np.full(n, self.mask_id), np.full(n, np.nan, np.float32), np.zeros(n, bool),
                            initial_commit)
        f = self.frames[step - 1]
        masked = f["tokens"] == self.mask_id
        confidence = np.where(masked, self.confidence_rows[step - 1], self.commit_confidence(step))
        since = step - 1 if since is None else since
        new = f["commit_step"] > since
        return StepView(step, self.steps, f["block"], f["blocks"], f["block_span"], self.block_starts, f["tokens"],
                        masked, f["prediction"], confidence, new, f["commit_step"])

    def masks_left(self) -> np.ndarray:
        """(steps done + 1,) masked cells before the first step and after each step."""
        counts = [int((self.initial_tokens == self.mask_id).sum())]
        counts += [int((f["tokens"] == self.mask_id).sum()) for f in self.frames]
        return np.array(counts)

    def committed_per_step(self) -> np.ndarray:
        return np.array([int(f["committed"].sum()) for f in self.frames])

    def final_tokens(self) -> np.ndarray:
        return self.frames[-1]["tokens"] if self.frames else self.initial_tokens
