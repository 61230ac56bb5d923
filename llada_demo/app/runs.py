"""A run from what the user gave to the page: checked and set up (`prepare` -> Job), then streamed to
its live view with others side by side (`stream_runs`), and its answer read as text (`answer_text`).

Data flows one way: model -> sampling (StepRecord) -> Trajectory -> wire messages -> page, API, export.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Iterator

import gradio as gr

from ..prompts import infill_ids, parse_constraints, prompt_ids
from ..sampling import SamplingSettings, StepRecord, denoise
from ..sampling.settings import whole_number
from ..trace import Trajectory
from ..trace.trajectory import Edit
from ..trace.wire import Encoder
from .catalog import ModelChoice
from .controls import from_page
from .errors import text_input
from .session import Activity
from .stream import Outbox

SEND_INTERVAL = 1 / 60  # s: without the page's stream, steps computed faster than a screen refresh go together
GAP = " ... "  # where masks remain between written words


@dataclass
class Job:
    """A run checked and ready: the model, its settings, and where its records come from."""

    choice: ModelChoice
    loaded: object  # LoadedModel
    settings: SamplingSettings
    records: Iterator[StepRecord]
    trajectory: Trajectory
    cache_key: tuple | None = None  # an example prompt's run, cached once done
    read: Callable[[Trajectory], str] | None = None  # its answer as text (default: answer_text)
    prefix: list[dict] | None = None  # a branch: the messages of the run it continues, up to its step
    first_edit: Edit | None = None  # a branch: the edit it starts with
    branch_of: str | None = None  # a branch: the id of the run it continues, where its page has it

    def answer(self) -> str:
        return self.read(self.trajectory) if self.read else answer_text(self.loaded, self.trajectory)


def settings_from(fields: dict, **extra) -> SamplingSettings:
    """A SamplingSettings from a panel's {field: value} and `extra` (a cleared box is refused by name)."""
    return SamplingSettings(**{**{f: from_page(f, v) for f, v in fields.items()}, **extra})


def prepare(app, label: str | None, prompt, fields: dict, history=(), fixed="") -> Job:
    """Check everything the user gave and set the run up; anything wrong is a gr.Error saying what to
    change (before any model work, and leaving the inputs as they are). `fields`: SamplingSettings fields
    as the controls hold them."""
    prompt = text_input("The prompt", prompt, required=True)
    if not prompt.strip():
        raise gr.Error("Type a prompt first.")
    fixed = text_input("Fixed tokens", fixed)
    choice, loaded = app.model(label)
    try:
        if fields.get("infill") is True:
            if fixed.strip():
                raise ValueError("fixed tokens are not used in infill mode: write the fixed text into the prompt "
                                 "instead, or clear the fixed tokens")
            ids = infill_ids(loaded, prompt)
            n_masks = sum(1 for t in ids if t == loaded.mask_id)
            steps = min(whole_number("steps", fields.get("steps", SamplingSettings.steps), minimum=1), n_masks)
            settings = settings_from(fields, gen_length=0, steps=steps, stop_at_eos=False)
        else:
            settings = settings_from(fields)
            ids = prompt_ids(loaded, prompt, history or (), chat=choice.chat)
            settings = replace(settings, constraints=parse_constraints(loaded, fixed, settings.gen_length))
        records = denoise(loaded, [ids], settings=settings)
    except ValueError as e:  # settings or input the sampler cannot run: say what to change
        raise gr.Error(str(e)) from None
    key = None
    if prompt in app.example_prompts and not history and settings.seed is not None:
        key = (choice.label, prompt, settings)
    trajectory = Trajectory(records.canvas, records.settings, choice.label)
    return Job(choice, loaded, records.settings, records, trajectory, key)


def answer_text(loaded, trajectory: Trajectory) -> str:
    """The answer up to its first committed EOS/EoT; where masks remain between written tokens (a
    stopped run, a step in the middle), a gap marker, so that words are not glued across them."""
    stop, mask = {i for i in (loaded.eos_id, loaded.eot_id) if i is not None}, trajectory.mask_id
    tokens = trajectory.final_tokens().tolist()
    end = next((i for i, t in enumerate(tokens) if t in stop), len(tokens))

    def decode(ids):
        if loaded.tokenizer is None:
            return " ".join(map(str, ids))
        return loaded.tokenizer.decode(ids, skip_special_tokens=True).strip()

    parts, written = [], []  # decoded runs of written tokens, and GAP where masks stand between them
    for t in tokens[:end]:
        if t != mask:
            written.append(int(t))
            continue
        if written:
            parts.append(decode(written))
            written = []
        if not parts or parts[-1] is not GAP:
            parts.append(GAP)
    if written:
        parts.append(decode(written))
    return "".join(parts).strip() if any(p is not GAP for p in parts) else ""


@dataclass
class LiveRun:
    """One run streaming to its live view: its job, outbox and encoder, and how far it has got."""

    job: Job
    view: gr.HTML
    outbox: Outbox
    encoder: Encoder
    running: bool = True
    carried: int = 1  # messages the view's Gradio value has carried (the start)
    messages: list = field(default_factory=list)

    def start(self, stop_ids) -> int:
        """The run's first messages into its outbox; the index of the first its view's value carries (a
        branch's page has the messages of the run it continues: they are not sent again)."""
        job = self.job
        if job.prefix is None:
            self.outbox.add([self.encoder.start(job.trajectory.canvas, job.settings, job.choice.label, stop_ids)])
            return 0
        self.encoder.already_sent(job.prefix)
        self.outbox.branch_of, self.outbox.at = job.branch_of, job.first_edit.step
        self.outbox.add(job.prefix + [self.encoder.edit(job.first_edit)])
        self.carried = len(self.outbox.log)
        return len(job.prefix)

    def step(self, stopped: Callable[[], bool]) -> None:
        """Its next step, kept unless a stop came while it was computed."""
        record = next(self.job.records, None) if self.running else None
        if record is None:
            self.running = False
        elif not stopped():
            self.job.trajectory.add(record)
            self.outbox.add([self.encoder.step(record)])

    def end(self, state: str, answer: str) -> dict:
        """Its end message, and its view's last value."""
        first = len(self.outbox.log) if self.outbox.followers else self.carried  # a follower has all but the end
        self.outbox.add([self.encoder.end(state, answer)], close=True)
        return self.outbox.payload(first)


def stream_runs(app, jobs: Iterable[tuple[Job, gr.HTML]], request, start: dict,
                finish: Callable[[list[Job], list[str], list[str]], dict]) -> Iterator[dict]:
    """Runs streamed to their live views, a step of each in turn (stream.py: each through its page's
    stream, or through these values while no page follows it). Yields {view: start, **start} first and
    {view: end, **finish(jobs, states, answers)} last. The tab's Stop ends them all before their next
    step; a step computed after the click is dropped."""
    activity = Activity()
    app.sessions.of(request).run = activity
    runs = [LiveRun(job, view, app.outboxes.new(), Encoder(app.text_of(job.choice.label, job.loaded)))
            for job, view in jobs]
    try:
        firsts = [r.start(app.stop_ids(r.job.loaded)) for r in runs]
        yield {**{r.view: r.outbox.payload(first) for r, first in zip(runs, firsts)}, **start}
        sent = time.perf_counter()
        while any(r.running for r in runs) and not activity.stop.is_set():
            for r in runs:
                r.step(activity.stop.is_set)
            if not all(r.outbox.followers for r in runs) and time.perf_counter() - sent >= SEND_INTERVAL:
                yield {r.view: r.outbox.payload(r.carried) for r in runs}
                for r in runs:
                    r.carried = len(r.outbox.log)
                sent = time.perf_counter()
        states = ["stopped" if r.running else "done" for r in runs]
        answers = [r.job.answer() for r in runs]
        ends = {r.view: r.end(state, answer) for r, state, answer in zip(runs, states, answers)}
        yield {**ends, **finish([r.job for r in runs], states, answers)}
    finally:
        for r in runs:
            r.outbox.add([], close=True)  # streams end, also when a run failed or was abandoned
        activity.done.set()


def paced(records: Iterable[StepRecord]) -> Iterator[StepRecord]:
    """A stored run's records, each released when it was first computed (relative to the start)."""
    start = time.perf_counter()
    for record in records:
        time.sleep(max(0.0, record.elapsed - (time.perf_counter() - start)))
        yield record
