"""A run kept as the sampler made it: its Canvas and its StepRecords, and the state at any step from them.

Data flows one way: sampling (Canvas, StepRecord) -> Trajectory -> wire format, views, API, export.
The Trajectory adds no meaning of its own: the state at step k is the canvas with the commits of
records 1..k written in, and the guesses of record k under the masks left. A branch (a run continued
from step k of another, edited or not) holds the other's records up to k, then an `Edit` at k (cells set
by hand count as committed at k, cells masked again are masked from k on), then its own records.
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


@dataclass(frozen=True)
class Edit:
    """What a person changed at step `step` before the run went on: tokens set by hand, cells masked again."""

    step: int
    set: tuple[tuple[int, int], ...] = ()  # (canvas position, token id)
    remask: tuple[int, ...] = ()  # canvas positions

    @property
    def positions(self) -> set[int]:
        return {p for p, _ in self.set} | set(self.remask)


@dataclass
class Trajectory:
    """Every step of one run of one sequence (and the edits it was continued after, for a branch)."""

    canvas: Canvas
    settings: SamplingSettings | None = None
    label: str = ""  # the model that ran it
    records: list[StepRecord] = field(default_factory=list)
    edits: list[Edit] = field(default_factory=list)

    def __post_init__(self):
        given = self.canvas.initial != self.canvas.mask_id
        self._commit_step = np.where(given, 0, -1).astype(np.int32)  # after the last record
        self._tokens = self.canvas.initial.copy()  # after the last record
        self._commit_confidence = np.where(given, 1.0, np.nan).astype(np.float32)
        self._before: dict[int, list[tuple[int, int, int, float]]] = {}  # an edited cell's states before each edit
        records, edits, self.records, self.edits = self.records, self.edits, [], []
        at = {e.step: e for e in edits}
        if 0 in at:
            self.edit(at[0])
        for record in records:
            self.add(record)
            if record.step in at:
                self.edit(at[record.step])

    def add(self, record: StepRecord) -> None:
        """Keep the next step's record."""
        if record.step != self.steps_done + 1:
            raise ValueError(f"expected step {self.steps_done + 1}, got step {record.step}")
        self.records.append(record)
        self._tokens[record.committed] = record.tokens
        self._commit_step[record.committed] = record.step
        self._commit_confidence[record.committed] = record.confidence[record.committed]

    def edit(self, edit: Edit) -> None:
        """Keep an edit made after the last record (a branch's start): cells set by hand are committed at
        its step (with no confidence: the model did not choose them), cells masked again are masked."""
        if edit.step != self.steps_done:
            raise ValueError(f"an edit goes after the last step kept ({self.steps_done}), not at step {edit.step}")
        for p in sorted(edit.positions):
            if not 0 <= p < self.length or self.canvas.initial[p] != self.mask_id:
                raise ValueError(f"position {p} is not one the run fills (0..{self.length - 1}, not given)")
            self._before.setdefault(p, []).append((edit.step, int(self._tokens[p]), int(self._commit_step[p]),
                                                   float(self._commit_confidence[p])))
        for p, token in edit.set:
            self._tokens[p], self._commit_step[p], self._commit_confidence[p] = token, edit.step, np.nan
        for p in edit.remask:
            self._tokens[p], self._commit_step[p], self._commit_confidence[p] = self.mask_id, -1, np.nan
        self.edits.append(edit)

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

    @property
    def branched_at(self) -> int | None:
        """The step this run was continued from (its first edit's), or None."""
        return self.edits[0].step if self.edits else None

    def final_tokens(self) -> np.ndarray:
        """(N,) the canvas after the last step kept."""
        return self._tokens.copy()

    # ---- any step ---------------------------------------------------------------------------------
    def _state(self, step: int, edits_at_step: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(tokens, commit steps, commit confidences) as they stood at `step` (with the edits made at
        that step or not): the state now, with each edited cell taken back to before its later edits."""
        tokens, commit, confidence = self._tokens.copy(), self._commit_step.copy(), self._commit_confidence.copy()
        for p, states in self._before.items():
            for edit_step, token, c, conf in states:  # in edit order: the first edit after `step` says
                if edit_step > step or (edit_step == step and not edits_at_step):
                    tokens[p], commit[p], confidence[p] = token, c, conf
                    break
        commit = np.where(commit > step, -1, commit)
        return tokens, commit, confidence

    def view(self, step: int, since: int | None = None) -> StepView:
        """The canvas at `step` (0 .. steps done; a branch's edits at `step` included). Cells committed
        after step `since` (default: the step before) count as new, so a live view that skips steps still
        marks all that came since it drew."""
        step = max(0, min(int(step), self.steps_done))
        since = step - 1 if since is None else since
        guesses = np.full(self.length, self.mask_id, dtype=np.int64)
        block, record = 0, self.records[step - 1] if step > 0 else None
        if record is not None:
            before = self._state(step, edits_at_step=False)[1] < 0  # the masks the record's guesses are under
            guesses[before] = record.guesses
            block = record.block
        tokens, commit, commit_confidence = self._state(step, edits_at_step=True)
        masked = commit < 0
        tokens = np.where(masked, self.mask_id, tokens)
        guesses = np.where(masked, guesses, self.mask_id)
        confidence = np.where(masked, np.nan, commit_confidence).astype(np.float32)
        if record is not None:
            confidence[masked] = record.confidence[masked]
        return StepView(step=step, block=block, tokens=tokens, masked=masked, guesses=guesses, confidence=confidence,
                        committed_now=(commit > since) & (commit > 0), commit_step=commit)

    def branch(self, edit: Edit) -> Trajectory:
        """A new trajectory of this run's first `edit.step` steps and `edit`, to be continued. Where this
        run has an edit at that step already (a branch of a branch from the same step), the canvas shown
        there is kept: the new edit is made on top of it (its cells win) and the two count as one."""
        earlier = [e for e in self.edits if e.step < edit.step]
        out = Trajectory(self.canvas, self.settings, self.label, self.records[: edit.step], earlier)
        for old in (e for e in self.edits if e.step == edit.step):
            edit = Edit(step=edit.step, set=tuple((p, t) for p, t in old.set if p not in edit.positions) + edit.set,
                        remask=tuple(p for p in old.remask if p not in edit.positions) + edit.remask)
        out.edit(edit)
        return out
