"""The compact wire format of a run: what the page, the JSON export and the standalone replay read.

A run is a list of messages (JSON objects), each with a "type":

  start  {type, version, label, settings, prompt, initial, mask_id, block_spans, steps_per_block, notes,
          stop_ids, texts}: the Canvas, the SamplingSettings as a dict, the ids that end an answer
          (EOS/EoT), and the text of every id it names.
  step   {type, step, block, forward_passes, elapsed, committed, tokens, confidence, guesses, texts}:
          one StepRecord. `committed`/`tokens`/`guesses` are lists of ints as in the record;
          `confidence` is base64 of one byte per canvas position, round(p * 255) (255 where nothing
          was masked); `texts` holds the ids this run has not named before: {"id": "text"}.
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
from .trajectory import Trajectory

VERSION = 1
FORMAT = "llada-demo-run"


def quantise(confidence: np.ndarray) -> str:
    """(N,) probabilities (nan: nothing masked there) -> base64 of round(p * 255) as bytes."""
    q = np.rint(np.nan_to_num(np.asarray(confidence, np.float32), nan=1.0).clip(0, 1) * 255).astype(np.uint8)
    return base64.b64encode(q.tobytes()).decode("ascii")


def dequantise(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=np.uint8).astype(np.float32) / 255


class Encoder:
    """Encodes one run's messages, naming each token id's text the first time the run uses it."""

    def __init__(self, text: Callable[[int], str]):
        self.text, self.named = text, set()

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

    @staticmethod
    def end(state: str, answer: str) -> dict:
        if state not in ("done", "stopped"):
            raise ValueError(f"a run ends 'done' or 'stopped', not {state!r}")
        return dict(type="end", state=state, answer=answer)


def encode_run(trajectory: Trajectory, text: Callable[[int], str], stop_ids=(), state: str = "done",
               answer: str = "") -> list[dict]:
    """A whole run as its messages (what the export holds)."""
    enc = Encoder(text)
    messages = [enc.start(trajectory.canvas, trajectory.settings, trajectory.label, stop_ids)]
    messages += [enc.step(r) for r in trajectory.records]
    return messages + [enc.end(state, answer)]


def run_document(messages: list[dict]) -> dict:
    """The JSON export: the messages of one run under a format name and version."""
    return dict(format=FORMAT, version=VERSION, messages=messages)


def decode_run(document: dict | str) -> tuple[Trajectory, dict, dict]:
    """A JSON export (or its text) -> (Trajectory, start message, end message). Confidences come back
    quantised (within 1/510); everything else exactly. Raises ValueError on anything else."""
    if isinstance(document, str):
        document = json.loads(document)
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} file")
    if document.get("version") != VERSION:
        raise ValueError(f"{FORMAT} version {document.get('version')!r}; this program reads version {VERSION}")
    messages = document.get("messages") or []
    if not messages or messages[0].get("type") != "start":
        raise ValueError("the run has no start message")
    start, end = messages[0], (messages[-1] if messages[-1].get("type") == "end" else {})
    canvas = Canvas(prompt=np.array(start["prompt"], np.int64), initial=np.array(start["initial"], np.int64),
                    mask_id=int(start["mask_id"]), block_spans=tuple(tuple(s) for s in start["block_spans"]),
                    steps_per_block=tuple(start["steps_per_block"]), notes=tuple(start["notes"]))
    settings = SamplingSettings.from_dict(start["settings"]) if start.get("settings") else None
    trajectory = Trajectory(canvas, settings, start.get("label", ""))
    for m in messages[1:]:
        if m.get("type") != "step":
            continue
        trajectory.add(StepRecord(step=m["step"], block=m["block"], forward_passes=m["forward_passes"],
                                  elapsed=m["elapsed"], committed=np.array(m["committed"], np.int32),
                                  tokens=np.array(m["tokens"], np.int64), confidence=dequantise(m["confidence"]),
                                  guesses=np.array(m["guesses"], np.int64)))
    return trajectory, start, end
