"""The compact wire format of a run: what the page, the JSON export and the standalone replay read.

A run is a list of messages (JSON objects), each with a "type":

  start  {type, version, label, settings, prompt, initial, mask_id, block_spans, steps_per_block, notes,
          stop_ids, texts}: the Canvas, the SamplingSettings as a dict, the ids that end an answer
          (EOS/EoT), and the text of every id it names.
  step   {type, step, block, forward_passes, elapsed, committed, tokens, confidence, guesses, texts}:
          one StepRecord. `committed`/`tokens`/`guesses` are lists of ints as in the record;
          `confidence` is base64 of one byte per canvas position, round(p * 254), 255 where the step
          predicted nothing (a position given from the start; the autoregressive twin predicts only the
          position it writes); `texts` holds the ids this run has not named before: {"id": "text"}.
  edit   {type, step, set, remask, texts} (version 3): a branch's start, after the record of `step`: `set`
          [[position, id], ...] tokens set by hand (committed at `step`), `remask` positions masked again.
  end    {type, state ("done" or "stopped"), answer}.

Texts are plain strings as the tokenizer decodes them: whoever draws them escapes them (the page sets
`textContent`, never HTML). At 128 answer tokens a step is about 1 KB.
"""

from __future__ import annotations

import base64
import json
from typing import Callable, Iterable

import numpy as np

from ..sampling import Canvas, SamplingSettings, StepRecord
from .trajectory import Edit, Trajectory

VERSION = 3  # 3: edit messages (branches); 2: confidence bytes of p * 254, 255 for no prediction (1: p * 255)
READS = (1, 2, 3)
NO_PREDICTION = 255
FORMAT = "llada-demo-run"


def quantise(confidence: np.ndarray) -> str:
    """(N,) probabilities (nan: no prediction there) -> base64 of round(p * 254) as bytes, 255 for nan."""
    c = np.asarray(confidence, np.float32)
    q = np.where(np.isnan(c), NO_PREDICTION, np.rint(np.nan_to_num(c).clip(0, 1) * 254)).astype(np.uint8)
    return base64.b64encode(q.tobytes()).decode("ascii")


def dequantise(text: str, version: int = VERSION) -> np.ndarray:
    """The inverse of `quantise` (of a file of `version`); text that is not base64 is a ValueError."""
    q = np.frombuffer(base64.b64decode(text, validate=True), dtype=np.uint8)
    if version == 1:
        return q.astype(np.float32) / 255
    return np.where(q == NO_PREDICTION, np.nan, q.astype(np.float32) / 254).astype(np.float32)


class Encoder:
    """Encodes one run's messages, naming each token id's text the first time the run uses it."""

    def __init__(self, text: Callable[[int], str]):
        self.text, self.named = text, set()

    def already_sent(self, messages: Iterable[dict]) -> None:
        """Messages of this run sent before this encoder's (a branch's: the run it continues, up to its
        step): the texts they named are not named again."""
        self.named |= {int(i) for m in messages for i in m.get("texts", {})}

    def _texts(self, ids: Iterable[int]) -> dict[str, str]:
        new = {int(i) for i in ids} - self.named
        self.named |= new
        return {str(i): self.text(i) for i in sorted(new)}

    def start(self, canvas: Canvas, settings: SamplingSettings | None, label: str = "", stop_ids=()) -> dict:
        return dict(type="start", version=VERSION, label=label,
                    settings=settings.as_dict() if settings is not None else None,
                    prompt=canvas.prompt.tolist(), initial=canvas.initial.tolist(), mask_id=int(canvas.mask_id),
                    block_spans=[list(s) for s in canvas.block_spans], steps_per_block=list(canvas.steps_per_block),
                    notes=list(canvas.notes), stop_ids=sorted(int(i) for i in stop_ids),
                    texts=self._texts([*canvas.prompt.tolist(), *canvas.initial.tolist()]))

    def step(self, record: StepRecord) -> dict:
        tokens, guesses = record.tokens.tolist(), record.guesses.tolist()
        return dict(type="step", step=record.step, block=record.block, forward_passes=record.forward_passes,
                    elapsed=round(record.elapsed, 4), committed=record.committed.tolist(), tokens=tokens,
                    confidence=quantise(record.confidence), guesses=guesses, texts=self._texts(tokens + guesses))

    def edit(self, edit: Edit) -> dict:
        return dict(type="edit", step=edit.step, set=[[int(p), int(t)] for p, t in edit.set],
                    remask=[int(p) for p in edit.remask], texts=self._texts(t for _, t in edit.set))

    @staticmethod
    def end(state: str, answer: str) -> dict:
        if state not in ("done", "stopped"):
            raise ValueError(f"a run ends 'done' or 'stopped', not {state!r}")
        return dict(type="end", state=state, answer=answer)


def encode_run(trajectory: Trajectory, text: Callable[[int], str], stop_ids=(), state: str = "done",
               answer: str = "") -> list[dict]:
    """A whole run as its messages (what the export holds)."""
    enc = Encoder(text)
    edits = {e.step: e for e in trajectory.edits}
    messages = [enc.start(trajectory.canvas, trajectory.settings, trajectory.label, stop_ids)]
    messages += [enc.edit(edits[0])] if 0 in edits else []
    for r in trajectory.records:
        messages.append(enc.step(r))
        if r.step in edits:
            messages.append(enc.edit(edits[r.step]))
    return messages + [enc.end(state, answer)]


def run_document(messages: list[dict]) -> dict:
    """The JSON export: the messages of one run under a format name and version."""
    return dict(format=FORMAT, version=VERSION, messages=messages)


# What a run file may hold (the page's views/viewer/run.js checks the same limits before it draws one):
MAX_RUN_BYTES = 20 * 2**20  # a file's size, checked before it is read
MAX_CANVAS = 4096  # positions a run fills: the longest context of the models the app offers (LLaDA-8B)
MAX_PROMPT = 8192  # prompt tokens before the canvas
MAX_ID = 2**31 - 1  # token ids, as the page keeps them (Int32Array)


class RunFileError(ValueError):
    """A run file that cannot be drawn; the message says where and what is wrong."""


def _check(ok: bool, where: str, what: str) -> None:
    if not ok:
        raise RunFileError(f"{where}: {what}")


def _is_int(v, lo: int = 0, hi: int = MAX_ID) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _ints(m: dict, key: str, where: str, lo: int = 0, hi: int = MAX_ID, most: int = MAX_CANVAS) -> list[int]:
    v = m.get(key)
    _check(isinstance(v, list) and len(v) <= most and all(_is_int(x, lo, hi) for x in v), where,
           f"'{key}' must be a list of at most {most} whole numbers from {lo} to {hi}")
    return v


def _texts(m: dict, where: str) -> None:
    v = m.get("texts", {})
    _check(isinstance(v, dict) and all(k.isdigit() and isinstance(t, str) for k, t in v.items()), where,
           "'texts' must map token ids to strings")


def check_start(m: dict) -> Canvas:
    """The canvas a start message describes, every field checked for type and range."""
    where = "start message"
    _check(isinstance(m.get("label", ""), str), where, "'label' must be a string")
    settings = m.get("settings")
    _check(settings is None or isinstance(settings, dict), where, "'settings' must be an object or null")
    prompt = _ints(m, "prompt", where, most=MAX_PROMPT)
    initial = _ints(m, "initial", where)
    n = len(initial)
    _check(n >= 1, where, f"'initial' (the canvas) must hold 1 to {MAX_CANVAS} positions")
    _check(_is_int(m.get("mask_id")), where, "'mask_id' must be a whole number")
    spans, per_block = m.get("block_spans"), m.get("steps_per_block")
    _check(isinstance(spans, list) and 1 <= len(spans) <= n and all(
        isinstance(s, list) and len(s) == 2 and all(_is_int(x, 0, n) for x in s) and s[0] < s[1] for s in spans),
        where, f"'block_spans' must be a list of [start, end) positions inside the canvas (0..{n})")
    _check(all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), where, "'block_spans' must be in order, not overlapping")
    _check(isinstance(per_block, list) and len(per_block) == len(spans) and all(_is_int(k, 1) for k in per_block)
           and sum(per_block) <= n, where,
           f"'steps_per_block' must give each block 1 step or more, {n} in all at most (one token a step)")
    notes = m.get("notes", [])
    _check(isinstance(notes, list) and all(isinstance(x, str) for x in notes), where, "'notes' must be strings")
    if "stop_ids" in m:
        _ints(m, "stop_ids", where, most=64)
    _texts(m, where)
    return Canvas(prompt=np.array(prompt, np.int64), initial=np.array(initial, np.int64), mask_id=m["mask_id"],
                  block_spans=tuple(tuple(s) for s in spans), steps_per_block=tuple(per_block), notes=tuple(notes))


def check_step(m: dict, canvas: Canvas, masked: np.ndarray, expected_step: int, version: int = VERSION) -> StepRecord:
    """A step message as a StepRecord, checked against the canvas and the positions still masked (which
    it updates)."""
    where = f"step message {expected_step}"
    n = canvas.length
    _check(m.get("step") == expected_step and _is_int(m.get("step")), where,
           f"'step' must be {expected_step} (steps come in order from 1)")
    _check(expected_step <= canvas.steps, where, f"the start message plans {canvas.steps} steps, not more")
    _check(_is_int(m.get("block"), 0, canvas.blocks - 1), where, f"'block' must be from 0 to {canvas.blocks - 1}")
    _check(_is_int(m.get("forward_passes"), 1), where, "'forward_passes' must be a whole number, 1 or more")
    elapsed = m.get("elapsed")
    _check(isinstance(elapsed, (int, float)) and not isinstance(elapsed, bool) and np.isfinite(elapsed)
           and elapsed >= 0, where, "'elapsed' must be a finite number of seconds, 0 or more")
    committed = _ints(m, "committed", where, 0, n - 1)
    _check(len(set(committed)) == len(committed) and all(masked[i] for i in committed), where,
           "'committed' must list positions still masked, each once")
    tokens = _ints(m, "tokens", where)
    _check(len(tokens) == len(committed), where, "'tokens' must give one id per committed position")
    masked[committed] = False
    guesses = _ints(m, "guesses", where)
    _check(len(guesses) == int(masked.sum()), where, f"'guesses' must give one id per position still masked "
                                                    f"({int(masked.sum())})")
    try:
        confidence = dequantise(m.get("confidence"), version)
    except (TypeError, ValueError):
        confidence = None
    _check(confidence is not None and len(confidence) == n, where,
           f"'confidence' must be base64 of one byte per canvas position ({n})")
    _texts(m, where)
    return StepRecord(step=expected_step, block=m["block"], forward_passes=m["forward_passes"], elapsed=float(elapsed),
                      committed=np.array(committed, np.int32), tokens=np.array(tokens, np.int64),
                      confidence=confidence, guesses=np.array(guesses, np.int64))


def check_edit(m: dict, canvas: Canvas, masked: np.ndarray, step: int) -> Edit:
    """An edit message as an Edit, checked against the canvas and the positions still masked (which it
    updates): only positions the run fills, each once; a set token committed, a remasked one not masked."""
    where = f"edit message at step {step}"
    _check(m.get("step") == step, where, f"'step' must be {step}, the last step before it")
    n, fills = canvas.length, canvas.initial == canvas.mask_id
    set_ = m.get("set", [])
    _check(isinstance(set_, list) and all(isinstance(x, list) and len(x) == 2 and _is_int(x[0], 0, n - 1)
                                          and _is_int(x[1]) for x in set_), where,
           f"'set' must be a list of [position, token id], positions from 0 to {n - 1}")
    remask = _ints(m, "remask", where, 0, n - 1)
    positions = [p for p, _ in set_] + remask
    _check(len(set(positions)) == len(positions) and all(fills[p] for p in positions), where,
           "an edit may change each position the run fills once")
    _check(not any(masked[p] for p in remask), where, "'remask' must list committed positions")
    _texts(m, where)
    masked[[p for p, _ in set_]] = False
    masked[remask] = True
    return Edit(step=step, set=tuple((p, t) for p, t in set_), remask=tuple(remask))


def decode_run(document: dict | str | bytes) -> tuple[Trajectory, dict, dict]:
    """A JSON export (or its text) -> (Trajectory, start message, end message). Confidences come back
    quantised (within 1/508); everything else exactly. Anything else is a RunFileError (a ValueError)
    saying what is wrong, before anything is built from it."""
    if isinstance(document, (str, bytes)):
        _check(len(document) <= MAX_RUN_BYTES, "run file", f"larger than {MAX_RUN_BYTES // 2**20} MB")
        try:
            document = json.loads(document)
        except ValueError as e:
            raise RunFileError(f"run file: not JSON ({e})") from None
    _check(isinstance(document, dict) and document.get("format") == FORMAT, "run file", f"not a {FORMAT} file")
    version = document.get("version")
    _check(version in READS, "run file",
           f"{FORMAT} version {version!r}; this program reads versions {', '.join(map(str, READS))}")
    messages = document.get("messages")
    _check(isinstance(messages, list) and all(isinstance(m, dict) for m in messages), "run file",
           "'messages' must be a list of objects")
    _check(bool(messages) and messages[0].get("type") == "start", "run file", "the run has no start message")
    start = messages[0]
    canvas = check_start(start)
    try:
        settings = SamplingSettings.from_dict(start["settings"]) if start.get("settings") else None
    except (TypeError, ValueError) as e:
        raise RunFileError(f"start message: 'settings': {e}") from None
    trajectory = Trajectory(canvas, settings, start.get("label", ""))
    masked = canvas.initial == canvas.mask_id
    end = {}
    for i, m in enumerate(messages[1:], 1):
        kind = m.get("type")
        if kind == "step":
            _check(not end, "run file", "a step after the end message")
            trajectory.add(check_step(m, canvas, masked, trajectory.steps_done + 1, version))
        elif kind == "edit" and version >= 3:
            _check(not end, "run file", "an edit after the end message")
            trajectory.edit(check_edit(m, canvas, masked, trajectory.steps_done))
        elif kind == "end":
            _check(i == len(messages) - 1, "run file", "the end message must be the last")
            _check(m.get("state") in ("done", "stopped") and isinstance(m.get("answer", ""), str), "end message",
                   "'state' must be done or stopped, 'answer' a string")
            end = m
        else:
            raise RunFileError(f"message {i}: type {kind!r}; after the start come steps (and edits), then one end")
    return trajectory, start, end
